"""Weights judged by their bytes: a corpus per format, refused or admitted as docs/threat-model.md says.

Every hostile file is refused in both modes (default and --allow-pickle) by
`verify` and `import`, with one line, leaving the home byte-identical; every
benign one loads with its format's reference reader and is admitted (pickle
kinds only with --allow-pickle). Names never waive a check.
"""

from __future__ import annotations

import bz2
import lzma
import pickle
import random
import zlib
from pathlib import Path

import numpy as np
import pytest

from tests import contentcorpus as cc
from tests.conftest import KeyPair, make_home, run, run_json, snapshot
from tests.forge import forge_bundle
from tests.hubserver import FakeHub
from tests.test_hostile_corpus import refused, refused_in_both_modes

EVIL = "not on the allow-list"
DEFAULT_REFUSAL = "refused by default"
UNKNOWN = bytes(random.Random(7).randrange(256) for _ in range(4096))
ZEROS_NPZ = cc.npz(a=cc.npy(np.zeros(3)))

# (label, files, the reason given in both modes: the default and --allow-pickle)
HOSTILE: list[tuple[str, dict[str, bytes], str]] = [
    ("pickle named .joblib", {"model.joblib": cc.evil_pickle()}, EVIL),
    ("torch zip named .pth.tar", {"model.pth.tar": cc.torch_zip(cc.evil_pickle(2))}, EVIL),
    ("pickle named .dat", {"weights.dat": cc.evil_pickle()}, EVIL),
    ("torch zip named .pt2", {"model.pt2": cc.torch_zip(cc.evil_pickle(2))}, EVIL),
    ("torch zip named .ot", {"rust_model.ot": cc.torch_zip(cc.evil_pickle(2))}, EVIL),
    ("protocol-0 pickle, no extension", {"weights": cc.evil_pickle(0)}, EVIL),
    ("protocol-1 pickle", {"weights.data": cc.evil_pickle(1)}, EVIL),
    ("pickle posing as safetensors", {"model.safetensors": cc.evil_pickle()}, "safetensors"),
    ("pickle posing as gguf", {"model.gguf": cc.evil_pickle()}, "magic GGUF"),
    ("npy object array", {"arr.npy": cc.npy_object_evil()}, EVIL),
    ("npz with an object array", {"arr.npz": cc.npz(a=cc.npy_object_evil())}, EVIL),
    ("object array named .bin", {"arr.bin": cc.npy_object_evil()}, EVIL),
    ("npy header with an extra key",
     {"arr.npy": cc.npy_header_literal("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}")},
     "exactly the keys"),
    ("npy header that is code",
     {"arr.npy": cc.npy_header_literal("{'descr': __import__('os'), 'fortran_order': False, 'shape': (4,)}")},
     "a Python dict literal"),
    ("npy data shorter than its shape", {"arr.npy": cc.npy(np.zeros(8, np.float32))[:-4]}, "needs"),
    ("keras h5 with a Lambda layer", {"model.h5": cc.h5(cc.LAMBDA_KERAS)}, "Lambda"),
    ("keras h5 named .bin", {"tf_model.bin": cc.h5(cc.LAMBDA_KERAS)}, "Lambda"),
    ("keras archive with a Lambda layer", {"model.keras": cc.keras_zip(cc.LAMBDA_KERAS)}, "Lambda"),
    ("keras archive importing a module", {"model.keras": cc.keras_zip(cc.MODULE_KERAS)}, "module 'os'"),
    ("onnx external data up the tree", {"model.onnx": cc.onnx_model("../../../etc/passwd")},
     "outside the model"),
    ("onnx external data at an absolute path", {"model.onnx": cc.onnx_model("/etc/passwd")},
     "outside the model"),
    ("onnx external data in a subgraph", {"model.onnx": cc.onnx_model("../w.data", nested=True)},
     "outside the model"),
    ("onnx external data not signed", {"model.onnx": cc.onnx_model("missing.data")},
     "is not a file signed in"),
    ("onnx with no extension", {"model": cc.onnx_model("/proc/self/environ")},
     "outside the model"),
    ("onnx external data at onnxruntime's memory-address form, file shipped",
     {"onnx/model.onnx": cc.onnx_model("_ORT_MEM_ADDR_/0x7f0000000000"),
      "onnx/_ORT_MEM_ADDR_/0x7f0000000000": np.arange(4, dtype=np.float32).tobytes()},
     "in-memory address form"),
    ("bytes named .onnx that are not", {"model.onnx": b"\x08\x07\xff\xff\xff"}, "ONNX"),
    ("gguf tensor count beyond the file", {"m.gguf": cc.gguf_file(n_tensors=2**40)}, "tensors"),
    ("gguf string length past the end", {"m.gguf": cc.gguf_file(kv=[("k", 8, cc.u64(2**40))])},
     "bytes left"),
    ("gguf tensor past the end", {"m.gguf": cc.gguf_file(tensors=[("w", [32], 0, 4096)])},
     "of the data section"),
    ("gguf unknown tensor type", {"m.gguf": cc.gguf_file(tensors=[("w", [32], 4, 0)])},
     "known ggml type"),
    ("gguf unknown value type", {"m.gguf": cc.gguf_file(kv=[("k", 13, cc.u32(1))])},
     "value type"),
    ("gguf misaligned tensor", {"m.gguf": cc.gguf_file(tensors=[("w", [32], 0, 8)])}, "aligned"),
    ("gguf version 1", {"m.gguf": cc.gguf_file(version=1)}, "version 2 or 3"),
    ("gguf five dimensions", {"m.gguf": cc.gguf_file(tensors=[("w", [1, 1, 1, 1, 32], 0, 0)])},
     "dimensions"),
    ("gguf overlapping tensors", {"m.gguf": cc.gguf_file(tensors=[("w", [32], 0, 0), ("v", [32], 0, 64)])},
     "overlaps"),
    ("gguf with no extension", {"model": cc.gguf_file(n_tensors=2**40)}, "tensors"),
    ("zip with the encrypted flag", {"model.pt": cc.encrypted_zip()}, "encrypted"),
    ("zip member failing its CRC", {"model.pt": cc.crc_mismatch_zip()}, "CRC"),
    ("zip names that differ", {"model.pt": cc.name_mismatch_zip()}, "differ"),
    ("zip with a broken deflate stream", {"model.keras": cc.corrupt_deflate_zip()}, "zip member"),
    ("pickle that starts like a GIF", {"card.gif": cc.gif_pickle_polyglot()}, EVIL),
    ("keras archive appended to a PNG", {"card.png": cc.png() + cc.keras_zip(cc.LAMBDA_KERAS)},
     "readers disagree on where its members are"),
    ("unknown binary", {"flax_model.msgpack": UNKNOWN}, "no format vault can check"),
    # A pickle followed by anything: pickle.load, joblib.load, np.load(allow_pickle=True) and
    # torch.load read from byte 0, stop at STOP and ignore the rest (issue 24).
    ("protocol-0 pickle followed by a line of text", {"notes.txt": cc.evil_pickle(0) + b"\nhello\n"}, EVIL),
    ("protocol-0 pickle followed by a real npz", {"arrs.npz": cc.evil_pickle(0) + ZEROS_NPZ}, EVIL),
    ("protocol-1 pickle followed by a torch zip",
     {"weights.data": cc.evil_pickle(1) + cc.torch_zip(pickle.dumps({"w": 1}, protocol=2))}, EVIL),
    ("protocol-4 pickle followed by a real npz", {"arrs.npz": cc.evil_pickle(4) + ZEROS_NPZ}, EVIL),
    ("all-ASCII protocol-0 pickle named like text", {"vocab.txt": cc.evil_pickle(0)}, EVIL),
    # Compressed and archived pickles are opened and judged, as joblib, torch and NeMo open them.
    ("zlib-compressed pickle (joblib)", {"weights.z": zlib.compress(cc.evil_pickle())}, EVIL),
    ("gzip-compressed pickle (joblib)", {"state.gz": cc.gzip_of(cc.evil_pickle())}, EVIL),
    ("bz2-compressed pickle (joblib)", {"state.bz2": bz2.compress(cc.evil_pickle())}, EVIL),
    ("xz-compressed pickle (joblib)", {"state.xz": lzma.compress(cc.evil_pickle())}, EVIL),
    ("tar.gz of a pickle", {"release.tar.gz": cc.gzip_of(cc.tar_of({"model.data": cc.evil_pickle(0)}))},
     EVIL),
    ("legacy torch tar", {"model.pt.tar": cc.tar_of({"pickle": cc.evil_pickle(2), "storages": b"\0" * 8})},
     EVIL),
    (".nemo tar with a checkpoint and its Hydra YAML",
     {"model.nemo": cc.tar_of({"model_config.yaml": b"target: x\n",
                               "model_weights.ckpt": cc.torch_zip(cc.evil_pickle(2))})}, EVIL),
    ("tar with a symlink member", {"bundle.tar": cc.tar_of({"a.txt": b"a"}, symlink="evil")},
     "is not a regular file"),
    ("gzip that expands past the bound", {"big.gz": cc.gzip_of(bytes(65 << 20))}, "too large to judge"),
    # Nesting past Python's stack is a refusal naming the file (exit 1), not an unexpected error (5).
    ("keras config nested 100000 deep", {"model.keras": cc.keras_zip("[" * 100_000 + "]" * 100_000)},
     "model.keras: nested too deeply to check"),
    ("keras config of dicts nested 100000 deep",
     {"model.keras": cc.keras_zip('{"a":' * 100_000 + "1" + "}" * 100_000)},
     "nested too deeply to check"),
]  # fmt: skip

