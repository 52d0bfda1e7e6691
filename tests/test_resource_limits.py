"""Everything an attacker sizes before verification has a cap: one line, bounded memory, nothing written.

Each hostile bundle is verified in a child process so its peak RSS can be
read from wait4(2); the limit is the design's 150 MB.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests import contentcorpus as cc
from tests.conftest import KeyPair, run, snapshot, write_tiny_model
from tests.forge import forge_bundle
from vault._bundle.index import INDEX_NAME

RSS_LIMIT = 150 * 1024 * 1024


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.PAX_FORMAT) -> Path:
    with tarfile.open(path, "w", format=fmt) as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _info(name: str, **attrs: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = 0o444
    for k, v in attrs.items():
        setattr(info, k, v)
    return info


def _index(doc: object) -> bytes:
    return doc if isinstance(doc, bytes) else json.dumps(doc).encode()


def _index_only(path: Path, raw: bytes) -> Path:
    return _tar(path, [(_info(INDEX_NAME), raw)])


def _one_revision(model_sigs: list[str]) -> dict:
    revision = {"repo_id": "acme/tiny", "commit": "c" * 40, "signatures": {"model": model_sigs}}
    return {"format": "vault-bundle", "version": 1, "blobs": [], "revisions": [revision]}


def _deep_index(tmp: Path) -> Path:
    depth = 200_000
    raw = (
        b'{"format": "vault-bundle", "version": 1, "revisions": '
        + b"[" * depth
        + b"]" * depth
        + b', "blobs": []}'
    )
    return _index_only(tmp / "deep.vault", raw)


def _big_index(tmp: Path) -> Path:
    blobs = [{"sha256": f"{i:064x}", "size": 1} for i in range(60_000)]
    return _index_only(tmp / "big.vault", _index({"format": "vault-bundle", "version": 1, "revisions": [],
                                                  "blobs": blobs}))  # fmt: skip


def _many_signatures(tmp: Path) -> Path:
    sigs = [f"revisions/acme/tiny/{'c' * 40}/model-{i}.sig" for i in range(10_001)]
    return _index_only(tmp / "many.vault", _index(_one_revision(sigs)))


def _huge_signatures(tmp: Path) -> Path:
    prefix = f"revisions/acme/tiny/{'c' * 40}"
    names = [f"{prefix}/model-{i}.sig" for i in range(5)]
    doc = _one_revision(names)
    filler = b" " * (8 << 20)
    return _tar(tmp / "huge.vault", [(_info(INDEX_NAME), _index(doc))] + [(_info(n), filler) for n in names])


def _deep_signature(tmp: Path) -> Path:
    name = f"revisions/acme/tiny/{'c' * 40}/model.sig"
    doc = _one_revision([name])
    deep = b"[" * 100_000 + b"]" * 100_000
    return _tar(tmp / "deepsig.vault", [(_info(INDEX_NAME), _index(doc)), (_info(name), deep)])


def _huge_pax(tmp: Path) -> Path:
    return _tar(tmp / "pax.vault", [(_info(INDEX_NAME, pax_headers={"comment": "x" * (1 << 20)}), b"{}")])


def _huge_gnu_longname(tmp: Path) -> Path:
    return _tar(tmp / "gnu.vault", [(_info("a/" * 50_000 + "b"), b"{}")], fmt=tarfile.GNU_FORMAT)


def _gnu_sparse(tmp: Path) -> Path:
    return _tar(tmp / "sparse.vault", [(_info(INDEX_NAME, type=tarfile.GNUTYPE_SPARSE), b"{}")],
                fmt=tarfile.GNU_FORMAT)  # fmt: skip


def _pax_sparse_garbage(tmp: Path) -> Path:
    headers = {"GNU.sparse.map": "0,x,zz", "GNU.sparse.size": "oops", "GNU.sparse.name": INDEX_NAME}
    return _tar(tmp / "paxsparse.vault", [(_info("x", pax_headers=headers), b"{}")])


CASES = {
    "index nested 200,000 deep": (_deep_index, "nested too deep"),
    "index over 4 MiB": (_big_index, "exceeds the"),
    "10,001 signature entries": (_many_signatures, "signature entries (limit"),
    "signatures over 32 MiB in all": (_huge_signatures, "bytes in all"),
    "signature nested 100,000 deep": (_deep_signature, "model.sig"),
    "1 MiB PAX header": (_huge_pax, "PAX header of"),
    "GNU long name of 100 kB": (_huge_gnu_longname, "GNU long-name header of"),
    "GNU sparse entry": (_gnu_sparse, "sparse"),
    "malformed PAX sparse map": (_pax_sparse_garbage, "PAX"),
}


# The child reports its own high-water mark (VmHWM) as it exits: rusage's ru_maxrss would
# include the pytest process it was forked from, since Linux keeps that across execve.
_REPORT_HWM = (
    "import atexit, sys\n"
    "out = sys.argv.pop(1)\n"
    "def hwm():\n"
    "    line = next(x for x in open('/proc/self/status') if x.startswith('VmHWM'))\n"
    "    open(out, 'w').write(line.split()[1])\n"
    "atexit.register(hwm)\n"
    "sys.argv[0] = 'vault'\n"
    "from vault._entry import main\n"
    "main()\n"
)


def _verify_in_child(home: Path, bundle: Path, *flags: str, env: dict | None = None) -> tuple[int, str, int]:
    report = bundle.with_name(bundle.name + ".hwm")
    argv = [
        sys.executable,
        "-c",
        _REPORT_HWM,
        str(report),
        "--home",
        str(home),
        "verify",
        str(bundle),
        *flags,
    ]
    res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    return res.returncode, res.stderr, int(report.read_text()) * 1024


@pytest.mark.parametrize("case", list(CASES))
def test_capped_structures_are_one_line_refusals_in_bounded_memory(
    gap: Path, tmp_path: Path, case: str
) -> None:
    build, expect = CASES[case]
    bundle = build(tmp_path)
    before = snapshot(gap)
    code, err, rss = _verify_in_child(gap, bundle)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and expect in lines[0], err
    assert rss < RSS_LIMIT, f"peak RSS {rss >> 20} MiB"
    res = run("import", bundle, home=gap, code=1)
    assert expect in res.stderr
    assert snapshot(gap) == before


def test_verify_with_allow_pickle_writes_nothing_anywhere(
    gap: Path, keypair: KeyPair, tmp_path: Path
) -> None:
    """No scratch anywhere: the HDF5 child reads the bundle's own bytes, pickles are scanned in memory."""
    files = {
        "model.pt": cc.fixture("torch-zip.pt"),
        "model.h5": cc.h5(cc.PLAIN_KERAS),
        "state": cc.benign_pickle(),
    }
    bundle = forge_bundle(tmp_path / "b.vault", keypair.private, files)
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    before = snapshot(gap)
    code, err, _rss = _verify_in_child(
        gap, bundle, "--allow-pickle", env={**os.environ, "TMPDIR": str(scratch)}
    )
    assert code == 0, err
    assert list(scratch.iterdir()) == [] and snapshot(gap) == before


def test_a_bundle_needing_more_than_1000_parts_is_refused_when_written(
    tmp_path: Path, keypair: KeyPair
) -> None:
    model = write_tiny_model(tmp_path / "m")
    (model / "big.txt").write_text("x" * (1 << 20))
    home = tmp_path / "h"
    run("add", model, "--repo", "acme/tiny", home=home)
    run("sign", "acme/tiny", "--key", keypair.private, home=home)
    res = run(
        "bundle", "acme/tiny", "-o", tmp_path / "out" / "b.vault", "--split-size", "1K", home=home, code=2
    )
    assert "at most 1000" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
