"""A strict grammar for GGUF files (llama.cpp), read from a seekable file without loading tensors.

llama.cpp's GGUF parser has had a string of memory-safety bugs on crafted
headers (huge counts, string lengths past the end, offsets outside the file,
unknown types, sizes that overflow). vault admits a GGUF file only if every
number in its header is consistent with the file it sits in:

- magic `GGUF`, version 2 or 3;
- tensor and key/value counts no larger than the bytes left could hold;
- every string and array length inside the file, UTF-8 keys, unique keys;
- only the value types of the spec, arrays nested at most a few levels;
- `general.alignment`, if present, a power of two;
- tensors: unique UTF-8 names under 64 bytes, 1 to 4 dimensions, a known
  ggml type, a first dimension divisible by its block size, offsets aligned
  and in order, and each tensor's bytes inside the data section without
  overlap.

A well-formed header is not enough: llama.cpp and its bindings trust what
the metadata says. So the values that index or size something are checked
against what they index (vault/_checks/gguf_metadata.py): chat templates,
which are Jinja programs; token ids against the vocabulary; the declared
types of token scores and types; and hyperparameters such as `block_count`
against the tensors present.

The `gguf` package is the reference reader the tests compare against.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from vault._checks.formats import FormatError
from vault._checks.gguf_metadata import Value, check_metadata

MAGIC = b"GGUF"
VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_NAME_BYTES = 63  # GGML_MAX_NAME is 64, counting the terminating NUL
MAX_DIMS = 4
MAX_ARRAY_DEPTH = 4

# GGUF metadata value types -> fixed size in bytes (None: string, array).
VALUE_SIZES: dict[int, int | None] = {
    0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: None, 9: None, 10: 8, 11: 8, 12: 8,
}  # fmt: skip
_UINT_FORMATS = {0: "<B", 2: "<H", 4: "<I", 10: "<Q", 5: "<i", 11: "<q", 7: "<B"}
TYPE_STRING, TYPE_ARRAY = 8, 9

# ggml tensor types -> (elements per block, bytes per block). Removed types are absent.
GGML_TYPES: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 40),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110),
    22: (256, 82), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8),
    29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36), 41: (128, 18),
}  # fmt: skip


class GGUFError(FormatError):
    """A GGUF header that is not exactly well-formed."""


class _Cursor:
    """Sequential reads that never pass the end of the file (the check every length needs)."""

    def __init__(self, fh: BinaryIO, size: int, name: str) -> None:
        self.fh, self.size, self.name, self.pos = fh, size, name, 0
        self._buf, self._buf_start = b"", 0

    def fail(self, expected: str, found: str) -> GGUFError:
        where = f"{self.name}: bad GGUF header at byte {self.pos}"
        return GGUFError(f"{where}: expected {expected}, found {found}")

    @property
    def left(self) -> int:
        return self.size - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or n > self.left:
            raise self.fail(f"{what} of {n} bytes", f"{self.left} bytes left in the file")
        start = self.pos - self._buf_start
        if start + n > len(self._buf):
            self.fh.seek(self.pos)
            self._buf, self._buf_start, start = self.fh.read(max(n, 1 << 20)), self.pos, 0
            if len(self._buf) < n:
                raise self.fail(f"{what} of {n} bytes", "the file ending early")
        self.pos += n
        return self._buf[start : start + n]

    def skip(self, n: int, what: str) -> None:
        """Move past `n` bytes without reading them (large arrays stay on disk)."""
        if n < 0 or n > self.left:
            raise self.fail(f"{what} of {n} bytes", f"{self.left} bytes left in the file")
        self.pos += n

    def u32(self, what: str) -> int:
        return int(struct.unpack("<I", self.take(4, what))[0])

    def u64(self, what: str) -> int:
        return int(struct.unpack("<Q", self.take(8, what))[0])

    def string(self, what: str) -> str:
        n = self.u64(f"length of {what}")
        raw = self.take(n, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} in UTF-8", "invalid UTF-8") from None

    def identifier(self, what: str) -> str:
        """A key or tensor name: llama.cpp compares them with strcmp, so a NUL would end it early."""
        text = self.string(what)
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
            raise self.fail(f"{what} without NUL or control characters", repr(text[:80]))
        return text


def _skip_value(cur: _Cursor, vtype: int, what: str, depth: int = 0) -> object:
    """Read past one value; returns a string or integer, or an array's (element type, count)."""
    if vtype not in VALUE_SIZES:
        raise cur.fail(f"a value type 0-12 for {what}", str(vtype))
    if vtype == TYPE_STRING:
        return cur.string(what)
    if vtype == TYPE_ARRAY:
        if depth >= MAX_ARRAY_DEPTH:
            raise cur.fail(f"arrays nested at most {MAX_ARRAY_DEPTH} deep in {what}", "deeper nesting")
        etype = cur.u32(f"element type of {what}")
        count = cur.u64(f"element count of {what}")
        if etype not in VALUE_SIZES:
            raise cur.fail(f"an element type 0-12 in {what}", str(etype))
        fixed = VALUE_SIZES[etype]
        smallest = fixed if fixed is not None else 8  # a string is at least its length field
        if count * smallest > cur.left:
            raise cur.fail(f"at most {cur.left // smallest} elements in {what}", str(count))
        if fixed is not None:
            cur.skip(count * fixed, what)
        else:
            for _ in range(count):
                _skip_value(cur, etype, what, depth + 1)
        return (etype, count)
    raw = cur.take(VALUE_SIZES[vtype] or 0, what)
    fmt = _UINT_FORMATS.get(vtype)
    return int(struct.unpack(fmt, raw)[0]) if fmt else None


