"""atheris harnesses: the bundle reader + verifier, the safetensors grammar, the pickle scanner,
and the content classifier with every format checker behind it.

A harness fails only on an exception that is not a VaultError (a crash or an
unhandled case); a clean refusal is the expected answer to garbage.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["vault"]):
    import vault._bundle.reader
    import vault._ops.importer  # noqa: F401 - instrumented for the bundle harness
    from vault._checks.content import Content, check_content
    from vault._checks.pickle_file import scan_pickle_file
    from vault._checks.safetensors_grammar import check_safetensors
    from vault.api import Vault
    from vault.errors import VaultError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _bundle_harness() -> tuple[object, list[bytes]]:
    """Verify arbitrary bytes as a bundle against a home that trusts the seed's key."""
    from click.testing import CliRunner

    from vault.cli import cli

    work = Path(tempfile.mkdtemp(prefix="vault-fuzz-"))
    model = work / "model"
    model.mkdir()
    (model / "config.json").write_text('{"a": 1}')
    (model / "vocab.txt").write_text("a\nb\n")
    runner = CliRunner()
    for args in (
        ["keygen", "-o", str(work / "k")],
        ["--home", str(work / "c"), "add", str(model), "--repo", "acme/fuzz"],
        ["--home", str(work / "c"), "sign", "acme/fuzz", "--key", str(work / "k.pem")],
        ["--home", str(work / "c"), "bundle", "acme/fuzz", "-o", str(work / "seed.vault")],
        ["--home", str(work / "g"), "trust", "add", "k", "--key", str(work / "k.pub.pem"), "--scope", "*"],
    ):
        assert runner.invoke(cli, args).exit_code == 0, args
    vault = Vault.open(work / "g", create=False)
    target = work / "input.vault"

    def one(data: bytes) -> None:
        target.write_bytes(data)
        with contextlib.suppress(VaultError):
            vault.verify_bundle(target)

    return one, [(work / "seed.vault").read_bytes()]


def _safetensors_harness() -> tuple[object, list[bytes]]:
    import numpy as np
    from safetensors.numpy import save

    def one(data: bytes) -> None:
        with contextlib.suppress(VaultError):
            check_safetensors("f.safetensors", data, len(data))

    return one, [save({"a": np.zeros((2, 3), np.float32), "b": np.ones(4, np.int8)})]


def _pickle_harness() -> tuple[object, list[bytes]]:
    import collections
    import pickle

    def one(data: bytes) -> None:
        with contextlib.suppress(VaultError):
            scan_pickle_file("f.pkl", io.BytesIO(data), len(data))

    return one, [pickle.dumps(collections.OrderedDict(a=[1.0]), protocol=p) for p in (2, 4)]


def _content_harness() -> tuple[object, list[bytes]]:
    """Any bytes through the classifier (GGUF, ONNX, NumPy, zip, HDF5 probe, pickle, text)."""
    sys.path.insert(0, str(ROOT))
    from tests import contentcorpus as cc

    def one(data: bytes) -> None:
        with contextlib.suppress(VaultError):
            check_content("f", Content(len(data), lambda: io.BytesIO(data)))

    seeds = [cc.gguf_written(), cc.onnx_model("w.data"), cc.npy(cc.np.arange(4)), cc.torch_zip(b"\x80\x02N."),
             cc.keras_zip(cc.PLAIN_KERAS), cc.benign_pickle()]  # fmt: skip
    return one, seeds


def main() -> None:
    target, corpus = sys.argv[1], Path(sys.argv[2])
    harnesses = {"bundle": _bundle_harness, "safetensors": _safetensors_harness, "pickle": _pickle_harness,
                 "content": _content_harness}  # fmt: skip
    one, seeds = harnesses[target]()
    for i, seed in enumerate(seeds):
        (corpus / f"seed-{i}").write_bytes(seed)
    atheris.Setup([sys.argv[0], str(corpus), *sys.argv[3:]], one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
