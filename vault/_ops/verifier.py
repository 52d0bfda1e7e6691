"""`vault verify`: every check `vault import` makes, and no write. Fail closed.

1. Read the index and every signature entry (small, capped) before any blob.
2. Verify each signature under the trust policy; check the signed statements
   agree with each other and with the index, both ways.
3. Stream each blob through the hashers; it must be declared, not seen
   before, exactly its signed size and digest.

`vault import` runs the same steps (`importer`) with a staging directory,
then commits. This module imports no SQLAlchemy: the trust policy and names
it needs are read as plain SQL, so verifying starts as fast as a bare read.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from vault._bundle.parts import PartFiles
from vault._bundle.reader import BundleReader
from vault._checks.policy import ContentPolicy
from vault._progress import NoProgress, Progress
from vault._verify.blobs import BlobSource, verify_blobs
from vault._verify.media import add_notes, with_repair
from vault._verify.metadata import check_metadata
from vault.results import VerifyReport, VerifyStatus

if TYPE_CHECKING:
    from vault._home import Home


def verify_bundle(
    vault: Home, path: Path, policy: ContentPolicy | None = None, progress: Progress | None = None
) -> VerifyReport:
    """Check everything, write nothing (in the home: parts rebuilt from parity go to a temporary dir)."""
    report, notes = with_repair(
        path, partial(_verify, vault, policy or ContentPolicy(), progress or NoProgress()), _temporary_dir
    )
    return add_notes(report, notes)


def _verify(vault: Home, policy: ContentPolicy, progress: Progress, path: Path | PartFiles) -> VerifyReport:
    with BundleReader(path) as reader:
        entries = reader.entries()
        bundle, pending = check_metadata(vault, reader, entries)
        progress.start(sum(bundle.expected.values()), "verify")
        try:
            digests = verify_blobs(
                BlobSource(reader, bundle, entries, pending, vault.store), progress, policy
            )
        finally:
            progress.finish()
    return VerifyReport(
        status=VerifyStatus.VERIFIED,
        revisions=[r.label for r in bundle.revisions],
        signers=sorted({v.signer.name for r in bundle.revisions for _k, v in r.verified}),
        revocations=[f"{c.repo_id}@{c.commit}" for c, _v in bundle.revocations],
        blobs=len(digests),
        bytes=sum(d.size for d in digests.values()),
        notes=bundle.notes,
    )


@contextlib.contextmanager
def _temporary_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="vault-verify-") as d:
        yield Path(d)
