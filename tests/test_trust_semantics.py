"""Trust semantics an attacker who builds bundles by hand must not bend (issue: adversarial review)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import KeyPair, Transfer, run, run_json
from tests.forge import forge_bundle
from tests.test_hostile_corpus import refused
from vault._signing.trust import TrustEntry, TrustPolicy, VerifiedSignature
from vault._statements.manifest import Resource, build_model_statement
from vault.errors import TrustError

FILES = {"config.json": b'{"a": 1}', "vocab.txt": b"a\nb\n"}


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


@pytest.mark.parametrize(
    ("files", "expect"),
    [
        ({"a": b"1", "a/b": b"2"}, "is a file, and here a directory"),
        ({"README.md": b"1", "readme.md": b"2"}, "ignoring case"),
        ({"\ufb01le.txt": b"1", "file.txt": b"2"}, "ignoring case or Unicode form"),
        ({"tok/Vocab.txt": b"1", "TOK/vocab.txt": b"2"}, "ignoring case"),
    ],
    ids=["file and directory", "case", "ligature casefold", "case in a directory"],
)
def test_colliding_file_names_are_refused_before_anything_is_written(
    gap: Path, keypair: KeyPair, tmp_path: Path, files: dict, expect: str
) -> None:
    refused(gap, forge_bundle(tmp_path / "c.vault", keypair.private, files), expect)


def test_a_lone_surrogate_in_a_file_name_is_refused(gap: Path, keypair: KeyPair, tmp_path: Path) -> None:
    """JSON can carry one ("\\ud800"); Python decodes it to a str no file system can name."""
    surrogate = forge_bundle(tmp_path / "s.vault", keypair.private, {"aZ.txt": b"1"},
                             patch=lambda raw: raw.replace(b"aZ.txt", b"a\\ud800.txt"))  # fmt: skip
    refused(gap, surrogate, "lone surrogate")


@pytest.mark.parametrize("ref", ["1" * 40, "ABCDEF0123" * 4])
def test_a_ref_that_looks_like_a_commit_is_refused(
    gap: Path, keypair: KeyPair, tmp_path: Path, ref: str
) -> None:
    refused(
        gap, forge_bundle(tmp_path / "r.vault", keypair.private, FILES, refs=(ref,)), "looks like a commit"
    )


@pytest.mark.parametrize(
    ("first", "second"), [(("main",), ("Main",)), (("a/b",), ("a",)), (("a",), ("a/b",))], ids=str
)
def test_refs_that_alias_existing_ones_are_refused(
    gap: Path, keypair: KeyPair, tmp_path: Path, first: tuple, second: tuple
) -> None:
    run("import", forge_bundle(tmp_path / "1.vault", keypair.private, FILES, refs=first), home=gap)
    later = forge_bundle(tmp_path / "2.vault", keypair.private, {"x.txt": b"x"}, commit="d" * 40, refs=second,
                         fetched_at="2026-02-01T00:00:00Z")  # fmt: skip
    refused(gap, later, "ref")


def test_a_repo_id_that_differs_only_in_case_is_refused(tmp_path: Path, keypair: KeyPair) -> None:
    gap = tmp_path / "gap"
    run("trust", "add", "all", "--key", keypair.public, "--scope", "*", home=gap)
    run("import", forge_bundle(tmp_path / "1.vault", keypair.private, FILES), home=gap)
    other = forge_bundle(tmp_path / "2.vault", keypair.private, FILES, repo_id="ACME/tiny")
    refused(gap, other, "collides with 'acme/tiny' ignoring case")


@pytest.mark.parametrize(
    ("fetched_at", "expect"),
    [
        ("2099-01-01T00:00:00Z", "after this host's clock"),
        ("2026-01-01 00:00:00", "not a UTC time"),
        ("2026-13-01T00:00:00Z", "not a UTC time"),
    ],
    ids=["future", "not canonical", "no such month"],
)
def test_a_signer_cannot_freeze_a_ref_with_a_future_fetch_time(
    gap: Path, keypair: KeyPair, tmp_path: Path, fetched_at: str, expect: str
) -> None:
    frozen = forge_bundle(
        tmp_path / "f.vault", keypair.private, FILES, commit="e" * 40, fetched_at=fetched_at
    )
    refused(gap, frozen, expect)
    later = forge_bundle(
        tmp_path / "ok.vault", keypair.private, {"x.txt": b"x"}, fetched_at="2026-03-01T00:00:00Z"
    )
    run("import", later, home=gap)
    assert run("path", "acme/tiny", home=gap).stdout.strip().endswith("c" * 40)


def test_one_broken_view_does_not_block_imports_of_other_models(
    gap: Path, keypair: KeyPair, tmp_path: Path
) -> None:
    run("import", forge_bundle(tmp_path / "1.vault", keypair.private, FILES), home=gap)
    view = gap / "models" / "acme" / "tiny" / ("c" * 40)
    shutil.rmtree(view)
    view.write_text("in the way")  # the view can no longer be rebuilt there
    other = forge_bundle(tmp_path / "2.vault", keypair.private, FILES, repo_id="acme/other")
    assert run_json("import", other, home=gap)["status"] == "imported"
    assert Path(run("path", "acme/other", home=gap).stdout.strip()).is_dir()
    problems = json.loads(run("--json", "fsck", home=gap, code=1).stdout)["problems"]
    assert any(p["kind"] == "missing-view" and "acme/tiny" in p["where"] for p in problems)


def test_a_revocation_signed_outside_its_scope_is_refused(
    gap: Path, tmp_path: Path, make_keypair: Callable[[str], KeyPair], transfer: Transfer
) -> None:
    t = transfer
    run("import", t.bundle, home=t.airgapped)
    outsider = make_keypair("outsider")
    run("trust", "add", "outsider", "--key", outsider.public, "--scope", "other/*", home=t.airgapped)
    run("trust", "add", "outsider", "--key", outsider.public, "--scope", "other/*", home=t.connected)
    run("revoke", t.repo_id, "--reason", "x", "--key", outsider.private, home=t.connected)
    run("bundle", "-o", tmp_path / "r.vault", home=t.connected)
    refused(t.airgapped, tmp_path / "r.vault", "is not trusted for acme/tiny")
    assert Path(run("path", t.repo_id, home=t.airgapped).stdout.strip()).is_dir()


def test_a_model_signature_cannot_be_relabelled_onto_another_repo(
    gap: Path, keypair: KeyPair, tmp_path: Path
) -> None:
    """The OMS statement names its model; a signature made for acme/other does not stand in for acme/tiny."""
    other = build_model_statement(
        "acme/other", [Resource(p, hashlib.sha256(d).hexdigest()) for p, d in FILES.items()]
    )
    bundle = forge_bundle(tmp_path / "r.vault", keypair.private, FILES, model_statement=other)
    refused(gap, bundle, "model signature is for 'acme/other'")
    elsewhere = forge_bundle(tmp_path / "p.vault", keypair.private, FILES, provenance_repo="acme/other")
    refused(gap, elsewhere, "provenance is signed for acme/other")


def test_trust_checks_say_what_they_expected_and_found(keypair: KeyPair) -> None:
    from vault._signing.dsse import parse_bundle, sign_payload
    from vault._signing.keys import key_hint, load_private_key, load_public_key, public_key_pem
    from vault._signing.policies import ENTRY_POLICY, CheckFailed, Claim, InScope, Unexpired, first_admitting

    key = load_public_key(keypair.public)
    entry = TrustEntry("acme", public_key_pem(key), key_hint(key), ("acme/*",), "2026-06-01T00:00:00Z")
    env = parse_bundle(sign_payload(load_private_key(keypair.private), b"{}"), "x.sig")
    claim = Claim(env, "other/repo", "2026-01-01T00:00:00Z", "x.sig")
    with pytest.raises(CheckFailed, match="expected a scope covering other/repo, found scope acme/\\*"):
        InScope().verify(entry, claim)
    late = Claim(env, "acme/tiny", "2027-01-01T00:00:00Z", "x.sig")
    with pytest.raises(CheckFailed, match="found expired 2026-06-01T00:00:00Z"):
        Unexpired().verify(entry, late)
    with pytest.raises(CheckFailed) as failed:
        ENTRY_POLICY.verify(entry, late)
    assert failed.value.stage == 1  # the signature check passed; expiry is where it stopped
    assert first_admitting([entry], Claim(env, "acme/tiny", "2026-01-01T00:00:00Z", "x.sig")) is entry
