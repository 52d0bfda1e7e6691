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

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from vault._bundle.index import INDEX_NAME, MAX_INDEX_BYTES, BundleIndex, blob_entry, parse_index
from vault._bundle.tar_writer import WINDOW, TarWriter
from vault._checks.policy import ContentPolicy
from vault._oci.client import RegistryClient, require
from vault._oci.documents import (
    VAULT_ENTRY,
    VAULT_INDEX,
    VAULT_SIGNED,
    Descriptor,
    Manifest,
    digest_of,
    fallback_tag,
    model_files,
    parse_manifest,
)
from vault._oci.documents import parse_index as parse_oci_index
from vault._oci.reference import OciRef
from vault._ops.importer import import_bundle
from vault._progress import NoProgress, Progress
from vault._signing.dsse import MAX_SIGNATURE_BYTES, MAX_SIGNATURE_TOTAL, parse_bundle
from vault._verify.metadata import CheckedBundle, check_signed
from vault._verify.signed_entries import SignedEntries
from vault._verify.snapshot import take_snapshot
from vault.errors import BundleFormatError, IntegrityError, TrustError, VerificationError
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
    manifest_digest: str
    files: list[tuple[str, str, int]]  # (path, sha256, size) the ModelPack manifest lists

    def agree(self, bundle: CheckedBundle) -> None:
        """The manifest's files are exactly the signed revision's: same paths, digests and sizes."""
        if len(bundle.revisions) != 1:
            raise BundleFormatError(
                f"registry: the signed set names {len(bundle.revisions)} revisions, not 1"
            )
        signed = {p: (rec.sha256, rec.size) for p, rec in bundle.revisions[0].provenance.files.items()}
        listed: dict[str, tuple[str, int]] = {}
        for path, sha, size in self.files:
            if path in listed:
                raise BundleFormatError(f"registry: {path}: listed twice in the manifest")
            listed[path] = (sha, size)
        for path in sorted(set(signed) | set(listed)):
            if path not in signed:
                raise IntegrityError(f"{path}: in the registry manifest, not in the signed statements")
            if path not in listed:
                raise IntegrityError(f"{path}: signed, but missing from the registry manifest")
            if listed[path] != signed[path]:
                raise IntegrityError(
                    f"{path}: the registry manifest's digest or size differs from the signed one"
                )


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
    signed = _signed_set(client, source, digest)
    layers = list(signed.layers)
    if (
        not layers
        or layers[0].media_type != VAULT_INDEX
        or layers[0].annotation("org.opencontainers.image.title") != INDEX_NAME
    ):
        raise BundleFormatError(f"registry: the vault signed set does not start with {INDEX_NAME}")
    raw_index = client.get_blob(layers[0].digest, MAX_INDEX_BYTES)
    index = parse_index(raw_index)
    entries = _signed_entries(client, index, layers[1:])
    for name, raw in entries:
        if name not in index.trusted_roots:
            parse_bundle(raw, name)  # structural, as `read_signed` checks a bundle's
    fetched = FetchedBundle(out, digest, files)
    judge(SignedEntries(index, raw_index, dict(entries), 1, None), fetched)
    _check_blobs(index, files)
    names = {sha: path for path, sha, _size in reversed(files)}
    with open(out, "wb") as fh:
        tar = TarWriter(_Spool(fh))
        tar.add_bytes(INDEX_NAME, raw_index)
        for name, raw in entries:
            tar.add_bytes(name, raw)
        progress.start(sum(index.blobs.values()), "fetch")
        try:
            for sha, size in sorted(index.blobs.items()):
                got = tar.add_stream(
                    blob_entry(sha), size, _counted(client.blob_stream(f"sha256:{sha}", size), progress)
                )
                if got != size:
                    raise IntegrityError(
                        f"{names[sha]}: the registry served {f'over {size}' if got > size else got} bytes, "
                        f"the signed size is {size}"
                    )
        finally:
            progress.finish()
        tar.close()
    return fetched


def _signed_set(client: RegistryClient, source: OciRef, digest: str) -> Manifest:
    """vault's signed set among the manifest's referrers (the API's list, else the fallback tag's)."""
    listed = client.referrers(digest) or client.get_manifest(fallback_tag(digest))
    candidates = (
        [] if listed is None else [d for d in parse_oci_index(listed.raw) if d.artifact_type == VAULT_SIGNED]
    )
    if not candidates:
        raise TrustError(
            f"{source}: no vault signature set refers to this manifest (publish it with 'vault publish')"
        )
    # Untrusted like everything listed: the newest listed set is read, and the verifier judges it.
    chosen = candidates[-1]
    doc = require(client.get_manifest(chosen.digest), f"referrer {chosen.digest}")
    signed = parse_manifest(doc.raw, doc.media_type)
    if signed.subject is None or signed.subject.digest != digest:
        raise BundleFormatError(
            f"registry: referrer {chosen.digest[:19]}… does not name {digest[:19]}… as its subject"
        )
    return signed


def _signed_entries(
    client: RegistryClient, index: BundleIndex, layers: list[Descriptor]
) -> list[tuple[str, bytes]]:
    wanted = index.signature_entries()
    entries: list[tuple[str, bytes]] = []
    held = 0
    for layer in layers:
        name = layer.annotation("org.opencontainers.image.title")
        if layer.media_type != VAULT_ENTRY or name not in wanted:
            raise BundleFormatError(f"registry: signed-set layer {name!r} is not an entry the index names")
        held += layer.size
        if layer.size > MAX_SIGNATURE_BYTES or held > MAX_SIGNATURE_TOTAL:
            raise BundleFormatError(f"registry: signature entries exceed {MAX_SIGNATURE_TOTAL} bytes in all")
        entries.append((name, client.get_blob(layer.digest, MAX_SIGNATURE_BYTES)))
    return entries


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


class _Spool:
    """A scratch file for the reassembled bundle (never published, so not synced)."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh

    def write(self, data: bytes | memoryview, owner: bytearray | None = None, /) -> int:
        return self._fh.write(data)

    def skip(self, n: int, /) -> None:
        self._fh.seek(n, os.SEEK_CUR)
        self._fh.truncate()

    def buffer(self) -> bytearray:
        return bytearray(WINDOW)

    def release(self, buffer: bytearray, /) -> None:
        pass
