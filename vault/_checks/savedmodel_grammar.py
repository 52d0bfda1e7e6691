"""TensorFlow SavedModels (`saved_model.pb`): admitted only when every op is on an allow-list.

A SavedModel is a graph of TensorFlow ops that `tf.saved_model.load` and TF
Serving run: `ReadFile`, `WriteFile`, `PyFunc`, the lookup tables that read
vocabularies from host paths and the dataset ops that open files or sockets
are all ops, so a model that reads `/etc/passwd` on every request is a
well-formed SavedModel. vault walks the protobuf wire format by hand (the
bytes TensorFlow would parse, no TensorFlow needed) and collects the op of
every node in the graph and in every library function, and the functions
each node calls (`f`, `then_branch`, `body`...).

The rule: every op is on `ALLOWED_OPS` (math, arrays, neural-network layers,
variables, control flow). The checkpoint ops (`SaveV2`, `RestoreV2`,
`MergeV2Checkpoints`, `ShardedFilename`) read and write the model's own
variables where the loader points them; they are admitted only in the top-level
graph and in the save/restore functions TensorFlow writes
(`__inference__traced_save_*`, `__inference__traced_restore_*`), and those
functions only when the top-level graph calls them, never a serving function.

A SavedModel is a protobuf that can also parse as ONNX (both start with
field 1, a varint): check_content judges such a file both ways.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from vault._checks.formats import FormatError

MAX_SAVEDMODEL_BYTES = 256 << 20
MAX_DEPTH = 32

CHECKPOINT_OPS = frozenset({"SaveV2", "RestoreV2", "MergeV2Checkpoints", "ShardedFilename"})
SAVER_PREFIXES = ("__inference__traced_save_", "__inference__traced_restore_")
# Ops that compute on tensors and variables: none opens a file, a process or a socket.
# fmt: off
ALLOWED_OPS = frozenset({
    # recurrent layers (LSTM, GRU) keep their steps in tensor lists; gelu needs Erfc
    "TensorListConcatV2", "TensorListElementShape", "TensorListFromTensor", "TensorListGather",
    "TensorListGetItem", "TensorListLength", "TensorListPopBack", "TensorListPushBack", "TensorListReserve",
    "TensorListSetItem", "TensorListSplit", "TensorListStack", "Erfc", "Expm1", "IsFinite", "IsNan",
    "Abs", "Add", "AddN", "AddV2", "All", "Any", "ArgMax", "ArgMin", "Assert", "Assign",
    "AssignAddVariableOp", "AssignSubVariableOp", "AssignVariableOp", "AvgPool", "AvgPool3D",
    "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "BiasAdd", "BroadcastArgs", "BroadcastTo", "Case",
    "Cast", "Ceil", "CheckNumerics", "ClipByValue", "Concat", "ConcatV2", "Const", "Conv1D", "Conv2D",
    "Conv2DBackpropInput", "Conv3D", "Cos", "Cumsum", "DepthwiseConv2dNative", "DisableCopyOnRead", "Div",
    "DivNoNan", "Einsum", "Elu", "EnsureShape", "Enter", "Equal", "Erf", "Exit", "Exp", "ExpandDims",
    "Fill", "Floor", "FloorDiv", "FloorMod", "FusedBatchNorm", "FusedBatchNormV3", "Gather", "GatherNd",
    "GatherV2", "Greater", "GreaterEqual", "Identity", "IdentityN", "If", "LeakyRelu", "Less", "LessEqual",
    "Log", "Log1p", "LogSoftmax", "LogicalAnd", "LogicalNot", "LogicalOr", "LoopCond", "MatMul", "Max",
    "MaxPool", "MaxPool3D", "Maximum", "Mean", "Merge", "Min", "Minimum", "MirrorPad", "Mod", "Mul", "Neg",
    "NextIteration", "NoOp", "NotEqual", "OneHot", "OnesLike", "Pack", "Pad", "PadV2", "PartitionedCall",
    "Placeholder", "PlaceholderWithDefault", "Pow", "PreventGradient", "Prod", "Range", "Rank",
    "ReadVariableOp", "RealDiv", "Reciprocal", "Relu", "Relu6", "Reshape", "ResizeBilinear",
    "ResizeNearestNeighbor", "ResourceGather", "Round", "Rsqrt", "ScatterNd", "Select", "SelectV2", "Selu",
    "Shape", "ShapeN", "Sigmoid", "Sign", "Sin", "Size", "Slice", "Snapshot", "Softmax", "Softplus",
    "Softsign", "Split", "SplitV", "Sqrt", "Square", "SquaredDifference", "Squeeze",
    "StatefulPartitionedCall", "StatelessCase", "StatelessIf", "StatelessWhile", "StaticRegexFullMatch",
    "StopGradient", "StridedSlice", "StringJoin", "Sub", "Sum", "Switch", "Tanh", "Tile", "TopKV2",
    "Transpose", "Unpack", "VarHandleOp", "VarIsInitializedOp", "VariableV2", "Where", "While",
    "ZerosLike",
})
# fmt: on


class SavedModelError(FormatError):
    """A SavedModel whose graph runs an op vault does not admit, or one too malformed to judge."""


class _NotSavedModel(Exception):
    """The bytes are not a SavedModel's wire format (they may be ONNX, or anything)."""


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 70, 7):
        if pos >= end:
            raise _NotSavedModel
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
    raise _NotSavedModel


