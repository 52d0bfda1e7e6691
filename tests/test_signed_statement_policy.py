"""Adversary, round three: every signed statement that decides what is served meets the whole policy.

The rules (docs/threat-model.md):
- the quorum covers the provenance (commit, refs, fetch time) as well as the model statement;
- revoked content stays revoked under any commit;
- every signed digest, whatever its algorithm, binds its file, streamed or left out of a delta;
- a publisher's signature is "verified" only when it signs this revision's files;
- names are matched whole (no trailing newline slips past an anchored pattern).
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import blake3
import pytest

from tests.conftest import KeyPair, run, run_json, snapshot
from tests.forge import forge_bundle, key_signer
from tests.test_hostile_corpus import refused
from vault._signing.dsse import sign_payload
from vault._signing.keys import load_private_key
from vault._statements.manifest import Resource, build_model_statement
from vault._statements.refs import check_ref_name, check_repo_id, is_commit, parse_ref
from vault.errors import UsageError

FILES = {"config.json": b'{"a": 1}', "model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "}
REPO = "acme/tiny"
OLD, NEW = "a" * 40, "b" * 40


@pytest.fixture
def two_of_two(tmp_path: Path, make_keypair: Callable[[str], KeyPair]) -> tuple[Path, KeyPair, KeyPair]:
    alice, bob = make_keypair("alice"), make_keypair("bob")
    gap = tmp_path / "quorum-gap"
    for name, k in (("alice", alice), ("bob", bob)):
        run("trust", "add", name, "--key", k.public, "--scope", "acme/*", home=gap)
    run("trust", "quorum", "acme/*", "2", home=gap)
    return gap, alice, bob


def test_the_quorum_covers_the_provenance_too(
    tmp_path: Path, two_of_two: tuple[Path, KeyPair, KeyPair]
) -> None:
    gap, alice, bob = two_of_two
    both = (key_signer(alice.private), key_signer(bob.private))
    one_prov = forge_bundle(tmp_path / "p.vault", alice.private, FILES, model_signers=both,
                            provenance_signers=both[:1])  # fmt: skip
    refused(gap, one_prov, "provenance statement: needs signatures from 2 distinct trusted signers")
    one_model = forge_bundle(tmp_path / "m.vault", alice.private, FILES, model_signers=both[:1],
                             provenance_signers=both)  # fmt: skip
    refused(gap, one_model, "model statement: needs signatures from 2 distinct trusted signers")
    whole = forge_bundle(
        tmp_path / "ok.vault", alice.private, FILES, model_signers=both, provenance_signers=both
    )
    assert run_json("import", whole, home=gap)["status"] == "imported"


def test_one_stolen_key_cannot_replay_old_weights_under_a_new_commit(
    tmp_path: Path, two_of_two: tuple[Path, KeyPair, KeyPair]
) -> None:
    """The attack of the issue: an old quorum-signed model statement, a new commit, a fetch time
    near the clock's edge, and a provenance signed by the one stolen key."""
    gap, alice, bob = two_of_two
    both = (key_signer(alice.private), key_signer(bob.private))
    old_files = {**FILES, "config.json": b'{"a": 0}'}
    old = forge_bundle(tmp_path / "old.vault", alice.private, old_files, commit=OLD, model_signers=both,
                       provenance_signers=both, fetched_at="2026-01-01T00:00:00Z")  # fmt: skip
    current = forge_bundle(tmp_path / "new.vault", alice.private, FILES, commit=NEW, model_signers=both,
                           provenance_signers=both, fetched_at="2026-02-01T00:00:00Z")  # fmt: skip
    run("import", old, home=gap)
    run("import", current, home=gap)
    replay = forge_bundle(tmp_path / "replay.vault", alice.private, old_files, commit="c" * 40,
                          model_signers=both, provenance_signers=both[:1],
                          fetched_at="2026-12-07T00:00:00Z")  # fmt: skip
    refused(gap, replay, "provenance statement: needs signatures from 2")
    assert run("path", REPO, home=gap).stdout.strip().endswith(NEW)


