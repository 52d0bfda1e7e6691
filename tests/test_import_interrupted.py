"""Ctrl-C or SIGTERM during `vault import`: one error line, nothing half-visible, and a re-run completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import MINILM_COMMIT, MINILM_REPO, run

VAULT = [sys.executable, "-m", "vault"]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> tuple[Path, Path]:
    """The real model's signed bundle, and the public key that signed it."""
    tmp = tmp_path_factory.mktemp("import-media")
    run("keygen", "-o", tmp / "k")
    run("add", minilm_dir, "--repo", MINILM_REPO, "--revision", MINILM_COMMIT, home=tmp / "connected")
    run("sign", MINILM_REPO, "--key", tmp / "k.pem", home=tmp / "connected")
    run("bundle", MINILM_REPO, "-o", tmp / "b.vault", home=tmp / "connected")
    return tmp / "b.vault", tmp / "k.pub.pem"


def _stop_mid_import(
    base: Path, bundle: Path, key: Path, sig: signal.Signals
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Start an import, freeze it while it stages blobs, deliver `sig`, let it run on."""
    for attempt in range(5):
        home = base / f"home{attempt}"
        run("trust", "add", "connected", "--key", key, "--scope", "sentence-transformers/*", home=home)
        argv = [*VAULT, "--home", home, "import", bundle]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while proc.poll() is None and not list((home / "tmp").glob("import-*")):
            time.sleep(0.0005)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGSTOP)
            if list((home / "tmp").glob("import-*")):
                os.kill(proc.pid, sig)
                os.kill(proc.pid, signal.SIGCONT)
                stdout, stderr = proc.communicate(timeout=60)
                return home, subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
            os.kill(proc.pid, signal.SIGCONT)
        proc.communicate(timeout=60)
    pytest.fail("the import always finished before it could be interrupted")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_interrupted_import_keeps_nothing_visible_and_a_rerun_completes(
    media: tuple[Path, Path], tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    bundle, key = media
    home, res = _stop_mid_import(tmp_path, bundle, key, sig)
    # CPython may end by SIGINT after vault handled a Ctrl-C (see test_bundle_interrupted).
    assert res.returncode == code or (sig == signal.SIGINT and res.returncode == -sig), res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("vault: error:"), res.stderr
    assert MINILM_REPO not in run("list", home=home).stdout
    assert list((home / "tmp").glob("import-*")) == []
    assert "0 revisions" in run("fsck", home=home).stdout
    run("import", bundle, home=home)
    assert run("path", MINILM_REPO, home=home).stdout.strip()
    assert "1 revisions" in run("fsck", home=home).stdout