def _fields(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field, wire type, start, end) of each field; a varint's value is its start (end is -1)."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _NotSavedModel
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            yield number, wire, value, -1
        elif wire == 2:
            n, pos = _varint(buf, pos, end)
            if pos + n > end:
                raise _NotSavedModel
            yield number, wire, pos, pos + n
            pos += n
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            if pos > end:
                raise _NotSavedModel
        else:
            raise _NotSavedModel  # groups and unknown wire types: TensorFlow never writes them


def _text(buf: bytes, start: int, end: int) -> str:
    try:
        return buf[start:end].decode("utf-8")
    except UnicodeDecodeError:
        raise _NotSavedModel from None


@dataclass
class _Function:
    ops: set[str] = field(default_factory=set)
    calls: set[str] = field(default_factory=set)


def _name_attr_list(buf: bytes, start: int, end: int) -> str:
    for number, wire, s, e in _fields(buf, start, end):
        if number == 1 and wire == 2:
            return _text(buf, s, e)
    return ""


def _attr_calls(buf: bytes, start: int, end: int, into: set[str]) -> None:
    """Function names an AttrValue names: `func` (10), or `list.func` (1 -> 9)."""
    for number, wire, s, e in _fields(buf, start, end):
        if number == 10 and wire == 2:
            into.add(_name_attr_list(buf, s, e))
        elif number == 1 and wire == 2:
            for n2, w2, s2, e2 in _fields(buf, s, e):
                if n2 == 9 and w2 == 2:
                    into.add(_name_attr_list(buf, s2, e2))


def _node(buf: bytes, start: int, end: int, into: _Function, inputs: dict[str, list[str]]) -> None:
    name, op, node_inputs = "", "", []
    for number, wire, s, e in _fields(buf, start, end):
        if wire != 2 and number in (1, 2, 3, 5):
            raise _NotSavedModel
        if number == 1:
            name = _text(buf, s, e)
        elif number == 2:
            op = _text(buf, s, e)
        elif number == 3:
            node_inputs.append(_text(buf, s, e))
        elif number == 5:  # map<string, AttrValue> entry: key 1, value 2
            for n2, w2, s2, e2 in _fields(buf, s, e):
                if n2 == 2 and w2 == 2:
                    _attr_calls(buf, s2, e2, into.calls)
    if not op:
        raise _NotSavedModel
    into.ops.add(op)
    inputs[name] = [op, *node_inputs]


def _library(buf: bytes, start: int, end: int, functions: dict[str, _Function]) -> None:
    for number, wire, s, e in _fields(buf, start, end):
        if number != 1 or wire != 2:
            continue
        fn, fname = _Function(), ""
        for n2, w2, s2, e2 in _fields(buf, s, e):
            if n2 == 1 and w2 == 2:  # signature: OpDef, name in field 1
                fname = _name_attr_list(buf, s2, e2)
            elif n2 == 3 and w2 == 2:
                _node(buf, s2, e2, fn, {})
        if not fname or fname in functions:
            raise _NotSavedModel
        functions[fname] = fn


