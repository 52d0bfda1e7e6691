"""`vault provenance REF --format in-toto --out DIR`: the signed evidence as files outside tools check.

- `model.sig`: the OMS v1.0 signature exactly as verified (a Sigstore bundle);
  the stock `model_signing verify` checks it against `vault path REF`.
- `provenance.sig`: the signed provenance (SLSA v1 in-toto statement, DSSE).
- `upstream.sig`: a publisher's signature kept as evidence, where there is one.
- `import.intoto.json`: an in-toto statement of what this vault did with
  the revision: the files (subjects, by sha256), the bundles and imports that
  brought it, which trust entry admitted each signature (named by the sha256
  of the signature files above), and its status now. With `--key` it is
  signed (`import.sig`, the same Sigstore bundle layout), so the site vouches
  for its own records; without, it is a plain statement.

Byte for byte what the catalog holds: an auditor compares digests, not prose.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vault._bundle.index import signature_file_name
from vault._hashing import sha256_hex
from vault._output_paths import output_dir, planned_dir
from vault._reads.evidence import revision_evidence
from vault._statements.manifest import STATEMENT_TYPE, canonical_json
from vault._statements.refs import Ref
from vault.errors import UsageError
from vault.results import EvidenceExported

if TYPE_CHECKING:
    from vault._home import Home
    from vault._signing.signer import Signer

IMPORT_PREDICATE_TYPE = "urn:vault:import:v1"


def export_evidence(vault: Home, ref: Ref, out: Path, signer: Signer | None = None) -> EvidenceExported:
    evidence = vault.read(lambda r: revision_evidence(r, ref, vault.store))
    detail = evidence.detail
    planned = planned_dir(out)
    if planned.is_dir() and any(planned.iterdir()):
        # A stale import.sig left beside a new import.intoto.json would sign another revision's record.
        raise UsageError(f"{planned}: not empty; evidence goes into an empty folder, so no file of "
                         "another export is taken for this one's")  # fmt: skip
    out = output_dir(planned)
    written: list[str] = []
    counts: dict[str, int] = {}
    listed = []
    for st in evidence.statements:
        name = signature_file_name(st.kind, counts.get(st.kind, 0))  # named as in bundles
        counts[st.kind] = counts.get(st.kind, 0) + 1
        (out / name).write_bytes(st.raw)
        written.append(name)
        listed.append({"file": name, "kind": st.kind, "method": st.method, "key": st.key,
                       "admitted_by": st.signer, "sha256": sha256_hex(st.raw)})  # fmt: skip
    statement = canonical_json(
        {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": f.path, "digest": {"sha256": f.sha256}} for f in detail.files],
            "predicateType": IMPORT_PREDICATE_TYPE,
            "predicate": {
                "repo_id": detail.repo_id,
                "commit": detail.commit,
                "status": detail.status,
                "refs": detail.refs,
                "source": detail.source,
                "fetched_at": detail.fetched_at,
                "signatures": listed,
                "imports": [
                    {
                        "bundle_index_sha256": i.index_sha256,
                        "parts": i.parts,
                        "operator": i.operator,
                        "imported_at": i.imported_at,
                    }
                    for i in evidence.imports
                ],
                "revocations": [
                    {"reason": x.reason, "revoked_at": x.revoked_at, "signer": x.signer}
                    for x in detail.revocations
                ],
            },
        }
    )
    (out / "import.intoto.json").write_bytes(statement + b"\n")
    written.append("import.intoto.json")
    if signer is not None:
        (out / "import.sig").write_bytes(signer.sign(statement))
        written.append("import.sig")
    return EvidenceExported(detail.repo_id, detail.commit, str(out), written, signer is not None)
