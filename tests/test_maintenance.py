"""`vault scrub` finds changed bytes; `vault gc` removes only what nothing available needs."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import Transfer, run, run_json, snapshot


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
