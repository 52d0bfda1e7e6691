"""`vault trust export`: the trust policy as one signed file, for nodes that have no catalog."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vault import _audit as audit
from vault._catalog.reader import CatalogReader
from vault._catalog.reads import revoked_contents
from vault._catalog.trust_reads import trust_entries, trust_quorums
from vault._clock import utc_now
from vault._hashing import sha256_hex
from vault._ops.inventory import write_atomically
from vault._output_paths import output_file
from vault._signing.policy_file import MAX_POLICY_BYTES, PolicyDocument, RevokedRevision, build_policy
from vault.errors import UsageError
from vault.results import PolicyExported
from vault.status import AVAILABLE

if TYPE_CHECKING:
    from vault._home import Home
    from vault._signing.signer import Signer


def _served_refs(reader: CatalogReader) -> dict[str, str]:
    """Each ref of an available revision, as `org/name@ref` -> commit."""
    rows = reader.rows(
        'SELECT m.repo_id, f.name, r."commit" FROM refs f JOIN revisions r ON r.id = f.revision_id '
        "JOIN models m ON m.id = r.model_id WHERE r.status = :status ORDER BY m.repo_id, f.name",
        {"status": AVAILABLE},
    )
    return {f"{repo}@{name}": str(commit) for repo, name, commit in rows}


def export_policy(vault: Home, signer: Signer, out: Path) -> PolicyExported:
    """Every trust entry, quorum rule and revoked revision's content, signed by `signer`."""
    out = output_file(out)
    entries = vault.read(trust_entries)
    if not entries:
        raise UsageError("this vault trusts no one yet: there is no policy to export (vault trust add …)")
    quorums = vault.read(trust_quorums)
    revoked = tuple(
        RevokedRevision(label, content.files, content.revokers)
        for label, content in sorted(vault.read(revoked_contents).items())
    )
    refs = vault.read(_served_refs)
    raw = signer.sign(build_policy(PolicyDocument(utc_now(), tuple(entries), quorums, revoked, refs)))
    if len(raw) > MAX_POLICY_BYTES:
        raise UsageError(f"{out}: the policy exceeds {MAX_POLICY_BYTES} bytes")
    write_atomically(out, raw)
    with vault.write() as w:
        audit.record(w.session, "trust.export", str(out), policy_sha256=sha256_hex(raw), entries=len(entries),
                     quorums=len(quorums), revoked=len(revoked), key=signer.fingerprint)  # fmt: skip
    return PolicyExported(str(out), len(entries), len(quorums), len(revoked), signer.label)
