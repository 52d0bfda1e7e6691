"""vault: an air-gapped model artifact registry and verifier.

The public surface is what this module exports: `resolve()` (what inference
servers call), `open_vault()` and `Vault` (everything the CLI can do), the
typed results they return, and the errors they raise (one base class,
`VaultError`). `Vault` is imported lazily so that `import vault;
vault.resolve(...)` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vault.errors import (
    AccessDeniedError,
    BundleFormatError,
    CatalogUnavailableError,
    ConflictError,
    HomeNotWritableError,
    IntegrityError,
    NetworkError,
    NotFoundError,
    TrustError,
    UnsafeContentError,
    UsageError,
    VaultError,
    VerificationError,
)
from vault.version import __version__

if TYPE_CHECKING:
    from pathlib import Path

    from vault._checks.policy import ContentPolicy
    from vault._progress import Progress
    from vault._signing.entries import TrustEntry
    from vault._signing.sigstore_signing import SigstoreSigning
    from vault.api import Vault, check_model, keygen, open_vault, parse_size, read_password
    from vault.results import (
        AddStatus,
        AuditEntry,
        AuditReport,
        BundleResult,
        EvidenceExported,
        FsckReport,
        GcResult,
        ImportResult,
        ImportStatus,
        InventoryWritten,
        MlBom,
        NodeCheck,
        PolicyExported,
        ProvenanceReport,
        PublishedArtifact,
        RefMove,
        RevisionAdded,
        RevisionDetail,
        RevisionSummary,
        RevokeResult,
        RootReplaced,
        ScrubReport,
        SignResult,
        VerifyReport,
        VerifyStatus,
    )
    from vault.status import RevisionStatus

__all__ = [
    "AccessDeniedError",
    "AddStatus",
    "AuditEntry",
    "AuditReport",
    "BundleFormatError",
    "BundleResult",
    "CatalogUnavailableError",
    "ConflictError",
    "ContentPolicy",
    "EvidenceExported",
    "FsckReport",
    "GcResult",
    "HomeNotWritableError",
    "ImportResult",
    "ImportStatus",
    "IntegrityError",
    "InventoryWritten",
    "MlBom",
    "NetworkError",
    "NodeCheck",
    "NotFoundError",
    "PolicyExported",
    "Progress",
    "ProvenanceReport",
    "PublishedArtifact",
    "RefMove",
    "RevisionAdded",
    "RevisionDetail",
    "RevisionStatus",
    "RevisionSummary",
    "RevokeResult",
    "RootReplaced",
    "ScrubReport",
    "SignResult",
    "SigstoreSigning",
    "TrustEntry",
    "TrustError",
    "UnsafeContentError",
    "UsageError",
    "Vault",
    "VaultError",
    "VerificationError",
    "VerifyReport",
    "VerifyStatus",
    "__version__",
    "check_model",
    "keygen",
    "open_vault",
    "parse_size",
    "read_password",
    "resolve",
]

# Imported on first use: `vault path` and `vault.resolve()` pay for none of them.
_FROM_API = {"Vault", "open_vault", "keygen", "read_password", "parse_size", "check_model"}


def resolve(ref: str, home: Path | str | None = None, *, keep_connection: bool = True) -> Path:
    """Resolve ``org/name[@rev]`` to the directory of its verified files.

    A server keeps its read connection for the next call (`keep_connection`); a
    one-shot caller closes it. Raises `NotFoundError` (unknown, revoked or
    damaged: the message says which) and `CatalogUnavailableError`.

    Defined here, not re-exported, so that `import vault; vault.resolve(...)`
    costs one SQLite query and no heavy imports.
    """
    from vault._resolver import resolve as _resolve

    return _resolve(ref, home, keep_connection)


def __getattr__(name: str) -> Any:
    if name in _FROM_API:
        from vault import api

        return getattr(api, name)
    if name == "RevisionStatus":
        from vault.status import RevisionStatus

        return RevisionStatus
    if name == "ContentPolicy":
        from vault._checks.policy import ContentPolicy

        return ContentPolicy
    if name == "Progress":
        from vault._progress import Progress

        return Progress
    if name == "SigstoreSigning":
        from vault._signing.sigstore_signing import SigstoreSigning

        return SigstoreSigning
    if name == "TrustEntry":
        from vault._signing.entries import TrustEntry

        return TrustEntry
    if name in __all__:
        from vault import results

        return getattr(results, name)
    raise AttributeError(name)
