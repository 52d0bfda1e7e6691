"""Several blobs hashed at once (one per core): same digests, same refusals, nothing left behind.

The parallel path starts at `LARGE_STREAM` bytes per stream; these tests lower
it so small files take the same path real shards do.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import tarfile
import threading
from pathlib import Path

import blake3
import pytest

import vault._hashing as hashing
from tests.conftest import KeyPair, run, run_json, snapshot
from tests.forge import forge_bundle

SHARDS = {f"model-{i}.dat": os.urandom(3 << 20) + bytes([i]) for i in range(4)}


@pytest.fixture
def small_streams_are_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashing, "LARGE_STREAM", 1 << 20)


@pytest.mark.parametrize(
    ("cores", "streams", "overlap", "workers"),
    [
        (2, 4, False, 2),  # this machine kind: four shards, each core hashes one stream whole
        (2, 1, True, 1),  # one large file: its sha256 and blake3 take a core each
        (2, 2, False, 2),  # two streams on one core each beat one stream on two
        (16, 4, True, 4),  # every large stream can have a pair of cores: all at once, overlapped
        (4, 3, False, 3),
        (1, 4, False, 1),  # one core: nothing to overlap with
    ],
)
def test_hash_all_gives_each_stream_its_own_digests(
    tmp_path: Path,
    small_streams_are_large: None,
    monkeypatch: pytest.MonkeyPatch,
    cores: int,
    streams: int,
    overlap: bool,
    workers: int,
) -> None:
    """The scheduling rule of `hash_all`, for machines of other sizes (the decision depends on the
    core count only), and every stream's digests exactly its own."""
    monkeypatch.setattr(hashing.os, "cpu_count", lambda: cores)
    paths = []
    for name, data in itertools.islice(SHARDS.items(), streams):
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    threads: set[int] = set()
    # The first `workers` streams must be hashed at the same time, each on a thread of its own
    # (a pool that ran them one by one would time out here): a fact, not a scheduling accident.
    first_together = threading.Barrier(workers, timeout=60)
    calls = itertools.count()

    def hash_one(path: Path, spread: bool) -> hashing.FileDigest:
        threads.add(threading.get_ident())
        assert spread is overlap
        if next(calls) < workers:
            first_together.wait()
        return hashing.hash_file(path, tmp_path / f"{path.name}.copy", overlap=spread)

    results = list(hashing.hash_all(hash_one, paths, lambda p: p.stat().st_size))
    assert [p for p, _digest in results] == paths  # in the caller's order, whatever finished first
    got = dict(results)
    for path in paths:
        data = path.read_bytes()
        assert got[path].sha256 == hashlib.sha256(data).hexdigest()
        assert got[path].blake3 == blake3.blake3(data).hexdigest()
        assert got[path].size == len(data)
        assert (tmp_path / f"{path.name}.copy").read_bytes() == data
    assert len(threads) == workers


def _flip_byte_in(bundle: Path, name_suffix: str) -> None:
    with tarfile.open(bundle, "r:") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(name_suffix))
    with open(bundle, "r+b") as fh:
        fh.seek(member.offset_data + member.size // 2)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 1]))


def test_parallel_import_refuses_one_bad_shard_and_changes_nothing(
    gap: Path, keypair: KeyPair, tmp_path: Path, small_streams_are_large: None
) -> None:
    bundle = forge_bundle(tmp_path / "b.vault", keypair.private, SHARDS)
    bad = hashlib.sha256(SHARDS["model-2.dat"]).hexdigest()
    _flip_byte_in(bundle, bad)
    before = snapshot(gap)
    for command in ("verify", "import"):
        res = run(command, bundle, "--allow-unknown-format", home=gap, code=1)
        assert "model-2.dat: sha256 mismatch" in res.stderr, res.stderr
    assert snapshot(gap) == before


def test_parallel_import_stores_every_shard(
    gap: Path, keypair: KeyPair, tmp_path: Path, small_streams_are_large: None
) -> None:
    files = SHARDS
    bundle = forge_bundle(tmp_path / "b.vault", keypair.private, files)
    run("import", bundle, "--allow-unknown-format", home=gap)
    view = Path(run("path", "acme/tiny", home=gap).stdout.strip())
    for name, data in files.items():
        assert (view / name).read_bytes() == data
    shown = run_json("show", "acme/tiny", home=gap)
    assert {f["path"]: f["blake3"] for f in shown["files"]} == {
        n: blake3.blake3(d).hexdigest() for n, d in files.items()
    }
    assert run_json("scrub", home=gap)["damaged"] == []
