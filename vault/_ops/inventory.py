"""`vault inventory` (air side) writes a signed receipt; `vault bundle --have` (connected side) reads one.

See `_statements.inventory` for why a receipt is safe to act on and still
verified.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from vault import _audit as audit
from vault._catalog.reader import CatalogReader
from vault._catalog.trust_reads import trust_entries
from vault._clock import utc_now
from vault._durable import sync_dir
from vault._hashing import sha256_hex
from vault._output_paths import output_file
from vault._regular_files import read_given_file
from vault._signing.dsse import MAX_SIGNATURE_BYTES, parse_bundle
from vault._signing.trust import TrustPolicy
from vault._statements.inventory import RECEIPTS_SCOPE, Inventory, build_inventory, parse_inventory
from vault.errors import TrustError, UsageError
from vault.results import InventoryWritten, ReceiptAccepted
from vault.status import AVAILABLE

if TYPE_CHECKING:
    from vault._home import Home
    from vault._signing.signer import Signer


def _holdings(reader: CatalogReader) -> tuple[list[str], list[tuple[str, int]]]:
    revisions = reader.rows(
        'SELECT m.repo_id, r."commit" FROM revisions r JOIN models m ON m.id = r.model_id '
        'WHERE r.status = :status ORDER BY m.repo_id, r."commit"',
        {"status": AVAILABLE},
    )
    blobs = reader.rows("SELECT sha256, size FROM blobs WHERE damage IS NULL ORDER BY sha256")
    return [f"{repo}@{commit}" for repo, commit in revisions], [(sha, int(size)) for sha, size in blobs]


def write_inventory(vault: Home, signer: Signer, out: Path) -> InventoryWritten:
    """Sign what this vault holds intact: a blob scrub found damaged, or that is gone, is left out."""
    out = output_file(out)
    with vault.writer_lock():
        revisions, rows = vault.read(_holdings)
        blobs = frozenset(sha for sha, size in rows if vault.store.has_blob_of_size(sha, size))
        statement = build_inventory(Inventory(utc_now(), tuple(revisions), blobs))
        raw = signer.sign(statement)
        if len(raw) > MAX_SIGNATURE_BYTES:
            raise UsageError(f"{out}: a receipt of {len(blobs)} blobs exceeds {MAX_SIGNATURE_BYTES} bytes")
        write_atomically(out, raw)
        with vault.write() as w:
            s = w.session
            audit.record(s, "inventory", str(out), receipt_sha256=sha256_hex(raw), blobs=len(blobs),
                         revisions=len(revisions), key=signer.fingerprint)  # fmt: skip
    return InventoryWritten(str(out), len(revisions), len(blobs), signer.label)


def read_receipt(vault: Home, path: Path) -> ReceiptAccepted:
    """A receipt's blobs, once a trust entry for receipts admits its signature; else a TrustError."""
    raw = read_given_file(path, MAX_SIGNATURE_BYTES, "receipt")
    origin = str(path)
    parse_bundle(raw, origin)  # size and shape, before any key is tried
    entries = [e for e in vault.read(trust_entries) if RECEIPTS_SCOPE in e.scopes]
    if not entries:
        raise TrustError(
            f"{origin}: no key is trusted for receipts here "
            f"(vault trust add SITE --key SITE.pub.pem --scope '{RECEIPTS_SCOPE}')"
        )
    verified = TrustPolicy(entries, now=utc_now()).verify(raw, RECEIPTS_SCOPE, origin)
    inventory = parse_inventory(verified.payload, origin)
    return ReceiptAccepted(origin, verified.signer.name, inventory.created_at, inventory.blobs)


def write_atomically(out: Path, raw: bytes) -> None:
    out = out.absolute()
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_dir(out.parent)