def _revoked_home(gap: Path, keypair: KeyPair, tmp_path: Path) -> None:
    """acme/tiny@OLD imported, then revoked by the acme key (trusted for acme/*)."""
    run("import", forge_bundle(tmp_path / "a.vault", keypair.private, FILES, commit=OLD), home=gap)
    revoke = forge_bundle(tmp_path / "r.vault", keypair.private, {"x.txt": b"x"}, commit="d" * 40,
                          revoke=(OLD,))  # fmt: skip
    assert run_json("import", revoke, home=gap)["revoked"] == [f"{REPO}@{OLD}"]


@pytest.mark.parametrize("repo_id", [REPO, "acme/tiny-v2"], ids=["same repo", "another repo in its scope"])
def test_revoked_content_stays_revoked_under_any_commit(
    gap: Path, keypair: KeyPair, tmp_path: Path, repo_id: str
) -> None:
    _revoked_home(gap, keypair, tmp_path)
    again = forge_bundle(tmp_path / "again.vault", keypair.private, FILES, commit=NEW, repo_id=repo_id,
                         fetched_at="2026-03-01T00:00:00Z")  # fmt: skip
    refused(gap, again, f"it signs the files of revoked revision {REPO}@{OLD}")


def test_a_revoker_has_no_veto_outside_its_scope(
    gap: Path, keypair: KeyPair, tmp_path: Path, make_keypair: Callable[[str], KeyPair]
) -> None:
    """The acme key revoked acme content; the same files signed for meta-llama by meta-llama's key
    are that namespace's decision."""
    _revoked_home(gap, keypair, tmp_path)
    meta = make_keypair("meta")
    run("trust", "add", "meta", "--key", meta.public, "--scope", "meta-llama/*", home=gap)
    theirs = forge_bundle(tmp_path / "m.vault", meta.private, FILES, repo_id="meta-llama/tiny", commit=NEW)
    assert run_json("import", theirs, home=gap)["status"] == "imported"


def test_content_revoked_in_the_same_bundle_is_refused_under_another_commit(
    keypair: KeyPair, tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh"
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=fresh)
    both = forge_bundle(tmp_path / "both.vault", keypair.private, FILES, commit=NEW, revoke=(NEW,))
    run("import", both, home=fresh)
    third = forge_bundle(tmp_path / "third.vault", keypair.private, FILES, commit="f" * 40)
    refused(fresh, third, f"it signs the files of revoked revision {REPO}@{NEW}")


RENAMED = {"cfg.json": FILES["config.json"], "m.safetensors": FILES["model.safetensors"]}


@pytest.mark.parametrize("files", [{**FILES, "README.md": b"new"}, RENAMED], ids=["a file added", "renamed"])
def test_a_new_statement_over_revoked_weights_is_a_new_signing_decision(
    gap: Path, keypair: KeyPair, tmp_path: Path, files: dict[str, bytes]
) -> None:
    """Other files are another signed statement: it needs the namespace's signers (and its quorum)
    like any release; the rule stops replay, not re-signing (docs/threat-model.md, residual risk)."""
    _revoked_home(gap, keypair, tmp_path)
    other = forge_bundle(tmp_path / "o.vault", keypair.private, files, commit="e" * 40,
                         fetched_at="2026-04-01T00:00:00Z")  # fmt: skip
    assert run_json("import", other, home=gap)["status"] == "imported"


def test_a_delta_binds_every_signed_digest_of_an_omitted_blob(
    gap: Path, keypair: KeyPair, tmp_path: Path
) -> None:
    run("import", forge_bundle(tmp_path / "a.vault", keypair.private, FILES, commit=OLD), home=gap)
    later = {**FILES, "README.md": b"second revision"}
    lie = forge_bundle(tmp_path / "lie.vault", keypair.private, later, commit=NEW, hash_type="blake3",
                       signed_as={"model.safetensors": b"other weights"}, omit=("model.safetensors",),
                       fetched_at="2026-02-01T00:00:00Z")  # fmt: skip
    refused(gap, lie, "its signed blake3 is not the blake3 of the copy held here")
    honest = forge_bundle(tmp_path / "ok.vault", keypair.private, later, commit=NEW, hash_type="blake3",
                          omit=("model.safetensors",), fetched_at="2026-02-01T00:00:00Z")  # fmt: skip
    assert run_json("import", honest, home=gap)["reused"] == 1


