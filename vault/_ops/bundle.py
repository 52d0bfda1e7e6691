"""`vault bundle`: write signed revisions and their blobs into one tar stream.

The output is deterministic (fixed entry order, zeroed owners and times), each
distinct blob appears once, and the files appear under their final names only
when complete.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import tarfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vault import _interrupts as interrupts
from vault._bundle.index import (
    INDEX_NAME,
    BundleIndex,
    RevisionEntry,
    blob_entry,
    revision_prefix,
    revocation_entry,
    signature_file_name,
    trusted_root_entry,
)
from vault._bundle.parity import check_parity_request, parity_name, write_parity
from vault._bundle.part_digests import BlockHasher, PartDigests
from vault._bundle.parts import SplitWriter, glob_escape, part_name
from vault._bundle.tar_entries import entry_header
from vault._bundle.tar_writer import WINDOW, TarWriter
from vault._catalog import queries
from vault._catalog.schema import SigstoreRoot
from vault._durable import BulkWriter
from vault._ops.revocation import all_revocations
from vault._output_paths import output_file
from vault._progress import NoProgress, Progress
from vault._statements.refs import Ref
from vault._workers import leave_signals_to_main_thread
from vault.errors import ConflictError, UsageError, VaultError
from vault.results import BundleResult

if TYPE_CHECKING:
    from vault._home import Home

PARTIAL = ".partial"
MAX_PARTS = 1000  # OUT.000 … OUT.999: the reader finds exactly three-digit suffixes


def _signature_names(prefix: str, kind: str, count: int) -> list[str]:
    return [f"{prefix}/{signature_file_name(kind, i)}" for i in range(count)]


class _FileSink(io.RawIOBase):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.paths = [path]
        self.written = 0
        self._out = BulkWriter(open(path, "wb"))  # noqa: SIM115 - closed in close()

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.written

    def write(self, data: Any) -> int:
        n = self._out.write(data)
        self.written += n
        return n

    def skip(self, n: int) -> None:
        self._out.skip(n)
        self.written += n

    def close(self) -> None:
        self._out.close()
        super().close()


def _member_size(name: str, size: int) -> int:
    """Bytes one entry takes in the tar stream: its header blocks and its data padded to a block."""
    return len(entry_header(name, size)) + -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE


def _sized_index(index: BundleIndex, entries: list[tuple[str, bytes]], split_size: int | None) -> BundleIndex:
    """The index carrying the length of the whole stream it starts, computed before writing a byte.

    The index's own length depends on the numbers it carries (the length, and
    the shape of the part digests table), so settle it by recomputing until it
    stops changing (a few rounds at most: a digit or a block more rarely moves
    it across a 512-byte block).
    """
    rest = sum(_member_size(name, len(raw)) for name, raw in entries)
    rest += sum(_member_size(blob_entry(sha), size) for sha, size in index.blobs.items())
    sized = replace(index, size=0)
    while True:
        head = _member_size(INDEX_NAME, len(sized.to_bytes()))
        body = head + rest + 2 * tarfile.BLOCKSIZE
        total = -(-body // tarfile.RECORDSIZE) * tarfile.RECORDSIZE  # tar pads the last record
        parts = PartDigests.placeholder(total, split_size or total, head)
        if total == sized.size and parts == sized.parts:
            return sized
        sized = replace(sized, size=total, parts=parts)


class _Digesting:
    """Passes the tar stream to its sink, and to the block hasher on a thread of its own.

    sha256 releases the GIL, so the digests of one chunk are computed while the
    next is read and written; at most `_QUEUED` chunks wait. Blob data arrives
    in buffers lent by `buffer()`, which come back to the pool once hashed
    (bounded memory, and no fresh zero-filled allocation per window). A run of
    zeros (`skip`) is a hole in the sink and a count to the hasher.

    A Ctrl-C or SIGTERM can land just after the main thread took the queue's
    lock and before it entered the block that releases it (Condition.__enter__
    is Python code), leaving the lock held. So the abort path, `abandon`, never
    touches the queue: it raises a flag that the thread polls, and the thread
    is a daemon, so even one stuck on a leaked lock cannot hold up the exit.
    """

    _QUEUED = 8
    _BUFFERS = _QUEUED + 2  # every queued chunk, the one being hashed, the one being read
    _POLL = 0.2  # seconds between the thread's looks at the abandon flag

    def __init__(self, sink: SplitWriter | _FileSink, hasher: BlockHasher) -> None:
        self._sink, self._hasher = sink, hasher
        self._queue: queue.Queue[tuple[bytes | memoryview, bytearray | None] | int | None] = queue.Queue(
            self._QUEUED
        )
        self._free: queue.Queue[bytearray] = queue.Queue()
        self._made = 0
        self._failed: BaseException | None = None
        self._abandoned = threading.Event()
        self._thread = threading.Thread(target=self._hash, name="bundle-digests", daemon=True)
        self._thread.start()

    def _hash(self) -> None:
        leave_signals_to_main_thread()
        while not self._abandoned.is_set():
            try:
                chunk = self._queue.get(timeout=self._POLL)
            except queue.Empty:
                continue
            if chunk is None:
                return
            if self._failed is None:
                try:
                    if isinstance(chunk, int):
                        self._hasher.update_zeros(chunk)
                    else:
                        self._hasher.update(chunk[0])
                except BaseException as exc:  # surfaced by table()
                    self._failed = exc
            if not isinstance(chunk, int) and chunk[1] is not None:
                self._free.put(chunk[1])  # hashed: the reader may fill it again

    def buffer(self) -> bytearray:
        """A buffer of `WINDOW` bytes to read blob data into; waits while all are in flight."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            if self._made < self._BUFFERS:
                self._made += 1
                return bytearray(WINDOW)
        return self._free.get()

    def release(self, buffer: bytearray) -> None:
        """A lent buffer that was not written (the read failed)."""
        self._free.put(buffer)

    def write(self, data: bytes | memoryview, owner: bytearray | None = None) -> int:
        """`data` to the sink and the hasher; `owner`, the lent buffer it lies in, returns to the
        pool once hashed (the sink is done with it when this returns)."""
        self._queue.put((data, owner))
        return self._sink.write(data)

    def skip(self, n: int) -> None:
        self._queue.put(n)
        self._sink.skip(n)

    def table(self) -> PartDigests:
        """The digests, once the thread has hashed every chunk written."""
        self._queue.put(None)
        self._thread.join()
        if self._failed is not None:
            raise self._failed
        return self._hasher.table()

    def abandon(self) -> None:
        """Let the thread go without waiting for it: the stream is being thrown away."""
        self._abandoned.set()


