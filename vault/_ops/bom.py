"""`vault bom REF`: a CycloneDX ML-BOM of one catalogued revision, for an auditor's tools.

The model is a `machine-learning-model` component whose sub-components are
its files, each with its sha256 and blake3 as stored; the licence comes from
the model card (README.md front matter) where it names one; the Hub source,
the signed provenance and every signature are external references, the
statements named by the sha256 of their Sigstore bundles (`vault provenance
REF --format in-toto` exports those very files, so the digests can be
checked). Built with cyclonedx-python-lib and checked with its own schema
validator before it is handed out: an invalid BOM is a vault bug, never
output. The same catalog state gives the same bytes: the serial number is
derived from repo@commit and the timestamp is the signed fetch time.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vault._hashing import sha256_hex
from vault._reads.evidence import revision_evidence
from vault._statements.refs import Ref
from vault.errors import VaultError
from vault.results import MlBom
from vault.version import __version__

if TYPE_CHECKING:
    from vault._home import Home
    from vault.reports import RevisionDetail

MODEL_CARD = "README.md"
MAX_MODEL_CARD = 1 << 20
SERIAL_NAMESPACE = uuid.UUID("6f1c2a52-3f0e-5b7e-9d0c-7661756c7400")  # vault's own namespace for uuid5


def build_bom(vault: Home, ref: Ref) -> MlBom:
    from cyclonedx.model import (
        ExternalReference,
        ExternalReferenceType,
        HashAlgorithm,
        HashType,
        Property,
        XsUri,
    )
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    evidence = vault.read(lambda r: revision_evidence(r, ref, vault.store))
    detail, prov = evidence.detail, evidence.provenance
    label = f"{detail.repo_id}@{detail.commit}"
    licence = _model_card_license(vault, detail)
    checks = {f.path: f.check for f in prov.files}
    files = [
        Component(
            type=ComponentType.FILE, name=f.path, bom_ref=f"file:{f.path}",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=f.sha256),
                    HashType(alg=HashAlgorithm.BLAKE3, content=f.blake3)],
            properties=[Property(name="vault:size", value=str(f.size)),
                        Property(name="vault:check", value=checks.get(f.path, "hashed-locally")),
                        *([Property(name="vault:runs_code", value=f.runs_code)] if f.runs_code else [])],
        )
        for f in detail.files
    ]  # fmt: skip
    refs = []
    source = prov.source
    if source.get("type") == "hub" and isinstance(source.get("endpoint"), str):
        url = f"{source['endpoint']}/{detail.repo_id}/tree/{detail.commit}"
        refs.append(ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=XsUri(url),
                                      comment=f"Hub source, commit {detail.commit}"))  # fmt: skip
    for st in evidence.statements:
        digest = sha256_hex(st.raw)
        kind = {"model": "OMS v1.0 model signature", "provenance": "signed provenance (SLSA v1)",
                "upstream": "publisher's OMS signature"}.get(st.kind, st.kind)  # fmt: skip
        is_provenance = st.kind == "provenance"
        ref_type = (
            ExternalReferenceType.ATTESTATION if is_provenance else ExternalReferenceType.DIGITAL_SIGNATURE
        )
        refs.append(ExternalReference(
            type=ref_type, url=XsUri(f"urn:vault:{st.kind}.sig:sha256:{digest}"),
            comment=f"{kind}, {st.method} {st.key[:16]}, admitted by trust entry {st.signer}",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=digest)],
        ))  # fmt: skip
    properties = [
        Property(name="vault:status", value=detail.status),
        Property(name="vault:fetched_at", value=prov.fetched_at),
        Property(name="vault:source", value=str(source.get("type", "unknown"))),
        Property(name="vault:commit_source", value=prov.commit_source or "unrecorded"),
        *(Property(name="vault:ref", value=r) for r in detail.refs),
        *(Property(name="vault:imported", value=f"bundle {i.index_sha256} at {i.imported_at} by {i.operator}")
          for i in evidence.imports),
    ]  # fmt: skip
    model = Component(
        type=ComponentType.MACHINE_LEARNING_MODEL, name=detail.repo_id, version=detail.commit,
        bom_ref=f"model:{label}", components=files, external_references=refs, properties=properties,
        licenses=[_licence(licence)] if licence else [],
    )  # fmt: skip
    bom = Bom(serial_number=uuid.uuid5(SERIAL_NAMESPACE, label))
    bom.metadata.timestamp = _when(prov.fetched_at)
    bom.metadata.component = model
    bom.metadata.properties.add(Property(name="vault:version", value=__version__))
    text = JsonV1Dot6(bom).output_as_string(indent=2)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise VaultError(f"{label}: the ML-BOM does not validate against CycloneDX 1.6 ({error})")
    return MlBom(detail.repo_id, detail.commit, "1.6", text, 1 + len(files), licence)


def _licence(value: str) -> Any:  # a cyclonedx licence object, imported lazily
    from cyclonedx.contrib.license.factories import LicenseFactory

    return LicenseFactory().make_from_string(value)


def _when(fetched_at: str) -> datetime:
    return datetime.strptime(fetched_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _model_card_license(vault: Home, detail: RevisionDetail) -> str | None:
    """The model card's `license:`, through huggingface_hub's own card parser; None if it has none."""
    sha = next((f.sha256 for f in detail.files if f.path == MODEL_CARD), None)
    if sha is None:
        return None
    try:
        with open(vault.store.blob_path(sha), "rb") as fh:
            text = fh.read(MAX_MODEL_CARD).decode("utf-8", errors="replace")
        from huggingface_hub import ModelCard

        card = ModelCard(text, ignore_metadata_errors=True).data
        value = card.get("license")
    except (OSError, ValueError):
        return None
    return value if isinstance(value, str) and value else None