@dataclass
class _Graph:
    top: _Function = field(default_factory=_Function)
    inputs: dict[str, list[str]] = field(default_factory=dict)
    functions: dict[str, _Function] = field(default_factory=dict)


def _parse(buf: bytes) -> list[_Graph]:
    graphs: list[_Graph] = []
    for number, wire, s, e in _fields(buf, 0, len(buf)):
        if number == 1 and wire == 0:
            continue
        if number != 2 or wire != 2:
            raise _NotSavedModel
        graph = _Graph()
        found = False
        for n2, w2, s2, e2 in _fields(buf, s, e):
            if w2 != 2 or n2 > 9:
                raise _NotSavedModel  # every MetaGraphDef field is a message or a map
            if n2 == 2:
                found = True
                for n3, w3, s3, e3 in _fields(buf, s2, e2):
                    if n3 == 1 and w3 == 2:
                        _node(buf, s3, e3, graph.top, graph.inputs)
                    elif n3 == 2 and w3 == 2:
                        _library(buf, s3, e3, graph.functions)
        if not found:
            raise _NotSavedModel
        graphs.append(graph)
    if not graphs:
        raise _NotSavedModel
    return graphs


def _top_level_fields_only(fh: BinaryIO, size: int) -> bool:
    """Cheap pre-check in a few reads: a SavedModel's top level holds only fields 1 and 2."""
    pos = 0
    while pos < size:
        fh.seek(pos)
        head = fh.read(20)
        try:
            key, at = _varint(head, 0, len(head))
            if key not in (0x08, 0x12):
                return False
            value, at = _varint(head, at, len(head))
        except _NotSavedModel:
            return False
        pos += at + (value if key == 0x12 else 0)
    return pos == size


def _saver(name: str) -> bool:
    return name.startswith(SAVER_PREFIXES)


def _judge(name: str, graph: _Graph) -> None:
    def refuse(where: str, what: str) -> SavedModelError:
        return SavedModelError(f"{name}: TensorFlow SavedModel {where} runs {what}; refused")

    for op in sorted(graph.top.ops):
        if op not in ALLOWED_OPS and op not in CHECKPOINT_OPS:
            raise refuse("graph", f"op {op!r}, which is not on vault's allow-list")
    for fname, fn in sorted(graph.functions.items()):
        for op in sorted(fn.ops):
            if op in CHECKPOINT_OPS and not _saver(fname):
                raise refuse(
                    f"function {fname!r}", f"the checkpoint op {op!r} outside a save/restore function"
                )
            if op not in ALLOWED_OPS and op not in CHECKPOINT_OPS:
                raise refuse(f"function {fname!r}", f"op {op!r}, which is not on vault's allow-list")
        for called in sorted(fn.calls):
            if _saver(called):
                raise refuse(f"function {fname!r}", f"a call of the save/restore function {called!r}")
            if called not in graph.functions:
                raise refuse(f"function {fname!r}", f"a call of {called!r}, which the model does not define")
    for called in sorted(graph.top.calls):
        if called not in graph.functions:
            raise refuse("graph", f"a call of {called!r}, which the model does not define")


def savedmodel_ops(name: str, fh: BinaryIO, size: int) -> frozenset[str] | None:
    """The ops of a SavedModel once its graph passes the rule; None when the bytes are not a SavedModel."""
    if not _top_level_fields_only(fh, size):
        return None
    if size > MAX_SAVEDMODEL_BYTES:
        raise SavedModelError(f"{name}: SavedModel of {size} bytes is too large to judge")
    fh.seek(0)
    buf = fh.read(size)
    try:
        graphs = _parse(buf)
    except _NotSavedModel:
        return None
    ops: set[str] = set()
    for graph in graphs:
        _judge(name, graph)
        ops |= graph.top.ops
        for fn in graph.functions.values():
            ops |= fn.ops
    return frozenset(ops)
