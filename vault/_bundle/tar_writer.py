"""Writing a bundle's tar stream: the bytes `tarfile` writes, blob data read once and holes kept.

Headers are `tar_entries.entry_header` (tarfile's own `tobuf`), data is padded
to 512-byte blocks and the stream ends with two zero blocks and the record
padding, exactly as `tarfile` closes an archive; `tests` re-pack a bundle
with `tarfile` and compare. What differs is how blob data moves: each
window of a stored blob is read once into a buffer the sink lends, written
out of it and hashed for the block digests from it, with no per-window
allocation (tarfile read every MiB into a new string); a hole in the blob is
skipped in the output and hashed as zeros without being read.

The store is read, never mapped: a disk error under a map is SIGBUS, which
would kill the bundle before it could remove its partial files (scrub maps
the store only in a child that may die, `_store/blob_digests.py`). Blobs are
opened as scrub opens them, following no link.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Protocol

from vault._bundle.tar_entries import entry_header
from vault._holes import zeros
from vault._kernel_copy import data_runs
from vault._progress import Progress
from vault._store.blob_digests import BlobProblem, open_blob
from vault.errors import IntegrityError

# A MiB per read and write: larger writes from a buffer cost this machine kind far more system
# time (see `_durable.BulkWriter.write`).
WINDOW = 1 << 20


class TarSink(Protocol):
    def write(self, data: bytes | memoryview, owner: bytearray | None = None, /) -> int:
        """`data` to the output and the digests; `owner` is the lent buffer it lies in."""

    def skip(self, n: int, /) -> None:
        """`n` zero bytes: a hole in the output, zeros to the digests."""

    def buffer(self) -> bytearray:
        """A buffer of `WINDOW` bytes, lent until the digests are done with what it holds."""

    def release(self, buffer: bytearray, /) -> None:
        """Give back a lent buffer that was not written."""


class TarWriter:
    """Appends entries to a sink; `offset` is the stream length so far."""

    def __init__(self, sink: TarSink) -> None:
        self._sink = sink
        self.offset = 0

    def _write(self, data: bytes | memoryview) -> None:
        self._sink.write(data)
        self.offset += len(data)

    def _pad(self, size: int) -> None:
        if size % tarfile.BLOCKSIZE:
            self._write(bytes(tarfile.BLOCKSIZE - size % tarfile.BLOCKSIZE))

    def add_bytes(self, name: str, raw: bytes) -> None:
        self._write(entry_header(name, len(raw)))
        if raw:
            self._write(raw)
        self._pad(len(raw))

    def add_stream(self, name: str, size: int, chunks: Iterable[bytes]) -> int:
        """An entry of `size` bytes from `chunks` (a registry's answer). Returns how many came: the
        entry is whole only if that is `size`, and the caller refuses otherwise."""
        self._write(entry_header(name, size))
        got = 0
        for chunk in chunks:
            take = chunk[: size - got]
            if take:
                self._write(take)
            got += len(chunk)
            if got > size:
                break
        if got == size:
            self._pad(size)
        return got

    def add_blob(self, name: str, blobs: Path, sha256: str, size: int, progress: Progress) -> None:
        """The first `size` bytes of the stored blob `sha256`, which must hold that many."""
        self._write(entry_header(name, size))
        try:
            fd = open_blob(blobs, sha256)
        except BlobProblem as problem:
            raise IntegrityError(f"store: blob {sha256[:16]}… is {problem} (run 'vault scrub')") from None
        try:
            held = os.fstat(fd).st_size
            if held < size:
                raise IntegrityError(
                    f"store: blob {sha256[:16]}… is {held} bytes, catalogued as {size} (run 'vault scrub')"
                )
            for offset, length, holds_data in data_runs(fd, 0, size):
                for start in range(offset, offset + length, WINDOW):
                    n = min(WINDOW, offset + length - start)
                    if holds_data:
                        self._copy_window(fd, sha256, start, n)
                    else:
                        self._sink.skip(n)
                    self.offset += n
                    progress.advance(n)
        finally:
            os.close(fd)
        self._pad(size)

    def _copy_window(self, fd: int, sha256: str, start: int, n: int) -> None:
        buffer = self._sink.buffer()
        try:
            view = memoryview(buffer)[:n]
            try:
                got = os.preadv(fd, [view], start)
            except OSError as exc:  # the store's disk (a write error is the medium's, and says so)
                raise IntegrityError(
                    f"store: blob {sha256[:16]}… is unreadable ({exc.strerror or exc}) (run 'vault scrub')"
                ) from None
            if got != n:
                raise IntegrityError(f"store: blob {sha256[:16]}… shrank as it was read (run 'vault scrub')")
        except BaseException:
            self._sink.release(buffer)
            raise
        self._sink.write(view, buffer)

    def close(self) -> None:
        """The end-of-archive marker and the record padding, as `tarfile` closes an archive."""
        self._write(bytes(2 * tarfile.BLOCKSIZE))
        if self.offset % tarfile.RECORDSIZE:
            self._write(bytes(tarfile.RECORDSIZE - self.offset % tarfile.RECORDSIZE))


class FileTarSink:
    """A tar stream into a plain file (a scratch bundle, a modelcar layer), with its sha256 and
    size when `digest` is set. Writing is synchronous, so the one buffer it lends is free again
    as soon as `write` returns; a hole stays a hole."""

    def __init__(self, fh: BinaryIO, digest: bool = False) -> None:
        self._fh = fh
        self._buffer = bytearray(WINDOW)
        self.sha256 = hashlib.sha256() if digest else None
        self.size = 0

    def write(self, data: bytes | memoryview, owner: bytearray | None = None, /) -> int:
        if self.sha256 is not None:
            self.sha256.update(data)
        self.size += len(data)
        return self._fh.write(data)

    def skip(self, n: int, /) -> None:
        if self.sha256 is not None:
            for start in range(0, n, WINDOW):
                self.sha256.update(zeros(min(WINDOW, n - start)))
        self.size += n
        self._fh.seek(n, os.SEEK_CUR)
        self._fh.truncate()

    def buffer(self) -> bytearray:
        return self._buffer

    def release(self, buffer: bytearray, /) -> None:
        pass
