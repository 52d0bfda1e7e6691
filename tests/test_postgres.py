"""The scale-out path: the air-gapped catalog in a real PostgreSQL server (VAULT_DATABASE_URL).

A throwaway cluster is started with the server's own initdb and pg_ctl on a
temporary directory, listening on 127.0.0.1 only; each test gets a fresh database.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests import bundletools as bt
from tests.conftest import KeyPair, Transfer, run, run_json
from tests.test_import_rejections import flip_byte_in_weights


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    if found is None:
        pytest.fail(f"PostgreSQL's {name} is missing: scripts/setup installs the postgresql package")
    return str(found)


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root; CI and these machines run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def pg_server() -> Iterator[tuple[str, int]]:
    base = Path(tempfile.mkdtemp(prefix="vault-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(_as_postgres([_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "vault"]),
                   check=True, capture_output=True)  # fmt: skip
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    ctl = _pg_bin("pg_ctl")
    subprocess.run(_as_postgres([ctl, "-D", str(data), "-o", opts, "-w", "-l", str(base / "log"), "start"]),
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield "127.0.0.1", port
    finally:
        subprocess.run(_as_postgres([ctl, "-D", str(data), "-w", "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_env(pg_server: tuple[str, int]) -> dict[str, str]:
    host, port = pg_server
    name = f"vault_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"host={host} port={port} user=vault dbname=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return {"VAULT_DATABASE_URL": f"postgresql+psycopg://vault@{host}:{port}/{name}"}


def _tables(env: dict[str, str]) -> dict[str, int]:
    url = env["VAULT_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        names = [r[0] for r in conn.execute("select tablename from pg_tables where schemaname = 'public'")]
        return {n: conn.execute(f'select count(*) from "{n}"').fetchone()[0] for n in sorted(names)}


def test_air_gapped_catalog_in_postgres(transfer: Transfer, pg_env: dict[str, str], tmp_path: Path) -> None:
    t = transfer
    gap = tmp_path / "pg-gap"
    run("trust", "add", "acme", "--key", t.key.public, "--scope", "acme/*", home=gap, env=pg_env)
    assert not (gap / "catalog.db").exists(), "the catalog must live in PostgreSQL"
    tables = _tables(pg_env)
    assert tables["alembic_version"] == 1 and tables["trust_entries"] == 1

    # A hostile bundle is refused and changes no row.
    bad = bt.rewrite(t.bundle, tmp_path / "bad.vault", flip_byte_in_weights)
    err = run("import", bad, home=gap, env=pg_env, code=1).stderr
    assert "sha256 mismatch" in err and _tables(pg_env) == tables

    run("import", t.bundle, home=gap, env=pg_env)
    assert "already imported" in run("import", t.bundle, home=gap, env=pg_env).stdout
    path = Path(run("path", t.repo_id, home=gap, env=pg_env).stdout.strip())
    assert path == gap.absolute() / "models" / t.repo_id / t.commit and (path / "model.safetensors").is_file()
    assert run_json("provenance", t.repo_id, home=gap, env=pg_env)["commit"] == t.commit
    # list and show read PostgreSQL as plain SQL: its booleans and BIGINT sums arrive as Python's.
    listed = run_json("list", home=gap, env=pg_env)
    assert [(r["repo_id"], r["commit"], r["signed"], r["refs"]) for r in listed] == [
        (t.repo_id, t.commit, True, ["main"])
    ]
    shown = run_json("show", t.repo_id, home=gap, env=pg_env)
    assert listed[0]["bytes"] == sum(f["size"] for f in shown["files"]) > 0
    assert all(s["verified"] is True for s in shown["signatures"]) and shown["signatures"]
    assert run_json("fsck", home=gap, env=pg_env)["clean"]
    assert run_json("audit", home=gap, env=pg_env)["chain_intact"]
    # Delta transfers read the PostgreSQL catalog too: the receipt's holdings, the store's blobs.
    run("keygen", "-o", tmp_path / "site")
    receipt = tmp_path / "receipt.json"
    inv = run_json("inventory", "-o", receipt, "--key", tmp_path / "site.pem", home=gap, env=pg_env)
    assert (inv["revisions"], inv["blobs"]) == (1, len({f["sha256"] for f in shown["files"]}))
    delta = tmp_path / "delta.vault"
    run("bundle", t.repo_id, "--base", f"{t.repo_id}@{t.commit}", "-o", delta, home=t.connected)
    assert run_json("verify", delta, home=gap, env=pg_env)["blobs"] == 0

    run("revoke", t.repo_id, "--reason", "test", "--key", t.key.private, home=t.connected)
    run("bundle", "-o", tmp_path / "r.vault", home=t.connected)
    run("import", tmp_path / "r.vault", home=gap, env=pg_env)
    assert "is revoked" in run("path", t.repo_id, home=gap, env=pg_env, code=3).stderr


def test_writer_processes_on_one_postgres_catalog_keep_one_linear_history(
    tmp_path: Path, keypair: KeyPair, pg_env: dict[str, str]
) -> None:
    """Hosts share a catalog by sharing one home; the database, not a local lock, orders the audit chain."""
    from tests.writers import check_one_linear_history, kill_an_import_mid_commit, run_concurrent_writers

    home = tmp_path / "shared"
    run_concurrent_writers(home, tmp_path, keypair, pg_env)
    kill_an_import_mid_commit(home, tmp_path, keypair, pg_env)
    check_one_linear_history(home, pg_env)


def test_a_home_with_another_store_cannot_use_the_catalog(
    tmp_path: Path, keypair: KeyPair, pg_env: dict[str, str]
) -> None:
    """Two homes on one catalog would list and serve revisions whose blobs only one of them holds."""
    first, second = tmp_path / "host-a", tmp_path / "host-b"
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=first, env=pg_env)
    tables = _tables(pg_env)
    for args in (("trust", "add", "b", "--key", keypair.public, "--scope", "*"), ("list",)):
        err = run(*args, home=second, env=pg_env, code=5).stderr
        assert "lists the blobs of another store" in err and err.count("\n") == 1, err
    assert _tables(pg_env) == tables
    assert run_json("trust", "list", home=first, env=pg_env)["keys"][0]["name"] == "acme"
