"""`vault publish REF oci://…`: a signed, available revision into the site's OCI registry.

The model goes up as a CNCF ModelPack artifact whose layers are the stored
files themselves (a layer's digest is the file's sha256: nothing is hashed
again, and a blob the registry holds is not sent again), with referrers
(`subject`) for each OMS signature, each signed provenance, and vault's
signed set (what a bundle's signed part carries), listed through the referrers
API or, where the registry lacks it, the `sha256-<hex>` tag scheme.

Every upload is by digest and the registry checks each one, so a store blob
that rotted since it was verified is refused there, and a re-run after an
interruption sends only what is missing.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, BinaryIO

from vault import _interrupts as interrupts
from vault._bundle.index import INDEX_NAME
from vault._oci.client import RegistryClient, require
from vault._oci.documents import (
    IMAGE_MANIFEST,
    MAX_MANIFEST_BYTES,
    OMS_PREDICATE,
    PREDICATE,
    SIGSTORE_BUNDLE,
    SLSA_PREDICATE,
    TITLE,
    VAULT_ENTRY,
    VAULT_INDEX,
    VAULT_SIGNED,
    Descriptor,
    Document,
    check_node_paths,
    digest_of,
    empty_config,
    fallback_tag,
    image_manifest,
    modelpack_manifest,
    parse_index,
    parse_manifest,
    referrers_index,
)
from vault._oci.modelcar import (
    BASE_ACCEPT,
    OCI_CONFIG,
    image_config,
    parse_base,
    platform_manifest,
    write_layer,
)
from vault._oci.modelcar import image_manifest as image_manifest_for_car
from vault._oci.reference import OciRef
from vault._ops.bundle import signed_contents
from vault._progress import NoProgress, Progress
from vault._statements.refs import Ref
from vault._store.blob_digests import BlobProblem, open_blob
from vault.errors import BundleFormatError, IntegrityError, NetworkError, UsageError
from vault.results import PublishedArtifact

if TYPE_CHECKING:
    from vault._home import Home

_KIND_PREDICATE = {"model": OMS_PREDICATE, "provenance": SLSA_PREDICATE}


def publish_oci(
    vault: Home,
    ref: Ref,
    target: OciRef,
    client: RegistryClient,
    progress: Progress | None = None,
    modelcar: tuple[OciRef, RegistryClient] | None = None,
) -> PublishedArtifact:
    """`modelcar`: the base image (in the same registry) and a session for its repository."""
    progress = progress or NoProgress()
    if target.digest is not None:
        raise UsageError(f"{target}: publish to a tag, not a digest (the digest is the result)")
    if modelcar is not None and modelcar[0].host != target.host:
        raise UsageError(
            f"--base {modelcar[0]}: the base image must be in the target's registry ({target.host})"
        )
    contents = signed_contents(vault, [ref])
    entry = contents.revisions[0]
    files = contents.files[(entry.repo_id, entry.commit)]
    check_node_paths(f"{entry.repo_id}@{entry.commit}", [path for path, _sha, _size in files])
    fetched_at = contents.fetched_at[(entry.repo_id, entry.commit)]
    raw_index = contents.index.to_bytes()
    tag = target.tag or entry.commit
    uploaded = reused = uploaded_bytes = reused_bytes = 0
    sizes = {sha: size for _path, sha, size in files}
    progress.start(sum(sizes.values()), "publish")
    try:
        for sha, size in sorted(sizes.items()):
            digest = f"sha256:{sha}"
            if client.has_blob(digest):
                reused, reused_bytes = reused + 1, reused_bytes + size
            else:
                rotted = f"store: blob {sha[:16]}… does not match its digest (run 'vault scrub')"
                client.push_file(_stored(vault, sha), digest, size, rotted)
                uploaded, uploaded_bytes = uploaded + 1, uploaded_bytes + size
            progress.advance(size)
    finally:
        progress.finish()
    model, config = modelpack_manifest(entry.repo_id, entry.commit, fetched_at, files)
    client.push_bytes(config)
    subject = model.descriptor
    # The tag moves last: until then a failure leaves the registry's tags as they were, and a
    # re-run finds every blob and manifest already there.
    answer = client.put_manifest(subject.digest, model)
    api = answer.headers.get("OCI-Subject") == subject.digest
    referrers = _referrers(client, raw_index, contents.entries, entry.signatures, subject)
    listed: list[Descriptor] = []
    for doc in referrers:
        put = client.put_manifest(doc.descriptor.digest, doc)
        api = api or put.headers.get("OCI-Subject") == subject.digest
        listed.append(_listing(doc))
    fallback = None if api else _update_fallback(client, subject.digest, listed)
    label = f"{entry.repo_id}@{entry.commit}"
    car: tuple[OciRef, str] | None = None
    interrupts.check()  # before the model's tags move: a stop asked for by now moves neither
    if modelcar is not None:
        signed = [(INDEX_NAME, raw_index), *contents.entries]
        car = _publish_modelcar(vault, client, target.with_tag(f"{tag}-modelcar"), modelcar, files, signed,
                                fetched_at, label, subject.digest)  # fmt: skip
    client.put_manifest(tag, model)
    with vault.write() as w:
        extra = {"modelcar": str(car[0]), "modelcar_digest": car[1]} if car else {}
        w.record("publish", f"{target.with_tag(tag)}", revision=label, digest=subject.digest,
                 uploaded_blobs=uploaded, reused_blobs=reused, **extra)  # fmt: skip
    return PublishedArtifact(
        str(target.with_tag(tag)), subject.digest, label, uploaded, uploaded_bytes, reused, reused_bytes,
        [d.digest for d in listed], fallback, str(car[0]) if car else None, car[1] if car else None,
    )  # fmt: skip


def _publish_modelcar(
    vault: Home,
    client: RegistryClient,
    target: OciRef,
    base: tuple[OciRef, RegistryClient],
    files: list[tuple[str, str, int]],
    signed: list[tuple[str, bytes]],
    created: str,
    label: str,
    model_digest: str,
) -> tuple[OciRef, str]:
    """The base image plus one layer with the model under /models, tagged `target`."""
    base_ref, base_client = base
    doc = require(base_client.get_manifest(base_ref.reference, BASE_ACCEPT), f"base image {base_ref}")
    chosen = platform_manifest(doc.raw)
    if chosen is not None:
        doc = require(base_client.get_manifest(chosen, BASE_ACCEPT), f"base image {base_ref}@{chosen}")
    image = parse_base(doc.raw)
    base_config = base_client.get_blob(image.config.digest, MAX_MANIFEST_BYTES)
    for layer in image.layers:
        if not client.has_blob(layer.digest) and not client.mount_blob(layer.digest, base_ref.repository):
            raise NetworkError(
                f"registry {target.host}: declined to link base layer {layer.digest[:19]}… "
                f"into {target.repository}"
            )
    with vault.store.staging("modelcar") as scratch:
        layer = write_layer(scratch / "layer.tar", vault.store.blobs, files, signed)
        if not client.has_blob(layer.digest):
            changed = f"{scratch / 'layer.tar'}: changed while it was sent"
            client.push_file(open(scratch / "layer.tar", "rb"), layer.digest, layer.size, changed)  # noqa: SIM115
    config = image_config(base_config, layer.digest, created, label)
    config_desc = Descriptor(OCI_CONFIG, client.push_bytes(config), len(config))
    notes = {
        "org.opencontainers.image.base.name": str(base_ref),
        "org.opencontainers.image.base.digest": digest_of(doc.raw),
        "org.opencontainers.image.revision": label.split("@", 1)[1],
        "dev.vault.model.manifest": model_digest,
    }
    manifest = image_manifest_for_car(image, config_desc, layer, notes)
    client.put_manifest(target.reference, manifest)
    return target, manifest.descriptor.digest


def _stored(vault: Home, sha256: str) -> BinaryIO:
    """A stored blob, opened as scrub and bundle open it: no link followed, regular files only."""
    try:
        return os.fdopen(open_blob(vault.store.blobs, sha256), "rb")
    except BlobProblem as problem:
        raise IntegrityError(f"store: blob {sha256[:16]}… is {problem} (run 'vault scrub')") from None


def _referrers(
    client: RegistryClient,
    raw_index: bytes,
    entries: list[tuple[str, bytes]],
    signatures: dict[str, tuple[str, ...]],
    subject: Descriptor,
) -> list[Document]:
    """One Sigstore bundle artifact per OMS signature and per signed provenance, then vault's signed set."""
    raws = dict(entries)
    empty = empty_config()
    client.push_bytes(b"{}")
    docs = []
    for kind in ("model", "provenance"):
        for name in signatures.get(kind, ()):
            raw = raws[name]
            title = name.rsplit("/", 1)[-1]
            layer = Descriptor(SIGSTORE_BUNDLE, client.push_bytes(raw), len(raw), ((TITLE, title),))
            notes = {PREDICATE: _KIND_PREDICATE[kind], TITLE: title}
            docs.append(image_manifest(SIGSTORE_BUNDLE, empty, [layer], notes, subject))
    layers = [Descriptor(VAULT_INDEX, client.push_bytes(raw_index), len(raw_index), ((TITLE, INDEX_NAME),))]
    for name, raw in entries:
        layers.append(Descriptor(VAULT_ENTRY, client.push_bytes(raw), len(raw), ((TITLE, name),)))
    docs.append(image_manifest(VAULT_SIGNED, empty, layers, {}, subject))
    return docs


def _listing(doc: Document) -> Descriptor:
    """A referrer as a referrers list names it: its artifact type and annotations beside its digest."""
    parsed = parse_manifest(doc.raw, IMAGE_MANIFEST)
    d = doc.descriptor
    return Descriptor(d.media_type, d.digest, d.size, parsed.annotations, parsed.artifact_type)


def _update_fallback(client: RegistryClient, subject: str, ours: list[Descriptor]) -> str:
    """Add our referrers to the `sha256-<hex>` index, keeping what others listed; an older vault set
    for the same manifest gives way to ours (it carries the current signatures)."""
    tag = fallback_tag(subject)
    held = client.get_manifest(tag)
    try:
        kept = [] if held is None else parse_index(held.raw)
    except BundleFormatError:
        raise BundleFormatError(
            f"registry: tag {tag} holds something other than a referrers index; remove it and publish again"
        ) from None
    mine = {d.digest for d in ours}
    kept = [d for d in kept if d.digest not in mine and d.artifact_type != VAULT_SIGNED]
    client.put_manifest(tag, referrers_index(kept + ours))
    return tag
