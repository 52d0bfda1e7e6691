"""Registry credentials from the file the container tools share, never from a command line.

`REGISTRY_AUTH_FILE` (podman, skopeo, buildah) if set, else
`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`. Only inline `auths`
entries are read: a `credsStore` or `credHelpers` entry names a program to
run, and vault runs no program a config file names.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from vault._regular_files import read_given_file
from vault.errors import UsageError

MAX_AUTH_FILE = 1 << 20


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


def auth_file() -> Path | None:
    named = os.environ.get("REGISTRY_AUTH_FILE")
    if named:
        return Path(named)
    docker = os.environ.get("DOCKER_CONFIG")
    path = Path(docker) / "config.json" if docker else Path.home() / ".docker" / "config.json"
    return path if path.exists() else None


def credentials_for(host: str, path: Path | None = None) -> Credentials | None:
    """The `auths` entry for `host` (`host:port`), or None: anonymous access."""
    path = path or auth_file()
    if path is None:
        return None
    raw = read_given_file(path, MAX_AUTH_FILE, "registry credentials file")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise UsageError(f"{path}: not JSON") from None
    auths = doc.get("auths", {}) if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        raise UsageError(f"{path}: 'auths' is not an object")
    for key in (host, f"https://{host}", f"http://{host}"):
        entry = auths.get(key)
        if entry is None:
            continue
        encoded = entry.get("auth") if isinstance(entry, dict) else None
        if not isinstance(encoded, str):
            raise UsageError(
                f"{path}: the entry for {host} has no inline 'auth' (credential helpers are not run)"
            )
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise UsageError(f"{path}: the entry for {host} is not base64 of user:password") from None
        if not sep or not user:
            raise UsageError(f"{path}: the entry for {host} is not base64 of user:password")
        return Credentials(user, password)
    return None
