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

from typing import TYPE_CHECKING

from vault._bundle.index import INDEX_NAME
from vault._catalog import queries
from vault._oci.client import RegistryClient
from vault._oci.documents import (
    IMAGE_MANIFEST,
    MODEL_ARTIFACT,
    MODEL_CONFIG,
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
    empty_config,
    fallback_tag,
    image_manifest,
    model_config,
    model_layers,
    parse_index,
    parse_manifest,
    referrers_index,
)
from vault._oci.reference import OciRef
from vault._ops.bundle import signed_contents
from vault._progress import NoProgress, Progress
from vault._statements.refs import Ref
from vault.errors import UsageError
from vault.results import PublishedArtifact

if TYPE_CHECKING:
    from vault._home import Home

_KIND_PREDICATE = {"model": OMS_PREDICATE, "provenance": SLSA_PREDICATE}


def publish_oci(
    vault: Home, ref: Ref, target: OciRef, client: RegistryClient, progress: Progress | None = None
) -> PublishedArtifact:
    progress = progress or NoProgress()
    if target.digest is not None:
        raise UsageError(f"{target}: publish to a tag, not a digest (the digest is the result)")
    contents = signed_contents(vault, [ref])
    entry = contents.revisions[0]
    files = contents.files[(entry.repo_id, entry.commit)]
    fetched_at = _fetched_at(vault, entry.repo_id, entry.commit)
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
                client.push_file(vault.store.blob_path(sha), digest, size)
                uploaded, uploaded_bytes = uploaded + 1, uploaded_bytes + size
            progress.advance(size)
    finally:
        progress.finish()
    layers = model_layers(files)
    config = model_config(entry.repo_id, entry.commit, fetched_at, layers)
    config_desc = Descriptor(MODEL_CONFIG, client.push_bytes(config), len(config))
    annotations = {
        "org.opencontainers.image.title": entry.repo_id,
        "org.opencontainers.image.revision": entry.commit,
        "org.opencontainers.image.created": fetched_at,
    }
    model = image_manifest(MODEL_ARTIFACT, config_desc, layers, annotations)
    answer = client.put_manifest(tag, model)
    subject = model.descriptor
    api = answer.headers.get("OCI-Subject") == subject.digest
    referrers = _referrers(client, contents.index.to_bytes(), contents.entries, entry.signatures, subject)
    listed: list[Descriptor] = []
    for doc in referrers:
        put = client.put_manifest(doc.descriptor.digest, doc)
        api = api or put.headers.get("OCI-Subject") == subject.digest
        listed.append(_listing(doc))
    fallback = None if api else _update_fallback(client, subject.digest, listed)
    with vault.write() as w:
        w.record("publish", f"{target.with_tag(tag)}", revision=f"{entry.repo_id}@{entry.commit}",
                 digest=subject.digest, uploaded_blobs=uploaded, reused_blobs=reused)  # fmt: skip
    return PublishedArtifact(
        str(target.with_tag(tag)), subject.digest, f"{entry.repo_id}@{entry.commit}", uploaded,
        uploaded_bytes, reused, reused_bytes, [d.digest for d in listed], fallback,
    )  # fmt: skip


def _fetched_at(vault: Home, repo_id: str, commit: str) -> str:
    with vault.session() as s:
        model = queries.get_model(s, repo_id)
        rev = queries.get_revision(s, model, commit) if model is not None else None
        assert rev is not None  # signed_contents just found it
        return str(rev.fetched_at)


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
    kept = [] if held is None else parse_index(held.raw)
    mine = {d.digest for d in ours}
    kept = [d for d in kept if d.digest not in mine and d.artifact_type != VAULT_SIGNED]
    client.put_manifest(tag, referrers_index(kept + ours))
    return tag
