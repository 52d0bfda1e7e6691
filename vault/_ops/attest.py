"""`vault sign`: sign a revision's OMS statement and its provenance statement.

Nothing is re-hashed: the statements were built from the digests taken when
the files came in, and the store is content-addressed, so they still hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vault import _audit as audit
from vault._catalog import queries
from vault._catalog.rows import SignatureRow, put_signature
from vault._output_paths import output_dir, planned_dir
from vault._statements.refs import Ref
from vault.results import SignResult

if TYPE_CHECKING:
    from vault._home import Home
    from vault._signing.signer import Signer

MODEL_SIG = "model.sig"
PROVENANCE_SIG = "provenance.sig"


def sign_revision(vault: Home, ref: Ref, signer: Signer, out_dir: Path | None = None) -> SignResult:
    """Sign with the bare key, or with its certificate in the OMS certificate layout (see `signer`).

    The statement bytes are the same either way; only the verification
    material differs, so a verifier trusting the key or the issuing CA both
    judge the same claim.
    """
    if out_dir is not None:
        planned_dir(out_dir)  # before the catalog changes: a missing medium changes nothing
    fingerprint, method, sign = signer.fingerprint, signer.method, signer.sign
    with vault.write() as w:
        s = w.session
        rev = queries.find_revision(s, ref)
        signed = {"model": sign(rev.model_statement), "provenance": sign(rev.provenance_statement)}
        for kind, raw in signed.items():
            row = SignatureRow(kind, method, "self", fingerprint, True, raw, signer.trusted_root)
            put_signature(s, rev.id, row, replaces_own=True)
        audit.record(s, "sign", f"{ref.repo_id}@{rev.commit}", key=fingerprint,
                     **({} if method == "key" else {"method": method}))  # fmt: skip
        commit = rev.commit
    written = []
    if out_dir is not None:
        out_dir = output_dir(out_dir)
        for name, raw in ((MODEL_SIG, signed["model"]), (PROVENANCE_SIG, signed["provenance"])):
            (out_dir / name).write_bytes(raw)
            written.append(str(out_dir / name))
    return SignResult(ref.repo_id, commit, fingerprint, written, signer.label)
