"""Adversary, round three: the catalog keeps what was verified, and every signed statement is
judged whole before anything is written.

- unverified bytes never replace or shadow verified ones, whatever key hint they carry;
- what is exported (in-toto files, ML-BOM, import attestation, a re-bundle) is byte-identical to
  what was verified;
- a signed statement malformed anywhere is a refusal (exit 1) that leaves the home as it was.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import KeyPair, run, run_json
from tests.forge import forge_bundle
from tests.test_hostile_corpus import refused
from vault._signing.dsse import sign_payload
from vault._signing.keys import key_hint, load_private_key, load_public_key
from vault._statements.provenance import FileRecord, build_provenance, new_provenance

FILES = {"config.json": b'{"a": 1}', "vocab.txt": b"a\nb\n"}
REPO = "acme/tiny"


def _with_hint(raw: bytes, hint: str) -> bytes:
    doc = json.loads(raw)
    doc["verificationMaterial"]["publicKey"]["hint"] = hint
    return json.dumps(doc).encode()


def _junk(keypair: KeyPair, attacker: KeyPair, payload: bytes) -> bytes:
    """Signed by the attacker's key, claiming to be the trusted key (its hint copied)."""
    trusted = key_hint(load_public_key(keypair.public))
    return _with_hint(sign_payload(load_private_key(attacker.private), payload), trusted)


@pytest.mark.parametrize("kind", ["model", "provenance", "upstream"])
def test_a_junk_signature_with_the_trusted_hint_never_replaces_the_verified_one(
    gap: Path, keypair: KeyPair, tmp_path: Path, make_keypair: Callable[[str], KeyPair], kind: str
) -> None:
    attacker = make_keypair("attacker")
    junk = _junk(keypair, attacker, b'{"junk": true}')
    bundle = forge_bundle(tmp_path / "j.vault", keypair.private, FILES, extra={kind: (junk,)})
    run("import", bundle, home=gap)
    sigs = run_json("show", REPO, home=gap)["signatures"]
    verified = [s for s in sigs if s["verified"]]
    assert {s["kind"] for s in verified} == {"model", "provenance"}
    (flagged,) = [s for s in sigs if not s["verified"]]
    assert flagged["kind"] == kind and flagged["signer"] == "(untrusted)"
    assert flagged["key"] == hashlib.sha256(junk).hexdigest()  # keyed by its bytes, not its claim

    out = tmp_path / "evidence"
    run("provenance", REPO, "--format", "in-toto", "--out", out, home=gap)
    exported = {p.name: p.read_bytes() for p in out.glob("*.sig")}
    assert junk not in exported.values() and set(exported) == {"model.sig", "provenance.sig"}
    carried = _bundle_signatures(bundle)
    assert exported["model.sig"] == carried["model.sig"]
    assert exported["provenance.sig"] == carried["provenance.sig"]
    attestation = json.loads((out / "import.intoto.json").read_bytes())
    assert {s["admitted_by"] for s in attestation["predicate"]["signatures"]} == {"acme"}
    bom = json.dumps(run_json("bom", REPO, home=gap))
    assert hashlib.sha256(junk).hexdigest() not in bom

    # The air side re-bundles what it verified; a third vault takes it.
    relay = tmp_path / "relay.vault"
    run("bundle", REPO, "-o", relay, home=gap)
    assert junk not in _bundle_signatures(relay).values()
    third = tmp_path / "third"
    run("trust", "add", "acme", "--key", keypair.public, "--scope", "acme/*", home=third)
    assert run_json("import", relay, home=third)["status"] == "imported"


def _bundle_signatures(bundle: Path) -> dict[str, bytes]:
    from tests.bundletools import read_entries

    return {i.name.rsplit("/", 1)[1]: data for i, data in read_entries(bundle) if i.name.endswith(".sig")}


def test_a_second_unverified_copy_of_a_verified_signature_is_kept_once(
    gap: Path, keypair: KeyPair, tmp_path: Path
) -> None:
    """The same bytes twice (model.sig and model-2.sig) are one signature, recorded verified."""
    from tests.bundletools import read_entries

    first = forge_bundle(tmp_path / "a.vault", keypair.private, FILES)
    model = next(data for info, data in read_entries(first) if info.name.endswith("/model.sig"))
    bundle = forge_bundle(tmp_path / "b.vault", keypair.private, FILES, extra={"model": (model,)})
    run("import", bundle, home=gap)
    sigs = [s for s in run_json("show", REPO, home=gap)["signatures"] if s["kind"] == "model"]
    assert [s["verified"] for s in sigs] == [True]


