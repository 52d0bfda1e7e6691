"""What a delta bundle may leave out: the blobs the far side already holds.

Two ways to know: a signed receipt sent back across the gap (`--have`), or,
with no return channel (a one-way diode), the operator's word that an earlier
revision already crossed (`--base`). Either only decides what is left out;
the importer takes each left-out blob from its own store or refuses, naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vault._catalog import reads
from vault._catalog.reader import CatalogReader
from vault._statements.refs import Ref

if TYPE_CHECKING:
    from vault._home import Home


def blobs_already_sent(vault: Home, base: list[Ref], have: Path | None) -> frozenset[str]:
    held: set[str] = set()
    if base:
        held.update(vault.read(lambda r: _files_of(r, base)))
    if have is not None:
        from vault._ops.inventory import read_receipt

        held.update(read_receipt(vault, have).blobs)
    return frozenset(held)


def _files_of(reader: CatalogReader, base: list[Ref]) -> set[str]:
    held: set[str] = set()
    for ref in base:
        # Any status: a revision revoked since it crossed still left its blobs on the far side.
        rev = reads.find_revision(reader, ref, any_status=True)
        rows = reader.rows("SELECT sha256 FROM files WHERE revision_id = :rid", {"rid": rev.id})
        held.update(sha for (sha,) in rows)
    return held
