"""`vault bundle`: write signed revisions and their blobs into one tar stream.

The output is deterministic (fixed entry order, zeroed owners and times), each
distinct blob appears once, and the files appear under their final names only
when complete.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from vault import audit
from vault.bundle.index import (
    INDEX_NAME,
    BundleIndex,
    RevisionEntry,
    blob_entry,
    revision_prefix,
    revocation_entry,
)
from vault.bundle.parts import SplitWriter, part_name
from vault.catalog import queries
from vault.errors import ConflictError, UsageError
from vault.progress import CountingReader, NoProgress, Progress
from vault.refs import Ref
from vault.revocation import all_revocations

if TYPE_CHECKING:
    from vault.api import Vault

PARTIAL = ".partial"


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o444, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _signature_names(prefix: str, kind: str, count: int) -> list[str]:
    return [f"{prefix}/{kind}.sig" if i == 0 else f"{prefix}/{kind}-{i + 1}.sig" for i in range(count)]


class _FileSink(io.RawIOBase):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in close()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self._fh.write(data)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        super().close()


def write_bundle(
    vault: Vault, refs: list[Ref], out: Path, split_size: int | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    progress = progress or NoProgress()
    entries: list[tuple[str, bytes]] = []
    revisions: list[RevisionEntry] = []
    blobs: dict[str, int] = {}
    with vault.session() as s:
        seen: set[tuple[str, str]] = set()
        for ref in refs:
            rev = queries.find_revision(s, ref)
            key = (ref.repo_id, rev.commit)
            if key in seen:
                continue
            seen.add(key)
            prefix = revision_prefix(*key)
            sigs: dict[str, tuple[str, ...]] = {}
            for kind in ("model", "provenance", "upstream"):
                raws = sorted((sig.key_fingerprint, sig.raw) for sig in rev.signatures if sig.kind == kind)
                if kind != "upstream" and not raws:
                    raise ConflictError(
                        f"{ref}: revision {rev.commit} is not signed (run 'vault sign' first)"
                    )
                if raws:
                    names = _signature_names(prefix, kind, len(raws))
                    sigs[kind] = tuple(names)
                    entries.extend(zip(names, (raw for _fp, raw in raws), strict=True))
            revisions.append(RevisionEntry(ref.repo_id, rev.commit, sigs))
            for f in rev.files:
                blobs[f.sha256] = f.size
        # Every bundle carries every known revocation: they are small, and a revocation
        # must reach the air-gapped side even if the bundle that follows it is unrelated.
        revocations = []
        for r in all_revocations(s):
            name = revocation_entry(r.repo_id, r.commit, r.key_fingerprint)
            revocations.append(name)
            entries.append((name, r.raw))
    if not revisions and not revocations:
        raise UsageError("name at least one REF to bundle")
    index = BundleIndex(tuple(revisions), blobs, tuple(revocations))

    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    sink: SplitWriter | _FileSink
    sink = (
        SplitWriter(out, split_size, PARTIAL) if split_size else _FileSink(out.with_name(out.name + PARTIAL))
    )
    try:
        with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            raw_index = index.to_bytes()
            tar.addfile(_tarinfo(INDEX_NAME, len(raw_index)), io.BytesIO(raw_index))
            for name, raw in entries:
                tar.addfile(_tarinfo(name, len(raw)), io.BytesIO(raw))
            progress.start(sum(blobs.values()), "bundle")
            for sha256, size in sorted(blobs.items()):
                with open(vault.store.blob_path(sha256), "rb") as fh:
                    tar.addfile(_tarinfo(blob_entry(sha256), size), CountingReader(fh, progress))
            progress.finish()
        sink.close()
    except BaseException:
        sink.close()
        for p in sink.paths if isinstance(sink, SplitWriter) else [sink.path]:
            p.unlink(missing_ok=True)
        raise
    if isinstance(sink, SplitWriter):
        final = [part_name(out, i) for i in range(len(sink.paths))]
        for tmp, dst in zip(sink.paths, final, strict=True):
            os.replace(tmp, dst)
    else:
        final = [out]
        os.replace(sink.path, out)
    with vault.session() as s, s.begin():
        audit.record(s, "bundle", str(out), revisions=[f"{r.repo_id}@{r.commit}" for r in revisions])
    return {
        "bundle": str(out),
        "parts": [str(p) for p in final],
        "revisions": [f"{r.repo_id}@{r.commit}" for r in revisions],
        "revocations": len(revocations),
        "blobs": len(blobs),
        "bytes": sum(p.stat().st_size for p in final),
    }
