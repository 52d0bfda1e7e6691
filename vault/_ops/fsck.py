"""`vault fsck`: is the store what the catalog says it is?

Cheap structural checks (no re-hashing; that is `vault scrub`'s job): every
catalogued blob is present, read-only and of its size; every available
revision's directory holds exactly its files as links to those blobs; the
Hugging Face cache view offers exactly the available revisions; no scratch is
left by a dead process; the audit chain holds. Unreferenced blobs are reported
as warnings: a killed import can leave them, and they are harmless.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select

from vault import _audit as audit
from vault._catalog.schema import AuditEvent, Blob, Model, Revision
from vault._ops.views import hf_view
from vault._store.blobs import RESUME_DIR
from vault._store.resume import ResumeArea
from vault.results import Finding, FsckCounts, FsckReport
from vault.status import AVAILABLE, REVOKED

if TYPE_CHECKING:
    from pathlib import Path

    from vault._home import Home
    from vault._store.blobs import Store


@dataclass
class _Findings:
    """Collects findings while the checks run; `fsck` returns them as a typed report."""

    problems: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    def problem(self, kind: str, where: str, detail: str) -> None:
        self.problems.append(Finding(kind, where, detail))

    def warning(self, kind: str, where: str, detail: str) -> None:
        self.warnings.append(Finding(kind, where, detail))


def fsck(vault: Home) -> FsckReport:
    report = _Findings()
    store = vault.store
    with vault.session() as s:
        rows = list(s.scalars(select(Blob)))
        blobs = {b.sha256: b.size for b in rows}
        for b in rows:
            if b.damage is not None:
                report.problem("damaged-blob", str(store.blob_path(b.sha256)),
                               f"scrub found it {b.damage} at {b.damaged_at}; importing a bundle "
                               "that carries it repairs it")  # fmt: skip
        for sha, size in blobs.items():
            path = store.blob_path(sha)
            try:
                st = path.lstat()
            except FileNotFoundError:
                report.problem("missing-blob", str(path), f"catalogued blob {sha} is not in the store")
                continue
            if not stat.S_ISREG(st.st_mode):
                report.problem("bad-blob", str(path), "not a regular file")
            elif st.st_size != size:
                report.problem("bad-blob", str(path), f"{st.st_size} bytes, catalogued as {size}")
            elif st.st_mode & 0o222:
                report.problem("writable-blob", str(path), "store blobs must be read-only")

        revisions = s.execute(select(Model.repo_id, Revision).join(Revision)).all()
        for repo_id, rev in revisions:
            view = store.revision_dir(repo_id, rev.commit)
            snapshot = hf_view(vault).snapshot_dir(repo_id, rev.commit)
            if rev.status != AVAILABLE:
                if snapshot.exists():
                    report.problem(
                        "revoked-in-view", str(snapshot), f"{rev.status} revision still in the HF view"
                    )
                if rev.status == REVOKED and view.exists():
                    report.problem("revoked-directory", str(view), "revoked revision still has a directory "
                                   "(vault gc removes it)")  # fmt: skip
                continue
            if not view.is_dir():
                report.problem("missing-view", str(view), f"{repo_id}@{rev.commit} has no directory")
            else:
                _check_view(report, store, view, {f.path: f.sha256 for f in rev.files})
            if not snapshot.is_dir():
                report.problem(
                    "missing-hf-snapshot", str(snapshot), f"{repo_id}@{rev.commit} not in the HF view"
                )
        checked = FsckCounts(len(blobs), len(revisions))

        for broken in audit.chain_breaks(list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))):
            report.problem("audit-chain", "audit_events", f"event {broken} does not match the hash chain")

    for child in sorted(store.tmp.iterdir()) if store.tmp.is_dir() else ():
        if child.name == RESUME_DIR and ResumeArea(store.tmp).planted():
            why = "not a directory of this user (something was put there): vault gc removes it"
            report.warning("planted-scratch", str(child), why)
        elif child.name == RESUME_DIR:
            kept = len(ResumeArea(store.tmp).kept())
            why = f"{kept} blob(s) an interrupted import verified: run it again to resume, or vault gc"
            report.warning("resumable-import", str(child), why)
        else:
            report.warning("scratch", str(child), "left by an unfinished job")
    if store.blobs.is_dir():
        for prefix in store.blobs.iterdir():
            for blob in prefix.iterdir():
                if prefix.name + blob.name not in blobs:
                    report.warning("orphan-blob", str(blob), "not referenced (vault gc removes it)")
    return FsckReport(report.problems, report.warnings, checked)


def _check_view(report: _Findings, store: Store, view: Path, files: dict[str, str]) -> None:
    present = {
        os.path.relpath(os.path.join(root, f), view) for root, _dirs, names in os.walk(view) for f in names
    }
    for extra in sorted(present - set(files)):
        report.problem("extra-file", str(view / extra), "in the revision directory but not catalogued")
    for rel, sha in sorted(files.items()):
        path = view / rel
        if rel not in present:
            report.problem("missing-file", str(path), "catalogued but not in the revision directory")
            continue
        blob = store.blob_path(sha)
        try:
            same = os.path.samefile(path, blob)
        except FileNotFoundError:
            same = False
        if not same:
            report.problem("stray-file", str(path), f"is not the store blob {sha}")
