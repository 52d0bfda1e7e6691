"""Streaming multi-digest hashing: every byte enters user space once, in constant memory.

sha256 is what signatures name; blake3 is recorded beside it so `vault scrub`
can re-check the store at memory speed. Both are fed from the same buffer.
Taking a file into the store (`copy_and_hash`) copies it in the kernel and
hashes the copy through a memory map: what is hashed is what was written,
and no byte passes through a Python buffer on its way.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import blake3

from vault._durable import EarlyWriteback
from vault._holes import HOLE_PIECE, all_zero, zeros
from vault._kernel_copy import KernelCopier, MappedRange, data_runs, punch_hole
from vault._progress import Progress
from vault._workers import worker_pool

T = TypeVar("T")
R = TypeVar("R")


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


# Kernel copies and hashing go in windows this big: few system calls, and the two windows a
# stream has mapped at a time (one hashed, one being copied) stay small beside the RSS budget.
WINDOW = 8 << 20
Span = tuple[int, int, int]  # an open file's descriptor, an offset in it, a length


def _copied_windows(
    spans: Sequence[Span], copier: KernelCopier, fd: int, writeback: EarlyWriteback
) -> Iterator[tuple[memoryview, MappedRange | None]]:
    """Copy `spans` into `fd` window by window, yielding each window as `fd` now holds it.

    A hole in a source is skipped (it stays a hole in `fd`) and yielded as
    zeros; a window of zeros the source held as data is punched out of `fd`
    after the copy, and yielded as zeros too. A source that ends early ends
    the copy: the caller sees fewer bytes.
    """
    written = 0
    for src, start, length in spans:
        for offset, size, holds_data in data_runs(src, start, start + length):
            done = 0
            while done < size:
                want = min(WINDOW, size - done)
                if not holds_data:
                    got = want
                    writeback.wrote(got)  # offsets stay the file's own: a hole costs the call nothing
                    yield zeros(got), None
                else:
                    got = copier.copy(src, offset + done, fd, written, want)
                    if got:
                        mapped = MappedRange(fd, written, got)
                        # Zeros the source held as data: the store keeps them as holes.
                        punched = _punch_zeros(fd, written, mapped.view)
                        writeback.wrote(got)  # after the punch: no write-back of zeros let go
                        if punched == got:
                            mapped.close()
                            yield zeros(got), None
                        else:
                            yield mapped.view, mapped
                    if got < want:
                        return
                written += got
                done += got


def _read_windows(spans: Sequence[Span]) -> Iterator[tuple[memoryview, MappedRange | None]]:
    """The bytes of `spans` a window at a time, read into two buffers in turn (the caller hashes
    one while the next is read); holes are zeros that were never read."""
    # No bigger than the blob: a config file must not cost two zero-filled windows.
    size = min(WINDOW, sum(length for _src, _start, length in spans))
    buffers = (bytearray(size), bytearray(size))
    turn = 0
    for src, start, length in spans:
        for offset, size, holds_data in data_runs(src, start, start + length):
            for at in range(offset, offset + size, WINDOW):
                want = min(WINDOW, offset + size - at)
                if not holds_data:
                    yield zeros(want), None
                    continue
                view = memoryview(buffers[turn])[:want]
                got = os.preadv(src, [view], at)
                turn ^= 1
                if got:
                    yield view[:got], None
                if got < want:
                    return


def _hash_windows(
    windows: Iterator[tuple[memoryview, MappedRange | None]],
    hasher: MultiHasher,
    overlap: bool,
    progress: Progress | None,
) -> None:
    """Feed each window to the hashers. With `overlap`, sha256 and blake3 of one window run on
    two threads while the next window is produced; a mapped window stays mapped until both
    are done with it."""
    pool: ThreadPoolExecutor | None = None
    pending: list[Future[None]] = []
    held: MappedRange | None = None
    try:
        for view, mapped in windows:
            n = len(view)
            for f in pending:  # the previous window's hashes: it stays valid until they finish
                f.result()
            if held is not None:
                held.close()
                held = None
            if pool is None and overlap and n == WINDOW:
                pool = worker_pool(2, "vault-hash")
            if pool is None:
                hasher.update(view)
                if mapped is not None:
                    mapped.close()
                pending = []
            else:
                pending = [pool.submit(hasher.update_sha, view), pool.submit(hasher.update_b3, view)]
                held = mapped
            if progress is not None:
                progress.advance(n)
        for f in pending:
            f.result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True)  # before unmapping what its threads may still read
        if held is not None:
            held.close()


def hash_spans(
    spans: Sequence[Span],
    git_blob_size: int | None = None,
    with_blake3: bool = True,
    overlap: bool = True,
    progress: Progress | None = None,
) -> FileDigest:
    """Hash `spans`, back to back, by reads (`vault verify`: nothing is written, and the medium
    is never mapped); holes are hashed as zeros without being read."""
    hasher = MultiHasher(git_blob_size, with_blake3)
    _hash_windows(_read_windows(spans), hasher, overlap, progress)
    return hasher.digest()


def _punch_zeros(fd: int, offset: int, view: memoryview) -> int:
    """Punch each whole piece of zeros out of the window of `fd` that `view` maps (it reads the
    same after); the bytes punched."""
    punched = 0
    for pos in range(0, len(view), HOLE_PIECE):
        piece = view[pos : pos + HOLE_PIECE]
        if all_zero(piece) and punch_hole(fd, offset + pos, len(piece)):
            punched += len(piece)
        piece.release()
    return punched


def copy_and_hash(
    spans: Sequence[Span],
    dest: Path,
    git_blob_size: int | None = None,
    with_blake3: bool = True,
    overlap: bool = True,
    progress: Progress | None = None,
) -> FileDigest:
    """Copy `spans`, back to back, into the new file `dest` in the kernel; hash what was written.

    The digests are of `dest`'s own bytes, read back through a memory map
    (the page cache the copy just filled), not of what the source returned:
    a medium that answers two reads differently cannot make vault keep bytes
    it did not hash. Each byte enters user space once, and only to be hashed.
    `dest` is fsynced before this returns. A source that ends early gives a
    digest of fewer bytes, which the caller refuses by its size.
    `overlap` as in `_hash_windows`.
    """
    hasher = MultiHasher(git_blob_size, with_blake3)
    fd = os.open(dest, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        windows = _copied_windows(spans, KernelCopier(), fd, EarlyWriteback(fd))
        _hash_windows(windows, hasher, overlap, progress)
        os.ftruncate(fd, hasher.size)  # a file that ends in a hole gets its length
        os.fsync(fd)
    finally:
        os.close(fd)
    return hasher.digest()


def hash_file(
    path: Path,
    copy_to: Path | None = None,
    git_blob_below: int = 0,
    progress: Progress | None = None,
    overlap: bool = True,
) -> FileDigest:
    """Hash one file; with `copy_to`, also write a durable copy (fsynced), hashing the copy.

    Files smaller than `git_blob_below` bytes also get git's blob sha1.
    `overlap` as in `_hash_windows` (`hash_all` says which).
    """
    with open(path, "rb") as raw:
        size = os.fstat(raw.fileno()).st_size
        git_size = size if size < git_blob_below else None
        spans = [(raw.fileno(), 0, size)]
        if copy_to is not None:
            return copy_and_hash(spans, copy_to, git_size, overlap=overlap, progress=progress)
        return hash_spans(spans, git_size, overlap=overlap, progress=progress)


# Streams at least this big keep a core busy for long enough to be worth one.
LARGE_STREAM = 64 << 20


def hash_all(
    fn: Callable[[T, bool], R], items: Iterable[T], size_of: Callable[[T], int]
) -> Generator[tuple[T, R], None, None]:
    """Hash many streams at once; yields (item, result) in the order of `items`.

    `fn(item, overlap)` hashes one stream; `overlap` is whether its sha256 and
    blake3 run on two cores instead of one after the other. Per core (this
    machine kind: sha256 ~1.5 GB/s, blake3 ~3.1 GB/s), a stream on one core
    hashes at 1/(1/1.5 + 1/3.1) ~ 1.0 GB/s and a stream on two at 1.5 GB/s
    (sha256 bounds it), so two cores give 2.0 GB/s as two one-core streams
    and 1.5 as one two-core stream. Hence: while every large stream can have
    two cores to itself (2 large streams on 16 cores, 1 on 2), they overlap,
    and as many run at once as there are core pairs; otherwise every core
    takes a stream of its own (4 shards on 2 cores). The largest start first,
    so the cores finish together. Peak memory is two windows per stream.
    """
    items = list(items)
    sizes = [size_of(i) for i in items]
    cores = os.cpu_count() or 1
    large = sum(size >= LARGE_STREAM for size in sizes)
    overlap = cores >= 2 and 2 * large <= cores
    workers = min(len(items), cores // 2 if overlap else cores)
    if workers <= 1:
        for item in items:
            yield item, fn(item, overlap)
        return
    largest_first = sorted(range(len(items)), key=lambda k: sizes[k], reverse=True)
    with worker_pool(workers, "vault-stream") as pool:
        futures = {k: pool.submit(fn, items[k], overlap) for k in largest_first}
        try:
            for k, item in enumerate(items):
                yield item, futures[k].result()
        finally:
            for future in futures.values():
                future.cancel()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
