"""Opening a file someone handed vault: regular files only, never blocking.

The medium and the operator's paths are hostile. A FIFO named like a part
blocks a reader for ever, a character device (`/dev/zero` behind a name) reads
without end, and neither has a size to check. Every file vault reads from a
bundle's medium (parts, parity parts, a single-file bundle, a receipt) and
every small file an operator names (keys, certificates, signatures, trusted
roots, password files) is opened here, without blocking, and refused unless it
is a regular file (a symlink to one is followed: where a byte comes from does
not matter, what kind of file it is does).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from vault.errors import BundleFormatError, UsageError, VaultError

MAX_PEM = 1 << 20  # keys, certificate chains and password files are a few kilobytes

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def not_regular(path: Path, mode: int, refuse: type[VaultError] = BundleFormatError) -> VaultError:
    kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
    if refuse is BundleFormatError:
        return refuse(f"{path.name}: is {kind}, not a regular file: only regular files are read from media")
    return refuse(f"{path}: is {kind}, not a regular file")


def open_regular(path: Path, refuse: type[VaultError] = BundleFormatError) -> BinaryIO:
    """Open `path` for reading; `refuse` (a bundle format error by default) unless it is a regular
    file. Never blocks."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise not_regular(path, mode, refuse)
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


def read_given_file(path: Path, cap: int, what: str) -> bytes:
    """A small file the operator named (a key, a certificate, a signature, a receipt), whole.

    One line for each way it can be wrong: missing or unreadable, not a regular
    file, or larger than `cap` (these files are kilobytes; a size with no bound
    would be read into memory).
    """
    try:
        with open_regular(path, UsageError) as fh:
            data = fh.read(cap + 1)
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    if len(data) > cap:
        raise UsageError(f"{path}: larger than {cap} bytes: not a {what}")
    return data
