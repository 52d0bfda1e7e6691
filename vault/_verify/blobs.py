"""Verification, second stage: the blobs, as they stream, against what the signed metadata expects.

Each blob must be declared, appear once, have exactly its signed size and
digests, and (on import) is written to staging as it is hashed; then its
bytes are judged by `_checks.content`, and each revision as a whole. Nothing
here touches the catalog or the store's final names.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from vault._bundle.index import blob_entry
from vault._bundle.reader import BundleReader, Entry
from vault._checks.content import Content, check_content, judge_revision
from vault._checks.formats import Verdict
from vault._checks.policy import ContentPolicy
from vault._hashing import GIT_SHA1_MAX_SIZE, FileDigest, copy_and_hash, hash_all, hash_spans
from vault._progress import Progress
from vault._store.blobs import Store
from vault._store.resume import ResumeArea
from vault._verify.metadata import CheckedBundle, check_published_git_ids
from vault.errors import BundleFormatError, IntegrityError

if TYPE_CHECKING:
    pass


def _check_blob(bundle: CheckedBundle, entry: Entry, seen: set[str]) -> str:
    prefix = "blobs/sha256/"
    sha = entry.name[len(prefix) :] if entry.name.startswith(prefix) else ""
    if sha not in bundle.expected or entry.name != blob_entry(sha):
        raise BundleFormatError(f"bundle entry {entry.name!r}: not declared by any signed revision")
    if sha in seen:
        raise BundleFormatError(f"bundle entry {entry.name!r}: appears twice")
    if entry.size != bundle.expected[sha]:
        raise IntegrityError(
            f"{bundle.names[sha]}: bundle entry is {entry.size} bytes, signed size is {bundle.expected[sha]}"
        )
    seen.add(sha)
    return sha


def _check_digest(bundle: CheckedBundle, sha: str, got: FileDigest) -> None:
    name = bundle.names[sha]
    if got.size != bundle.expected[sha]:
        raise IntegrityError(f"{name}: truncated in the bundle ({got.size} of {bundle.expected[sha]} bytes)")
    if got.sha256 != sha:
        raise IntegrityError(f"{name}: sha256 mismatch (signed {sha[:16]}…, bundle has {got.sha256[:16]}…)")
    if sha in bundle.blake3 and got.blake3 != bundle.blake3[sha]:
        raise IntegrityError(f"{name}: blake3 mismatch with the signature")


@dataclass(frozen=True)
class BlobSource:
    """The blobs of a bundle whose signed part was checked: the rest of its entries, and the store
    a delta's omitted blobs are judged from."""

    reader: BundleReader
    bundle: CheckedBundle
    entries: Iterator[Entry]
    pending: Entry | None  # the first blob entry, already taken from the stream
    store: Store


@dataclass(frozen=True)
class Staging:
    """Where an import writes what the store lacks a good copy of (`absent`: new blobs, and damaged
    or missing ones it repairs), and the blobs an interrupted import already verified (`resume`)."""

    dir: Path
    absent: set[str]
    resume: ResumeArea


def verify_blobs(source: BlobSource, progress: Progress, policy: ContentPolicy) -> dict[str, FileDigest]:
    """Hash and check every blob, and judge its bytes as the bundle holds them; nothing is written."""
    return _stream(source, None, progress, policy)[0]


def stage_blobs(
    source: BlobSource, staging: Staging, progress: Progress, policy: ContentPolicy
) -> tuple[dict[str, FileDigest], dict[str, Verdict]]:
    """Hash and check every blob, writing the absent ones to staging (fsynced) as they stream.

    Each blob's content is then judged by the very copy that will be stored (a
    medium that answers a second read differently gains nothing). A blob an
    interrupted import already verified is re-hashed from its kept copy instead
    of read from the bundle, and each blob that passes is kept for the next attempt.
    """
    return _stream(source, staging, progress, policy)


