"""Model files made by the real libraries (keras, torch, h5py, joblib), then the edit an attacker makes.

Keras and torch are slow to import, so every builder imports them on first
use; each returns the bytes of one file. A hostile file is a real file with
the smallest change that makes its loader run code or read the host, so a
check that only knows the change's shape, not the format, cannot pass it.
"""

from __future__ import annotations

import functools
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import h5py
import numpy as np


@functools.cache
def keras() -> ModuleType:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras as k

    return k


def _saved(save: Callable[[Path], None], suffix: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"model{suffix}"
        save(path)
        return path.read_bytes()


@functools.cache
def keras_archive() -> bytes:
    """A compiled Sequential model saved by Keras 3: its loss and metric are `builtins` functions."""
    k = keras()
    model = k.Sequential([k.Input((4,)), k.layers.Dense(3, activation="relu"), k.layers.Dense(1)])
    model.compile(loss=k.losses.mean_squared_error, optimizer="adam", metrics=[k.metrics.mean_absolute_error])
    return _saved(lambda p: model.save(p), ".keras")


@functools.cache
def keras_h5() -> bytes:
    """The same model in Keras's legacy HDF5 format (`model.save("x.h5")`)."""
    k = keras()
    model = k.Sequential([k.Input((4,)), k.layers.Dense(2)])
    return _saved(lambda p: model.save(p), ".h5")


def load_keras(data: bytes, suffix: str) -> None:
    """The reference reader: Keras loads the file (safe mode, as a serving stack would)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"model{suffix}"
        path.write_bytes(data)
        keras().saving.load_model(path, compile=True, safe_mode=True)


def rebuild_zip(data: bytes, replace: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    """The archive with some members replaced or added, as Keras writes them (stored)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    members = {i.filename: src.read(i) for i in src.infolist()}
    members.update(replace)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as out:
        for name, body in members.items():
            out.writestr(name, body)
    return buf.getvalue()


def keras_config(data: bytes) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("config.json"))
    return config


def keras_with_layer(layer: dict[str, Any]) -> bytes:
    """The real archive with one more layer in its config, as a hostile publisher would add it."""
    data = keras_archive()
    config = keras_config(data)
    config["config"]["layers"].append(layer)
    return rebuild_zip(data, {"config.json": json.dumps(config).encode()})


def keras_with_loss(loss: object) -> bytes:
    data = keras_archive()
    config = keras_config(data)
    config["compile_config"]["loss"] = loss
    return rebuild_zip(data, {"config.json": json.dumps(config).encode()})


def edit_h5(data: bytes, edit: Callable[[h5py.File], None]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.h5"
        path.write_bytes(data)
        with h5py.File(path, "r+") as f:
            edit(f)
        return path.read_bytes()


def keras_weights() -> bytes:
    return zipfile.ZipFile(io.BytesIO(keras_archive())).read("model.weights.h5")


def keras_with_weights(edit: Callable[[h5py.File], None]) -> bytes:
    """The real archive whose model.weights.h5 was edited with h5py."""
    return rebuild_zip(keras_archive(), {"model.weights.h5": edit_h5(keras_weights(), edit)})


def external_link(f: h5py.File) -> None:
    f["layers/dense/vars/2"] = h5py.ExternalLink("/etc/passwd", "/")


def external_storage(f: h5py.File) -> None:
    f.create_dataset("layers/dense/vars/2", shape=(64,), dtype="u1", external=[("/etc/passwd", 0, 64)])


def virtual_dataset(f: h5py.File) -> None:
    layout = h5py.VirtualLayout(shape=(4,), dtype="f4")
    layout[:] = h5py.VirtualSource("/srv/other.h5", "w", shape=(4,))
    f.create_virtual_dataset("layers/dense/vars/2", layout)


def huge_declared(f: h5py.File) -> None:
    f.create_dataset("layers/dense/vars/2", shape=(1 << 40,), dtype="f4", chunks=(1 << 16,))


def deep_attribute(f: h5py.File) -> None:
    f.attrs["model_config"] = "[" * 100_000 + "]" * 100_000


def zip_bomb_member(data: bytes, name: str, size: int) -> bytes:
    """The archive plus one deflated member of `size` zero bytes (it packs a thousandfold)."""
    buf = io.BytesIO(data)
    with zipfile.ZipFile(buf, "a", zipfile.ZIP_DEFLATED) as z, z.open(name, "w", force_zip64=True) as member:
        block = bytes(1 << 20)
        for _ in range(size >> 20):
            member.write(block)
    return buf.getvalue()


def npy_declaring(shape: tuple[int, ...]) -> bytes:
    """A .npy header that declares `shape` of float32, followed by 16 bytes."""
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}".encode("latin1")
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + bytes(16)


