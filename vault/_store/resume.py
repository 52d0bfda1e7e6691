"""Blobs an interrupted import already verified, kept so that running it again does not re-read them.

A bundle crossing on DVDs or a slow diode can take hours to read; a power cut
or a Ctrl-C at 90% should not cost the first 90% again. Each blob that
passed its signed digest is hard-linked (its bytes already fsynced) into
`tmp/verified/<sha256>` as it completes. The next import of a bundle that
needs that blob re-hashes the local copy (never trusting it by its name, and
much faster than the media) and skips reading it from the bundle.

Nothing here is visible: these files are neither in the store nor in the
catalog. A refused import removes what it added (a refusal changes nothing);
a completed one removes what it used; `vault gc` removes the rest.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from vault._hashing import FileDigest, hash_file
from vault._hub.metadata import GIT_SHA1_MAX_SIZE
from vault._store.blobs import RESUME_DIR as DIR_NAME
from vault._store.blobs import Store

_SHA256 = re.compile(r"[0-9a-f]{64}")


class ResumeArea:
    def __init__(self, tmp: Path) -> None:
        self.dir = tmp / DIR_NAME
        self.added: list[str] = []  # kept by this run
        self.taken: list[str] = []  # kept by an earlier run, used by this one

    def take(self, sha256: str, size: int, dest: Path) -> FileDigest | None:
        """Link a kept copy to `dest` if it still hashes to `sha256` at `size`; drop it if not."""
        kept = self.dir / sha256
        try:
            if kept.stat().st_size != size:
                kept.unlink()
                return None
            got = hash_file(kept, git_blob_below=GIT_SHA1_MAX_SIZE)
        except FileNotFoundError:
            return None
        if got.sha256 != sha256:
            kept.unlink(missing_ok=True)
            return None
        os.link(kept, dest)
        self.taken.append(sha256)
        return got

    def keep(self, staged: Path, sha256: str) -> None:
        """`staged` passed its digest and is fsynced: keep it through an interruption."""
        self.dir.mkdir(exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.link(staged, self.dir / sha256)
            self.added.append(sha256)

    def drop_added(self) -> None:
        """A refusal: remove what this run kept, so the home is as it was."""
        self.forget(self.added)
        self.added = []

    def forget(self, digests: list[str] | set[str]) -> None:
        for sha in digests:
            (self.dir / sha).unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError, OSError):
            self.dir.rmdir()  # only when empty

    def drop_stored(self, store: Store) -> None:
        """Forget kept blobs the store now holds (a run killed after its commit)."""
        if self.dir.is_dir():
            self.forget(
                [p.name for p in self.dir.iterdir() if _SHA256.fullmatch(p.name) and store.has_blob(p.name)]
            )

    def kept(self) -> list[Path]:
        return sorted(self.dir.iterdir()) if self.dir.is_dir() else []

    def clear(self) -> None:
        """Remove everything kept (gc gives up on the interrupted import)."""
        for p in self.kept():
            p.unlink()
        self.forget([])