def _upstream(key: Path, files: dict[str, bytes], algorithm: str = "sha256") -> bytes:
    digest = hashlib.sha256 if algorithm == "sha256" else blake3.blake3
    resources = [Resource(p, digest(d).hexdigest(), algorithm) for p, d in files.items()]
    return sign_payload(load_private_key(key), build_model_statement(REPO, resources, hash_type=algorithm))


@pytest.mark.parametrize(
    ("signs", "algorithm", "verified"),
    [
        ("these files", "sha256", True),
        ("these files", "blake3", True),
        ("other files", "sha256", False),
        ("other files", "blake3", False),
        ("one file fewer", "sha256", False),
    ],
)
def test_an_upstream_signature_is_verified_only_when_it_signs_these_files(
    gap: Path, keypair: KeyPair, tmp_path: Path, make_keypair: Callable[[str], KeyPair],
    signs: str, algorithm: str, verified: bool,
) -> None:  # fmt: skip
    publisher = make_keypair("publisher")
    run("trust", "add", "publisher", "--key", publisher.public, "--scope", "acme/*", home=gap)
    claimed = {
        "these files": FILES,
        "other files": {**FILES, "model.safetensors": b"weights of another model"},
        "one file fewer": {"config.json": FILES["config.json"]},
    }[signs]
    raw = _upstream(publisher.private, claimed, algorithm)
    run("import", forge_bundle(tmp_path / "u.vault", keypair.private, FILES, upstream=(raw,)), home=gap)
    (sig,) = [s for s in run_json("show", REPO, home=gap)["signatures"] if s["kind"] == "upstream"]
    assert sig["verified"] is verified
    assert sig["signer"] == ("publisher" if verified else "(untrusted)")
    text = run("provenance", REPO, home=gap).stdout
    assert ("upstream signature: verified, signer publisher" in text) is verified
    assert ("upstream signature: NOT verified here" in text) is not verified


@pytest.mark.parametrize(
    "name",
    ["main\n", "main\r", "acme\n", "main\u0085"],
)
def test_a_ref_name_is_matched_whole(name: str) -> None:
    with pytest.raises(UsageError):
        check_ref_name(name)


@pytest.mark.parametrize(
    "text", ["acme/tiny\n", "acme/tin\ny", "acme/tiny@main\n", f"acme/tiny@{'a' * 40}\n"]
)
def test_a_ref_is_matched_whole(text: str) -> None:
    with pytest.raises(UsageError):
        parse_ref(text)
    with pytest.raises(UsageError):
        check_repo_id(text.split("@")[0] + ("\n" if "@" in text else ""))


@pytest.mark.parametrize(
    "name",
    [
        "a\u0085b.txt",
        "x\u009b2J.txt",
        "config\u2028  signatures: model: key by acme.txt",
        "evil\u202egnp.txt",
        "zero\u200bwidth.txt",
        "para\u2029graph.txt",
    ],
    ids=["NEL", "8-bit CSI", "line separator", "bidi override", "zero width", "paragraph separator"],
)
def test_a_file_name_that_changes_how_a_line_reads_is_refused(
    gap: Path, keypair: KeyPair, tmp_path: Path, name: str
) -> None:
    bundle = forge_bundle(tmp_path / "n.vault", keypair.private, {**FILES, name: b"x"})
    refused(gap, bundle, "character in path")  # "control character" (C0, C1) or "format or line-separator"


def test_a_commit_is_matched_whole() -> None:
    assert is_commit("a" * 40) and not is_commit("a" * 40 + "\n") and not is_commit("\u0661" * 40)


