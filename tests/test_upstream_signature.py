"""`vault add --signature`: a publisher's real OMS signature made by model_signing 1.1.0."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import KeyPair, run, run_json, snapshot

REPO = "acme/signed"


def copy_signed(testdata: Path, variant: str, dest: Path) -> Path:
    """A writable copy of one of the real model_signing test folders."""
    shutil.copytree(testdata / "oms" / variant, dest)
    for p in dest.iterdir():
        p.chmod(0o644)
    return dest


@pytest.fixture
def signed_folder(testdata: Path, tmp_path: Path) -> Path:
    return copy_signed(testdata, "v1.1.0-elliptic-key", tmp_path / "published")


@pytest.fixture
def home(testdata: Path, tmp_path: Path) -> Path:
    home = tmp_path / "connected"
    pub = testdata / "oms" / "keys" / "signing-key-pub.pem"
    run("trust", "add", "publisher", "--key", pub, "--scope", "acme/*", home=home)
    return home


def test_real_key_signature_is_accepted(home: Path, signed_folder: Path) -> None:
    added = run_json(
        "add", signed_folder, "--repo", REPO, "--signature", signed_folder / "model.sig", home=home
    )
    assert added["status"] == "added"
    shown = run_json("show", REPO, home=home)
    # ignore_paths in the signature leaves ignore-me out; the signature file is not content.
    assert [f["path"] for f in shown["files"]] == ["signme-1", "signme-2"]
    upstream = [s for s in shown["signatures"] if s["kind"] == "upstream"]
    assert upstream and upstream[0]["signer"] == "publisher" and upstream[0]["verified"]
    prov = run_json("provenance", REPO, home=home)
    assert prov["source"]["upstream_signature"]["signer"] == "publisher"


def test_signature_outside_the_folder(home: Path, signed_folder: Path, tmp_path: Path) -> None:
    sig = tmp_path / "elsewhere.sig"
    shutil.move(signed_folder / "model.sig", sig)
    run("add", signed_folder, "--repo", REPO, "--signature", sig, home=home)


def _refused(home: Path, signed_folder: Path, expect: str) -> None:
    before = snapshot(home)
    res = run(
        "add", signed_folder, "--repo", REPO, "--signature", signed_folder / "model.sig", home=home, code=1
    )
    err = res.stderr.strip()
    assert expect in err and "\n" not in err, err
    assert snapshot(home) == before


def test_changed_file_is_refused(home: Path, signed_folder: Path) -> None:
    (signed_folder / "signme-1").write_text("tampered")
    _refused(home, signed_folder, "signme-1: sha256")


def test_extra_file_is_refused(home: Path, signed_folder: Path) -> None:
    (signed_folder / "smuggled.txt").write_bytes(b"x")
    _refused(home, signed_folder, "smuggled.txt is not covered by the signature")


def test_missing_file_is_refused(home: Path, signed_folder: Path) -> None:
    (signed_folder / "signme-2").unlink()
    _refused(home, signed_folder, "signed file signme-2 is missing")


def test_untrusted_key_is_refused(home: Path, signed_folder: Path) -> None:
    run("trust", "remove", "publisher", home=home)
    _refused(home, signed_folder, "no trusted keys")


def test_other_trusted_key_is_refused(home: Path, signed_folder: Path, keypair: KeyPair) -> None:
    run("trust", "remove", "publisher", home=home)
    run("trust", "add", "someone", "--key", keypair.public, "--scope", "*", home=home)
    _refused(home, signed_folder, "not signed by any trusted key")


def test_out_of_scope_is_refused(home: Path, signed_folder: Path) -> None:
    before = snapshot(home)
    res = run(
        "add", signed_folder, "--repo", "other/model", "--signature", signed_folder / "model.sig",
        home=home, code=1,
    )  # fmt: skip
    assert "is not trusted for other/model" in res.stderr
    assert snapshot(home) == before


def test_certificate_signature_checks_the_leaf_key(home: Path, testdata: Path, tmp_path: Path) -> None:
    """The real certificate-method signature: its leaf key is the trusted publisher key."""
    folder = copy_signed(testdata, "v1.1.0-certificate", tmp_path / "cert")
    run("add", folder, "--repo", REPO, "--signature", folder / "model.sig", home=home)
    upstream = [s for s in run_json("show", REPO, home=home)["signatures"] if s["kind"] == "upstream"]
    assert upstream[0]["method"] == "certificate" and upstream[0]["signer"] == "publisher"


def test_certificate_signature_with_untrusted_leaf_is_refused(
    home: Path, testdata: Path, tmp_path: Path, keypair: KeyPair
) -> None:
    run("trust", "remove", "publisher", home=home)
    run("trust", "add", "someone", "--key", keypair.public, "--scope", "*", home=home)
    folder = copy_signed(testdata, "v1.1.0-certificate", tmp_path / "cert")
    res = run("add", folder, "--repo", REPO, "--signature", folder / "model.sig", home=home, code=1)
    assert "certificate signature not trusted: its leaf key is not a trusted key, and no CA" in res.stderr


def test_upstream_signature_travels_with_the_revision(
    home: Path, signed_folder: Path, keypair: KeyPair, testdata: Path, tmp_path: Path
) -> None:
    run("add", signed_folder, "--repo", REPO, "--signature", signed_folder / "model.sig", home=home)
    run("sign", REPO, "--key", keypair.private, home=home)
    run("bundle", REPO, "-o", tmp_path / "b.vault", home=home)
    gap = tmp_path / "gap"
    run("trust", "add", "connected", "--key", keypair.public, "--scope", "acme/*", home=gap)
    run(
        "trust",
        "add",
        "publisher",
        "--key",
        testdata / "oms/keys/signing-key-pub.pem",
        "--scope",
        "acme/*",
        home=gap,
    )
    run("import", tmp_path / "b.vault", home=gap)
    sigs = {s["kind"]: s for s in run_json("show", REPO, home=gap)["signatures"]}
    assert sigs["upstream"]["signer"] == "publisher" and sigs["upstream"]["verified"]
    assert sigs["model"]["signer"] == "connected"


SIGSTORE_IDENTITY = "stefanb@us.ibm.com"
SIGSTORE_ISSUER = "https://sigstore.verify.ibm.com/oauth2"


def _sigstore_home(tmp_path: Path, testdata: Path, identity: str = SIGSTORE_IDENTITY) -> Path:
    home = tmp_path / "sigstore-home"
    run("trust", "add", "stefan", "--identity", identity, "--issuer", SIGSTORE_ISSUER,
        "--trusted-root", testdata / "sigstore" / "production_trusted_root.json", "--scope", "acme/*",
        home=home)  # fmt: skip
    return home


def _sigstore_folder(testdata: Path, tmp_path: Path) -> Path:
    return copy_signed(testdata, "v1.1.0-sigstore", tmp_path / "keyless")


def test_real_sigstore_signature_is_verified_offline(testdata: Path, tmp_path: Path) -> None:
    home = _sigstore_home(tmp_path, testdata)
    folder = _sigstore_folder(testdata, tmp_path)
    run("add", folder, "--repo", REPO, "--signature", folder / "model.sig", home=home)
    shown = run_json("show", REPO, home=home)
    assert [f["path"] for f in shown["files"]] == ["signme-1", "signme-2"]
    upstream = next(s for s in shown["signatures"] if s["kind"] == "upstream")
    assert upstream["method"] == "sigstore" and upstream["signer"] == "stefan" and upstream["verified"]


def test_sigstore_wrong_identity_is_refused(testdata: Path, tmp_path: Path) -> None:
    home = _sigstore_home(tmp_path, testdata, identity="someone-else@example.com")
    folder = _sigstore_folder(testdata, tmp_path)
    before = snapshot(home)
    err = run("add", folder, "--repo", REPO, "--signature", folder / "model.sig", home=home, code=1).stderr
    # sigstore-python's own words: the identity it expected, not a bare "no".
    assert "certificate signature not trusted" in err and "someone-else@example.com" in err, err
    assert snapshot(home) == before


def test_sigstore_signature_still_checks_the_files(testdata: Path, tmp_path: Path) -> None:
    """sigstore-python does not look at the statement's resources; vault does."""
    home = _sigstore_home(tmp_path, testdata)
    folder = _sigstore_folder(testdata, tmp_path)
    (folder / "signme-2").write_text("changed")
    err = run("add", folder, "--repo", REPO, "--signature", folder / "model.sig", home=home, code=1).stderr
    assert "signme-2: sha256" in err


