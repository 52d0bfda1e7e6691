"""Stage one of reading a bundle: everything signed is checked before any blob is read.

The index and every signature entry (small, capped) are read first; each
revision's model and provenance signatures must verify under the trust policy
(scope, expiry, quorum) and agree with each other and with the index, both
ways; revocations are verified the same way; pickle-based names are refused
unless the operator allowed them. The result says exactly which blobs may
follow, with their signed sizes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from vault._bundle.index import INDEX_NAME, BundleIndex, RevisionEntry
from vault._bundle.reader import BundleReader, Entry
from vault._catalog.blob_reads import StoredBlob
from vault._catalog.reads import RevokedContent
from vault._hashing import FileDigest, sha256_hex
from vault._signing.dsse import parse_bundle
from vault._signing.trust import TrustPolicy, VerifiedSignature
from vault._statements.manifest import ModelManifest, parse_model_statement
from vault._statements.paths import check_names_coexist
from vault._statements.provenance import Provenance, parse_provenance
from vault._statements.revocation import RevocationClaim, parse_revocation
from vault._verify.carried_roots import carried_roots
from vault._verify.signed_entries import SignedEntries, read_signed
from vault._verify.snapshot import CatalogSnapshot, take_snapshot
from vault.errors import (
    BundleFormatError,
    IntegrityError,
    TrustError,
    UnsafeContentError,
    VerificationError,
)

if TYPE_CHECKING:
    from vault._home import Home


@dataclass
class CheckedRevision:
    entry: RevisionEntry
    manifest: ModelManifest
    provenance: Provenance
    verified: list[tuple[str, VerifiedSignature]]  # (kind, signature)
    unverified: list[tuple[str, bytes]] = field(default_factory=list)
    # Publisher signatures under a trusted key in scope that name exactly these files; a blake3
    # one is bound for good only once the bytes were hashed (`upstream_binds`).
    upstream: list[tuple[VerifiedSignature, ModelManifest]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.entry.repo_id}@{self.entry.commit}"


@dataclass
class CheckedBundle:
    index: BundleIndex
    index_sha256: str
    parts: int
    revisions: list[CheckedRevision]
    expected: dict[str, int]  # sha256 -> signed size
    names: dict[str, str]  # sha256 -> one file path, for messages
    blake3: dict[str, str]  # sha256 -> blake3, where a signature used blake3
    all_names: dict[str, list[str]]  # sha256 -> every path with that content
    # A delta bundle's omitted blobs, each checked present and undamaged in this vault's store.
    from_store: dict[str, StoredBlob]
    revocations: list[tuple[RevocationClaim, VerifiedSignature]]
    snapshot: CatalogSnapshot  # what it was judged against (the importer reads no more)
    notes: list[str] = field(default_factory=list)  # said, not refused (a carried root not pinned)


def _verify_kind(
    policy: TrustPolicy, entry: RevisionEntry, kind: str, raws: dict[str, bytes]
) -> tuple[list[VerifiedSignature], list[bytes]]:
    """At least one signature of `kind` must verify under a trusted in-scope key."""
    names = entry.signatures.get(kind, ())
    if not names:
        raise TrustError(f"{entry.repo_id}@{entry.commit}: bundle carries no {kind} signature")
    good: list[VerifiedSignature] = []
    bad: list[bytes] = []
    first_error: TrustError | None = None
    for name in names:
        try:
            good.append(policy.verify(raws[name], entry.repo_id, name))
        except TrustError as exc:
            first_error = first_error or exc
            bad.append(raws[name])
    if not good:
        assert first_error is not None
        raise first_error
    if len({v.payload for v in good}) > 1:
        raise IntegrityError(
            f"{entry.repo_id}@{entry.commit}: trusted {kind} signatures sign different statements"
        )
    # One signer's second signature of the same statement (ECDSA is not deterministic everywhere,
    # and the carrier can copy one with another keyid) adds nothing: the first is kept.
    by_signer: dict[str, VerifiedSignature] = {}
    for v in good:
        by_signer.setdefault(v.identity or v.signer.name, v)
    return list(by_signer.values()), bad


def _check_revision(policy: TrustPolicy, entry: RevisionEntry, raws: dict[str, bytes]) -> CheckedRevision:
    """Every signed statement that decides what this revision is and where its refs point meets
    the same policy: trusted in scope, the namespace's quorum, and agreement with the others.

    The model statement says which bytes; the provenance says which commit, which
    refs move and when it was fetched. With a quorum on the model statement alone,
    one stolen key could re-date or re-point a quorum-signed statement, so both
    kinds are held to the quorum (python-tuf's rule: a threshold applies to every
    role that decides what a client trusts).
    """
    label = f"{entry.repo_id}@{entry.commit}"
    models, bad_models = _verify_kind(policy, entry, "model", raws)
    policy.check_quorum(models, entry.repo_id, f"{label}: model statement")
    provs, bad_provs = _verify_kind(policy, entry, "provenance", raws)
    policy.check_quorum(provs, entry.repo_id, f"{label}: provenance statement")
    try:
        manifest = parse_model_statement(models[0].payload)
        prov = parse_provenance(provs[0].payload)
    except (TypeError, AttributeError, KeyError, IndexError, ValueError, RecursionError) as exc:
        # Signed, yet malformed where the parsers did not look: still a refusal, never a crash.
        raise IntegrityError(f"{label}: malformed signed statement ({type(exc).__name__})") from None
    if (prov.repo_id, prov.commit) != (entry.repo_id, entry.commit):
        raise IntegrityError(f"{label}: provenance is signed for {prov.repo_id}@{prov.commit}")
    if manifest.model_name not in ("", entry.repo_id):
        raise IntegrityError(f"{label}: model signature is for {manifest.model_name!r}")
    check_names_coexist(list(prov.files), f"{label}: file")
    check_fetch_time(label, prov.fetched_at, policy.now)
    why = binding_failure(manifest, prov)
    if why is not None:
        raise IntegrityError(f"{label}: {why}")
    verified = [("model", v) for v in models] + [("provenance", v) for v in provs]
    unverified = [("model", r) for r in bad_models] + [("provenance", r) for r in bad_provs]
    upstream: list[tuple[VerifiedSignature, ModelManifest]] = []
    for name in entry.signatures.get("upstream", ()):
        checked = _check_upstream(policy, entry.repo_id, prov, raws[name], name)
        if isinstance(checked, bytes):
            unverified.append(("upstream", checked))  # evidence only; the vault signature decides
        else:
            upstream.append(checked)
    return CheckedRevision(entry, manifest, prov, verified, unverified, upstream)


def binding_failure(manifest: ModelManifest, prov: Provenance) -> str | None:
    """Why `manifest` does not sign exactly the files `prov` records (None when it does).

    Names must be equal both ways; sha256 digests are compared here, blake3 ones
    where the bytes are hashed (`blobs`) or held (`_held_copies`), for every file,
    streamed or not.
    """
    signed, recorded = set(manifest.resources), set(prov.files)
    if signed != recorded:
        return f"{sorted(signed ^ recorded)[0]} is in one signed statement but not the other"
    if manifest.hash_type == "sha256":
        for path, digest in sorted(manifest.resources.items()):
            if prov.files[path].sha256 != digest:
                return f"{path}: provenance and model signature disagree on sha256"
    return None


def upstream_binds(manifest: ModelManifest, hashed: Mapping[str, FileDigest]) -> bool:
    """Whether a publisher's statement names exactly the digests the revision's files hashed to
    (its sha256 ones were compared before any blob; a blake3 one can only be judged here)."""
    if set(manifest.resources) != set(hashed):
        return False
    if manifest.hash_type == "blake3":
        return all(hashed[p].blake3 == d for p, d in manifest.resources.items())
    return all(hashed[p].sha256 == d for p, d in manifest.resources.items())


def verify_revocation(
    policy: TrustPolicy, raw: bytes, origin: str
) -> tuple[RevocationClaim, VerifiedSignature]:
    """A signed revocation, verified under a trusted key in scope for the repo it names."""
    unverified = parse_revocation(parse_bundle(raw, origin).payload, origin)
    verified = policy.verify(raw, unverified.repo_id, origin)
    return parse_revocation(verified.payload, origin), verified


def check_published_git_ids(revisions: list[CheckedRevision], hashed: Mapping[str, FileDigest]) -> None:
    """A file recorded as matching a published git blob id must have that id (known once hashed)."""
    for rev in revisions:
        for path, rec in rev.provenance.files.items():
            claim = (rec.published or {}).get("git_blob_sha1") if rec.matched else None
            got = hashed[rec.sha256].git_sha1 if rec.sha256 in hashed else None
            if claim is not None and got is not None and claim != got:
                raise IntegrityError(
                    f"{rev.label}: {path}: says it matched the published git blob id, which is not its own"
                )


def _check_upstream(
    policy: TrustPolicy, repo_id: str, prov: Provenance, raw: bytes, name: str
) -> tuple[VerifiedSignature, ModelManifest] | bytes:
    """A publisher's signature counts as verified only when a trusted key in scope signed it *and*
    it signs this revision's files; one made for other files is kept as unverified evidence."""
    try:
        signature = policy.verify(raw, repo_id, name)
        manifest = parse_model_statement(signature.payload)
    except (VerificationError, TypeError, AttributeError, KeyError, IndexError, ValueError, RecursionError):
        return raw
    if binding_failure(manifest, prov) is not None:
        return raw
    return signature, manifest


