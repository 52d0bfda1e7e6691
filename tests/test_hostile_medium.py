"""Adversary, round three: the medium and the scratch space are hostile.

- only regular files are opened on the medium (a FIFO or device named like a part never blocks);
- parity headers are bounded by the bytes on the medium before anything is sized from them, share
  numbers are validated, and parity written for another bundle is refused, never substituted;
- `tmp/verified` is taken only as regular files of this user, opened without following links, and
  the store only ever holds regular files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from tests.conftest import KeyPair, run, run_json, snapshot, write_tiny_model
from tests.forge import forge_bundle
from tests.test_damaged_media import _bundle, _flip, _model, _signed_homes
from vault._bundle.parity import ParityHeader, ParityPart, good_parity_shares, read_parity_parts

FILES = {"config.json": b'{"a": 1}', "weights.bin.txt": b"w" * 5000}

# A guard, not a timing assert: a reader that blocks on a FIFO would never return.
HANG_GUARD = 120


def _vault(*args: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "vault", "--home", str(home), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=HANG_GUARD, check=False)


@pytest.mark.parametrize("kind", ["fifo part", "fifo single", "device part"])
def test_a_part_that_is_not_a_regular_file_is_refused_without_blocking(
    tmp_path: Path, keypair: KeyPair, kind: str
) -> None:
    connected, gap = _signed_homes(tmp_path, keypair, write_tiny_model(tmp_path / "model"))
    media = tmp_path / "media"
    if kind == "fifo single":
        media.mkdir()
        os.mkfifo(media / "tiny.vault")
        target, expect = media / "tiny.vault", "tiny.vault: is a FIFO"
    else:
        result = _bundle(tmp_path, connected, split="4K")
        last = Path(result["parts"][-1])
        last.unlink()
        if kind == "fifo part":
            os.mkfifo(last)
            expect = f"{last.name}: is a FIFO"
        else:
            last.symlink_to("/dev/zero")
            expect = f"{last.name}: is a character device"
        target = Path(result["parts"][0])
    before = snapshot(gap)
    for command in ("verify", "import"):
        res = _vault(command, target, home=gap)
        assert res.returncode == 1, res.stderr
        assert expect in res.stderr and res.stderr.count("\n") == 1, res.stderr
    assert snapshot(gap) == before


def test_a_fifo_named_like_a_parity_part_is_never_opened(tmp_path: Path, keypair: KeyPair) -> None:
    connected, gap = _signed_homes(tmp_path, keypair, _model(tmp_path))
    result = _bundle(tmp_path, connected, "--parity", "1")
    parity = Path(result["parity"][0])
    parity.unlink()
    os.mkfifo(parity)
    _flip(Path(result["parts"][2]), 99)
    res = _vault("import", result["parts"][0], home=gap)
    assert res.returncode == 1 and "tiny.vault.002" in res.stderr and "damaged" in res.stderr, res.stderr
    assert read_parity_parts(Path(result["bundle"])) == []


def test_a_parity_header_is_bounded_by_the_share_on_the_medium() -> None:
    """A header claiming a slice of 10 TB over a one-byte bundle must cost nothing to refuse."""
    doc = {"format": "vault-parity", "version": 1, "k": 1, "n": 2, "share": 1, "total": 1,
           "data": {"slice_size": 10**13, "block_size": 1 << 20, "body_start": 0, "sha256": [["0" * 64]]},
           "parity": [["0" * 64]]}  # fmt: skip
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="does not fit the share"):
            ParityHeader.parse(json.dumps(doc).encode(), share_size=4096)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak


def test_parity_shares_of_another_set_or_out_of_range_lend_nothing(tmp_path: Path, keypair: KeyPair) -> None:
    connected, _gap = _signed_homes(tmp_path, keypair, _model(tmp_path))
    result = _bundle(tmp_path, connected, "--parity", "2")
    parts = read_parity_parts(Path(result["bundle"]))
    header = parts[0].header
    good = good_parity_shares(header, parts)
    assert sorted(good) == [header.k, header.k + 1]
    from dataclasses import replace

    foreign = replace(parts[1], header=replace(parts[1].header, total=header.total - 1))
    duplicate = ParityPart(parts[1].path, replace(parts[1].header, share=header.k), parts[1].data_offset)
    beyond = ParityPart(parts[1].path, replace(parts[1].header, share=header.n + 3), parts[1].data_offset)
    assert sorted(good_parity_shares(header, [parts[0], foreign])) == [header.k]
    assert sorted(good_parity_shares(header, [parts[0], duplicate])) == [header.k]
    assert sorted(good_parity_shares(header, [parts[0], beyond])) == [header.k]


@pytest.mark.parametrize("harm", ["one part damaged", "index part lost"])
def test_parity_written_for_another_bundle_is_refused_not_substituted(
    tmp_path: Path, keypair: KeyPair, harm: str
) -> None:
    connected, gap = _signed_homes(tmp_path, keypair, _model(tmp_path))
    result = _bundle(tmp_path, connected, "--parity", "1")
    other_model = _model(tmp_path / "other")
    (other_model / "README.md").write_text("another model\n")
    run("add", other_model, "--repo", "acme/other", home=connected)
    run("sign", "acme/other", "--key", keypair.private, home=connected)
    (tmp_path / "elsewhere").mkdir()
    other = run_json("bundle", "acme/other", "-o", tmp_path / "elsewhere" / "o.vault", "--split-size", "1M",
                     "--parity", "1", home=connected)  # fmt: skip
    assert len(other["parts"]) == len(result["parts"])  # type: ignore[index]
    shutil.copyfile(other["parity"][0], result["parity"][0])  # type: ignore[index]
    parts = [Path(p) for p in result["parts"]]
    if harm == "one part damaged":
        _flip(parts[2], 99)
        expect = "written for another bundle"
    else:
        parts[0].unlink()
        expect = "no part of this bundle matches the parity parts beside it"
    before = snapshot(gap)
    for command in ("verify", "import"):
        err = run(command, parts[1], home=gap, code=1).stderr
        assert expect in err and err.count("\n") == 1, err
    assert snapshot(gap) == before
    assert run("list", home=gap).stdout.strip() == "no models"


def _blob(files: dict[str, bytes], name: str) -> str:
    return hashlib.sha256(files[name]).hexdigest()


@pytest.mark.parametrize("plant", ["symlink outside", "directory", "fifo", "another user's file"])
def test_a_planted_kept_copy_is_never_taken(gap: Path, keypair: KeyPair, tmp_path: Path, plant: str) -> None:
    bundle = forge_bundle(tmp_path / "b.vault", keypair.private, FILES)
    sha = _blob(FILES, "weights.bin.txt")
    kept = gap / "tmp" / "verified"
    kept.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.write_bytes(FILES["weights.bin.txt"])
    if plant == "symlink outside":
        (kept / sha).symlink_to(outside)
    elif plant == "directory":
        (kept / sha).mkdir()
    elif plant == "fifo":
        os.mkfifo(kept / sha)
    else:
        shutil.copyfile(outside, kept / sha)
        os.chown(kept / sha, 65534, 65534)
    res = _vault("--json", "import", bundle, home=gap)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["resumed"] == 0
    stored = gap / "store" / "blobs" / "sha256" / sha[:2] / sha[2:]
    assert stored.is_file() and not stored.is_symlink()
    outside.write_bytes(b"changed after verification")
    served = Path(run("path", "acme/tiny", home=gap).stdout.strip()) / "weights.bin.txt"
    assert served.read_bytes() == FILES["weights.bin.txt"]
    assert not (kept / sha).exists() and not (kept / sha).is_symlink()
    assert run("fsck", home=gap).exit_code == 0


def test_the_store_takes_only_regular_files(tmp_path: Path) -> None:
    from vault._store.blobs import Store
    from vault.errors import IntegrityError

    store = Store(tmp_path / "home")
    target = tmp_path / "target"
    target.write_bytes(b"x")
    link = tmp_path / "staged"
    link.symlink_to(target)
    with pytest.raises(IntegrityError, match="not a regular file"):
        store.commit_blob(link, hashlib.sha256(b"x").hexdigest())
    assert not store.blob_path(hashlib.sha256(b"x").hexdigest()).exists()


@pytest.mark.parametrize("plant", ["file", "dangling symlink", "fifo"])
def test_something_planted_in_place_of_the_resume_area_blocks_nothing(
    gap: Path, keypair: KeyPair, tmp_path: Path, plant: str
) -> None:
    area = gap / "tmp" / "verified"
    area.parent.mkdir(parents=True, exist_ok=True)
    if plant == "file":
        area.write_bytes(b"x")
    elif plant == "dangling symlink":
        area.symlink_to(tmp_path / "nowhere")
    else:
        os.mkfifo(area)
    problems = json.loads(run("--json", "fsck", home=gap).stdout)["warnings"]
    assert [p["kind"] for p in problems] == ["planted-scratch"]
    run("gc", home=gap)
    assert not os.path.lexists(area)
    if plant == "file":
        area.write_bytes(b"x")  # planted again: the import itself copes
    res = _vault("--json", "import", forge_bundle(tmp_path / "b.vault", keypair.private, FILES), home=gap)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("bundle", "acme/tiny", "-o", "{tmp}/d.vault", "--have", "{fifo}"),
        ("trust", "add", "x", "--key", "{fifo}", "--scope", "*"),
        ("sign", "acme/tiny", "--key", "{fifo}"),
        ("trust", "add", "y", "--ca", "{fifo}", "--scope", "*"),
    ],
    ids=["receipt", "trusted key", "signing key", "CA"],
)
def test_a_fifo_given_as_a_small_file_is_refused_without_blocking(
    tmp_path: Path, tiny_model: Path, command: tuple[str, ...]
) -> None:
    home = tmp_path / "home"
    run("add", tiny_model, "--repo", "acme/tiny", home=home)
    fifo = tmp_path / "given.pem"
    os.mkfifo(fifo)
    before = snapshot(home)
    res = _vault(*(a.format(tmp=tmp_path, fifo=fifo) for a in command), home=home)
    assert res.returncode == 2 and f"{fifo}: is a FIFO, not a regular file" in res.stderr, res.stderr
    assert res.stderr.count("\n") == 1
    assert snapshot(home) == before
