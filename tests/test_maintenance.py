"""`vault scrub` finds changed bytes; `vault gc` removes only what nothing available needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Transfer, run, run_json, snapshot
from vault._store.blob_digests import child_command
from vault.api import Vault


def _blob(t: Transfer, rel: str) -> Path:
    sha = next(
        f["sha256"] for f in run_json("show", t.repo_id, home=t.airgapped)["files"] if f["path"] == rel
    )
    return t.airgapped / "store" / "blobs" / "sha256" / sha[:2] / sha[2:]


def test_scrub_clean_then_finds_a_changed_blob(transfer: Transfer) -> None:
    t = transfer
    run("import", t.bundle, home=t.airgapped)
    report = run_json("scrub", home=t.airgapped)
    assert report["clean"] and report["checked"] == 3
    blob = _blob(t, "model.safetensors")
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[100] ^= 1
    blob.write_bytes(bytes(data))  # same size, different bytes: only a re-hash can tell
    blob.chmod(0o444)
    res = run("--json", "scrub", home=t.airgapped, code=1)
    assert "1 damaged blob" in res.stderr
    damaged = json.loads(res.stdout)["damaged"]
    assert damaged[0]["problem"] == "content changed (blake3 mismatch)"
    assert damaged[0]["files"] == [f"acme/tiny@{t.commit}:model.safetensors"]
    problems = json.loads(run("--json", "fsck", home=t.airgapped, code=1).stdout)["problems"]
    assert [p["kind"] for p in problems] == ["damaged-blob"], "fsck reports what scrub recorded"


def test_gc_removes_orphans_and_revoked_views_only(transfer: Transfer, tmp_path: Path) -> None:
    t = transfer
    run("import", t.bundle, home=t.airgapped)
    orphan = t.airgapped / "store" / "blobs" / "sha256" / "ee" / ("e" * 62)
    orphan.parent.mkdir()
    orphan.write_bytes(b"left by a killed import")
    os.chmod(orphan, 0o444)

    before = snapshot(t.airgapped)
    dry = run_json("gc", "--dry-run", home=t.airgapped)
    assert dry["blobs"] == ["e" * 64] and dry["views"] == []
    assert snapshot(t.airgapped) == before

    run("gc", home=t.airgapped)
    assert not orphan.exists() and not orphan.parent.exists()
    assert Path(run("path", t.repo_id, home=t.airgapped).stdout.strip()).is_dir()
    assert run_json("fsck", home=t.airgapped)["clean"]

    run("revoke", t.repo_id, "--reason", "superseded", "--key", t.key.private, home=t.connected)
    run("bundle", "-o", tmp_path / "r.vault", home=t.connected)
    view = t.airgapped / "models" / t.repo_id / t.commit
    run("import", tmp_path / "r.vault", home=t.airgapped)
    assert not view.exists(), "revocation takes the directory away at once, not at gc"
    view.mkdir(parents=True)  # left behind by hand (or by a vault older than this one)
    (view / "config.json").write_text("{}")
    out = run_json("gc", home=t.airgapped)
    assert out["views"] == [f"{t.repo_id}@{t.commit}"] and out["blobs"] == []
    assert not view.exists()
    report = run_json("fsck", home=t.airgapped)
    assert report["clean"] and report["warnings"] == []
    assert any(e["action"] == "gc" for e in run_json("audit", home=t.airgapped)["events"])


def _store_entry_replaced(blob: Path, how: str) -> None:
    data = blob.read_bytes()
    blob.unlink()
    if how == "link":
        twin = blob.with_name("twin")
        twin.write_bytes(data)  # the very bytes: only the kind of entry is wrong
        blob.symlink_to(twin)
    else:
        os.mkfifo(blob)


def test_scrub_reports_a_blob_that_is_no_longer_a_regular_file(transfer: Transfer) -> None:
    """The store holds regular files only: a link could change what is served after it was checked,
    however right its target's bytes are today; a FIFO would hang a reader."""
    t = transfer
    run("import", t.bundle, home=t.airgapped)
    _store_entry_replaced(_blob(t, "model.safetensors"), "link")
    _store_entry_replaced(_blob(t, "config.json"), "fifo")
    res = run("--json", "scrub", home=t.airgapped, code=1)
    problems = {d["files"][0].rsplit(":", 1)[1]: d["problem"] for d in json.loads(res.stdout)["damaged"]}
    assert problems == {
        "model.safetensors": "not a regular file (a symbolic link)",
        "config.json": "not a regular file",
    }


