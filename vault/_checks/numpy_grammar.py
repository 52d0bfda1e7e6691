"""NumPy `.npy` headers, and object arrays (which `numpy.load(allow_pickle=True)` unpickles).

A `.npy` file is a magic string, a version, a length and a Python dict
literal `{'descr': …, 'fortran_order': …, 'shape': …}`, then the raw array.
vault parses the header as a literal (never evaluated), bounds it as numpy
does, understands the dtype grammar, and requires the data to be exactly
shape x itemsize bytes. An object dtype (`O`, anywhere in a structured
dtype) means the data is a pickle: it is reported as such, so it is refused
unless pickles are allowed, and then only after the allow-list scan.
The `numpy` package is the reference reader the tests compare against.
"""

from __future__ import annotations

import ast
import math
import re
import struct
from dataclasses import dataclass

from vault._checks.formats import FormatError

MAGIC = b"\x93NUMPY"
MAX_HEADER_BYTES = 10_000  # numpy's own default max_header_size
PREFIX_BYTES = 12 + MAX_HEADER_BYTES
_SIMPLE = re.compile(r"([<>|=]?)([?bBhHiIlLqQpPefdgFDGSUVaOMmuc])(\d*)(?:\[(\w+)\])?", re.ASCII)
_KIND_SIZES = {"?": 1, "b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "l": 8, "L": 8, "q": 8, "Q": 8,
               "p": 8, "P": 8, "e": 2, "f": 4, "d": 8, "g": 16, "F": 8, "D": 16, "G": 32, "O": 8,
               "M": 8, "m": 8}  # fmt: skip


class NumpyError(FormatError):
    """A `.npy` header or payload that is not exactly well-formed."""


@dataclass(frozen=True)
class NpyHeader:
    descr: object
    fortran_order: bool
    shape: tuple[int, ...]
    data_offset: int
    itemsize: int
    has_object: bool

    @property
    def data_bytes(self) -> int:
        return math.prod(self.shape) * self.itemsize


def _dtype(name: str, descr: object, depth: int = 0) -> tuple[int, bool]:
    """(itemsize, contains an object) of a descr, or NumpyError."""
    bad = NumpyError(f"{name}: bad NumPy header: expected a dtype description, found {descr!r:.80}")
    if depth > 8:
        raise bad
    if isinstance(descr, str):
        m = _SIMPLE.fullmatch(descr)
        if m is None:
            raise bad
        _order, kind, digits, unit = m.groups()
        if kind == "O":
            return 8, True
        if kind in "SaV":
            return int(digits or 0), False
        if kind == "U":
            return 4 * int(digits or 0), False
        if kind in "iufcb" and digits:
            size = int(digits)
            if (kind == "c" and size not in (8, 16, 32)) or (kind != "c" and size not in (1, 2, 4, 8, 16)):
                raise bad
            return size, False
        if kind in "Mm" and (digits or "8") == "8":
            return 8, False
        if kind in _KIND_SIZES and not digits and unit is None:
            return _KIND_SIZES[kind], False
        raise bad
    if isinstance(descr, list) and descr:
        total, has_object = 0, False
        for field in descr:
            if not isinstance(field, tuple) or len(field) not in (2, 3):
                raise bad
            fname, fdescr = field[0], field[1]
            if not isinstance(fname, str | tuple):
                raise bad
            size, obj = _dtype(name, fdescr, depth + 1)
            count = 1
            if len(field) == 3:
                shape = field[2]
                if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
                    raise bad
                count = math.prod(shape)
            total += size * count
            has_object = has_object or obj
        return total, has_object
    raise bad


def parse_npy_header(name: str, head: bytes) -> NpyHeader:
    """Parse the header from the file's first bytes (at least `PREFIX_BYTES`, or the whole file)."""

    def bad(expected: str, found: str) -> NumpyError:
        return NumpyError(f"{name}: bad NumPy header: expected {expected}, found {found}")

    if head[:6] != MAGIC:
        raise bad("the magic \\x93NUMPY", repr(head[:6]))
    if len(head) < 10:
        raise bad("a version and header length", "the file ending")
    major, minor = head[6], head[7]
    if (major, minor) not in ((1, 0), (2, 0), (3, 0)):
        raise bad("version 1.0, 2.0 or 3.0", f"{major}.{minor}")
    if major == 1:
        (length,), start = struct.unpack("<H", head[8:10]), 10
    else:
        if len(head) < 12:
            raise bad("a 4-byte header length", "the file ending")
        (length,), start = struct.unpack("<I", head[8:12]), 12
    if length > MAX_HEADER_BYTES:
        raise bad(f"a header under {MAX_HEADER_BYTES} bytes", f"{length}")
    raw = head[start : start + length]
    if len(raw) != length:
        raise bad(f"a header of {length} bytes", f"{len(raw)}")
    try:
        text = raw.decode("utf-8" if major == 3 else "latin1")
        literal = ast.literal_eval(text)
    except (UnicodeDecodeError, ValueError, SyntaxError, MemoryError, RecursionError):
        raise bad("a Python dict literal", repr(raw[:60])) from None
    if not isinstance(literal, dict) or set(literal) != {"descr", "fortran_order", "shape"}:
        raise bad("exactly the keys descr, fortran_order, shape", repr(sorted(map(str, literal)))
                  if isinstance(literal, dict) else type(literal).__name__)  # fmt: skip
    shape, fortran = literal["shape"], literal["fortran_order"]
    if not isinstance(fortran, bool):
        raise bad("fortran_order True or False", repr(fortran))
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                   for d in shape):  # fmt: skip
        raise bad("a shape of non-negative integers", repr(shape))
    itemsize, has_object = _dtype(name, literal["descr"])
    return NpyHeader(literal["descr"], fortran, shape, start + length, itemsize, has_object)


def check_npy_size(name: str, header: NpyHeader, size: int) -> None:
    """A plain array's data is exactly shape x itemsize bytes (object arrays are a pickle instead)."""
    if header.has_object:
        return
    want = header.data_offset + header.data_bytes
    if size != want:
        raise NumpyError(
            f"{name}: NumPy array of shape {header.shape} needs {want} bytes in all, the file has {size}"
        )
