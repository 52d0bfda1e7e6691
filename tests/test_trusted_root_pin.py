"""A pinned Sigstore trusted root: shown by its sha256, and flagged before it runs out."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import run, run_json
from vault._signing.trusted_root import expiry_warnings


def _root(testdata: Path) -> Path:
    return testdata / "sigstore" / "production_trusted_root.json"


def _trust(home: Path, root: Path) -> str:
    return run("trust", "add", "ci", "--identity", "release@example.com", "--issuer", "https://issuer.example",
               "--trusted-root", root, "--scope", "acme/*", home=home).stderr  # fmt: skip


def test_pinned_root_is_listed_by_its_sha256(testdata: Path, tmp_path: Path) -> None:
    assert _trust(tmp_path / "h", _root(testdata)) == ""
    (entry,) = run_json("trust", "list", home=tmp_path / "h")["keys"]  # type: ignore[index]
    assert entry["trusted_root_sha256"] == hashlib.sha256(_root(testdata).read_bytes()).hexdigest()
    assert entry["warnings"] == []


def test_a_root_whose_keys_all_expired_is_flagged(testdata: Path, tmp_path: Path) -> None:
    doc = json.loads(_root(testdata).read_bytes())
    for ca in doc["certificateAuthorities"]:
        ca["validFor"]["end"] = "2024-01-01T00:00:00Z"
    stale = tmp_path / "stale_root.json"
    stale.write_text(json.dumps(doc))
    err = _trust(tmp_path / "h", stale)
    assert err == (
        "vault: warning: ci: every certificate authority key in the trusted root expired"
        " (the last on 2024-01-01)\n"
    )
    listed = run("trust", "list", home=tmp_path / "h")
    assert "expired" in listed.stderr and "ci\t" in listed.stdout
    (entry,) = run_json("trust", "list", home=tmp_path / "h")["keys"]  # type: ignore[index]
    assert entry["warnings"] == [err.split("ci: ", 1)[1].strip()]


def test_near_expiry_and_missing_parts(testdata: Path) -> None:
    doc = json.loads(_root(testdata).read_bytes())
    for log in doc["tlogs"]:
        log["publicKey"]["validFor"]["end"] = "2026-03-01T00:00:00Z"
    del doc["ctlogs"]
    now = datetime(2026, 1, 15, tzinfo=UTC)
    assert expiry_warnings(json.dumps(doc).encode(), now) == [
        "the last transparency log key in the trusted root expires on 2026-03-01",
        "the trusted root has no certificate transparency log",
    ]
    assert expiry_warnings(_root(testdata).read_bytes(), now) == []