def test_one_leaf_key_trusted_as_a_key_and_through_its_ca_is_one_signer(
    tmp_path: Path,
) -> None:
    """A signature admitted by a key entry takes that key as its identity: a certificate it carries
    for another key is refused, never a second quorum party (one stolen key, two "signers")."""
    from tests.forge import chain_signer
    from tests.pki import make_pki
    from tests.test_certificate_rules import _der, signer_of

    corp = make_pki(tmp_path / "pki")
    junk = make_pki(tmp_path / "junk", name="Junk")
    gap = tmp_path / "gap"
    run("trust", "add", "corp", "--ca", corp.root, "--scope", "acme/*", home=gap)
    leaf_public = tmp_path / "leaf.pub.pem"
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = x509.load_pem_x509_certificate(corp.leaf.read_bytes()).public_key()
    leaf_public.write_bytes(
        key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    run("trust", "add", "bob", "--key", leaf_public, "--scope", "acme/*", home=gap)
    run("trust", "quorum", "acme/*", "2", home=gap)

    def honest(payload: bytes) -> bytes:
        """The leaf's own certificate signature, with a key hint no key entry has, so only the CA
        entry may admit it."""
        doc = json.loads(signer_of(corp)(payload))
        doc["verificationMaterial"]["publicKey"] = {"hint": "0" * 64}
        return json.dumps(doc).encode()

    forged = chain_signer(corp.key, _der(junk.leaf))  # the same key, carrying another key's certificate
    bundle = forge_bundle(tmp_path / "b.vault", corp.key, FILES, model_signers=(honest, forged),
                          provenance_signers=(honest, forged))  # fmt: skip
    refused(gap, bundle, "needs signatures from 2 distinct trusted signers")


def test_a_case_variant_of_a_quorum_namespace_needs_the_quorum(
    tmp_path: Path, make_keypair: Callable[[str], KeyPair]
) -> None:
    """Scopes and quorum rules match repo ids ignoring case, as the Hub and the alias check do:
    a key trusted for `*` cannot import `Meta-llama/x` past a 2-signer rule for `meta-llama/*`."""
    mirror, alice, bob = make_keypair("mirror"), make_keypair("alice"), make_keypair("bob")
    gap = tmp_path / "gap"
    run("trust", "add", "mirror", "--key", mirror.public, "--scope", "*", home=gap)
    for name, k in (("alice", alice), ("bob", bob)):
        run("trust", "add", name, "--key", k.public, "--scope", "meta-llama/*", home=gap)
    run("trust", "quorum", "meta-llama/*", "2", home=gap)
    squat = forge_bundle(tmp_path / "s.vault", mirror.private, FILES, repo_id="Meta-llama/Llama-3")
    refused(gap, squat, "needs signatures from 2 distinct trusted signers (quorum for 'meta-llama/*')")
    both = (key_signer(alice.private), key_signer(bob.private))
    legit = forge_bundle(tmp_path / "l.vault", alice.private, FILES, repo_id="meta-llama/Llama-3",
                         model_signers=both, provenance_signers=both)  # fmt: skip
    assert run_json("import", legit, home=gap)["status"] == "imported"


TWO_FILES = {"config.json": b'{"a": 1}', "vocab.txt": b"a\nb\n"}  # as `_provenance` records them


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("source.uri", "https://hf.co/acme/tiny\r\n  upstream signature: verified, signer meta"),
        ("source.type", "hub\x1b[31m"),
        ("requested_revision", "main\u2028x"),
        ("published", "\x1b[2J"),
    ],
)
def test_signed_free_text_cannot_forge_a_line(
    gap: Path, keypair: KeyPair, tmp_path: Path, where: str, value: str
) -> None:
    from tests.test_catalog_keeps_verified import _deps, _ext, _provenance

    def edit(doc: dict) -> None:
        if where == "source.uri":
            _ext(doc)["source"]["uri"] = value
        elif where == "source.type":
            _ext(doc)["source"]["type"] = value
        elif where == "requested_revision":
            _ext(doc)["requested_revision"] = value
        else:
            _deps(doc)[1]["annotations"]["published"] = {"note": value}

    bundle = forge_bundle(
        tmp_path / "p.vault", keypair.private, TWO_FILES, provenance_statement=_provenance(edit)
    )
    refused(gap, bundle, "holds a control, format or line-separator character")


@pytest.mark.parametrize("claim", ["lfs_sha256", "size", "git_blob_sha1"])
def test_matched_cannot_be_claimed_against_the_files_own_digests(
    gap: Path, keypair: KeyPair, tmp_path: Path, claim: str
) -> None:
    from tests.test_catalog_keeps_verified import _deps, _ext, _provenance

    def edit(doc: dict) -> None:
        record = _deps(doc)[1]
        published = {"lfs_sha256": "0" * 64, "size": 999999, "git_blob_sha1": "0" * 40}[claim]
        record["annotations"]["published"] = {claim: published}
        record["annotations"]["matched"] = True
        record["annotations"]["check"] = "compared-with-hub"
        _ext(doc)["source"] = {"type": "hub", "uri": "http://127.0.0.1:1/acme/tiny"}  # only a Hub publishes

    bundle = forge_bundle(
        tmp_path / "p.vault", keypair.private, TWO_FILES, provenance_statement=_provenance(edit)
    )
    refused(gap, bundle, "says it matched the published")


