"""`--split-size`: parts for small media import to the same result as one file."""

from __future__ import annotations

from pathlib import Path

from tests.bundletools import index_of, read_entries
from tests.conftest import KeyPair, run, run_json, snapshot, write_tiny_model


def _signed_home(tmp_path: Path, model: Path, keypair: KeyPair) -> Path:
    home = tmp_path / "connected"
    run("add", model, "--repo", "acme/tiny", home=home)
    run("sign", "acme/tiny", "--key", keypair.private, home=home)
    return home


def _gap(tmp_path: Path, name: str, keypair: KeyPair) -> Path:
    gap = tmp_path / name
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=gap)
    return gap


def test_split_bundle_imports_like_whole(tmp_path: Path, keypair: KeyPair) -> None:
    model = write_tiny_model(tmp_path / "model")
    home = _signed_home(tmp_path, model, keypair)
    whole = tmp_path / "whole.vault"
    run("bundle", "acme/tiny", "-o", whole, home=home)
    (tmp_path / "parts").mkdir()
    split = run_json(
        "bundle", "acme/tiny", "-o", tmp_path / "parts" / "tiny.vault", "--split-size", "2K", home=home
    )
    parts = [Path(p) for p in split["parts"]]
    assert len(parts) > 3
    assert [p.name for p in parts] == [f"tiny.vault.{i:03d}" for i in range(len(parts))]
    assert all(p.stat().st_size <= 2048 for p in parts)
    # Parts are slices of one stream: joined, they are a bundle. It differs from the unsplit one
    # only in its index, whose block digests describe the cut; every entry after it is the same.
    joined = tmp_path / "joined.vault"
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    tails = []
    for bundle in (joined, whole):
        body_start = index_of(read_entries(bundle))["parts"]["body_start"]
        tails.append(bundle.read_bytes()[body_start:].rstrip(b"\0"))  # tar pads to whole records
    assert tails[0] == tails[1]

    results = {}
    targets = (("a", whole), ("b", tmp_path / "parts" / "tiny.vault"), ("c", parts[0]), ("d", joined))
    for name, target in targets:
        gap = _gap(tmp_path, name, keypair)
        run("verify", target, home=gap)
        run("import", target, home=gap)
        shown = run_json("show", "acme/tiny", home=gap)
        results[name] = [(f["path"], f["sha256"]) for f in shown["files"]]
        assert (Path(shown["path"]) / "model.safetensors").read_bytes() == (
            model / "model.safetensors"
        ).read_bytes()
    assert results["a"] == results["b"] == results["c"] == results["d"]


def _split(tmp_path: Path, keypair: KeyPair, size: str = "4K") -> list[Path]:
    home = _signed_home(tmp_path, write_tiny_model(tmp_path / "model"), keypair)
    (tmp_path / "p").mkdir(exist_ok=True)
    split = run_json("bundle", "acme/tiny", "-o", tmp_path / "p" / "t.vault", "--split-size", size, home=home)
    return [Path(p) for p in split["parts"]]


def _refused(tmp_path: Path, keypair: KeyPair, target: Path) -> str:
    gap = _gap(tmp_path, "gap", keypair)
    before = snapshot(gap)
    res = run("import", target, home=gap, code=1)
    assert len(res.stderr.strip().splitlines()) == 1
    assert snapshot(gap) == before
    assert run("verify", target, home=gap, code=1).stderr == res.stderr
    return res.stderr


def test_missing_middle_part_is_named(tmp_path: Path, keypair: KeyPair) -> None:
    parts = _split(tmp_path, keypair)
    parts[1].unlink()
    err = _refused(tmp_path, keypair, tmp_path / "p" / "t.vault")
    assert f"part 2 of {len(parts)} (t.vault.001) is missing" in err, err


def test_missing_last_part_is_named(tmp_path: Path, keypair: KeyPair) -> None:
    parts = _split(tmp_path, keypair, "1K")
    parts[-1].unlink()
    err = _refused(tmp_path, keypair, tmp_path / "p" / "t.vault")
    n = len(parts)
    assert f"part {n} of {n} (t.vault.{n - 1:03d}) is missing" in err, err


