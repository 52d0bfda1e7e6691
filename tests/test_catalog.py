"""The catalog schema belongs to Alembic; opening a current catalog never writes to it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from tests.conftest import run, sha256_file
from vault._catalog.database import _alembic_config
from vault.api import Vault


def test_schema_head_constant_matches_the_migrations() -> None:
    from vault._catalog.schema_head import SCHEMA_HEAD

    assert ScriptDirectory.from_config(_alembic_config()).get_current_head() == SCHEMA_HEAD


def test_first_use_runs_migrations_to_head(tmp_path: Path) -> None:
    with Vault.open(tmp_path / "h"):
        pass
    db = sqlite3.connect(tmp_path / "h" / "catalog.db")
    (version,) = db.execute("select version_num from alembic_version").fetchone()
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert version == head
    tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
    assert {
        "models",
        "revisions",
        "refs",
        "files",
        "blobs",
        "signatures",
        "trust_entries",
        "audit_events",
    } <= tables
    assert db.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_opening_a_current_catalog_does_not_write(tmp_path: Path, tiny_model: Path) -> None:
    run("add", tiny_model, "--repo", "acme/tiny", home=tmp_path / "h")
    db = tmp_path / "h" / "catalog.db"
    before = (sha256_file(db), db.stat().st_mtime_ns)
    run("list", home=tmp_path / "h")
    run("path", "acme/tiny", home=tmp_path / "h")
    assert (sha256_file(db), db.stat().st_mtime_ns) == before


def test_migrations_downgrade_and_upgrade(tmp_path: Path) -> None:
    v = Vault.open(tmp_path / "h")
    cfg = _alembic_config()
    with v.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    with sqlite3.connect(tmp_path / "h" / "catalog.db") as db:
        assert db.execute("select count(*) from sqlite_master where name='revisions'").fetchone() == (0,)
    v.close()
    with Vault.open(tmp_path / "h") as again:
        assert again.trust_list() == []


def test_audit_events_are_hash_chained(tmp_path: Path, tiny_model: Path) -> None:
    from vault._audit import GENESIS, event_hash

    home = tmp_path / "h"
    run("add", tiny_model, "--repo", "acme/tiny", home=home)
    run("add", tiny_model, "--repo", "acme/other", home=home)
    with Vault.open(home) as v:
        events = v.audit_events()
    assert [e.action for e in events] == ["add", "add"]
    db = sqlite3.connect(home / "catalog.db")
    prev = GENESIS
    for at, action, subject, detail, prev_hash, h in db.execute(
        "select at, action, subject, detail, prev_hash, hash from audit_events order by id"
    ):
        assert prev_hash == prev and h == event_hash(prev, at, action, subject, detail)
        prev = h


def test_vault_audit_detects_a_tampered_event(tmp_path: Path, tiny_model: Path) -> None:
    import json as _json

    home = tmp_path / "h"
    run("add", tiny_model, "--repo", "acme/tiny", home=home)
    run("add", tiny_model, "--repo", "acme/other", home=home)
    report = _json.loads(run("--json", "audit", home=home).stdout)
    assert report["chain_intact"] and len(report["events"]) == 2
    with sqlite3.connect(home / "catalog.db") as db:
        db.execute("update audit_events set subject = 'acme/innocent' where id = 1")
    err = run("audit", home=home, code=1).stderr
    assert "event 1 does not match the hash chain" in err
