"""A corpus of hostile bundles and weight files, all generated here: each is refused with one
specific line and leaves the air-gapped home byte-identical."""

from __future__ import annotations

import collections
import gzip
import io
import json
import os
import pickle
import struct
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save

from tests import bundletools as bt
from tests.conftest import KeyPair, Transfer, run, run_json, snapshot
from tests.forge import forge_bundle

GOOD_WEIGHTS = save({"a": np.zeros((2, 2), np.float32), "b": np.ones(3, np.int64)})
F32x2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
DUPLICATE = b'{"w":' + json.dumps(F32x2).encode() + b',"w":' + json.dumps(F32x2).encode() + b"}"


def st(header: dict | bytes, data: bytes = b"\0" * 8, n: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if n is None else n) + raw + data


class Exec:
    """Pickles to a call of an arbitrary function: what a malicious checkpoint does."""

    def __init__(self, fn: object, *args: object) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> tuple:
        return self.fn, self.args


def torch_zip(pkl: bytes, name: str = "archive/data.pkl") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, pkl)
        z.writestr("archive/version", "3\n")
    return buf.getvalue()


# (label, files of the signed revision, --allow-pickle, expected message)
WEIGHTS: list[tuple[str, dict[str, bytes], bool, str]] = [
    ("header length over the limit", {"m.safetensors": st(b"{}", n=17 * 2**20)}, False, "exceeds the"),
    ("header length past EOF", {"m.safetensors": st(b'{"a":1}', b"", n=4096)}, False, "runs past the end"),
    ("file shorter than 8 bytes", {"m.safetensors": b"\x01\x02"}, False, "shorter than the 8-byte"),
    ("header not JSON", {"m.safetensors": st(b"{not json}")}, False, "not valid JSON"),
    ("header is a JSON array", {"m.safetensors": st(b"[1,2]")}, False, "not a JSON object"),
    ("header not UTF-8", {"m.safetensors": st(b'{"\xff":1}')}, False, "not valid JSON"),
    ("duplicate tensor names", {"m.safetensors": st(DUPLICATE)}, False, "duplicate key"),
    ("tensor named __metadata__", {"m.safetensors": save({"__metadata__": np.zeros(2, np.float32)},
                                                         metadata={"a": "b"})}, False, "duplicate key"),
    ("unknown dtype", {"m.safetensors": st({"w": {**F32x2, "dtype": "F128"}})}, False, "unknown dtype"),
    ("negative dimension", {"m.safetensors": st({"w": {**F32x2, "shape": [-2]}})}, False, "malformed shape"),
    ("float dimension", {"m.safetensors": st({"w": {**F32x2, "shape": [2.0]}})}, False, "malformed shape"),
    ("offsets reversed", {"m.safetensors": st({"w": {**F32x2, "data_offsets": [8, 0]}})}, False,
     "out of order"),
    ("span != shape x dtype", {"m.safetensors": st({"w": {**F32x2, "shape": [3]}})}, False, "shape x dtype"),
    ("overlapping tensors", {"m.safetensors": st({"w": F32x2, "v": {**F32x2, "data_offsets": [4, 12]}},
                                                 b"\0" * 12)}, False, "overlaps"),
    ("gap between tensors", {"m.safetensors": st({"w": F32x2, "v": {**F32x2, "data_offsets": [12, 20]}},
                                                 b"\0" * 20)}, False, "leaves a gap"),
    ("trailing unaccounted bytes", {"m.safetensors": st({"w": F32x2}, b"\0" * 64)}, False, "cover 8 bytes"),
    ("metadata not strings", {"m.safetensors": st({"__metadata__": {"a": 1}, "w": F32x2})}, False,
     "__metadata__ must map strings"),
    ("extra key in a tensor", {"m.safetensors": st({"w": {**F32x2, "exec": "x"}})}, False, "exactly dtype"),
    ("pickle refused by default", {"pytorch_model.bin": pickle.dumps({"w": [1.0]})}, False,
     "unpickles when loaded (it can run code) and is refused by default"),
    ("pickle calling os.system", {"evil.pkl": pickle.dumps(Exec(os.system, "id"), protocol=2)}, True,
     "imports posix.system"),
    ("pickle via STACK_GLOBAL", {"evil.pt": pickle.dumps(Exec(eval, "1"), protocol=4)}, True,
     "imports builtins.eval"),
    ("pickle INST opcode", {"evil.pkl": b"(S'id'\nios\nsystem\n."}, True, "opcode INST is not allowed"),
    ("zip checkpoint with evil data.pkl", {"evil.pth": torch_zip(pickle.dumps(Exec(exec, "0"), protocol=2))},
     True, "exec, which is not on the allow-list"),
    ("zip checkpoint without data.pkl", {"evil.ckpt": torch_zip(b"x", name="archive/other")}, True,
     "without a data.pkl"),
    ("second pickle hidden after STOP", {"x.pkl": pickle.dumps(1) + pickle.dumps(Exec(os.system, "id"))},
     True, "data after the end of the pickle"),
    ("garbage that is not a pickle", {"x.bin": b"\x80\x05garbage"}, True, "not a well-formed pickle"),
]  # fmt: skip


