"""`vault import oci://…` and `vault pull oci://…`: a registry artifact verified exactly as a bundle is.

Nothing is trusted because it came from the site's own registry. The
artifact vault published is reassembled, in the home's scratch space, into
the bundle `vault bundle` would have written for that revision (its unsigned
index, every signature, revocation and carried root, then each blob as the
registry serves it), and that bundle goes through `import_bundle`: the trust
policy, scopes, quorum, revocations, the statements against the index, every
blob's size and digests, and its content. One more check runs before any blob
is read: the ModelPack manifest must list exactly the files the signed
statements list, with their digests and sizes, so what a ModelPack client
pulls from that manifest is what was verified.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from vault._bundle.index import INDEX_NAME, BundleIndex, blob_entry
from vault._bundle.tar_writer import FileTarSink, TarWriter
from vault._checks.policy import ContentPolicy
from vault._oci.client import RegistryClient, require
from vault._oci.documents import (
    digest_of,
    model_files,
    parse_manifest,
)
from vault._oci.reference import OciRef
from vault._oci.signed_set import agree, fetch_signed_set, served_wrong_size
from vault._ops.importer import import_bundle
from vault._progress import NoProgress, Progress
from vault._verify.metadata import CheckedBundle, check_signed
from vault._verify.signed_entries import SignedEntries
from vault._verify.snapshot import take_snapshot
from vault.errors import BundleFormatError, IntegrityError, VerificationError
from vault.results import ImportResult

if TYPE_CHECKING:
    from vault._home import Home

SPOOL = "registry.vault"


def import_oci(
    vault: Home,
    source: OciRef,
    client: RegistryClient,
    policy: ContentPolicy | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    progress = progress or NoProgress()
    try:
        with vault.writer_lock(), vault.store.staging("registry") as spool:
            fetched = fetch_bundle(client, source, spool / SPOOL, progress, partial(_judge_signed, vault))
            return import_bundle(vault, fetched.path, policy, progress, fetched.agree)
    except VerificationError as exc:
        raise type(exc)(f"{source}: {exc}") from None


@dataclass(frozen=True)
class FetchedBundle:
    path: Path
    manifest: bytes  # the ModelPack manifest as the registry served it
    files: list[tuple[str, str, int]]  # (path, sha256, size) it lists

    def agree(self, bundle: CheckedBundle) -> None:
        agree(self.manifest, self.files, bundle)


def _judge_signed(vault: Home, signed: SignedEntries, fetched: FetchedBundle) -> None:
    """The signed part judged, and the manifest against it, before a blob is downloaded."""
    fetched.agree(check_signed(signed, take_snapshot(vault, signed.index)))


def fetch_bundle(
    client: RegistryClient,
    source: OciRef,
    out: Path,
    progress: Progress,
    judge: Callable[[SignedEntries, FetchedBundle], None],
) -> FetchedBundle:
    """The bundle the published artifact stands for, written to `out` (scratch). `judge` refuses a
    signed part that fails the policy before any blob is downloaded; `import_bundle` then judges
    the whole bundle again, blobs included."""
    doc = require(client.get_manifest(source.reference), str(source))
    digest = digest_of(doc.raw)
    files = model_files(parse_manifest(doc.raw, doc.media_type))
    signed = fetch_signed_set(client, source, digest)
    index = signed.index
    fetched = FetchedBundle(out, doc.raw, files)
    judge(signed, fetched)
    _check_blobs(index, files)
    names = {sha: path for path, sha, _size in reversed(files)}
    with open(out, "wb") as fh:
        tar = TarWriter(FileTarSink(fh))
        tar.add_bytes(INDEX_NAME, signed.raw_index)
        for name, raw in signed.raws.items():
            tar.add_bytes(name, raw)
        progress.start(sum(index.blobs.values()), "fetch")
        try:
            for sha, size in sorted(index.blobs.items()):
                chunks = _counted(client.blob_stream(f"sha256:{sha}", size), progress)
                got = tar.add_stream(blob_entry(sha), size, chunks)
                if got != size:
                    raise IntegrityError(served_wrong_size(names[sha], got, size))
        finally:
            progress.finish()
        tar.close()
    return fetched


def _check_blobs(index: BundleIndex, files: list[tuple[str, str, int]]) -> None:
    """Each blob the index carries is a layer of the manifest, at that size: the blob is read from
    the repository the manifest is in (the index's sizes bound what is read)."""
    layers = {sha: size for _path, sha, size in files}
    if index.omitted:
        raise BundleFormatError("registry: a published signed set omits no blob")
    for sha, size in sorted(index.blobs.items()):
        if layers.get(sha) != size:
            raise BundleFormatError(
                f"registry: the index names blob {sha[:16]}… ({size} bytes), "
                "which the manifest does not list at that size"
            )


def _counted(chunks: Iterator[bytes], progress: Progress) -> Iterator[bytes]:
    for chunk in chunks:
        progress.advance(len(chunk))
        yield chunk
