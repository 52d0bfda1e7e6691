"""A KServe modelcar: an ordinary container image, a base from the site's registry plus one layer
holding the model under `/models` (and its signed set under `/models/.vault`, so `vault check /models`
verifies it in place).

The layer is an uncompressed tar written as bundles are (`tar_entries`: mode 0444, owner 0, mtime 0),
so the same revision on the same base gives the same image digest. Its digest is also its diff id.
A Docker-format base is carried over in OCI media types (the same bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault._bundle.tar_writer import FileTarSink, TarWriter
from vault._oci.documents import (
    IMAGE_INDEX,
    IMAGE_MANIFEST,
    SIGNED_DIR,
    Descriptor,
    Document,
    load_json,
    parse_descriptor,
)
from vault._progress import NoProgress
from vault._statements.manifest import canonical_json
from vault.errors import BundleFormatError

MODELS_DIR = "models"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
BASE_ACCEPT = ", ".join((IMAGE_MANIFEST, DOCKER_MANIFEST, IMAGE_INDEX, DOCKER_LIST))
_AS_OCI = {
    "application/vnd.docker.container.image.v1+json": OCI_CONFIG,
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar": OCI_LAYER,
}


@dataclass(frozen=True)
class BaseImage:
    config: Descriptor
    layers: tuple[Descriptor, ...]


def platform_manifest(raw: bytes) -> str | None:
    """For an image index, the digest of its linux/amd64 image (whatever else it lists); else None.
    Another architecture is refused, even alone: name a single-platform image by its digest."""
    doc = load_json(raw, "base image")
    if doc.get("mediaType") not in (IMAGE_INDEX, DOCKER_LIST) and "manifests" not in doc:
        return None
    listed = doc.get("manifests")
    if not isinstance(listed, list) or not listed:
        raise BundleFormatError("registry: the base image index lists no image")
    for item in listed:
        platform = item.get("platform", {}) if isinstance(item, dict) else {}
        if isinstance(platform, dict) and (platform.get("os"), platform.get("architecture")) == (
            "linux",
            "amd64",
        ):
            return parse_descriptor(item, "base image").digest
    raise BundleFormatError(
        "registry: the base image has no linux/amd64 image (name a single-platform image by digest)"
    )


def parse_base(raw: bytes) -> BaseImage:
    doc = load_json(raw, "base image manifest")
    if doc.get("schemaVersion") != 2 or doc.get("mediaType", IMAGE_MANIFEST) not in (
        IMAGE_MANIFEST,
        DOCKER_MANIFEST,
    ):
        raise BundleFormatError("registry: the base is not an image manifest (OCI or Docker schema 2)")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise BundleFormatError("registry: the base image lists no layers")
    config = parse_descriptor(doc.get("config"), "base config")
    return BaseImage(
        _as_oci(config),
        tuple(_as_oci(parse_descriptor(d, f"base layer {i}")) for i, d in enumerate(layers)),
    )


def _as_oci(d: Descriptor) -> Descriptor:
    return Descriptor(_AS_OCI.get(d.media_type, d.media_type), d.digest, d.size, d.annotations)


def image_config(base_config: bytes, layer_digest: str, created: str, label: str) -> bytes:
    """The base's config with the model layer appended to its root filesystem and history."""
    doc = load_json(base_config, "base image config")
    rootfs = doc.get("rootfs")
    if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
        raise BundleFormatError("registry: the base image config has no rootfs.diff_ids")
    rootfs["diff_ids"] = [*rootfs["diff_ids"], layer_digest]
    held = doc.get("history")
    history: list[Any] = held if isinstance(held, list) else []
    doc["history"] = [
        *history,
        {"created": created, "created_by": "vault publish --modelcar", "comment": label},
    ]
    return canonical_json(doc)


def image_manifest(
    base: BaseImage, config: Descriptor, layer: Descriptor, annotations: dict[str, str]
) -> Document:
    doc = {
        "schemaVersion": 2,
        "mediaType": IMAGE_MANIFEST,
        "config": config.to_json(),
        "layers": [d.to_json() for d in (*base.layers, layer)],
        "annotations": annotations,
    }
    return Document(canonical_json(doc), IMAGE_MANIFEST)


def write_layer(
    out: Path, blobs: Path, files: list[tuple[str, str, int]], signed: list[tuple[str, bytes]]
) -> Descriptor:
    """The model's files under `models/` and its signed set under `models/.vault/`, from the store."""
    with open(out, "wb") as fh:
        sink = FileTarSink(fh, digest=True)
        tar = TarWriter(sink)
        for path, sha, size in files:
            tar.add_blob(f"{MODELS_DIR}/{path}", blobs, sha, size, NoProgress())
        for name, raw in signed:
            tar.add_bytes(f"{MODELS_DIR}/{SIGNED_DIR}/{name}", raw)
        tar.close()
    assert sink.sha256 is not None
    return Descriptor(OCI_LAYER, f"sha256:{sink.sha256.hexdigest()}", sink.size)
