"""Adversary, round three: which certificates may sign models, when, and how many parties they are.

- a leaf signs models only with KeyUsage digitalSignature and ExtendedKeyUsage codeSigning, on the
  signing side and on the verifying side alike (`purpose_failure`);
- `vault sign --cert` refuses a leaf that is not valid now (verifiers judge it at its notBefore, so
  a dead certificate would otherwise sign for ever);
- a quorum counts parties: two leaves under one CA entry are one party unless the operator said
  `--each-identity-counts`, and `trust list` says which.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.conftest import KeyPair, run, run_json, snapshot
from tests.forge import Sign, chain_signer, forge_bundle
from tests.pki import Leaf, Pki, issue_leaf, make_pki
from tests.test_hostile_corpus import refused

FILES = {"config.json": b'{"a": 1}'}
REPO = "acme/tiny"
NOW = datetime.datetime.now(datetime.UTC)

BAD_LEAVES = {
    "serverAuth only": Leaf(purposes=(ExtendedKeyUsageOID.SERVER_AUTH,)),
    "emailProtection only": Leaf(purposes=(ExtendedKeyUsageOID.EMAIL_PROTECTION,)),
    "keyAgreement only": Leaf(signing=False, key_agreement=True),
    "no ExtendedKeyUsage": Leaf(purposes=()),
}
EXPECT = {
    "serverAuth only": "its ExtendedKeyUsage lacks codeSigning",
    "emailProtection only": "its ExtendedKeyUsage lacks codeSigning",
    "keyAgreement only": "its KeyUsage lacks digitalSignature",
    "no ExtendedKeyUsage": "it has no ExtendedKeyUsage",
}


def _der(path: Path) -> list[bytes]:
    return [
        c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(path.read_bytes())
    ]


def signer_of(pki: Pki) -> Sign:
    """Signs as the leaf, bypassing `vault sign`'s own checks (a forger would)."""
    return chain_signer(pki.key, _der(pki.leaf) + _der(pki.chain))


def _ca_gap(tmp_path: Path, pki: Pki, *flags: str) -> Path:
    gap = tmp_path / "ca-gap"
    run("trust", "add", "corp-ca", "--ca", pki.root, "--scope", "acme/*", *flags, home=gap)
    return gap


@pytest.mark.parametrize("leaf", sorted(BAD_LEAVES))
def test_a_leaf_without_the_code_signing_purpose_signs_nothing(
    tmp_path: Path, tiny_model: Path, leaf: str
) -> None:
    pki = make_pki(tmp_path / "pki", leaf=BAD_LEAVES[leaf])
    gap = _ca_gap(tmp_path, pki)
    s = signer_of(pki)
    bundle = forge_bundle(tmp_path / "b.vault", pki.key, FILES, model_signers=(s,), provenance_signers=(s,))
    refused(gap, bundle, f"the leaf certificate may not sign models: {EXPECT[leaf]}")
    err = _sign_refused(tmp_path, tiny_model, pki)
    assert f"leaf.pem: the certificate may not sign models: {EXPECT[leaf]}" in err and err.count("\n") == 1


def _sign_refused(tmp_path: Path, tiny_model: Path, pki: Pki) -> str:
    """`vault sign --cert` with this PKI's leaf: refused as a usage error, the home unchanged."""
    home = tmp_path / "connected"
    run("add", tiny_model, "--repo", REPO, home=home)
    before = snapshot(home)
    err = run(
        "sign", REPO, "--key", pki.key, "--cert", pki.leaf, "--chain", pki.chain, home=home, code=2
    ).stderr
    assert snapshot(home) == before
    return err


def test_a_code_signing_leaf_still_signs(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    s = signer_of(pki)
    bundle = forge_bundle(tmp_path / "b.vault", pki.key, FILES, model_signers=(s,), provenance_signers=(s,))
    assert run_json("import", bundle, home=_ca_gap(tmp_path, pki))["status"] == "imported"


@pytest.mark.parametrize(
    ("leaf", "expect"),
    [
        (
            Leaf(not_before=NOW - datetime.timedelta(days=30), lifetime=datetime.timedelta(days=1)),
            "it expired",
        ),
        (Leaf(not_before=NOW + datetime.timedelta(days=30)), "it is not valid before"),
    ],
    ids=["expired", "not yet valid"],
)
def test_vault_sign_refuses_a_leaf_that_is_not_valid_now(
    tmp_path: Path, tiny_model: Path, leaf: Leaf, expect: str
) -> None:
    err = _sign_refused(tmp_path, tiny_model, make_pki(tmp_path / "pki", leaf=leaf))
    assert "the certificate may not sign models: " + expect in err


@pytest.mark.parametrize("each_counts", [False, True], ids=["entry counts once", "each identity counts"])
def test_two_leaves_under_one_ca_are_one_party_unless_the_operator_says(
    tmp_path: Path, each_counts: bool
) -> None:
    one = make_pki(tmp_path / "pki")
    two = issue_leaf(one, tmp_path / "second", "Corp second signer")
    gap = _ca_gap(tmp_path, one, *(["--each-identity-counts"] if each_counts else []))
    run("trust", "quorum", "acme/*", "2", home=gap)
    listed = run_json("trust", "list", home=gap)["keys"]
    assert listed[0]["quorum_counts"] == ("each identity" if each_counts else "once")
    assert ("quorum: counts " + ("each identity" if each_counts else "once")) in run(
        "trust", "list", home=gap
    ).stdout
    both = (signer_of(one), signer_of(two))
    bundle = forge_bundle(tmp_path / "b.vault", one.key, FILES, model_signers=both, provenance_signers=both)
    if each_counts:
        assert run_json("import", bundle, home=gap)["status"] == "imported"
    else:
        refused(
            gap,
            bundle,
            "needs signatures from 2 distinct trusted signers (quorum for 'acme/*'), has 1 (corp-ca)",
        )


def test_each_identity_counts_is_for_a_ca(tmp_path: Path, keypair: KeyPair) -> None:
    err = run("trust", "add", "k", "--key", keypair.public, "--scope", "*", "--each-identity-counts",
              home=tmp_path / "h", code=2).stderr  # fmt: skip
    assert "--each-identity-counts is for a CA entry" in err
