"""Kill `vault import` with SIGKILL at random moments and check what is left (see scripts/crash-test)."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vault._hashing import hash_file  # noqa: E402 - after the path set-up above

VAULT = [sys.executable, "-m", "vault.cli"]
REPO = "sentence-transformers/all-MiniLM-L6-v2"
COMMIT = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def vault(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([*VAULT, *map(str, args)], capture_output=True, text=True)
    if check and res.returncode != 0:
        sys.exit(f"crash-test: vault {' '.join(map(str, args))} failed: {res.stderr.strip()}")
    return res


def sha256(path: Path) -> str:
    return hash_file(path).sha256


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--model", type=Path, default=ROOT / ".cache/models/all-MiniLM-L6-v2")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="vault-crash-") as tmpdir:
        tmp = Path(tmpdir)
        vault("keygen", "-o", tmp / "k")
        vault("--home", tmp / "conn", "add", args.model, "--repo", REPO, "--revision", COMMIT)
        vault("--home", tmp / "conn", "sign", REPO, "--key", tmp / "k.pem")
        vault("--home", tmp / "conn", "bundle", REPO, "-o", tmp / "b.vault")

        # Measure one clean import to spread the kills over its whole duration.
        probe = tmp / "probe"
        vault("--home", probe, "trust", "add", "c", "--key", tmp / "k.pub.pem", "--scope", "*")
        start = time.monotonic()
        vault("--home", probe, "import", tmp / "b.vault")
        duration = time.monotonic() - start
        shutil.rmtree(probe)

        outcomes = {"nothing visible": 0, "whole revision visible": 0}
        for run in range(args.runs):
            home = tmp / f"gap{run}"
            vault("--home", home, "trust", "add", "c", "--key", tmp / "k.pub.pem", "--scope", "*")
            delay = rng.uniform(0.0, duration * 1.1)
            proc = subprocess.Popen([*VAULT, "--home", str(home), "import", str(tmp / "b.vault")],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            time.sleep(delay)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()

            res = vault("--home", home, "path", REPO, check=False)
            if res.returncode == 0:
                weights = Path(res.stdout.strip()) / "model.safetensors"
                if sha256(weights) != WEIGHTS_SHA256:
                    sys.exit(
                        f"crash-test: run {run} (kill at {delay:.3f}s): a half-imported revision resolves"
                    )
                outcomes["whole revision visible"] += 1
            elif res.returncode == 3:
                outcomes["nothing visible"] += 1
            else:
                sys.exit(f"crash-test: run {run}: vault path failed unexpectedly: {res.stderr.strip()}")

            vault("--home", home, "import", tmp / "b.vault")
            report = json.loads(vault("--home", home, "--json", "fsck").stdout)
            if not report["clean"] or report["warnings"]:
                sys.exit(f"crash-test: run {run} (kill at {delay:.3f}s): fsck after rerun: {report}")
            path = Path(vault("--home", home, "path", REPO).stdout.strip())
            if sha256(path / "model.safetensors") != WEIGHTS_SHA256:
                sys.exit(f"crash-test: run {run}: rerun did not complete the import")
            shutil.rmtree(home)
    print(f"crash-test: {args.runs} SIGKILLs over a {duration:.2f}s import (seed {seed}): "
          f"{outcomes['nothing visible']} left nothing visible, {outcomes['whole revision visible']} "
          "a whole revision; every rerun completed and fsck was clean")  # fmt: skip


if __name__ == "__main__":
    main()
