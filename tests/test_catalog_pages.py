"""`vault serve`'s catalog pages, loaded in a real headless browser (Debian's chromium).

The vault holds the real all-MiniLM-L6-v2 (imported through a signed bundle),
a model with a file named like an HTML injection, and a revision revoked by a
signed revocation that crossed in a later bundle.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import MINILM_COMMIT, MINILM_REPO, MINILM_SHA256, run, run_json, write_tiny_model
from tests.hubserver import FakeHub

HOSTILE_NAME = "<img src=x onerror=alert(1)>&amp;.md"


@pytest.fixture(scope="module")
def gap(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    tmp = tmp_path_factory.mktemp("pages")
    run("keygen", "-o", tmp / "k")
    connected, gap = tmp / "connected", tmp / "gap"
    hub = FakeHub()  # the real snapshot, pulled through the real huggingface_hub client
    hub.add_folder(MINILM_REPO, minilm_dir, commit=MINILM_COMMIT)
    hub.start()
    try:
        run("pull", MINILM_REPO, "--endpoint", hub.url, home=connected)
    finally:
        hub.stop()
    hostile = write_tiny_model(tmp / "hostile")
    (hostile / HOSTILE_NAME).write_text("# a model card with a hostile name\n")
    run("add", hostile, "--repo", "acme/hostile", home=connected)
    run("add", write_tiny_model(tmp / "tiny", seed=5), "--repo", "acme/tiny", home=connected)
    for repo in (MINILM_REPO, "acme/hostile", "acme/tiny"):
        run("sign", repo, "--key", tmp / "k.pem", home=connected)
    run("bundle", MINILM_REPO, "acme/hostile", "acme/tiny", "-o", tmp / "all.vault", home=connected)
    run("trust", "add", "connected-site", "--key", tmp / "k.pub.pem", "--scope", "*", home=gap)
    run("import", tmp / "all.vault", home=gap)
    run(
        "revoke",
        "acme/tiny",
        "--reason",
        "withdrawn by the publisher",
        "--key",
        tmp / "k.pem",
        home=connected,
    )
    run("bundle", "-o", tmp / "revocations.vault", home=connected)
    run("import", tmp / "revocations.vault", home=gap)
    # And one revision whose stored copy changed underneath: scrub marks it damaged.
    shown = run_json("show", "acme/hostile", home=gap)
    config = next(f["sha256"] for f in shown["files"] if f["path"] == "config.json")  # type: ignore[index]
    blob = gap / "store" / "blobs" / "sha256" / config[:2] / config[2:]
    blob.chmod(0o644)
    blob.write_text("{}")
    assert json.loads(run("--json", "scrub", home=gap, code=None).stdout)["damaged"]
    return gap


def _serve(gap: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "vault.cli", "--home", str(gap), "serve", "--port", "0", "--quiet", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
    assert m, line
    return proc, m.group(1)


@pytest.fixture(scope="module")
def server(gap: Path) -> Iterator[str]:
    proc, url = _serve(gap)
    yield url
    proc.terminate()
    proc.communicate(timeout=30)


def _chromium(tmp_path: Path, *args: str) -> str:
    exe = shutil.which("chromium")
    assert exe, "chromium is missing: scripts/setup installs Debian's chromium"
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _dom(tmp_path: Path, url: str) -> str:
    return _chromium(tmp_path, "--dump-dom", url)


def test_the_index_lists_models_with_their_status(tmp_path: Path, server: str) -> None:
    dom = _dom(tmp_path, server + "/")
    assert "1 model(s)" not in dom and "3 model(s), 3 revision(s)" in dom
    assert MINILM_REPO in dom and "acme/hostile" in dom and "acme/tiny" in dom
    assert dom.count('<span class="status verified">verified</span>') == 1
    assert dom.count('<span class="status revoked">revoked</span>') == 1
    assert dom.count('<span class="status damaged">damaged</span>') == 1
    assert "87.4 MiB" in dom  # the real snapshot: 13 files


def test_a_revision_page_shows_files_signers_import_and_the_chain(tmp_path: Path, server: str) -> None:
    page = f"{server}/ui/revision/{MINILM_REPO}/{MINILM_COMMIT}"
    dom = _dom(tmp_path, page)
    assert "model.safetensors" in dom and MINILM_SHA256 in dom
    assert dom.count("admitted by trust entry") == 1 and "connected-site" in dom
    assert "bundle (index sha256)" in dom and "Served from" in dom
    assert 'aria-label="provenance chain"' in dom
    for step in ("Hub commit", "pull", "signatures", "bundle", "import", "path"):
        assert f">{step}</text>" in dom, step
    # What the Hub published for each file, and that the download matched it.
    assert dom.count("matched the Hub") == 13
    assert f"lfs_sha256 <code>{MINILM_SHA256}</code>" in dom
    # Self-contained: nothing is loaded from anywhere, not even this server.
    assert "src=" not in dom and "<script" not in dom and "<link" not in dom
    shot = tmp_path / "revision.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,1200", "--hide-scrollbars", page)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_a_revoked_revision_says_so(tmp_path: Path, server: str, gap: Path) -> None:
    commit = run_json("show", "acme/tiny", home=gap)["commit"]  # type: ignore[index]
    dom = _dom(tmp_path, f"{server}/ui/revision/acme/tiny/{commit}")
    assert '<span class="status revoked">revoked</span>' in dom
    assert "withdrawn by the publisher" in dom and "Served from" not in dom


def test_a_file_named_like_html_is_shown_as_text(tmp_path: Path, server: str, gap: Path) -> None:
    commit = run_json("show", "acme/hostile", home=gap)["commit"]  # type: ignore[index]
    dom = _dom(tmp_path, f"{server}/ui/revision/acme/hostile/{commit}")
    assert "&lt;img src=x onerror=alert(1)&gt;&amp;amp;.md" in dom
    assert "<img" not in dom


def test_the_audit_log_shows_its_chain_state(tmp_path: Path, server: str) -> None:
    dom = _dom(tmp_path, server + "/ui/audit")
    assert "hash chain intact" in dom
    assert ">import<" in dom and ">revoke<" in dom and ">trust.add<" in dom


def test_pages_are_read_only_and_can_be_turned_off(server: str, gap: Path) -> None:
    request = urllib.request.Request(server + "/", method="POST", data=b"x")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 501
    with urllib.request.urlopen(server + "/", timeout=30) as page:
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    proc, url = _serve(gap, "--no-ui")
    try:
        with pytest.raises(urllib.error.HTTPError) as gone:
            urllib.request.urlopen(url + "/", timeout=30)
        assert gone.value.code == 404
        with urllib.request.urlopen(f"{url}/api/models/{MINILM_REPO}", timeout=30) as api:
            assert json.load(api)["sha"] == MINILM_COMMIT  # the Hub API is still there
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
