"""An import reads the catalog once before it commits, and commits once: two round trips in all.

The checks are pure functions of the bundle's signed bytes and one catalog snapshot
(`_verify/snapshot.py`); the commit's transaction also reads what the views must show.
Opening the home (schema and store checks) is not the import's and is not counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Transfer, run
from tests.forge import forge_bundle
from vault._home import Home
from vault.api import open_vault

FILES = {"config.json": b'{"a": 1}', "vocab.txt": b"a\nb\n"}


def _counting(monkeypatch: pytest.MonkeyPatch, calls: Counter[str]) -> None:
    for name in ("read", "session", "write"):
        original: Callable[..., Any] = getattr(Home, name)

        def counted(
            self: Home, *args: Any, _name: str = name, _original: Callable[..., Any] = original
        ) -> Any:
            calls[_name] += 1
            return _original(self, *args)

        monkeypatch.setattr(Home, name, counted)


@pytest.mark.parametrize("case", ["new revision", "already imported", "revocation", "delta"])
def test_an_import_reads_the_catalog_in_at_most_two_round_trips(
    monkeypatch: pytest.MonkeyPatch, transfer: Transfer, tmp_path: Path, case: str
) -> None:
    t = transfer
    home = t.airgapped
    bundle = t.bundle
    if case != "new revision":
        run("import", t.bundle, home=home)
    if case == "revocation":
        run("revoke", t.repo_id, "--reason", "test", "--key", t.key.private, home=t.connected)
        bundle = tmp_path / "r.vault"
        run("bundle", "-o", bundle, home=t.connected)
    if case == "delta":
        view = Path(run("path", t.repo_id, home=home).stdout.strip())
        files = {p.relative_to(view).as_posix(): p.read_bytes() for p in view.rglob("*") if p.is_file()}
        bundle = forge_bundle(tmp_path / "d.vault", t.key.private, {**files, "NOTES.md": b"new"},
                              repo_id=t.repo_id, commit="d" * 40, omit=tuple(files),
                              fetched_at="2026-12-01T00:00:00Z")  # fmt: skip
    vault = open_vault(home)
    calls: Counter[str] = Counter()
    _counting(monkeypatch, calls)
    try:
        vault.import_bundle(bundle)
    finally:
        monkeypatch.undo()
        vault.close()
    assert calls["read"] + calls["session"] + calls["write"] <= 2, calls
    assert calls["write"] == 1 and calls["session"] == 0, calls
    assert run("fsck", home=home).exit_code == 0
