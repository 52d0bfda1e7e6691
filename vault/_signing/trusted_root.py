"""What an operator must know about a pinned Sigstore trusted root: its digest and when it runs out.

The root is the offline verifier's only anchor, and in an air gap nothing
refreshes it (there is no TUF update), so a root whose certificate
authorities or logs have all expired will one day refuse every new
signature. `vault trust add` and `vault trust list` say so ahead of time.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

# Each part of a trusted root, and where its keys' validity windows are.
_PARTS = {
    "certificateAuthorities": ("certificate authority", ("validFor",)),
    "tlogs": ("transparency log", ("publicKey", "validFor")),
    "ctlogs": ("certificate transparency log", ("publicKey", "validFor")),
}
NEAR_EXPIRY = timedelta(days=90)


def root_sha256(raw: bytes) -> str:
    """What the pin is: the exact bytes `vault trust add --trusted-root` stored."""
    return hashlib.sha256(raw).hexdigest()


def content_digest(raw: bytes) -> str | None:
    """What two copies of one root share whatever their whitespace or key order; None if not JSON.

    The pin is the exact bytes (`root_sha256`), but "is the bundle's root the
    pinned one?" is a question about content: an operator who pinned a
    re-indented copy pinned the same root.
    """
    from vault._statements.manifest import canonical_json

    try:
        return hashlib.sha256(canonical_json(json.loads(raw))).hexdigest()
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _end(item: object, path: tuple[str, ...]) -> datetime | None:
    node = item
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    end = node.get("end") if isinstance(node, dict) else None
    return _time(end) if isinstance(end, str) else None  # no end: valid until the root is replaced


def expiry_warnings(raw: bytes, now: datetime) -> list[str]:
    """One line per part of the root whose every key has expired or expires within NEAR_EXPIRY."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return ["the trusted root is not JSON"]
    warnings = []
    for part, (role, path) in _PARTS.items():
        items = doc.get(part) if isinstance(doc, dict) else None
        if not isinstance(items, list) or not items:
            warnings.append(f"the trusted root has no {role}")
            continue
        ends = [_end(item, path) for item in items]
        if any(end is None for end in ends):
            continue
        last = max(e for e in ends if e is not None)
        if last <= now:
            warnings.append(f"every {role} key in the trusted root expired (the last on {last:%Y-%m-%d})")
        elif last - now < NEAR_EXPIRY:
            warnings.append(f"the last {role} key in the trusted root expires on {last:%Y-%m-%d}")
    return warnings
