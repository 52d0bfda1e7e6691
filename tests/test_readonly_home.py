"""A home the caller may only read: a read-only mount, and another uid.

Inference servers run as their own user and containers mount the vault home
read-only. Every reader (path, resolve, list, show, provenance, trust list,
fsck, scrub as a report, verify, serve, the HF cache view) must work there and
leave the home byte-identical; every writer must refuse with one line naming
the home.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, KeyPair, Transfer, make_transfer, run, sha256_file, snapshot

READERS = REPO_ROOT / "tests" / "readers.py"
NOBODY = 65534


@pytest.fixture
def shared_transfer(tiny_model: Path, keypair: KeyPair) -> Iterator[Transfer]:
    """An imported revision in a world-readable place (pytest's own tmp dirs are private)."""
    base = Path(tempfile.mkdtemp(prefix="vault-ro-"))
    os.chmod(base, 0o755)
    try:
        t = make_transfer(base, tiny_model, keypair)
        run("import", t.bundle, home=t.airgapped)
        yield t
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _scratch() -> Path:
    scratch = Path(tempfile.mkdtemp(prefix="vault-ro-scratch-"))
    os.chmod(scratch, 0o777)
    return scratch


def _check(out: dict, t: Transfer) -> None:
    def ok(name: str) -> dict:
        r = out[name]
        assert r["code"] == 0, f"{name}: exit {r['code']}: {r['stderr']}"
        return r

    home = t.airgapped.absolute()
    want_dir = home / "models" / t.repo_id / t.commit
    assert ok("path")["stdout"].strip() == str(want_dir)
    assert json.loads(ok("path_json_after")["stdout"]) == {"path": str(want_dir)}
    assert ok("resolve")["stdout"].strip() == str(want_dir)
    originals = {p.name: sha256_file(p) for p in sorted(want_dir.rglob("*")) if p.is_file()}
    assert out["files"] == originals
    assert [r["commit"] for r in json.loads(ok("list")["stdout"])] == [t.commit]
    assert json.loads(ok("show")["stdout"])["commit"] == t.commit
    assert json.loads(ok("provenance")["stdout"])["commit"] == t.commit
    assert [k["name"] for k in json.loads(ok("trust_list")["stdout"])["keys"]] == ["acme"]
    assert json.loads(ok("fsck")["stdout"])["clean"] is True
    scrub = json.loads(ok("scrub")["stdout"])
    assert scrub["clean"] is True and scrub["recorded"] is False and scrub["checked"] == 3
    assert json.loads(ok("verify")["stdout"])["status"] == "verified"
    assert out["serve"].get("sha") == t.commit, out["serve"]
    assert out["serve"]["config_sha256"] == originals["config.json"]
    pages = out["serve"]["pages"]
    assert [p["status"] for p in pages.values()] == [200, 200, 200], pages
    assert pages["/"]["mentions_repo"] and pages[f"/ui/revision/{t.repo_id}/{t.commit}"]["mentions_repo"]
    assert out["hf_cache"].get("files") == originals, out["hf_cache"]
    for writer in ("import", "trust_add", "revoke"):
        r = out[writer]
        assert r["code"] == 5, f"{writer}: exit {r['code']}: {r['stderr']}"
        lines = r["stderr"].strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"vault: error: {home}: not writable"), r["stderr"]
    assert json.loads(out["import"]["stdout"])["error"]["kind"] == "home_not_writable"


def test_read_only_mount(shared_transfer: Transfer) -> None:
    t = shared_transfer
    home = t.airgapped.absolute()
    before = snapshot(home)
    scratch = _scratch()
    script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
    cmd = ["unshare", "--mount", "sh", "-c", script, "sh", str(home),
           sys.executable, str(READERS), str(home), t.repo_id, str(t.bundle), str(scratch)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["uid"] == 0, "root, and still refused: the mount is read-only"
    _check(out, t)
    assert snapshot(home) == before, "a read-only reader changed the home"
    shutil.rmtree(scratch)


def _python_for_other_users() -> list[str]:
    """An interpreter another uid can run: ours may live under /root (mode 0700)."""
    check = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    for candidate in (sys.executable, f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"):
        respawn = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'pass'], check=True)"
        if subprocess.run([*check, candidate, "-c", respawn], capture_output=True).returncode == 0:
            return [candidate]
    pytest.fail(f"no Python {sys.version_info.major}.{sys.version_info.minor} that uid {NOBODY} can run")


def test_another_uid(shared_transfer: Transfer) -> None:
    t = shared_transfer
    home = t.airgapped.absolute()
    before = snapshot(home)
    scratch = _scratch()
    python = _python_for_other_users()
    # The vault sources and this venv's packages, readable by anyone; the home is not writable to them.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch),
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *site.getsitepackages()])}  # fmt: skip
    cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
           *python, str(READERS), str(home), t.repo_id, str(t.bundle), str(scratch)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["uid"] == NOBODY
    _check(out, t)
    assert snapshot(home) == before, "another user's reads changed the home"
    shutil.rmtree(scratch)


def test_reader_sees_a_revocation_made_after_it_last_looked(shared_transfer: Transfer) -> None:
    """No stale answers: the immutable open a non-owner gets must not outlive one read."""
    t = shared_transfer
    home = t.airgapped.absolute()
    python = _python_for_other_users()
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *site.getsitepackages()])}  # fmt: skip
    code = (
        "import sys, vault\n"
        "from vault.errors import NotFoundError\n"
        "for line in sys.stdin:\n"
        "    try: print(vault.resolve(line.strip(), home=sys.argv[1]), flush=True)\n"
        "    except NotFoundError as e: print('refused:', e, flush=True)\n"
    )
    cmd = [
        "setpriv",
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        *python,
        "-c",
        code,
        str(home),
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(f"{t.repo_id}\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == str(home / "models" / t.repo_id / t.commit)
    run("revoke", f"{t.repo_id}@{t.commit}", "--reason", "test", "--key", t.key.private, home=t.connected)
    run("bundle", "-o", t.bundle.with_name("revocation.vault"), home=t.connected)  # revocations only
    run("import", t.bundle.with_name("revocation.vault"), home=t.airgapped)
    proc.stdin.write(f"{t.repo_id}@{t.commit}\n")
    proc.stdin.flush()
    answer = proc.stdout.readline()
    proc.stdin.close()
    proc.wait(timeout=30)
    proc.stdout.close()
    assert answer.startswith("refused:") and "revoked" in answer, answer
