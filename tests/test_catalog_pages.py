"""`vault serve`'s catalog pages, loaded in a real headless browser (Debian's chromium).

The vault holds the real all-MiniLM-L6-v2 (imported through a signed bundle),
a model with a file named like an HTML injection, and a revision revoked by a
signed revocation that crossed in a later bundle.
"""

from __future__ import annotations

import html
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
    """The page as chromium built it, with digests read as text (their 16-character blocks joined)."""
    dom = _chromium(tmp_path, "--dump-dom", url)
    return re.sub(
        r'<code class="digest">(.*?)</code>',
        lambda m: '<code class="digest">' + re.sub(r"</?span>|<wbr>", "", m.group(1)) + "</code>",
        dom,
    )


# Measures the page as laid out at 1280 px: how many lines each digest block and each date takes.
MEASURE = """<pre id="vault-measure">waiting</pre><script>
window.addEventListener("load", () => {
  const lines = (sel) => [...document.querySelectorAll(sel)].map((e) => e.getClientRects().length);
  document.getElementById("vault-measure").textContent = JSON.stringify({
    blocks: lines("code.digest span"), dates: lines(".when"),
    digests: [...document.querySelectorAll("code.digest")].map((e) => e.textContent)});
});
</script>"""


def _layout(tmp_path: Path, url: str) -> dict:
    """The served page, byte for byte, with a measuring script added at its end, laid out by chromium.

    The pages load nothing from anywhere, so a copy lays out exactly as the served page does.
    """
    with urllib.request.urlopen(url, timeout=30) as response:
        served = response.read().decode()
    page = tmp_path / "measured.html"
    page.write_text(served.replace("</body>", MEASURE + "</body>"))
    dom = _chromium(tmp_path, "--window-size=1280,1200", "--dump-dom", page.as_uri())
    found = re.search(r'<pre id="vault-measure">(.*?)</pre>', dom, re.DOTALL)
    assert found and found.group(1) != "waiting", dom[-2000:]
    return json.loads(html.unescape(found.group(1)))


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
    assert f'lfs_sha256 <code class="digest">{MINILM_SHA256}</code>' in dom
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


def test_what_an_auditor_compares_reads_whole_at_1280_px(tmp_path: Path, server: str, gap: Path) -> None:
    """Digests and keys whole (in blocks of 16 that never break inside), dates on one line, event details
    as fields with who acted, and a revoked revision naming the bundle that carried the revocation."""
    page = f"{server}/ui/revision/{MINILM_REPO}/{MINILM_COMMIT}"
    laid = _layout(tmp_path, page)
    assert laid["blocks"] and set(laid["blocks"]) == {1}, laid["blocks"]
    assert MINILM_SHA256 in laid["digests"]
    keys = [s["key"] for s in run_json("show", MINILM_REPO, home=gap)["signatures"]]  # type: ignore[index]
    assert keys and all(k in laid["digests"] for k in keys), "a signer key is shown cut"
    audit = _layout(tmp_path, server + "/ui/audit")
    assert set(audit["blocks"]) == {1} and audit["dates"] and set(audit["dates"]) == {1}
    dom = _dom(tmp_path, server + "/ui/audit")
    assert '<dl class="fields"><dt>' in dom and "<th>by</th>" in dom and '{"' not in dom
    commit = run_json("show", "acme/tiny", home=gap)["commit"]  # type: ignore[index]
    revoked = _dom(tmp_path, f"{server}/ui/revision/acme/tiny/{commit}")
    carried = run_json("audit", home=gap)["events"]  # type: ignore[index]
    bundle = next(e["detail"]["bundle"] for e in carried if e["action"] == "revoke")
    assert f'carried by bundle <code class="digest">{bundle}</code>' in revoked
    shot = tmp_path / "audit.png"
    _chromium(
        tmp_path, f"--screenshot={shot}", "--window-size=1280,1200", "--hide-scrollbars", server + "/ui/audit"
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
