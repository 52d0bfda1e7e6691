"""The blake3 of stored blobs, hashed through memory maps on all cores, in a process of its own.

A mapped file is hashed with no copy into user space, which is what lets
`vault scrub` run near the speed of reading the page cache (a read into a
buffer costs this machine kind as much CPU as blake3 itself). But a page the
disk cannot read reaches a mapping as SIGBUS, not as an error, and kills the
process that touched it. So the mapping happens here, in a child: scrub reads
its lines as they come and, if the child dies, hashes what it had not
reported with plain reads, where an unreadable block is an I/O error that
names its blob (see `_ops.maintenance`).

The child is told which blobs to hash (their sha256, one per line on stdin)
and answers one line per blob, in the same order, naming none: `SIZE BLAKE3`,
or `! PROBLEM`. Nothing on disk is enumerated, so no file name can forge a
line, and a stray file costs nothing. It runs isolated (`-I`), with the very
vault package of its parent first on its path: no directory it is started
from can stand in for this code.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
from pathlib import Path

import blake3

from vault._holes import zeros
from vault._kernel_copy import MappedRange, data_runs

# Mapped pages count toward RSS while mapped: one window at a time keeps the child small.
WINDOW = 32 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
NOT_REGULAR = "not a regular file"


class BlobProblem(Exception):
    """A stored blob that cannot be hashed, worded for scrub's report."""


def open_blob(blobs: Path, sha256: str) -> int:
    """Open `blobs/ab/cdef…` for reading, following no link on the way (neither the blob nor
    its directory): the store holds regular files in real directories only."""
    if not _SHA256.fullmatch(sha256):
        raise BlobProblem("not a sha256")
    try:
        top = os.open(blobs / sha256[:2], os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise BlobProblem("missing") from None
    except OSError as exc:
        raise _problem(exc, blobs / sha256[:2]) from None
    try:
        fd = os.open(sha256[2:], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=top)
    except FileNotFoundError:
        raise BlobProblem("missing") from None
    except OSError as exc:
        raise _problem(exc, blobs / sha256[:2] / sha256[2:]) from None
    finally:
        os.close(top)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BlobProblem(NOT_REGULAR)
    return fd


def _problem(exc: OSError, path: Path) -> BlobProblem:
    """The refusal of `path` (the blob or its directory), worded by what is there."""
    if exc.errno in (errno.ELOOP, errno.ENOTDIR) and path.is_symlink():  # O_NOFOLLOW met a link
        return BlobProblem(f"{NOT_REGULAR} (a symbolic link)")
    if exc.errno == errno.ENOTDIR:
        return BlobProblem(f"unreadable ({path.name} is not a directory)")
    return BlobProblem(f"unreadable ({exc.strerror or exc})")


def mapped_blake3(fd: int, size: int) -> str:
    """blake3 of the first `size` bytes of an open regular file, window by window, on every core.

    Holes are hashed from a buffer of zeros: mapping one would fill the page cache with zeros.
    """
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    for offset, length, holds_data in data_runs(fd, 0, size):
        for start in range(offset, offset + length, WINDOW):
            n = min(WINDOW, offset + length - start)
            if not holds_data:
                hasher.update(zeros(n))
                continue
            window = MappedRange(fd, start, n)
            try:
                hasher.update(window.view)
            finally:
                window.close()
    return hasher.hexdigest()


def describe(blobs: Path, sha256: str) -> str:
    """One output line for a blob: `SIZE BLAKE3`, or `! PROBLEM`."""
    try:
        fd = open_blob(blobs, sha256)
    except BlobProblem as problem:
        return f"! {problem}"
    try:
        size = os.fstat(fd).st_size
        return f"{size} {mapped_blake3(fd, size)}"
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    blobs = Path(argv[1])
    wanted = sys.stdin.read().split()
    for sha256 in wanted:
        sys.stdout.write(describe(blobs, sha256) + "\n")
        sys.stdout.flush()  # each line reaches scrub before the next blob is touched
    return 0


# How scrub starts the child: isolated, with its own vault package first on the path.
CHILD_CODE = "import sys; sys.path.insert(0, sys.argv.pop(1)); from vault._store.blob_digests import main; sys.exit(main(sys.argv))"  # noqa: E501


def child_command(blobs: Path) -> list[str]:
    package_root = Path(__file__).resolve().parent.parent.parent
    return [sys.executable, "-I", "-c", CHILD_CODE, str(package_root), str(blobs)]