def _provenance(edit: Callable[[dict[str, Any]], None]) -> bytes:
    records = [FileRecord(p, len(d), hashlib.sha256(d).hexdigest()) for p, d in FILES.items()]
    source = {"type": "local-directory", "uri": "file:///forged"}
    prov = new_provenance(REPO, "c" * 40, source, "main", ("main",), "2026-01-01T00:00:00Z", records)
    doc = json.loads(build_provenance(prov))
    edit(doc)
    return json.dumps(doc).encode()


def _deps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["predicate"]["buildDefinition"]["resolvedDependencies"]


def _ext(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["predicate"]["buildDefinition"]["externalParameters"]


def _claim_compared(dep: dict[str, Any]) -> None:
    """A record that says it matched a Hub record equal to its own digest: only the source can lie."""
    dep["annotations"].update(check="compared-with-hub", matched=True,
                              published={"lfs_sha256": dep["digest"]["sha256"]})  # fmt: skip


MALFORMED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("source is a string", lambda d: _ext(d).__setitem__("source", "hub"), "source is not an object"),
    ("source type missing", lambda d: _ext(d)["source"].pop("type"), "source.type is not a string"),
    ("source holds an object", lambda d: _ext(d)["source"].__setitem__("x", {"a": {}}), "source.x"),
    ("published is a list", lambda d: _deps(d)[1]["annotations"].__setitem__("published", [1]),
     "published is not an object"),
    ("matched is a string", lambda d: _deps(d)[1]["annotations"].__setitem__("matched", "yes"),
     "matched is not true or false"),
    ("check unknown", lambda d: _deps(d)[1]["annotations"].__setitem__("check", "trust-me"),
     "check 'trust-me' is not one vault writes"),
    ("compared with no record",
     lambda d: _deps(d)[1]["annotations"].__setitem__("check", "compared-with-hub"),
     "check compared-with-hub contradicts"),
    ("hashed yet matched", lambda d: _deps(d)[1]["annotations"].__setitem__("matched", True),
     "check hashed-locally contradicts"),
    ("a mismatch signed", lambda d: _deps(d)[1]["annotations"].__setitem__("check", "did-not-match-hub"),
     "contradicts"),
    ("a local folder's commit said resolved by the Hub",
     lambda d: _deps(d)[0].__setitem__("annotations", {"commit_source": "hub"}),
     "commit_source hub for a local-directory source"),
    ("a local folder's file said compared with the Hub", lambda d: _claim_compared(_deps(d)[1]),
     "compared with the Hub, but the source is local-directory"),
    ("commit source unknown", lambda d: _deps(d)[0].__setitem__("annotations", {"commit_source": "me"}),
     "commit_source 'me' is not one vault writes"),
    ("annotations is a string", lambda d: _deps(d)[1].__setitem__("annotations", "x"),
     "annotations is not an object"),
    ("sha256 upper case", lambda d: _deps(d)[1]["digest"].__setitem__("sha256", "A" * 64),
     "sha256 is not 64"),
    ("sha256 short", lambda d: _deps(d)[1]["digest"].__setitem__("sha256", "a"), "sha256 is not 64"),
    ("requested revision a number", lambda d: _ext(d).__setitem__("requested_revision", 7),
     "requested_revision is not a string"),
    ("fetch time a number", lambda d: d["predicate"]["runDetails"]["metadata"].__setitem__("startedOn", 1),
     "startedOn is not a string"),
    ("tool version an object", lambda d: d["predicate"]["runDetails"]["builder"]["version"]
     .__setitem__("vault", {}), "tool version is not a string"),
    ("refs a list", lambda d: _ext(d).__setitem__("refs", ["main"]), "refs is not an object"),
    ("a subject too many", lambda d: d["subject"].append({"name": "x", "digest": {"sha256": "0" * 64}}),
     "subjects and files disagree"),
    ("dependencies empty", lambda d: d["predicate"]["buildDefinition"]
     .__setitem__("resolvedDependencies", []), "resolvedDependencies"),
    ("predicate a list", lambda d: d.__setitem__("predicate", []), "predicate is not an object"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "edit", "expect"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_signed_but_malformed_provenance_is_refused_before_anything_is_written(
    gap: Path,
    keypair: KeyPair,
    tmp_path: Path,
    label: str,
    edit: Callable[[dict[str, Any]], None],
    expect: str,
) -> None:
    bundle = forge_bundle(
        tmp_path / "m.vault", keypair.private, FILES, provenance_statement=_provenance(edit)
    )
    refused(gap, bundle, expect)  # one line, exit 1, the home byte-identical (no blob, no row)


def test_the_provenance_schema_accepts_what_vault_writes(gap: Path, keypair: KeyPair, tmp_path: Path) -> None:
    """The strict parser still takes every field vault itself writes, a Hub record included."""

    def hub(doc: dict[str, Any]) -> None:
        _ext(doc)["source"] = {
            "type": "hub",
            "endpoint": "http://127.0.0.1:1",
            "include": ["*"],
            "exclude": [],
        }
        _deps(doc)[1]["annotations"]["published"] = {
            "lfs_sha256": _deps(doc)[1]["digest"]["sha256"],
            "size": 8,
        }
        _deps(doc)[1]["annotations"].update(check="compared-with-hub", matched=True)
        _deps(doc)[0]["annotations"] = {"commit_source": "hub"}

    bundle = forge_bundle(tmp_path / "h.vault", keypair.private, FILES, provenance_statement=_provenance(hub))
    assert run_json("import", bundle, home=gap)["status"] == "imported"


def test_statements_written_before_check_verify_and_say_only_what_was_done(
    gap: Path, keypair: KeyPair, tmp_path: Path
) -> None:
    """vault < 0.2 wrote `matched: true` on a local folder's files, where nothing was compared: such a
    statement still verifies, and is shown as hashed locally; a Hub record it matched stays matched."""

    def old(doc: dict[str, Any]) -> None:
        _ext(doc)["source"] = {
            "type": "hub",
            "uri": "http://127.0.0.1:1/acme/tiny",
            "endpoint": "http://127.0.0.1:1",
        }
        for i, dep in enumerate(_deps(doc)[1:], 1):
            dep["annotations"].pop("check")
            dep["annotations"]["matched"] = True
            if i == 1:
                dep["annotations"]["published"] = {"lfs_sha256": dep["digest"]["sha256"]}

    bundle = forge_bundle(tmp_path / "o.vault", keypair.private, FILES, provenance_statement=_provenance(old))
    assert run_json("import", bundle, home=gap)["status"] == "imported"
    files = {f["path"]: f for f in run_json("provenance", REPO, home=gap)["files"]}
    first, *rest = sorted(files)
    assert files[first]["check"] == "compared-with-hub" and files[first]["matched"] is True
    assert all(files[f]["check"] == "hashed-locally" and files[f]["matched"] is False for f in rest)
    assert run_json("provenance", REPO, home=gap)["commit_source"] == ""
    text = run("provenance", REPO, home=gap).stdout
    assert "commit: not recorded (a statement from before vault recorded it)" in text
    assert all(f"{f}  sha256" in text and "hashed locally (nothing to compare with)" in text for f in rest)


@pytest.mark.parametrize("variant", ["another keyid", "no key hint"])
def test_a_second_verified_copy_by_the_same_signer_is_kept_once(
    gap: Path, keypair: KeyPair, tmp_path: Path, variant: str
) -> None:
    """Whoever carries the bundle can duplicate a signature with an unsigned field changed: it
    verifies again under the same key, and is recorded once (never a catalog crash after the blobs)."""
    from tests.bundletools import read_entries

    first = forge_bundle(tmp_path / "a.vault", keypair.private, FILES)
    model = next(data for info, data in read_entries(first) if info.name.endswith("/model.sig"))
    doc = json.loads(model)
    if variant == "another keyid":
        doc["dsseEnvelope"]["signatures"][0]["keyid"] = "copied"
    else:
        del doc["verificationMaterial"]["publicKey"]["hint"]
    bundle = forge_bundle(
        tmp_path / "b.vault", keypair.private, FILES, extra={"model": (json.dumps(doc).encode(),)}
    )
    assert run_json("import", bundle, home=gap)["status"] == "imported"
    sigs = [s for s in run_json("show", REPO, home=gap)["signatures"] if s["kind"] == "model"]
    assert [s["verified"] for s in sigs] == [True]
    assert run("fsck", home=gap).exit_code == 0