def _stream(
    source: BlobSource, staging: Staging | None, progress: Progress, policy: ContentPolicy
) -> tuple[dict[str, FileDigest], dict[str, Verdict]]:
    reader, bundle, entries, pending = source.reader, source.bundle, source.entries, source.pending
    seen: set[str] = set()
    stream = entries if pending is None else _prepend(pending, entries)
    # Every header is checked before any blob byte is read (tarfile seeks past the data).
    blobs = [(_check_blob(bundle, entry, seen), entry) for entry in stream]
    for sha in sorted(set(bundle.expected) - seen):
        raise IntegrityError(f"{bundle.names[sha]}: missing from the bundle (blob {sha[:16]}…)")

    def destination(sha: str) -> Path | None:
        return staging.dir / sha if staging is not None and sha in staging.absent else None

    def receive(blob: tuple[str, Entry], overlap: bool) -> FileDigest:
        sha, entry = blob
        # A blake3 is kept for every stored blob (scrub); verify needs one only where it was signed.
        with_blake3 = staging is not None or sha in bundle.blake3
        return _receive(reader, entry, destination(sha), progress, with_blake3, overlap)

    digests: dict[str, FileDigest] = {}
    if staging is not None:
        for sha, _entry in blobs:
            dest = destination(sha)
            kept = staging.resume.take(sha, bundle.expected[sha], dest) if dest is not None else None
            if kept is not None:
                _check_digest(bundle, sha, kept)
                digests[sha] = kept
    to_read = [blob for blob in blobs if blob[0] not in digests]
    # closing(): on a refusal, the streams still in flight finish before staging is removed.
    with closing(hash_all(receive, to_read, lambda blob: blob[1].size)) as hashed:
        for (sha, _entry), got in hashed:
            _check_digest(bundle, sha, got)
            digests[sha] = got
            dest = destination(sha)
            if staging is not None and dest is not None:
                staging.resume.keep(dest, sha)
    held = {sha: FileDigest(b.size, sha, b.blake3, b.git_sha1) for sha, b in bundle.from_store.items()}
    check_published_git_ids(bundle.revisions, {**held, **digests})
    verdicts: dict[str, Verdict] = {}
    for sha, entry in blobs:
        dest = destination(sha)
        if dest is not None:
            content = Content.of_file(dest)
        elif staging is not None:
            content = Content.of_file(source.store.blob_path(sha))
        else:
            content = Content(
                entry.size,
                partial(_open_region, reader, entry),
                region=(entry.offset, entry.size, reader.parts),
            )
        verdicts[sha] = check_content(bundle.names[sha], content)
    for sha in sorted(bundle.from_store):
        # A delta bundle's omitted blob is judged by the stored copy it will be served from.
        verdicts[sha] = check_content(bundle.names[sha], Content.of_file(source.store.blob_path(sha)))
    for rev in bundle.revisions:
        files = {p: verdicts[rec.sha256] for p, rec in rev.provenance.files.items()}
        judge_revision(rev.label, files, policy)
    return digests, verdicts


def _open_region(reader: BundleReader, entry: Entry) -> BinaryIO:
    return io.BufferedReader(reader.region(entry), buffer_size=1 << 20)


def _receive(
    reader: BundleReader,
    entry: Entry,
    dest: Path | None,
    progress: Progress,
    with_blake3: bool,
    overlap: bool,
) -> FileDigest:
    """One blob's bytes through the hashers: copied into `dest` in the kernel and hashed there, or
    (verify) read from the parts it lies in."""
    git_size = _git_size(entry.size)
    with reader.spans(entry) as spans:
        if dest is not None:
            return copy_and_hash(spans, dest, git_size, with_blake3, overlap, progress)
        return hash_spans(spans, git_size, with_blake3, overlap, progress)


def _git_size(size: int) -> int | None:
    return size if size < GIT_SHA1_MAX_SIZE else None


def _prepend(first: Entry, rest: Iterator[Entry]) -> Iterator[Entry]:
    yield first
    yield from rest


def absent_blobs(bundle: CheckedBundle) -> set[str]:
    """Blobs the store has no good copy of: never stored, missing, resized, or marked damaged by scrub."""
    snapshot = bundle.snapshot
    return {sha for sha in bundle.expected if sha in snapshot.damaged or not snapshot.on_disk.get(sha, False)}
