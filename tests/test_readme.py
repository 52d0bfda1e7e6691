"""The README's "Using it" block runs as written, in a sandbox.

The only stand-ins: a local Hub-compatible server (HF_ENDPOINT) for the Hub,
a temporary folder for the mounted USB stick (`/media/usb` in the text), and
a `vllm` on PATH that loads the model as vLLM would (transformers, offline,
from HF_HUB_CACHE). Every other line is executed exactly as printed.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.conftest import MINILM_COMMIT, MINILM_REPO, REPO_ROOT
from tests.hubserver import FakeHub

VLLM_STUB = """#!/bin/sh
# Stands in for vLLM: loads the config and tokenizer the way it does, offline, from HF_HUB_CACHE.
exec python -c 'import sys
from transformers import AutoConfig, AutoTokenizer
config = AutoConfig.from_pretrained(sys.argv[2])
AutoTokenizer.from_pretrained(sys.argv[2])
print("vllm stub: loaded", sys.argv[2], config.model_type)' "$@"
"""


def using_it_block() -> str:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Using it\n") :]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match is not None, "README: no sh block under 'Using it'"
    return match.group(1)


def test_the_readme_using_it_block_runs_as_written(tmp_path: Path, minilm_dir: Path) -> None:
    home, medium, stubs, work = (tmp_path / d for d in ("home", "usb", "stubs", "work"))
    for d in (home, medium, stubs, work):
        d.mkdir()
    (stubs / "vllm").write_text(VLLM_STUB)
    (stubs / "vllm").chmod(0o755)
    script = using_it_block().replace("/media/usb", str(medium))
    hub = FakeHub()
    hub.add_folder(MINILM_REPO, minilm_dir, commit=MINILM_COMMIT)
    hub.start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "HF_"))}
        path = f"{stubs}:{REPO_ROOT / '.venv' / 'bin'}:{env['PATH']}"
        env.update(HOME=str(home), HF_ENDPOINT=hub.url, PATH=path)
        bash = ["bash", "-euo", "pipefail", "-c", script]
        res = subprocess.run(bash, cwd=work, env=env, capture_output=True, text=True, check=False)
    finally:
        hub.stop()
    assert res.returncode == 0, f"README 'Using it' failed:\n{res.stdout}\n{res.stderr}"
    served = home / "vault" / "models" / MINILM_REPO / MINILM_COMMIT
    assert f"{served}\n" in res.stdout  # vault path, and vault.resolve()
    assert res.stdout.count(str(served)) >= 2
    assert f"vllm stub: loaded {MINILM_REPO} bert" in res.stdout
    assert (work / "minilm.cdx.json").is_file() and (work / "evidence" / "provenance.sig").is_file()
    assert (medium / "receipt.json").is_file() and list(medium.glob("minilm.vault*"))
