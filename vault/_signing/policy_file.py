"""The trust policy as one signed file, for inference nodes that have no catalog (`vault check`).

`vault trust export` writes it: every trust entry (key, CA or Sigstore
identity, with its scopes, expiry, quorum counting and pinned root), the
quorum rules, and the content of every revoked revision, as an in-toto
statement signed like a receipt. A node pins the key that signs it
(`--policy-key`) and trusts nothing in the file before that signature
verifies; then each entry is rebuilt as the catalog would build it, its
fingerprint computed again from its own key material, never read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from vault._signing.entries import TrustEntry
from vault._signing.keys import key_hint, load_public_key_bytes
from vault._signing.trust import TrustPolicy
from vault._statements.manifest import STATEMENT_TYPE, canonical_json
from vault._statements.refs import check_ref_name, check_repo_id, is_commit
from vault.errors import TrustError, UsageError

POLICY_PREDICATE_TYPE = "urn:vault:trust-policy:v1"
SUBJECT_NAME = "vault-trust-policy"
# The scope a policy-signing key is trusted for on a node: no repo id can match it.
POLICY_SCOPE = "@policy"
MAX_POLICY_BYTES = 8 << 20


@dataclass(frozen=True)
class RevokedRevision:
    revision: str  # repo@commit
    files: frozenset[tuple[str, str]]  # (path, sha256) the revoked statement signed
    revokers: frozenset[str]


@dataclass(frozen=True)
class PolicyDocument:
    created_at: str
    entries: tuple[TrustEntry, ...]
    quorums: dict[str, int]
    revoked: tuple[RevokedRevision, ...]
    # "org/name@ref" -> the commit that ref names in the exporting vault: what `vault check
    # --expect org/name@ref` holds a model to (a signed provenance names old releases too).
    refs: dict[str, str] = field(default_factory=dict)

    def policy(self, now: str) -> TrustPolicy:
        return TrustPolicy(self.entries, self.quorums, now)


def fingerprint_of(kind: str, pem: bytes, identity: str | None, issuer: str | None) -> str:
    """How `trust add` names an entry, from its own key material."""
    if kind == "key":
        return key_hint(load_public_key_bytes(pem, "trust entry"))
    if kind == "ca":
        return hashlib.sha256(pem).hexdigest()
    return hashlib.sha256(f"sigstore:{identity}:{issuer}".encode()).hexdigest()


def _entry_json(e: TrustEntry) -> dict[str, Any]:
    return {
        "name": e.name, "kind": e.kind, "public_key_pem": e.public_key_pem.decode(), "scopes": list(e.scopes),
        "expires_at": e.expires_at, "identity": e.identity, "issuer": e.issuer,
        "trusted_root": e.trusted_root.decode() if e.trusted_root is not None else None,
        "each_identity_counts": e.each_identity_counts,
    }  # fmt: skip


def build_policy(doc: PolicyDocument) -> bytes:
    predicate = {
        "created_at": doc.created_at,
        "entries": [_entry_json(e) for e in sorted(doc.entries, key=lambda e: e.name)],
        "quorums": dict(sorted(doc.quorums.items())),
        "revoked": [
            {"revision": r.revision, "files": sorted(map(list, r.files)), "revokers": sorted(r.revokers)}
            for r in sorted(doc.revoked, key=lambda r: r.revision)
        ],
        "refs": dict(sorted(doc.refs.items())),
    }
    return canonical_json(
        {
            "_type": STATEMENT_TYPE,
            # The subject binds the predicate, so the statement says what it holds even out of context.
            "subject": [
                {
                    "name": SUBJECT_NAME,
                    "digest": {"sha256": hashlib.sha256(canonical_json(predicate)).hexdigest()},
                }
            ],
            "predicateType": POLICY_PREDICATE_TYPE,
            "predicate": predicate,
        }
    )


def _str(value: object, what: str, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a string")
    return value


def _entry(item: object) -> TrustEntry:
    if not isinstance(item, dict):
        raise ValueError("an entry is not an object")
    kind = item.get("kind")
    if kind not in ("key", "ca", "sigstore"):
        raise ValueError(f"unknown entry kind {kind!r}")
    name = _str(item.get("name"), "entry name")
    pem = _str(item.get("public_key_pem"), f"{name}: key").encode()
    identity = _str(item.get("identity"), f"{name}: identity", optional=True)
    issuer = _str(item.get("issuer"), f"{name}: issuer", optional=True)
    root = _str(item.get("trusted_root"), f"{name}: trusted root", optional=True)
    scopes = item.get("scopes")
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise ValueError(f"{name}: scopes must be a list of globs")
    if kind == "sigstore" and not (identity and issuer and root):
        raise ValueError(f"{name}: a Sigstore entry needs identity, issuer and trusted root")
    each = item.get("each_identity_counts")
    if not isinstance(each, bool):
        raise ValueError(f"{name}: each_identity_counts is not a boolean")
    return TrustEntry(
        name, pem, fingerprint_of(kind, pem, identity, issuer), tuple(scopes),
        _str(item.get("expires_at"), f"{name}: expiry", optional=True), kind, identity, issuer,
        root.encode() if root is not None else None, each,
    )  # fmt: skip


def parse_policy(payload: bytes, origin: str) -> PolicyDocument:
    try:
        stmt = json.loads(payload)
        if stmt["_type"] != STATEMENT_TYPE or stmt["predicateType"] != POLICY_PREDICATE_TYPE:
            raise ValueError("not a vault trust policy")
        pred = stmt["predicate"]
        (subject,) = stmt["subject"]
        digest = hashlib.sha256(canonical_json(pred)).hexdigest()
        if subject != {"name": SUBJECT_NAME, "digest": {"sha256": digest}}:
            raise ValueError("subject does not match the policy")
        entries = tuple(_entry(e) for e in pred["entries"])
        if len({e.name for e in entries}) != len(entries):
            raise ValueError("an entry name appears twice")
        quorums = pred["quorums"]
        if not isinstance(quorums, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 1
            for k, v in quorums.items()
        ):
            raise ValueError("quorums must map scopes to counts of at least 1")
        revoked = []
        for r in pred["revoked"]:
            files = frozenset((str(p), str(h)) for p, h in r["files"])
            revoked.append(
                RevokedRevision(_str(r["revision"], "revision"), files, frozenset(map(str, r["revokers"])))
            )
        created_at = _str(pred["created_at"], "created_at")
        refs = _refs(pred.get("refs", {}))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, UnicodeDecodeError) as exc:
        raise TrustError(f"{origin}: malformed trust policy ({exc})") from None
    except UsageError as exc:
        raise TrustError(f"{origin}: malformed trust policy ({exc})") from None
    return PolicyDocument(created_at, entries, dict(quorums), tuple(revoked), refs)


def _refs(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError("refs is not an object")
    refs: dict[str, str] = {}
    for key, commit in value.items():
        repo_id, sep, name = str(key).partition("@")
        if not sep or not isinstance(commit, str) or not is_commit(commit):
            raise ValueError(f"ref {key!r} must be org/name@ref naming a 40-hex commit")
        refs[f"{check_repo_id(repo_id)}@{check_ref_name(name)}"] = commit
    return refs
