"""Streaming multi-digest hashing: every byte is read once, in constant memory.

sha256 is what signatures name; blake3 is recorded beside it so `vault scrub`
can re-check the store at memory speed. Both are fed from the same buffer, and
when a destination is given the same buffer is written out, so taking a file in
costs one read.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import blake3

from vault._progress import CountingReader, Progress
from vault._store.durable import sync_file

CHUNK = 1 << 20  # 1 MiB: large enough to release the GIL inside hashlib, small enough for RSS
T = TypeVar("T")
R = TypeVar("R")


class Readable(Protocol):
    def readinto(self, buf: bytearray | memoryview, /) -> int: ...


class Writable(Protocol):
    def write(self, data: bytes | memoryview, /) -> int: ...


@dataclass(frozen=True)
class FileDigest:
    size: int
    sha256: str
    blake3: str
    # git's blob id, sha1("blob <size>\0" + content): what the Hub publishes for non-LFS files.
    git_sha1: str | None = None


class MultiHasher:
    """Feeds sha256 and blake3 (and, given the size up front, git's blob sha1) from one buffer."""

    def __init__(self, git_blob_size: int | None = None) -> None:
        self._sha = hashlib.sha256()
        self._b3 = blake3.blake3()
        self._git: hashlib._Hash | None = None
        if git_blob_size is not None:
            self._git = hashlib.sha1(b"blob %d\0" % git_blob_size, usedforsecurity=False)
        self.size = 0

    def update(self, data: bytes | memoryview) -> None:
        self.update_sha(data)
        self.update_b3(data)

    def update_sha(self, data: bytes | memoryview) -> None:
        self._sha.update(data)
        if self._git is not None:
            self._git.update(data)
        self.size += len(data)

    def update_b3(self, data: bytes | memoryview) -> None:
        self._b3.update(data)

    def digest(self) -> FileDigest:
        git = self._git.hexdigest() if self._git is not None else None
        return FileDigest(self.size, self._sha.hexdigest(), self._b3.hexdigest(), git)


def hash_stream(
    source: Readable,
    sink: Writable | None = None,
    limit: int | None = None,
    git_blob_size: int | None = None,
) -> FileDigest:
    """Hash `source` (at most `limit` bytes), copying into `sink` as it goes.

    From the second chunk on, sha256 and blake3 each run on a worker thread
    (both release the GIL) while this thread writes the chunk and reads the
    next one into the other buffer: hashing overlaps I/O, on every core.
    """
    hasher = MultiHasher(git_blob_size)
    buffers = (bytearray(CHUNK), bytearray(CHUNK))
    pool: ThreadPoolExecutor | None = None
    pending: list[Future[None]] = []
    remaining = limit
    turn = 0
    try:
        while remaining is None or remaining > 0:
            want = CHUNK if remaining is None else min(CHUNK, remaining)
            view = memoryview(buffers[turn])
            n = source.readinto(view[:want])
            if not n:
                break
            chunk = view[:n]
            for f in pending:  # the other buffer's hashes: must finish before the next read into it
                f.result()
            if pool is None and n == CHUNK:
                pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vault-hash")
            if pool is None:
                hasher.update(chunk)
                pending = []
            else:
                pending = [pool.submit(hasher.update_sha, chunk), pool.submit(hasher.update_b3, chunk)]
            if sink is not None:
                sink.write(chunk)
            if remaining is not None:
                remaining -= n
            turn ^= 1
        for f in pending:
            f.result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return hasher.digest()


class DurableFile:
    """A new file (never an existing one) that is fsynced when closed.

    Everything staged goes through this, so a rename that publishes a file
    always follows the fsync of its bytes. (Starting write-back early with
    periodic fdatasync was measured and made no difference here.)
    """

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "xb")  # noqa: SIM115 - closed in close()

    def write(self, data: bytes | memoryview) -> int:
        return self._fh.write(data)

    def close(self) -> None:
        try:
            sync_file(self._fh)
        finally:
            self._fh.close()

    def __enter__(self) -> DurableFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hash_file(
    path: Path, copy_to: Path | None = None, git_blob_below: int = 0, progress: Progress | None = None
) -> FileDigest:
    """Hash one file; with `copy_to`, also write a durable copy (fsynced).

    Files smaller than `git_blob_below` bytes also get git's blob sha1.
    """
    with open(path, "rb") as raw:
        size = os.fstat(raw.fileno()).st_size
        git_size = size if size < git_blob_below else None
        src: Readable = raw if progress is None else CountingReader(raw, progress)
        if copy_to is None:
            return hash_stream(src, git_blob_size=git_size)
        with DurableFile(copy_to) as dst:
            return hash_stream(src, dst, git_blob_size=git_size)


def parallel_map(fn: Callable[[T], R], items: Iterable[T], workers: int | None = None) -> Iterator[R]:
    """Map across files on every core; hashlib and blake3 release the GIL."""
    items = list(items)
    workers = workers or min(len(items), os.cpu_count() or 1) or 1
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(fn, items)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
