"""The JSON documents vault writes to and reads from a registry, and their grammar.

What is published: one CNCF ModelPack manifest per revision (one raw layer per
file, its digest the file's sha256, its path in `org.cncf.model.filepath`),
and referrers of it (`subject`): each OMS model signature and each signed
provenance as a Sigstore bundle artifact, where `oras discover` and a
model-validation operator look for them, and one vault artifact carrying
everything a bundle's signed part carries (the unsigned index, every
signature, revocation and carried trusted root), so a registry can stand in
for a bundle.

What is read back is untrusted: the grammar here bounds it (sizes, digests,
names) and the verifier judges it as it judges a bundle.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from vault._statements.manifest import canonical_json
from vault._statements.paths import check_relpath
from vault.errors import BundleFormatError, UsageError

IMAGE_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
IMAGE_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
EMPTY_JSON = b"{}"

MODEL_ARTIFACT = "application/vnd.cncf.model.manifest.v1+json"
MODEL_CONFIG = "application/vnd.cncf.model.config.v1+json"
WEIGHT = "application/vnd.cncf.model.weight.v1.raw"
WEIGHT_CONFIG = "application/vnd.cncf.model.weight.config.v1.raw"
DOC = "application/vnd.cncf.model.doc.v1.raw"
CODE = "application/vnd.cncf.model.code.v1.raw"
MODEL_LAYERS = (WEIGHT, WEIGHT_CONFIG, DOC, CODE)
FILEPATH = "org.cncf.model.filepath"
TITLE = "org.opencontainers.image.title"

SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
VAULT_SIGNED = "application/vnd.vault.bundle.signed.v1+json"
VAULT_INDEX = "application/vnd.vault.bundle.index.v1+json"
VAULT_ENTRY = "application/vnd.vault.bundle.entry.v1"
PREDICATE = "dev.sigstore.bundle.predicateType"
OMS_PREDICATE = "https://model_signing/signature/v1.0"
SLSA_PREDICATE = "https://slsa.dev/provenance/v1"

# Inside a model directory a node checks (and a modelcar's /models): the signed set, never a model file.
SIGNED_DIR = ".vault"
MAX_MANIFEST_BYTES = 4 << 20  # distribution's own limit is 4 MiB
MAX_LAYERS = 40_000
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")

_WEIGHT_SUFFIXES = (
    ".safetensors", ".bin", ".gguf", ".onnx", ".pt", ".pth", ".ckpt", ".h5", ".keras",
    ".msgpack", ".ot", ".npz", ".npy", ".tflite", ".pb", ".mlmodel", ".pkl",
)  # fmt: skip
_DOC_SUFFIXES = (".md", ".txt", ".rst", ".pdf")


def digest_of(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str  # sha256:<hex>
    size: int
    annotations: tuple[tuple[str, str], ...] = ()
    artifact_type: str | None = None

    @property
    def sha256(self) -> str:
        return self.digest.removeprefix("sha256:")

    def annotation(self, key: str) -> str | None:
        return dict(self.annotations).get(key)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            doc["annotations"] = dict(self.annotations)
        if self.artifact_type:
            doc["artifactType"] = self.artifact_type
        return doc


@dataclass(frozen=True)
class Document:
    """A manifest or index as bytes, with the descriptor that names it."""

    raw: bytes
    media_type: str

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, digest_of(self.raw), len(self.raw))


def layer_media_type(path: str) -> str:
    """ModelPack's layer kind for a file, by its name: a label for ModelPack clients only (vault judges
    every file by its bytes on the way in, never by this)."""
    name = path.rsplit("/", 1)[-1].lower()
    if name.endswith(_WEIGHT_SUFFIXES):
        return WEIGHT
    if name.endswith(".py"):
        return CODE
    if name.endswith(_DOC_SUFFIXES) or name.startswith(("readme", "license", "notice")):
        return DOC
    return WEIGHT_CONFIG


def model_layers(files: list[tuple[str, str, int]]) -> list[Descriptor]:
    return [
        Descriptor(layer_media_type(path), f"sha256:{sha}", size, ((FILEPATH, path), (TITLE, path)))
        for path, sha, size in files
    ]


def model_config(repo_id: str, commit: str, created: str, layers: list[Descriptor]) -> bytes:
    return canonical_json(
        {
            "descriptor": {"name": repo_id, "revision": commit, "createdAt": created},
            "config": {},
            "modelfs": {"type": "layers", "diffIds": [d.digest for d in layers]},
        }
    )


def image_manifest(
    artifact_type: str,
    config: Descriptor,
    layers: list[Descriptor],
    annotations: dict[str, str],
    subject: Descriptor | None = None,
) -> Document:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": IMAGE_MANIFEST,
        "artifactType": artifact_type,
        "config": config.to_json(),
        "layers": [d.to_json() for d in layers],
    }
    if annotations:
        doc["annotations"] = annotations
    if subject is not None:
        doc["subject"] = subject.to_json()
    return Document(canonical_json(doc), IMAGE_MANIFEST)


def empty_config() -> Descriptor:
    return Descriptor(EMPTY_CONFIG, digest_of(EMPTY_JSON), len(EMPTY_JSON))


def referrers_index(descriptors: list[Descriptor]) -> Document:
    """The referrers list for the tag-scheme fallback (`sha256-<hex>`), as the referrers API answers."""
    doc = {"schemaVersion": 2, "mediaType": IMAGE_INDEX, "manifests": [d.to_json() for d in descriptors]}
    return Document(canonical_json(doc), IMAGE_INDEX)


def fallback_tag(digest: str) -> str:
    return digest.replace(":", "-")


@dataclass(frozen=True)
class Manifest:
    """A parsed image manifest (untrusted)."""

    artifact_type: str | None
    config: Descriptor
    layers: tuple[Descriptor, ...]
    subject: Descriptor | None
    annotations: tuple[tuple[str, str], ...]


def load_json(raw: bytes, what: str) -> dict[str, Any]:
    """A JSON object the registry served, capped; one line for anything else."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleFormatError(f"registry: {what} exceeds {MAX_MANIFEST_BYTES} bytes")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BundleFormatError(f"registry: {what} is not JSON") from None
    if not isinstance(doc, dict):
        raise BundleFormatError(f"registry: {what} is not an object")
    return doc


