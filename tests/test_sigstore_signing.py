"""`vault sign --sigstore`: keyless signing against a test-local Sigstore, verified offline on the far side.

The connected side signs with the real sigstore-python client against
`tests.virtual_sigstore` (Fulcio, Rekor and a CT log on 127.0.0.1); the
air-gapped side verifies with the real sigstore-python verifier against the
trusted_root.json it pinned, with sockets blocked.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from tests.bundletools import (
    Entries,
    drop_entry,
    file_info,
    index_of,
    read_entries,
    replace_entry,
    set_index,
    write_entries,
)
from tests.conftest import KeyPair, run, run_json, snapshot
from tests.virtual_sigstore import CERT_LIFETIME, VirtualSigstore
from vault._signing.dsse import parse_bundle

REPO = "acme/tiny"
WORKFLOW = "https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main"
# No CI's ambient credentials, whatever machine runs the tests (CliRunner unsets None).
NOT_CI = {"GITHUB_ACTIONS": None, "GITLAB_CI": None, "BUILDKITE": None, "CIRCLECI": None,
          "GOOGLE_SERVICE_ACCOUNT_NAME": None, "SIGSTORE_IDENTITY_TOKEN": None}  # fmt: skip


@pytest.fixture
def sigstore(tmp_path: Path) -> Iterator[VirtualSigstore]:
    instance = VirtualSigstore(tmp_path / "sigstore")
    yield instance
    instance.close()


def _sign(home: Path, sigstore: VirtualSigstore, *extra: str, identity: str = WORKFLOW, code: int = 0) -> str:
    env = {"SIGSTORE_IDENTITY_TOKEN": sigstore.token(identity)}
    result = run("sign", REPO, "--sigstore", "--trust-config", sigstore.trust_config, *extra,
                 home=home, env=env, code=code)  # fmt: skip
    return result.stdout if code == 0 else result.stderr


@pytest.fixture
def signed(tmp_path: Path, tiny_model: Path, sigstore: VirtualSigstore) -> tuple[Path, Path]:
    """A connected home whose revision the workflow identity signed keyless, and its bundle."""
    home = tmp_path / "connected"
    run("add", tiny_model, "--repo", REPO, home=home)
    out = _sign(home, sigstore, "--out", str(tmp_path / "sig"))
    assert f"signed with Sigstore identity {WORKFLOW} via {sigstore.issuer_url}" in out
    bundle = tmp_path / "sigstore.vault"
    run("bundle", REPO, "-o", bundle, home=home)
    return home, bundle


def _gap(tmp_path: Path, name: str, identity: str, issuer: str, root: Path, scope: str = "acme/*") -> Path:
    home = tmp_path / name
    run("trust", "add", "release-ci", "--identity", identity, "--issuer", issuer, "--trusted-root", root,
        "--scope", scope, home=home)  # fmt: skip
    return home


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def test_the_signature_is_a_sigstore_bundle_over_the_same_statement_bytes(
    tmp_path: Path, signed: tuple[Path, Path], sigstore: VirtualSigstore, keypair: KeyPair
) -> None:
    connected, _bundle = signed
    shown = run_json("show", REPO, home=connected)
    assert {(s["kind"], s["method"]) for s in shown["signatures"]} == {
        ("model", "sigstore"), ("provenance", "sigstore"),
    }  # fmt: skip
    doc = json.loads((tmp_path / "sig" / "model.sig").read_text())
    assert doc["mediaType"].startswith("application/vnd.dev.sigstore.bundle")
    (entry,) = doc["verificationMaterial"]["tlogEntries"]
    assert entry["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
    # Both statements went through the one certificate and were both logged.
    assert len(sigstore.log) == 2
    leaf = {json.loads((tmp_path / "sig" / n).read_text())["verificationMaterial"]["certificate"]["rawBytes"]
            for n in ("model.sig", "provenance.sig")}  # fmt: skip
    assert len(leaf) == 1
    # A key signature of the same revision signs the very same statement bytes.
    run("sign", REPO, "--key", keypair.private, "--out", tmp_path / "keysig", home=connected)
    for name in ("model.sig", "provenance.sig"):
        keyless = parse_bundle((tmp_path / "sig" / name).read_bytes(), name).payload
        assert keyless == parse_bundle((tmp_path / "keysig" / name).read_bytes(), name).payload


def test_a_vault_trusting_the_identity_and_issuer_imports_it_offline(
    tmp_path: Path, signed: tuple[Path, Path], sigstore: VirtualSigstore, no_sockets: list[object]
) -> None:
    _connected, bundle = signed
    gap = _gap(tmp_path, "gap", WORKFLOW, sigstore.issuer_url, sigstore.trusted_root)
    out = run("import", bundle, home=gap).stdout
    assert out.startswith(f"imported {REPO}@")
    assert "note:" not in out  # the bundle's root is the pinned one
    shown = run_json("show", REPO, home=gap)
    assert {(s["kind"], s["method"], s["signer"]) for s in shown["signatures"]} == {
        ("model", "sigstore", "release-ci"), ("provenance", "sigstore", "release-ci"),
    }  # fmt: skip
    assert Path(run("path", REPO, home=gap).stdout.strip()).is_dir()
    # Text output names what vouched: the identity's digest, not a "key" the signer never held.
    assert "model: sigstore by release-ci (identity " in run("show", REPO, home=gap).stdout
    assert "provenance: release-ci (identity " in run("provenance", REPO, home=gap).stdout
    assert no_sockets == []


@pytest.mark.parametrize("which", ["identity", "issuer", "root", "scope"])
def test_a_vault_trusting_another_identity_issuer_root_or_scope_refuses_it(
    tmp_path: Path, signed: tuple[Path, Path], sigstore: VirtualSigstore, which: str,
    no_sockets: list[object],
) -> None:  # fmt: skip
    _connected, bundle = signed
    identity, issuer, root, scope = WORKFLOW, sigstore.issuer_url, sigstore.trusted_root, "acme/*"
    if which == "identity":
        identity = "https://github.com/evil/models/.github/workflows/release.yml@refs/heads/main"
    elif which == "issuer":
        issuer = "https://token.actions.githubusercontent.com"
    elif which == "root":
        other = VirtualSigstore(tmp_path / "other-sigstore", name="Other")
        other.close()
        root = other.trusted_root
    else:
        scope = "other/*"
    gap = _gap(tmp_path, f"gap-{which}", identity, issuer, root, scope)
    before = snapshot(gap)
    err = run("import", bundle, home=gap, code=1).stderr
    assert err.count("\n") == 1, err
    expected = {
        "identity": "SANs do not match",
        "issuer": "OIDCIssuer does not match",
        "root": "Sigstore:",
        "scope": "is not trusted for acme/tiny",
    }[which]
    assert expected in err, err
    assert snapshot(gap) == before
    assert no_sockets == []


def test_a_tlog_time_outside_the_short_lived_certificate_is_refused(
    tmp_path: Path, tiny_model: Path, sigstore: VirtualSigstore
) -> None:
    """The certificate is judged at the time Rekor proves, not at import time: a lie about it fails."""
    home = tmp_path / "connected"
    run("add", tiny_model, "--repo", REPO, home=home)
    sigstore.integrated_time_shift = int(CERT_LIFETIME.total_seconds()) + 3600
    _sign(home, sigstore)
    bundle = tmp_path / "late.vault"
    run("bundle", REPO, "-o", bundle, home=home)
    gap = _gap(tmp_path, "gap", WORKFLOW, sigstore.issuer_url, sigstore.trusted_root)
    err = run("import", bundle, home=gap, code=1).stderr
    assert "cert is not valid at validation time" in err and err.count("\n") == 1, err


def test_a_certificate_that_expired_before_the_import_still_verifies_at_its_logged_time(
    tmp_path: Path, tiny_model: Path, sigstore: VirtualSigstore
) -> None:
    """Keyless certificates live minutes; bundles cross the gap days later. Rekor's time is what counts."""
    home = tmp_path / "connected"
    run("add", tiny_model, "--repo", REPO, home=home)
    sigstore.cert_lifetime = datetime.timedelta(seconds=6)
    _sign(home, sigstore)
    bundle = tmp_path / "expired.vault"
    run("bundle", REPO, "-o", bundle, home=home)
    with tarfile.open(bundle) as tar:
        name = next(n for n in tar.getnames() if n.endswith("/model.sig"))
        doc = json.loads(tar.extractfile(name).read())  # type: ignore[union-attr]
    der = base64.b64decode(doc["verificationMaterial"]["certificate"]["rawBytes"])
    leaf = x509.load_der_x509_certificate(der)
    time.sleep(7)
    assert leaf.not_valid_after_utc < datetime.datetime.now(datetime.UTC)  # expired before the import
    gap = _gap(tmp_path, "gap", WORKFLOW, sigstore.issuer_url, sigstore.trusted_root)
    assert run("import", bundle, home=gap).stdout.startswith(f"imported {REPO}@")