def _overwrite(paths: list[Path], slice_size: int, offset: int, data: bytes) -> None:
    """Write `data` at stream `offset` across the finished part files, and make it durable."""
    while data:
        i, at = divmod(offset, slice_size)
        n = min(len(data), slice_size - at)
        with open(paths[i], "r+b") as fh:
            fh.seek(at)
            fh.write(data[:n])
            fh.flush()
            os.fsync(fh.fileno())
        data, offset = data[n:], offset + n


def _publish(sink: SplitWriter | _FileSink, out: Path, parity: list[Path]) -> list[Path]:
    """Give the finished files their names, and remove what a previous bundle at `out` left.

    A re-bundle to the same -o that needs fewer parts (or none) would otherwise
    leave old parts (or parity parts) beside the new ones, and the reader would
    take them for part of this bundle.
    """
    split = isinstance(sink, SplitWriter)
    final = [part_name(out, i) for i in range(len(sink.paths))] if split else [out]
    final += [parity_name(out, j) for j in range(len(parity))]
    for tmp, dst in zip([*sink.paths, *parity], final, strict=True):
        os.replace(tmp, dst)
    keep = set(final)
    stale = [out] if out not in keep and out.is_file() else []
    for pattern in ("[0-9][0-9][0-9]", "p[0-9][0-9][0-9]"):
        stale += [p for p in out.parent.glob(f"{glob_escape(out.name)}.{pattern}") if p not in keep]
    for p in stale:
        p.unlink(missing_ok=True)
    return final


