"""An operator's first day: what a new user meets, made to hold (issue 25).

Each test here is one point of that day: outputs never go where the operator
did not mean, errors are one line with a hint, a closed pipe is not an error,
and the evidence says exactly what was checked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Transfer, make_home, run, run_json, snapshot

# (command after the home, with OUT for the path written), for every command that writes a named file.
WRITERS = {
    "bundle": ["bundle", "acme/tiny", "-o", "OUT/m.vault"],
    "bundle split": ["bundle", "acme/tiny", "-o", "OUT/m.vault", "--split-size", "1K"],
    "inventory": ["inventory", "-o", "OUT/receipt.json", "--key", "KEY"],
    "bom": ["bom", "acme/tiny", "-o", "OUT/bom.json"],
    "provenance --out": ["provenance", "acme/tiny", "--format", "in-toto", "--out", "OUT/evidence"],
    "sign --out": ["sign", "acme/tiny", "--key", "KEY", "--out", "OUT/sigs"],
    "keygen": ["keygen", "-o", "OUT/site"],
}


@pytest.mark.parametrize("argv", WRITERS.values(), ids=WRITERS.keys())
def test_a_missing_medium_is_refused_and_nothing_is_written(
    transfer: Transfer, tmp_path: Path, argv: list[str]
) -> None:
    """`-o /media/usb/m.vault` with the stick not mounted: one line, exit 2, no /media/usb made."""
    medium = tmp_path / "media" / "usb"
    args = [a.replace("OUT", str(medium)).replace("KEY", str(transfer.key.private)) for a in argv]
    before = snapshot(transfer.connected)
    res = run(*args, home=transfer.connected, code=2)
    assert res.stderr.strip() == (
        f"vault: error: {medium}: no such directory (is the medium mounted?); vault does not create it"
    )
    assert not (tmp_path / "media").exists()
    assert snapshot(transfer.connected) == before


def test_a_named_output_folder_is_made_only_under_one_that_exists(transfer: Transfer, tmp_path: Path) -> None:
    run(
        "sign",
        "acme/tiny",
        "--key",
        transfer.key.private,
        "--out",
        tmp_path / "sigs",
        home=transfer.connected,
    )
    assert sorted(p.name for p in (tmp_path / "sigs").iterdir()) == ["model.sig", "provenance.sig"]


def test_a_split_bundle_names_the_files_it_wrote(transfer: Transfer, tmp_path: Path) -> None:
    out = run(
        "bundle", "acme/tiny", "-o", tmp_path / "m.vault", "--split-size", "1K", home=transfer.connected
    )
    written = sorted(p.name for p in tmp_path.glob("m.vault*"))
    assert "m.vault" not in written and written[0] == "m.vault.000"
    said = f"wrote {len(written)} parts m.vault.000 … {written[-1]} in {tmp_path}:"
    assert said in out.stdout, out.stdout


@pytest.mark.parametrize(
    "argv",
    [["provenance", "acme/tiny"], ["list"], ["provenance", "acme/tiny", "--debug"], ["audit"], ["--help"]],
    ids=["fast path", "fast list", "click", "click audit", "help"],
)
def test_a_reader_that_goes_away_is_not_an_error(transfer: Transfer, argv: list[str]) -> None:
    """`vault provenance REF | head -1`: the reader closes first; vault exits 0 and says nothing."""
    for _ in range(3):
        read, write = os.pipe()
        os.close(read)  # the reader is gone before vault writes a byte: every write fails
        proc = subprocess.run(
            [sys.executable, "-m", "vault", "--home", str(transfer.connected), *argv],
            stdout=write, stderr=subprocess.PIPE, check=False,
        )  # fmt: skip
        os.close(write)
        assert (proc.returncode, proc.stderr.decode()) == (0, "")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["lst"], "vault: error: no such command 'lst'; did you mean 'list'? (see 'vault --help')"),
        (
            ["bundel", "x"],
            "vault: error: no such command 'bundel'; did you mean 'bundle'? (see 'vault --help')",
        ),
        (["bundle", "acme/tiny"], "vault: error: Missing option '-o' / '--out'. (see 'vault bundle --help')"),
        (["import", "--bogus", "x"], "vault: error: No such option '--bogus'. (see 'vault import --help')"),
        (
            ["serve", "--port", "99999"],
            "vault: error: Invalid value for '--port': 99999 is not in the range 0<=x<=65535. "
            "(see 'vault serve --help')",
        ),
    ],
    ids=["mistyped", "mistyped with args", "missing option", "unknown option", "port out of range"],
)
def test_a_usage_error_is_one_line_with_a_hint(tmp_path: Path, argv: list[str], line: str) -> None:
    res = run(*argv, home=tmp_path / "h", code=2)
    assert res.stderr.strip() == line and res.stdout == ""


def test_a_port_in_use_names_the_address_and_the_flag(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        make_home(tmp_path / "h")
        res = run("serve", "--port", str(port), home=tmp_path / "h", code=2)
    assert res.stderr.strip() == (
        f"vault: error: 127.0.0.1:{port} is in use (another vault serve?); "
        "choose another with --port, or --port 0"
    )


def test_first_run_hints(transfer: Transfer, tmp_path: Path) -> None:
    """The first steps a new operator gets wrong, each answered with the step to take."""
    trust_first = "trust the signer first: vault trust add NAME --key SIGNER.pub.pem --scope 'ORG/*'"
    # Importing into a home that does not exist yet, and into one that trusts nobody.
    res = run("import", transfer.bundle, home=tmp_path / "new", code=3)
    assert res.stderr.strip().endswith(f"; to import, {trust_first}") and not (tmp_path / "new").exists()
    res = run("import", transfer.bundle, home=transfer.connected, code=1)
    assert res.stderr.strip().endswith(f"no trusted keys in this vault yet; {trust_first}")
    # `trust list` on a missing home answers like `list`, and creates nothing.
    listed = run("list", home=tmp_path / "none", code=3).stderr
    assert run("trust", "list", home=tmp_path / "none", code=3).stderr == listed
    assert not (tmp_path / "none").exists()
    # An abbreviated commit (what `git log --oneline` prints) gets the full-commit hint.
    for command in ("path", "show"):
        err = run(command, f"acme/tiny@{transfer.commit[:7]}", home=transfer.connected, code=3).stderr
        assert err.strip().endswith("(a commit is named by its full 40-hex id: use the full 40-hex commit)")


def test_keyless_signing_checks_the_ref_first_and_names_a_missing_network(
    transfer: Transfer, tmp_path: Path
) -> None:
    """No network: exit 7 (network), not a usage error; a wrong REF is named before Sigstore is asked."""
    with socket.socket() as closed:  # a local port nobody listens on: the proxy every request fails at
        closed.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{closed.getsockname()[1]}"
    env = {**os.environ, "HTTPS_PROXY": proxy, "HTTP_PROXY": proxy, "https_proxy": proxy, "http_proxy": proxy,
           "NO_PROXY": "", "no_proxy": "", "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "XDG_DATA_HOME": str(tmp_path / "data")}  # fmt: skip
    vault_cmd = [sys.executable, "-m", "vault", "--home", str(transfer.connected)]
    wrong = subprocess.run([*vault_cmd, "sign", "acme/nothing", "--sigstore"], env=env, capture_output=True,
                           text=True, stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    assert (wrong.returncode, wrong.stderr.strip()) == (
        3,
        "vault: error: acme/nothing: no such model in this vault",
    )
    offline = subprocess.run([*vault_cmd, "sign", "acme/tiny", "--sigstore"], env=env, capture_output=True,
                             text=True, stdin=subprocess.DEVNULL, check=False)  # fmt: skip
    assert offline.returncode == 7, offline.stderr
    assert "keyless signing needs the network" in offline.stderr and offline.stderr.count("\n") == 1


def test_the_evidence_says_exactly_what_was_checked(
    transfer: Transfer, tiny_model: Path, tmp_path: Path
) -> None:
    """A local folder's files were hashed, never compared with the Hub; its commit was derived or
    asserted, never fetched: the signed statement, provenance, the pages' words and the ML-BOM say so."""
    from vault._statements.provenance import parse_provenance

    t = transfer
    run("import", t.bundle, home=t.airgapped)
    prov = run_json("provenance", t.repo_id, home=t.airgapped)
    assert prov["commit_source"] == "content"
    assert {f["check"] for f in prov["files"]} == {"hashed-locally"} and not any(
        f["matched"] for f in prov["files"]
    )
    text = run("provenance", t.repo_id, home=t.airgapped).stdout
    assert "commit: derived by vault from the files' digests (no commit was given)" in text
    assert "matched" not in text and text.count("hashed locally (nothing to compare with)") == len(
        prov["files"]
    )
    statement = run_json("show", t.repo_id, "--json", home=t.airgapped)
    assert statement["status"] == "available"
    bom = json.loads(run("bom", t.repo_id, home=t.airgapped).stdout)
    model = bom["metadata"]["component"]
    assert {"name": "vault:commit_source", "value": "content"} in model["properties"]
    assert all(
        {"name": "vault:check", "value": "hashed-locally"} in c["properties"] for c in model["components"]
    )
    # The statement itself: no `matched` on a file nothing was compared with.
    run("provenance", t.repo_id, "--format", "in-toto", "--out", tmp_path / "ev", home=t.airgapped)
    envelope = json.loads((tmp_path / "ev" / "provenance.sig").read_bytes())["dsseEnvelope"]
    payload = base64.b64decode(envelope["payload"])
    deps = json.loads(payload)["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert deps[0]["annotations"] == {"commit_source": "content"}
    for dep in deps[1:]:
        assert "matched" not in dep["annotations"] and dep["annotations"]["check"] == "hashed-locally"
    assert parse_provenance(payload).commit_source.value == "content"
    # A commit the operator names is asserted, not fetched.
    home = tmp_path / "asserted"
    run("add", tiny_model, "--repo", "acme/named", "--revision", "a" * 40, home=home)
    said = run("provenance", "acme/named", home=home).stdout
    assert "commit: asserted by the operator (vault add --revision), not fetched" in said


def test_the_demo_runs_only_what_it_needs(tmp_path: Path) -> None:
    """scripts/demo on a checkout: no apt-get, no browser, no PostgreSQL, no test tools; progress printed."""
    from tests.conftest import REPO_ROOT
    from tests.test_install import _copy_checkout

    checkout, stubs = tmp_path / "checkout", tmp_path / "stubs"
    _copy_checkout(checkout)
    if not (checkout / ".cache").exists():  # the model download is not what is measured
        (checkout / ".cache").symlink_to(REPO_ROOT / ".cache")
    # The checkout's own .venv borrows the real one's interpreter and command, and records its install as
    # current: setup finds nothing to install, and can never rewrite the venv the suite itself runs in.
    venv, real = checkout / ".venv", REPO_ROOT / ".venv"
    (venv / "bin").mkdir(parents=True)
    for tool in ("bin/python", "bin/vault", "lib", "pyvenv.cfg"):
        (venv / tool).symlink_to(real / tool)
    stamp = hashlib.sha256((checkout / "pyproject.toml").read_bytes()).hexdigest()
    (checkout / ".venv" / ".vault-installed-demo").write_text(stamp + "\n")
    stubs.mkdir()
    for tool in ("apt-get", "chromium", "initdb", "pg_ctl", "sudo"):
        (stubs / tool).write_text(f"#!/bin/sh\necho called > {tmp_path}/called-{tool}\nexit 1\n")
        (stubs / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "VAULT_DEMO_DIR": str(tmp_path / "demo")}
    res = subprocess.run(
        [checkout / "scripts" / "demo"], env=env, capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stderr
    assert "round trip OK in" in res.stdout and "== air-gapped side: resolve and load" in res.stdout
    assert not list(tmp_path.glob("called-*")), "the demo set up something it does not need"
    assert not (checkout / ".venv" / "install.log").exists(), "setup ran pip for a venv that was current"
    assert "pytest" not in res.stderr and "chromium" not in res.stderr


def test_what_an_outside_first_day_found(transfer: Transfer, tmp_path: Path, tiny_model: Path) -> None:
    """A reviewer's first day, each stumble now answered: exports never mix, names are not guessed,
    `-` is standard output, a bare group shows its help, a loopback address is called local."""
    t = transfer
    # Evidence goes into an empty folder: a stale import.sig cannot sit beside another revision's record.
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "import.sig").write_text("from an earlier export")
    err = run(
        "provenance", t.repo_id, "--format", "in-toto", "--out", tmp_path / "ev", home=t.connected, code=2
    )
    assert "ev: not empty; evidence goes into an empty folder" in err.stderr
    # A short commit is not taken for a label.
    err = run("add", tiny_model, "--repo", "acme/x", "--revision", t.commit[:7], home=t.connected, code=2)
    assert "looks like an abbreviated commit; give the full 40-hex commit" in err.stderr
    # keygen names files, never hidden or doubled ones.
    for prefix, said in ((f"{tmp_path}/keys/", "name the keys' prefix"), ("site.pem", "without .pem")):
        assert said in run("keygen", "-o", prefix, code=2).stderr
    assert not list(tmp_path.glob("**/.pem")) and not (Path.cwd() / "site.pem.pem").exists()
    # `-o -` is standard output, as the help says.
    assert json.loads(run("bom", t.repo_id, "-o", "-", home=t.connected).stdout)["bomFormat"] == "CycloneDX"
    # A bare command group shows its help, exit 0, not a one-line error of 1,500 characters.
    for argv in ([], ["trust"], ["ref"]):
        res = run(*argv, home=t.connected)
        assert res.stdout.startswith(f"Usage: vault {' '.join(argv)}".rstrip() + " ") and res.stderr == ""
    # One part is "1 part", and parity parts are named.
    out = run("bundle", t.repo_id, "-o", tmp_path / "one.vault", "--split-size", "1G", "--parity", "1",
              home=t.connected).stdout  # fmt: skip
    assert "wrote 1 part one.vault.000 in " in out and "(+1 parity part one.vault.p000)" in out


def test_a_loopback_address_is_called_local(tmp_path: Path) -> None:
    make_home(tmp_path / "h")
    serve = ["serve", "--host", "127.0.0.2", "--port", "0", "--quiet"]
    argv = [sys.executable, "-m", "vault", "--home", str(tmp_path / "h"), *serve]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert "reachable from this host only" in line and "LISTENING" not in line, line


def test_an_unsigned_revision_is_not_called_verified() -> None:
    from vault._ui.pages import index_page
    from vault.reports import RevisionSummary

    when = "2026-01-01T00:00:00Z"
    rows = [RevisionSummary("acme/a", "a" * 40, ["main"], "available", 1, 1, False, when),
            RevisionSummary("acme/b", "b" * 40, ["main"], "available", 1, 1, True, when)]  # fmt: skip
    page = index_page(rows).decode()
    assert page.count(">unsigned</span>") == 1 and page.count(">verified</span>") == 1
