"""`vault serve`: unmodified huggingface_hub clients download from it with HF_ENDPOINT."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import MINILM_COMMIT, MINILM_REPO, MINILM_SHA256, run

WEIGHTS = f"/{MINILM_REPO}/resolve/main/model.safetensors"


@pytest.fixture(scope="module")
def server(minilm_airgapped: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vault.cli", "--home", minilm_airgapped, "serve", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
    assert m, f"no URL in {line!r}; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
    yield m.group(1)
    proc.terminate()
    proc.communicate(timeout=10)  # waits, and closes the pipes


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def client(code: str, url: str, cache: Path) -> dict:
    env = {"PATH": os.environ["PATH"], "HF_ENDPOINT": url, "HF_HUB_CACHE": str(cache),
           "HOME": str(cache.parent), "HF_HUB_DISABLE_TELEMETRY": "1"}  # fmt: skip
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


DOWNLOAD = f"""
import json
from huggingface_hub import snapshot_download, hf_hub_download
from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError
path = snapshot_download("{MINILM_REPO}")
errors = {{}}
for name, call in [
    ("repo", lambda: hf_hub_download("acme/not-here", "config.json")),
    ("revision", lambda: hf_hub_download("{MINILM_REPO}", "config.json", revision="no-such-branch")),
    ("entry", lambda: hf_hub_download("{MINILM_REPO}", "no-such-file.txt")),
]:
    try:
        call()
        errors[name] = None
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as e:
        errors[name] = type(e).__name__
print(json.dumps({{"path": path, "errors": errors}}))
"""


def test_snapshot_download_fills_an_empty_cache(server: str, minilm_airgapped: Path, tmp_path: Path) -> None:
    out = client(DOWNLOAD, server, tmp_path / "cache")
    snap = Path(out["path"])
    assert snap.name == MINILM_COMMIT
    vault_dir = Path(run("path", MINILM_REPO, home=minilm_airgapped).stdout.strip())
    served = sorted(p.relative_to(snap).as_posix() for p in snap.rglob("*") if p.is_file())
    assert served == sorted(p.relative_to(vault_dir).as_posix() for p in vault_dir.rglob("*") if p.is_file())
    for rel in served:
        assert (snap / rel).read_bytes() == (vault_dir / rel).read_bytes(), rel
    assert out["errors"] == {
        "repo": "RepositoryNotFoundError",
        "revision": "RevisionNotFoundError",
        "entry": "RemoteEntryNotFoundError",
    }
    # The client named its blobs exactly as it would from the Hub.
    blobs = {p.name for p in (snap.parent.parent / "blobs").iterdir()}
    assert MINILM_SHA256 in blobs


def test_head_and_ranges(server: str, minilm_airgapped: Path) -> None:
    weights = (
        Path(run("path", MINILM_REPO, home=minilm_airgapped).stdout.strip()) / "model.safetensors"
    ).read_bytes()
    status, headers, body = get(server + WEIGHTS, method="HEAD")
    assert status == 200 and body == b""
    assert headers["Content-Length"] == str(len(weights))
    assert headers["X-Repo-Commit"] == MINILM_COMMIT
    assert headers["ETag"] == headers["X-Linked-Etag"] == f'"{MINILM_SHA256}"'
    assert headers["X-Linked-Size"] == str(len(weights))
    assert not any(k.lower().startswith("x-xet") for k in headers)

    status, headers, body = get(server + WEIGHTS, {"Range": "bytes=1000-1999"})
    assert status == 206 and body == weights[1000:2000]
    assert headers["Content-Range"] == f"bytes 1000-1999/{len(weights)}"
    status, _, body = get(server + WEIGHTS, {"Range": f"bytes={len(weights) - 100}-"})
    assert status == 206 and body == weights[-100:]
    status, _, body = get(server + WEIGHTS, {"Range": "bytes=-10"})
    assert status == 206 and body == weights[-10:]
    status, headers, _ = get(server + WEIGHTS, {"Range": f"bytes={len(weights)}-"})
    assert status == 416


def test_errors_carry_hub_error_codes(server: str) -> None:
    for path, code in [
        ("/api/models/acme/none", "RepoNotFound"),
        (f"/api/models/{MINILM_REPO}/revision/nope", "RevisionNotFound"),
        (f"/{MINILM_REPO}/resolve/main/nope.bin", "EntryNotFound"),
        (f"/{MINILM_REPO}/resolve/{'0' * 40}/config.json", "RevisionNotFound"),
    ]:
        status, headers, _ = get(server + path)
        assert (status, headers.get("X-Error-Code")) == (404, code), path


def test_tree_listing(server: str) -> None:
    status, _, body = get(f"{server}/api/models/{MINILM_REPO}/tree/main?recursive=true")
    entries = json.loads(body)
    files = {e["path"]: e for e in entries if e["type"] == "file"}
    assert status == 200 and len(files) == 13 and "1_Pooling/config.json" in files
    assert files["model.safetensors"]["lfs"]["oid"] == MINILM_SHA256
    assert "lfs" not in files["config.json"] and len(files["config.json"]["oid"]) == 40
    assert not any("xetHash" in e for e in entries)
    _, _, body = get(f"{server}/api/models/{MINILM_REPO}/tree/main")
    top = {e["path"]: e["type"] for e in json.loads(body)}
    assert top["1_Pooling"] == "directory" and "1_Pooling/config.json" not in top


def test_many_clients_at_once(server: str) -> None:
    def fetch(_: int) -> str:
        return hashlib.sha256(get(server + WEIGHTS)[2]).hexdigest()

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(fetch, range(8))) == {MINILM_SHA256}


def test_vault_pull_from_vault_serve(server: str, tmp_path: Path) -> None:
    """A vault can mirror another: every file served passes pull's cross-check against the served tree."""
    home = tmp_path / "mirror"
    pulled = json.loads(run("--json", "pull", MINILM_REPO, "--endpoint", server, home=home).stdout)
    assert pulled["commit"] == MINILM_COMMIT and pulled["files"] == 13
    prov = json.loads(run("--json", "provenance", MINILM_REPO, home=home).stdout)
    assert all(f["matched"] for f in prov["files"])
    weights = next(f for f in prov["files"] if f["path"] == "model.safetensors")
    assert weights["published"]["lfs_sha256"] == MINILM_SHA256
