"""The bundle reader policy: entries one at a time, never a generic extract.

`tarfile` only parses headers here; this module decides what is allowed:
plain regular files with names inside the path grammar, each name once (also
ignoring case), and nothing but zero padding after the end-of-archive marker.
Entry data is handed out as a bounded stream; nothing is written to disk here.
"""

from __future__ import annotations

import contextlib
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from vault._bundle.parts import (
    ChainedReader,
    PartFiles,
    SeekableReader,
    check_layout,
    find_parts,
    missing_part_message,
)
from vault._regular_files import open_regular
from vault._statements.paths import check_relpath
from vault.errors import BundleFormatError, UnsafeContentError, VaultError

_PLAIN_FILE_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE)
_TYPE_NAMES = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.DIRTYPE: "a directory",
    tarfile.CONTTYPE: "a contiguous file",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}
# The end marker plus tar's record padding; more than this is hidden data.
MAX_TRAILER = 2 * tarfile.RECORDSIZE
# tarfile reads a PAX or GNU long-name header whole into memory; vault writes
# short ones (entry names are at most 1024 bytes), so these caps leave room.
MAX_EXTENDED_HEADER = 64 << 10


class CappedTarInfo(tarfile.TarInfo):
    """tarfile's header parsing, with a size cap on what it would read into memory and no sparse files."""

    def _proc_gnulong(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.size > MAX_EXTENDED_HEADER:
            raise tarfile.HeaderError(
                f"GNU long-name header of {self.size} bytes (limit {MAX_EXTENDED_HEADER})"
            )
        return cast(tarfile.TarInfo, super()._proc_gnulong(tarfile_))  # type: ignore[misc]  # private in typeshed

    def _proc_pax(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.size > MAX_EXTENDED_HEADER:
            raise tarfile.HeaderError(f"PAX header of {self.size} bytes (limit {MAX_EXTENDED_HEADER})")
        try:
            member = cast(tarfile.TarInfo, super()._proc_pax(tarfile_))  # type: ignore[misc]  # private in typeshed
        except tarfile.TarError:
            raise
        except Exception as exc:  # malformed records or sparse maps: tarfile raises many types
            raise tarfile.HeaderError(f"malformed PAX header ({type(exc).__name__}: {exc})") from None
        if member.sparse is not None:
            raise tarfile.HeaderError(f"entry {member.name!r} is a sparse file (PAX sparse map)")
        return member

    def _proc_sparse(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        raise tarfile.HeaderError(f"entry {self.name!r} is a sparse file")


@dataclass
class Entry:
    name: str
    size: int
    data: EntryData
    offset: int  # where its data starts in the whole (chained) bundle stream


class EntryData:
    """An entry's bytes; a short read anywhere becomes a BundleFormatError naming the entry."""

    def __init__(self, name: str, raw: IO[bytes]) -> None:
        self._name, self._raw = name, raw

    def _fail(self, exc: Exception) -> BundleFormatError:
        return BundleFormatError(f"bundle entry {self._name!r}: truncated or corrupt ({exc})")

    def read(self, n: int = -1) -> bytes:
        try:
            return self._raw.read(n)
        except (tarfile.TarError, EOFError) as exc:
            raise self._fail(exc) from None

    def readinto(self, buf: bytearray | memoryview) -> int:
        try:
            return cast(int, self._raw.readinto(buf))  # type: ignore[attr-defined]  # IO[bytes] lacks it; the file has it
        except (tarfile.TarError, EOFError) as exc:
            raise self._fail(exc) from None


class RegionFile(SeekableReader):
    """Bytes [offset, offset + size) of a stream, as a read-only seekable file."""

    def __init__(self, stream: ChainedReader, offset: int, size: int) -> None:
        self._stream, self._offset, self._size, self._pos = stream, offset, size, 0

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]  # narrower buffer types than RawIOBase's
        want = min(len(buf), self._size - self._pos)
        if want <= 0:
            return 0
        self._stream.seek(self._offset + self._pos)
        n = self._stream.readinto(memoryview(buf)[:want])  # straight into the caller's buffer
        self._pos += n
        return n

    def next_data(self, pos: int) -> int:
        """Where data resumes at or after `pos` (holes in the parts read as zeros and hold no
        data a reader looks for); at most the region's end."""
        return min(self._size, self._stream.next_data(self._offset + pos) - self._offset)

    def close(self) -> None:
        self._stream.close()
        super().close()


class BundleReader:
    def __init__(self, path: Path | PartFiles) -> None:
        """`path` names the bundle (a file, OUT or OUT.000); or the parts themselves (parity rebuilt some)."""
        self.files = path if isinstance(path, PartFiles) else find_parts(path)
        self.parts = self.files.paths
        self._stream = ChainedReader(self.parts)
        self.total_size = self._stream.size
        try:
            # Seekable, uncompressed mode: entry data is read straight from the parts
            # (stream mode copies everything through small internal buffers).
            self._tar = tarfile.open(  # noqa: SIM115
                fileobj=self._stream, mode="r:", tarinfo=CappedTarInfo
            )
        except (tarfile.TarError, EOFError) as exc:
            self._stream.close()
            raise BundleFormatError(f"{self.parts[0]}: not a tar bundle ({exc})") from None
        self._names: dict[str, str] = {}

    def check_layout(self, total: int | None) -> None:
        """With the index's bundle length, name a missing or short part before anything else."""
        if total is not None:
            check_layout(self.files, total)
        elif (gap := missing_part_message(self.files)) is not None:
            raise BundleFormatError(gap)

    def region(self, entry: Entry) -> RegionFile:
        """An entry's bytes as a seekable file of their own (content checks read headers, not all)."""
        return RegionFile(ChainedReader(self.parts), entry.offset, entry.size)

    @contextlib.contextmanager
    def spans(self, entry: Entry) -> Iterator[list[tuple[int, int, int]]]:
        """An entry's bytes as (descriptor, offset, length) in the part files it lies in, opened
        (as regular files only) for a kernel copy; the parts close when the block ends."""
        with contextlib.ExitStack() as stack:
            yield [
                (stack.enter_context(open_regular(part)).fileno(), offset, length)
                for part, offset, length in self._stream.layout(entry.offset, entry.size)
            ]  # short of entry.size where the parts end early: the copy comes up short

    def close(self) -> None:
        self._tar.close()
        self._stream.close()

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def entries(self) -> Iterator[Entry]:
        try:
            for member in self._tar:
                self._check(member)
                data = self._tar.extractfile(member)
                assert data is not None
                yield Entry(member.name, member.size, EntryData(member.name, data), member.offset_data)
        except VaultError:
            raise
        except Exception as exc:  # tarfile raises more than TarError on crafted headers
            raise BundleFormatError(f"bundle is truncated or corrupt ({exc})") from None
        self._check_trailer()

    def _check(self, member: tarfile.TarInfo) -> None:
        name = member.name
        if member.type not in _PLAIN_FILE_TYPES or member.sparse is not None:
            kind = _TYPE_NAMES.get(member.type, f"of type {member.type!r}")
            raise UnsafeContentError(f"bundle entry {name!r}: is {kind}, only regular files are allowed")
        check_relpath(name, "bundle entry")
        key = name.casefold()
        if key in self._names:
            first = self._names[key]
            what = "appears twice" if first == name else f"collides with {first!r} ignoring case"
            raise BundleFormatError(f"bundle entry {name!r}: {what}")
        self._names[key] = name

    def _check_trailer(self) -> None:
        end = self._tar.offset  # where the end-of-archive marker starts
        if self.total_size - end < 2 * tarfile.BLOCKSIZE:
            # tarfile takes a bare EOF for the end; a missing last part looks just like that.
            raise BundleFormatError("bundle is truncated: no end-of-archive marker (is a part missing?)")
        if self.total_size - end > MAX_TRAILER:
            raise BundleFormatError(
                f"bundle: {self.total_size - end} bytes of data after the end of the archive"
            )
        remaining, pos = self.total_size - end, end
        for part in self.parts:
            size = part.stat().st_size
            if pos >= size:
                pos -= size
                continue
            with open_regular(part) as fh:
                fh.seek(pos)
                tail = fh.read(remaining)
            if tail.strip(b"\0"):
                raise BundleFormatError("bundle: data after the end of the archive")
            remaining -= len(tail)
            pos = 0
            if remaining <= 0:
                break
