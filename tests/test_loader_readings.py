"""Files judged as their loaders read them: real Keras, HDF5, torch, joblib, GGUF and ONNX files.

Each hostile file is a real file written by its library with the one change
that makes its loader run code or read the host; each benign one is what the
library writes for an ordinary model, and loads with that library. Hostile
files are refused in both modes, with the same reason, by `verify` and
`import`, changing nothing (tests/test_hostile_corpus.py `refused`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests import contentcorpus as cc
from tests import realfiles as rf
from tests.conftest import KeyPair, run_json
from tests.forge import forge_bundle
from tests.test_hostile_corpus import refused

Files = Callable[[], dict[str, bytes]]

TFSM = {
    "module": "keras.layers",
    "class_name": "TFSMLayer",
    "registered_name": None,
    "config": {"name": "outside", "filepath": "/srv/models/other", "call_endpoint": "serve"},
}
LOOKUP = {
    "module": "keras.layers",
    "class_name": "StringLookup",
    "registered_name": None,
    "config": {"name": "lookup", "vocabulary": "/etc/passwd", "mask_token": None},
}
VECTORIZE = {
    "module": "keras.layers",
    "class_name": "TextVectorization",
    "registered_name": None,
    "config": {"name": "vec", "vocabulary": "/home/user/.ssh/id_rsa"},
}

# (label, files, the reason given in both modes)
HOSTILE: list[tuple[str, Files, str]] = [
    ("keras TFSMLayer loading an outside SavedModel", lambda: {"model.keras": rf.keras_with_layer(TFSM)},
     "TFSMLayer (it loads a model from outside the file)"),
    ("keras StringLookup vocabulary at a host path", lambda: {"model.keras": rf.keras_with_layer(LOOKUP)},
     "the path '/etc/passwd' (the layer reads it from the host)"),
    ("keras TextVectorization vocabulary at a host path",
     lambda: {"model.keras": rf.keras_with_layer(VECTORIZE)}, "reads it from the host"),
    ("keras loss naming a dotted function",
     lambda: {"model.keras": rf.keras_with_loss({"module": "builtins", "class_name": "function",
                                                 "config": "os.system", "registered_name": "function"})},
     "a function object (it runs code on load)"),
    ("keras loss from a module outside keras",
     lambda: {"model.keras": rf.keras_with_loss({"module": "subprocess", "class_name": "function",
                                                 "config": "run", "registered_name": "run"})},
     "a function object"),
    ("keras weights with an external link", lambda: {"model.keras": rf.keras_with_weights(rf.external_link)},
     "model.keras:model.weights.h5: HDF5 external link"),
    ("keras weights stored in a host file",
     lambda: {"model.keras": rf.keras_with_weights(rf.external_storage)},
     "is stored in outside files ['/etc/passwd']"),
    ("keras weights with a virtual dataset",
     lambda: {"model.keras": rf.keras_with_weights(rf.virtual_dataset)}, "is virtual"),
    ("keras weights declaring 4 TiB", lambda: {"model.keras": rf.keras_with_weights(rf.huge_declared)},
     "declares 4398046511104 bytes but stores 0"),
    ("keras weights npz declaring 4 TiB",
     lambda: {"model.keras": rf.rebuild_zip(rf.keras_archive(),
                                            {"model.weights.npz": rf.npy_declaring((1 << 40,))})},
     "model.keras:model.weights.npz"),
    ("keras archive with a member inflating to 512 MiB",
     lambda: {"model.keras": rf.zip_bomb_member(rf.keras_archive(), "assets/blob", 512 << 20)},
     "(a zip bomb)"),
    ("keras archive hiding a pickle",
     lambda: {"model.keras": rf.rebuild_zip(rf.keras_archive(), {"assets/state.pkl": cc.evil_pickle()})},
     "not on the allow-list"),
    ("keras weights with a config nested 100000 deep",
     lambda: {"model.keras": rf.keras_with_weights(rf.deep_attribute)}, "nested too deeply to check"),
    ("h5 with an external link", lambda: {"model.h5": rf.h5_file(rf.external_link)}, "HDF5 external link"),
    ("h5 stored in a host file, named .bin", lambda: {"tf_model.bin": rf.h5_file(rf.external_storage)},
     "stored in outside files"),
    ("h5 with a virtual dataset", lambda: {"weights.h5": rf.h5_file(rf.virtual_dataset)}, "is virtual"),
    ("h5 declaring 4 TiB", lambda: {"weights.h5": rf.h5_file(rf.huge_declared)}, "declares 4398046511104"),
]  # fmt: skip

# (label, files, the reference reader that loads it)
BENIGN: list[tuple[str, Files, Callable[[dict[str, bytes]], None]]] = [
    ("keras archive of a compiled model (builtins loss and metric)",
     lambda: {"model.keras": rf.keras_archive()}, lambda f: rf.load_keras(f["model.keras"], ".keras")),
    ("keras legacy h5", lambda: {"model.h5": rf.keras_h5()}, lambda f: rf.load_keras(f["model.h5"], ".h5")),
]  # fmt: skip


@pytest.mark.parametrize(("label", "files", "reason"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_files_are_refused_for_the_same_reason_in_both_modes(
    gap: Path, keypair: KeyPair, tmp_path: Path, label: str, files: Files, reason: str
) -> None:
    bundle = forge_bundle(tmp_path / "w.vault", keypair.private, {"config.json": b"{}", **files()})
    refused(gap, bundle, reason)
    refused(gap, bundle, reason, "--allow-pickle")


@pytest.mark.parametrize(("label", "files", "load"), BENIGN, ids=[b[0] for b in BENIGN])
def test_benign_files_load_and_are_admitted(
    gap: Path, keypair: KeyPair, tmp_path: Path, label: str, files: Files, load: Callable
) -> None:
    made = files()
    load(made)
    bundle = forge_bundle(tmp_path / "ok.vault", keypair.private, {"config.json": b"{}", **made})
    assert run_json("verify", bundle, home=gap)["status"] == "verified"
    assert run_json("import", bundle, home=gap)["status"] == "imported"