def refused_in_both_modes(home: Path, bundle: Path, reason: str) -> None:
    """The same one-line reason by default and with --allow-pickle: a flag never changes why."""
    refused(home, bundle, reason)
    refused(home, bundle, reason, "--allow-pickle")


def refused(home: Path, bundle: Path, expect: str, *flags: str, code: int = 1) -> None:
    before = snapshot(home)
    for command in ("verify", "import"):
        res = run(command, bundle, *flags, home=home, code=code)
        err = res.stderr.strip()
        assert err.startswith("vault: error: ") and "\n" not in err, err
        assert expect in err, err
    assert snapshot(home) == before


@pytest.mark.parametrize(("label", "files", "allow", "expect"), WEIGHTS, ids=[w[0] for w in WEIGHTS])
def test_hostile_weights(
    gap: Path, keypair: KeyPair, tmp_path: Path, label: str, files: dict, allow: bool, expect: str
) -> None:
    bundle = forge_bundle(tmp_path / "w.vault", keypair.private, {"config.json": b"{}", **files})
    refused(gap, bundle, expect, *(["--allow-pickle"] if allow else []))


def test_allowed_pickles_pass_the_scan(gap: Path, keypair: KeyPair, tmp_path: Path) -> None:
    benign = pickle.dumps(collections.OrderedDict(w=[1.0, 2.0]), protocol=2)
    files = {"model.safetensors": GOOD_WEIGHTS, "a.bin": benign, "b.pt": torch_zip(benign)}
    bundle = forge_bundle(tmp_path / "ok.vault", keypair.private, files)
    refused(gap, bundle, "a.bin: pickle content unpickles when loaded")
    run("import", bundle, "--allow-pickle", home=gap)
    imported = run_json("provenance", "acme/tiny", home=gap)["files"]
    assert {f["path"] for f in imported} == set(files)


def _entries_edit(edit: Callable[[bt.Entries], bt.Entries]) -> Callable[[Transfer, Path], Path]:
    return lambda t, tmp: bt.rewrite(t.bundle, tmp / "bad.vault", edit)


def _special(kind: bytes, name: str = "blobs/sha256/special") -> Callable[[bt.Entries], bt.Entries]:
    def edit(entries: bt.Entries) -> bt.Entries:
        info = tarfile.TarInfo(name)
        info.type = kind
        if kind == tarfile.LNKTYPE:
            info.linkname = "vault-bundle.json"
        return [*entries, (info, b"")]

    return edit


def _named(name: str) -> Callable[[bt.Entries], bt.Entries]:
    return lambda entries: [*entries, (bt.file_info(name, 1), b"x")]


