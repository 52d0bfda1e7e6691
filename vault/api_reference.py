"""The Python API reference in docs/api.md, generated from the public surface's own docstrings.

`python -m vault.api_reference > docs/api.md` rewrites it; a test fails when it
is stale, and another when a public method has no docstring or returns a type
`vault` does not export, so the reference cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
from collections.abc import Callable
from typing import Any

import vault
from vault.api import Vault


def public_methods() -> list[tuple[str, Callable[..., Any] | property]]:
    """`Vault`'s public methods and properties, in source order."""
    members = [(n, m) for n, m in vars(Vault).items() if not n.startswith("_")]
    return [(n, m) for n, m in members if callable(m) or isinstance(m, (property, classmethod))]


def _doc(obj: object) -> str:
    return inspect.cleandoc(getattr(obj, "__doc__", None) or "")


def _signature(name: str, member: object) -> str:
    if isinstance(member, property):
        ret = member.fget.__annotations__.get("return", "") if member.fget else ""
        return f"{name}: {ret}"
    func = member.__func__ if isinstance(member, classmethod) else member
    sig = inspect.signature(func)  # type: ignore[arg-type]  # a function, by public_methods
    params = [p for p in sig.parameters.values() if p.name not in ("self", "cls")]
    return f"{name}{sig.replace(parameters=params)}".replace("'", "")


def _type_section(name: str) -> list[str]:
    cls = getattr(vault, name)
    lines = [f"### `{name}`", ""]
    if _doc(cls) and not _doc(cls).startswith(f"{name}("):
        lines += [_doc(cls), ""]
    if isinstance(cls, type) and issubclass(cls, enum.Enum):
        lines += [", ".join(f"`{m.value}`" for m in cls), ""]
    elif dataclasses.is_dataclass(cls):
        lines += [f"- `{f.name}: {f.type}`" for f in dataclasses.fields(cls)] + [""]
    return lines


def render() -> str:
    parts = [
        "# Python API reference",
        "",
        "Generated from the docstrings by `python -m vault.api_reference`.",
        "",
    ]
    parts += [_doc(vault), ""]
    parts += ["## Functions", ""]
    for name in ("resolve", "open_vault", "keygen"):
        func = getattr(vault, name)
        parts += [f"### `{name}{str(inspect.signature(func)).replace(chr(39), '')}`", "", _doc(func), ""]
    parts += ["## `Vault`", "", _doc(Vault), ""]
    for name, member in public_methods():
        parts += [f"### `{_signature(name, member)}`", "", _doc(member) or "(undocumented)", ""]
    parts += ["## Result types and options", ""]
    exported = sorted(n for n in vault.__all__ if n[0].isupper() and not n.endswith("Error") and n != "Vault")
    for name in exported:
        parts += _type_section(name)
    parts += ["## Errors", "", _doc(vault.errors), ""]
    for name in sorted(n for n in vault.__all__ if n.endswith("Error")):
        cls = getattr(vault, name)
        parts += [f"- `{name}` (exit {cls.exit_code}, kind `{cls.kind}`): {_doc(cls).splitlines()[0]}"]
    return "\n".join(parts).rstrip("\n") + "\n"


if __name__ == "__main__":
    print(render(), end="")
