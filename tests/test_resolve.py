"""`vault path` and `vault.resolve()`: the inference servers' hot path, fast and exact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import vault
from tests.conftest import run, run_json, write_tiny_model
from vault._resolver import close_connections
from vault.errors import NotFoundError, UsageError

VAULT_BIN = Path(sys.executable).parent / "vault"


@pytest.fixture
def home(tmp_path: Path, tiny_model: Path) -> tuple[Path, str]:
    home = tmp_path / "h"
    commit = run_json("add", tiny_model, "--repo", "acme/tiny", "--revision", "v1", home=home)["commit"]
    return home, commit


def console(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VAULT_BIN, *map(str, args)], capture_output=True, text=True)


def test_console_script_fast_path_matches_the_cli(home: tuple[Path, str]) -> None:
    h, commit = home
    for ref in ("acme/tiny", "acme/tiny@main", "acme/tiny@v1", f"acme/tiny@{commit}"):
        fast = console("--home", h, "path", ref)
        assert fast.returncode == 0, fast.stderr
        assert fast.stdout == run("path", ref, home=h).stdout == f"{h.absolute()}/models/acme/tiny/{commit}\n"
        assert vault.resolve(ref, home=h) == Path(fast.stdout.strip())
    as_json = console(f"--home={h}", "--json", "path", "acme/tiny")
    assert as_json.stdout == run("--json", "path", "acme/tiny", home=h).stdout


@pytest.mark.parametrize(
    ("ref", "code", "message"),
    [
        ("acme/other", 3, "acme/other: no such model in this vault"),
        ("acme/tiny@nope", 3, "acme/tiny@nope: no such revision in this vault"),
        ("not a ref", 2, "invalid repo id 'not a ref': expected org/name"),
    ],
)
def test_fast_path_errors_match(home: tuple[Path, str], ref: str, code: int, message: str) -> None:
    h, _ = home
    fast = console("--home", h, "path", ref)
    slow = run("path", ref, home=h, code=code)
    assert fast.returncode == code
    assert fast.stderr == slow.stderr == f"vault: error: {message}\n"
    assert fast.stdout == ""


def test_resolve_imports_nothing_heavy(home: tuple[Path, str]) -> None:
    h, _ = home
    code = (
        "import sys, vault\n"
        f"print(vault.resolve('acme/tiny', home={str(h)!r}))\n"
        "print(sorted(m for m in ('sqlalchemy', 'alembic', 'cryptography', 'click') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[1] == "[]"


def test_resolve_falls_back_for_other_databases(
    home: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    h, commit = home
    monkeypatch.setenv("VAULT_DATABASE_URL", f"sqlite:///{h / 'catalog.db'}")
    assert vault.resolve("acme/tiny", home=h).name == commit


def test_resolve_errors_are_typed(home: tuple[Path, str], tmp_path: Path) -> None:
    h, _ = home
    with pytest.raises(NotFoundError):
        vault.resolve("acme/none", home=h)
    with pytest.raises(UsageError):
        vault.resolve("acme", home=h)
    with pytest.raises(NotFoundError, match="no vault here"):
        vault.resolve("acme/tiny", home=tmp_path / "empty")


def test_resolving_leaves_the_home_untouched(home: tuple[Path, str]) -> None:
    from tests.conftest import snapshot

    h, _ = home
    before = snapshot(h)
    console("--home", h, "path", "acme/tiny")
    run("path", "acme/tiny", home=h)
    assert snapshot(h) == before
    vault.resolve("acme/tiny", home=h)  # keeps its read connection open, as a server would
    close_connections()
    assert snapshot(h) == before


def test_cached_connection_sees_new_imports_and_a_replaced_catalog(
    home: tuple[Path, str], tiny_model: Path
) -> None:
    h, commit = home
    assert vault.resolve("acme/tiny", home=h).name == commit
    other = write_tiny_model(tiny_model.parent / "other", seed=5)
    newer = run_json("add", other, "--repo", "acme/tiny", home=h)["commit"]
    assert vault.resolve("acme/tiny", home=h).name == newer
    catalog = h / "catalog.db"
    replaced = h / "catalog.db.new"
    replaced.write_bytes(catalog.read_bytes())
    os.replace(replaced, catalog)
    assert vault.resolve(f"acme/tiny@{commit}", home=h).name == commit
