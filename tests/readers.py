"""What an inference server or auditor does with a vault home it may only read.

Run as a script (as another uid, or inside a read-only mount namespace) by
tests/test_readonly_home.py: it drives the real `vault` command, `vault.resolve()`,
`vault serve` and unmodified `huggingface_hub`, and prints one JSON object of
what it saw. It asserts nothing itself; the test does.

    python tests/readers.py HOME REPO BUNDLE SCRATCH
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path


def vault(*args: str) -> dict:
    res = subprocess.run([sys.executable, "-m", "vault", *args], capture_output=True, text=True, timeout=120)
    return {"code": res.returncode, "stdout": res.stdout, "stderr": res.stderr}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def serve(home: str, repo: str) -> dict:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vault", "serve", "--port", "0", "--quiet", "--home", home],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if m is None:
            return {"error": line + (proc.stderr.read() if proc.stderr else "")}
        with urllib.request.urlopen(f"{m.group(1)}/api/models/{repo}", timeout=30) as r:
            info = json.loads(r.read())
        with urllib.request.urlopen(f"{m.group(1)}/{repo}/resolve/main/config.json", timeout=30) as r:
            config = hashlib.sha256(r.read()).hexdigest()
        pages = {}  # the catalog pages for people, audit log included
        for page in ("/", f"/ui/revision/{repo}/{info['sha']}", "/ui/audit"):
            with urllib.request.urlopen(m.group(1) + page, timeout=30) as r:
                pages[page] = {"status": r.status, "mentions_repo": repo in r.read().decode()}
        return {"sha": info["sha"], "config_sha256": config, "pages": pages}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def hf_cache(home: str, repo: str, scratch: str) -> dict:
    env = {**os.environ, "HF_HUB_CACHE": f"{home}/hf/hub", "HF_HUB_OFFLINE": "1", "HF_HOME": scratch}
    code = (
        "import json; from huggingface_hub import snapshot_download;"
        f"print(json.dumps(snapshot_download({repo!r}, local_files_only=True)))"
    )
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        return {"error": res.stderr}
    snap = Path(json.loads(res.stdout.strip().splitlines()[-1]))
    return {
        "snapshot": str(snap),
        "files": {p.name: sha256(p) for p in sorted(snap.rglob("*")) if p.is_file()},
    }


def main() -> None:
    home, repo, bundle, scratch = sys.argv[1:5]
    os.environ["VAULT_HOME"] = home
    path = vault("path", repo)
    resolved = subprocess.run(
        [sys.executable, "-c", f"import vault; print(vault.resolve({repo!r}))"],
        capture_output=True,
        text=True,
    )
    directory = Path(path["stdout"].strip())
    out = {
        "uid": os.getuid(),
        "path": path,
        "path_json_after": vault("path", repo, "--json", "--home", home),
        "resolve": {"code": resolved.returncode, "stdout": resolved.stdout, "stderr": resolved.stderr},
        "files": {p.name: sha256(p) for p in sorted(directory.rglob("*")) if p.is_file()}
        if path["code"] == 0
        else {},
        "list": vault("list", "--json"),
        "show": vault("show", repo, "--json"),
        "provenance": vault("provenance", repo, "--json"),
        "trust_list": vault("trust", "list", "--json"),
        "fsck": vault("fsck", "--json"),
        "scrub": vault("scrub", "--json"),
        "verify": vault("verify", bundle, "--json"),
        "serve": serve(home, repo),
        "hf_cache": hf_cache(home, repo, scratch),
        "import": vault("import", bundle, "--json"),
        "trust_add": vault("trust", "add", "x", "--key", __file__, "--scope", "x/*"),
        "revoke": vault("gc"),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
