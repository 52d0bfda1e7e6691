"""A `vault bundle` that fails or is stopped part-way leaves no partial files behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MINILM_COMMIT, MINILM_REPO, Transfer, run
from tests.interrupting import exited_as_interrupted, signal_when
from vault._bundle.tar_writer import TarWriter

VAULT = [sys.executable, "-m", "vault"]


@pytest.fixture(scope="module")
def signed_home(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    tmp = tmp_path_factory.mktemp("signed")
    run("keygen", "-o", tmp / "k")
    run("add", minilm_dir, "--repo", MINILM_REPO, "--revision", MINILM_COMMIT, home=tmp / "home")
    run("sign", MINILM_REPO, "--key", tmp / "k.pem", home=tmp / "home")
    return tmp / "home"


def _stop_mid_write(home: Path, out: Path, sig: signal.Signals) -> subprocess.CompletedProcess[str]:
    """Interrupt a bundle while a .partial file exists."""
    for _attempt in range(5):
        argv = [*VAULT, "--home", home, "bundle", MINILM_REPO, "-o", out, "--split-size", "8M"]
        res = signal_when(argv, lambda: bool(list(out.parent.glob("*.partial"))), sig)
        if res is not None:
            return res
        for p in out.parent.iterdir():
            p.unlink()
    pytest.fail("the bundle always finished before it could be interrupted")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_bundle_leaves_no_partial_files(
    signed_home: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "media" / "minilm.vault"
    out.parent.mkdir()
    res = _stop_mid_write(signed_home, out, sig)
    assert exited_as_interrupted(res, sig), res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("vault: error:"), res.stderr
    assert list(out.parent.iterdir()) == []


def test_full_disk_leaves_no_partial_files(signed_home: Path, tmp_path: Path) -> None:
    """A 16 MiB tmpfs (in a private mount namespace) fills up part-way through the 87 MiB model."""
    media = tmp_path / "media"
    media.mkdir()
    script = 'mount -t tmpfs -o size=16m tmpfs "$1" && shift && "$@"; echo "rc=$?"; ls -A "$(dirname "$3")"'
    out = media / "minilm.vault"
    cmd = ["unshare", "--mount", "sh", "-c", script.replace("$3", "$OUT"), "sh", str(media),
           *VAULT, "--home", str(signed_home), "bundle", MINILM_REPO, "-o", str(out)]  # fmt: skip
    res = subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "OUT": str(out)}
    )
    lines = res.stdout.strip().splitlines()
    assert lines == ["rc=5"], f"the tmpfs should be empty after the failure: {lines}\n{res.stderr}"
    errors = res.stderr.strip().splitlines()
    assert errors == [f"vault: error: {out}: No space left on device"], res.stderr


def _weights_blob(home: Path) -> Path:
    files = {f.name: f for f in (home / "models" / MINILM_REPO / MINILM_COMMIT).iterdir() if f.is_file()}
    inode = files["model.safetensors"].stat().st_ino
    return next(p for p in (home / "store" / "blobs" / "sha256").rglob("*") if p.stat().st_ino == inode)


@pytest.mark.parametrize("damage", ["link", "shrinks-as-read"])
def test_a_store_blob_that_fails_the_bundle_leaves_one_line_and_no_files(
    tmp_path_factory: pytest.TempPathFactory,
    minilm_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    damage: str,
) -> None:
    """The store is read, never mapped (a disk error under a map is SIGBUS, which no cleanup
    survives), and opened without following links, as scrub opens it. A blob replaced by a link
    to its very bytes, or cut short while its windows are read, stops the bundle with one line
    naming the blob, and nothing is left on the medium."""
    tmp = tmp_path_factory.mktemp("damaged-store")
    home = tmp / "home"
    run("keygen", "-o", tmp / "k")
    run("add", minilm_dir, "--repo", MINILM_REPO, "--revision", MINILM_COMMIT, home=home)
    run("sign", MINILM_REPO, "--key", tmp / "k.pem", home=home)
    blob = _weights_blob(home)
    if damage == "link":
        elsewhere = tmp / "elsewhere"
        blob.rename(elsewhere)
        blob.symlink_to(elsewhere)
        want = "is not a regular file (a symbolic link)"
    else:
        copy_window = TarWriter._copy_window

        def cut_after_the_first_window(self: TarWriter, fd: int, sha256: str, start: int, n: int) -> None:
            if sha256 == blob.parent.name + blob.name and start > 0:  # the first window is out
                os.truncate(blob, 1 << 20)
            copy_window(self, fd, sha256, start, n)

        blob.chmod(0o644)
        monkeypatch.setattr(TarWriter, "_copy_window", cut_after_the_first_window)
        want = "shrank as it was read"
    out = tmp_path / "media" / "minilm.vault"
    out.parent.mkdir()
    res = run("bundle", MINILM_REPO, "-o", out, "--split-size", "8M", home=home, code=None)
    assert res.exit_code == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and want in lines[0] and blob.parent.name + blob.name[:14] in lines[0], lines
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_that_lands_in_a_finalizer_still_leaves_no_bundle(
    transfer: Transfer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sig: signal.Signals
) -> None:
    """As for an import (`test_a_ctrl_c_that_lands_in_a_finalizer_still_stops_the_import`): the
    exception a finalizer swallows does not let the bundle take its final name."""
    real = TarWriter.close

    class LandsInAFinalizer:
        def __del__(self) -> None:
            os.kill(os.getpid(), sig)
            sum(range(100))

    def close_then_interrupted(self: TarWriter) -> None:
        real(self)
        LandsInAFinalizer()

    swallowed: list[type[BaseException] | None] = []
    monkeypatch.setattr(TarWriter, "close", close_then_interrupted)
    monkeypatch.setattr(sys, "unraisablehook", lambda u: swallowed.append(u.exc_type))
    out = tmp_path / "medium" / "b.vault"
    out.parent.mkdir()
    res = run("bundle", transfer.repo_id, "-o", out, home=transfer.connected, code=None)
    assert res.exit_code == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig], res.stderr
    assert list(out.parent.iterdir()) == []
    assert len(swallowed) == 1  # the case this is about: Python dropped the exception
