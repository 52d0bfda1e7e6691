"""Ctrl-C or SIGTERM during `vault import`: one error line, nothing half-visible, and a re-run completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MINILM_COMMIT, MINILM_REPO, Transfer, run
from tests.interrupting import exited_as_interrupted, signal_when

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
    """Interrupt an import while it stages blobs (a fresh home for each try)."""
    for attempt in range(5):
        home = base / f"home{attempt}"
        run("trust", "add", "connected", "--key", key, "--scope", "sentence-transformers/*", home=home)
        argv = [*VAULT, "--home", home, "import", bundle]
        res = signal_when(argv, lambda: bool(list((home / "tmp").glob("import-*"))), sig)  # noqa: B023
        if res is not None:
            return home, res
    pytest.fail("the import always finished before it could be interrupted")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_import_keeps_nothing_visible_and_a_rerun_completes(
    media: tuple[Path, Path], tmp_path: Path, sig: signal.Signals
) -> None:
    bundle, key = media
    home, res = _stop_mid_import(tmp_path, bundle, key, sig)
    assert exited_as_interrupted(res, sig), res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("vault: error:"), res.stderr
    assert MINILM_REPO not in run("list", home=home).stdout
    assert list((home / "tmp").glob("import-*")) == []
    assert "0 revisions" in run("fsck", home=home).stdout
    run("import", bundle, home=home)
    assert run("path", MINILM_REPO, home=home).stdout.strip()
    assert "1 revisions" in run("fsck", home=home).stdout


def test_a_ctrl_c_that_lands_in_a_finalizer_still_stops_the_import(
    transfer: Transfer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python raises a signal's KeyboardInterrupt wherever the main thread next runs Python code;
    in a finalizer (a thread pool's weakref callback, a `__del__`) it is printed as "Exception
    ignored" and dropped. The import must stop all the same, before its point of no return."""
    import vault._ops.importer as importer

    real = importer.stage_blobs

    class LandsInAFinalizer:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(100))  # the handler runs here, and its exception goes nowhere

    def staged_then_interrupted(*args: object, **kwargs: object) -> object:
        result = real(*args, **kwargs)  # type: ignore[arg-type]
        LandsInAFinalizer()
        return result

    swallowed: list[type[BaseException] | None] = []
    monkeypatch.setattr(importer, "stage_blobs", staged_then_interrupted)
    monkeypatch.setattr(sys, "unraisablehook", lambda u: swallowed.append(u.exc_type))
    res = run("import", transfer.bundle, home=transfer.airgapped, code=130)
    assert swallowed == [KeyboardInterrupt]  # the case this is about: Python dropped the exception
    assert res.stderr.strip().endswith("interrupted; nothing half-done was kept"), res.stderr
    monkeypatch.undo()
    run("path", transfer.repo_id, home=transfer.airgapped, code=3)
    assert list((transfer.airgapped / "tmp").glob("import-*")) == []
    run("import", transfer.bundle, home=transfer.airgapped)
    assert run("path", transfer.repo_id, home=transfer.airgapped).stdout.strip()
