"""Zero runs become holes on the way through (add, bundle, import); every byte reads back the same."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from tests.conftest import KeyPair, run, run_json, sha256_file
from vault._durable import BulkWriter
from vault._holes import HOLE_MIN, all_zero


def _allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def test_all_zero_needs_a_whole_run_of_zeros() -> None:
    assert all_zero(memoryview(bytes(HOLE_MIN)))
    assert all_zero(memoryview(bytes(1 << 20)))
    assert not all_zero(memoryview(bytes(HOLE_MIN - 1)))  # too small to be worth a hole
    for at in (0, 1, HOLE_MIN // 3, HOLE_MIN - 1):
        data = bytearray(HOLE_MIN)
        data[at] = 1
        assert not all_zero(memoryview(data)), at


def test_a_file_ending_in_a_hole_keeps_its_length(tmp_path: Path) -> None:
    path = tmp_path / "f"
    out = BulkWriter(open(path, "wb"))  # noqa: SIM115 - closed by out.close()
    out.write(b"head")
    out.write(bytes(4 << 20))
    out.close()
    out.close()  # a second close (the cleanup after a failed one) is harmless
    assert path.read_bytes() == b"head" + bytes(4 << 20)
    assert _allocated(path) < 1 << 20


def test_a_sparse_model_stays_sparse_and_identical(tmp_path: Path, keypair: KeyPair) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "zeros"}')
    weights = model / "model.safetensors"
    span = 64 << 20
    header = json.dumps({"w": {"dtype": "F32", "shape": [span // 4], "data_offsets": [0, span]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(weights, "wb") as fh:  # 64 MiB of tensor data: data, a hole, data, a hole at the end
        fh.write(struct.pack("<Q", len(header)) + header)
        base = fh.tell()
        fh.write(b"\x01" * (1 << 20))
        fh.seek(base + (32 << 20))
        fh.write(b"\x02" * (1 << 20))
        fh.truncate(base + span)
    want = sha256_file(weights)
    conn, gap = tmp_path / "conn", tmp_path / "gap"
    run("add", model, "--repo", "acme/zeros", home=conn)
    run("sign", "acme/zeros", "--key", keypair.private, home=conn)
    bundle = tmp_path / "zeros.vault"
    run("bundle", "acme/zeros", "-o", bundle, home=conn)
    assert bundle.stat().st_size > 64 << 20 and _allocated(bundle) < 8 << 20

    run("trust", "add", "c", "--key", keypair.public, "--scope", "acme/*", home=gap)
    run("import", bundle, home=gap)
    stored = Path(run("path", "acme/zeros", home=gap).stdout.strip()) / "model.safetensors"
    assert sha256_file(stored) == want
    assert _allocated(stored.resolve()) < 8 << 20
    assert run_json("scrub", home=gap)["damaged"] == []
