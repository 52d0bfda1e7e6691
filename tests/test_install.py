"""Install like an operator: carry the wheelhouse across, install it with no index, run the round trip.

`scripts/wheelhouse` builds vault's wheel and downloads every wheel it needs
(the connected side has the package index); the fresh venv then installs
from that folder alone, with the index unreachable, as the air-gapped side
must. The editable install the other tests use finds every module in the
checkout, so it cannot notice a subpackage the wheel leaves out: this test can.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import MINILM_COMMIT, MINILM_REPO, MINILM_SHA256, REPO_ROOT, sha256_file

DIST_NAME = "airgap-model-vault"


def _copy_checkout(dest: Path) -> None:
    """The files git would carry (tracked, or new and not ignored): a clean checkout's view."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for rel in filter(None, listed):
        src = REPO_ROOT / rel
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the work tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            target.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, target)


def _clean_env(cwd: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VAULT_", "VIRTUAL_ENV"))}
    env["HOME"] = str(cwd)
    return env


def test_the_wheelhouse_installs_with_no_index_and_runs_the_round_trip(
    tmp_path: Path, minilm_dir: Path
) -> None:
    src, wheels, venv, work = (tmp_path / d for d in ("src", "wheels", "venv", "work"))
    _copy_checkout(src)
    work.mkdir()
    env = _clean_env(work)
    built = subprocess.run([src / "scripts" / "wheelhouse", wheels], env={**env, "PYTHON": sys.executable},
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert built.stdout.startswith("wheelhouse: wrote ") and f"SHA256SUMS to {wheels}" in built.stdout
    # A platform nothing is built for: pip fails, the script says so, and nothing lands on the medium.
    bad = [src / "scripts" / "wheelhouse", tmp_path / "bad", "3.11", "no_such_platform"]
    failed = subprocess.run(bad, env={**env, "PYTHON": sys.executable}, capture_output=True, text=True)
    assert failed.returncode == 1 and "nothing written" in failed.stderr and not (tmp_path / "bad").exists()
    (wheel,) = wheels.glob("airgap_model_vault-*.whl")
    assert wheel.name.startswith(DIST_NAME.replace("-", "_") + "-")
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=wheels, capture_output=True, text=True)
    assert sums.returncode == 0 and sums.stdout.count(": OK") == len(list(wheels.glob("*.whl")))

    with zipfile.ZipFile(wheel) as z:
        shipped = set(z.namelist())
        metadata = next(n for n in shipped if n.endswith(".dist-info/METADATA"))
        assert f"Name: {DIST_NAME}\n" in z.read(metadata).decode()
    modules = {p.relative_to(src).as_posix() for p in (src / "vault").rglob("*.py")}
    assert modules - shipped == set(), "modules missing from the wheel"
    assert "vault/_checks/safetensors_grammar.py" in shipped
    assert "vault/_migrations/script.py.mako" in shipped

    # The air-gapped side: no index at all (an unreachable one, no config, no extra links).
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = venv / "bin" / "python"
    offline = {k: v for k, v in env.items() if not k.startswith("PIP_")}
    offline.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL="http://127.0.0.1:9/simple", PIP_RETRIES="0")
    install = [python, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheels, DIST_NAME]
    subprocess.run(install, check=True, env=offline, cwd=work)
    env = offline

    def vault(*args: str | Path) -> str:
        res = subprocess.run([venv / "bin" / "vault", *map(str, args)], capture_output=True, text=True,
                             env=env, cwd=work)  # fmt: skip
        assert res.returncode == 0, f"vault {' '.join(map(str, args))}: {res.stderr}"
        return res.stdout

    where = subprocess.run(
        [python, "-c", "import vault, vault._checks, vault._migrations; print(vault.__file__)"],
        capture_output=True, text=True, env=env, cwd=work, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(venv), f"vault imported from {where}, not the installed wheel"
    assert (
        "Usage: vault [OPTIONS] COMMAND"
        in subprocess.run(
            [python, "-m", "vault", "-h"], capture_output=True, text=True, env=env, cwd=work
        ).stdout
    )

    connected, airgapped = work / "connected", work / "airgapped"
    vault("keygen", "-o", work / "k")
    vault("--home", connected, "add", minilm_dir, "--repo", MINILM_REPO, "--revision", MINILM_COMMIT)
    vault("--home", connected, "sign", MINILM_REPO, "--key", work / "k.pem")
    vault("--home", connected, "bundle", MINILM_REPO, "-o", work / "b.vault", "--split-size", "32M")
    vault("trust", "add", "conn", "--key", work / "k.pub.pem", "--scope", "sentence-transformers/*",
          "--home", airgapped)  # fmt: skip
    vault("import", work / "b.vault", "--home", airgapped)
    path = Path(vault("path", MINILM_REPO, "--home", airgapped).strip())
    assert path == airgapped / "models" / MINILM_REPO / MINILM_COMMIT
    assert sha256_file(path / "model.safetensors") == MINILM_SHA256
