"""How vault writes a tar entry: the same input gives the same bytes, on any host.

Bundles and parity parts both go through here: mode 0444, owner 0/0, no user
or group names, mtime 0, UTF-8 names whatever the locale, PAX format.
"""

from __future__ import annotations

import tarfile
from typing import Literal

TAR_FORMAT: Literal[2] = tarfile.PAX_FORMAT
TAR_ENCODING = "utf-8"


def entry_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o444, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def entry_header(name: str, size: int) -> bytes:
    """The header blocks `tarfile` writes for this entry (what the writers size and stream by hand)."""
    return entry_info(name, size).tobuf(TAR_FORMAT, TAR_ENCODING, "surrogateescape")