def h5_file(edit: Callable[[h5py.File], None]) -> bytes:
    """A plain weights file written by h5py, then edited."""
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_dataset("dense/kernel", data=np.ones((2, 2), np.float32))
        edit(f)
    return buf.getvalue()


def gguf_model(
    template: str = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}",
    blocks: int = 2,
    block_count: int | None = None,
    bos: int = 1,
    embedding_length: int | None = None,
    heads: int = 2,
    int_scores: bool = False,
) -> bytes:
    """A small llama-architecture GGUF written by the gguf package, with the metadata llama.cpp reads."""
    import gguf

    tokens = ["<unk>", "<s>", "</s>", "a", "b", "c", "d", "e"]
    width = 32
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.gguf"
        w = gguf.GGUFWriter(str(path), "llama")
        w.add_context_length(128)
        w.add_block_count(blocks if block_count is None else block_count)
        w.add_embedding_length(width if embedding_length is None else embedding_length)
        w.add_head_count(heads)
        w.add_head_count_kv(1)
        w.add_tokenizer_model("llama")
        w.add_token_list(tokens)
        if int_scores:
            w.add_key_value("tokenizer.ggml.scores", list(range(len(tokens))), gguf.GGUFValueType.ARRAY,
                            gguf.GGUFValueType.INT32)  # fmt: skip
        else:
            w.add_token_scores([0.0] * len(tokens))
        w.add_token_types([1] * len(tokens))
        w.add_bos_token_id(bos)
        w.add_eos_token_id(2)
        w.add_chat_template(template)
        w.add_tensor("token_embd.weight", np.ones((len(tokens), width), dtype=np.float32))
        for b in range(blocks):
            w.add_tensor(f"blk.{b}.attn_norm.weight", np.ones((width,), dtype=np.float32))
        w.add_tensor("output_norm.weight", np.ones((width,), dtype=np.float32))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return path.read_bytes()


def load_gguf(data: bytes) -> None:
    """The reference reader: gguf's GGUFReader, and its chat template rendered as transformers does."""
    import gguf

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.gguf"
        path.write_bytes(data)
        reader = gguf.GGUFReader(str(path))
        field = reader.fields["tokenizer.chat_template"]
        render_template(bytes(field.parts[field.data[0]]).decode())


def render_template(template: str) -> str:
    """Render a chat template the way transformers' apply_chat_template does (its sandboxed compiler)."""
    from transformers.utils.chat_template_utils import _compile_jinja_template

    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"}]  # fmt: skip
    return str(_compile_jinja_template(template).render(
        messages=messages, add_generation_prompt=True, bos_token="<s>", eos_token="</s>", tools=None
    ))  # fmt: skip


