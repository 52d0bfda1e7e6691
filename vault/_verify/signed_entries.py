"""Reading a bundle's signed part: the index and every signature entry, before any blob.

Bundle I/O only, no catalog and no trust decision: what comes out is bytes
(`SignedEntries`), for `metadata.check_signed` to judge.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from vault._bundle.index import INDEX_NAME, MAX_INDEX_BYTES, BundleIndex, parse_index
from vault._bundle.reader import BundleReader, Entry
from vault._signing.dsse import MAX_SIGNATURE_BYTES, MAX_SIGNATURE_TOTAL, parse_bundle
from vault.errors import BundleFormatError


@dataclass(frozen=True)
class SignedEntries:
    index: BundleIndex
    raw_index: bytes
    raws: dict[str, bytes]  # entry name -> signature (or carried trusted root) bytes
    parts: int
    pending: Entry | None  # the first blob entry, already taken from the stream


def _read_entry(entry: Entry, cap: int) -> bytes:
    if entry.size > cap:
        raise BundleFormatError(
            f"bundle entry {entry.name!r}: {entry.size} bytes exceeds the {cap}-byte limit"
        )
    data = entry.data.read(entry.size + 1)
    if len(data) != entry.size:
        raise BundleFormatError(f"bundle entry {entry.name!r}: truncated")
    return data


def read_signed(reader: BundleReader, entries: Iterator[Entry]) -> SignedEntries:
    """The index (first, capped) and every signature entry it names (capped, all before any blob)."""
    first = next(entries, None)
    if first is None or first.name != INDEX_NAME:
        reader.check_layout(None)
        raise BundleFormatError(f"bundle: first entry must be {INDEX_NAME}")
    raw_index = _read_entry(first, MAX_INDEX_BYTES)
    index = parse_index(raw_index)
    reader.check_layout(index.size)
    parts = max(len(reader.files.numbered), 1)
    if not index.revisions and not index.revocations:
        raise BundleFormatError(f"{INDEX_NAME}: carries no revisions")
    wanted = index.signature_entries()
    raws: dict[str, bytes] = {}
    held = 0
    pending: Entry | None = None
    for entry in entries:
        if entry.name not in wanted:
            pending = entry
            break
        held += entry.size
        if held > MAX_SIGNATURE_TOTAL:
            raise BundleFormatError(f"bundle: signature entries exceed {MAX_SIGNATURE_TOTAL} bytes in all")
        raws[entry.name] = _read_entry(entry, MAX_SIGNATURE_BYTES)
        if len(raws) == len(wanted):
            break
    missing = sorted(wanted - set(raws))
    if missing:
        raise BundleFormatError(f"bundle entry {missing[0]!r} is missing (signatures must precede blobs)")
    _check_structure(index, raws)
    return SignedEntries(index, raw_index, raws, parts, pending)


def _check_structure(index: BundleIndex, raws: dict[str, bytes]) -> None:
    for raw_name in sorted(index.signature_entries() - set(index.trusted_roots)):
        parse_bundle(raws[raw_name], raw_name)  # cheap structural check before any crypto


def signed_set(where: str, raw_index: bytes, index: BundleIndex, raws: dict[str, bytes]) -> SignedEntries:
    """A signed set read from elsewhere than a bundle's stream (a registry, a model directory's
    `.vault/`), each entry already capped at `MAX_SIGNATURE_BYTES` by its reader: exactly the
    entries the index names, within the total cap, each signature well-formed."""
    if sum(len(raw) for raw in raws.values()) > MAX_SIGNATURE_TOTAL:
        raise BundleFormatError(f"{where}: signature entries exceed {MAX_SIGNATURE_TOTAL} bytes in all")
    wanted = index.signature_entries()
    for name in sorted(wanted ^ set(raws)):
        state = "is missing" if name in wanted else "is not an entry the index names"
        raise BundleFormatError(f"{where}: signed-set entry {name!r} {state}")
    _check_structure(index, raws)
    return SignedEntries(index, raw_index, dict(raws), 1, None)
