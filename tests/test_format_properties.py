"""Property tests (hypothesis) for each new format grammar, against the format's reference reader.

For GGUF, NumPy and ONNX: every file the format's own writer makes is
accepted (and read the same way), and every file the grammar accepts, however
mutated, also loads with the reference library (`gguf`, `numpy`, `onnx`).
Whatever the grammar refuses is refused with a VaultError, never a crash.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import gguf
import numpy as np
import onnx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data, uses_external_data

from tests import contentcorpus as cc
from vault._checks.gguf_grammar import GGML_TYPES, check_gguf
from vault._checks.numpy_grammar import check_npy_size, parse_npy_header
from vault._checks.onnx_grammar import onnx_external_locations
from vault.errors import VaultError

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=10)


def mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    raw = bytearray(data)
    for at, value in edits:
        raw[at % len(raw)] = value
    return bytes(raw[: cut % (len(raw) + 1)] if cut is not None else raw)


mutations = st.tuples(
    st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=4),
    st.none() | st.integers(0, 1 << 20),
)


# -- GGUF ------------------------------------------------------------------------------------------


def test_the_type_table_is_the_reference_readers() -> None:
    assert {int(t): s for t, s in gguf.GGML_QUANT_SIZES.items()} == GGML_TYPES


def _write_gguf(tensors: dict[str, tuple[str, list[int]]], meta: dict[str, object]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.gguf"
        w = gguf.GGUFWriter(str(path), "llama")
        for key, value in meta.items():
            if isinstance(value, int):
                w.add_uint32(key, value)
            elif isinstance(value, str):
                w.add_string(key, value)
            else:
                w.add_array(key, value)  # type: ignore[arg-type]
        for name, (dtype, shape) in tensors.items():
            w.add_tensor(name, np.zeros(shape, dtype=dtype))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return path.read_bytes()


gguf_specs = st.tuples(
    st.dictionaries(
        st.text("abcdefghij.", min_size=1, max_size=20),
        st.tuples(
            st.sampled_from(["float32", "float16", "int8", "int32"]),
            st.lists(st.integers(1, 5), min_size=1, max_size=3),
        ),
        min_size=1,
        max_size=4,
    ),
    st.dictionaries(
        st.text("abcdefghij.", min_size=1, max_size=12).map(lambda k: "x." + k),
        st.integers(0, 2**31) | names | st.lists(names, min_size=1, max_size=4),
        max_size=4,
    ),
)


def _check_gguf_bytes(data: bytes) -> None:
    check_gguf("m.gguf", io.BytesIO(data), len(data))


@SETTINGS
@given(gguf_specs)
def test_gguf_files_the_writer_makes_are_accepted(spec: tuple) -> None:
    tensors, meta = spec
    data = _write_gguf(tensors, meta)
    _check_gguf_bytes(data)
    with tempfile.NamedTemporaryFile(suffix=".gguf") as f:
        f.write(data)
        f.flush()
        assert sorted(t.name for t in gguf.GGUFReader(f.name).tensors) == sorted(tensors)


@SETTINGS
@given(gguf_specs, mutations)
def test_whatever_the_gguf_grammar_accepts_the_reference_reader_loads(spec: tuple, edit: tuple) -> None:
    data = mutate(_write_gguf(*spec), *edit)
    try:
        _check_gguf_bytes(data)
    except VaultError:
        return
    with tempfile.NamedTemporaryFile(suffix=".gguf") as f:
        f.write(data)
        f.flush()
        reader = gguf.GGUFReader(f.name)
        for t in reader.tensors:
            assert t.data_offset + t.n_bytes <= len(data)


# -- NumPy -----------------------------------------------------------------------------------------

np_dtypes = st.sampled_from(["<f4", ">f8", "<i2", "|u1", "|b1", "<c16", "<U3", "|S5", "<M8[s]",
                             [("x", "<f4"), ("y", "<i8", (2,))]])  # fmt: skip
np_arrays = st.tuples(np_dtypes, st.lists(st.integers(0, 4), max_size=3), st.booleans())


def _npy(spec: tuple) -> bytes:
    dtype, shape, fortran = spec
    array = np.zeros(shape, dtype=np.dtype(dtype))
    return cc.npy(np.asfortranarray(array) if fortran else array)


@SETTINGS
@given(np_arrays)
def test_npy_files_numpy_writes_are_accepted_and_read_alike(spec: tuple) -> None:
    data = _npy(spec)
    header = parse_npy_header("a.npy", data)
    check_npy_size("a.npy", header, len(data))
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(stream)
    assert (header.shape, header.fortran_order, header.data_offset) == (shape, fortran, stream.tell())
    assert header.itemsize == dtype.itemsize and not header.has_object


@SETTINGS
@given(np_arrays, mutations)
def test_whatever_the_npy_grammar_accepts_numpy_loads(spec: tuple, edit: tuple) -> None:
    data = mutate(_npy(spec), *edit)
    try:
        header = parse_npy_header("a.npy", data)
        check_npy_size("a.npy", header, len(data))
    except VaultError:
        return
    if header.has_object:
        return  # a pickle: judged by the pickle scan, not loadable without allow_pickle
    np.load(io.BytesIO(data), allow_pickle=False)


# -- ONNX ------------------------------------------------------------------------------------------

locations = st.text("abcxyz_./", min_size=1, max_size=12).filter(lambda s: not s.startswith("/"))
onnx_specs = st.lists(st.tuples(st.none() | locations, st.booleans()), min_size=1, max_size=4)


def _onnx(spec: list[tuple[str | None, bool]]) -> onnx.ModelProto:
    """Initializers kept inline or external at a location, some inside an If node's subgraph."""
    inits, nested, outputs = [], [], []
    for i, (location, in_subgraph) in enumerate(spec):
        t = numpy_helper.from_array(np.full(2, i, dtype=np.float32), f"w{i}")
        if location is not None:
            set_external_data(t, location, offset=0, length=8)
            t.ClearField("raw_data")
            t.data_location = TensorProto.EXTERNAL
        (nested if in_subgraph else inits).append(t)
        outputs.append(helper.make_tensor_value_info(f"w{i}", TensorProto.FLOAT, [2]))
    nodes = []
    if nested:
        out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])]
        consts = [helper.make_node("Constant", [], ["y"], value=t) for t in nested[:1]]
        branch = helper.make_graph(consts, "b", [], out, nested[1:])
        inits.append(numpy_helper.from_array(np.array(True), "c"))
        nodes.append(helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch))
    return helper.make_model(helper.make_graph(nodes, "g", [], outputs[:1], inits))


def _reference_locations(model: onnx.ModelProto) -> set[str]:
    found = set()
    for t in onnx.external_data_helper._get_all_tensors(model):
        if uses_external_data(t):
            found |= {e.value for e in t.external_data if e.key == "location"}
    return found


@SETTINGS
@given(onnx_specs)
def test_onnx_external_locations_match_the_reference(spec: list) -> None:
    model = _onnx(spec)
    data = model.SerializeToString()
    assert set(onnx_external_locations("m.onnx", io.BytesIO(data), len(data))) == _reference_locations(model)


@SETTINGS
@given(onnx_specs, mutations)
def test_whatever_the_onnx_grammar_accepts_onnx_loads(spec: list, edit: tuple) -> None:
    data = mutate(_onnx(spec).SerializeToString(), *edit)
    try:
        found = onnx_external_locations("m.onnx", io.BytesIO(data), len(data))
    except VaultError:
        return
    model = onnx.load_model_from_string(data)
    assert set(found) == _reference_locations(model)
