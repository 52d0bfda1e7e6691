"""What state a catalogued revision is in, and the one wording every view uses for it.

Standard library only: the resolver's fast path uses it.
"""

from __future__ import annotations

import enum


class RevisionStatus(enum.StrEnum):
    AVAILABLE = "available"
    REVOKED = "revoked"  # a signed revocation: never resolves again
    DAMAGED = "damaged"  # scrub found a stored file changed or missing, until an import repairs it


AVAILABLE = RevisionStatus.AVAILABLE.value
REVOKED = RevisionStatus.REVOKED.value
DAMAGED = RevisionStatus.DAMAGED.value


def unavailable_message(
    ref: str, commit: str, status: str, revocations: tuple[tuple[str, str, str], ...] = ()
) -> str:
    """Why a catalogued revision is not handed out; one wording for every view.

    `revocations` are (reason, signer, revoked_at) of the signed revocations:
    whoever is refused a revoked model is told why, and by whom.
    """
    if status == DAMAGED:
        return (
            f"{ref}: revision {commit} is damaged (vault scrub found a stored file changed or missing); "
            "import a bundle that carries it to repair it"
        )
    if status == REVOKED and revocations:
        why = "; ".join(f"revoked by {signer} on {at[:10]}: {reason}" for reason, signer, at in revocations)
        return f"{ref}: revision {commit} is revoked ({why})"
    return f"{ref}: revision {commit} is {status}"
