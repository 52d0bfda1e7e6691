"""vault's signed set in a registry: found among a manifest's referrers, read under caps, and the
ModelPack manifest held against what it signs.

Nothing here judges trust: `judge_artifact` hands what `_fetch_signed_set`
returns, exactly as it judges a bundle's signed part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vault._bundle.index import INDEX_NAME, MAX_INDEX_BYTES, BundleIndex, parse_index
from vault._oci.client import RegistryClient, require
from vault._oci.documents import (
    TITLE,
    VAULT_ENTRY,
    VAULT_INDEX,
    VAULT_SIGNED,
    Descriptor,
    Manifest,
    digest_of,
    fallback_tag,
    model_files,
    modelpack_manifest,
    parse_manifest,
)
from vault._oci.documents import parse_index as parse_oci_index
from vault._oci.reference import OciRef
from vault._signing.dsse import MAX_SIGNATURE_BYTES, MAX_SIGNATURE_TOTAL
from vault._verify.metadata import CheckedBundle
from vault._verify.signed_entries import SignedEntries, signed_set
from vault.errors import BundleFormatError, IntegrityError, TrustError


def agree(manifest: bytes, files: list[tuple[str, str, int]], bundle: CheckedBundle) -> None:
    """The manifest is the one vault publishes for the signed revision, byte for byte: first its
    files (same paths, digests and sizes, each named where it differs), then everything else a
    ModelPack or OCI client reads from it (titles, media types, annotations, the config)."""
    if len(bundle.revisions) != 1:
        raise BundleFormatError(f"registry: the signed set names {len(bundle.revisions)} revisions, not 1")
    signed = {p: (rec.sha256, rec.size) for p, rec in bundle.revisions[0].provenance.files.items()}
    listed: dict[str, tuple[str, int]] = {}
    for path, sha, size in files:
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
    prov = bundle.revisions[0].provenance
    signed_files = [(p, rec.sha256, rec.size) for p, rec in prov.files.items()]
    expected, _config = modelpack_manifest(prov.repo_id, prov.commit, prov.fetched_at, signed_files)
    if digest_of(manifest) != expected.descriptor.digest:
        raise IntegrityError(
            f"registry: the manifest is not the one vault publishes for {prov.repo_id}@{prov.commit} "
            "(its titles, media types, annotations or config differ from what the signatures name)"
        )


def served_wrong_size(path: str, got: int, size: int) -> str:
    served = f"over {size}" if got > size else str(got)
    return f"{path}: the registry served {served} bytes, the signed size is {size}"


@dataclass(frozen=True)
class JudgedArtifact:
    """A registry artifact whose signed set passed the verifier and whose manifest agrees with it."""

    files: list[tuple[str, str, int]]  # (path, sha256, size), as signed and as the manifest lists them
    signed: SignedEntries
    bundle: CheckedBundle


def judge_artifact(
    client: RegistryClient, source: OciRef, judge: Callable[[SignedEntries], CheckedBundle]
) -> JudgedArtifact:
    """The manifest `source` names, vault's signed set for it, `judge` (the trust policy, from a
    catalog or a policy file) over that set, and the manifest held against it: all before a byte
    of the model is downloaded."""
    doc = require(client.get_manifest(source.reference), str(source))
    files = model_files(parse_manifest(doc.raw, doc.media_type))
    signed = _fetch_signed_set(client, source, digest_of(doc.raw))
    bundle = judge(signed)
    agree(doc.raw, files, bundle)
    return JudgedArtifact(files, signed, bundle)


def _fetch_signed_set(client: RegistryClient, source: OciRef, digest: str) -> SignedEntries:
    """vault's signed set for the manifest `digest`: the index and every entry it names, capped and
    structurally checked, as `read_signed` reads a bundle's (nothing judged yet)."""
    signed = _signed_manifest(client, source, digest)
    layers = list(signed.layers)
    title = layers[0].annotation(TITLE) if layers else None
    if not layers or layers[0].media_type != VAULT_INDEX or title != INDEX_NAME:
        raise BundleFormatError(f"registry: the vault signed set does not start with {INDEX_NAME}")
    raw_index = client.get_blob(layers[0].digest, MAX_INDEX_BYTES)
    index = parse_index(raw_index)
    return signed_set("registry", raw_index, index, _signed_entries(client, index, layers[1:]))


def _signed_manifest(client: RegistryClient, source: OciRef, digest: str) -> Manifest:
    """vault's signed set among the manifest's referrers (the API's list, else the fallback tag's)."""
    listed = client.referrers(digest) or client.get_manifest(fallback_tag(digest))
    found = [] if listed is None else parse_oci_index(listed.raw)
    candidates = [d for d in found if d.artifact_type == VAULT_SIGNED]
    if not candidates:
        raise TrustError(
            f"{source}: no vault signature set refers to this manifest (publish it with 'vault publish')"
        )
    # Untrusted like everything listed: the newest listed set is read, and the verifier judges it.
    chosen = candidates[-1]
    doc = client.get_manifest(chosen.digest)
    if doc is None:  # listed, but not there: the registry's listing is wrong, like a lying medium
        raise BundleFormatError(f"registry: referrer {chosen.digest[:19]}… is listed but missing")
    signed = parse_manifest(doc.raw, doc.media_type)
    if signed.subject is None or signed.subject.digest != digest:
        raise BundleFormatError(
            f"registry: referrer {chosen.digest[:19]}… does not name {digest[:19]}… as its subject"
        )
    return signed


def _signed_entries(client: RegistryClient, index: BundleIndex, layers: list[Descriptor]) -> dict[str, bytes]:
    """Each layer after the index, by its title: only names the index lists, each capped (and the
    total before anything is fetched)."""
    wanted = index.signature_entries()
    if sum(layer.size for layer in layers) > MAX_SIGNATURE_TOTAL:
        raise BundleFormatError(f"registry: signature entries exceed {MAX_SIGNATURE_TOTAL} bytes in all")
    raws: dict[str, bytes] = {}
    for layer in layers:
        name = layer.annotation(TITLE)
        if layer.media_type != VAULT_ENTRY or name is None or name not in wanted or name in raws:
            raise BundleFormatError(f"registry: signed-set layer {name!r} is not an entry the index names")
        raws[name] = client.get_blob(layer.digest, MAX_SIGNATURE_BYTES)
    return raws
