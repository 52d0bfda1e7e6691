"""Trust entries and quorum rules: the policy an air-gapped vault verifies against.

Each change is one transaction with its audit event; the checks themselves
are in `vault._signing` (entries, policies, trust).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from vault import _audit as audit
from vault._catalog import trust_reads
from vault._catalog.rows import add_trust_entry, set_quorum
from vault._catalog.schema import TrustEntryRow
from vault._regular_files import MAX_PEM, read_given_file
from vault._signing.dsse import MAX_SIGNATURE_BYTES
from vault._signing.entries import TrustEntry
from vault._signing.keys import key_hint, load_public_key, public_key_pem
from vault._statements.inventory import RECEIPTS_SCOPE
from vault.errors import ConflictError, NotFoundError, UsageError
from vault.results import RootReplaced

if TYPE_CHECKING:
    from vault._home import Home


# A repository glob: repo-id characters and glob metacharacters, nothing that could end a line of
# `trust list` or the audit log and start a forged one; or the literal receipts scope.
_SCOPE = re.compile(r"[A-Za-z0-9._*?\[\]!/-]{1,200}")


def check_scope(scope: str) -> str:
    if scope != RECEIPTS_SCOPE and not _SCOPE.fullmatch(scope):
        raise UsageError(f"invalid scope {scope!r}: a repository glob such as 'meta-llama/*'")
    return scope


def trust_add(
    vault: Home,
    name: str,
    key_path: Path | None,
    scopes: list[str],
    expires_at: str | None = None,
    sigstore: tuple[str, str, Path] | None = None,
    ca_path: Path | None = None,
    *,
    each_identity_counts: bool = False,
) -> TrustEntry:
    """Trust a public key, a CA (certificate signatures) or a Sigstore identity, for `scopes`.

    In a quorum the entry is one party; `each_identity_counts` (a CA only) makes
    each leaf key it admits a party of its own.
    """
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        raise UsageError(f"invalid trust entry name {name!r}")
    if not scopes:
        raise UsageError("at least one --scope is required (e.g. 'meta-llama/*')")
    if sum(x is not None for x in (key_path, sigstore, ca_path)) != 1:
        raise UsageError("give one of --key, --ca, or --identity with --issuer and --trusted-root")
    for scope in scopes:
        check_scope(scope)
    if each_identity_counts and ca_path is None:
        raise UsageError(
            "--each-identity-counts is for a CA entry: a key or a Sigstore identity is one signer"
        )
    if expires_at is not None:
        expires_at = _utc_timestamp(expires_at)
    scopes = sorted(set(scopes))
    identity = issuer = None
    root: bytes | None = None
    if key_path is not None:
        key = load_public_key(key_path)
        pem, fp, kind = public_key_pem(key), key_hint(key), "key"
    elif ca_path is not None:
        pem, kind = _load_ca(ca_path), "ca"
        fp = hashlib.sha256(pem).hexdigest()
    else:
        assert sigstore is not None
        identity, issuer, root_path = sigstore
        root = _load_trusted_root(root_path)
        pem, kind = b"", "sigstore"
        fp = hashlib.sha256(f"sigstore:{identity}:{issuer}".encode()).hexdigest()
    with vault.write() as w:
        s = w.session
        if s.get(TrustEntryRow, name) is not None:
            raise ConflictError(f"trust entry {name!r} already exists")
        add_trust_entry(s, name, pem, fp, scopes, audit.utc_now(), expires_at, kind, identity, issuer, root,
                        each_identity_counts)  # fmt: skip
        audit.record(s, "trust.add", name, kind=kind, fingerprint=fp, identity=identity, issuer=issuer,
                     scopes=scopes, expires_at=expires_at,
                     **({"each_identity_counts": True} if each_identity_counts else {}))  # fmt: skip
    return TrustEntry(
        name, pem, fp, tuple(scopes), expires_at, kind, identity, issuer, root, each_identity_counts
    )


def trust_quorum(vault: Home, scope: str, required: int) -> None:
    """Require `required` distinct trusted model signers for repos matching `scope` (1 removes it)."""
    if required < 1:
        raise UsageError("a quorum needs at least 1 signer")
    check_scope(scope)
    with vault.write() as w:
        s = w.session
        set_quorum(s, scope, required, audit.utc_now())
        audit.record(s, "trust.quorum", scope, required=required)


def trust_quorums(vault: Home) -> dict[str, int]:
    return vault.read(trust_reads.trust_quorums)


def trust_list(vault: Home) -> list[TrustEntry]:
    return vault.read(trust_reads.trust_entries)


def trust_replace_root(vault: Home, name: str, root_path: Path) -> RootReplaced:
    """Pin another trusted_root.json for a Sigstore entry: the one audited way a pinned root changes.

    The operator is expected to have checked the new root out of band (its
    sha256, or its keys, against the Sigstore operator's published ones); the
    audit event records both digests so the change can be traced. Pinning the
    root already pinned changes nothing and records nothing.
    """
    from vault._signing.trusted_root import root_sha256

    raw = _load_trusted_root(root_path)
    new = root_sha256(raw)
    with vault.write() as w:
        s = w.session
        row = s.get(TrustEntryRow, name)
        if row is None:
            raise NotFoundError(f"trust entry {name!r} does not exist")
        if row.kind != "sigstore" or row.trusted_root is None:
            raise UsageError(
                f"trust entry {name!r} is not a Sigstore identity: only those pin a trusted root"
            )
        old = root_sha256(row.trusted_root)
        if old != new:
            row.trusted_root = raw
            audit.record(s, "trust.replace_root", name, old_sha256=old, new_sha256=new,
                         identity=row.identity, issuer=row.issuer)  # fmt: skip
    return RootReplaced(name, old, new, old != new)


def trust_remove(vault: Home, name: str) -> None:
    with vault.write() as w:
        s = w.session
        row = s.get(TrustEntryRow, name)
        if row is None:
            raise NotFoundError(f"trust entry {name!r} does not exist")
        s.delete(row)
        audit.record(s, "trust.remove", name, fingerprint=row.fingerprint)


def _load_ca(path: Path) -> bytes:
    """The CA certificate(s) a certificate signature's chain must lead to, as canonical PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        certs = x509.load_pem_x509_certificates(read_given_file(path, MAX_PEM, "PEM certificate file"))
    except ValueError as exc:
        raise UsageError(f"{path}: not PEM certificates ({exc})") from None
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


def _load_trusted_root(path: Path) -> bytes:
    """A Sigstore trusted_root.json, checked to parse before it is trusted."""
    from vault._signing.entries import trusted_root_from_bytes

    raw = read_given_file(path, MAX_SIGNATURE_BYTES, "Sigstore trusted root")
    try:
        trusted_root_from_bytes(raw)
    except Exception as exc:  # sigstore raises several types for a bad root
        raise UsageError(f"{path}: not a Sigstore trusted root ({type(exc).__name__})") from None
    return raw


def _utc_timestamp(text: str) -> str:
    """'2027-01-31' or any ISO-8601 time -> canonical UTC 'YYYY-MM-DDTHH:MM:SSZ' (comparable as text)."""
    from datetime import UTC, datetime

    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"invalid date {text!r}: use YYYY-MM-DD or an ISO-8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
