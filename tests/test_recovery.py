"""Operator recovery: damage found by scrub is withdrawn everywhere, and a re-import heals it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import vault
from tests.conftest import Transfer, run, run_json, sha256_file, snapshot
from vault.errors import NotFoundError


def _blob(t: Transfer, rel: str) -> Path:
    sha = next(
        f["sha256"] for f in run_json("show", t.repo_id, home=t.airgapped)["files"] if f["path"] == rel
    )
    return t.airgapped / "store" / "blobs" / "sha256" / sha[:2] / sha[2:]


def _flip_in_place(blob: Path) -> None:
    """Bit rot, or a hand with root: same file, same size, other bytes (every hard link sees it)."""
    blob.chmod(0o644)
    at = min(100, blob.stat().st_size - 1)
    with open(blob, "r+b") as fh:
        fh.seek(at)
        byte = fh.read(1)
        fh.seek(at)
        fh.write(bytes([byte[0] ^ 1]))
    blob.chmod(0o444)


@pytest.fixture
def imported(transfer: Transfer) -> Transfer:
    run("import", transfer.bundle, home=transfer.airgapped)
    return transfer


@pytest.mark.parametrize("damage", ["changed", "missing"])
def test_scrub_withdraws_a_damaged_revision_and_reimport_repairs_it(imported: Transfer, damage: str) -> None:
    t = imported
    blob = _blob(t, "model.safetensors")
    good = sha256_file(blob)
    view = t.airgapped / "models" / t.repo_id / t.commit
    snap = t.airgapped / "hf" / "hub" / "models--acme--tiny" / "snapshots" / t.commit
    assert run("path", t.repo_id, home=t.airgapped).stdout.strip() == str(view)
    if damage == "changed":
        _flip_in_place(blob)
    else:
        blob.unlink()

    res = run("--json", "scrub", home=t.airgapped, code=1)
    report = json.loads(res.stdout)
    assert [d["sha256"] for d in report["damaged"]] == [good]
    assert report["withdrawn"] == [f"{t.repo_id}@{t.commit}"]
    assert report["error"]["kind"] == "integrity"

    # Known damage is handed out nowhere: path, resolve, the HF view; fsck names it.
    res = run("path", t.repo_id, home=t.airgapped, code=3)
    assert "is damaged" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    with pytest.raises(NotFoundError, match="damaged"):
        vault.resolve(t.repo_id, home=t.airgapped)
    assert not snap.exists()
    fsck = json.loads(run("--json", "fsck", home=t.airgapped, code=1).stdout)
    assert "damaged-blob" in {p["kind"] for p in fsck["problems"]}
    assert run_json("list", home=t.airgapped)[0]["status"] == "damaged"
    assert "[DAMAGED]" in run("list", home=t.airgapped).stdout

    # A hostile "repair" is refused like any bad bundle, and changes nothing.
    data = bytearray(t.bundle.read_bytes())
    data[-20000] ^= 1
    evil = t.bundle.with_name("evil.vault")
    evil.write_bytes(bytes(data))
    before = snapshot(t.airgapped)
    run("import", evil, home=t.airgapped, code=1)
    assert snapshot(t.airgapped) == before

    out = run_json("import", t.bundle, home=t.airgapped)
    assert out["status"] == "repaired" and out["repaired"] == [good]
    assert out["revisions"] == [] and out["already_present"] == [f"{t.repo_id}@{t.commit}"]
    assert sha256_file(blob) == good
    assert Path(run("path", t.repo_id, home=t.airgapped).stdout.strip()) == view
    assert sha256_file(view / "model.safetensors") == good, "the view must link the repaired file"
    assert sha256_file(snap / "model.safetensors") == good
    assert run_json("scrub", home=t.airgapped)["clean"]
    assert run_json("fsck", home=t.airgapped)["clean"]
    actions = [e["action"] for e in run_json("audit", home=t.airgapped)["events"]]
    assert {"blob.damaged", "revision.damaged", "blob.repaired", "revision.repaired"} <= set(actions)
    # And now it is simply imported.
    assert run_json("import", t.bundle, home=t.airgapped)["status"] == "already-imported"


def test_verify_writes_nothing_on_a_damaged_home(imported: Transfer) -> None:
    """verify writes nothing, even when the bundle could repair the home."""
    t = imported
    _flip_in_place(_blob(t, "config.json"))
    run("scrub", home=t.airgapped, code=1)
    before = snapshot(t.airgapped)
    assert run_json("verify", t.bundle, home=t.airgapped)["status"] == "verified"
    assert snapshot(t.airgapped) == before


def test_revoked_stays_revoked_through_damage_and_repair(imported: Transfer, tmp_path: Path) -> None:
    t = imported
    run("revoke", t.repo_id, "--reason", "bad", "--key", t.key.private, home=t.connected)
    run("bundle", "-o", tmp_path / "r.vault", home=t.connected)
    run("import", tmp_path / "r.vault", home=t.airgapped)
    _flip_in_place(_blob(t, "model.safetensors"))
    run("scrub", home=t.airgapped, code=1)
    assert run_json("import", t.bundle, home=t.airgapped)["status"] == "repaired"
    assert run_json("show", t.repo_id + "@" + t.commit, home=t.airgapped)["status"] == "revoked"
    assert "revoked" in run("path", t.repo_id + "@" + t.commit, home=t.airgapped, code=3).stderr
    assert not (t.airgapped / "models" / t.repo_id / t.commit).exists()


def test_import_after_tmp_was_cleared_by_hand(transfer: Transfer) -> None:
    """tmp/ only ever holds scratch, so an operator may empty or remove it; imports go on."""
    shutil.rmtree(transfer.airgapped / "tmp")
    run("import", transfer.bundle, home=transfer.airgapped)
    assert run_json("show", transfer.repo_id, home=transfer.airgapped)["commit"] == transfer.commit
    assert "clean" in run("fsck", home=transfer.airgapped).stdout