def _longer_than_declared(entries: bt.Entries) -> bt.Entries:
    name = bt.blob_name_for(entries, "config.json")
    data = next(d for i, d in entries if i.name == name)
    return bt.replace_entry(entries, name, data + b" ")


def _index_not_first(entries: bt.Entries) -> bt.Entries:
    return [entries[1], entries[0], *entries[2:]]


def _index_edit(fn: Callable[[dict], None]) -> Callable[[bt.Entries], bt.Entries]:
    def edit(entries: bt.Entries) -> bt.Entries:
        index = bt.index_of(entries)
        fn(index)
        return bt.set_index(entries, index)

    return edit


def _blob_before_signatures(entries: bt.Entries) -> bt.Entries:
    return [entries[0], entries[-1], *entries[1:-1]]


def _gzip(t: Transfer, tmp: Path) -> Path:
    out = tmp / "bundle.vault"
    out.write_bytes(gzip.compress(t.bundle.read_bytes()))
    return out


def _empty(t: Transfer, tmp: Path) -> Path:
    out = tmp / "empty.vault"
    out.write_bytes(b"")
    return out


def _other_repo_provenance(t: Transfer, tmp: Path) -> Path:
    files = {"config.json": b"{}"}
    return forge_bundle(
        tmp / "x.vault", t.key.private, files, repo_id="acme/tiny", provenance_repo="acme/other"
    )


# (label, bundle maker, expected message)
CONTAINERS: list[tuple[str, Callable[[Transfer, Path], Path], str]] = [
    ("absolute path", _entries_edit(_named("/etc/cron.d/x")), "absolute path"),
    ("backslash in name", _entries_edit(_named("blobs\\sha256\\x")), "backslash"),
    ("control character in name", _entries_edit(_named("blobs/a\x07b")), "control character"),
    ("overlong component", _entries_edit(_named("blobs/" + "a" * 300)), "component too long"),
    ("non-NFC name", _entries_edit(_named("blobs/e\u0301")), "not Unicode NFC"),
    ("case collision", _entries_edit(_named("VAULT-BUNDLE.json")), "collides with 'vault-bundle.json'"),
    ("hard link", _entries_edit(_special(tarfile.LNKTYPE)), "is a hard link"),
    ("character device", _entries_edit(_special(tarfile.CHRTYPE)), "is a character device"),
    ("block device", _entries_edit(_special(tarfile.BLKTYPE)), "is a block device"),
    ("FIFO", _entries_edit(_special(tarfile.FIFOTYPE)), "is a FIFO"),
    ("directory entry", _entries_edit(_special(tarfile.DIRTYPE, "blobs/dir")), "is a directory"),
    ("entry larger than declared", _entries_edit(_longer_than_declared), "signed size is"),
    ("index not first", _entries_edit(_index_not_first), "first entry must be vault-bundle.json"),
    ("index not JSON", _entries_edit(lambda e: bt.replace_entry(e, "vault-bundle.json", b"{oops")),
     "not JSON"),
    ("index from the future", _entries_edit(_index_edit(lambda i: i.update(version=99))), "version 99"),
    ("revision listed twice", _entries_edit(_index_edit(lambda i: i["revisions"].append(i["revisions"][0]))),
     "listed twice"),
    ("blob before signatures", _entries_edit(_blob_before_signatures), "signatures must precede blobs"),
    ("gzip-compressed bundle", _gzip, "not a tar bundle"),
    ("empty file", _empty, "not a tar bundle"),
    ("provenance for another repo", _other_repo_provenance, "provenance is signed for acme/other"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "make", "expect"), CONTAINERS, ids=[c[0] for c in CONTAINERS])
def test_hostile_containers(
    transfer: Transfer, tmp_path: Path, label: str, make: Callable[[Transfer, Path], Path], expect: str
) -> None:
    refused(transfer.airgapped, make(transfer, tmp_path), expect)


def test_corpus_size() -> None:
    from tests.test_import_rejections import CASES

    assert len(WEIGHTS) + len(CONTAINERS) + len(CASES) >= 40
