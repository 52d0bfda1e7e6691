"""Bytes copied in the kernel and hashed where they were written: the same bytes, holes kept, nothing made up.

`copy_and_hash` is how every blob enters the store (add, import). Its
promise is that the digests it returns are of the file it wrote, whatever
the source did: a short source gives a short digest (the caller refuses it by
size), a hole stays a hole and is hashed as the zeros it reads as, and a pair
of files the kernel will not copy between is copied another way.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tracemalloc
from pathlib import Path

import blake3
import pytest

import vault._hashing as hashing
from vault._checks.pickle_probe import read_as_pickle
from vault._durable import BulkWriter
from vault._kernel_copy import KernelCopier, data_runs

MIB = 1 << 20


def _digest(data: bytes) -> tuple[str, str]:
    return hashlib.sha256(data).hexdigest(), blake3.blake3(data).hexdigest()


def _sparse(path: Path, layout: list[tuple[str, int]]) -> bytes:
    """Write `layout` (("data"|"hole", length) runs) and return the bytes the file reads as."""
    expected = bytearray()
    with open(path, "wb") as fh:
        for kind, length in layout:
            if kind == "data":
                chunk = os.urandom(length)
                fh.write(chunk)
                expected += chunk
            else:
                fh.seek(length, os.SEEK_CUR)
                expected += bytes(length)
        fh.truncate(len(expected))
    return bytes(expected)


@pytest.mark.parametrize("overlap", [True, False])
def test_a_sparse_file_is_copied_with_its_holes_and_hashed_as_it_reads(tmp_path: Path, overlap: bool) -> None:
    src = tmp_path / "src"
    layout = [("data", 3 * MIB + 5), ("hole", 64 * MIB), ("data", 9 * MIB), ("hole", 32 * MIB)]
    expected = _sparse(src, layout)
    with open(src, "rb") as fh:
        got = hashing.copy_and_hash([(fh.fileno(), 0, len(expected))], tmp_path / "dst", overlap=overlap)
    dst = tmp_path / "dst"
    assert dst.read_bytes() == expected
    assert (got.size, got.sha256, got.blake3) == (len(expected), *_digest(expected))
    # The 96 MiB of holes were neither read nor written: the copy takes about the data's room.
    assert dst.stat().st_blocks * 512 < 16 * MIB
    runs = list(data_runs(os.open(dst, os.O_RDONLY), 0, len(expected)))
    assert [holds for _o, _n, holds in runs] == [True, False, True, False]


def test_spans_across_several_files_are_copied_back_to_back(tmp_path: Path) -> None:
    """A bundle split into parts: one blob can lie across two part files."""
    parts = [os.urandom(n) for n in (5 * MIB + 1, 7 * MIB, 11)]
    for i, data in enumerate(parts):
        (tmp_path / f"p{i}").write_bytes(data)
    fds = [os.open(tmp_path / f"p{i}", os.O_RDONLY) for i in range(3)]
    spans = [(fds[0], 1000, len(parts[0]) - 1000), (fds[1], 0, len(parts[1])), (fds[2], 0, 7)]
    expected = parts[0][1000:] + parts[1] + parts[2][:7]
    got = hashing.copy_and_hash(spans, tmp_path / "dst")
    assert (tmp_path / "dst").read_bytes() == expected
    assert (got.size, got.sha256) == (len(expected), hashlib.sha256(expected).hexdigest())


@pytest.mark.parametrize("short_by", [1, 4096, 9 * MIB])
def test_a_source_that_ends_early_gives_a_short_digest_of_exactly_what_was_written(
    tmp_path: Path, short_by: int
) -> None:
    """No zeros are made up for bytes a truncated medium does not have (past its end is not a hole)."""
    data = os.urandom(10 * MIB)
    (tmp_path / "src").write_bytes(data[: len(data) - short_by])
    with open(tmp_path / "src", "rb") as fh:
        got = hashing.copy_and_hash([(fh.fileno(), 0, len(data))], tmp_path / "dst")
    written = (tmp_path / "dst").read_bytes()
    assert got.size == len(data) - short_by == len(written)
    assert got.sha256 == hashlib.sha256(written).hexdigest()


def test_a_destination_that_exists_is_never_written(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"new")
    (tmp_path / "dst").write_bytes(b"kept")
    with open(tmp_path / "src", "rb") as fh, pytest.raises(FileExistsError):
        hashing.copy_and_hash([(fh.fileno(), 0, 3)], tmp_path / "dst")
    assert (tmp_path / "dst").read_bytes() == b"kept"


def test_across_file_systems_the_copy_falls_back_and_keeps_every_byte(tmp_path: Path) -> None:
    """tmpfs to the test's disk: the kernel refuses copy_file_range between them (EXDEV) on the
    kernels vault targets; whatever it does, the bytes arrive, and at most two ways are tried."""
    shm = Path("/dev/shm")
    assert shm.is_dir(), "Linux keeps a tmpfs at /dev/shm"
    data = os.urandom(3 * MIB + 17)
    src = shm / f"vault-test-{os.getpid()}"
    src.write_bytes(data)
    try:
        copier = KernelCopier()
        with open(src, "rb") as fin, open(tmp_path / "dst", "wb") as fout:
            assert copier.copy(fin.fileno(), 0, fout.fileno(), 0, len(data)) == len(data)
            assert copier.copy(fin.fileno(), len(data), fout.fileno(), len(data), 10) == 0  # the end
    finally:
        src.unlink()
    assert (tmp_path / "dst").read_bytes() == data
    assert copier.method in ("sendfile", "copy_file_range"), "the kernel copied it: no read into Python"


def test_the_last_way_copies_with_reads_and_writes(tmp_path: Path) -> None:
    data = os.urandom(2 * MIB + 3)
    (tmp_path / "src").write_bytes(data)
    copier = KernelCopier(first="read-write")
    with open(tmp_path / "src", "rb") as fin, open(tmp_path / "dst", "wb") as fout:
        assert copier.copy(fin.fileno(), 5, fout.fileno(), 0, len(data)) == len(data) - 5
    assert (tmp_path / "dst").read_bytes() == data[5:]


# The pickle probe reads a line the way the unpickler does. A safetensors shard whose first byte is
# a line-reading opcode used to be read to its end, in one string: 2 GiB of a shard of zeros.


@pytest.mark.parametrize(
    "data",
    [
        b"(ibuiltins\nlistX",  # INST whose name line ends the file without a newline
        b"cbuiltins\nlist\n)R.",  # a whole pickle that calls
        b"I12\n.",
        b"S'abc'\np0\n.",
        b"F" + b"1" * (3 * MIB),  # a line that never ends
    ],
)
def test_the_probe_reads_lines_as_pickle_load_does(data: bytes) -> None:
    """Compared with the reference reader: whether `pickle.load` completes, or fails, the probe says so."""
    try:
        pickle.load(io.BytesIO(data))
        loads = True
    except Exception:  # the reference reader's own refusal
        loads = False
    reading = read_as_pickle(io.BufferedReader(io.BytesIO(data)), len(data))
    assert (reading is not None and reading.complete) is loads


def test_a_line_that_never_ends_is_probed_in_bounded_memory(tmp_path: Path) -> None:
    """64 MiB of digits after FLOAT, with no newline (data, not a hole): the scan holds a piece at a
    time, never the line."""
    shard = tmp_path / "model.safetensors"
    shard.write_bytes(b"F" + b"1" * (64 * MIB))
    tracemalloc.start()
    try:
        with open(shard, "rb") as fh:
            assert read_as_pickle(fh, 64 * MIB + 1) is None
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MIB


class _CountingRaw(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._inner, self.read_bytes = io.BytesIO(data), 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self._inner.readinto(buffer)
        self.read_bytes += n
        return n


def test_the_probe_reads_a_pickle_of_many_short_lines_about_once() -> None:
    """A protocol-0 pickle is lines: each must cost its own length, not a fixed piece (a 9 MB
    pickle of short lines once took a minute, 1 MiB read per line)."""
    data = pickle.dumps(list(range(200_000)), 0)
    raw = _CountingRaw(data)
    reading = read_as_pickle(io.BufferedReader(raw, buffer_size=64 << 10), len(data))
    assert reading is not None and reading.complete and reading.end == len(data)
    assert raw.read_bytes < 3 * len(data)


def test_zeros_a_source_holds_as_data_are_stored_as_a_hole(tmp_path: Path) -> None:
    """A bundle on a medium that keeps no holes (vfat, a DVD, `cp --sparse=never`): its zeros are
    written out on the medium, and still take no room in the store."""
    data = os.urandom(MIB) + bytes(40 * MIB) + os.urandom(MIB)
    (tmp_path / "dense").write_bytes(data)
    with open(tmp_path / "dense", "rb") as fh:
        assert os.lseek(fh.fileno(), 0, os.SEEK_HOLE) == len(data), "the source has no hole"
        got = hashing.copy_and_hash([(fh.fileno(), 0, len(data))], tmp_path / "dst")
    assert (tmp_path / "dst").read_bytes() == data
    assert (got.sha256, got.blake3) == _digest(data)
    assert (tmp_path / "dst").stat().st_blocks * 512 < 20 * MIB


def test_a_source_cut_short_after_its_holes_were_mapped_is_short_not_padded(tmp_path: Path) -> None:
    """Past a file's end is never a hole: a medium truncated while it is read gives fewer bytes."""
    src = tmp_path / "src"
    data = _sparse(src, [("data", MIB), ("hole", MIB), ("data", MIB)])
    fd = os.open(src, os.O_RDWR)
    try:
        runs = data_runs(fd, 0, len(data))
        first = next(runs)
        os.ftruncate(fd, MIB)  # the medium loses all but its first MiB
        rest = list(runs)
    finally:
        os.close(fd)
    assert first == (0, MIB, True)
    assert all(holds for _o, _n, holds in rest), "what lies past the new end must be read, not assumed"


