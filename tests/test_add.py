"""`vault add` on the connected side: what goes in, what is refused, what is idempotent."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import vault
from tests.conftest import KeyPair, make_home, run, run_json, snapshot, write_tiny_model
from vault.errors import NotFoundError


def test_derived_commit_is_stable_and_content_based(tmp_path: Path, tiny_model: Path) -> None:
    a = run_json("add", tiny_model, "--repo", "acme/tiny", home=tmp_path / "h1")
    b = run_json("add", tiny_model, "--repo", "acme/tiny", home=tmp_path / "h2")
    assert a["commit"] == b["commit"] and len(a["commit"]) == 40
    other = write_tiny_model(tmp_path / "other", seed=9)
    c = run_json("add", other, "--repo", "acme/tiny", home=tmp_path / "h1")
    assert c["commit"] != a["commit"]
    assert vault.resolve("acme/tiny", home=tmp_path / "h1").name == c["commit"]  # main moved
    assert vault.resolve(f"acme/tiny@{a['commit']}", home=tmp_path / "h1").name == a["commit"]


def test_re_adding_is_a_no_op_that_says_so(tmp_path: Path, tiny_model: Path) -> None:
    home = tmp_path / "h"
    run("add", tiny_model, "--repo", "acme/tiny", home=home)
    before = snapshot(home / "store")
    res = run("add", tiny_model, "--repo", "acme/tiny", home=home)
    assert "already present, nothing added" in res.stdout
    assert snapshot(home / "store") == before


def test_label_revision_becomes_a_ref(tmp_path: Path, tiny_model: Path) -> None:
    home = tmp_path / "h"
    r = run_json("add", tiny_model, "--repo", "acme/tiny", "--revision", "v1.0", home=home)
    assert r["refs"] == ["main", "v1.0"]
    assert run("path", "acme/tiny@v1.0", home=home).stdout.strip().endswith(r["commit"])


def test_same_commit_with_other_files_is_a_conflict(tmp_path: Path, tiny_model: Path) -> None:
    home = tmp_path / "h"
    commit = "a" * 40
    run("add", tiny_model, "--repo", "acme/tiny", "--revision", commit, home=home)
    other = write_tiny_model(tmp_path / "other", seed=3)
    res = run("add", other, "--repo", "acme/tiny", "--revision", commit, home=home, code=4)
    assert "already exists with different files" in res.stderr


@pytest.mark.parametrize("kind", ["file-symlink", "dir-symlink", "fifo"])
def test_links_and_special_files_are_refused(tmp_path: Path, tiny_model: Path, kind: str) -> None:
    home = tmp_path / "h"
    make_home(home)
    if kind == "file-symlink":
        (tiny_model / "link.json").symlink_to(tiny_model / "config.json")
    elif kind == "dir-symlink":
        (tiny_model / "linked").symlink_to(tiny_model / "tokenizer")
    else:
        os.mkfifo(tiny_model / "pipe")
    before = snapshot(home)
    res = run("add", tiny_model, "--repo", "acme/tiny", home=home, code=1)
    assert "are not admitted" in res.stderr
    assert snapshot(home) == before


def test_git_metadata_is_not_content(tmp_path: Path, tiny_model: Path) -> None:
    (tiny_model / ".git").mkdir()
    (tiny_model / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    r = run_json("add", tiny_model, "--repo", "acme/tiny", home=tmp_path / "h")
    shown = run_json("show", "acme/tiny", home=tmp_path / "h")
    assert r["files"] == 3 and not any(f["path"].startswith(".git/") for f in shown["files"])


def test_bad_repo_id_is_a_usage_error(tmp_path: Path, tiny_model: Path) -> None:
    res = run("add", tiny_model, "--repo", "../etc", home=tmp_path / "h", code=2)
    assert "invalid repo id" in res.stderr


def test_openssl_generated_key_signs(tmp_path: Path, tiny_model: Path) -> None:
    key = tmp_path / "ossl.pem"
    subprocess.run(
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key], check=True
    )
    pub = tmp_path / "ossl.pub.pem"
    subprocess.run(["openssl", "ec", "-in", key, "-pubout", "-out", pub], check=True, capture_output=True)
    home, gap = tmp_path / "h", tmp_path / "g"
    run("add", tiny_model, "--repo", "acme/tiny", home=home)
    run("sign", "acme/tiny", "--key", key, home=home)
    run("bundle", "acme/tiny", "-o", tmp_path / "b.vault", home=home)
    run("trust", "add", "ossl", "--key", pub, "--scope", "acme/*", home=gap)
    run("import", tmp_path / "b.vault", home=gap)


def test_unsigned_revision_cannot_be_bundled(tmp_path: Path, tiny_model: Path) -> None:
    home = tmp_path / "h"
    run("add", tiny_model, "--repo", "acme/tiny", home=home)
    res = run("bundle", "acme/tiny", "-o", tmp_path / "b.vault", home=home, code=4)
    assert "is not signed" in res.stderr
    assert not list(tmp_path.glob("b.vault*"))


def test_keygen_refuses_to_overwrite(tmp_path: Path, keypair: KeyPair) -> None:
    prefix = str(keypair.private)[: -len(".pem")]
    res = run("keygen", "-o", prefix, code=4)
    assert "already exists" in res.stderr
    assert oct(keypair.private.stat().st_mode & 0o777) == "0o600"


def test_resolve_unknown_things(tmp_path: Path, tiny_model: Path) -> None:
    home = tmp_path / "h"
    with pytest.raises(NotFoundError):
        vault.resolve("acme/tiny", home=home)
    assert not home.exists(), "resolve must not create a vault"
    run("add", tiny_model, "--repo", "acme/tiny", home=home)
    assert run("path", "acme/tiny@nope", home=home, code=3).stderr.startswith("vault: error: acme/tiny@nope")
    assert "no such model" in run("path", "acme/other", home=home, code=3).stderr
    assert "invalid" in run("path", "not-a-ref", home=home, code=2).stderr


def test_connected_side_refuses_bad_weights_early(tmp_path: Path, tiny_model: Path) -> None:
    home = tmp_path / "h"
    make_home(home)
    before = snapshot(home)
    weights = tiny_model / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data += b"\0" * 16  # bytes no tensor accounts for
    weights.write_bytes(bytes(data))
    res = run("add", tiny_model, "--repo", "acme/tiny", home=home, code=1)
    assert "model.safetensors: unsafe safetensors header" in res.stderr
    assert snapshot(home) == before


def test_pickles_need_the_flag_and_pass_the_scan(tmp_path: Path, tiny_model: Path) -> None:
    import collections
    import pickle

    home = tmp_path / "h"
    (tiny_model / "pytorch_model.bin").write_bytes(pickle.dumps(collections.OrderedDict(w=[1.0]), protocol=2))
    res = run("add", tiny_model, "--repo", "acme/tiny", home=home, code=1)
    assert "pytorch_model.bin: pickle content unpickles when loaded (it can run code)" in res.stderr
    run("add", tiny_model, "--repo", "acme/tiny", "--allow-pickle", home=home)
    with vault.open_vault(home) as v:
        event = v.audit_events()[-1]
    assert event.action == "add" and event.detail["allow_pickle"] is True
