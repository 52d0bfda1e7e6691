"""vault: an air-gapped model artifact registry and verifier.

`vault.resolve("org/name[@rev]")` is the call inference servers use; it is
imported lazily so `import vault` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vault.version import __version__

if TYPE_CHECKING:
    from vault.api import Vault, open_vault

__all__ = ["Vault", "__version__", "open_vault", "resolve"]


def resolve(ref: str, home: Any = None) -> Any:
    """Resolve ``org/name[@rev]`` to the directory of its verified files (a pathlib.Path).

    Defined here, not re-exported, so that `import vault; vault.resolve(...)`
    costs one SQLite query and no heavy imports.
    """
    from vault.resolver import resolve as _resolve

    return _resolve(ref, home)


def __getattr__(name: str) -> Any:
    if name in ("Vault", "open_vault"):
        from vault import api

        return getattr(api, name)
    raise AttributeError(name)
