"""`vault pull` against a local Hub-compatible server, with the real huggingface_hub client."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save

from tests.conftest import (
    MINILM_COMMIT,
    MINILM_REPO,
    MINILM_SHA256,
    KeyPair,
    make_home,
    run,
    run_json,
    sha256_file,
    snapshot,
)
from tests.hubserver import FakeHub


@pytest.fixture(scope="module")
def minilm_hub(minilm_dir: Path) -> Iterator[FakeHub]:
    hub = FakeHub()
    hub.add_folder(MINILM_REPO, minilm_dir, commit=MINILM_COMMIT)
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    hub = FakeHub()
    hub.add_commit(
        "acme/tiny",
        {
            "config.json": b'{"model_type": "tiny"}',
            "model.safetensors": save({"w": np.arange(4096, dtype=np.float32)}),
            "tokenizer/vocab.txt": b"a\nb\nc\n",
            "README.md": b"# tiny\n",
        },
    )
    hub.start()
    yield hub
    hub.stop()


def test_pull_real_model_and_show_provenance(tmp_path: Path, minilm_hub: FakeHub) -> None:
    home = tmp_path / "h"
    r = run_json("pull", MINILM_REPO, "--endpoint", minilm_hub.url, home=home)
    assert r["commit"] == MINILM_COMMIT and r["status"] == "added" and r["refs"] == ["main"]
    path = Path(run("path", MINILM_REPO, home=home).stdout.strip())
    assert sha256_file(path / "model.safetensors") == MINILM_SHA256

    prov = run_json("provenance", MINILM_REPO, home=home)
    assert prov["commit"] == MINILM_COMMIT
    assert prov["source"]["type"] == "hub" and prov["source"]["endpoint"] == minilm_hub.url
    assert prov["requested_revision"] == "main" and prov["refs_seen"] == {"main": MINILM_COMMIT}
    weights = next(f for f in prov["files"] if f["path"] == "model.safetensors")
    assert weights["matched"] and weights["published"]["lfs_sha256"] == MINILM_SHA256
    config = next(f for f in prov["files"] if f["path"] == "config.json")
    assert config["published"]["git_blob_sha1"] and config["matched"]
    assert {f["check"] for f in prov["files"]} == {"compared-with-hub"} and prov["commit_source"] == "hub"
    text = run("provenance", MINILM_REPO, home=home).stdout
    assert "commit: resolved by the Hub" in text
    assert MINILM_COMMIT in text and f"matched Hub LFS sha256 {MINILM_SHA256}" in text
    assert not (home / "downloads").exists() or not any((home / "downloads").iterdir())


def test_lying_server_fails_and_keeps_nothing(tmp_path: Path, hub: FakeHub) -> None:
    home = tmp_path / "h"
    make_home(home)
    before = snapshot(home)
    hub.lie.add("model.safetensors")
    res = run("pull", "acme/tiny", "--endpoint", hub.url, home=home, code=1)
    err = res.stderr.strip()
    assert "\n" not in err and "model.safetensors: downloaded sha256" in err and "published" in err
    run("path", "acme/tiny", home=home, code=3)
    assert snapshot(home) == before


def test_lying_about_a_small_file(tmp_path: Path, hub: FakeHub) -> None:
    hub.lie.add("config.json")
    res = run("pull", "acme/tiny", "--endpoint", hub.url, home=tmp_path / "h", code=1)
    assert "config.json: downloaded git blob" in res.stderr


def test_dropped_connection_mid_file_completes(tmp_path: Path, minilm_hub: FakeHub) -> None:
    minilm_hub.drop_once.add("model.safetensors")
    home = tmp_path / "h"
    res = run("pull", MINILM_REPO, "--endpoint", minilm_hub.url, home=home, code=None)
    if res.exit_code != 0:  # the client gave up mid-file: the rerun must finish the job
        assert res.exit_code == 7, res.stderr
        run("pull", MINILM_REPO, "--endpoint", minilm_hub.url, home=home)
    assert "model.safetensors" not in minilm_hub.drop_once, "the server never dropped the connection"
    ranged = [p for m, p in minilm_hub.requests if m == "GET" and p.endswith("model.safetensors")]
    assert len(ranged) >= 2
    path = Path(run("path", MINILM_REPO, home=home).stdout.strip())
    assert sha256_file(path / "model.safetensors") == MINILM_SHA256


def test_interrupted_pull_resumes_on_the_next_run(tmp_path: Path, hub: FakeHub) -> None:
    home = tmp_path / "h"
    hub.fail_get.add("tokenizer/vocab.txt")
    err = run("pull", "acme/tiny", "--endpoint", hub.url, home=home, code=7).stderr
    assert "HTTP 500" in err
    run("path", "acme/tiny", home=home, code=3)
    done_before = {p for m, p in hub.requests if m == "GET" and p.endswith("model.safetensors")}
    assert done_before, "the first run should have fetched the weights"
    hub.fail_get.clear()
    hub.requests.clear()
    run("pull", "acme/tiny", "--endpoint", hub.url, home=home)
    refetched = [p for m, p in hub.requests if m == "GET" and "/resolve/" in p]
    assert refetched and all(p.endswith("tokenizer/vocab.txt") for p in refetched), refetched
    run("path", "acme/tiny", home=home)


def test_branch_resolves_to_commit_and_moves(tmp_path: Path, hub: FakeHub) -> None:
    home = tmp_path / "h"
    first = run_json("pull", "acme/tiny", "--endpoint", hub.url, home=home)
    again = run("pull", "acme/tiny", "--endpoint", hub.url, home=home)
    assert "already present, nothing downloaded" in again.stdout
    second = hub.add_commit("acme/tiny", {"config.json": b'{"model_type": "tiny", "v": 2}'})
    moved = run_json("pull", "acme/tiny", "--endpoint", hub.url, home=home)
    assert moved["commit"] == second != first["commit"]
    assert run("path", "acme/tiny", home=home).stdout.strip().endswith(second)
    assert run("path", f"acme/tiny@{first['commit']}", home=home).stdout.strip().endswith(first["commit"])
    # Pulling by commit pins exactly that commit and moves no ref.
    pinned = run_json("pull", "acme/tiny", "--revision", first["commit"], "--endpoint", hub.url, home=home)
    assert pinned["status"] == "unchanged" and pinned["refs"] == []
    assert run("path", "acme/tiny", home=home).stdout.strip().endswith(second)


def test_tag_revision(tmp_path: Path, hub: FakeHub) -> None:
    commit = hub.repos["acme/tiny"].refs["main"]
    hub.repos["acme/tiny"].refs["v1.0"] = commit
    r = run_json("pull", "acme/tiny", "--revision", "v1.0", "--endpoint", hub.url, home=tmp_path / "h")
    assert r["commit"] == commit and r["refs"] == ["v1.0"]
    run("path", "acme/tiny@v1.0", home=tmp_path / "h")


def test_include_and_exclude(tmp_path: Path, hub: FakeHub) -> None:
    home = tmp_path / "h"
    run("pull", "acme/tiny", "--include", "*.json", "--include", "tokenizer/", "--exclude", "README*",
        "--endpoint", hub.url, home=home)  # fmt: skip
    files = [f["path"] for f in run_json("show", "acme/tiny", home=home)["files"]]
    assert files == ["config.json", "tokenizer/vocab.txt"]
    fetched = {p for m, p in hub.requests if m == "GET" and "/resolve/" in p}
    assert not any(p.endswith(("model.safetensors", "README.md")) for p in fetched)
    res = run("pull", "acme/tiny", "--include", "*.gguf", "--endpoint", hub.url, home=tmp_path / "h2", code=2)
    assert "no files match" in res.stderr


def test_pull_sign_bundle_import(tmp_path: Path, hub: FakeHub, keypair: KeyPair) -> None:
    conn, gap = tmp_path / "conn", tmp_path / "gap"
    pulled = run_json("pull", "acme/tiny", "--endpoint", hub.url, home=conn)
    run("sign", "acme/tiny", "--key", keypair.private, home=conn)
    run("bundle", "acme/tiny", "-o", tmp_path / "b.vault", home=conn)
    run("trust", "add", "conn", "--key", keypair.public, "--scope", "acme/*", home=gap)
    run("import", tmp_path / "b.vault", home=gap)
    prov = run_json("provenance", "acme/tiny", home=gap)
    assert prov["commit"] == pulled["commit"] and prov["source"]["endpoint"] == hub.url
    assert all(f["matched"] and f["published"] for f in prov["files"])
    path = Path(run("path", "acme/tiny", home=gap).stdout.strip())
    blob = hub.repos["acme/tiny"].commits[pulled["commit"]]["model.safetensors"]
    assert (path / "model.safetensors").read_bytes() == blob.data


def test_errors_are_one_line_with_exit_codes(tmp_path: Path, hub: FakeHub) -> None:
    home = tmp_path / "h"
    cases = [
        (["pull", "acme/missing", "--endpoint", hub.url], 3, "acme/missing: repository not found"),
        (
            ["pull", "acme/tiny", "--revision", "nope", "--endpoint", hub.url],
            3,
            "acme/tiny@nope: revision not found",
        ),
    ]
    for args, code, expect in cases:
        err = run(*args, home=home, code=code).stderr.strip()
        assert expect in err and "\n" not in err, err


def test_private_repo_needs_the_token_and_never_stores_it(tmp_path: Path, hub: FakeHub) -> None:
    secret = "hf_vaultTestSecret0123456789"
    hub.token = secret
    home = tmp_path / "h"
    err = run("pull", "acme/tiny", "--endpoint", hub.url, home=home, code=3).stderr
    assert "private or gated? pass --token" in err
    err = run("pull", "acme/tiny", "--endpoint", hub.url, "--token", "hf_wrong", home=home, code=6).stderr
    assert "not authorised" in err
    run("pull", "acme/tiny", "--endpoint", hub.url, "--token", secret, home=home)
    for p in home.rglob("*"):
        if p.is_file():
            assert secret.encode() not in p.read_bytes(), f"token written to {p}"
    assert secret not in json.dumps(run_json("provenance", "acme/tiny", home=home))


def test_network_down(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    err = run(
        "pull", "acme/tiny", "--endpoint", f"http://127.0.0.1:{port}", home=tmp_path / "h", code=7
    ).stderr
    assert "cannot reach the Hub" in err and "\n" not in err.strip()


def test_json_mode_prints_only_json(tmp_path: Path, hub: FakeHub) -> None:
    res = run("--json", "pull", "acme/tiny", "--endpoint", hub.url, home=tmp_path / "h")
    assert json.loads(res.stdout)["status"] == "added"
