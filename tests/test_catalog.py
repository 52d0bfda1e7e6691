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
    from vault._home import Home

    v = Home.open(tmp_path / "h")
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


def test_vault_audit_and_fsck_report_every_break_not_only_the_first(tmp_path: Path, tiny_model: Path) -> None:
    import json as _json

    home = tmp_path / "h"
    for repo in ("acme/a", "acme/b", "acme/c", "acme/d"):
        run("add", tiny_model, "--repo", repo, home=home)
    with sqlite3.connect(home / "catalog.db") as db:
        db.execute("update audit_events set subject = 'acme/innocent' where id = 1")
        db.execute("update audit_events set detail = '{}' where id = 3")
    report = _json.loads(run("--json", "audit", home=home, code=1).stdout)
    assert report["error"]["message"] == "audit trail: events 1, 3 do not match the hash chain"
    problems = _json.loads(run("--json", "fsck", home=home, code=1).stdout)["problems"]
    assert sorted(p["detail"] for p in problems if p["kind"] == "audit-chain") == [
        "event 1 does not match the hash chain",
        "event 3 does not match the hash chain",
    ]


def test_the_database_refuses_a_fork_in_the_audit_chain(tmp_path: Path, tiny_model: Path) -> None:
    """Two writers that read the same last event cannot both append after it: the second commit fails."""
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from vault._audit import event_hash
    from vault._catalog.rows import add_audit_event
    from vault._home import Home

    home_dir = tmp_path / "h"
    run("add", tiny_model, "--repo", "acme/a", home=home_dir)
    run("add", tiny_model, "--repo", "acme/b", home=home_dir)
    home = Home.open(home_dir)
    try:
        with home.session() as s:
            first = s.execute(text("SELECT hash FROM audit_events WHERE id = 1")).scalar_one()
        with pytest.raises(IntegrityError), home.write() as w:
            at = "2026-01-01T00:00:00Z"
            event = event_hash(first, at, "fork", "x", "{}")
            add_audit_event(w.session, at, "fork", "x", "{}", first, event)
    finally:
        home.close()
    assert '"chain_intact": true' in run("--json", "audit", home=home_dir).stdout


def test_a_write_outside_home_write_cannot_be_expressed(tmp_path: Path, tiny_model: Path) -> None:
    """Only `Home.write()` hands out a session that may flush; the audit recorder refuses any other."""
    import pytest
    from sqlalchemy import select

    from vault import _audit
    from vault._catalog.schema import Model
    from vault._home import Home

    home_dir = tmp_path / "h"
    run("add", tiny_model, "--repo", "acme/a", home=home_dir)
    home = Home.open(home_dir)
    try:
        with home.session() as s:
            s.add(Model(repo_id="acme/sneaky"))
            with pytest.raises(AssertionError, match=r"go through Home.write\(\)"):
                s.flush()
            s.rollback()
            with pytest.raises(AssertionError, match=r"recorded in Home.write\(\)"):
                _audit.record(s, "sneak", "x")
        with home.write() as w:
            w.session.add(Model(repo_id="acme/honest"))
            w.record("test", "acme/honest")
        with home.session() as s:
            names = set(s.scalars(select(Model.repo_id)))
    finally:
        home.close()
    assert names == {"acme/a", "acme/honest"}
    assert '"chain_intact": true' in run("--json", "audit", home=home_dir).stdout