# (label, files, admitted without --allow-pickle)
BENIGN: list[tuple[str, dict[str, bytes], bool]] = [
    ("safetensors", {"model.safetensors": cc.safetensors_file()}, True),
    ("numpy array", {"arr.npy": cc.npy(np.arange(12, dtype=np.int16).reshape(3, 4))}, True),
    ("structured numpy array", {"rec.npy": cc.npy(np.zeros(3, dtype=[("x", "<f4"), ("y", "<i8", (2,))]))},
     True),
    ("npz", {"arrs.npz": cc.npz(a=cc.npy(np.zeros(3)), b=cc.npy(np.ones((2, 2), np.float16)))}, True),
    ("keras h5 of plain layers", {"model.h5": cc.h5(cc.PLAIN_KERAS)}, True),
    ("weights-only h5", {"weights.h5": cc.h5(None)}, True),
    ("keras archive of plain layers", {"model.keras": cc.keras_zip(cc.PLAIN_KERAS)}, True),
    ("onnx, weights inline", {"model.onnx": cc.onnx_model()}, True),
    ("onnx with signed external data", {"onnx/model.onnx": cc.onnx_model("model.data"),
                                        "onnx/model.data": np.arange(4, dtype=np.float32).tobytes()}, True),
    ("gguf from its writer", {"m.gguf": cc.gguf_written()}, True),
    ("gguf built by hand", {"m.gguf": cc.gguf_file()}, True),
    ("text files", {"README.md": b"# model\n", "tokenizer.json": b'{"a": 1}',
                    "vocab.txt": "\u00fcn\n".encode(), "merges.txt": b"a b\r\n"}, True),
    # Opcode letters that a pickle stack would refuse are text (pickletools.dis checks it as pickle.load).
    ("text made of opcode letters", {"NOTES.md": b"Notes.\nmore\n", "words.txt": b"cat\ndog\nbird\n."}, True),
    ("sentencepiece tokenizer.model", {"tokenizer.model": cc.sentencepiece_model()}, True),
    ("image in the model card", {"assets/card.png": cc.png()}, True),
    ("torch zip checkpoint (real torch.save)", {"pytorch_model.bin": cc.fixture("torch-zip.pt")}, False),
    ("legacy torch checkpoint (real torch.save)", {"model.pt": cc.fixture("torch-legacy.pt")}, False),
    ("torch training checkpoint", {"ckpt.pth": cc.fixture("torch-checkpoint.pth")}, False),
    ("numpy 2.x pickle of an array", {"arr.pkl": cc.benign_pickle()}, False),
    ("protocol-0 pickle with no extension", {"state": pickle.dumps({"w": [1.0, 2.0]}, protocol=0)}, False),
    ("protocol-0 pickle followed by text", {"state": pickle.dumps({"w": [1.0]}, protocol=0) + b"# notes\n"},
     False),
    ("gzip of text", {"notes.txt.gz": cc.gzip_of(b"plain notes\n")}, True),
    ("tar of safetensors and YAML", {"model.tar": cc.tar_of({"w.safetensors": cc.safetensors_file(),
                                                              "config.yaml": b"a: 1\n"})}, True),
    ("zlib-compressed benign pickle (joblib)", {"arr.z": zlib.compress(cc.benign_pickle())}, False),
    # What torch.load(weights_only=True) admits: bytes through _codecs.encode, sets, bytearrays.
    ("protocol-2 pickle of bytes, a set and a bytearray",
     {"state.data": pickle.dumps({"b": b"\x00\xff", "s": {1, 2}, "f": frozenset({3}), "a": bytearray(b"x")},
                                 protocol=2)}, False),
]  # fmt: skip