def check_gguf(name: str, fh: BinaryIO, size: int) -> None:
    """The header's grammar, then what its metadata says against what it describes."""
    metadata, tensors = _check_header(name, fh, size)
    check_metadata(name, metadata, tensors)


def _check_header(name: str, fh: BinaryIO, size: int) -> tuple[dict[str, Value], dict[str, list[int]]]:
    cur = _Cursor(fh, size, name)
    magic = cur.take(4, "magic")
    if magic != MAGIC:
        raise cur.fail("magic GGUF", repr(magic))
    version = cur.u32("version")
    if version not in VERSIONS:
        raise cur.fail("version 2 or 3", str(version))
    n_tensors = cur.u64("tensor count")
    n_kv = cur.u64("metadata count")
    # Smallest possible entries: a key/value is 8 + 4 + 1 bytes, a tensor info 8 + 4 + 8 + 4 + 8.
    if n_kv * 13 > cur.left:
        raise cur.fail(f"at most {cur.left // 13} metadata entries", str(n_kv))
    if n_tensors * 32 > cur.left:
        raise cur.fail(f"at most {cur.left // 32} tensors", str(n_tensors))

    alignment = DEFAULT_ALIGNMENT
    metadata: dict[str, Value] = {}
    for _ in range(n_kv):
        key = cur.identifier("metadata key")
        if key in metadata:
            raise cur.fail("unique metadata keys", f"{key!r} twice")
        vtype = cur.u32(f"value type of {key!r}")
        value = _skip_value(cur, vtype, repr(key))
        metadata[key] = Value(vtype, value)
        if key == "general.alignment":
            if vtype != 4 or not isinstance(value, int) or value == 0 or value & (value - 1):
                raise cur.fail("general.alignment as a power-of-two uint32", f"type {vtype} value {value}")
            alignment = value

    tensors: list[tuple[int, int, str]] = []
    shapes: dict[str, list[int]] = {}
    for _ in range(n_tensors):
        tname = cur.identifier("tensor name")
        if len(tname.encode()) > MAX_NAME_BYTES or tname in shapes:
            raise cur.fail("a unique tensor name of at most 63 bytes", repr(tname[:80]))
        n_dims = cur.u32(f"dimension count of {tname!r}")
        if not 1 <= n_dims <= MAX_DIMS:
            raise cur.fail(f"1 to {MAX_DIMS} dimensions for {tname!r}", str(n_dims))
        dims = [cur.u64(f"dimension of {tname!r}") for _ in range(n_dims)]
        shapes[tname] = dims
        ttype = cur.u32(f"type of {tname!r}")
        if ttype not in GGML_TYPES:
            raise cur.fail(f"a known ggml type for {tname!r}", str(ttype))
        offset = cur.u64(f"offset of {tname!r}")
        block, block_bytes = GGML_TYPES[ttype]
        if dims[0] % block:
            raise cur.fail(f"first dimension of {tname!r} divisible by {block}", str(dims[0]))
        nbytes = dims[0] // block * block_bytes
        for d in dims[1:]:
            nbytes *= d  # Python ints do not overflow; the bound below catches what C would wrap
        if offset % alignment:
            raise cur.fail(f"offset of {tname!r} aligned to {alignment}", str(offset))
        tensors.append((offset, nbytes, tname))

    data_start = -(-cur.pos // alignment) * alignment
    data_size = size - data_start
    if data_size < 0:
        raise cur.fail("a data section after the tensor infos", "the file ending first")
    end = 0
    for offset, nbytes, tname in sorted(tensors):
        if offset < end:
            raise GGUFError(f"{name}: GGUF tensor {tname!r} at offset {offset} overlaps the one before")
        if offset + nbytes > data_size:
            raise GGUFError(
                f"{name}: GGUF tensor {tname!r} needs bytes {offset}..{offset + nbytes} "
                f"of the data section, which has {data_size}"
            )
        end = offset + nbytes
    return metadata, shapes
