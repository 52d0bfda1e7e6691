"""What the library returns: frozen dataclasses and enums, never bare dicts.

The CLI renders these, or with `--json` as `dataclasses.asdict` of
them, so the JSON field names are these field names. Free-form mappings
appear only where the data is a signed statement's own JSON (a provenance
source, what the Hub published, an audit event's detail).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from vault.errors import IntegrityError, VaultError

# The read-only reports live apart (see there why); they are results like the rest.
from vault.reports import (
    AuditEntry,
    AuditReport,
    FileInfo,
    ProvenanceFile,
    ProvenanceReport,
    RevisionDetail,
    RevisionSummary,
    RevocationInfo,
    SignatureInfo,
)


class ImportStatus(enum.StrEnum):
    """What one import did, most significant first (JSON and text show the value)."""

    IMPORTED = "imported"
    REPAIRED = "repaired"
    REVOCATIONS_APPLIED = "revocations-applied"
    REFS_MOVED = "refs-moved"
    ALREADY_IMPORTED = "already-imported"


class VerifyStatus(enum.StrEnum):
    VERIFIED = "verified"  # anything else is an exception


class AddStatus(enum.StrEnum):
    ADDED = "added"
    UNCHANGED = "unchanged"  # the revision was already here with the same files


@dataclass(frozen=True)
class RevisionAdded:
    """`vault add` and `vault pull`."""

    repo_id: str
    commit: str
    refs: list[str]
    files: int
    bytes: int
    status: AddStatus


@dataclass(frozen=True)
class SignResult:
    repo_id: str
    commit: str
    key: str  # the signing key's fingerprint (OMS key hint); for Sigstore, the identity's (see trust list)
    written: list[str]  # model.sig / provenance.sig written with --out
    signer: str = ""  # how it was signed, for people: "key …", "certificate …", "Sigstore identity …"


@dataclass(frozen=True)
class RootReplaced:
    """`vault trust replace-root`: which pinned Sigstore root gave way to which."""

    name: str
    old_sha256: str
    new_sha256: str
    changed: bool  # False: that root was already pinned, and nothing was recorded


@dataclass(frozen=True)
class RevokeResult:
    repo_id: str
    commit: str
    reason: str
    key: str


@dataclass(frozen=True)
class BundleResult:
    bundle: str
    parts: list[str]
    revisions: list[str]
    revocations: int
    blobs: int
    bytes: int
    omitted_blobs: int = 0  # left out of a delta bundle: the far side already holds them
    omitted_bytes: int = 0
    parity: list[str] = field(default_factory=list)  # parity parts (--parity), beside the data parts


@dataclass(frozen=True)
class PublishedArtifact:
    """`vault publish oci://…`: where the revision went, and what had to travel."""

    reference: str  # oci://host/repo:tag
    digest: str  # the ModelPack manifest's sha256:… digest
    revision: str  # repo@commit
    uploaded_blobs: int
    uploaded_bytes: int
    reused_blobs: int  # already in the registry (an earlier revision, or an interrupted run)
    reused_bytes: int
    referrers: list[str]  # digests of the signature, provenance and vault referrers
    referrers_tag: str | None  # the fallback tag that lists them, where the registry lacks the API
    modelcar: str | None = None  # `--modelcar`: the image KServe runs (oci://…:TAG-modelcar)
    modelcar_digest: str | None = None


@dataclass(frozen=True)
class PolicyExported:
    """`vault trust export`: the trust policy as one signed file, for nodes without a catalog."""

    policy: str
    entries: int
    quorums: int
    revoked: int
    signer: str


@dataclass(frozen=True)
class NodeCheck:
    """`vault check`: a model directory or registry reference verified against a policy file."""

    source: str
    revision: str  # repo@commit, as the signed statements name it
    files: int
    bytes: int
    signers: list[str]
    written_to: str | None = None  # `--into`: where the verified files now are


@dataclass(frozen=True)
class InventoryWritten:
    """`vault inventory`: the signed receipt of what this vault holds intact."""

    receipt: str
    revisions: int
    blobs: int
    signer: str


@dataclass(frozen=True)
class ReceiptAccepted:
    """A receipt `vault bundle --have` verified: who signed it, when, and the blobs it lists."""

    receipt: str
    signer: str  # the trust entry (scope @receipts) that admitted it
    created_at: str
    blobs: frozenset[str]


@dataclass(frozen=True)
class ImportRecord:
    """A bundle import that brought a revision: what the air-gapped side recorded."""

    index_sha256: str  # sha256 of the bundle's index: names the bundle
    parts: int
    operator: str
    imported_at: str


@dataclass(frozen=True)
class SignedStatement:
    """A signature as it was verified, its raw Sigstore bundle, for export and digests."""

    kind: str
    method: str
    signer: str  # the trust entry that admitted it ("self" where it was signed)
    key: str
    raw: bytes


@dataclass(frozen=True)
class RevisionEvidence:
    """Everything an auditor's views are built from (`bom`, `provenance --format in-toto`, the pages)."""

    detail: RevisionDetail
    provenance: ProvenanceReport
    statements: list[SignedStatement]
    imports: list[ImportRecord]