@pytest.mark.parametrize(("label", "files", "reason"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_content_is_refused_for_the_same_reason_in_both_modes(
    gap: Path, keypair: KeyPair, tmp_path: Path, label: str, files: dict, reason: str
) -> None:
    bundle = forge_bundle(tmp_path / "w.vault", keypair.private, {"config.json": b"{}", **files})
    refused_in_both_modes(gap, bundle, reason)


@pytest.mark.parametrize(("label", "files", "plain"), BENIGN, ids=[b[0] for b in BENIGN])
def test_benign_content_is_admitted(
    gap: Path, keypair: KeyPair, tmp_path: Path, label: str, files: dict, plain: bool
) -> None:
    for name, data in files.items():
        cc.load_with_reference(name, data)
    bundle = forge_bundle(tmp_path / "ok.vault", keypair.private, {"config.json": b"{}", **files})
    flags: list[str] = []
    if not plain:
        refused(gap, bundle, DEFAULT_REFUSAL)
        flags = ["--allow-pickle"]
    assert run_json("verify", bundle, *flags, home=gap)["status"] == "verified"
    assert run_json("import", bundle, *flags, home=gap)["status"] == "imported"
    assert {f["path"] for f in run_json("provenance", "acme/tiny", home=gap)["files"]} == {
        "config.json",
        *files,
    }


def test_unknown_binary_needs_its_own_override_which_is_audited(
    gap: Path, keypair: KeyPair, tmp_path: Path
) -> None:
    bundle = forge_bundle(tmp_path / "u.vault", keypair.private, {"flax_model.msgpack": UNKNOWN})
    # The refusal never suggests a flag that admits what vault cannot judge (it may run code).
    refused(gap, bundle, "vault cannot tell what it does when loaded", "--allow-pickle")
    for command in ("verify", "import"):
        assert "--allow" not in run(command, bundle, home=gap, code=1).stderr
    run("import", bundle, "--allow-unknown-format", home=gap)
    event = next(e for e in run_json("audit", home=gap)["events"] if e["action"] == "import")
    assert event["detail"]["allow_unknown_format"] is True
    assert event["detail"]["unknown_format_files"] == [f"acme/tiny@{'c' * 40}:flax_model.msgpack"]


@pytest.mark.parametrize(
    ("files", "expect"),
    [
        ({"weights.dat": cc.evil_pickle()}, EVIL),
        ({"model.onnx": cc.onnx_model("../../etc/passwd")}, "outside the model"),
        ({"m.gguf": cc.gguf_file(tensors=[("w", [32], 0, 4096)])}, "of the data section"),
        ({"model.h5": cc.h5(cc.LAMBDA_KERAS)}, "Lambda"),
        ({"flax_model.msgpack": UNKNOWN}, "no format vault can check"),
    ],
    ids=["pickle .dat", "onnx traversal", "gguf past the end", "keras lambda", "unknown binary"],
)
def test_connected_side_runs_the_same_checks(tmp_path: Path, files: dict, expect: str) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    home = tmp_path / "h"
    make_home(home)
    for flags in ([], ["--allow-pickle"]):
        before = snapshot(home)
        res = run("add", folder, "--repo", "acme/tiny", *flags, home=home, code=1)
        assert expect in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert snapshot(home) == before


def test_connected_side_admits_onnx_with_its_external_data(tmp_path: Path) -> None:
    folder = tmp_path / "model" / "onnx"
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(cc.onnx_model("model.data"))
    (folder / "model.data").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    out = run_json("add", tmp_path / "model", "--repo", "acme/tiny", home=tmp_path / "h")
    assert out["files"] == 2


def test_pull_runs_the_same_checks(tmp_path: Path) -> None:
    hub = FakeHub()
    hub.add_commit("acme/evil", {"config.json": b"{}", "weights.dat": cc.evil_pickle()}, branch="main")
    hub.add_commit("acme/unknown", {"config.json": b"{}", "flax_model.msgpack": UNKNOWN}, branch="main")
    hub.start()
    try:
        home = tmp_path / "h"
        make_home(home)
        for repo, expect in (("acme/evil", EVIL), ("acme/unknown", "no format vault can check")):
            for flags in ([], ["--allow-pickle"]):
                before = snapshot(home)
                res = run("pull", repo, "--endpoint", hub.url, *flags, home=home, code=1)
                assert expect in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
                assert snapshot(home) == before
        out = run_json("pull", "acme/unknown", "--endpoint", hub.url, "--allow-unknown-format", home=home)
        assert out["status"] == "added"
    finally:
        hub.stop()


def test_a_pickle_refusal_names_the_dangerous_global(gap: Path, keypair: KeyPair, tmp_path: Path) -> None:
    """Not the alphabetically first stranger (abc.ABC) but what would run a command (os.system)."""
    import abc
    import os

    payload = pickle.dumps((abc.ABC, cc.Exec(os.system, "echo pwned")), protocol=2)
    files = {"config.json": b"{}", "state.data": payload}
    bundle = forge_bundle(tmp_path / "p.vault", keypair.private, files)
    system = f"{os.system.__module__}.system"  # posix.system on Linux
    refused(gap, bundle, f"imports {system}, which is not on the allow-list", "--allow-pickle")