# A signed fetch time decides which way a ref may move (never back to an older fetch).
# One from the future would pin the ref against every later, legitimate update, so it
# must be a canonical UTC time no later than the import host's clock plus this skew.
FETCH_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", re.ASCII)
CLOCK_SKEW = timedelta(days=1)


def check_fetch_time(label: str, fetched_at: str, now: str) -> None:
    try:
        when = datetime.strptime(fetched_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        ok = bool(FETCH_TIME.fullmatch(fetched_at))
    except ValueError:
        ok = False
    if not ok:
        raise IntegrityError(
            f"{label}: signed fetch time {fetched_at!r} is not a UTC time YYYY-MM-DDTHH:MM:SSZ"
        )
    clock = datetime.strptime(now, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if now else datetime.now(UTC)
    if when > clock + CLOCK_SKEW:
        raise IntegrityError(
            f"{label}: signed fetch time {fetched_at} is after this host's clock ({now}): "
            "a future time would pin its refs against later updates"
        )


def check_not_revoked_content(
    snapshot: CatalogSnapshot, revocations: list[tuple[RevocationClaim, VerifiedSignature]],
    revisions: list[CheckedRevision],
) -> None:  # fmt: skip
    """A revision that signs exactly the files of a revoked revision (each path and digest) is
    refused under any commit: replaying a revoked statement under a new commit must not bring
    it back. It holds in the revoked revision's repo and in every repo a revoker is trusted for;
    a revoker's authority ends at its scope, so it is no veto over other namespaces' content.
    Different files (renamed, added, edited) are a new signed statement, which needs the
    namespace's quorum like any other.
    """
    revoked = dict(snapshot.revoked)
    carried = {rev.label: rev for rev in revisions}
    for claim, v in revocations:
        label = f"{claim.repo_id}@{claim.commit}"
        if label in carried:
            files = frozenset((p, f.sha256) for p, f in carried[label].provenance.files.items())
            revoked[label] = RevokedContent(files, frozenset({v.signer.name}))
    entries = {e.name: e for e in snapshot.policy.entries}
    for rev in revisions:
        files = frozenset((p, f.sha256) for p, f in rev.provenance.files.items())
        for label, content in sorted(revoked.items()):
            if label == rev.label or content.files != files:
                continue
            repo = rev.entry.repo_id
            trusted = any(n in entries and entries[n].covers(repo) for n in content.revokers)
            if label.split("@")[0] == repo or trusted:
                raise TrustError(f"{rev.label}: it signs the files of revoked revision {label}")


def _check_names(held: CatalogSnapshot, revisions: list[CheckedRevision]) -> None:
    """Repo ids and ref names that would alias others already here (or in this bundle) are refused.

    Refs become files under the HF view's refs/ and repos become its folders;
    two names that land on one path (case, `a` vs `a/b`) would let one answer
    for the other, or make the view impossible to build.
    """
    held_repos, held_refs = held.repo_ids, held.refs
    known = {r.casefold(): r for r in held_repos}
    refs: dict[str, set[str]] = {}
    for rev in revisions:
        repo = rev.entry.repo_id
        other = known.setdefault(repo.casefold(), repo)
        if other != repo:
            raise UnsafeContentError(f"{rev.label}: repo id collides with {other!r} ignoring case")
        refs.setdefault(repo, set()).update(rev.provenance.refs)
    for repo, names in sorted(refs.items()):
        check_names_coexist(sorted(held_refs.get(repo, set()) | names), f"{repo}: ref")


def _held_copies(
    snapshot: CatalogSnapshot, omitted: dict[str, int], names: dict[str, str], blake3: dict[str, str]
) -> dict[str, StoredBlob]:
    """A delta bundle leaves blobs out; each must already be here, verified when it came, and intact.

    Intact as far as the catalog knows (scrub marks damage) and as the file
    system says (present, of its signed size). Its bytes are not re-read: the
    store is the vault's own, and `vault scrub` is what re-checks it.
    """
    held: dict[str, StoredBlob] = {}
    for sha, size in sorted(omitted.items()):
        blob = snapshot.stored.get(sha)
        if blob is None:
            raise _left_out(names[sha], sha, "this vault never stored it")
        why = None
        if blob.damage is not None:
            why = f"this vault's copy is damaged ({blob.damage})"
        elif blob.size != size or not snapshot.on_disk.get(sha, False):
            why = "this vault's copy is missing or resized"
        elif sha in blake3 and blake3[sha] != blob.blake3:
            # Every signed digest binds the file, whichever algorithm signed it: a sha256 match
            # alone would let a blake3-signed statement name any blob this vault holds.
            why = "its signed blake3 is not the blake3 of the copy held here"
        if why:
            raise _left_out(names[sha], sha, why)
        held[sha] = blob
    return held


def _left_out(name: str, sha: str, why: str) -> IntegrityError:
    return IntegrityError(
        f"{name}: left out of this delta bundle (blob {sha[:16]}…), and {why}: "
        "import the bundle that carried it first, or ask for a full bundle"
    )


def check_metadata(
    vault: Home, reader: BundleReader, entries: Iterator[Entry]
) -> tuple[CheckedBundle, Entry | None]:
    """Read the signed entries and the catalog snapshot (the I/O), then judge them (pure)."""
    signed = read_signed(reader, entries)
    return check_signed(signed, take_snapshot(vault, signed.index)), signed.pending


def check_signed(signed: SignedEntries, snapshot: CatalogSnapshot) -> CheckedBundle:
    """The whole policy over every signed statement, against the snapshot: no I/O.

    Raises a `VerificationError` naming the revision, file or entry that fails.
    """
    index, raws = signed.index, signed.raws
    carried = carried_roots(index, raws)
    policy = snapshot.policy
    revisions: list[CheckedRevision] = []
    for e in index.revisions:
        try:
            revisions.append(_check_revision(policy, e, raws))
        except TrustError as exc:
            raise carried.explain(exc, policy, e.repo_id) from None
    _check_names(snapshot, revisions)
    revocations = []
    for name in index.revocations:
        try:
            revocations.append(verify_revocation(policy, raws[name], name))
        except TrustError as exc:
            raise carried.explain(exc, policy, None) from None
    check_not_revoked_content(snapshot, revocations, revisions)
    notes = [n for rev in revisions for n in carried.notes(rev.label, (v for _k, v in rev.verified))]
    notes += [n for c, v in revocations for n in carried.notes(f"revocation of {c.repo_id}@{c.commit}", [v])]

    expected: dict[str, int] = {}
    names: dict[str, str] = {}
    blake3: dict[str, str] = {}
    all_names: dict[str, list[str]] = {}
    for rev in revisions:
        for path, rec in rev.provenance.files.items():
            if expected.setdefault(rec.sha256, rec.size) != rec.size:
                raise IntegrityError(f"{rev.label}: {path}: two signed sizes for blob {rec.sha256}")
            names.setdefault(rec.sha256, path)
            all_names.setdefault(rec.sha256, []).append(path)
            if rev.manifest.hash_type == "blake3":
                # Each signed blake3 must bind its file: one content, one blake3, checked as it streams.
                claim = rev.manifest.resources[path]
                if blake3.setdefault(rec.sha256, claim) != claim:
                    raise IntegrityError(f"{rev.label}: {path}: two signed blake3 digests for one content")
    for sha, size in sorted({**index.blobs, **index.omitted}.items()):
        if sha not in expected:
            raise BundleFormatError(f"{INDEX_NAME}: blob {sha} is not part of any signed revision")
        if size != expected[sha]:
            raise IntegrityError(f"{names[sha]}: index says {size} bytes, signed size is {expected[sha]}")
    for sha in sorted(set(expected) - set(index.blobs) - set(index.omitted)):
        raise IntegrityError(f"{names[sha]}: signed file is not in the bundle (blob {sha})")
    from_store = _held_copies(snapshot, index.omitted, names, blake3)
    streamed = {sha: size for sha, size in expected.items() if sha not in from_store}
    return CheckedBundle(
        index, sha256_hex(signed.raw_index), signed.parts, revisions, streamed, names, blake3, all_names,
        from_store, revocations, snapshot, notes,
    )  # fmt: skip
