"""A `vault bundle` that fails or is stopped part-way leaves no partial files behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import MINILM_COMMIT, MINILM_REPO, run
from tests.interrupting import exited_as_interrupted, signal_when
from vault._bundle.part_digests import BlockHasher, PartDigests
from vault._bundle.writer import _Digesting, _FileSink

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


def test_cleanup_does_not_wait_on_a_lock_a_signal_left_held(tmp_path: Path) -> None:
    """Ctrl-C can land inside the digest queue's Condition.__enter__, after it took the lock.

    The lock then stays held (CI once hung here for good); the abort path must
    finish without it, and the digest thread must still go once it is free.
    """
    total = 4 << 20
    stream = _Digesting(
        _FileSink(tmp_path / "out.partial"), BlockHasher(PartDigests.placeholder(total, total, 0), total)
    )
    stream.write(b"x" * 4096)
    stream._queue.mutex.acquire()  # what the interrupted put() left behind
    cleanup = threading.Thread(target=stream.abandon, daemon=True)
    cleanup.start()
    cleanup.join(10)
    assert not cleanup.is_alive(), "abandon() waited on the queue's lock"
    stream._queue.mutex.release()
    stream._thread.join(10)
    assert not stream._thread.is_alive(), "the digest thread outlived an abandoned stream"
