"""Two imports and a resolving loop at once: all succeed, nothing is lost, nothing is half-visible."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

import vault
from tests.conftest import KeyPair, run, run_json, write_tiny_model
from vault.errors import NotFoundError


def _bundle(tmp_path: Path, repo: str, seed: int, key: KeyPair) -> Path:
    model = write_tiny_model(tmp_path / f"m{seed}", seed=seed)
    # Big enough (32 MiB) that the two imports overlap.
    save_file({"w": np.random.default_rng(seed).standard_normal((2048, 4096)).astype(np.float32)},
              str(model / "model.safetensors"))  # fmt: skip
    conn = tmp_path / f"conn{seed}"
    run("add", model, "--repo", repo, home=conn)
    run("sign", repo, "--key", key.private, home=conn)
    out = tmp_path / f"b{seed}.vault"
    run("bundle", repo, "-o", out, home=conn)
    return out


def test_two_imports_and_a_resolving_loop(tmp_path: Path, keypair: KeyPair) -> None:
    gap = tmp_path / "gap"
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=gap)
    run("import", _bundle(tmp_path, "acme/zero", 0, keypair), home=gap)
    bundles = {"acme/one": _bundle(tmp_path, "acme/one", 1, keypair),
               "acme/two": _bundle(tmp_path, "acme/two", 2, keypair)}  # fmt: skip

    errors: list[str] = []
    seen: dict[str, int] = {"acme/zero": 0, "acme/one": 0, "acme/two": 0}
    stop = threading.Event()

    def resolve_loop() -> None:
        while not stop.is_set():
            for repo in seen:
                try:
                    path = vault.resolve(repo, home=gap)
                except NotFoundError:
                    continue
                except Exception as exc:  # "database is locked" would land here
                    errors.append(f"{repo}: {type(exc).__name__}: {exc}")
                    continue
                files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
                if files != ["config.json", "model.safetensors", "tokenizer/vocab.txt"]:
                    errors.append(f"{repo}: half-visible revision {files}")
                seen[repo] += 1

    reader = threading.Thread(target=resolve_loop)
    reader.start()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "vault.cli", "--home", gap, "import", b],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for b in bundles.values()
    ]
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in procs]  # communicate closes the pipes
    time.sleep(0.2)
    stop.set()
    reader.join()

    assert all(code == 0 for code, _ in results), results
    assert errors == []
    assert seen["acme/zero"] > 0
    for repo in bundles:
        assert vault.resolve(repo, home=gap).is_dir()
    assert run_json("fsck", home=gap)["clean"]
    assert {r["repo_id"] for r in run_json("list", home=gap)} == {"acme/zero", "acme/one", "acme/two"}


def test_writer_processes_on_one_home_keep_one_linear_history(tmp_path: Path, keypair: KeyPair) -> None:
    from tests.writers import check_one_linear_history, kill_an_import_mid_commit, run_concurrent_writers

    home = tmp_path / "shared"
    run_concurrent_writers(home, tmp_path, keypair, {})
    kill_an_import_mid_commit(home, tmp_path, keypair, {})
    check_one_linear_history(home, {})