@dataclass(frozen=True)
class EvidenceExported:
    """`vault provenance --format in-toto`: the signed statements, as files, and the import attestation."""

    repo_id: str
    commit: str
    out: str
    files: list[str]  # names written in `out`
    import_signed: bool  # import.sig written (a site key was given)


@dataclass(frozen=True)
class MlBom:
    """`vault bom`: a CycloneDX ML-BOM of one revision, validated against the CycloneDX schema."""

    repo_id: str
    commit: str
    spec_version: str
    json: str  # the document, deterministic for the same catalog state
    components: int  # the model and its files
    license: str | None  # from the model card, where it names one


@dataclass(frozen=True)
class VerifyReport:
    status: VerifyStatus
    revisions: list[str]
    signers: list[str]
    revocations: list[str]
    blobs: int
    bytes: int
    notes: list[str] = field(default_factory=list)  # what the operator should know; not refusals


@dataclass(frozen=True)
class Finding:
    kind: str
    where: str
    detail: str


@dataclass(frozen=True)
class FsckCounts:
    blobs: int
    revisions: int


@dataclass(frozen=True)
class FsckReport:
    """`vault fsck`: problems make it fail; warnings (scratch, orphan blobs) are harmless."""

    problems: list[Finding]
    warnings: list[Finding]
    checked: FsckCounts
    clean: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "clean", not self.problems)

    def failure(self) -> VaultError | None:
        return (
            None
            if self.clean
            else IntegrityError(f"fsck: {len(self.problems)} inconsistencies (listed above)")
        )


@dataclass(frozen=True)
class DamagedBlob:
    sha256: str
    problem: str
    files: list[str]  # repo@commit:path using it


@dataclass(frozen=True)
class ScrubReport:
    checked: int
    bytes: int  # intact bytes
    damaged: list[DamagedBlob]
    recorded: bool  # False on a home this user cannot write: reported, not recorded
    withdrawn: list[str]  # revisions that stopped resolving
    restored: list[str]  # revisions that resolve again (a blob put back by hand)
    clean: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "clean", not self.damaged)

    def failure(self) -> VaultError | None:
        return (
            None
            if self.clean
            else IntegrityError(f"scrub: {len(self.damaged)} damaged blob(s) (listed above)")
        )


@dataclass(frozen=True)
class GcResult:
    dry_run: bool
    blobs: list[str]
    views: list[str]
    bytes: int


@dataclass(frozen=True)
class ImportResult:
    """What one `vault import` did. Every field is always there, whatever the outcome."""

    status: ImportStatus
    revisions: list[str]  # repo@commit newly catalogued
    already_present: list[str]  # repo@commit the vault held before
    refs_kept: list[str]  # repo@ref not moved back to an older fetch (no --allow-downgrade)
    refs_moved: list[str]  # repo@ref moved by this import
    revoked: list[str]  # repo@commit revoked by this import's revocations
    repaired: list[str]  # sha256 of damaged or missing store blobs rewritten from the bundle
    blobs: int  # blobs read, checked and stored
    bytes: int
    notes: list[str] = field(default_factory=list)  # e.g. a carried Sigstore root other than the pinned one
    reused: int = 0  # blobs a delta bundle left out, taken from this vault's store
    resumed: int = 0  # of `blobs`, those an interrupted import had verified: re-hashed, not re-read


@dataclass(frozen=True)
class RefMove:
    """`vault ref set`: where the ref pointed, where it points now, and whether that went back in time."""

    repo_id: str
    ref: str
    old_commit: str | None
    new_commit: str
    downgrade: bool


__all__ = [
    "AddStatus",
    "AuditEntry",
    "AuditReport",
    "BundleResult",
    "DamagedBlob",
    "EvidenceExported",
    "FileInfo",
    "Finding",
    "FsckCounts",
    "FsckReport",
    "GcResult",
    "ImportRecord",
    "ImportResult",
    "InventoryWritten",
    "MlBom",
    "ProvenanceFile",
    "ProvenanceReport",
    "ReceiptAccepted",
    "RefMove",
    "RevisionAdded",
    "RevisionDetail",
    "RevisionEvidence",
    "RevisionSummary",
    "RevocationInfo",
    "RevokeResult",
    "ScrubReport",
    "SignResult",
    "SignatureInfo",
    "SignedStatement",
    "VerifyReport",
]
