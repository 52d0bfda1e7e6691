"""Writing a bundle's tar stream: the bytes `tarfile` writes, with blob data taken from memory maps.

Headers are `tar_entries.entry_header` (tarfile's own `tobuf`), data is padded
to 512-byte blocks and the stream ends with two zero blocks and the record
padding, exactly as `tarfile` closes an archive; `tests` re-pack a bundle
with `tarfile` and compare. What differs is how blob data moves: a stored
blob is copied into the output in the kernel (`copy_file_range`, as `cp`
does), a window at a time, and the block hasher reads the same window through
a map of the stored blob, so no byte is read into a Python buffer or written
out of one (each such copy costs this machine kind about as much CPU as the
digests); a hole in the blob, or a window of zeros, is skipped in the output
and hashed as zeros.

The store's own files are mapped, never the medium written to.
"""

from __future__ import annotations

import mmap
import os
import tarfile
from pathlib import Path
from typing import Protocol

from vault._bundle.tar_entries import entry_header
from vault._holes import all_zero
from vault._kernel_copy import KernelCopier, data_runs
from vault._progress import Progress
from vault._regular_files import open_regular
from vault.errors import IntegrityError

WINDOW = 8 << 20


class TarSink(Protocol):
    def write(self, data: bytes | memoryview, /) -> int: ...

    def skip(self, n: int, /) -> None:
        """`n` zero bytes: a hole in the output, zeros to the digests."""

    def copy_in(self, src: int, offset: int, view: memoryview, copier: KernelCopier, /) -> None:
        """`len(view)` bytes of `src` from `offset`, copied in the kernel; `view` maps them."""


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

    def add_file(self, name: str, path: Path, size: int, progress: Progress) -> None:
        """`size` bytes of the file at `path` (a stored blob), which must hold at least that many."""
        self._write(entry_header(name, size))
        with open_regular(path, IntegrityError) as fh:
            fd = fh.fileno()
            held = os.fstat(fd).st_size
            if held < size:
                raise IntegrityError(
                    f"store: blob {path.parent.name}{path.name} is {held} bytes, catalogued as {size} "
                    "(run 'vault scrub')"
                )
            copier = KernelCopier()
            for offset, length, holds_data in data_runs(fd, 0, size):
                for start in range(offset, offset + length, WINDOW):
                    n = min(WINDOW, offset + length - start)
                    view = _mapped(fd, start, n) if holds_data else None
                    if view is None or all_zero(view):
                        self._sink.skip(n)
                    else:
                        self._sink.copy_in(fd, start, view, copier)
                    del view  # the hasher may hold the last reference: the map goes with it
                    self.offset += n
                    progress.advance(n)
        self._pad(size)

    def close(self) -> None:
        """The end-of-archive marker and the record padding, as `tarfile` closes an archive."""
        self._write(bytes(2 * tarfile.BLOCKSIZE))
        if self.offset % tarfile.RECORDSIZE:
            self._write(bytes(tarfile.RECORDSIZE - self.offset % tarfile.RECORDSIZE))


def _mapped(fd: int, start: int, n: int) -> memoryview:
    """Bytes [start, start + n) of `fd` as a view of a map that is unmapped when the last view of
    it goes (the block hasher may hold it after the write returns)."""
    base = start - start % mmap.ALLOCATIONGRANULARITY
    window = mmap.mmap(fd, start + n - base, prot=mmap.PROT_READ, offset=base)
    return memoryview(window)[start - base :]
