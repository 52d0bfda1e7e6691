"""One error hierarchy, so callers (and the CLI) catch a single base class.

Each subclass maps to one exit code. Rejections of untrusted input are the
`VerificationError` family: they all mean "the bundle or folder was refused"
and exit 1, whatever the specific cause.
"""

from __future__ import annotations

# The first step an import needs, said wherever an import meets a vault that trusts nobody yet.
TRUST_FIRST = "trust the signer first: vault trust add NAME --key SIGNER.pub.pem --scope 'ORG/*'"


class VaultError(Exception):
    """Base class of every error vault raises on purpose.

    `kind` is the stable name scripts match on in `--json` error objects; the
    message is for people and may change.
    """

    exit_code = 5
    kind = "failure"


class VerificationError(VaultError):
    """Untrusted input was refused: nothing was written."""

    exit_code = 1
    kind = "verification"


class TrustError(VerificationError):
    """A signature is missing, invalid, or made by a key the policy does not trust."""

    kind = "trust"


class IntegrityError(VerificationError):
    """Content does not match what the signed statements declare."""

    kind = "integrity"


class BundleFormatError(VerificationError):
    """The bundle container breaks the entry grammar or the index rules."""

    kind = "bundle_format"


class UnsafeContentError(VerificationError):
    """A file is of a kind vault refuses to admit (links, devices, bad weights)."""

    kind = "unsafe_content"


class UsageError(VaultError):
    """The command was called wrongly (bad REF, bad option value)."""

    exit_code = 2
    kind = "usage"


class NotFoundError(VaultError):
    """A model, revision, ref, trust entry or file does not exist."""

    exit_code = 3
    kind = "not_found"


class ConflictError(VaultError):
    """The request contradicts the vault's state (e.g. a name already taken)."""

    exit_code = 4
    kind = "conflict"


class AccessDeniedError(VaultError):
    """The Hub refused the credentials (or their absence) for this repository."""

    exit_code = 6
    kind = "access_denied"


class NetworkError(VaultError):
    """The Hub could not be reached, or a transfer failed part-way."""

    exit_code = 7
    kind = "network"


class HomeNotWritableError(VaultError):
    """A command that writes was run on a home this user may only read (another owner, a ro mount)."""

    kind = "home_not_writable"


class CatalogUnavailableError(VaultError):
    """The catalog database cannot be opened or reached (a down PostgreSQL, an unreadable file)."""

    kind = "catalog_unavailable"
