"""The bundle writer writes exactly what `tarfile` writes, with blob data taken from maps.

The reference reader and writer here are Python's own `tarfile`: a bundle
(one file, and split into parts, with sparse and empty blobs and a blob that
crosses part boundaries) is read back with it and packed again with it,
entry by entry, with the same headers; the bytes must be the same.
"""

from __future__ import annotations

import io
import os
import random
import tarfile
from pathlib import Path

import pytest

from tests.conftest import KeyPair, run
from vault._bundle.part_digests import BlockHasher, PartDigests
from vault._bundle.tar_entries import TAR_ENCODING, TAR_FORMAT, entry_info


def _model(folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bench"}')
    (folder / "empty.txt").write_bytes(b"")
    (folder / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "BPE"}}')
    with open(folder / "z.bin", "wb") as fh:  # data, a hole that spans windows, data, a hole at the end
        fh.write(os.urandom(3 << 20))
        fh.seek(20 << 20, os.SEEK_CUR)
        fh.write(os.urandom(777))
        fh.truncate(fh.tell() + (9 << 20) + 5)
    (folder / "w.bin").write_bytes(os.urandom((8 << 20) + 1))
    return folder


def _repacked(stream: bytes) -> bytes:
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(stream), mode="r:") as src,
        tarfile.open(fileobj=out, mode="w", format=TAR_FORMAT, encoding=TAR_ENCODING) as dst,
    ):
        for member in src:
            data = src.extractfile(member)
            dst.addfile(entry_info(member.name, member.size), data)
    return out.getvalue()


@pytest.mark.parametrize("split", [None, "3M"])
def test_a_bundle_is_what_tarfile_writes(tmp_path: Path, keypair: KeyPair, split: str | None) -> None:
    home = tmp_path / "home"
    run("add", _model(tmp_path / "m"), "--repo", "acme/bytes", "--allow-unknown-format", home=home)
    run("sign", "acme/bytes", "--key", keypair.private, home=home)
    out = tmp_path / "out"
    out.mkdir()
    args = ["--split-size", split] if split else []
    run("bundle", "acme/bytes", "-o", out / "b.vault", *args, home=home)
    files = sorted(out.iterdir())
    assert (len(files) > 1) is bool(split)
    stream = b"".join(p.read_bytes() for p in files)
    assert _repacked(stream) == stream
    # The 29 MiB of holes in z.bin stayed holes on the medium.
    assert sum(p.stat().st_blocks * 512 for p in files) < 16 << 20


@pytest.mark.parametrize("seed", range(6))
def test_zero_runs_give_the_digests_their_bytes_would(seed: int) -> None:
    """A hole is handed to the block hasher as a count of zeros; whole blocks of it take a cached
    digest. The table must be the one hashing the zeros themselves gives, wherever the runs fall."""
    rng = random.Random(seed)
    total = rng.randrange(3 << 20, 9 << 20)
    plan = PartDigests.placeholder(total, rng.choice([total, 1 << 20, 3 << 20]), rng.randrange(0, 5000))
    runs: list[bytes | int] = []
    left = total
    while left:
        n = min(left, rng.choice([1, 511, 4096, 1 << 20, (2 << 20) + 3]))
        runs.append(n if rng.random() < 0.5 else os.urandom(n))
        left -= n
    by_count, by_bytes = BlockHasher(plan, total), BlockHasher(plan, total)
    for run_ in runs:
        if isinstance(run_, int):
            by_count.update_zeros(run_)
            by_bytes.update(bytes(run_))
        else:
            by_count.update(run_)
            by_bytes.update(run_)
    assert by_count.table() == by_bytes.table()