@pytest.mark.parametrize("overlap", [True, False])
def test_reading_spans_hashes_holes_as_zeros_and_stops_where_a_part_ends(
    tmp_path: Path, overlap: bool
) -> None:
    """`vault verify` reads a blob from the parts it lies in: holes unread, a short part short."""
    first = _sparse(tmp_path / "p0", [("data", 5 * MIB + 3), ("hole", 30 * MIB), ("data", 4097)])
    second = _sparse(tmp_path / "p1", [("hole", 9 * MIB), ("data", 2 * MIB)])
    fds = [os.open(tmp_path / name, os.O_RDONLY) for name in ("p0", "p1")]
    try:
        whole = hashing.hash_spans([(fds[0], 7, len(first) - 7), (fds[1], 0, len(second))], overlap=overlap)
        short = hashing.hash_spans([(fds[0], 0, len(first)), (fds[1], 0, len(second) + 99)], overlap=overlap)
    finally:
        for fd in fds:
            os.close(fd)
    expected = first[7:] + second
    assert (whole.size, whole.sha256, whole.blake3) == (len(expected), *_digest(expected))
    assert (short.size, short.sha256) == (len(first + second), hashlib.sha256(first + second).hexdigest())


def test_zeros_inside_a_window_of_data_are_holes_too(tmp_path: Path) -> None:
    """Zeros are looked for a MiB at a time, whatever the window: in the stored copy (add,
    import) and in a bundle file alike."""
    data = os.urandom(MIB) + bytes(5 * MIB) + os.urandom(MIB)  # one 8 MiB window holds all of it
    (tmp_path / "dense").write_bytes(data)
    with open(tmp_path / "dense", "rb") as fh:
        got = hashing.copy_and_hash([(fh.fileno(), 0, len(data))], tmp_path / "stored")
    assert (tmp_path / "stored").read_bytes() == data and got.sha256 == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "stored").stat().st_blocks * 512 <= 3 * MIB
    out = BulkWriter(open(tmp_path / "bundle", "wb"))  # noqa: SIM115 - closed by out.close()
    out.write(memoryview(data))
    out.close()
    assert (tmp_path / "bundle").read_bytes() == data
    assert (tmp_path / "bundle").stat().st_blocks * 512 <= 3 * MIB


def _bytes_read_by_this_process() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("Linux reports rchar in /proc/self/io")


def test_the_probe_does_not_read_the_holes_of_a_sparse_shard(tmp_path: Path) -> None:
    """Zeros hold no newline: the line scan steps over holes instead of reading them through the
    page cache (which fills it with zeros first: most of a sparse `vault add`'s time)."""
    shard = tmp_path / "model.safetensors"
    with open(shard, "wb") as fh:
        fh.write(b"F")  # FLOAT: reads a line
        fh.truncate(200 * MIB)
    before = _bytes_read_by_this_process()
    with open(shard, "rb") as fh:
        assert read_as_pickle(fh, 200 * MIB) is None
    assert _bytes_read_by_this_process() - before < 8 * MIB
