"""`vault scrub` and `vault gc`: re-check every stored byte, and drop what nothing needs.

scrub re-hashes every blob with blake3 (fast, recorded at ingest for every
blob, so sha256 is never needed here) through memory maps on all cores, in a
child process that starts before the catalog is read (`_store.blob_digests`
says why a child), and reports each blob that is missing, resized, changed
or unreadable, with the revisions it belongs to. gc removes blobs no catalogued file references (a
killed import can leave them) and the directories of revoked revisions; it
never touches anything a catalogued, available revision needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import blake3
from sqlalchemy import select
from sqlalchemy.orm import Session

from vault import _audit as audit
from vault._catalog.schema import Blob, File, Model, Revision
from vault._ops.damage import clear_damage, damaged_blobs, rebuild_views, record_damage
from vault._ops.views import publish
from vault._store.blob_digests import BlobProblem, child_command, open_blob
from vault._store.resume import ResumeArea
from vault.results import DamagedBlob, GcResult, ScrubReport
from vault.status import DAMAGED, REVOKED

if TYPE_CHECKING:
    from pathlib import Path

    from vault._home import Home


# Bigger reads than the import's: nothing is written, so only the read syscalls' cost counts.
SCRUB_CHUNK = 4 << 20


def _read_blake3(blobs: Path, sha256: str) -> tuple[int, str] | str:
    """One blob's size and blake3 by plain reads (the mapping child died); a problem if unreadable."""
    try:
        fd = open_blob(blobs, sha256)
    except BlobProblem as problem:
        return str(problem)
    try:
        h = blake3.blake3(max_threads=blake3.blake3.AUTO)
        size = 0
        buf = bytearray(SCRUB_CHUNK)
        view = memoryview(buf)
        while n := os.readv(fd, [buf]):
            h.update(view[:n])
            size += n
        return size, h.hexdigest()
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    finally:
        os.close(fd)


