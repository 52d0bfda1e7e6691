"""A strict grammar for safetensors headers, as a pure function over bytes.

The `safetensors` library parses headers too, but it is built to load files,
not to judge hostile ones: it allows some slack (e.g. headers up to 100 MB,
padding, unknown metadata shapes). vault admits a file only if its header is
exactly well-formed: bounded length, one JSON object with no duplicate keys,
known dtypes, and tensors that tile the data section exactly.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from vault.errors import UnsafeContentError

# Real checkpoints' headers are well under 1 MiB; a larger one is refused outright.
MAX_HEADER_BYTES = 16 * 1024 * 1024
PREFIX_BYTES = 8 + MAX_HEADER_BYTES  # what a caller must capture to run the check

DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64, "C64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}  # fmt: skip
_TENSOR_KEYS = {"dtype", "shape", "data_offsets"}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_safetensors(name: str, prefix: bytes, file_size: int) -> None:
    """Check the header of a safetensors file of `file_size` bytes, given its first bytes."""

    def bad(reason: str) -> UnsafeContentError:
        return UnsafeContentError(f"{name}: unsafe safetensors header: {reason}")

    if file_size < 8 or len(prefix) < 8:
        raise bad("file shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", prefix[:8])
    if n > MAX_HEADER_BYTES:
        raise bad(f"header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit")
    if 8 + n > file_size:
        raise bad(f"header length {n} runs past the end of the file")
    if len(prefix) < 8 + n:
        raise bad("header not fully available")
    raw = prefix[8 : 8 + n]
    if not raw.startswith(b"{"):
        raise bad("header is not a JSON object")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise bad(f"header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")

    data_len = file_size - 8 - n
    spans: list[tuple[int, int, str]] = []
    for key, value in header.items():
        if key == "__metadata__":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise bad("__metadata__ must map strings to strings")
            continue
        if not isinstance(value, dict) or set(value) != _TENSOR_KEYS:
            raise bad(f"tensor {key!r} must have exactly dtype, shape and data_offsets")
        dtype, shape, offsets = value["dtype"], value["shape"], value["data_offsets"]
        if dtype not in DTYPE_BITS:
            raise bad(f"tensor {key!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise bad(f"tensor {key!r} has a malformed shape")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
            raise bad(f"tensor {key!r} has malformed data_offsets")
        begin, end = offsets
        if not 0 <= begin <= end:
            raise bad(f"tensor {key!r} has offsets out of order")
        bits = math.prod(shape) * DTYPE_BITS[dtype]
        if bits % 8 or bits // 8 != end - begin:
            raise bad(f"tensor {key!r}: shape x dtype is {bits / 8:g} bytes but its span is {end - begin}")
        spans.append((begin, end, key))

    position = 0
    for begin, end, key in sorted(spans):
        if begin != position:
            what = "overlaps the previous tensor" if begin < position else "leaves a gap before it"
            raise bad(f"tensor {key!r} {what}")
        position = end
    if position != data_len:
        raise bad(f"tensors cover {position} bytes but the data section is {data_len}")