def test_the_bundle_carries_the_signers_trusted_root_by_its_sha256(
    signed: tuple[Path, Path], sigstore: VirtualSigstore
) -> None:
    _connected, bundle = signed
    with tarfile.open(bundle) as tar:
        index = json.loads(tar.extractfile("vault-bundle.json").read())  # type: ignore[union-attr]
        (name,) = index["trusted_roots"]
        raw = tar.extractfile(name).read()  # type: ignore[union-attr]
    assert name == f"trusted_roots/{hashlib.sha256(raw).hexdigest()}.json"
    assert json.loads(raw)["tlogs"] == json.loads(sigstore.trusted_root.read_text())["tlogs"]


def test_a_bundle_whose_root_differs_from_the_pinned_one_says_so(
    tmp_path: Path, tiny_model: Path, sigstore: VirtualSigstore
) -> None:
    """The signer's instance rotated its root: the import names both roots and the command to adopt it."""
    home = tmp_path / "connected"
    run("add", tiny_model, "--repo", REPO, home=home)
    rotated = VirtualSigstore(tmp_path / "rotated", name="Rotated")
    try:
        _sign(home, rotated)
    finally:
        rotated.close()
    bundle = tmp_path / "rotated.vault"
    run("bundle", REPO, "-o", bundle, home=home)
    gap = _gap(tmp_path, "gap", WORKFLOW, rotated.issuer_url, sigstore.trusted_root)
    before = snapshot(gap)
    err = run("import", bundle, home=gap, code=1).stderr
    with tarfile.open(bundle) as tar:
        (carried,) = [n for n in tar.getnames() if n.startswith("trusted_roots/")]
    pinned_before = run_json("trust", "list", home=gap)["keys"][0]["trusted_root_sha256"]
    assert err.count("\n") == 1, err
    carried_sha = carried.removeprefix("trusted_roots/").removesuffix(".json")
    assert f"Sigstore trusted root {carried_sha} differs from the root pinned for release-ci" in err
    assert pinned_before in err and "vault trust replace-root release-ci" in err
    assert snapshot(gap) == before
    # The operator checks the new root out of band, then adopts it: audited, and the import goes through.
    out = run("trust", "replace-root", "release-ci", "--trusted-root", rotated.trusted_root, home=gap).stdout
    new_sha = hashlib.sha256(rotated.trusted_root.read_bytes()).hexdigest()
    assert pinned_before in out and new_sha in out
    assert run_json("trust", "list", home=gap)["keys"][0]["trusted_root_sha256"] == new_sha
    events = [e for e in run_json("audit", home=gap)["events"] if e["action"] == "trust.replace_root"]
    assert [(e["detail"]["old_sha256"], e["detail"]["new_sha256"]) for e in events] == [
        (pinned_before, new_sha)
    ]
    replace = ("trust", "replace-root", "release-ci", "--trusted-root", rotated.trusted_root)
    again = run(*replace, home=gap).stdout
    assert "already pinned; nothing changed" in again
    assert run("import", bundle, home=gap).stdout.startswith(f"imported {REPO}@")


