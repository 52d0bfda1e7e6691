"""A killed import leaves nothing half-visible, and running it again completes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import MINILM_COMMIT, MINILM_REPO, MINILM_SHA256, run, sha256_file


@pytest.fixture(scope="module")
def real_bundle(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("crash")
    run("keygen", "-o", tmp / "k")
    home = tmp / "connected"
    run("add", minilm_dir, "--repo", MINILM_REPO, "--revision", MINILM_COMMIT, home=home)
    run("sign", MINILM_REPO, "--key", tmp / "k.pem", home=home)
    run("bundle", MINILM_REPO, "-o", tmp / "b.vault", home=home)
    return tmp / "b.vault", tmp / "k.pub.pem"


@pytest.mark.parametrize("delay", [0.4, 0.7, 1.0])
def test_sigkill_mid_import_then_rerun(tmp_path: Path, real_bundle: tuple[Path, Path], delay: float) -> None:
    bundle, pub = real_bundle
    home = tmp_path / "gap"
    run("trust", "add", "c", "--key", pub, "--scope", "*", home=home)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vault.cli", "--home", home, "import", bundle],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    # Whatever resolves now is whole: either nothing, or the complete, correct revision.
    res = run("path", MINILM_REPO, home=home, code=None)
    if res.exit_code == 0:
        assert sha256_file(Path(res.stdout.strip()) / "model.safetensors") == MINILM_SHA256
    else:
        assert res.exit_code == 3

    run("import", bundle, home=home)
    path = Path(run("path", MINILM_REPO, home=home).stdout.strip())
    assert sha256_file(path / "model.safetensors") == MINILM_SHA256
    assert list((home / "tmp").iterdir()) == []
    assert not list((home / "models").glob("*/*/.building-*"))