def _start_mapped_hashing(vault: Home) -> subprocess.Popen[bytes] | None:
    if not sys.executable or not vault.store.blobs.is_dir():
        return None
    try:
        return subprocess.Popen(
            child_command(vault.store.blobs),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    except OSError:
        return None


def _mapped_results(child: subprocess.Popen[bytes] | None, wanted: list[str]) -> list[tuple[int, str] | str]:
    """The child's answer for each of `wanted`, in order; fewer where it died (or never ran).

    It answers in the order it was asked and names nothing, so a line is taken
    for the blob at its position, and only in the exact form it writes.
    """
    found: list[tuple[int, str] | str] = []
    if child is None:
        return found
    assert child.stdin is not None and child.stdout is not None
    with child:
        try:
            child.stdin.write("".join(f"{sha}\n" for sha in wanted).encode())
            child.stdin.close()
        except OSError:  # it died before reading: every blob is read here instead
            return found
        for raw in child.stdout:
            line = raw.decode("ascii", "replace").rstrip("\n")
            if line.startswith("! "):
                found.append(line[2:])
                continue
            size, _, b3 = line.partition(" ")
            if not (size.isdigit() and len(b3) == 64 and all(c in "0123456789abcdef" for c in b3)):
                break  # not a line the child writes: it and everything after are read here
            found.append((int(size), b3))
    return found[: len(wanted)]


def scrub(vault: Home) -> ScrubReport:
    child = _start_mapped_hashing(vault)  # starts its interpreter while the catalog is read
    try:
        with vault.session() as s:
            blobs = [(b.sha256, b.size, b.blake3) for b in s.scalars(select(Blob).order_by(Blob.sha256))]
            owners: dict[str, list[str]] = {}
            for repo_id, commit, path, sha in s.execute(
                select(Model.repo_id, Revision.commit, File.path, File.sha256)
                .join(Revision, Revision.model_id == Model.id)
                .join(File, File.revision_id == Revision.id)
            ):
                owners.setdefault(sha, []).append(f"{repo_id}@{commit}:{path}")
    except BaseException:
        if child is not None:
            child.kill()
            child.wait()
        raise
    mapped = _mapped_results(child, [sha for sha, _size, _b3 in blobs])
    damaged = []
    findings: dict[str, str] = {}
    total = 0
    for k, (sha, size, b3) in enumerate(blobs):
        # Past what the child answered (it died there, or never ran): read it plainly.
        got = mapped[k] if k < len(mapped) else _read_blake3(vault.store.blobs, sha)
        if isinstance(got, str):
            problem = got
        elif got[0] != size:
            problem = f"{got[0]} bytes, catalogued as {size}"
        elif got[1] != b3:
            problem = "content changed (blake3 mismatch)"
        else:
            total += size
            continue
        findings[sha] = problem
        damaged.append(DamagedBlob(sha, problem, sorted(owners.get(sha, []))))
    # A reader who may not write the home (an auditor) still gets the report; only the owner records it.
    withdrawn, restored = _record(vault, findings) if not vault.readonly else ([], [])
    return ScrubReport(len(blobs), total, damaged, not vault.readonly, withdrawn, restored)


def _record(vault: Home, findings: dict[str, str]) -> tuple[list[str], list[str]]:
    """Write what scrub found into the catalog, so every view stops (or resumes) handing it out."""
    with vault.writer_lock():
        with vault.write() as w:
            s = w.session
            before = {f"{r}@{c}" for r, c in _damaged_revisions(s)}
            touched = record_damage(s, findings)
            # Blobs marked damaged earlier that now hash right were put back by hand.
            healed = set(damaged_blobs(s)) - set(findings)
            views = clear_damage(s, healed, "scrub") if healed else []
            after = {f"{r}@{c}" for r, c in _damaged_revisions(s)}
        if views:
            rebuild_views(vault, views)
        if touched:
            publish(vault, touched)
    return sorted(after - before), sorted(before - after)


def _damaged_revisions(s: Session) -> list[tuple[str, str]]:
    return [
        (repo_id, commit)
        for repo_id, commit in s.execute(
            select(Model.repo_id, Revision.commit)
            .join(Revision, Revision.model_id == Model.id)
            .where(Revision.status == DAMAGED)
        )
    ]


def gc(vault: Home, dry_run: bool = False) -> GcResult:
    from vault._ops.importer import recover

    removed_blobs: list[str] = []
    removed_views: list[str] = []
    freed = 0
    with vault.writer_lock():
        if not dry_run:
            recover(vault)  # its own catalog read: gc is not on the import path
        with vault.session() as s:
            referenced = set(s.scalars(select(File.sha256).distinct()))
            revoked = s.execute(
                select(Model.repo_id, Revision.commit)
                .join(Revision, Revision.model_id == Model.id)
                .where(Revision.status == REVOKED)
            ).all()
        for repo_id, commit in revoked:
            view = vault.store.revision_dir(repo_id, commit)
            if view.is_dir():
                removed_views.append(f"{repo_id}@{commit}")
                if not dry_run:
                    shutil.rmtree(view)
        root = vault.store.blobs
        for prefix in sorted(root.iterdir()) if root.is_dir() else ():
            for blob in sorted(prefix.iterdir()):
                if prefix.name + blob.name in referenced:
                    continue
                removed_blobs.append(prefix.name + blob.name)
                freed += blob.stat().st_size
                if not dry_run:
                    blob.unlink()
            if not dry_run and not any(prefix.iterdir()):
                prefix.rmdir()
        # Blobs an interrupted import kept for its next attempt: gc gives up on that attempt.
        resume = ResumeArea(vault.store.tmp)
        kept = resume.kept()
        freed += sum(p.lstat().st_size for p in kept)
        if not dry_run:
            resume.clear()
        if not dry_run and (removed_blobs or removed_views or kept):
            with vault.write() as w:
                s = w.session
                audit.record(s, "gc", str(vault.home), blobs=len(removed_blobs), views=removed_views,
                             bytes=freed, **({"resume_blobs": len(kept)} if kept else {}))  # fmt: skip
        _prune_empty_dirs(vault.store.models, dry_run)
    return GcResult(dry_run, removed_blobs, removed_views, freed)


def _prune_empty_dirs(root: Path, dry_run: bool) -> None:
    if dry_run or not root.is_dir():
        return
    for dirpath, _dirs, _files in sorted(os.walk(root, topdown=False), reverse=True):
        if dirpath != str(root) and not os.listdir(dirpath):
            os.rmdir(dirpath)