def test_a_verified_import_notes_a_carried_root_other_than_the_pinned_one(
    tmp_path: Path, tiny_model: Path, sigstore: VirtualSigstore
) -> None:
    """The signer's root grew a new CT log (a rotation under way): verified against the pin, and said."""
    config = json.loads(sigstore.trust_config.read_text())
    newer = VirtualSigstore(tmp_path / "newer", name="Newer")
    newer.close()
    config["trustedRoot"]["ctlogs"] += newer.trusted_root_document()["ctlogs"]
    rotating = tmp_path / "rotating-config.json"
    rotating.write_text(json.dumps(config))
    home = tmp_path / "connected"
    run("add", tiny_model, "--repo", REPO, home=home)
    env = {"SIGSTORE_IDENTITY_TOKEN": sigstore.token(WORKFLOW)}
    run("sign", REPO, "--sigstore", "--trust-config", rotating, home=home, env=env)
    bundle = tmp_path / "rotating.vault"
    run("bundle", REPO, "-o", bundle, home=home)
    gap = _gap(tmp_path, "gap", WORKFLOW, sigstore.issuer_url, sigstore.trusted_root)
    verified = run_json("verify", bundle, home=gap)
    pinned = hashlib.sha256(sigstore.trusted_root.read_bytes()).hexdigest()
    (note,) = verified["notes"]
    assert f"verified against the root pinned for release-ci ({pinned})" in note
    assert "may have rotated its root" in note
    out = run("import", bundle, home=gap).stdout
    assert out.startswith(f"imported {REPO}@") and f"note: {note}" in out


