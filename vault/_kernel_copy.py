"""Copying a file's bytes inside the kernel, and finding its holes: bytes that never enter Python.

Reading a blob into a buffer and writing the buffer out costs two copies
through user space, and on this machine kind each costs about as much CPU as
hashing the bytes with blake3. `copy_file_range` moves them page cache to
page cache in one copy (or shares the extents, on file systems that can), so
vault copies in the kernel and then hashes the copy it wrote (see
`_hashing.copy_and_hash`).

Holes are found with SEEK_DATA/SEEK_HOLE and never copied: a sparse model
stays sparse in the store, and its zeros cost neither a read nor a write.
Zeros a source holds as data (a bundle on a medium that cannot keep holes)
are copied, then punched out of the copy (`punch_hole`), so the store stays
as small as the model's real data either way.
"""

from __future__ import annotations

import errno
import mmap
import os
from collections.abc import Callable, Iterator

# The kernel refuses copy_file_range between these (another file system, an old kernel, a
# special file system); sendfile, then plain reads and writes, take over.
_NO_COPY_FILE_RANGE = frozenset({errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EPERM})
_NO_SENDFILE = frozenset({errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL})
_FALLBACK_CHUNK = 1 << 20


class KernelCopier:
    """Copies byte ranges between two open files by the cheapest means the pair allows.

    It remembers what failed, so a pair across file systems pays for the
    refusal once, not per chunk.
    """

    WAYS = ("copy_file_range", "sendfile", "read-write")

    def __init__(self, first: str = "copy_file_range") -> None:
        """`first`: the way to try first (a later one, where the caller knows the earlier fail)."""
        if first not in self.WAYS:
            raise ValueError(f"no copy way {first!r}")
        self._method = first

    @property
    def method(self) -> str:
        return self._method

    def copy(self, src: int, src_offset: int, dst: int, dst_offset: int, count: int) -> int:
        """Copy up to `count` bytes; fewer only where the source ends (0 at its end)."""
        done = 0
        while done < count:
            n = self._copy_once(src, src_offset + done, dst, dst_offset + done, count - done)
            if n == 0:
                break
            done += n
        return done

    def _copy_once(self, src: int, src_offset: int, dst: int, dst_offset: int, count: int) -> int:
        if self._method == "copy_file_range":
            try:
                return os.copy_file_range(src, dst, count, src_offset, dst_offset)
            except OSError as exc:
                if exc.errno not in _NO_COPY_FILE_RANGE:
                    raise
                self._method = "sendfile"
        if self._method == "sendfile":
            try:
                os.lseek(dst, dst_offset, os.SEEK_SET)  # sendfile writes at the file position
                return os.sendfile(dst, src, src_offset, count)
            except OSError as exc:
                if exc.errno not in _NO_SENDFILE:
                    raise
                self._method = "read-write"
        data = os.pread(src, min(count, _FALLBACK_CHUNK), src_offset)
        view = memoryview(data)
        while view:
            view = view[os.pwrite(dst, view, dst_offset + len(data) - len(view)) :]
        return len(data)


def data_runs(fd: int, start: int, end: int) -> Iterator[tuple[int, int, bool]]:
    """(offset, length, holds data) runs covering [start, end) of an open file.

    A range past the file's end (as it is now: it may have shrunk) is
    reported as data, so that copying it finds the end and the caller sees
    the file was short, never zeros made up for bytes that are not there.
    File systems without SEEK_DATA report the whole range as data.
    """
    pos = start
    while pos < end:
        if pos >= os.fstat(fd).st_size:
            yield pos, end - pos, True
            return
        data = min(next_data(fd, pos), end)
        if data > pos:
            yield pos, data - pos, False
        else:
            data = min(max(next_hole(fd, pos), pos + 1), end)
            yield pos, data - pos, True
        pos = data


class MappedRange:
    """A range of an open file, mapped read-only: hashed where it lies, with no copy.

    Only vault's own files are mapped (staged copies, the store in scrub's
    child): a read error under a map is SIGBUS, not an exception.
    """

    def __init__(self, fd: int, offset: int, size: int) -> None:
        base = offset - offset % mmap.ALLOCATIONGRANULARITY  # maps start on a page boundary
        self._map = mmap.mmap(fd, offset + size - base, prot=mmap.PROT_READ, offset=base)
        self._whole = memoryview(self._map)
        self.view = self._whole[offset - base :]

    def close(self) -> None:
        self.view.release()
        self._whole.release()
        self._map.close()


_FALLOC_FL_KEEP_SIZE = 0x01
_FALLOC_FL_PUNCH_HOLE = 0x02
_fallocate: Callable[[int, int, int, int], int] | None = None
_fallocate_looked_up = False


def punch_hole(fd: int, offset: int, length: int) -> bool:
    """Give [offset, offset + length) of `fd` back to the file system; it reads as zeros after.

    Linux's fallocate(PUNCH_HOLE); False where the call or the file system lacks it
    (the zeros then stay written, which is only a matter of room).
    """
    global _fallocate, _fallocate_looked_up
    if not _fallocate_looked_up:
        import ctypes  # here: verify, which never punches, does not pay for loading it

        _fallocate_looked_up = True
        try:
            fn = ctypes.CDLL(None, use_errno=True).fallocate
            fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
            _fallocate = fn
        except (OSError, AttributeError):
            _fallocate = None
    if _fallocate is None:
        return False
    return _fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, offset, length) == 0


def next_data(fd: int, pos: int) -> int:
    """Where data resumes at or after `pos` in an open file: `pos` itself unless a hole starts
    there (or holes cannot be told apart); the file's size if only holes follow."""
    return _seek(fd, pos, os.SEEK_DATA, pos)


def next_hole(fd: int, pos: int) -> int:
    """Where the data at `pos` ends: the next hole, or the file's end (its virtual hole)."""
    return _seek(fd, pos, os.SEEK_HOLE, os.fstat(fd).st_size)


def _seek(fd: int, pos: int, whence: int, unsupported: int) -> int:
    try:
        return os.lseek(fd, pos, whence)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # at or past the end of the file
            return max(pos, os.fstat(fd).st_size)
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            return unsupported
        raise