_SAVEDMODEL_SCRIPT = """
import pathlib, sys
import tensorflow as tf

out = pathlib.Path(sys.argv[1])

def model(kind):
    class Model(tf.Module):
        def __init__(self):
            self.w = tf.Variable(tf.ones((4, 2)))

        @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32)])
        def __call__(self, x):
            y = tf.nn.relu(tf.matmul(x, self.w))
            if kind == "read_file":
                y = y + tf.cast(tf.strings.length(tf.io.read_file("/etc/passwd")), tf.float32) * 0.0
            elif kind == "write_file":
                tf.io.write_file("/tmp/vault-pwned", "x")
            elif kind == "py_function":
                y = tf.py_function(lambda t: t, [y], tf.float32)
            elif kind == "save_in_serving":
                tf.raw_ops.SaveV2(prefix="/tmp/vault-pwned", tensor_names=["w"], shape_and_slices=[""],
                                  tensors=[self.w.read_value()])
            return y
    return Model()

for kind in sys.argv[2:]:
    if kind.startswith("keras_"):  # what Keras 3 exports for serving (model.export), with TensorFlow
        import keras
        L = keras.layers
        layers = {"keras_lstm": [L.LSTM(4), L.Dense(2)],
                  "keras_gru_gelu": [L.GRU(4), L.Dense(2, activation="gelu")],
                  "keras_cnn": [L.Conv2D(2, 3), L.MaxPooling2D(), L.Flatten(), L.BatchNormalization(),
                                L.Dense(2, activation="softmax")]}
        shape = (8, 8, 1) if kind == "keras_cnn" else (5, 3)
        keras.Sequential([keras.Input(shape), *layers[kind]]).export(str(out / kind), verbose=False)
        continue
    tf.saved_model.save(model(kind), str(out / kind))
# The reference reader: TensorFlow loads the benign one back and runs its signature.
loaded = tf.saved_model.load(str(out / "plain"))
(out / "plain.loaded").write_text(str(loaded(tf.ones((1, 4))).numpy().tolist()))
"""
SAVEDMODEL_KINDS = (
    "plain",
    "read_file",
    "write_file",
    "py_function",
    "save_in_serving",
    "keras_lstm",
    "keras_gru_gelu",
    "keras_cnn",
)


@functools.cache
def _tf_saved_models() -> dict[str, dict[str, bytes]]:
    """Every SavedModel the tests use, written by TensorFlow in one child (TF and torch share no process)."""
    import subprocess
    import sys

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "CUDA_VISIBLE_DEVICES": "",
            "KERAS_BACKEND": "tensorflow",
        }
        script = [sys.executable, "-c", _SAVEDMODEL_SCRIPT, tmp, *SAVEDMODEL_KINDS]
        subprocess.run(script, check=True, env=env, capture_output=True)
        made = {
            kind: {p.relative_to(out / kind).as_posix(): p.read_bytes()
                   for p in sorted((out / kind).rglob("*")) if p.is_file()}
            for kind in SAVEDMODEL_KINDS
        }  # fmt: skip
        made["plain.loaded"] = {"output": (out / "plain.loaded").read_bytes()}
        return made


def tf_saved_model(kind: str = "plain") -> dict[str, bytes]:
    """A SavedModel directory written by TensorFlow."""
    return _tf_saved_models()[kind]


def saved_model_output() -> list[list[float]]:
    """What TensorFlow computed when it loaded the plain SavedModel back and ran it."""
    result: list[list[float]] = json.loads(_tf_saved_models()["plain.loaded"]["output"])
    return result


def torch_saved(obj: object, legacy: bool = False, protocol: int = 2) -> bytes:
    """What torch.save writes for `obj` (its zip format, or the legacy one)."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf, pickle_protocol=protocol, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


def torch_load(data: bytes) -> object:
    """torch.load(weights_only=True), with numpy arrays admitted through torch's documented safe globals."""
    import torch

    arrays = [
        np._core.multiarray._reconstruct,
        np.ndarray,
        np.dtype,
        np.dtypes.Int64DType,
        np.dtypes.Float32DType,
    ]
    with torch.serialization.safe_globals(arrays):
        return torch.load(io.BytesIO(data), weights_only=True)


def joblib_dumped(obj: object, compress: int = 0) -> bytes:
    import joblib

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.joblib"
        joblib.dump(obj, path, compress=compress)
        return path.read_bytes()


def joblib_load(data: bytes) -> object:
    import joblib

    return joblib.load(io.BytesIO(data))