def test_a_pinned_copy_of_the_same_root_in_other_whitespace_is_the_same_root(
    tmp_path: Path, signed: tuple[Path, Path], sigstore: VirtualSigstore
) -> None:
    _connected, bundle = signed
    same = tmp_path / "same-root.json"
    same.write_text(json.dumps(json.loads(sigstore.trusted_root.read_text()), indent=4) + "\n")
    gap = _gap(tmp_path, "gap", WORKFLOW, sigstore.issuer_url, same)
    assert "note:" not in run("import", bundle, home=gap).stdout


def test_replace_root_refuses_a_key_entry_and_a_bad_file(tmp_path: Path, sigstore: VirtualSigstore,
                                                         keypair: KeyPair) -> None:  # fmt: skip
    gap = _gap(tmp_path, "gap", WORKFLOW, sigstore.issuer_url, sigstore.trusted_root)
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=gap)
    before = snapshot(gap)
    root = sigstore.trusted_root
    err = run("trust", "replace-root", "acme", "--trusted-root", root, home=gap, code=2).stderr
    assert "not a Sigstore identity" in err and err.count("\n") == 1
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    err = run("trust", "replace-root", "release-ci", "--trusted-root", bad, home=gap, code=2).stderr
    assert "not a Sigstore trusted root" in err and err.count("\n") == 1
    err = run("trust", "replace-root", "nobody", "--trusted-root", root, home=gap, code=3).stderr
    assert "does not exist" in err
    assert snapshot(gap) == before


def test_a_keyless_revocation_reaches_the_air_gap(
    tmp_path: Path, signed: tuple[Path, Path], sigstore: VirtualSigstore
) -> None:
    connected, bundle = signed
    gap = _gap(tmp_path, "gap", WORKFLOW, sigstore.issuer_url, sigstore.trusted_root)
    run("import", bundle, home=gap)
    env = {"SIGSTORE_IDENTITY_TOKEN": sigstore.token(WORKFLOW)}
    run("revoke", REPO, "--reason", "bad weights", "--sigstore", "--trust-config", sigstore.trust_config,
        home=connected, env=env)  # fmt: skip
    carrier = tmp_path / "revocation.vault"
    run("bundle", "-o", carrier, home=connected)
    out = run("import", carrier, home=gap).stdout
    assert "revoked acme/tiny@" in out
    run("path", REPO, home=gap, code=3)


def test_sigstore_signing_refusals_are_one_line_and_change_nothing(
    tmp_path: Path, tiny_model: Path, sigstore: VirtualSigstore, keypair: KeyPair
) -> None:
    home = tmp_path / "connected"
    run("add", tiny_model, "--repo", REPO, home=home)
    before = snapshot(home)
    config = ("--trust-config", str(sigstore.trust_config))
    # A token this Sigstore's OIDC issuer did not sign: Fulcio refuses it.
    forged = VirtualSigstore(tmp_path / "forged", name="Forged")
    forged.close()
    env = {"SIGSTORE_IDENTITY_TOKEN": forged.token(WORKFLOW)}
    err = run("sign", REPO, "--sigstore", *config, home=home, env=env, code=7).stderr
    assert "Sigstore signing failed" in err and err.count("\n") == 1
    # An expired token is refused before anything is asked of Fulcio.
    env = {"SIGSTORE_IDENTITY_TOKEN": sigstore.token(WORKFLOW, lifetime=-60)}
    err = run("sign", REPO, "--sigstore", *config, home=home, env=env, code=2).stderr
    assert "identity token" in err and err.count("\n") == 1
    # No token, no CI credentials, no terminal: told how to give one.
    no_token = NOT_CI
    err = run("sign", REPO, "--sigstore", *config, home=home, env=no_token, code=2).stderr
    assert "no Sigstore identity" in err and err.count("\n") == 1
    # --sigstore with a key, or neither.
    err = run("sign", REPO, "--sigstore", "--key", keypair.private, *config, home=home, code=2).stderr
    assert "without --key" in err
    err = run("sign", REPO, home=home, code=2).stderr
    assert "--sigstore" in err
    assert snapshot(home) == before
    assert sigstore.log == []


