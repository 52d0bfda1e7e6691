"""Content-addressed blob store and the per-revision directory views.

Blobs are immutable and read-only (0444) at `store/blobs/sha256/ab/cdef…`.
Everything new is written under `tmp/` first, fsynced, then renamed into place,
so a crash never leaves a half-written blob under its final name. Views are
directories of hard links to blobs: real files (so `model_signing verify`, which
refuses symlinks, works on `vault path`), no extra bytes on disk, and they are
renamed into place whole.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from vault._durable import sync_dir
from vault.errors import IntegrityError

READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
STORE_ID_FILE = "store-id"  # which store this is (a catalog records the one it lists)
RESUME_DIR = "verified"  # under tmp/: blobs an interrupted import verified (see `resume`)


def _make_writable(path: Path) -> None:
    for root, dirs, _files in os.walk(path):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)


class Store:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.blobs = home / "store" / "blobs" / "sha256"
        self.models = home / "models"
        self.tmp = home / "tmp"

    def create(self) -> None:
        for d in (self.blobs, self.models, self.tmp):
            d.mkdir(parents=True, exist_ok=True)

    @property
    def id_file(self) -> Path:
        return self.home / STORE_ID_FILE

    def identity(self, create: bool = False) -> str | None:
        """This store's id: random, made once, so a catalog can tell which store it lists."""
        try:
            return self.id_file.read_text().strip()
        except FileNotFoundError:
            if not create:
                return None
        new = uuid.uuid4().hex
        with contextlib.suppress(FileExistsError), open(self.id_file, "x") as fh:
            fh.write(new + "\n")
        return self.id_file.read_text().strip()

    def blob_path(self, sha256: str) -> Path:
        return self.blobs / sha256[:2] / sha256[2:]

    def has_blob(self, sha256: str) -> bool:
        return self.blob_path(sha256).is_file()

    def has_blob_of_size(self, sha256: str, size: int) -> bool:
        """Present and of its size: the cheap test an import uses to decide what to (re)write."""
        try:
            return self.blob_path(sha256).stat().st_size == size
        except FileNotFoundError:
            return False

    @contextlib.contextmanager
    def staging(self, kind: str) -> Iterator[Path]:
        """A private scratch dir under tmp/, removed whatever happens."""
        path = self.tmp / f"{kind}-{os.getpid()}-{os.urandom(4).hex()}"
        self.tmp.mkdir(exist_ok=True)  # tmp/ only ever holds scratch: an operator may have cleared it
        try:
            # Inside the try: a signal landing just after the directory appears still removes it.
            path.mkdir()
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def commit_blob(self, staged: Path, sha256: str, replace: bool = False) -> None:
        """Move a staged, already fsynced and verified file into the store under its digest.

        `replace` overwrites a damaged copy (a repair): the rename swaps it
        whole, so a reader sees the old file or the new one, never a mix.
        """
        final = self.blob_path(sha256)
        if not stat.S_ISREG(os.lstat(staged).st_mode):
            # The store holds regular files only: a link would let whoever controls its target
            # change the served bytes after they were verified.
            raise IntegrityError(f"blob {sha256[:16]}…: staged copy is not a regular file")
        if final.exists() and not replace:
            staged.unlink()
            return
        os.chmod(staged, READ_ONLY)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
        sync_dir(final.parent)

    def revision_dir(self, repo_id: str, commit: str) -> Path:
        return self.models / repo_id / commit

    def build_revision_view(self, repo_id: str, commit: str, files: Iterable[tuple[str, str]]) -> Path:
        """Create models/<org>/<name>/<commit>/ from (path, sha256) pairs, atomically."""
        final = self.revision_dir(repo_id, commit)
        if final.is_dir():
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        building = final.parent / f".building-{commit}-{os.urandom(4).hex()}"
        try:
            for rel, sha256 in files:
                target = building / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                blob = self.blob_path(sha256)
                if not blob.is_file():
                    raise IntegrityError(f"store: blob {sha256} for {rel} is missing")
                os.link(blob, target)
            building.mkdir(exist_ok=True)
            os.replace(building, final)
            sync_dir(final.parent)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
        return final

    def remove_revision_view(self, repo_id: str, commit: str) -> bool:
        """Take a revision's directory away at once (revoked, or about to be rebuilt)."""
        final = self.revision_dir(repo_id, commit)
        if not final.is_dir():
            return False
        doomed = final.parent / f".removing-{commit}-{os.urandom(4).hex()}"
        os.replace(final, doomed)
        sync_dir(final.parent)
        shutil.rmtree(doomed, ignore_errors=True)
        return True

    def remove_leftovers(self) -> None:
        """Remove scratch dirs of killed runs; they never hold anything committed."""
        for child in self.tmp.iterdir() if self.tmp.is_dir() else ():
            if child.name == RESUME_DIR:
                continue  # verified blobs an interrupted import kept (see `resume`)
            pid = child.name.split("-")[1] if child.name.count("-") >= 2 else ""
            if pid.isdigit() and _pid_alive(int(pid)):
                continue
            _make_writable(child)
            shutil.rmtree(child, ignore_errors=True)
        for pattern in ("*/*/.building-*", "*/*/.removing-*"):
            for leftover in self.models.glob(pattern):
                shutil.rmtree(leftover, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
