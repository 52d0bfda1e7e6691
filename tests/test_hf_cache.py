"""The Hugging Face cache view: unmodified huggingface_hub (and transformers) load imported models offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MINILM_COMMIT, MINILM_REPO, MINILM_SHA256, run, sha256_file, snapshot
from vault._hub.metadata import git_blob_sha1


@pytest.fixture
def airgapped(minilm_airgapped: Path) -> Path:
    return minilm_airgapped


def offline_python(code: str, cache: Path) -> dict:
    """Run `code` in a fresh interpreter that knows only HF_HUB_CACHE and HF_HUB_OFFLINE=1."""
    env = {"PATH": os.environ["PATH"], "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1",
           "HOME": str(cache.parent)}  # fmt: skip
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


LOAD = f"""
import json, hashlib
from huggingface_hub import snapshot_download, hf_hub_download, try_to_load_from_cache
from safetensors import safe_open
snap = snapshot_download("{MINILM_REPO}", local_files_only=True)
pinned = snapshot_download("{MINILM_REPO}", revision="{MINILM_COMMIT}", local_files_only=True)
config = hf_hub_download("{MINILM_REPO}", "config.json")
cached = try_to_load_from_cache("{MINILM_REPO}", "model.safetensors")
with safe_open(cached, framework="numpy") as st:
    shape = list(st.get_tensor("embeddings.word_embeddings.weight").shape)
print(json.dumps({{"snap": snap, "pinned": pinned, "config": config, "cached": cached, "shape": shape}}))
"""


def test_unmodified_huggingface_hub_loads_offline(airgapped: Path) -> None:
    cache = airgapped / "hf" / "hub"
    assert run("hf-cache", home=airgapped).stdout.strip() == str(cache.absolute())
    out = offline_python(LOAD, cache)
    snap = Path(out["snap"])
    assert (
        snap == cache.absolute() / f"models--{MINILM_REPO.replace('/', '--')}" / "snapshots" / MINILM_COMMIT
    )
    assert out["pinned"] == out["snap"]
    assert out["shape"] == [30522, 384]
    assert Path(out["cached"]) == snap / "model.safetensors"
    assert sha256_file(Path(out["cached"])) == MINILM_SHA256
    vault_dir = Path(run("path", MINILM_REPO, home=airgapped).stdout.strip())
    for f in vault_dir.rglob("*"):
        if f.is_file():
            rel = f.relative_to(vault_dir)
            assert (snap / rel).read_bytes() == f.read_bytes(), rel


def test_layout_matches_the_hub_cache(airgapped: Path) -> None:
    mdir = airgapped / "hf" / "hub" / f"models--{MINILM_REPO.replace('/', '--')}"
    assert (mdir / "refs" / "main").read_bytes() == MINILM_COMMIT.encode()  # no trailing newline
    snap = mdir / "snapshots" / MINILM_COMMIT
    weights, config = snap / "model.safetensors", snap / "config.json"
    assert weights.is_symlink() and os.readlink(weights) == f"../../blobs/{MINILM_SHA256}"
    nested = snap / "1_Pooling" / "config.json"
    assert os.readlink(nested).startswith("../../../blobs/")
    assert os.readlink(config) == f"../../blobs/{git_blob_sha1(config.read_bytes())}"
    for blob in (mdir / "blobs").iterdir():
        assert blob.stat().st_mode & 0o222 == 0, f"{blob} is writable"
    tree = json.loads((mdir / "trees" / f"{MINILM_COMMIT}.json").read_text())
    assert tree["format_version"] == 1
    assert tree["files"]["model.safetensors"]["lfs_sha256"] == MINILM_SHA256
    assert tree["files"]["config.json"]["blob_id"] == git_blob_sha1(config.read_bytes())
    assert len(tree["files"]) == 13


def test_incomplete_snapshot_is_reported_not_half_loaded(airgapped: Path, tmp_path: Path) -> None:
    copy = tmp_path / "hub"
    shutil.copytree(airgapped / "hf" / "hub", copy, symlinks=True)
    mdir = copy / f"models--{MINILM_REPO.replace('/', '--')}"
    (mdir / "snapshots" / MINILM_COMMIT / "tokenizer.json").unlink()
    code = (
        "import json\nfrom huggingface_hub import snapshot_download\n"
        "try:\n"
        f"    snapshot_download('{MINILM_REPO}', local_files_only=True)\n"
        "    print(json.dumps({'error': None}))\n"
        "except Exception as e:\n"
        "    print(json.dumps({'error': type(e).__name__, 'msg': str(e)}))\n"
    )
    out = offline_python(code, copy)
    assert out["error"] is not None and "tokenizer.json" in out["msg"]


def test_transformers_autoconfig_offline(airgapped: Path) -> None:
    code = (
        "import json\nfrom transformers import AutoConfig, AutoTokenizer\n"
        f"c = AutoConfig.from_pretrained('{MINILM_REPO}')\n"
        f"t = AutoTokenizer.from_pretrained('{MINILM_REPO}')\n"
        "ids = t('hello vault')['input_ids']\n"
        "print(json.dumps({'type': c.model_type, 'hidden': c.hidden_size, 'ids': ids}))"
    )
    out = offline_python(code, airgapped / "hf" / "hub")
    assert out["type"] == "bert" and out["hidden"] == 384 and out["ids"][0] == 101


def test_rebuild_recreates_the_same_view(airgapped: Path) -> None:
    view = airgapped / "hf" / "hub"
    before = snapshot(view)
    links = sorted((str(p.relative_to(view)), os.readlink(p)) for p in view.rglob("*") if p.is_symlink())
    shutil.rmtree(view)
    assert "rebuilt 1 model(s)" in run("hf-cache", "--rebuild", home=airgapped).stdout
    assert snapshot(view) == before
    assert (
        sorted((str(p.relative_to(view)), os.readlink(p)) for p in view.rglob("*") if p.is_symlink()) == links
    )