def test_stock_model_signing_accepts_the_keyless_signature(
    tmp_path: Path, signed: tuple[Path, Path], sigstore: VirtualSigstore
) -> None:
    connected, _bundle = signed
    path = run("path", REPO, home=connected).stdout.strip()
    cli = [sys.executable, "-m", "model_signing", "verify", "sigstore", "--signature",
           str(tmp_path / "sig" / "model.sig"), "--trust_config", str(sigstore.trust_config),
           "--identity_provider", sigstore.issuer_url]  # fmt: skip
    ok = subprocess.run([*cli, "--identity", WORKFLOW, path], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run([*cli, "--identity", WORKFLOW + "x", path], capture_output=True, text=True)
    assert bad.returncode != 0


def _root_entry(entries: Entries) -> str:
    return next(i.name for i, _d in entries if i.name.startswith("trusted_roots/"))


def _unsized(entries: Entries) -> Entries:
    """A re-packed bundle: its length and part digests no longer describe it, so they go."""
    index = index_of(entries)
    index.pop("size")
    index.pop("parts")
    return set_index(entries, index)


@pytest.mark.parametrize("attack", ["altered", "missing", "misnamed", "not-json"])
def test_a_tampered_carried_root_is_refused_before_anything_is_trusted(
    tmp_path: Path, signed: tuple[Path, Path], sigstore: VirtualSigstore, attack: str
) -> None:
    """The carried root is unsigned: it may not be swapped, dropped or renamed unnoticed."""
    _connected, bundle = signed
    entries = _unsized(read_entries(bundle))
    name = _root_entry(entries)
    if attack == "altered":
        entries = replace_entry(entries, name, b'{"mediaType": "forged"}')
        expected = "its bytes have sha256"
    elif attack == "missing":
        entries = drop_entry(entries, name)
        expected = f"bundle entry '{name}' is missing"
    elif attack == "misnamed":
        index = index_of(entries)
        index["trusted_roots"] = ["trusted_roots/../../etc/passwd.json"]
        entries = set_index(entries, index)
        expected = "trusted_roots must be a list of trusted_roots/<sha256>.json"
    else:
        junk = b"not json"
        renamed = f"trusted_roots/{hashlib.sha256(junk).hexdigest()}.json"
        index = index_of(entries)
        index["trusted_roots"] = [renamed]
        entries = set_index(entries, index)
        entries = [(file_info(renamed, len(junk)), junk) if i.name == name else (i, d) for i, d in entries]
        expected = "not JSON"
    hostile = write_entries(tmp_path / f"{attack}.vault", entries)
    gap = _gap(tmp_path, "gap", WORKFLOW, sigstore.issuer_url, sigstore.trusted_root)
    before = snapshot(gap)
    err = run("import", hostile, home=gap, code=1).stderr
    assert expected in err and err.count("\n") == 1, err
    assert snapshot(gap) == before


def test_verify_of_a_keyless_bundle_opens_no_socket(
    tmp_path: Path, signed: tuple[Path, Path], sigstore: VirtualSigstore, no_sockets: list[object]
) -> None:
    _connected, bundle = signed
    gap = _gap(tmp_path, "gap", WORKFLOW, sigstore.issuer_url, sigstore.trusted_root)
    report = run_json("verify", bundle, home=gap)
    assert report["signers"] == ["release-ci"] and report["notes"] == []
    assert no_sockets == []


def test_a_ci_job_signs_with_its_ambient_credentials(
    tmp_path: Path, tiny_model: Path, sigstore: VirtualSigstore
) -> None:
    """No token given: the real `id` package asks the job's OIDC token service, as in GitHub Actions."""
    home = tmp_path / "connected"
    run("add", tiny_model, "--repo", REPO, home=home)
    env = NOT_CI | sigstore.ci_environment()
    out = run("sign", REPO, "--sigstore", "--trust-config", sigstore.trust_config, home=home, env=env).stdout
    assert f"signed with Sigstore identity {sigstore.ci_identity} via {sigstore.issuer_url}" in out
    # A job without the id-token permission is told so, in one line, and nothing is signed.
    env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = None
    other = tmp_path / "other"
    run("add", tiny_model, "--repo", REPO, home=other)
    err = run("sign", REPO, "--sigstore", "--trust-config", sigstore.trust_config, home=other, env=env,
              code=2).stderr  # fmt: skip
    assert "ACTIONS_ID_TOKEN_REQUEST_TOKEN" in err and err.count("\n") == 1
    assert run_json("show", REPO, home=other)["signatures"] == []
