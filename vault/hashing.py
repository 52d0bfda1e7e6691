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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import blake3

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
        self._sha.update(data)
        self._b3.update(data)
        if self._git is not None:
            self._git.update(data)
        self.size += len(data)

    def digest(self) -> FileDigest:
        git = self._git.hexdigest() if self._git is not None else None
        return FileDigest(self.size, self._sha.hexdigest(), self._b3.hexdigest(), git)


def hash_stream(
    source: Readable,
    sink: Writable | None = None,
    limit: int | None = None,
    git_blob_size: int | None = None,
) -> FileDigest:
    """Hash `source` (at most `limit` bytes), copying into `sink` as it goes."""
    hasher = MultiHasher(git_blob_size)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    remaining = limit
    while remaining is None or remaining > 0:
        want = CHUNK if remaining is None else min(CHUNK, remaining)
        n = source.readinto(view[:want])
        if not n:
            break
        chunk = view[:n]
        hasher.update(chunk)
        if sink is not None:
            sink.write(chunk)
        if remaining is not None:
            remaining -= n
    return hasher.digest()


def hash_file(path: Path, copy_to: Path | None = None, git_blob_below: int = 0) -> FileDigest:
    """Hash one file; with `copy_to`, also write a durable copy (fsynced).

    Files smaller than `git_blob_below` bytes also get git's blob sha1.
    """
    with open(path, "rb") as src:
        size = os.fstat(src.fileno()).st_size
        git_size = size if size < git_blob_below else None
        if copy_to is None:
            return hash_stream(src, git_blob_size=git_size)
        with open(copy_to, "xb") as dst:
            digest = hash_stream(src, dst, git_blob_size=git_size)
            dst.flush()
            os.fsync(dst.fileno())
    return digest


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
