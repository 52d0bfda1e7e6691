"""Read-only commands start fast: the console script answers list/show/provenance without click,
and verify without SQLAlchemy, printing exactly what the click commands print."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Transfer, run
from vault.cli import COMMAND_MODULES, cli

VAULT_BIN = Path(sys.executable).parent / "vault"
HEAVY = ("sqlalchemy", "alembic", "click", "cryptography")


def console(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VAULT_BIN, *map(str, args)], capture_output=True, text=True)


def loaded_after(argv: list[str], entry: str = "vault._entry") -> tuple[list[str], str]:
    """Run the console entry in a fresh interpreter; which heavy modules it loaded, and its stdout."""
    code = (
        "import sys\n"
        f"sys.argv = ['vault', *{argv!r}]\n"
        f"from {entry} import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stderr.strip().splitlines()[-1]), proc.stdout


@pytest.fixture
def imported(transfer: Transfer) -> Transfer:
    run("import", transfer.bundle, home=transfer.airgapped)
    run("revoke", transfer.repo_id, "--reason", "bad <weights>", "--key", transfer.key.private,
        home=transfer.connected)  # fmt: skip
    return transfer


@pytest.mark.parametrize("as_json", [False, True])
def test_console_answers_match_the_click_commands(imported: Transfer, as_json: bool) -> None:
    flags = ["--json"] if as_json else []
    for home in (imported.connected, imported.airgapped):  # revoked on one, available on the other
        for argv in (["list"], ["show", imported.repo_id], ["provenance", f"{imported.repo_id}@main"]):
            fast = console("--home", home, *flags, *argv)
            slow = run(*flags, *argv, home=home)
            assert fast.returncode == 0, fast.stderr
            assert fast.stdout == slow.stdout and fast.stdout.strip()
    assert "[REVOKED]" in console("--home", imported.connected, "list").stdout
    assert "[REVOKED]" not in console("--home", imported.airgapped, "list").stdout


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["show", "acme/other"], 3, "acme/other: no such model in this vault"),
        (["provenance", "acme/tiny@nope"], 3, "acme/tiny@nope: no such revision in this vault"),
        (["show", "not a ref"], 2, "invalid repo id 'not a ref': expected org/name"),
    ],
)
def test_console_errors_match(imported: Transfer, argv: list[str], code: int, message: str) -> None:
    fast = console("--home", imported.airgapped, *argv)
    slow = run(*argv, home=imported.airgapped, code=code)
    assert (fast.returncode, fast.stdout) == (code, "")
    assert fast.stderr == slow.stderr == f"vault: error: {message}\n"


def test_no_vault_here_is_one_line(tmp_path: Path) -> None:
    fast = console("--home", tmp_path / "none", "list")
    assert fast.returncode == 3 and fast.stderr.count("\n") == 1 and "no vault here" in fast.stderr
    assert not (tmp_path / "none").exists()


def test_read_commands_load_neither_click_nor_sqlalchemy(imported: Transfer) -> None:
    home = str(imported.airgapped)
    for argv in (["list"], ["show", imported.repo_id], ["provenance", imported.repo_id]):
        heavy, out = loaded_after(["--home", home, *argv])
        assert heavy == [] and imported.commit in out


def test_verify_loads_no_sqlalchemy(imported: Transfer) -> None:
    heavy, out = loaded_after(["--home", str(imported.airgapped), "verify", str(imported.bundle)])
    assert out.startswith("OK: ") and "sqlalchemy" not in heavy and "alembic" not in heavy


def test_other_options_go_to_click(imported: Transfer) -> None:
    """Anything the hand parser does not know (here --debug, -h) is click's, with click's output."""
    heavy, out = loaded_after(["--home", str(imported.airgapped), "--debug", "list"])
    assert "click" in heavy and imported.commit in out
    assert "Usage: vault show" in console("show", "-h").stdout


def test_lazy_command_table_matches_the_modules() -> None:
    for module, names in COMMAND_MODULES.items():
        assert sorted(c.name for c in importlib.import_module(module).COMMANDS) == sorted(names)
    import click

    ctx = click.Context(cli)
    assert all(cli.get_command(ctx, name) is not None for name in cli.list_commands(ctx))
    assert cli.get_command(ctx, "no-such-command") is None
