"""vault: an air-gapped model artifact registry and verifier.

`vault.resolve("org/name[@rev]")` is the call inference servers use; it is
imported lazily so `import vault` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vault.version import __version__

if TYPE_CHECKING:
    from vault.api import Vault, open_vault, resolve

__all__ = ["Vault", "__version__", "open_vault", "resolve"]


def __getattr__(name: str) -> Any:
    if name in ("Vault", "open_vault", "resolve"):
        from vault import api

        return getattr(api, name)
    raise AttributeError(name)
