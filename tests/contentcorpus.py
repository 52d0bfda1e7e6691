"""Builders for the content corpus: one benign and several hostile files per format, made here.

Each builder returns bytes. Benign files come from the formats' own writers
(numpy, h5py, onnx, gguf, safetensors; torch's from the committed fixtures in
tests/corpus/); hostile ones are those files with the one change an attacker
makes, or hand-built headers.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import struct
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

import gguf
import h5py
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data
from safetensors.numpy import save

CORPUS = Path(__file__).resolve().parent / "corpus"


class Exec:
    """Pickles to a call of an arbitrary function: what a malicious checkpoint does."""

    def __init__(self, fn: object, *args: object) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> tuple:
        return self.fn, self.args


def evil_pickle(protocol: int = 4) -> bytes:
    return pickle.dumps(Exec(os.system, "echo pwned"), protocol=protocol)


def torch_zip(pkl: bytes, root: str = "archive") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(f"{root}/data.pkl", pkl)
        z.writestr(f"{root}/version", "3\n")
        z.writestr(f"{root}/data/0", b"\0" * 16)
    return buf.getvalue()


def fixture(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def benign_pickle() -> bytes:
    """numpy 2.x pickles an array through numpy._core.multiarray._reconstruct."""
    return pickle.dumps(np.arange(6, dtype=np.float32).reshape(2, 3), protocol=4)


def encrypted_zip() -> bytes:
    raw = bytearray(torch_zip(pickle.dumps({"w": 1}, protocol=2)))
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = 0
        while (at := raw.find(sig, at)) >= 0:
            raw[at + flag_at] |= 0x01
            at += 4
    return bytes(raw)


def crc_mismatch_zip() -> bytes:
    raw = bytearray(torch_zip(pickle.dumps({"w": 12345}, protocol=2)))
    at = raw.find(b"\x80\x02")  # the stored data.pkl: change one byte, keep the recorded CRC
    raw[at + 5] ^= 0x01
    return bytes(raw)


def name_mismatch_zip() -> bytes:
    raw = bytearray(torch_zip(pickle.dumps({"w": 1}, protocol=2)))
    local = raw.find(b"archive/data.pkl")  # the local header's copy, not the directory's
    raw[local : local + 16] = b"archive/data.pkX"
    return bytes(raw)


def corrupt_deflate_zip() -> bytes:
    """A Keras archive whose deflated config.json is not a valid deflate stream (found by the fuzzer)."""
    raw = bytearray(keras_zip(PLAIN_KERAS))
    info = zipfile.ZipFile(io.BytesIO(bytes(raw))).getinfo("config.json")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start : start + 4] = b"\xff\xff\xff\xff"
    return bytes(raw)


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def npy_object_evil() -> bytes:
    """An object array whose pickled payload calls os.system on load."""
    header = npy(np.array([None, None], dtype=object))
    offset = header.index(b"\n") + 1
    return header[:offset] + evil_pickle(3)


def npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in arrays.items():
            z.writestr(f"{name}.npy", data)  # type: ignore[arg-type]
    return buf.getvalue()


def npy_header_literal(text: str) -> bytes:
    header = text.encode("latin1")
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\0" * 16


PLAIN_KERAS = {"module": "keras", "class_name": "Sequential", "registered_name": None, "config": {
    "name": "s", "layers": [{"module": "keras.layers", "class_name": "Dense", "registered_name": None,
                             "config": {"units": 2, "activation": "relu"}}]}}  # fmt: skip
LAMBDA_KERAS = {"class_name": "Sequential", "config": {"name": "s", "layers": [
    {"class_name": "Lambda", "config": {"name": "l", "function": ["4wEAAAAA", None, None]}}]}}  # fmt: skip
MODULE_KERAS = {"module": "keras", "class_name": "Sequential", "config": {"layers": [
    {"module": "os", "class_name": "system", "config": {}, "registered_name": "os>system"}]}}  # fmt: skip


def h5(config: dict | None) -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        if config is not None:
            f.attrs["model_config"] = json.dumps(config)
            f.attrs["keras_version"] = "3.5.0"
        f.create_group("model_weights").create_dataset("dense/kernel", data=np.ones((2, 2), np.float32))
    return buf.getvalue()


def keras_zip(config: dict | str) -> bytes:
    """A Keras v3 archive; `config` as a dict, or as the raw text of config.json."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
        z.writestr("config.json", config if isinstance(config, str) else json.dumps(config))
        z.writestr("model.weights.h5", h5(None))
    return buf.getvalue()