@pytest.mark.parametrize("scope", ["acme/*\nquorum\t*\t9 signers", "acme/*\x1b[1A", "acme/* bob"])
def test_a_scope_that_could_forge_a_line_is_refused(tmp_path: Path, keypair: KeyPair, scope: str) -> None:
    home = tmp_path / "h"
    err = run("trust", "add", "alice", "--key", keypair.public, "--scope", scope, home=home, code=2).stderr
    assert "invalid scope" in err, err
    err = run("trust", "quorum", scope, "2", home=home, code=2).stderr
    assert "invalid scope" in err, err


def test_a_ref_with_a_newline_in_a_signed_provenance_is_refused(
    gap: Path, keypair: KeyPair, tmp_path: Path
) -> None:
    spoof = forge_bundle(tmp_path / "n.vault", keypair.private, FILES, refs=("main\n",))
    refused(gap, spoof, "ref holds a control, format or line-separator character")


def test_no_pattern_in_vault_can_be_satisfied_by_a_prefix() -> None:
    """The class, not the case: every regular expression in vault/ is applied with `fullmatch`
    (a `$` anchor lets a trailing newline through; `match` lets any suffix through)."""
    offenders = []
    for path in sorted(Path("vault").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in ("match", "search") and not _is_known_non_regex(node):
                    offenders.append(f"{path}:{node.lineno}: .{node.func.attr}(")
                if node.func.attr == "compile" and node.args and isinstance(node.args[0], ast.Constant):
                    pattern = str(node.args[0].value)
                    if pattern.startswith("^") or re.search(r"(?<!\\)\$$", pattern):
                        offenders.append(f"{path}:{node.lineno}: anchored pattern {pattern!r}")
    assert offenders == []


def _is_known_non_regex(node: ast.Call) -> bool:
    """fnmatch and the like are whole-string already."""
    value = node.func.value if isinstance(node.func, ast.Attribute) else None
    return isinstance(value, ast.Name) and value.id in ("fnmatch",)


def test_a_refused_statement_changes_nothing(gap: Path, keypair: KeyPair, tmp_path: Path) -> None:
    """The provenance refusal of the quorum test leaves the home byte-identical (as `refused` checks),
    and so does a verify of the same bundle on a home that holds a revision already."""
    run("import", forge_bundle(tmp_path / "a.vault", keypair.private, FILES, commit=OLD), home=gap)
    before = snapshot(gap)
    statement = json.loads(build_model_statement(REPO, [Resource(p, hashlib.sha256(d).hexdigest())
                                                       for p, d in FILES.items()]))  # fmt: skip
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    bad = forge_bundle(tmp_path / "b.vault", keypair.private, FILES, commit=NEW,
                       model_statement=json.dumps(statement).encode())  # fmt: skip
    run("import", bad, home=gap, code=1)
    assert snapshot(gap) == before


@pytest.mark.parametrize(
    "reason", ["withdrawn\nvault: imported acme/tiny: all clear", "bad\x1b[2K", "a\u2028b"]
)
def test_a_revocation_reason_that_could_forge_a_line_is_refused(
    gap: Path, keypair: KeyPair, tmp_path: Path, reason: str
) -> None:
    """Every refusal of a revoked revision prints its reason (vault path, resolve(), serve's error
    header): a signed reason with a newline or an escape would write lines of its own."""
    bundle = forge_bundle(tmp_path / "r.vault", keypair.private, TWO_FILES, revoke=("c" * 40,),
                          revoke_reason=reason)  # fmt: skip
    refused(gap, bundle, "malformed revocation (reason and time must be strings without control")
    err = run("revoke", "acme/tiny", "--reason", reason, "--key", keypair.private, home=gap, code=2).stderr
    assert "--reason must be one line of text" in err
