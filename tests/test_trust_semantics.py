"""Trust semantics an attacker who builds bundles by hand must not bend (issue: adversarial review)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import KeyPair, run, run_json
from tests.forge import forge_bundle
from tests.test_hostile_corpus import refused
from vault.errors import TrustError
from vault.manifest import Resource, build_model_statement
from vault.signing.trust import TrustEntry, TrustPolicy, VerifiedSignature

FILES = {"config.json": b'{"a": 1}', "vocab.txt": b"a\nb\n"}


@pytest.fixture
def gap(tmp_path: Path, keypair: KeyPair) -> Path:
    home = tmp_path / "gap"
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=home)
    return home


def test_a_blake3_signature_binds_every_file(gap: Path, keypair: KeyPair, tmp_path: Path) -> None:
    lie = forge_bundle(tmp_path / "lie.vault", keypair.private, FILES, hash_type="blake3",
                       signed_as={"vocab.txt": b"other content\n"})  # fmt: skip
    refused(gap, lie, "vocab.txt: blake3 mismatch with the signature")
    honest = forge_bundle(tmp_path / "ok.vault", keypair.private, FILES, hash_type="blake3")
    assert run_json("import", honest, home=gap)["status"] == "imported"


def test_a_sha256_signature_that_disagrees_with_the_provenance_is_refused(
    gap: Path, keypair: KeyPair, tmp_path: Path
) -> None:
    lie = forge_bundle(tmp_path / "lie.vault", keypair.private, FILES, signed_as={"config.json": b"{}"})
    refused(gap, lie, "provenance and model signature disagree")


@pytest.mark.parametrize("algorithm", ["sha512", "md5", "SHA256", ""])
def test_a_digest_algorithm_vault_cannot_check_is_refused(
    gap: Path, keypair: KeyPair, tmp_path: Path, algorithm: str
) -> None:
    statement = json.loads(build_model_statement("acme/tiny", [Resource(p, "0" * 64) for p in FILES]))
    statement["predicate"]["serialization"]["hash_type"] = algorithm
    for r in statement["predicate"]["resources"]:
        r["algorithm"] = algorithm
    raw = json.dumps(statement).encode()
    bundle = forge_bundle(tmp_path / "x.vault", keypair.private, FILES, model_statement=raw)
    refused(gap, bundle, "is not supported")


def _verified(entry: TrustEntry, identity: str) -> VerifiedSignature:
    return VerifiedSignature(entry, b"{}", b"{}", "key", identity)


def test_quorum_counts_signing_keys_not_trust_entries() -> None:
    pem = b"-----BEGIN PUBLIC KEY-----\n"
    alice = TrustEntry("alice", pem, "f" * 64, ("acme/*",), None, "key", None, None, None)
    alias = TrustEntry("alias", pem, "f" * 64, ("acme/*",), None, "key", None, None, None)
    corp = TrustEntry("corp-ca", pem, "c" * 64, ("acme/*",), None, "ca", None, None, None)
    policy = TrustPolicy([alice, alias, corp], {"acme/*": 2}, "2026-01-01T00:00:00Z")
    same_key = f"key:{'f' * 64}"
    for pair in ((alice, alias), (alice, corp), (alias, corp)):
        with pytest.raises(TrustError, match="has 1"):
            policy.check_quorum([_verified(pair[0], same_key), _verified(pair[1], same_key)], "acme/x", "r")
    policy.check_quorum([_verified(alice, same_key), _verified(corp, f"key:{'e' * 64}")], "acme/x", "r")