@dataclass(frozen=True)
class SignedContents:
    """What a bundle (or a registry artifact) of some revisions carries, before any byte is written:
    the index (unsized), the small signed entries in their order, and the blobs."""

    index: BundleIndex
    entries: list[tuple[str, bytes]]  # signature, revocation and trusted-root entries, in order
    revisions: list[RevisionEntry]
    blobs: dict[str, int]  # sha256 -> size, carried
    omitted: dict[str, int]  # sha256 -> size, left out (`omit`)
    files: dict[tuple[str, str], list[tuple[str, str, int]]]  # (repo, commit) -> (path, sha256, size)
    fetched_at: dict[tuple[str, str], str]  # (repo, commit) -> when it was fetched, as signed


def signed_contents(vault: Home, refs: list[Ref], omit: frozenset[str] = frozenset()) -> SignedContents:
    """Every verified signature of each revision, every known revocation and the trusted roots they
    name; refuses a revision that is not signed, or no revision and no revocation at all."""
    entries: list[tuple[str, bytes]] = []
    revisions: list[RevisionEntry] = []
    blobs: dict[str, int] = {}
    files: dict[tuple[str, str], list[tuple[str, str, int]]] = {}
    fetched_at: dict[tuple[str, str], str] = {}
    roots: set[str] = set()  # sha256 of the Sigstore trusted roots the signatures were made under
    with vault.session() as s:
        for ref in refs:
            rev = queries.find_revision(s, ref)
            key = (ref.repo_id, rev.commit)
            if key in files:
                continue
            files[key] = sorted((f.path, f.sha256, f.size) for f in rev.files)
            fetched_at[key] = rev.fetched_at
            prefix = revision_prefix(*key)
            sigs: dict[str, tuple[str, ...]] = {}
            for kind in ("model", "provenance", "upstream"):
                # Only verified signatures travel: an unverified one proves nothing on the far side.
                raws = sorted(
                    (sig.key_fingerprint, sig.raw)
                    for sig in rev.signatures
                    if sig.kind == kind and sig.verified
                )
                if kind != "upstream" and not raws:
                    raise ConflictError(
                        f"{ref}: revision {rev.commit} is not signed (run 'vault sign' first)"
                    )
                if raws:
                    names = _signature_names(prefix, kind, len(raws))
                    sigs[kind] = tuple(names)
                    entries.extend(zip(names, (raw for _fp, raw in raws), strict=True))
            revisions.append(RevisionEntry(ref.repo_id, rev.commit, sigs))
            roots.update(sig.trusted_root_sha256 for sig in rev.signatures if sig.trusted_root_sha256)
            for f in rev.files:
                blobs[f.sha256] = f.size
        # Every bundle carries every known revocation: they are small, and a revocation
        # must reach the air-gapped side even if the bundle that follows it is unrelated.
        revocations = []
        for r in all_revocations(s):
            name = revocation_entry(r.repo_id, r.commit, r.key_fingerprint)
            revocations.append(name)
            entries.append((name, r.raw))
            if r.trusted_root_sha256:
                roots.add(r.trusted_root_sha256)
        root_names = [trusted_root_entry(sha) for sha in sorted(roots)]
        for sha, name in zip(sorted(roots), root_names, strict=True):
            row = s.get(SigstoreRoot, sha)
            assert row is not None  # written with the signature that names it
            entries.append((name, row.raw))
    if not revisions and not revocations:
        raise UsageError("name at least one REF to bundle")
    omitted = {sha: size for sha, size in blobs.items() if sha in omit}
    blobs = {sha: size for sha, size in blobs.items() if sha not in omit}
    index = BundleIndex(
        tuple(revisions), blobs, tuple(revocations), trusted_roots=tuple(root_names), omitted=omitted
    )
    return SignedContents(index, entries, revisions, blobs, omitted, files, fetched_at)


