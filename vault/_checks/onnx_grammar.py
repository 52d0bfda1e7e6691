"""ONNX models: a minimal protobuf walk that finds every external-data location, in bounded memory.

An ONNX tensor may keep its bytes in another file (`external_data` with a
`location`); onnxruntime opens that path relative to the model. A location
of `../../etc/shadow` or `/proc/self/environ` makes loading the model read a
file outside it. vault therefore finds every location in every tensor
(graph initializers, sparse initializers, node attributes, nested subgraphs,
functions, training graphs) and the revision must sign a file at each one.

The walk reads the protobuf wire format directly: every field's tag and
length is checked against the bytes left, groups and unknown wire types are
refused, and large fields (raw tensor data) are skipped with a seek, so a
multi-gigabyte model is judged in a few reads. The `onnx` package is the
reference reader the tests compare against.
"""

from __future__ import annotations

from typing import BinaryIO

from vault._checks.formats import FormatError

MAX_DEPTH = 64
FULL_PARSE_BYTES = 32 << 20  # parsed whole only below this, to keep memory bounded
_READ_LIMIT = 1 << 20  # fields we must decode (names, keys) are small; larger ones are skipped

# message -> {field number: message type} for the fields that can lead to a tensor.
_MODEL, _GRAPH, _NODE, _ATTR, _TENSOR, _SPARSE, _TRAINING, _FUNCTION, _ENTRY = range(9)
_CHILDREN: dict[int, dict[int, int]] = {
    _MODEL: {7: _GRAPH, 20: _TRAINING, 25: _FUNCTION},
    _GRAPH: {1: _NODE, 5: _TENSOR, 15: _SPARSE},
    _NODE: {5: _ATTR},
    _ATTR: {5: _TENSOR, 6: _GRAPH, 10: _TENSOR, 11: _GRAPH, 22: _SPARSE, 23: _SPARSE},
    _TRAINING: {1: _GRAPH, 2: _GRAPH},
    _FUNCTION: {7: _NODE, 11: _ATTR},
    _SPARSE: {1: _TENSOR, 2: _TENSOR},
    _TENSOR: {13: _ENTRY},
    _ENTRY: {},
}
_TENSOR_LOCATION, _EXTERNAL = 14, 1


class ONNXError(FormatError):
    """A file that is not a well-formed ONNX model, or one that reads outside itself."""


class _Reader:
    def __init__(self, fh: BinaryIO, name: str) -> None:
        self.fh, self.name = fh, name

    def fail(self, at: int, expected: str, found: str) -> ONNXError:
        return ONNXError(f"{self.name}: bad ONNX protobuf at byte {at}: expected {expected}, found {found}")

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        self.fh.seek(pos)
        raw = self.fh.read(min(10, end - pos))
        value = 0
        for i, b in enumerate(raw):
            value |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                return value, pos + i + 1
        raise self.fail(pos, "a varint of at most 10 bytes inside its message", "an unterminated one")

    def read(self, pos: int, n: int) -> bytes:
        self.fh.seek(pos)
        data = self.fh.read(n)
        if len(data) != n:
            raise self.fail(pos, f"{n} bytes", "the file ending early")
        return data


