"""Opening files on the medium: regular files only.

The medium is hostile. A FIFO named like a part blocks a reader for ever, a
character device (`/dev/zero` behind a name) reads without end, and neither
has a size to check. Every file vault reads from a bundle's medium (parts,
parity parts, a single-file bundle) is opened here, without blocking, and
refused unless it is a regular file (a symlink to one is followed: where a
byte comes from does not matter, what kind of file it is does).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from vault.errors import BundleFormatError

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def not_regular(path: Path, mode: int) -> BundleFormatError:
    kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
    return BundleFormatError(
        f"{path.name}: is {kind}, not a regular file: only regular files are read from media"
    )


def open_regular(path: Path) -> BinaryIO:
    """Open `path` for reading; BundleFormatError unless it is a regular file (never blocks)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise not_regular(path, mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def is_regular(path: Path) -> bool:
    """Whether `path` names a regular file (following links, never opening it)."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def check_regular(path: Path) -> None:
    """Refuse a name on the medium that exists but is not a regular file."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        raise not_regular(path, mode)
