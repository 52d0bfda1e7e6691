"""A `vault bundle` that fails or is stopped part-way leaves no partial files behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MINILM_COMMIT, MINILM_REPO, run
from tests.interrupting import exited_as_interrupted, signal_when

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
