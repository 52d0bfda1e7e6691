"""Split bundles: one tar stream cut into `OUT.000`, `OUT.001`, … for media.

Parts are plain byte slices, so `cat OUT.* > OUT` gives the whole bundle and
trust never depends on how the stream was cut.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vault._durable import BulkWriter
from vault._kernel_copy import next_data
from vault._regular_files import check_regular, is_regular, open_regular
from vault.errors import BundleFormatError, NotFoundError, UsageError

_SIZE = re.compile(r"(\d+)[ \t]*([KMGT]?)(i?B?)?", re.IGNORECASE | re.ASCII)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
MIN_SPLIT = 512


def parse_size(text: str) -> int:
    """'4G', '700M', '650MiB', '1048576' -> bytes (binary units)."""
    m = _SIZE.fullmatch(text.strip())
    if not m:
        raise UsageError(f"invalid size {text!r}: use e.g. 700M or 4G")
    size = int(m.group(1)) * _UNITS[m.group(2).upper()]
    if size < MIN_SPLIT:
        raise UsageError(f"split size {text!r} is below {MIN_SPLIT} bytes")
    return size


def part_name(out: Path, n: int) -> Path:
    return out.with_name(f"{out.name}.{n:03d}")


class SplitWriter(io.RawIOBase):
    """Writes a stream across numbered part files of at most `split_size` bytes."""

    def __init__(self, out: Path, split_size: int, suffix: str = "") -> None:
        self.out, self.split_size, self.suffix = out, split_size, suffix
        self.paths: list[Path] = []
        self.written = 0
        self._out: BulkWriter | None = None
        self._left = 0

    def writable(self) -> bool:
        return True

    def _roll(self) -> None:
        self._close_current()
        path = part_name(self.out, len(self.paths))
        path = path.with_name(path.name + self.suffix)
        self.paths.append(path)
        self._out = BulkWriter(open(path, "wb"))  # noqa: SIM115 - closed in _close_current
        self._left = self.split_size

    def tell(self) -> int:
        return self.written

    def _close_current(self) -> None:
        out, self._out = self._out, None
        if out is not None:
            out.close()

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]  # narrower buffer types than RawIOBase's
        view = memoryview(data)
        while view:
            if self._out is None or self._left == 0:
                self._roll()
            assert self._out is not None
            n = min(self._left, len(view))
            self._out.write(view[:n])
            self._left -= n
            self.written += n
            view = view[n:]
        return len(data)

    def skip(self, n: int) -> None:
        """`n` zero bytes, as holes in the parts they fall in."""
        while n:
            if self._out is None or self._left == 0:
                self._roll()
            assert self._out is not None
            k = min(self._left, n)
            self._out.skip(k)
            self._left -= k
            self.written += k
            n -= k

    def close(self) -> None:
        if self._out is None and not self.paths:
            self._roll()
        self._close_current()
        super().close()


@dataclass(frozen=True)
class PartFiles:
    """The files of one bundle as found on the media.

    `paths` is what can be read as one stream: the single file, or the
    numbered parts from .000 up to the first gap. `numbered` maps every part
    number present to its file (empty for a single file), so a gap or a stray
    part can be named once the index says how long the bundle is.
    """

    paths: list[Path]
    base: Path
    numbered: dict[int, Path]


def bundle_layout(path: Path) -> tuple[Path, dict[int, Path], Path | None]:
    """What is on the media for `path` (OUT, OUT.000 or a single file): the base name, every
    numbered part present by number, and the single file if the bundle is not split.

    A name that is there but is not a regular file (a FIFO, a device) is refused,
    not skipped: it is not a lost part, and opening it could block for ever.
    """
    check_regular(path)
    m = re.fullmatch(r"(.*)\.([0-9]{3})", path.name, re.DOTALL)
    if is_regular(path) and not m:
        return path, {}, path
    base = path.with_name(m.group(1)) if m and is_regular(path) else path
    numbered: dict[int, Path] = {}
    for p in base.parent.glob(f"{glob_escape(base.name)}.[0-9][0-9][0-9]"):
        check_regular(p)
        numbered[int(p.name.rsplit(".", 1)[1])] = p
    return base, numbered, None


def find_parts(path: Path) -> PartFiles:
    """The files that make up the bundle named by `path` (OUT, OUT.000 or a single file)."""
    base, numbered, single = bundle_layout(path)
    if single is not None:
        return PartFiles([single], single, {})
    if 0 not in numbered and not is_regular(path):  # named OUT: its OUT.000 must be there
        raise NotFoundError(f"{path}: no such bundle (nor {part_name(path, 0).name})")
    if 0 not in numbered:
        raise BundleFormatError(f"part 1 ({part_name(base, 0).name}) is missing: it starts the bundle")
    contiguous: list[Path] = []
    while len(contiguous) in numbered:
        contiguous.append(numbered[len(contiguous)])
    return PartFiles(contiguous, base, dict(sorted(numbered.items())))


def check_layout(files: PartFiles, total: int) -> None:
    """Name the missing, short or stray part, given the bundle's length from its index.

    Parts are equal slices but the last; the largest part present gives the
    slice size. The index is unsigned, so this only sharpens error messages:
    every byte is still checked against the signatures.
    """
    if not files.numbered:
        size = files.paths[0].stat().st_size
        if size < total:
            raise BundleFormatError(
                f"{files.paths[0].name}: bundle ends at byte {size} of {total} (truncated)"
            )
        return
    sizes = {n: p.stat().st_size for n, p in files.numbered.items()}
    slice_size = max(sizes.values())
    if slice_size <= 0:
        raise BundleFormatError(f"{files.numbered[0].name}: bundle part is empty")
    count = max(1, -(-total // slice_size))
    for n in range(count):
        name = part_name(files.base, n).name
        want = slice_size if n < count - 1 else total - slice_size * (count - 1)
        if n not in sizes:
            raise BundleFormatError(f"part {n + 1} of {count} ({name}) is missing")
        if sizes[n] < want:
            raise BundleFormatError(f"part {n + 1} of {count} ({name}) ends at byte {sizes[n]} of {want}")
    for n in sorted(set(sizes) - set(range(count))):
        raise BundleFormatError(
            f"{files.numbered[n].name}: not part of this bundle, which has {count} parts (a leftover?)"
        )


def missing_part_message(files: PartFiles) -> str | None:
    """For bundles whose index does not carry their length (vault 0.1.0): the first gap, if any."""
    n = len(files.paths)
    if files.numbered and max(files.numbered) >= n:
        return f"{part_name(files.base, n).name}: bundle part is missing"
    return None


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


class SeekableReader(io.RawIOBase):
    """A read-only stream of `_size` bytes with a position; subclasses say how to read."""

    _size = 0
    _pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos


class ChainedReader(SeekableReader):
    """Reads parts back to back as one seekable stream (tarfile then reads entries directly)."""

    def __init__(self, paths: list[Path]) -> None:
        self._paths = list(paths)
        self._sizes = [p.stat().st_size for p in self._paths]
        self._starts = [sum(self._sizes[:i]) for i in range(len(self._sizes))]
        self._size = sum(self._sizes)
        self._pos = 0
        self._index = -1
        self._fh: BinaryIO | None = None

    @property
    def size(self) -> int:
        return self._size

    def layout(self, offset: int, size: int) -> list[tuple[Path, int, int]]:
        """Stream bytes [offset, offset + size) as (part, offset in it, length) pieces; fewer
        bytes than `size` where the parts end first."""
        pieces = []
        for path, start, length in zip(self._paths, self._starts, self._sizes, strict=True):
            lo, hi = max(offset, start), min(offset + size, start + length)
            if lo < hi:
                pieces.append((path, lo - start, hi - lo))
        return pieces

    def _part_at(self, pos: int) -> int:
        for i in range(len(self._paths) - 1, -1, -1):
            if pos >= self._starts[i]:
                return i
        return 0

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]  # narrower buffer types than RawIOBase's
        if self._pos >= self._size or not self._paths:
            return 0
        i = self._part_at(self._pos)
        fh = self._open_part(i)
        fh.seek(self._pos - self._starts[i])
        view = memoryview(buf)[: self._starts[i] + self._sizes[i] - self._pos]
        n: int | None = fh.readinto(view)  # type: ignore[attr-defined]  # BinaryIO lacks it; the file has it
        if not n:
            return 0
        self._pos += n
        return n

    def read(self, size: int = -1) -> bytes:
        """Full reads across part boundaries: tarfile treats a short read as truncation."""
        if size is None or size < 0:
            size = self._size - self._pos
        pieces: list[bytes] = []
        want = min(size, self._size - self._pos)
        while want > 0:
            i = self._part_at(self._pos)
            fh = self._open_part(i)
            fh.seek(self._pos - self._starts[i])
            piece = fh.read(min(want, self._starts[i] + self._sizes[i] - self._pos))
            if not piece:
                break
            pieces.append(piece)
            self._pos += len(piece)
            want -= len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def next_data(self, pos: int) -> int:
        """Where data resumes at or after stream offset `pos`: past the holes of the part it lies in."""
        if pos >= self._size or not self._paths:
            return max(pos, self._size)
        i = self._part_at(pos)
        found = next_data(self._open_part(i).fileno(), pos - self._starts[i])
        return self._starts[i] + min(found, self._sizes[i])

    def _open_part(self, i: int) -> BinaryIO:
        if i != self._index or self._fh is None:
            if self._fh is not None:
                self._fh.close()
            self._fh = open_regular(self._paths[i])  # closed on switch or close()
            self._index = i
        return self._fh

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
        super().close()
