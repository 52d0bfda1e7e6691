"""A killed import, run again, reads from the bundle only the blobs it had not yet verified.

The first run is a real process killed with SIGKILL right after its second
blob passed its digest (a hook in that process only, so the point is exact);
the second run counts the blobs it reads from the bundle.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

import vault
from tests.conftest import KeyPair, run, run_json, snapshot, write_tiny_model
from vault._bundle.reader import BundleReader

KILL_AFTER = 2
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from vault._store import resume

    kept = 0
    real_keep = resume.ResumeArea.keep

    def keep(self, staged, sha256):
        global kept
        real_keep(self, staged, sha256)
        kept += 1
        if kept == {n}:
            os.kill(os.getpid(), signal.SIGKILL)

    resume.ResumeArea.keep = keep
    sys.argv = ["vault", *sys.argv[1:]]
    from vault._entry import main
    main()
    """
).format(n=KILL_AFTER)


@pytest.fixture
def killed(tmp_path: Path, keypair: KeyPair) -> tuple[Path, Path, int]:
    """A gap home whose import of a 6-blob bundle was SIGKILLed after 2 blobs verified."""
    model = write_tiny_model(tmp_path / "model")
    rng = np.random.default_rng(3)
    for i in range(3):
        save_file(
            {"w": rng.standard_normal(1 << 16).astype(np.float32)}, str(model / f"shard-{i}.safetensors")
        )
    connected, gap = tmp_path / "connected", tmp_path / "gap"
    run("add", model, "--repo", "acme/tiny", home=connected)
    run("sign", "acme/tiny", "--key", keypair.private, home=connected)
    bundle = tmp_path / "b.vault"
    blobs = run_json("bundle", "acme/tiny", "-o", bundle, home=connected)["blobs"]  # type: ignore[index]
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=gap)
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, "--home", str(gap), "import", str(bundle)],
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr
    run("path", "acme/tiny", home=gap, code=3)  # nothing visible
    assert len(list((gap / "tmp" / "verified").iterdir())) == KILL_AFTER
    return gap, bundle, blobs


def test_a_run_killed_after_its_commit_leaves_nothing_to_resume(tmp_path: Path, keypair: KeyPair) -> None:
    """Killed between the catalog commit and dropping what it kept: the next run finds it all stored."""
    connected, gap = tmp_path / "connected", tmp_path / "gap"
    run("add", write_tiny_model(tmp_path / "model"), "--repo", "acme/tiny", home=connected)
    run("sign", "acme/tiny", "--key", keypair.private, home=connected)
    bundle = tmp_path / "b.vault"
    run("bundle", "acme/tiny", "-o", bundle, home=connected)
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=gap)
    killer = KILLER.replace(
        "resume.ResumeArea.keep = keep", "resume.ResumeArea.forget = lambda *a: os.kill(os.getpid(), 9)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", killer, "--home", str(gap), "import", str(bundle)], timeout=120
    )
    assert proc.returncode == -9
    assert (gap / "tmp" / "verified").is_dir()
    assert "already imported" in run("import", bundle, home=gap).stdout
    assert list((gap / "tmp").iterdir()) == []


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every blob an import reads from the bundle: it copies through `spans`, it reads through `region`."""
    read: list[str] = []
    for method in ("region", "spans"):
        original = getattr(BundleReader, method)

        def counting(self: BundleReader, entry: object, original: Any = original) -> object:
            read.append(entry.name)  # type: ignore[attr-defined]
            return original(self, entry)

        monkeypatch.setattr(BundleReader, method, counting)
    return read


def test_a_killed_import_resumes_without_rereading_verified_blobs(
    killed: tuple[Path, Path, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    gap, bundle, blobs = killed
    read = _count_reads(monkeypatch)
    out = run("import", bundle, home=gap).stdout
    assert f"({blobs} blobs, " in out and f"; {KILL_AFTER} of them verified by an interrupted run)" in out
    assert len(read) == blobs - KILL_AFTER == len(set(read))
    assert Path(run("path", "acme/tiny", home=gap).stdout.strip()).is_dir()
    assert run_json("scrub", home=gap)["damaged"] == []  # type: ignore[index]
    assert list((gap / "tmp").iterdir()) == []  # what was kept went into the store


def test_a_kept_copy_that_changed_is_read_again(
    killed: tuple[Path, Path, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    gap, bundle, blobs = killed
    victim = sorted((gap / "tmp" / "verified").iterdir())[0]
    victim.chmod(0o644)
    data = bytearray(victim.read_bytes())
    data[-1] ^= 1
    victim.write_bytes(bytes(data))
    read = _count_reads(monkeypatch)
    with vault.open_vault(gap) as v:
        result = v.import_bundle(bundle)
    assert result.resumed == KILL_AFTER - 1
    assert len(read) == blobs - KILL_AFTER + 1
    assert victim.name in {name.rsplit("/", 1)[1] for name in read}


def test_gc_drops_what_an_interrupted_import_kept(killed: tuple[Path, Path, int]) -> None:
    gap, _bundle, _blobs = killed
    warnings = {w["kind"]: w["detail"] for w in run_json("fsck", home=gap)["warnings"]}  # type: ignore[index]
    assert f"{KILL_AFTER} blob(s) an interrupted import verified" in warnings["resumable-import"], warnings
    out = run_json("gc", home=gap)
    assert out["bytes"] > 0  # type: ignore[index]
    assert not (gap / "tmp" / "verified").exists()


def test_a_refused_import_keeps_nothing(tmp_path: Path, keypair: KeyPair) -> None:
    """A refusal after every blob verified (a file of unknown format, not allowed here) keeps nothing."""
    model = write_tiny_model(tmp_path / "model")
    (model / "weights.xyz").write_bytes(bytes(range(256)) * 64)
    connected, gap = tmp_path / "connected", tmp_path / "gap"
    run("add", model, "--repo", "acme/tiny", "--allow-unknown-format", home=connected)
    run("sign", "acme/tiny", "--key", keypair.private, home=connected)
    bundle = tmp_path / "b.vault"
    run("bundle", "acme/tiny", "-o", bundle, home=connected)
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=gap)
    before = snapshot(gap)
    err = run("import", bundle, home=gap, code=1).stderr
    assert "weights.xyz" in err, err
    assert snapshot(gap) == before
