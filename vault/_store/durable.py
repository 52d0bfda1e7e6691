"""Making writes survive a crash: every fsync vault does goes through here.

A file is flushed and fsynced before it is renamed into place, and the
directory after the rename, so that after a power cut a name either points
at complete content or does not exist.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO


def sync_file(fh: BinaryIO) -> None:
    """Flush Python's buffer and the kernel's for an open file."""
    fh.flush()
    os.fsync(fh.fileno())


def sync_path(path: Path) -> None:
    """fsync a file (or directory) by name."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_dir(path: Path) -> None:
    """fsync a directory, so the renames and links made in it are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
