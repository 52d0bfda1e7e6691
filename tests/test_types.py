"""The type checker's escape hatches are few and each says why (mypy strict runs in scripts/test)."""

from __future__ import annotations

import re
from pathlib import Path

VAULT = Path(__file__).resolve().parent.parent / "vault"


def test_every_type_ignore_names_its_code_and_says_why() -> None:
    bare = []
    for path in sorted(VAULT.rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "type: ignore" in line and not re.search(r"type: ignore\[[-a-z, ]+\]  # \S", line):
                bare.append(f"{path.relative_to(VAULT.parent)}:{n}")
    assert bare == []


def test_the_package_says_it_is_typed() -> None:
    """PEP 561: a caller's type checker reads vault's annotations only if py.typed ships."""
    assert (VAULT / "py.typed").is_file()
    assert '"vault" = ["py.typed"]' in (VAULT.parent / "pyproject.toml").read_text()
