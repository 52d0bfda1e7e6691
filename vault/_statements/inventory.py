"""Inventory receipts: what an air-gapped vault holds, signed by its site key.

The air-gapped side sends one back (on the same media, the other way) so the
connected side can leave out of the next bundle every blob the far side
already has. A receipt can only make a bundle smaller: the importer still
takes each left-out blob from its own store or refuses, so a forged or stale
receipt costs an import, never its integrity. It is verified all the same,
under a trust entry kept for receipts, because a bundle built on a wrong
receipt is a wasted trip across the gap.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from vault._hashing import sha256_hex
from vault._statements.manifest import STATEMENT_TYPE, canonical_json
from vault.errors import TrustError

INVENTORY_PREDICATE_TYPE = "urn:vault:inventory:v1"
SUBJECT_NAME = "vault-inventory"
# A trust entry with this scope admits receipts and nothing else: no repo id can match it,
# and a model key trusted for '*' does not vouch for receipts (matched literally, not as a glob).
RECEIPTS_SCOPE = "@receipts"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _is_sha256(value: object) -> bool:
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


@dataclass(frozen=True)
class Inventory:
    created_at: str
    revisions: tuple[str, ...]  # repo@commit, sorted
    blobs: frozenset[str]  # sha256 of every intact stored blob


def build_inventory(inv: Inventory) -> bytes:
    blobs = sorted(inv.blobs)  # digests only: a receipt must fit one signature (8 MiB, ~90,000 blobs)
    return canonical_json(
        {
            "_type": STATEMENT_TYPE,
            # The subject binds the blob list, so the statement says what it lists even out of context.
            "subject": [{"name": SUBJECT_NAME, "digest": {"sha256": sha256_hex(canonical_json(blobs))}}],
            "predicateType": INVENTORY_PREDICATE_TYPE,
            "predicate": {"created_at": inv.created_at, "revisions": sorted(inv.revisions), "blobs": blobs},
        }
    )


def parse_inventory(payload: bytes, origin: str) -> Inventory:
    try:
        stmt = json.loads(payload)
        if stmt["_type"] != STATEMENT_TYPE or stmt["predicateType"] != INVENTORY_PREDICATE_TYPE:
            raise ValueError("not a vault inventory receipt")
        pred = stmt["predicate"]
        listed = pred["blobs"]
        if not isinstance(listed, list) or not all(
            isinstance(b, str) and _SHA256.fullmatch(b) for b in listed
        ):
            raise ValueError("blobs must be a list of sha256 digests")
        blobs = frozenset(listed)
        (subject,) = stmt["subject"]
        if subject != {"name": SUBJECT_NAME, "digest": {"sha256": sha256_hex(canonical_json(pred["blobs"]))}}:
            raise ValueError("subject does not match the blob list")
        revisions = tuple(str(r) for r in pred["revisions"])
        created_at = str(pred["created_at"])
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise TrustError(f"{origin}: malformed inventory receipt ({exc})") from None
    return Inventory(created_at, revisions, blobs)
