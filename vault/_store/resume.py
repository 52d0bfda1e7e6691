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
import shutil
import stat
from pathlib import Path

from vault._hashing import GIT_SHA1_MAX_SIZE, FileDigest, hash_spans
from vault._store.blobs import RESUME_DIR as DIR_NAME
from vault._store.blobs import Store

_SHA256 = re.compile(r"[0-9a-f]{64}")


class ResumeArea:
    def __init__(self, tmp: Path) -> None:
        self.dir = tmp / DIR_NAME
        self.added: list[str] = []  # kept by this run
        self.taken: list[str] = []  # kept by an earlier run, used by this one

    def take(self, sha256: str, size: int, dest: Path) -> FileDigest | None:
        """Link a kept copy to `dest` if it still hashes to `sha256` at `size`; drop it if not.

        `tmp/verified` is scratch anyone with access to the home could plant in:
        a kept copy is opened without following links and taken only if it is a
        regular file of this user, and `dest` must be, after linking, the very
        file that was hashed (a swap between the two is caught). Anything else
        there (a link, a FIFO, a directory, another user's file) is dropped and
        the blob is read from the bundle instead.
        """
        if not self._usable_dir():
            return None
        kept = self.dir / sha256
        try:
            fd = os.open(kept, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError:  # a symlink (ELOOP), a FIFO with no writer, unreadable: not ours to use
            _remove(kept)
            return None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_size != size:
            os.close(fd)
            _remove(kept)
            return None
        os.set_blocking(fd, True)
        try:
            got = hash_spans([(fd, 0, size)], size if size < GIT_SHA1_MAX_SIZE else None)
        finally:
            os.close(fd)
        if got.sha256 != sha256 or got.size != size:
            _remove(kept)
            return None
        os.link(kept, dest, follow_symlinks=False)
        linked = os.lstat(dest)
        if (linked.st_dev, linked.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(linked.st_mode):
            dest.unlink()  # swapped after it was hashed: read it from the bundle
            return None
        self.taken.append(sha256)
        return got

    def _usable_dir(self) -> bool:
        """`tmp/verified` itself must be a real directory of this user, not a link to elsewhere."""
        try:
            st = os.lstat(self.dir)
        except FileNotFoundError:
            return False
        return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()

    def keep(self, staged: Path, sha256: str) -> None:
        """`staged` passed its digest and is fsynced: keep it through an interruption."""
        if not self._usable_dir():
            _remove(self.dir)  # something else planted under its name: scratch, so it goes
            self.dir.mkdir()
            if not self._usable_dir():
                return  # never link a verified copy into a directory someone else chose
        with contextlib.suppress(FileExistsError):
            os.link(staged, self.dir / sha256)
            self.added.append(sha256)

    def drop_added(self) -> None:
        """A refusal: remove what this run kept, so the home is as it was."""
        self.forget(self.added)
        self.added = []

    def forget(self, digests: list[str] | set[str]) -> None:
        for sha in digests:
            _remove(self.dir / sha)
        with contextlib.suppress(FileNotFoundError, OSError):
            self.dir.rmdir()  # only when empty

    def drop_stored(self, store: Store) -> None:
        """Forget kept blobs the store now holds (a run killed after its commit)."""
        if self.dir.is_dir():
            self.forget(
                [p.name for p in self.dir.iterdir() if _SHA256.fullmatch(p.name) and store.has_blob(p.name)]
            )

    def kept(self) -> list[Path]:
        return sorted(self.dir.iterdir()) if self._usable_dir() else []

    def clear(self) -> None:
        """Remove everything kept (gc gives up on the interrupted import), and anything planted
        under the area's own name."""
        if not self._usable_dir():
            _remove(self.dir)
            return
        for p in self.kept():
            _remove(p)
        self.forget([])

    def planted(self) -> bool:
        """Something that is not this user's directory sits where the area belongs (fsck says so)."""
        return os.path.lexists(self.dir) and not self._usable_dir()


def _remove(path: Path) -> None:
    """Remove whatever is at `path` (a file, a link, a FIFO, a directory tree), never following a link."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
