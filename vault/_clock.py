"""The one way vault writes a time: UTC, whole seconds, `Z` (what statements, rows and policies compare)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
