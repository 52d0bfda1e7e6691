"""Damaged and lost media: the damaged part is named; parity parts rebuild what was lost.

Bundles are split small so that they span many parts, and the blobs are real
safetensors and config files (the tiny model plus a 3 MiB shard, so blocks
of 1 MiB fall inside the blob data).
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from tests.bundletools import index_of, read_entries, set_index, write_entries
from tests.conftest import KeyPair, run, run_json, snapshot, write_tiny_model
from vault._bundle.parity import DATA_NAME, HEADER_NAME, ParityPartWriter
from vault._bundle.part_digests import block_size_for
from vault._bundle.tar_entries import TAR_ENCODING, TAR_FORMAT, entry_info

SPLIT = "1M"


def _model(tmp_path: Path) -> Path:
    model = write_tiny_model(tmp_path / "model")
    rng = np.random.default_rng(7)
    save_file({"w": rng.standard_normal(3 << 18).astype(np.float32)}, str(model / "extra.safetensors"))
    return model


def _signed_homes(tmp_path: Path, keypair: KeyPair, model: Path) -> tuple[Path, Path]:
    """A connected home with `model` signed as acme/tiny, and an air-gapped home that trusts the key."""
    connected, gap = tmp_path / "connected", tmp_path / "gap"
    run("add", model, "--repo", "acme/tiny", home=connected)
    run("sign", "acme/tiny", "--key", keypair.private, home=connected)
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=gap)
    return connected, gap


@pytest.fixture
def homes(tmp_path: Path, keypair: KeyPair) -> tuple[Path, Path]:
    return _signed_homes(tmp_path, keypair, _model(tmp_path))


@pytest.fixture
def tiny_homes(tmp_path: Path, keypair: KeyPair) -> tuple[Path, Path]:
    return _signed_homes(tmp_path, keypair, write_tiny_model(tmp_path / "model"))


def _bundle(tmp_path: Path, connected: Path, *extra: str, split: str = SPLIT) -> dict:
    out = tmp_path / "media" / "tiny.vault"
    out.parent.mkdir(exist_ok=True)  # the medium is mounted: vault never creates it
    return run_json("bundle", "acme/tiny", "-o", out, "--split-size", split, *extra, home=connected)  # type: ignore[return-value]


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_verify_and_import_name_the_damaged_part_and_offset(tmp_path: Path, homes: tuple[Path, Path]) -> None:
    connected, gap = homes
    result = _bundle(tmp_path, connected)
    parts = [Path(p) for p in result["parts"]]
    assert len(parts) >= 4 and result["parity"] == []
    _flip(parts[2], (1 << 20) - 10)  # inside the blob data, in the part's only block
    before = snapshot(gap)
    for command in ("verify", "import"):
        err = run(command, parts[0], home=gap, code=1).stderr
        assert err.count("\n") == 1, err
        # What failed verification, then which part of the media to send again.
        assert "sha256 mismatch" in err, err
        assert f"(part 3 of {len(parts)} (tiny.vault.002) is damaged at bytes 0-1048575 of 1048576" in err, (
            err
        )
        assert "send it again" in err
    assert snapshot(gap) == before


def test_a_damaged_single_file_bundle_names_the_offset(tmp_path: Path, homes: tuple[Path, Path]) -> None:
    connected, gap = homes
    whole = tmp_path / "whole.vault"
    run("bundle", "acme/tiny", "-o", whole, home=connected)
    size = whole.stat().st_size
    assert size > 3 << 20
    _flip(whole, (2 << 20) + 5)  # the third 1 MiB block
    err = run("verify", whole, home=gap, code=1).stderr
    assert f"bundle whole.vault is damaged at bytes 2097152-3145727 of {size}" in err, err


def test_a_forged_bundle_is_not_reported_as_damage(tmp_path: Path, homes: tuple[Path, Path]) -> None:
    """Untrusted signer, intact media: the refusal is the trust error, not a damaged part."""
    connected, _gap = homes
    _bundle(tmp_path, connected)
    other = tmp_path / "other-gap"
    run("keygen", "-o", tmp_path / "stranger")
    run("trust", "add", "x", "--key", tmp_path / "stranger.pub.pem", "--scope", "acme/*", home=other)
    err = run("import", tmp_path / "media" / "tiny.vault", home=other, code=1).stderr
    assert "not signed by any trusted key" in err and "damaged" not in err


@pytest.mark.parametrize("harm", ["missing", "corrupt", "first-missing", "index-corrupt", "parity-and-data"])
def test_parity_rebuilds_a_lost_or_damaged_part(tmp_path: Path, homes: tuple[Path, Path], harm: str) -> None:
    connected, gap = homes
    result = _bundle(tmp_path, connected, "--parity", "1" if harm != "parity-and-data" else "2")
    parts = [Path(p) for p in result["parts"]]
    parity = [Path(p) for p in result["parity"]]
    assert [p.name for p in parity] == [f"tiny.vault.p{j:03d}" for j in range(len(parity))]
    with tarfile.open(parity[0]) as tar:  # a plain tar, as the data parts are
        assert tar.getnames() == ["parity", "vault-parity.json"]  # the header last: it digests the share
    original = {p: p.read_bytes() for p in parts}
    if harm == "missing":
        parts[1].unlink()
    elif harm == "corrupt":
        _flip(parts[3], 12345)
    elif harm == "first-missing":
        parts[0].unlink()
    elif harm == "index-corrupt":
        _flip(parts[0], 700)  # inside the index entry itself
    else:
        _flip(parts[2], 99)
        _flip(parity[0], (1 << 20) + 3000)  # one parity share damaged too: the other one rebuilds
    target = tmp_path / "media" / "tiny.vault"
    verified = run_json("verify", target, home=gap)
    assert any("from parity parts" in n for n in verified["notes"])  # type: ignore[index]
    out = run("import", target, home=gap).stdout
    assert out.startswith("imported acme/tiny@") and "from parity parts" in out
    served = Path(run("path", "acme/tiny", home=gap).stdout.strip())
    assert (served / "extra.safetensors").read_bytes() == (
        tmp_path / "model" / "extra.safetensors"
    ).read_bytes()
    # The media are left as they came (a reader never writes them); nothing of the rebuild stays.
    assert [p.read_bytes() == original[p] for p in parts if p.exists()].count(False) == (
        1 if harm in ("corrupt", "index-corrupt", "parity-and-data") else 0
    )
    assert list((gap / "tmp").iterdir()) == []


def test_two_lost_parts_with_one_parity_part_are_named(tmp_path: Path, homes: tuple[Path, Path]) -> None:
    connected, gap = homes
    parts = [Path(p) for p in _bundle(tmp_path, connected, "--parity", "1")["parts"]]
    _flip(parts[1], 10)
    parts[3].unlink()
    before = snapshot(gap)
    err = run("import", tmp_path / "media" / "tiny.vault", home=gap, code=1).stderr
    assert err.count("\n") == 1, err
    assert f"part 2 of {len(parts)} (tiny.vault.001) is damaged" in err, err
    assert f"also part 4 of {len(parts)} (tiny.vault.003)" in err
    assert "1 good parity part(s) cannot rebuild 2 lost part(s)" in err
    assert snapshot(gap) == before


def test_parity_needs_a_split_and_at_most_256_parts(tmp_path: Path, homes: tuple[Path, Path]) -> None:
    connected, _gap = homes
    err = run(
        "bundle", "acme/tiny", "-o", tmp_path / "x.vault", "--parity", "1", home=connected, code=2
    ).stderr
    assert "--parity needs --split-size" in err
    err = run("bundle", "acme/tiny", "-o", tmp_path / "x.vault", "--split-size", "8K", "--parity", "2",
              home=connected, code=2).stderr  # fmt: skip
    assert "at most 256 parts and parity parts in all" in err
    assert not list(tmp_path.glob("x.vault*"))


def test_rebundling_removes_stale_parity_parts(tmp_path: Path, homes: tuple[Path, Path]) -> None:
    connected, _gap = homes
    assert len(_bundle(tmp_path, connected, "--parity", "2")["parity"]) == 2
    assert _bundle(tmp_path, connected)["parity"] == []
    assert not list((tmp_path / "media").glob("tiny.vault.p*"))


@pytest.mark.parametrize("harm", ["lose-first", "flip-second"])
def test_parity_rebuilds_parts_that_hold_the_index(
    tmp_path: Path, tiny_homes: tuple[Path, Path], harm: str
) -> None:
    """With tiny parts the index spans several of them: losing those is rebuilt like any other part."""
    connected, gap = tiny_homes
    result = _bundle(tmp_path, connected, "--parity", "1", split="1K")
    parts = [Path(p) for p in result["parts"]]
    assert [Path(p).name for p in result["parity"]] == ["tiny.vault.p000"]
    if harm == "lose-first":
        parts[0].unlink()
    else:
        _flip(parts[1], 100)  # the index (several KiB) runs through the second part
    out_text = run("import", result["bundle"], home=gap).stdout
    number = 1 if harm == "lose-first" else 2  # exactly the part that was harmed, and no other
    assert f"rebuilt part {number} of {len(parts)} (tiny.vault.{number - 1:03d}) from parity" in out_text, (
        out_text
    )


def test_an_index_claiming_countless_parts_is_refused_at_once(
    tmp_path: Path, homes: tuple[Path, Path]
) -> None:
    """The part table is attacker-written: its claimed geometry is checked before any list is built."""
    connected, gap = homes
    whole = tmp_path / "whole.vault"
    run("bundle", "acme/tiny", "-o", whole, home=connected)
    entries = read_entries(whole)
    index = index_of(entries)
    index["size"] = 10**15
    index["parts"]["slice_size"] = 1
    index["parts"]["block_size"] = block_size_for(10**15)  # consistent, so the part count is what fails
    forged = write_entries(tmp_path / "forged.vault", set_index(entries, index))
    before = snapshot(gap)
    err = run("import", forged, home=gap, code=1).stderr
    assert "vault-bundle.json: parts lists 1 parts" in err, err
    assert snapshot(gap) == before


@pytest.mark.parametrize(("size", "header_len"), [(5, 1), (1000, 10), (4096, 513), (1 << 20, 7000)])
def test_a_parity_part_is_the_tar_that_tarfile_writes(tmp_path: Path, size: int, header_len: int) -> None:
    """Parity parts are streamed by hand (each share written once); the bytes must be a plain tar's."""
    share, header = os.urandom(size), os.urandom(header_len)
    part = ParityPartWriter(tmp_path / "p", size)
    part.write(share[: size // 2])
    part.write(share[size // 2 :])
    part.finish(header)
    reference = io.BytesIO()
    with tarfile.open(fileobj=reference, mode="w", format=TAR_FORMAT, encoding=TAR_ENCODING) as tar:
        tar.addfile(entry_info(DATA_NAME, size), io.BytesIO(share))
        tar.addfile(entry_info(HEADER_NAME, header_len), io.BytesIO(header))
    assert (tmp_path / "p").read_bytes() == reference.getvalue()


@pytest.mark.parametrize("harm", ["lost", "corrupt"])
def test_a_one_part_bundle_with_parity_survives_losing_its_part(
    tmp_path: Path, tiny_homes: tuple[Path, Path], harm: str
) -> None:
    """k = 1: the parity part is a copy in Reed-Solomon's terms, and rebuilds the only data part."""
    connected, gap = tiny_homes
    result = _bundle(tmp_path, connected, "--parity", "1", split="1M")
    (part,) = [Path(p) for p in result["parts"]]
    if harm == "lost":
        part.unlink()
    else:
        _flip(part, part.stat().st_size // 2)
    text = run("import", result["bundle"], home=gap).stdout
    assert text.startswith("imported acme/tiny@") and "rebuilt part 1 of 1 (tiny.vault.000)" in text
