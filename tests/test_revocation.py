"""`vault revoke`: a signed revocation travels in the next bundle; revoked revisions resolve nowhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import Transfer, run, run_json, snapshot
from vault.api import Vault


def _revoke_and_ship(t: Transfer, tmp_path: Path) -> Path:
    run("revoke", t.repo_id, "--reason", "CVE-2026-0001: poisoned weights", "--key", t.key.private,
        home=t.connected)  # fmt: skip
    out = tmp_path / "revocations.vault"
    run("bundle", "-o", out, home=t.connected)  # no REF: a bundle of revocations only
    return out


def test_revocation_stops_every_way_of_resolving(transfer: Transfer, tmp_path: Path) -> None:
    t = transfer
    run("import", t.bundle, home=t.airgapped)
    view = t.airgapped / "hf" / "hub" / "models--acme--tiny"
    assert (view / "snapshots" / t.commit).is_dir() and (view / "refs" / "main").is_file()

    handed_out = Path(run("path", t.repo_id, home=t.airgapped).stdout.strip())
    connected_dir = Path(run("path", t.repo_id, home=t.connected).stdout.strip())
    shipped = _revoke_and_ship(t, tmp_path)
    # The connected side stops resolving at once, and its directory is gone (not only at gc).
    err = run("path", t.repo_id, home=t.connected, code=3).stderr
    assert f"revision {t.commit} is revoked" in err
    assert not connected_dir.exists()
    assert "acme/tiny@" + t.commit in run_json("verify", shipped, home=t.airgapped)["revocations"]
    res = run_json("import", shipped, home=t.airgapped)
    assert res["status"] == "revocations-applied" and res["revoked"] == [f"{t.repo_id}@{t.commit}"]
    # A path handed out before the revocation stops loading.
    assert not handed_out.exists()
    assert run("list", home=t.airgapped).stdout.rstrip().endswith("[REVOKED]")

    # vault path, by ref and by commit; vault.resolve(); the HF cache view; vault serve: each says why.
    why = f"revision {t.commit} is revoked (revoked by acme on "
    for ref in (t.repo_id, f"{t.repo_id}@{t.commit}"):
        err = run("path", ref, home=t.airgapped, code=3).stderr
        assert why in err and "CVE-2026-0001: poisoned weights" in err, err
    code = (
        f"import vault\ntry:\n vault.resolve('{t.repo_id}', home='{t.airgapped}')\n"
        "except Exception as e:\n print(e)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert why in out and "CVE-2026-0001: poisoned weights" in out
    assert not (view / "snapshots" / t.commit).exists() and not (view / "refs" / "main").exists()

    with Vault.open(t.airgapped, create=False) as v:
        server = v.server(port=0, log_requests=False)

        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/api/models/{t.repo_id}"
        try:
            urllib.request.urlopen(url, timeout=10)
            raise AssertionError("revoked model was served")
        except urllib.error.HTTPError as e:
            assert e.code == 404 and e.headers["X-Error-Code"] == "RevisionNotFound"
            assert "CVE-2026-0001: poisoned weights" in e.headers["X-Error-Message"]
        # What an inference server's HF client prints: the reason, not "not found, are you authenticated".
        client = (
            "import sys, huggingface_hub\ntry:\n"
            f" huggingface_hub.hf_hub_download('{t.repo_id}', 'config.json', endpoint=sys.argv[1],"
            f" cache_dir=sys.argv[2])\nexcept Exception as e:\n print(type(e).__name__, e)"
        )
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1"}
        printed = subprocess.run([sys.executable, "-c", client, endpoint, str(tmp_path / "cache")], env=env,
                                 capture_output=True, text=True, check=True).stdout  # fmt: skip
        try:
            assert printed.startswith("RevisionNotFoundError"), printed
            assert "CVE-2026-0001: poisoned weights" in printed and "authenticated" not in printed, printed
        finally:
            server.shutdown()
            server.server_close()
    shown = run_json("audit", home=t.airgapped)["events"]
    assert any(e["action"] == "revoke" and e["detail"]["reason"].startswith("CVE-2026-0001") for e in shown)

    # The security team can still see what it was, and why it went.
    shown = run_json("show", f"{t.repo_id}@{t.commit}", home=t.airgapped)
    assert shown["status"] == "revoked" and shown["revocations"][0]["reason"].startswith("CVE-2026-0001")
    assert shown["path"] is None  # never a path that was removed
    shown_text = run("show", f"{t.repo_id}@{t.commit}", home=t.airgapped).stdout
    assert "path: none (not served: revoked)" in shown_text and str(handed_out) not in shown_text
    text = run("provenance", f"{t.repo_id}@{t.commit}", home=t.airgapped).stdout
    assert "REVOKED" in text and "CVE-2026-0001" in text

    # Re-importing the original bundle does not bring the revision back.
    run("import", t.bundle, home=t.airgapped)
    run("path", t.repo_id, home=t.airgapped, code=3)


def test_revocation_before_the_revision_arrives(transfer: Transfer, tmp_path: Path) -> None:
    t = transfer
    shipped = _revoke_and_ship(t, tmp_path)
    run("import", shipped, home=t.airgapped)
    run("import", t.bundle, home=t.airgapped)  # an older bundle, replayed later
    assert "is revoked" in run("path", t.repo_id, home=t.airgapped, code=3).stderr


def test_untrusted_revocation_is_refused(transfer: Transfer, tmp_path: Path, make_keypair) -> None:
    t = transfer
    run("import", t.bundle, home=t.airgapped)
    mallory = make_keypair("mallory")
    run("revoke", t.repo_id, "--reason", "denial of service", "--key", mallory.private, home=t.connected)
    out = tmp_path / "r.vault"
    run("bundle", "-o", out, home=t.connected)
    before = snapshot(t.airgapped)
    err = run("import", out, home=t.airgapped, code=1).stderr
    assert "revocations/acme/tiny/" in err and "not signed by any trusted key" in err
    assert snapshot(t.airgapped) == before
    assert run("path", t.repo_id, home=t.airgapped).stdout.strip().endswith(t.commit)


def test_revocation_needs_a_reason(transfer: Transfer) -> None:
    err = run("revoke", transfer.repo_id, "--reason", " ", "--key", transfer.key.private,
              home=transfer.connected, code=2).stderr  # fmt: skip
    assert "--reason must say why" in err
    assert json.loads(run("--json", "list", home=transfer.connected).stdout)[0]["status"] == "available"
