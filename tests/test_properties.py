"""Property tests (hypothesis) on the parts that judge hostile input: the safetensors grammar
and the bundle reader. Whatever they accept must be sound; whatever they refuse must be refused
with a VaultError, never another exception."""

from __future__ import annotations

import contextlib
import io
import json
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import safetensors
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save

from vault._bundle.reader import BundleReader
from vault._checks.safetensors_grammar import check_safetensors
from vault._statements.paths import check_relpath
from vault.errors import UnsafeContentError, VaultError

DTYPES = [np.float32, np.float16, np.int64, np.int8, np.uint8, np.float64, np.int32, np.bool_]

# A tensor named "__metadata__" makes the library write that key twice (found by this test);
# the grammar rightly refuses such files, so the generator leaves the name out.
arrays = st.dictionaries(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12).filter(
        lambda n: n != "__metadata__"
    ),
    st.tuples(st.sampled_from(DTYPES), st.lists(st.integers(0, 4), max_size=3)),
    max_size=6,
)


@given(arrays)
def test_every_file_the_library_writes_is_accepted(spec: dict) -> None:
    tensors = {name: np.zeros(shape, dtype) for name, (dtype, shape) in spec.items()}
    data = save(tensors, metadata={"format": "np"})
    check_safetensors("m.safetensors", data, len(data))


@given(arrays, st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_whatever_the_grammar_accepts_the_library_parses(spec: dict, data: st.DataObject) -> None:
    """Mutate a valid file's header; if our stricter grammar accepts it, the reference parser must too."""
    raw = bytearray(save({n: np.zeros(s, d) for n, (d, s) in spec.items()}))
    n = struct.unpack("<Q", raw[:8])[0]
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, 8 + n - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    blob = bytes(raw)
    try:
        check_safetensors("m.safetensors", blob, len(blob))
    except UnsafeContentError:
        return
    safetensors.deserialize(blob)  # must not raise


@given(st.binary(max_size=256), st.integers(0, 1 << 20))
def test_garbage_is_refused_cleanly(prefix: bytes, size: int) -> None:
    with contextlib.suppress(UnsafeContentError):
        check_safetensors("m.safetensors", prefix, max(size, len(prefix)))


@given(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4))
def test_header_must_tile_the_data_exactly(meta: dict) -> None:
    header = {"__metadata__": meta, "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    body = json.dumps(header).encode()
    good = struct.pack("<Q", len(body)) + body + b"\0" * 8
    check_safetensors("m.safetensors", good, len(good))
    with pytest.raises(UnsafeContentError):
        check_safetensors("m.safetensors", good + b"\0", len(good) + 1)


NAMES = st.one_of(
    st.text(min_size=1, max_size=40),
    st.sampled_from(["../x", "/abs", "a\\b", "a/./b", "A", "a", "e\u0301", "x/", "blobs/sha256/" + "0" * 64]),
)
TYPES = st.sampled_from([tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.FIFOTYPE,
                         tarfile.CHRTYPE, tarfile.CONTTYPE, tarfile.GNUTYPE_SPARSE])  # fmt: skip


@given(st.lists(st.tuples(NAMES, TYPES, st.binary(max_size=64)), max_size=8))
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_reader_yields_only_safe_unique_regular_files(tmp_path: Path, entries: list) -> None:
    path = tmp_path / "b.tar"
    buf = io.BytesIO()
    try:
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, kind, data in entries:
                info = tarfile.TarInfo(name)
                info.type = kind
                info.size = len(data) if kind == tarfile.REGTYPE else 0
                if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                    info.linkname = "target"
                tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    except (ValueError, tarfile.TarError, UnicodeError):
        assume(False)
    path.write_bytes(buf.getvalue())
    seen: set[str] = set()
    try:
        with BundleReader(path) as reader:
            for entry in reader.entries():
                check_relpath(entry.name)  # never raises for what the reader yields
                assert entry.name.casefold() not in seen
                seen.add(entry.name.casefold())
                assert len(entry.data.read(entry.size + 1)) == entry.size
    except VaultError:
        pass


@given(st.integers(0, 10_000), st.integers(1, 255))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_flipped_byte_anywhere_is_refused_or_harmless(tmp_path_factory, pos: int, xor: int) -> None:
    """Any single corrupted byte in a real bundle: verify refuses it with a VaultError, or (in tar
    padding, or in fields nobody trusts) it verifies to exactly the signed content."""
    from tests.conftest import run, write_tiny_model

    base = tmp_path_factory.getbasetemp() / "flip-fixture"
    if not (base / "b.vault").exists():
        base.mkdir(exist_ok=True)
        run("keygen", "-o", base / "k")
        run("add", write_tiny_model(base / "m"), "--repo", "acme/tiny", home=base / "c")
        run("sign", "acme/tiny", "--key", base / "k.pem", home=base / "c")
        run("bundle", "acme/tiny", "-o", base / "b.vault", home=base / "c")
        run("trust", "add", "acme", "--key", base / "k.pub.pem", "--scope", "acme/*", home=base / "g")
    good = (base / "b.vault").read_bytes()
    bad = bytearray(good)
    bad[pos % len(bad)] ^= xor
    target = tmp_path_factory.mktemp("flip") / "bad.vault"
    target.write_bytes(bytes(bad))
    from vault.api import Vault

    with Vault.open(base / "g", create=False) as v:
        try:
            report = v.verify_bundle(target)
        except VaultError:
            return
        assert report.revisions == v.verify_bundle(base / "b.vault").revisions