def write_bundle(
    vault: Home,
    refs: list[Ref],
    out: Path,
    split_size: int | None = None,
    progress: Progress | None = None,
    omit: frozenset[str] = frozenset(),
    parity: int = 0,
) -> BundleResult:
    """`omit`: blobs the far side already holds (a delta bundle names them, and carries none of them).
    `parity`: parity parts to add to a split bundle (see `parity`)."""
    progress = progress or NoProgress()
    contents = signed_contents(vault, refs, omit)
    revisions, entries, blobs, omitted = (
        contents.revisions,
        contents.entries,
        contents.blobs,
        contents.omitted,
    )
    revocations = contents.index.revocations
    index = _sized_index(contents.index, entries, split_size)
    assert index.size is not None and index.parts is not None
    if parity and not split_size:
        raise UsageError("--parity needs --split-size: parity rebuilds lost or damaged parts")
    check_parity_request(parity, len(index.parts.sha256))
    if split_size and -(-index.size // split_size) > MAX_PARTS:
        need = -(-index.size // MAX_PARTS)
        raise UsageError(
            f"--split-size {split_size} would cut this {index.size}-byte bundle into "
            f"{-(-index.size // split_size)} parts; at most {MAX_PARTS} (use at least {need} bytes)"
        )

    out = output_file(out)
    sink: SplitWriter | _FileSink
    parity_files: list[Path] = []
    sink = (
        SplitWriter(out, split_size, PARTIAL) if split_size else _FileSink(out.with_name(out.name + PARTIAL))
    )
    stream = _Digesting(sink, BlockHasher(index.parts, index.size))
    try:
        tar = TarWriter(stream)
        raw_index = index.to_bytes()
        tar.add_bytes(INDEX_NAME, raw_index)
        for name, raw in entries:
            tar.add_bytes(name, raw)
        progress.start(sum(blobs.values()), "bundle")
        for sha256, size in sorted(blobs.items()):
            tar.add_blob(blob_entry(sha256), vault.store.blobs, sha256, size, progress)
        progress.finish()
        tar.close()
        sink.close()
        if sink.written != index.size:
            raise VaultError(f"{out}: wrote {sink.written} bytes, the index announced {index.size}")
        # The block digests are known only now; they take the placeholders' place, byte for byte.
        table = stream.table()
        final_index = replace(index, parts=table).to_bytes()
        assert len(final_index) == len(raw_index)
        header = index.parts.body_start - -(-len(raw_index) // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
        _overwrite(sink.paths, split_size or index.size, header, final_index)
        if parity:
            parity_files = write_parity(sink.paths, out, table, index.size, parity, PARTIAL)
        interrupts.check()  # before the final names: a stop asked for by now leaves no bundle
        final = _publish(sink, out, parity_files)
    except BaseException as exc:
        # Full disk, Ctrl-C, SIGTERM: no .partial file outlives the attempt.
        stream.abandon()
        with contextlib.suppress(OSError):
            sink.close()
        for p in [*sink.paths, *parity_files]:
            p.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(out)  # "No space left on device" alone does not say where
        raise
    with vault.write() as w:
        delta = {"omitted_blobs": sorted(omitted)} if omitted else {}
        w.record("bundle", str(out), revisions=[f"{r.repo_id}@{r.commit}" for r in revisions], **delta)
    data = final[: len(final) - len(parity_files)]
    return BundleResult(
        str(out), [str(p) for p in data], [f"{r.repo_id}@{r.commit}" for r in revisions], len(revocations),
        len(blobs), sum(p.stat().st_size for p in data), len(omitted), sum(omitted.values()),
        [str(p) for p in final[len(data) :]],
    )  # fmt: skip
