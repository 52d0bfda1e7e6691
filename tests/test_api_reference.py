"""docs/api.md is generated from the public surface's docstrings, and that surface is worth importing:
every public method says what it does, takes its options by keyword, and returns types `vault` exports."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import vault
from vault.api import Vault
from vault.api_reference import public_methods, render

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def test_api_reference_is_current() -> None:
    assert DOC.read_text() == render(), "docs/api.md is stale: python -m vault.api_reference > docs/api.md"


def test_every_public_method_has_a_docstring() -> None:
    assert [name for name, member in public_methods() if not inspect.getdoc(member)] == []


def test_options_are_keyword_only() -> None:
    """Booleans and optional settings are named at the call site, never appended positionally."""
    positional_options = []
    for name, member in public_methods():
        if isinstance(member, property):
            continue
        func = member.__func__ if isinstance(member, classmethod) else member
        for p in inspect.signature(func).parameters.values():
            subject = (name, p.name) == ("open", "home")  # what is opened, not an option: Vault.open(path)
            if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is not p.empty and not subject:
                positional_options.append(f"{name}({p.name})")
    assert positional_options == []


def test_every_type_a_public_method_takes_or_returns_is_importable_from_vault() -> None:
    names: set[str] = set()
    for _name, member in public_methods():
        func = member.fget if isinstance(member, property) else member
        func = func.__func__ if isinstance(func, classmethod) else func
        for annotation in func.__annotations__.values():  # strings: `from __future__ import annotations`
            names |= set(re.findall(r"\b([A-Z][A-Za-z]+)\b", str(annotation)))
    from_stdlib = {"Path", "ThreadingHTTPServer", "Sequence", "None", "Vault"}
    missing = sorted(n for n in names - from_stdlib if not hasattr(vault, n))
    assert missing == []


def test_vault_composes_a_home_and_exposes_no_session() -> None:
    assert not any(hasattr(Vault, name) for name in ("session", "engine", "read", "writer_lock", "write"))
