"""Streaming multi-digest hashing: every byte is read once, in constant memory.

sha256 is what signatures name; blake3 is recorded beside it so `vault scrub`
can re-check the store at memory speed. Both are fed from the same buffer, and
when a destination is given the same buffer is written out, so taking a file in
costs one read.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import blake3

from vault._durable import BulkWriter
from vault._progress import CountingReader, Progress
from vault._workers import worker_pool

CHUNK = 1 << 20  # 1 MiB: large enough to release the GIL inside hashlib, small enough for RSS
T = TypeVar("T")
R = TypeVar("R")


class Readable(Protocol):
    def readinto(self, buf: bytearray | memoryview, /) -> int: ...


class Writable(Protocol):
    def write(self, data: bytes | memoryview, /) -> int: ...


# The Hub keeps files up to this size in git (its git blob sha1 is their id); larger ones go to LFS.
GIT_SHA1_MAX_SIZE = 10 * 1024 * 1024


@dataclass(frozen=True)
class FileDigest:
    size: int
    sha256: str
    # None where nothing needs it: `vault verify` of a sha256-signed bundle skips it.
    blake3: str | None
    # git's blob id, sha1("blob <size>\0" + content): what the Hub publishes for non-LFS files.
    git_sha1: str | None = None


class MultiHasher:
    """Feeds sha256 and blake3 (and, given the size up front, git's blob sha1) from one buffer."""

    def __init__(self, git_blob_size: int | None = None, with_blake3: bool = True) -> None:
        self._sha = hashlib.sha256()
        self._b3 = blake3.blake3() if with_blake3 else None
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
        if self._b3 is not None:
            self._b3.update(data)

    def digest(self) -> FileDigest:
        git = self._git.hexdigest() if self._git is not None else None
        b3 = self._b3.hexdigest() if self._b3 is not None else None
        return FileDigest(self.size, self._sha.hexdigest(), b3, git)


def hash_stream(
    source: Readable,
    sink: Writable | None = None,
    limit: int | None = None,
    git_blob_size: int | None = None,
    with_blake3: bool = True,
    overlap: bool = True,
) -> FileDigest:
    """Hash `source` (at most `limit` bytes), copying into `sink` as it goes.

    With `overlap`, from the second chunk on, sha256 and blake3 each run on a
    worker thread (both release the GIL) while this thread writes the chunk
    and reads the next one into the other buffer: one stream uses every core.
    When other streams are already hashed on the other cores (`hash_all`),
    those hand-offs only cost, so everything runs on the calling thread.
    """
    hasher = MultiHasher(git_blob_size, with_blake3)
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
            if pool is None and overlap and n == CHUNK:
                pool = worker_pool(2, "vault-hash")
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
    always follows the fsync of its bytes. (Periodic fdatasync, which blocks,
    made no difference; the non-blocking early write-back in `BulkWriter` did.)
    """

    def __init__(self, path: Path) -> None:
        # Unbuffered: every write is a whole chunk, and must have reached the kernel
        # before BulkWriter asks for it to go to disk.
        self._out = BulkWriter(open(path, "xb", buffering=0))  # noqa: SIM115 - closed in close()

    def write(self, data: bytes | memoryview) -> int:
        return self._out.write(data)

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> DurableFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hash_file(
    path: Path,
    copy_to: Path | None = None,
    git_blob_below: int = 0,
    progress: Progress | None = None,
    overlap: bool = True,
) -> FileDigest:
    """Hash one file; with `copy_to`, also write a durable copy (fsynced).

    Files smaller than `git_blob_below` bytes also get git's blob sha1.
    `overlap` as in `hash_stream` (`hash_all` says which).
    """
    with open(path, "rb") as raw:
        size = os.fstat(raw.fileno()).st_size
        git_size = size if size < git_blob_below else None
        src: Readable = raw if progress is None else CountingReader(raw, progress)
        if copy_to is None:
            return hash_stream(src, git_blob_size=git_size, overlap=overlap)
        with DurableFile(copy_to) as dst:
            return hash_stream(src, dst, git_blob_size=git_size, overlap=overlap)


# Streams at least this big keep a core busy for long enough to be worth one.
LARGE_STREAM = 64 << 20


def hash_all(
    fn: Callable[[T, bool], R], items: Iterable[T], size_of: Callable[[T], int]
) -> Generator[tuple[T, R], None, None]:
    """Hash many streams at once, one per core; yields (item, result) in the order of `items`.

    `fn(item, overlap)` hashes one stream; `overlap` is whether it should
    spread its own work over the cores, which pays only while fewer large
    streams than cores are in flight (one 90 MB model file: yes; four
    shards on two cores: no, each shard gets a core). The largest start
    first, so the cores finish together. Peak memory is two chunks per
    stream in flight.
    """
    items = list(items)
    sizes = [size_of(i) for i in items]
    cores = os.cpu_count() or 1
    overlap = sum(size >= LARGE_STREAM for size in sizes) < cores
    if overlap or len(items) <= 1:
        for item in items:
            yield item, fn(item, overlap)
        return
    largest_first = sorted(range(len(items)), key=lambda k: sizes[k], reverse=True)
    with worker_pool(cores, "vault-stream") as pool:
        futures = {k: pool.submit(fn, items[k], overlap) for k in largest_first}
        try:
            for k, item in enumerate(items):
                yield item, futures[k].result()
        finally:
            for future in futures.values():
                future.cancel()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
