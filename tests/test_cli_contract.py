"""The command-line contract: help, entry points, global options anywhere, exit codes, --json errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Transfer, run, run_json
from vault._reads import reports

VAULT = [sys.executable, "-m", "vault"]


def _one_error(res_stderr: str) -> str:
    lines = res_stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vault: error: "), res_stderr
    return lines[0]


def _json_error(stdout: str, code: int, kind: str) -> str:
    doc = json.loads(stdout)  # exactly one JSON document
    assert set(doc) == {"error"} and set(doc["error"]) == {"code", "kind", "message"}
    assert (doc["error"]["code"], doc["error"]["kind"]) == (code, kind)
    return str(doc["error"]["message"])


@pytest.fixture
def imported(transfer: Transfer) -> Transfer:
    run("import", transfer.bundle, home=transfer.airgapped)
    return transfer


def test_h_is_help_everywhere() -> None:
    for argv in ([], ["show"], ["trust", "add"], ["ref", "set"]):
        assert run(*argv, "-h").stdout == run(*argv, "--help").stdout
        assert "Usage: vault" in run(*argv, "-h").stdout


def test_module_entry_points() -> None:
    for module in ("vault", "vault.cli"):
        res = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True)
        assert res.returncode == 0 and res.stdout.startswith("vault, version "), res


def test_global_options_after_the_subcommand(imported: Transfer) -> None:
    t = imported
    home = str(t.airgapped)
    assert run_json("list", home=t.airgapped) == json.loads(run("list", "--json", "--home", home).stdout)
    prov = json.loads(run("provenance", t.repo_id, "--json", "--home", home).stdout)
    assert prov["commit"] == t.commit
    assert json.loads(run("trust", "list", "--home", home, "--json").stdout)["keys"][0]["name"] == "acme"
    # The console fast path for `path` takes them in any position too.
    want = str(t.airgapped / "models" / t.repo_id / t.commit)
    for argv in (
        ["path", t.repo_id, "--home", home, "--json"],
        ["--json", "path", t.repo_id, "--home", home],
    ):
        res = subprocess.run([*VAULT, *argv], capture_output=True, text=True)
        assert res.returncode == 0 and json.loads(res.stdout) == {"path": want}, res


def test_json_errors_have_one_shape(imported: Transfer, tmp_path: Path) -> None:
    t = imported
    res = run("show", "acme/none", "--json", home=t.airgapped, code=3)
    assert "acme/none" in _json_error(res.stdout, 3, "not_found")
    _one_error(res.stderr)
    res = run("show", "--json", home=t.airgapped, code=2)
    assert "REF" in _json_error(res.stdout, 2, "usage")
    bad = bytearray(t.bundle.read_bytes())
    bad[-15000] ^= 1
    (tmp_path / "bad.vault").write_bytes(bytes(bad))
    res = run("--json", "import", tmp_path / "bad.vault", home=t.airgapped, code=1)
    assert json.loads(res.stdout)["error"]["code"] == 1
    _one_error(res.stderr)
    res = subprocess.run([*VAULT, "path", "acme/none", "--json", "--home", str(t.airgapped)],
                         capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 3 and "acme/none" in _json_error(res.stdout, 3, "not_found")
    _one_error(res.stderr)


def test_import_answers_with_one_shape(transfer: Transfer) -> None:
    t = transfer
    first = run_json("import", t.bundle, home=t.airgapped)
    again = run_json("import", t.bundle, home=t.airgapped)
    assert (first["status"], again["status"]) == ("imported", "already-imported")
    assert set(first) == set(again)
    assert again["already_present"] == [f"{t.repo_id}@{t.commit}"] and again["blobs"] == 0


def test_unexpected_exception_is_one_line_and_exit_5(
    imported: Transfer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_a: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(reports, "list_revisions", boom)
    res = run("list", home=imported.airgapped, code=5)
    assert (
        _one_error(res.stderr) == "vault: error: unexpected RuntimeError: boom (--debug shows the traceback)"
    )
    res = run("list", "--json", home=imported.airgapped, code=5)
    assert _json_error(res.stdout, 5, "internal").startswith("unexpected RuntimeError")
    res = run("list", "--debug", home=imported.airgapped, code=5)
    assert "Traceback (most recent call last)" in res.stderr and 'raise RuntimeError("boom")' in res.stderr


def test_ctrl_c_is_exit_130(imported: Transfer, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_a: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(reports, "list_revisions", interrupted)
    res = run("list", home=imported.airgapped, code=130)
    assert "interrupted" in _one_error(res.stderr)


def test_unreachable_database_url_is_named_in_one_line(tmp_path: Path) -> None:
    url = "postgresql+psycopg://vault:hunter2@127.0.0.1:9/vaultdb"
    env = {**os.environ, "VAULT_DATABASE_URL": url, "VAULT_HOME": str(tmp_path / "h")}
    for argv in (["list"], ["path", "acme/tiny"], ["trust", "add", "x", "--key", __file__, "--scope", "x/*"]):
        res = subprocess.run([*VAULT, *argv], capture_output=True, text=True, env=env, timeout=60)
        line = _one_error(res.stderr)
        assert res.returncode == 5, res.stderr
        assert "127.0.0.1:9/vaultdb" in line and "***" in line and "hunter2" not in line, line
    res = subprocess.run([*VAULT, "list", "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert "127.0.0.1:9/vaultdb" in _json_error(res.stdout, 5, "catalog_unavailable")