def _load(raw: bytes, what: str) -> dict[str, Any]:
    doc = load_json(raw, what)
    if doc.get("schemaVersion") != 2:
        raise BundleFormatError(f"registry: {what} is not an OCI document (schemaVersion 2)")
    return doc


def _annotations(value: object, what: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise BundleFormatError(f"registry: {what}: annotations must map strings to strings")
    return tuple(sorted(value.items()))


def parse_descriptor(value: object, what: str) -> Descriptor:
    if not isinstance(value, dict):
        raise BundleFormatError(f"registry: {what} is not a descriptor")
    media, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(media, str) or not 0 < len(media) <= 255:
        raise BundleFormatError(f"registry: {what}: bad media type")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise BundleFormatError(f"registry: {what}: the digest must be sha256 (64 lowercase hex digits)")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BundleFormatError(f"registry: {what}: bad size {size!r}")
    artifact = value.get("artifactType")
    if artifact is not None and not isinstance(artifact, str):
        raise BundleFormatError(f"registry: {what}: bad artifact type")
    return Descriptor(media, digest, size, _annotations(value.get("annotations"), what), artifact)


def parse_manifest(raw: bytes, media_type: str | None = None) -> Manifest:
    doc = _load(raw, "manifest")
    if doc.get("mediaType", media_type) != IMAGE_MANIFEST:
        raise BundleFormatError(
            f"registry: manifest media type {doc.get('mediaType', media_type)!r} is not {IMAGE_MANIFEST}"
        )
    layers = doc.get("layers")
    if not isinstance(layers, list) or len(layers) > MAX_LAYERS:
        raise BundleFormatError(f"registry: manifest layers must be a list of at most {MAX_LAYERS}")
    artifact = doc.get("artifactType")
    if artifact is not None and not isinstance(artifact, str):
        raise BundleFormatError("registry: manifest: bad artifact type")
    subject = doc.get("subject")
    return Manifest(
        artifact,
        parse_descriptor(doc.get("config"), "manifest config"),
        tuple(parse_descriptor(d, f"layer {i}") for i, d in enumerate(layers)),
        None if subject is None else parse_descriptor(subject, "manifest subject"),
        _annotations(doc.get("annotations"), "manifest"),
    )


def parse_index(raw: bytes) -> list[Descriptor]:
    """The manifests an image index lists (the referrers API's answer, or the fallback tag's)."""
    doc = _load(raw, "referrers index")
    manifests = doc.get("manifests")
    if doc.get("mediaType", IMAGE_INDEX) != IMAGE_INDEX or not isinstance(manifests, list):
        raise BundleFormatError("registry: referrers list is not an OCI image index")
    if len(manifests) > MAX_LAYERS:
        raise BundleFormatError(f"registry: more than {MAX_LAYERS} referrers")
    return [parse_descriptor(d, f"referrer {i}") for i, d in enumerate(manifests)]


def model_files(manifest: Manifest) -> list[tuple[str, str, int]]:
    """(path, sha256, size) of each file of a ModelPack manifest, refusing a path outside the grammar."""
    if manifest.artifact_type != MODEL_ARTIFACT:
        raise BundleFormatError(f"registry: not a ModelPack model (artifact type {manifest.artifact_type!r})")
    files = []
    for layer in manifest.layers:
        path = layer.annotation(FILEPATH)
        if path is None:
            raise BundleFormatError(f"registry: layer {layer.digest} carries no {FILEPATH}")
        try:
            check_relpath(path, "layer path")
        except UsageError as exc:
            raise BundleFormatError(f"registry: {exc}") from None
        files.append((path, layer.sha256, layer.size))
    return files


def modelpack_manifest(
    repo_id: str, commit: str, created: str, files: list[tuple[str, str, int]]
) -> tuple[Document, bytes]:
    """The ModelPack manifest (and its config blob) vault publishes for a revision: a pure function
    of what the revision's signed statements say, so a reader can rebuild it and compare."""
    layers = model_layers(sorted(files))
    config = model_config(repo_id, commit, created, layers)
    annotations = {
        "org.opencontainers.image.title": repo_id,
        "org.opencontainers.image.revision": commit,
        "org.opencontainers.image.created": created,
    }
    config_desc = Descriptor(MODEL_CONFIG, digest_of(config), len(config))
    return image_manifest(MODEL_ARTIFACT, config_desc, layers, annotations), config


def in_signed_dir(path: str) -> bool:
    return path == SIGNED_DIR or path.startswith(f"{SIGNED_DIR}/")


def check_node_paths(label: str, paths: list[str]) -> None:
    """A model with a file under `.vault/` could never be checked on a node (that folder holds the
    signed set there): refused before it is published or judged."""
    for path in sorted(paths):
        if in_signed_dir(path):
            raise UsageError(
                f"{label}: {path} is under {SIGNED_DIR}/, where a node keeps the signed set; "
                "this revision cannot be published for nodes"
            )
