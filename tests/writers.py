"""Several writer processes at once on one home (and, with VAULT_DATABASE_URL, one PostgreSQL catalog).

Each worker imports two revisions of its own model (the second revokes the first), adds a trust
entry, re-bundles its model and runs gc; a fifth is killed mid-import and run again. Afterwards
the audit chain must be one line with every event in it, nothing lost, and fsck clean.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import KeyPair, run, run_json
from tests.forge import forge_bundle

WORKERS = 4
VAULT = [sys.executable, "-m", "vault"]


def _worker_script(home: Path, bundles: list[Path], key: Path, n: int) -> list[list[str]]:
    base = [*VAULT, "--home", str(home)]
    return [
        [*base, "import", str(bundles[0])],
        [*base, "trust", "add", f"worker{n}", "--key", str(key), "--scope", f"acme/m{n}"],
        [*base, "import", str(bundles[1])],
        [*base, "bundle", f"acme/m{n}", "-o", str(bundles[0].with_name(f"relay{n}.vault"))],
        [*base, "gc"],
    ]


def run_concurrent_writers(home: Path, tmp_path: Path, keypair: KeyPair, env: dict[str, str]) -> None:
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=home, env=env)
    steps: list[list[list[str]]] = []
    for n in range(WORKERS):
        files = {"config.json": f'{{"n": {n}}}'.encode(), "vocab.txt": b"a\nb\n"}
        first = forge_bundle(tmp_path / f"w{n}a.vault", keypair.private, files, repo_id=f"acme/m{n}",
                             commit=f"{n}" * 40, fetched_at="2026-01-01T00:00:00Z")  # fmt: skip
        second = forge_bundle(tmp_path / f"w{n}b.vault", keypair.private, {**files, "README.md": b"v2"},
                              repo_id=f"acme/m{n}", commit=f"{n + 5}" * 40, revoke=(f"{n}" * 40,),
                              fetched_at="2026-02-01T00:00:00Z")  # fmt: skip
        steps.append(_worker_script(home, [first, second], keypair.public, n))
    full_env = {**os.environ, **env}
    procs: list[tuple[subprocess.Popen[str], list[list[str]]]] = []
    # Each worker runs its steps in order; the workers run side by side.
    for script in steps:
        chain = " && ".join(" ".join(_quote(a) for a in cmd) for cmd in script)
        procs.append((subprocess.Popen(["sh", "-c", chain], env=full_env, text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE), script))  # fmt: skip
    for proc, _script in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err


def kill_an_import_mid_commit(home: Path, tmp_path: Path, keypair: KeyPair, env: dict[str, str]) -> None:
    """A writer killed while it imports leaves nothing half-visible, and a re-run completes it."""
    weights = os.urandom(24 << 20)
    files = {"weights.bin.txt": weights.hex().encode()}
    bundle = forge_bundle(tmp_path / "big.vault", keypair.private, files, repo_id="acme/big", commit="b" * 40)
    full_env = {**os.environ, **env}
    proc = subprocess.Popen([*VAULT, "--home", str(home), "import", str(bundle)], env=full_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while not list((home / "tmp").glob("import-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    run("import", bundle, home=home, env=env)
    assert run("path", "acme/big", home=home, env=env).stdout.strip().endswith("b" * 40)


def check_one_linear_history(home: Path, env: dict[str, str]) -> None:
    report = run_json("audit", home=home, env=env)
    assert report["chain_intact"], report
    actions = [e["action"] for e in report["events"]]
    assert actions.count("import") == 2 * WORKERS + 1
    assert actions.count("revoke") == WORKERS
    assert actions.count("trust.add") == WORKERS + 1
    assert actions.count("bundle") == WORKERS
    listed = {r["repo_id"]: r for r in run_json("list", home=home, env=env)}
    assert set(listed) == {f"acme/m{n}" for n in range(WORKERS)} | {"acme/big"}
    for n in range(WORKERS):
        assert run("path", f"acme/m{n}", home=home, env=env).stdout.strip().endswith(f"{n + 5}" * 40)
        revoked = run("path", f"acme/m{n}@{str(n) * 40}", home=home, env=env, code=3)
        assert "is revoked" in revoked.stderr
    fsck = json.loads(run("--json", "fsck", home=home, env=env).stdout)
    assert fsck["clean"], fsck


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"
