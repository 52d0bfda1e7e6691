"""Bundles written by released versions keep importing with every later one."""

from __future__ import annotations

from pathlib import Path

from safetensors import safe_open

from tests.conftest import run, run_json, sha256_file

GOLDEN = Path(__file__).resolve().parent / "golden"

V0_1_0 = {
    "commit": "842db24445125cee3ec32538352b6491f325294c",
    "files": {
        "config.json": "6e5b8b1eeeebea3a62c5b75244d3b3934aeb02b16d25d4ce9e228a652056851f",
        "model.safetensors": "e222701298bc8e13025a02d8794fddc98e2330e1fe608df57fb3bdc5e9d40e8b",
        "tokenizer/vocab.txt": "8239063194580724e94f1611d54c15223574ac794b9ff165046555969f8f64c4",
    },
}


def test_v0_1_0_bundle_imports(tmp_path: Path) -> None:
    home = tmp_path / "gap"
    run("trust", "add", "golden", "--key", GOLDEN / "golden-key.pub.pem", "--scope", "golden/*", home=home)
    bundle = GOLDEN / "bundle-v0.1.0.vault"
    assert run_json("verify", bundle, home=home)["revisions"] == [f"golden/tiny@{V0_1_0['commit']}"]
    run("import", bundle, home=home)
    shown = run_json("show", "golden/tiny@v0.1.0", home=home)
    assert shown["commit"] == V0_1_0["commit"] and shown["refs"] == ["main", "v0.1.0"]
    assert {f["path"]: f["sha256"] for f in shown["files"]} == V0_1_0["files"]
    path = Path(run("path", "golden/tiny", home=home).stdout.strip())
    for rel, digest in V0_1_0["files"].items():
        assert sha256_file(path / rel) == digest
    with safe_open(str(path / "model.safetensors"), framework="numpy") as st:
        assert set(st.keys()) == {"embed.weight", "head.bias"}
