"""`vault add`: take in a local model folder on the connected side.

Every file is hashed while it is copied into staging (one read). If the folder
comes with a publisher's OMS signature, the signature is verified against this
vault's trust entries first and the folder must match it exactly (after the
signature's own `ignore_paths`); the signature then travels with the revision
as evidence.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from vault import _audit as audit
from vault._catalog import queries
from vault._catalog.rows import FileRow, SignatureRow, add_revision, put_signature, stored_blake3
from vault._catalog.schema import Model
from vault._catalog.trust_reads import trust_policy
from vault._checks.content import Content, check_files
from vault._checks.formats import Verdict
from vault._checks.loader_code import runs_code
from vault._checks.policy import ContentPolicy
from vault._hashing import GIT_SHA1_MAX_SIZE, FileDigest, hash_all, hash_file
from vault._hub.metadata import is_lfs
from vault._ops.views import publish
from vault._progress import NoProgress, Progress
from vault._regular_files import read_given_file
from vault._signing.dsse import MAX_SIGNATURE_BYTES
from vault._signing.trust import VerifiedSignature
from vault._statements.manifest import (
    ModelManifest,
    Resource,
    build_model_statement,
    canonical_json,
    parse_model_statement,
)
from vault._statements.paths import check_names_coexist, check_relpath
from vault._statements.provenance import CommitSource, FileRecord, build_provenance, new_provenance
from vault._statements.refs import DEFAULT_REF, check_ref_name, check_repo_id, is_commit
from vault.errors import ConflictError, IntegrityError, UnsafeContentError, UsageError
from vault.results import AddStatus, RevisionAdded
from vault.status import AVAILABLE

if TYPE_CHECKING:
    from vault._home import Home

# VCS metadata is not model content; everything else in the folder is taken in or refused.
SKIPPED_DIRS = frozenset({".git"})


def scan_directory(root: Path, skip: set[str] | None = None) -> list[str]:
    """Relative paths of the regular files under `root`; refuses links and special files."""
    if not root.is_dir():
        raise UsageError(f"{root}: not a directory")
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = Path(dirpath).relative_to(root)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d not in SKIPPED_DIRS]
        for name in sorted(dirnames):
            if (Path(dirpath) / name).is_symlink():
                raise UnsafeContentError(f"{root / rel_dir / name}: symbolic links are not admitted")
        for name in filenames:
            rel = (rel_dir / name).as_posix()
            if skip and rel in skip:
                continue
            mode = os.lstat(Path(dirpath) / name).st_mode
            if not stat.S_ISREG(mode):
                kind = "symbolic link" if stat.S_ISLNK(mode) else "special file"
                raise UnsafeContentError(f"{root / rel}: {kind}s are not admitted")
            found.append(check_relpath(rel, f"{root}:"))
    found.sort()
    check_names_coexist(found)
    return found


def _ignored(path: str, ignore_paths: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in ignore_paths)


def _take_in(source: Path, staged: Path, progress: Progress, overlap: bool) -> FileDigest:
    return hash_file(source, staged, git_blob_below=GIT_SHA1_MAX_SIZE, progress=progress, overlap=overlap)


def derive_commit(files: dict[str, FileDigest]) -> str:
    """A stable 40-hex id for a folder with no upstream commit: same files, same id."""
    listing = [[p, d.sha256] for p, d in sorted(files.items())]
    return hashlib.sha1(canonical_json(listing)).hexdigest()


def _check_against_signature(manifest: ModelManifest, digests: dict[str, FileDigest], origin: str) -> None:
    missing = sorted(set(manifest.resources) - set(digests))
    if missing:
        raise IntegrityError(f"{origin}: signed file {missing[0]} is missing")
    extra = sorted(set(digests) - set(manifest.resources))
    if extra:
        raise IntegrityError(f"{origin}: {extra[0]} is not covered by the signature")
    for path, want in sorted(manifest.resources.items()):
        got = getattr(digests[path], manifest.hash_type)
        if got != want:
            raise IntegrityError(
                f"{origin}: {path}: {manifest.hash_type} {got} does not match the signature ({want})"
            )


_ABBREVIATED = re.compile(r"[0-9a-fA-F]{4,39}", re.ASCII)  # what `git log --oneline` prints


def add_directory(
    vault: Home,
    directory: Path,
    repo_id: str,
    revision: str | None = None,
    ref: str = DEFAULT_REF,
    signature: Path | None = None,
    content: ContentPolicy = ContentPolicy(),  # noqa: B008  # frozen: a shared default cannot change
    progress: Progress | None = None,
) -> RevisionAdded:
    check_repo_id(repo_id)
    check_ref_name(ref)
    if revision is not None and not is_commit(revision) and _ABBREVIATED.fullmatch(revision) is not None:
        raise UsageError(
            f"--revision {revision}: looks like an abbreviated commit; give the full 40-hex commit "
            "(or a label that is not hex)"
        )
    directory = directory.absolute()
    refs = {ref}
    if revision is not None and not is_commit(revision):
        refs.add(check_ref_name(revision))

    upstream: VerifiedSignature | None = None
    skip: set[str] = set()
    if signature is not None:
        raw = read_given_file(signature, MAX_SIGNATURE_BYTES, "signature file")
        upstream = vault.read(trust_policy).verify(raw, repo_id, str(signature))
        sig_abs = signature.absolute()
        if sig_abs.is_relative_to(directory):
            skip.add(sig_abs.relative_to(directory).as_posix())

    paths = scan_directory(directory, skip)
    manifest = parse_model_statement(upstream.payload) if upstream else None
    if manifest is not None:
        paths = [p for p in paths if not _ignored(p, manifest.ignore_paths)]
    if not paths:
        raise UsageError(f"{directory}: no files to add")

    with vault.writer_lock(), vault.store.staging("add") as staging:
        staged = {p: staging / f"{i:06d}" for i, p in enumerate(paths)}
        progress = progress or NoProgress()
        progress.start(sum((directory / p).stat().st_size for p in paths), "add")
        try:
            digests = dict(
                hash_all(
                    lambda p, overlap: _take_in(directory / p, staged[p], progress, overlap),
                    paths,
                    lambda p: (directory / p).stat().st_size,
                )
            )
        finally:
            progress.finish()
        if manifest is not None:
            _check_against_signature(manifest, digests, str(signature))
        verdicts = check_files(repo_id, {p: Content.of_file(staged[p]) for p in paths}, content)
        commit = revision if revision is not None and is_commit(revision) else derive_commit(digests)
        source: dict[str, Any] = {"type": "local-directory", "uri": directory.as_uri()}
        if upstream is not None:
            source["upstream_signature"] = {
                "signer": upstream.signer.name,
                "key": upstream.signer.fingerprint,
            }
        records = [FileRecord(p, d.size, d.sha256) for p, d in digests.items()]
        return commit_revision(
            vault,
            NewRevision(
                repo_id,
                commit,
                source,
                revision or ref,
                refs,
                records,
                digests,
                staged,
                verdicts,
                content,
                upstream,
                CommitSource.OPERATOR
                if revision is not None and is_commit(revision)
                else CommitSource.CONTENT,
            ),
        )


@dataclass
class NewRevision:
    """A revision whose files are hashed and staged, ready to be committed."""

    repo_id: str
    commit: str
    source: dict[str, Any]
    requested_revision: str
    refs: set[str]
    records: list[FileRecord]
    digests: dict[str, FileDigest]
    staged: dict[str, Path]
    verdicts: dict[str, Verdict]  # by path: what the checks found, code included
    policy: ContentPolicy
    upstream: VerifiedSignature | None = None
    commit_source: CommitSource = CommitSource.CONTENT


def commit_revision(vault: Home, new: NewRevision) -> RevisionAdded:
    """Move staged blobs into the store, catalog the revision in one transaction, build its view.

    The caller holds the writer lock. A revision already present with the same
    files is not added again; only its refs are moved.
    """
    label = f"{new.repo_id}@{new.commit}"
    with vault.write() as w:
        s = w.session
        model = queries.get_or_create_model(s, new.repo_id)
        existing = queries.get_revision(s, model, new.commit)
        if existing is not None:
            if {f.path: f.sha256 for f in existing.files} != {p: d.sha256 for p, d in new.digests.items()}:
                raise ConflictError(f"{label} already exists with different files")
            for name in sorted(new.refs):
                queries.set_ref(s, model, name, existing)
        else:
            _catalog_new_revision(vault, s, model, new)
    publish(vault, [new.repo_id])
    status = AddStatus.UNCHANGED if existing is not None else AddStatus.ADDED
    size = sum(d.size for d in new.digests.values())
    return RevisionAdded(new.repo_id, new.commit, sorted(new.refs), len(new.digests), size, status)


def _catalog_new_revision(vault: Home, s: Session, model: Model, new: NewRevision) -> None:
    """Blobs into the store, then every row of the revision, inside the caller's transaction."""
    for p, d in new.digests.items():
        vault.store.commit_blob(new.staged[p], d.sha256)
    fetched_at = audit.utc_now()
    prov = new_provenance(
        new.repo_id, new.commit, new.source, new.requested_revision, new.refs, fetched_at, new.records,
        new.commit_source,
    )  # fmt: skip
    resources = [Resource(p, d.sha256) for p, d in new.digests.items()]
    published = {r.path: r.published for r in new.records}
    files = [
        FileRow(p, d.sha256, d.size, stored_blake3(d.blake3, p), d.git_sha1, is_lfs(p, d.size, published[p]),
                runs_code(p, new.verdicts[p]))
        for p, d in new.digests.items()
    ]  # fmt: skip
    rev = add_revision(
        s, model.id, new.commit, str(new.source["type"]), AVAILABLE, fetched_at, fetched_at,
        build_model_statement(new.repo_id, resources), build_provenance(prov), files,
    )  # fmt: skip
    if new.upstream is not None:
        v = new.upstream
        put_signature(
            s,
            rev.id,
            SignatureRow(
                "upstream", v.method, v.signer.name, v.signer.fingerprint, True, v.raw, v.signer.trusted_root
            ),
        )
    for name in sorted(new.refs):
        queries.set_ref(s, model, name, rev)
    audit.record(
        s,
        "add" if new.source["type"] == "local-directory" else "pull",
        f"{new.repo_id}@{new.commit}",
        source=new.source.get("uri"),
        files=len(new.digests),
        refs=sorted(new.refs),
        upstream_signer=new.upstream.signer.name if new.upstream else None,
        allow_pickle=new.policy.allow_pickle,
        allow_unknown_format=new.policy.allow_unknown,
        allow_code=sorted(new.policy.allow_code),
        code_files=sorted(p for p in new.digests if runs_code(p, new.verdicts[p])),
    )
