"""What an auditor's views of one revision are built from, read once from the catalog.

`vault bom`, `vault provenance --format in-toto` and the catalog pages all show
the same facts: the revision, its signed provenance, the signatures as they
were verified (raw, to export and digest), and the imports that brought it.
Apart from `reports` so that `vault list`/`show` never build these types.
"""

from __future__ import annotations

import json

from vault._catalog import reads
from vault._catalog.reader import CatalogReader
from vault._reads.reports import provenance_report, show_revision
from vault._statements.refs import Ref
from vault._store.blobs import Store
from vault.results import ImportRecord, RevisionEvidence, SignedStatement

_SIGNED = """
SELECT kind, method, signer, key_fingerprint, raw FROM signatures WHERE revision_id = :rid AND verified
ORDER BY id
"""
_BUNDLES = "SELECT index_sha256, parts, operator, imported_at, revisions FROM bundles ORDER BY id"


def revision_evidence(reader: CatalogReader, ref: Ref, store: Store) -> RevisionEvidence:
    detail = show_revision(reader, ref, store)
    # Only what was verified is evidence: an unverified signature stays on `show`, flagged, and
    # is never exported, listed in the BOM or vouched for by the import attestation.
    rev = reads.find_revision(reader, ref, any_status=True)
    statements = [
        SignedStatement(kind, method, signer, key, bytes(raw))
        for kind, method, signer, key, raw in reader.rows(_SIGNED, {"rid": rev.id})
    ]
    label = f"{detail.repo_id}@{detail.commit}"  # imports, oldest first (a connected vault has none)
    imports = [
        ImportRecord(sha, int(parts), operator, at)
        for sha, parts, operator, at, revisions in reader.rows(_BUNDLES)
        if label in json.loads(revisions)
    ]
    return RevisionEvidence(detail, provenance_report(reader, ref), statements, imports)
