"""What the catalog records of stored blobs, for a delta import's left-out blobs.

Apart from `reads`, which `vault path` loads on every call: this builds a
result type that path never needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from vault._catalog.reader import CatalogReader


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    blake3: str
    git_sha1: str | None
    damage: str | None


def stored_blobs(reader: CatalogReader, digests: list[str]) -> dict[str, StoredBlob]:
    """The catalog's record of each blob in `digests` it holds (a delta bundle's omitted blobs)."""
    found: dict[str, StoredBlob] = {}
    for sha in digests:
        rows = reader.rows(
            "SELECT sha256, size, blake3, git_sha1, damage FROM blobs WHERE sha256 = :sha", {"sha": sha}
        )
        if rows:
            sha256, size, blake3, git_sha1, damage = rows[0]
            found[sha] = StoredBlob(sha256, int(size), blake3, git_sha1, damage)
    return found