@pytest.mark.parametrize("dies_after", [0, 1])
def test_scrub_reports_the_same_when_its_mapping_child_dies(
    transfer: Transfer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dies_after: int
) -> None:
    """A disk error under a memory map kills the process with SIGBUS. The child that maps the blobs
    dies that way here (after reporting `dies_after` blobs); scrub hashes the rest itself, by reads,
    and its report is the one it gives when nothing dies."""
    t = transfer
    run("import", t.bundle, home=t.airgapped)
    blob = _blob(t, "model.safetensors")
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[7] ^= 1
    blob.write_bytes(bytes(data))
    expected = json.loads(run("--json", "scrub", home=t.airgapped, code=1).stdout)
    dying = tmp_path / "python-that-dies"
    dying.write_text(f'#!/bin/sh\n"{sys.executable}" "$@" | head -n {dies_after}\nkill -BUS $$\n')
    dying.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(dying))
    with Vault.open(t.airgapped) as v:
        report = v.scrub()
    assert [(d.sha256, d.problem, d.files) for d in report.damaged] == [
        (d["sha256"], d["problem"], d["files"]) for d in expected["damaged"]
    ]
    assert report.checked == expected["checked"]


def test_the_mapping_child_reports_every_blob_as_the_catalog_has_it(transfer: Transfer) -> None:
    """What scrub relies on when nothing dies: the child's own lines, checked against the catalog."""
    t = transfer
    run("import", t.bundle, home=t.airgapped)
    blobs = t.airgapped / "store" / "blobs" / "sha256"
    files = run_json("show", t.repo_id, home=t.airgapped)["files"]
    shas = sorted({f["sha256"] for f in files})
    out = subprocess.run(
        child_command(blobs), input="\n".join([*shas, "0" * 64]), capture_output=True, text=True, check=True
    ).stdout.splitlines()
    catalog = {f["sha256"]: f"{f['size']} {f['blake3']}" for f in files}
    assert out == [catalog[sha] for sha in shas] + ["! missing"]


def _corrupt(blob: Path) -> None:
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[7] ^= 1
    blob.write_bytes(bytes(data))


def test_nothing_in_the_store_or_the_working_directory_can_speak_for_a_blob(
    transfer: Transfer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hostile names beside a damaged blob (a name carrying a forged result line, a name that is
    not UTF-8) and a `vault` package in the directory scrub is started from: the damage is still
    found, and nothing planted runs."""
    t = transfer
    run("import", t.bundle, home=t.airgapped)
    files = {f["path"]: f for f in run_json("show", t.repo_id, home=t.airgapped)["files"]}
    weights = files["model.safetensors"]
    blob = _blob(t, "model.safetensors")
    _corrupt(blob)
    forged = f"zz\n{weights['sha256']} {weights['size']} {weights['blake3']}\nq"
    (blob.parent / forged).touch()
    os.close(os.open(os.fsencode(blob.parent) + b"/\xff", os.O_CREAT | os.O_WRONLY, 0o644))
    planted = tmp_path / "cwd" / "vault" / "_store"
    planted.mkdir(parents=True)
    for init in (planted.parent / "__init__.py", planted / "__init__.py"):
        init.touch()
    ran = tmp_path / "planted-code-ran"
    (planted / "blob_digests.py").write_text(f"open({str(ran)!r}, 'w').close()\nprint('intact')\n")
    monkeypatch.chdir(tmp_path / "cwd")
    res = run("--json", "scrub", home=t.airgapped, code=1)
    damaged = json.loads(res.stdout)["damaged"]
    assert [(d["sha256"], d["problem"]) for d in damaged] == [
        (weights["sha256"], "content changed (blake3 mismatch)")
    ]
    assert not ran.exists()


def test_a_blob_directory_that_is_a_link_is_not_followed(transfer: Transfer, tmp_path: Path) -> None:
    """The store's directories are real: a link to a good copy elsewhere is reported, not trusted."""
    t = transfer
    run("import", t.bundle, home=t.airgapped)
    top = _blob(t, "model.safetensors").parent
    elsewhere = tmp_path / "elsewhere"
    top.rename(elsewhere)
    top.symlink_to(elsewhere)
    damaged = json.loads(run("--json", "scrub", home=t.airgapped, code=1).stdout)["damaged"]
    assert {d["problem"] for d in damaged} == {"not a regular file (a symbolic link)"}


def test_a_blob_directory_that_is_a_file_is_reported_as_such(transfer: Transfer) -> None:
    """A problem is worded by what was found: a file where a directory should be is not a link."""
    t = transfer
    run("import", t.bundle, home=t.airgapped)
    top = _blob(t, "model.safetensors").parent
    for child in top.iterdir():
        child.chmod(0o644)
        child.unlink()
    top.rmdir()
    top.write_bytes(b"not a directory")
    damaged = json.loads(run("--json", "scrub", home=t.airgapped, code=1).stdout)["damaged"]
    assert {d["problem"] for d in damaged} == {f"unreadable ({top.name} is not a directory)"}