def _fields(r: _Reader, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(field, wire, value or payload start, payload length) for each field of one message."""
    out = []
    pos = start
    while pos < end:
        tag_at = pos
        tag, pos = r.varint(pos, end)
        field, wire = tag >> 3, tag & 7
        if field == 0:
            raise r.fail(tag_at, "a field number above 0", "0")
        if wire == 0:
            value, pos = r.varint(pos, end)
            out.append((field, wire, value, 0))
            continue
        if wire == 2:
            length, pos = r.varint(pos, end)
        elif wire in (1, 5):
            length = 8 if wire == 1 else 4
        else:
            raise r.fail(tag_at, "wire type 0, 1, 2 or 5", str(wire))
        if length > end - pos:
            raise r.fail(pos, f"a field of at most {end - pos} bytes", str(length))
        out.append((field, wire, pos, length))
        pos += length
    return out


def _text(r: _Reader, pos: int, length: int) -> str:
    if length > _READ_LIMIT:
        raise r.fail(pos, f"an external-data key or value under {_READ_LIMIT} bytes", str(length))
    try:
        return r.read(pos, length).decode("utf-8")
    except UnicodeDecodeError:
        raise r.fail(pos, "UTF-8 text", "invalid UTF-8") from None


def _walk(r: _Reader, kind: int, start: int, end: int, depth: int, locations: list[str]) -> None:
    """Walk one message in [start, end), collecting the external-data location of every tensor in it."""
    if depth > MAX_DEPTH:
        raise r.fail(start, f"messages nested at most {MAX_DEPTH} deep", "deeper nesting")
    children = _CHILDREN[kind]
    external, entries = False, []
    for field, wire, value, length in _fields(r, start, end):
        if kind == _TENSOR and field == _TENSOR_LOCATION and wire == 0:
            external = value == _EXTERNAL
        elif wire == 2 and field in children:
            if children[field] == _ENTRY:
                pair = {f: _text(r, p, n) for f, w, p, n in _fields(r, value, value + length) if w == 2}
                entries.append((pair.get(1, ""), pair.get(2, "")))
            else:
                _walk(r, children[field], value, value + length, depth + 1, locations)
    if kind == _TENSOR:
        found = [v for k, v in entries if k == "location"]
        if len(found) > 1 or (external and not found) or any(not v for v in found):
            raise ONNXError(f"{r.name}: an external tensor needs exactly one non-empty location")
        locations.extend(found)


def is_sentencepiece(fh: BinaryIO, size: int) -> bool:
    """A SentencePiece `tokenizer.model`: a protobuf of pieces (field 1: {piece, score, type}) and specs.

    Loading one builds a vocabulary and nothing else, so it is data; the shape
    is checked field by field so that no other binary passes for one.
    """
    r = _Reader(fh, "")
    try:
        top = _fields(r, 0, size)
        if not top or any(f not in (1, 2, 3, 4, 5) or w != 2 for f, w, _p, _n in top):
            return False
        pieces = [(p, n) for f, _w, p, n in top if f == 1]
        for pos, length in pieces:
            for f, w, p, n in _fields(r, pos, pos + length):
                if (f, w) not in ((1, 2), (2, 5), (3, 0)):
                    return False
                if f == 1:
                    r.read(p, n).decode("utf-8")
        return bool(pieces)
    except (ONNXError, UnicodeDecodeError):
        return False


def onnx_external_locations(name: str, fh: BinaryIO, size: int) -> tuple[str, ...]:
    """The external-data locations of an ONNX model (raises ONNXError if it is not one)."""
    r = _Reader(fh, name)
    # A ModelProto starts with its ir_version (field 1, varint) and must carry a graph.
    if size < 2 or r.read(0, 1) != b"\x08":
        raise r.fail(0, "an ONNX model (ir_version first)", "other bytes")
    top = [(field, wire) for field, wire, _v, _n in _fields(r, 0, size)]
    if (7, 2) not in top:
        raise r.fail(0, "a model with a graph", "none")
    locations: list[str] = []
    _walk(r, _MODEL, 0, size, 0, locations)
    if size <= FULL_PARSE_BYTES:
        _full_parse(name, fh)
    return tuple(dict.fromkeys(locations))


def _full_parse(name: str, fh: BinaryIO) -> None:
    """Models small enough to hold also go through the onnx package's own protobuf parser.

    The walk checks only the fields that can lead to tensors; this checks the
    rest against the real schema. Larger models keep their weights outside
    (ONNX's own 2 GiB limit) or in raw_data, and are judged by the walk alone,
    in bounded memory.
    """
    from google.protobuf.message import DecodeError
    from onnx import ModelProto

    fh.seek(0)
    try:
        ModelProto.FromString(fh.read())
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ONNXError(f"{name}: the ONNX protobuf does not parse ({exc})") from None