def onnx_model(location: str | None = None, nested: bool = False) -> bytes:
    """A one-node model; with `location`, its weight lives in that external file."""
    weight = numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")
    if location is not None:
        set_external_data(weight, location, offset=0, length=16)
        weight.ClearField("raw_data")
        weight.data_location = TensorProto.EXTERNAL
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    if nested:  # the tensor hides in an If node's subgraph
        branch = helper.make_graph([helper.make_node("Constant", [], ["y"], value=weight)], "b", [], [out])
        cond = numpy_helper.from_array(np.array(True), "c")
        node = helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)
        graph = helper.make_graph([node], "g", [], [out], [cond])
    else:
        graph = helper.make_graph([helper.make_node("Identity", ["w"], ["y"])], "g", [], [out], [weight])
    return helper.make_model(graph).SerializeToString()


def u32(v: int) -> bytes:
    return struct.pack("<I", v)


def u64(v: int) -> bytes:
    return struct.pack("<Q", v)


def gs(text: str) -> bytes:
    return u64(len(text.encode())) + text.encode()


def gguf_file(
    tensors: list[tuple[str, list[int], int, int]] | None = None,
    kv: list[tuple[str, int, bytes]] | None = None,
    version: int = 3,
    n_tensors: int | None = None,
    data: bytes = b"\0" * 256,
) -> bytes:
    """A hand-built GGUF: (name, dims, ggml type, offset) tensors and (key, type, raw value) pairs."""
    tensors = [("w", [32], 0, 0), ("b", [8], 1, 128)] if tensors is None else tensors
    kv = [("general.architecture", 8, gs("llama")), ("general.alignment", 4, u32(32))] if kv is None else kv
    out = b"GGUF" + u32(version) + u64(len(tensors) if n_tensors is None else n_tensors) + u64(len(kv))
    for key, vtype, raw in kv:
        out += gs(key) + u32(vtype) + raw
    for name, dims, ttype, offset in tensors:
        out += gs(name) + u32(len(dims)) + b"".join(u64(d) for d in dims) + u32(ttype) + u64(offset)
    out += b"\0" * (-len(out) % 32)
    return out + data


def gguf_written() -> bytes:
    """A GGUF from the gguf package's own writer."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.gguf"
        w = gguf.GGUFWriter(str(path), "llama")
        w.add_uint32("llama.context_length", 128)
        w.add_array("tokenizer.ggml.tokens", ["<s>", "</s>", "a"])
        w.add_tensor("token_embd.weight", np.ones((3, 32), dtype=np.float32))
        w.add_tensor("output_norm.weight", np.ones((32,), dtype=np.float16))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return path.read_bytes()


def sentencepiece_model() -> bytes:
    """A real (tiny) SentencePiece tokenizer.model, trained here."""
    import sentencepiece as spm

    lines = ["the quick brown fox jumps over the lazy dog", "hello world model vault"] * 40
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=out, vocab_size=30,
                                   minloglevel=2)  # fmt: skip
    return out.getvalue()


def png() -> bytes:
    """A 1x1 PNG, built from its chunks."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def gif_pickle_polyglot() -> bytes:
    """Starts like a GIF, and is also a complete pickle: BINFLOAT eats 'IF89a...', POP, then a payload."""
    return b"GIF89a\x00\x00\x000" + evil_pickle(0)


def safetensors_file() -> bytes:
    return save({"a": np.zeros((2, 2), np.float32)})


def load_with_reference(name: str, data: bytes) -> None:
    """Load a benign file with its format's reference reader (the corpus's own sanity check)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if name.endswith(".gguf"):
            gguf.GGUFReader(str(path))
        elif name.endswith((".npy", ".npz")):
            np.load(path, allow_pickle=False)
        elif name.endswith(".onnx"):
            onnx.load_model_from_string(data)
        elif name.endswith(".h5"):
            h5py.File(path, "r").close()
        elif name.endswith(".model"):
            import sentencepiece as spm

            assert spm.SentencePieceProcessor(model_file=str(path)).vocab_size() > 0


def tar_of(members: dict[str, bytes], symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if symlink is not None:
            info = tarfile.TarInfo(symlink)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return buf.getvalue()


def gzip_of(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)