def joblib_zfile(pickled: bytes) -> bytes:
    """joblib's legacy compressed pickle, which joblib.load still reads: "ZF", the hex length, zlib."""
    import zlib

    return b"ZF" + hex(len(pickled)).encode().ljust(19) + zlib.compress(pickled)


def two_streams(codec: str) -> bytes:
    """A protocol-0 pickle of os.system cut in two, each half its own stream of `codec`.

    The first stream alone is harmless text; joblib.load and pickle.load over the
    decompressor read both streams and run the call.
    """
    import bz2
    import gzip
    import lzma

    first, second = b"cposix\nsystem\n(S'echo pwned'\n", b"tR."
    compress = {"bz2": bz2.compress, "xz": lzma.compress, "gzip": lambda d: gzip.compress(d, mtime=0)}[codec]
    return compress(first) + compress(second)


def _zip_with(names: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in names:
            z.writestr(name, data)
    return buf.getvalue()


def nul_named_torch_zip() -> bytes:
    """`data.pkl\\0` (benign, what Python's zipfile reads) and `DATA.PKL` (what torch's miniz reads)."""
    import pickle

    from tests.contentcorpus import evil_pickle

    made = _zip_with([("sd/data.pklX", pickle.dumps({"w": 1}, protocol=2)), ("sd/DATA.PKL", evil_pickle(2)),
                      ("sd/version", b"3\n")])  # fmt: skip
    return made.replace(b"sd/data.pklX", b"sd/data.pkl\0")  # zipfile will not write the NUL itself


def case_twin_torch_zip() -> bytes:
    import pickle

    from tests.contentcorpus import evil_pickle

    return _zip_with([("sd/data.pkl", pickle.dumps({"w": 1}, protocol=2)), ("sd/DATA.PKL", evil_pickle(2))])


def gguf_nul_key() -> bytes:
    """A real GGUF whose bos token id sits under a key ending in NUL (llama.cpp's strcmp reads it whole)."""
    import gguf

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.gguf"
        w = gguf.GGUFWriter(str(path), "llama")
        w.add_token_list(["<unk>", "<s>", "</s>"])
        w.add_uint32("tokenizer.ggml.bos_token_id\0", 4_000_000_000)
        w.add_tensor("token_embd.weight", np.ones((3, 32), dtype=np.float32))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return path.read_bytes()


def keras_config_bytes(layer: dict[str, Any]) -> bytes:
    """config.json of the real model with one more layer, as a Keras folder would hold it."""
    config = keras_config(keras_archive())
    config["config"]["layers"].append(layer)
    return json.dumps(config).encode()


def npy_that_is_a_tar(pickled: bytes) -> bytes:
    """A .npy numpy loads as an array whose bytes are also an old-style (no `ustar`) tar.

    torch.load's legacy reader opens it with tarfile and unpickles its `storages` member.
    The npy header fills the tar name field, its padding the mode/uid/gid fields (blanks to
    tarfile); the array's data is the rest of the tar.
    """
    import tarfile

    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("storages")
        info.size = len(pickled)
        tar.addfile(info, io.BytesIO(pickled))
    payload = inner.getvalue()
    header = f"{{'descr': '|u1', 'fortran_order': False, 'shape': ({512 + len(payload) - 128},), }}".encode()
    block = bytearray(512)
    prefix = b"\x93NUMPY\x01\x00" + (118).to_bytes(2, "little") + header.ljust(117) + b"\n"
    block[: len(prefix)] = prefix
    block[128:136] = b"0000000\x00"  # the end of the size field: a member of no bytes
    block[136:148] = b"00000000000\x00"
    block[156:157] = b"0"
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)
    made = bytes(block) + payload
    assert np.load(io.BytesIO(made)).shape == (512 + len(payload) - 128,)
    return made


def lzma_alone(pickled: bytes) -> bytes:
    """What joblib.dump(obj, compress=("lzma", 3)) writes: LZMA "alone" format."""
    import lzma

    return lzma.compress(pickled, format=lzma.FORMAT_ALONE, preset=3)
