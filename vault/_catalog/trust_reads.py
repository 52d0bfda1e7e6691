"""The trust entries and quorum rules as the verifier reads them, over any `CatalogReader`.

Apart from `reads` because building a `TrustPolicy` loads the signature
code (cryptography), which `vault list` and `vault show` never need.
"""

from __future__ import annotations

import json

from vault._catalog.reader import CatalogReader
from vault._clock import utc_now
from vault._signing.entries import TrustEntry
from vault._signing.trust import TrustPolicy

_ENTRIES = """
SELECT name, public_key_pem, fingerprint, scopes, expires_at, kind, identity, issuer, trusted_root,
each_identity_counts FROM trust_entries ORDER BY name
"""


def trust_entries(reader: CatalogReader) -> list[TrustEntry]:
    return [
        TrustEntry(
            name, bytes(pem), fingerprint, tuple(json.loads(scopes)), expires_at, kind, identity, issuer,
            bytes(root) if root is not None else None, bool(each),
        )
        for name, pem, fingerprint, scopes, expires_at, kind, identity, issuer, root, each
        in reader.rows(_ENTRIES)
    ]  # fmt: skip


def trust_quorums(reader: CatalogReader) -> dict[str, int]:
    rows = reader.rows("SELECT scope, required FROM trust_quorums ORDER BY scope")
    return {scope: int(required) for scope, required in rows}


def trust_policy(reader: CatalogReader) -> TrustPolicy:
    return TrustPolicy(trust_entries(reader), trust_quorums(reader), utc_now())
