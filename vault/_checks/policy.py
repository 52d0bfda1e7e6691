"""The operator's overrides, and the one check made on names alone, before any byte is read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vault._checks.pickle_scan import is_pickle_based
from vault.errors import UnsafeContentError


@dataclass(frozen=True)
class ContentPolicy:
    """Explicit, audited operator overrides; the defaults refuse.

    allow_pickle: admit pickle-based weights that pass the allow-list scan.
    allow_downgrade: let an import move a ref to a revision fetched earlier than the one it holds.
    allow_unknown: admit binary files of no format vault can check (a new format fails closed).
    allow_code: the files, by path in their revision, whose code the operator admits (an
        auto_map's module, a handler.py, a Hydra YAML); every other file that runs code is refused.
    """

    allow_pickle: bool = False
    allow_downgrade: bool = False
    allow_unknown: bool = False
    allow_code: frozenset[str] = frozenset()


def refuse_pickles(paths: Iterable[str], policy: ContentPolicy, hint: str = "") -> None:
    """Refuse on names alone, where there are no bytes yet: `pull`, before it downloads a byte.

    Wherever the bytes are at hand (add, verify, import) they decide, so a
    file gets the same reason in both modes; only a pull in the default mode
    speaks from the name, to spare the download of what it would refuse.
    """
    if policy.allow_pickle:
        return
    for path in sorted(paths):
        if is_pickle_based(path):
            raise UnsafeContentError(
                f"{path}: pickle-based weights are refused by default "
                f"(they can run code when loaded){hint}; --allow-pickle admits them after an allow-list scan"
            )