def test_truncated_part_is_named_with_its_length(tmp_path: Path, keypair: KeyPair) -> None:
    parts = _split(tmp_path, keypair)
    with open(parts[2], "r+b") as fh:
        fh.truncate(1000)
    err = _refused(tmp_path, keypair, parts[0])
    assert f"part 3 of {len(parts)} (t.vault.002) ends at byte 1000 of 4096" in err, err


def test_truncated_single_file_is_named(tmp_path: Path, keypair: KeyPair) -> None:
    home = _signed_home(tmp_path, write_tiny_model(tmp_path / "model"), keypair)
    whole = Path(run_json("bundle", "acme/tiny", "-o", tmp_path / "w.vault", home=home)["bundle"])
    size = whole.stat().st_size
    with open(whole, "r+b") as fh:
        fh.truncate(size - 15000)
    err = _refused(tmp_path, keypair, whole)
    assert f"bundle w.vault ends at byte {size - 15000} of {size}" in err, err


def test_stray_part_is_named(tmp_path: Path, keypair: KeyPair) -> None:
    parts = _split(tmp_path, keypair)
    stray = parts[0].with_name(f"t.vault.{len(parts):03d}")
    stray.write_bytes(b"\0" * 100)
    err = _refused(tmp_path, keypair, parts[0])
    assert f"{stray.name}: not part of this bundle, which has {len(parts)} parts" in err, err


def test_rebundle_to_the_same_name_removes_the_old_parts(tmp_path: Path, keypair: KeyPair) -> None:
    home = _signed_home(tmp_path, write_tiny_model(tmp_path / "model"), keypair)
    out = tmp_path / "p" / "t.vault"
    out.parent.mkdir()
    many = run_json("bundle", "acme/tiny", "-o", out, "--split-size", "1K", home=home)["parts"]
    fewer = run_json("bundle", "acme/tiny", "-o", out, "--split-size", "8K", home=home)["parts"]
    assert len(fewer) < len(many)
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(Path(p).name for p in fewer)
    whole = run_json("bundle", "acme/tiny", "-o", out, home=home)["parts"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["t.vault"] == [Path(p).name for p in whole]
    again = run_json("bundle", "acme/tiny", "-o", out, "--split-size", "8K", home=home)["parts"]
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(Path(p).name for p in again)
    gap = _gap(tmp_path, "gap", keypair)
    assert run_json("import", out, home=gap)["status"] == "imported"


def test_bad_split_size_is_a_usage_error(tmp_path: Path, keypair: KeyPair) -> None:
    home = _signed_home(tmp_path, write_tiny_model(tmp_path / "model"), keypair)
    res = run("bundle", "acme/tiny", "-o", tmp_path / "x", "--split-size", "lots", home=home, code=2)
    assert "invalid size" in res.stderr


def test_one_bundle_many_models_each_blob_once(tmp_path: Path, keypair: KeyPair) -> None:
    home = tmp_path / "connected"
    a = write_tiny_model(tmp_path / "a", seed=1)
    b = write_tiny_model(tmp_path / "b", seed=2)
    (b / "tokenizer" / "vocab.txt").write_bytes((a / "tokenizer" / "vocab.txt").read_bytes())
    for repo, model in (("acme/a", a), ("acme/b", b)):
        run("add", model, "--repo", repo, home=home)
        run("sign", repo, "--key", keypair.private, home=home)
    out = run_json("bundle", "acme/a", "acme/b", "-o", tmp_path / "two.vault", home=home)
    assert out["blobs"] == 5  # 3 + 3 files, the shared vocab once
    gap = _gap(tmp_path, "gap", keypair)
    run("import", tmp_path / "two.vault", home=gap)
    assert {r["repo_id"] for r in run_json("list", home=gap)} == {"acme/a", "acme/b"}
