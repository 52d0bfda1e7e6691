"""The blake3 of every stored blob, hashed through memory maps on all cores, in a process of its own.

A mapped file is hashed with no copy into user space, which is what lets
`vault scrub` run near the speed of reading the page cache (a read into a
buffer costs this machine kind as much CPU as blake3 itself). But a page the
disk cannot read reaches a mapping as SIGBUS, not as an error, and kills the
process that touched it. So the mapping happens here, in a child: scrub reads
its lines as they come and, if the child dies, hashes what it had not
reported with plain reads, where an unreadable block is an I/O error that
names its blob (see `_ops.maintenance`).

Run as `python -m vault._store.blob_digests BLOBS_DIR`. It prints one line
per entry under BLOBS_DIR (`ab/cdef…`), in sorted order: `NAME SIZE BLAKE3`,
or `NAME ! PROBLEM` for an entry that is not a regular file or cannot be opened.
Links are never followed: the store holds regular files only.
"""

from __future__ import annotations

import errno
import mmap
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import blake3

from vault._kernel_copy import data_runs

# Mapped pages count toward RSS while mapped: one window at a time keeps the child small.
WINDOW = 32 << 20
_ZEROS = bytes(WINDOW)


def blob_names(blobs: Path) -> Iterator[str]:
    """`ab/cdef…` for every entry two levels under `blobs`, sorted."""
    for top in sorted(os.listdir(blobs)):
        if len(top) == 2 and (blobs / top).is_dir() and not (blobs / top).is_symlink():
            for name in sorted(os.listdir(blobs / top)):
                yield f"{top}/{name}"


def mapped_blake3(fd: int, size: int) -> str:
    """blake3 of the first `size` bytes of an open regular file, window by window, on every core.

    Holes are hashed from a buffer of zeros: mapping one would fill the page cache with zeros.
    """
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    for offset, length, holds_data in data_runs(fd, 0, size):
        for start in range(offset, offset + length, WINDOW):
            n = min(WINDOW, offset + length - start)
            if not holds_data:
                hasher.update(memoryview(_ZEROS)[:n])
                continue
            base = start - start % mmap.ALLOCATIONGRANULARITY
            with (
                mmap.mmap(fd, start + n - base, prot=mmap.PROT_READ, offset=base) as window,
                memoryview(window) as whole,
            ):
                hasher.update(whole[start - base :])
    return hasher.hexdigest()


def describe(path: Path) -> str:
    """One output line's tail for `path`: `SIZE BLAKE3`, or `! PROBLEM` (worded for scrub's report)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "! not a regular file (a symbolic link)"
        return f"! unreadable ({exc.strerror or exc})"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return "! not a regular file"
        return f"{st.st_size} {mapped_blake3(fd, st.st_size)}"
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    blobs = Path(argv[1])
    out = sys.stdout
    for name in blob_names(blobs):
        out.write(f"{name} {describe(blobs / name)}\n")
        out.flush()  # each line reaches scrub before the next blob is touched
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
