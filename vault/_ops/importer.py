"""`vault import`: the flow `vault verify` runs (see `verifier`), then the store and catalog.

1. Read the index and every signature entry (small, capped) before any blob.
2. Verify each signature under the trust policy; check the signed statements
   agree with each other and with the index, both ways.
3. Stream each blob through the hashers (into staging when importing); it must
   be declared, not seen before, exactly its signed size and digest.
4. Only when the whole bundle checked out: move blobs into the store, commit the
   catalog in one transaction, then build the directory views.

A rejection at any step leaves the home as it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from vault import _audit as audit
from vault import _interrupts as interrupts
from vault._bundle.parts import PartFiles
from vault._bundle.reader import BundleReader
from vault._catalog import queries
from vault._catalog.reads import available_revisions
from vault._catalog.rows import (
    FileRow,
    SignatureRow,
    add_imported_bundle,
    add_revision,
    put_signature,
    stored_blake3,
)
from vault._catalog.schema import Blob, Revision
from vault._catalog.schema import Ref as RefRow
from vault._checks.formats import FileKind, Verdict
from vault._checks.loader_code import runs_code
from vault._checks.policy import ContentPolicy
from vault._hashing import FileDigest, sha256_hex
from vault._hub.metadata import is_lfs
from vault._ops.damage import RevisionFiles, clear_damage
from vault._ops.revocation import apply_revocation, is_revoked
from vault._ops.views import ViewPlan, apply_views, hf_view, plan_views, publish
from vault._progress import NoProgress, Progress
from vault._signing.dsse import parse_bundle
from vault._signing.trust import VerifiedSignature
from vault._store.resume import ResumeArea
from vault._verify.blobs import BlobSource, Staging, absent_blobs, stage_blobs
from vault._verify.media import add_notes, with_repair
from vault._verify.metadata import CheckedBundle, CheckedRevision, check_signed, upstream_binds
from vault._verify.signed_entries import read_signed
from vault._verify.snapshot import take_snapshot
from vault.errors import VaultError, VerificationError
from vault.results import ImportResult, ImportStatus
from vault.status import AVAILABLE, REVOKED

if TYPE_CHECKING:
    from vault._home import Home


def import_bundle(
    vault: Home, path: Path, policy: ContentPolicy | None = None, progress: Progress | None = None
) -> ImportResult:
    policy = policy or ContentPolicy()
    progress = progress or NoProgress()
    with vault.writer_lock():
        recover_scratch(vault)
        # Parts rebuilt from parity live in the home's scratch space until the import is done.
        result, notes = with_repair(
            path, partial(_import, vault, policy, progress), partial(vault.store.staging, "rebuilt")
        )
    return add_notes(result, notes)


def _import(vault: Home, policy: ContentPolicy, progress: Progress, path: Path | PartFiles) -> ImportResult:
    with BundleReader(path) as reader:
        entries = reader.entries()
        signed = read_signed(reader, entries)
        # The one catalog read before the commit: everything the checks and the plan need.
        snapshot = take_snapshot(vault, signed.index)
        recover_views(vault, snapshot.available)
        bundle, pending = check_signed(signed, snapshot), signed.pending
        present = snapshot.present
        new = [r for r in bundle.revisions if (r.entry.repo_id, r.entry.commit) not in present]
        old = [r for r in bundle.revisions if (r.entry.repo_id, r.entry.commit) in present]
        absent = absent_blobs(bundle)
        digests: dict[str, FileDigest] = {}
        resumed = 0
        if new or absent:
            resume = ResumeArea(vault.store.tmp)
            with vault.store.staging("import") as staging:
                progress.start(sum(bundle.expected.values()), "import")
                try:
                    source = BlobSource(reader, bundle, entries, pending, vault.store)
                    digests, verdicts = stage_blobs(
                        source, Staging(staging, absent, resume), progress, policy
                    )
                except VerificationError:
                    resume.drop_added()  # a refusal leaves the home as it was
                    raise
                finally:
                    progress.finish()
                resumed = len(resume.taken)
                interrupts.check()  # the point of no return: a stop asked for by now is honoured
                # Everything verified: only now does a byte of it enter the store.
                for sha in sorted(absent):
                    vault.store.commit_blob(staging / sha, sha, replace=True)
                outcome = _commit_catalog(vault, bundle, new, old, digests, verdicts, absent, policy)
                resume.forget(absent)
        else:
            interrupts.check()
            outcome = _commit_catalog(vault, bundle, new, old, digests, {}, absent, policy)
    for repo_id, commit, _files in outcome.repaired_views:
        # The old directory links the damaged inodes: it goes, and is built again around the new file.
        vault.store.remove_revision_view(repo_id, commit)
    if outcome.views is not None:
        apply_views(vault, outcome.views)
    if new:
        status = ImportStatus.IMPORTED
    elif outcome.repaired:
        status = ImportStatus.REPAIRED
    elif outcome.newly_revoked:
        status = ImportStatus.REVOCATIONS_APPLIED
    elif outcome.refs_moved:
        status = ImportStatus.REFS_MOVED
    else:
        status = ImportStatus.ALREADY_IMPORTED
    return ImportResult(
        status=status,
        revisions=[r.label for r in new],
        already_present=sorted(f"{a}@{b}" for a, b in present),
        refs_kept=outcome.refs_kept,
        refs_moved=outcome.refs_moved,
        revoked=sorted(f"{repo}@{commit}" for repo, commit in outcome.newly_revoked),
        repaired=outcome.repaired,
        blobs=len(absent & set(digests)),
        bytes=sum(digests[sha].size for sha in absent & set(digests)),
        notes=bundle.notes,
        reused=len(bundle.from_store),
        resumed=resumed,
    )


@dataclass
class _CatalogOutcome:
    refs_kept: list[str] = field(default_factory=list)
    refs_moved: list[str] = field(default_factory=list)
    newly_revoked: list[tuple[str, str]] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    repaired_views: list[RevisionFiles] = field(default_factory=list)
    # What the touched models' views must show, read in the commit's transaction and applied after.
    views: ViewPlan | None = None


def _commit_catalog(
    vault: Home,
    bundle: CheckedBundle,
    new: list[CheckedRevision],
    old: list[CheckedRevision],
    digests: dict[str, FileDigest],
    verdicts: dict[str, Verdict],
    written: set[str],
    policy: ContentPolicy,
) -> _CatalogOutcome:
    """Everything the import changes in the catalog, in one transaction (nothing, if nothing changed)."""
    outcome = _CatalogOutcome()
    with vault.write() as w:
        s = w.session
        # Written blobs the catalog already knew: their stored copy was missing or damaged.
        outcome.repaired = sorted(sha for sha in written if s.get(Blob, sha) is not None)
        for rev in sorted(new, key=lambda r: r.provenance.fetched_at):
            row = _add_revision(s, bundle, rev, digests, verdicts)
            _move_refs(s, row, rev, policy, outcome)
        if policy.allow_downgrade:
            # A deliberate rollback after the fact: re-importing an older bundle moves its refs back.
            for rev in old:
                model = queries.get_model(s, rev.entry.repo_id)
                held = queries.get_revision(s, model, rev.entry.commit) if model is not None else None
                if held is not None and held.status == AVAILABLE:
                    _move_refs(s, held, rev, policy, outcome)
        for claim, v in bundle.revocations:
            carrier = bundle.index_sha256
            if apply_revocation(
                s, claim, v.signer.name, v.signer.fingerprint, v.raw, v.signer.trusted_root, carrier
            ):
                outcome.newly_revoked.append((claim.repo_id, claim.commit))
        if outcome.repaired:
            fresh = {(r.entry.repo_id, r.entry.commit) for r in new}
            views = clear_damage(s, set(outcome.repaired), f"import {bundle.index_sha256}")
            outcome.repaired_views = [v for v in views if (v[0], v[1]) not in fresh]
        if new:
            labels = [r.label for r in new]
            add_imported_bundle(
                s, bundle.index_sha256, bundle.parts, audit.acting_user(), audit.utc_now(), labels
            )
            audit.record(
                s,
                "import",
                bundle.index_sha256,
                revisions=labels,
                signers=sorted({v.signer.name for r in new for _k, v in r.verified}),
                allow_pickle=policy.allow_pickle,
                allow_unknown_format=policy.allow_unknown,
                allow_code=sorted(policy.allow_code),
                pickle_files=_files_where(new, verdicts, lambda p, v: v.pickle),
                unknown_format_files=_files_where(new, verdicts, lambda p, v: v.kind is FileKind.UNKNOWN),
                code_files=_files_where(new, verdicts, lambda p, v: bool(runs_code(p, v))),
            )
        touched = {r.entry.repo_id for r in new} | {repo for repo, _c in outcome.newly_revoked}
        touched |= {ref.split("@")[0] for ref in outcome.refs_moved}
        touched |= {repo for repo, _c, _f in outcome.repaired_views}
        if touched:
            s.flush()
            outcome.views = plan_views(s, vault.store, sorted(touched))
    return outcome


def _add_revision(
    s: Session,
    bundle: CheckedBundle,
    rev: CheckedRevision,
    digests: dict[str, FileDigest],
    verdicts: dict[str, Verdict],
) -> Revision:
    prov = rev.provenance
    model = queries.get_or_create_model(s, prov.repo_id)
    status = REVOKED if is_revoked_in(s, bundle, prov.repo_id, prov.commit) else AVAILABLE
    known = {sha: FileDigest(b.size, sha, b.blake3, b.git_sha1) for sha, b in bundle.from_store.items()}
    known.update(digests)
    files = [
        FileRow(p, rec.sha256, rec.size, stored_blake3(known[rec.sha256].blake3, p),
                known[rec.sha256].git_sha1, is_lfs(p, rec.size, rec.published),
                runs_code(p, verdicts[rec.sha256]))
        for p, rec in prov.files.items()
    ]  # fmt: skip
    row = add_revision(
        s, model.id, prov.commit, str(prov.source.get("type", "unknown")), status, prov.fetched_at,
        audit.utc_now(), next(v.payload for k, v in rev.verified if k == "model"),
        next(v.payload for k, v in rev.verified if k == "provenance"), files,
    )  # fmt: skip
    for kind, v in rev.verified:
        put_signature(s, row.id, _verified(kind, v))
    hashed = {p: known[rec.sha256] for p, rec in prov.files.items()}
    for v, upstream in rev.upstream:
        if upstream_binds(upstream, hashed):
            put_signature(s, row.id, _verified("upstream", v))
        else:
            put_signature(s, row.id, _unverified("upstream", v.raw))
    for kind, raw in rev.unverified:
        put_signature(s, row.id, _unverified(kind, raw))
    s.flush()
    return row


def _verified(kind: str, v: VerifiedSignature) -> SignatureRow:
    """Recorded under the key that signed (a CA's leaf key, not the CA), so two signers under one
    entry are two rows, as they may be two parties of a quorum."""
    key = v.identity.removeprefix("key:") if v.identity.startswith("key:") else v.signer.fingerprint
    return SignatureRow(kind, v.method, v.signer.name, key, True, v.raw, v.signer.trusted_root)


def _unverified(kind: str, raw: bytes) -> SignatureRow:
    """Kept as evidence, flagged: its key hint is the author's claim, so the row is keyed by its bytes."""
    method = "certificate" if parse_bundle(raw, kind).has_certificate else "key"
    return SignatureRow(kind, method, "(untrusted)", sha256_hex(raw), False, raw)


def _move_refs(
    s: Session, row: Revision, rev: CheckedRevision, policy: ContentPolicy, outcome: _CatalogOutcome
) -> None:
    """Point the refs the signed provenance names at `row`, never back to an older fetch unless allowed."""
    prov = rev.provenance
    for name in sorted(prov.refs):
        current = s.get(RefRow, (row.model_id, name))
        if current is not None and current.revision_id == row.id:
            continue
        if current is not None and current.revision.fetched_at > prov.fetched_at:
            # Rollback defence: a replayed older bundle must not move a ref backwards.
            if not policy.allow_downgrade:
                outcome.refs_kept.append(f"{prov.repo_id}@{name}")
                continue
            audit.record(s, "ref.downgrade", f"{prov.repo_id}@{name}",
                         old=current.revision.commit, new=prov.commit)  # fmt: skip
        queries.set_ref(s, row.model, name, row)
        outcome.refs_moved.append(f"{prov.repo_id}@{name}")


def _files_where(
    revisions: list[CheckedRevision], verdicts: dict[str, Verdict], test: Callable[[str, Verdict], bool]
) -> list[str]:
    """The revision files (repo@commit:path) whose content passed only under an override, for the audit."""
    return sorted(
        f"{r.label}:{p}" for r in revisions for p, rec in r.provenance.files.items()
        if rec.sha256 in verdicts and test(p, verdicts[rec.sha256])
    )  # fmt: skip


def is_revoked_in(s: Session, bundle: CheckedBundle, repo_id: str, commit: str) -> bool:
    return is_revoked(s, repo_id, commit) or any(
        (c.repo_id, c.commit) == (repo_id, commit) for c, _v in bundle.revocations
    )


def recover(vault: Home) -> None:
    """Finish what a killed import left: scratch, kept blobs already stored, missing views."""
    recover_scratch(vault)
    recover_views(vault, vault.read(available_revisions))


def recover_scratch(vault: Home) -> None:
    """Drop scratch files and kept blobs a killed run had already committed (no catalog read)."""
    vault.store.remove_leftovers()
    # Kept for a resumed run, but a killed run had already committed them: nothing left to resume.
    ResumeArea(vault.store.tmp).drop_stored(vault.store)


def recover_views(vault: Home, available: list[tuple[str, str]]) -> None:
    """Build the views a killed import committed but did not publish.

    A view that cannot be rebuilt (a disk error, a legacy name) is left for
    `vault fsck` to report: one broken revision must never block the imports
    of every other model.
    """
    view = hf_view(vault)

    def whole(repo_id: str, commit: str) -> bool:
        return (
            vault.store.revision_dir(repo_id, commit).is_dir() and view.snapshot_dir(repo_id, commit).is_dir()
        )

    stale = {repo_id for repo_id, commit in available if not whole(repo_id, commit)}
    for repo_id in sorted(stale):
        with contextlib.suppress(OSError, VaultError):
            publish(vault, [repo_id])
