"""Where the vault home is when nobody says: VAULT_HOME, else the user data dir. Standard library only."""

from __future__ import annotations

import os
from pathlib import Path


def default_home() -> Path:
    env = os.environ.get("VAULT_HOME")
    if env:
        return Path(env)
    from platformdirs import user_data_path

    return user_data_path("vault", appauthor=False)