def test_sigstore_trust_needs_all_three_parts(testdata: Path, tmp_path: Path) -> None:
    err = run(
        "trust", "add", "x", "--identity", SIGSTORE_IDENTITY, "--scope", "*", home=tmp_path / "h", code=2
    ).stderr
    assert "--identity, --issuer and --trusted-root go together" in err
    bad_root = tmp_path / "root.json"
    bad_root.write_text("{}")
    err = run("trust", "add", "x", "--identity", SIGSTORE_IDENTITY, "--issuer", SIGSTORE_ISSUER,
              "--trusted-root", bad_root, "--scope", "*", home=tmp_path / "h", code=2).stderr  # fmt: skip
    assert "not a Sigstore trusted root" in err


def _ca_home(tmp_path: Path, testdata: Path, *ca_files: str) -> Path:
    home = tmp_path / "ca-home"
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(b"".join((testdata / "oms" / "keys" / f).read_bytes() for f in ca_files))
    run("trust", "add", "corp-ca", "--ca", bundle, "--scope", "acme/*", home=home)
    return home


def test_real_certificate_signature_chains_to_a_trusted_ca(testdata: Path, tmp_path: Path) -> None:
    """The model_signing certificate signature: leaf -> intermediate -> root, root trusted."""
    home = _ca_home(tmp_path, testdata, "ca-cert.pem")
    folder = copy_signed(testdata, "v1.1.0-certificate", tmp_path / "cert")
    run("add", folder, "--repo", REPO, "--signature", folder / "model.sig", home=home)
    upstream = next(s for s in run_json("show", REPO, home=home)["signatures"] if s["kind"] == "upstream")
    assert upstream["method"] == "certificate" and upstream["signer"] == "corp-ca"


def test_certificate_chain_to_an_untrusted_ca_is_refused(testdata: Path, tmp_path: Path) -> None:
    # A CA that did not issue this chain: a self-signed one made here.
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Other CA")])
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    other = tmp_path / "other-ca.pem"
    other.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    home = tmp_path / "h"
    run("trust", "add", "other", "--ca", other, "--scope", "acme/*", home=home)
    folder = copy_signed(testdata, "v1.1.0-certificate", tmp_path / "cert")
    before = snapshot(home)
    err = run("add", folder, "--repo", REPO, "--signature", folder / "model.sig", home=home, code=1).stderr
    # The reason reaches the user: which CA, and what OpenSSL found wrong with the chain.
    assert (
        "certificate signature not trusted" in err
        and "other: certificate chain does not lead to CA other" in err
    )
    assert snapshot(home) == before
