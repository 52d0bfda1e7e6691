"""Build signed bundles directly from the library's pure parts, bypassing `vault add`'s checks.

The connected side refuses bad weights early, so a hostile-but-validly-signed
bundle (a trusted publisher signing bad content, or a stolen key) has to be
forged here to prove the air-gapped side refuses it too.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import blake3

from vault._bundle.index import (
    INDEX_NAME,
    BundleIndex,
    RevisionEntry,
    blob_entry,
    revision_prefix,
    revocation_entry,
    signature_file_name,
)
from vault._signing.dsse import sign_payload, sign_payload_with_chain
from vault._signing.keys import load_private_key
from vault._statements.manifest import Resource, build_model_statement
from vault._statements.provenance import FileRecord, build_provenance, new_provenance
from vault._statements.revocation import RevocationClaim, build_revocation

Sign = Callable[[bytes], bytes]  # statement bytes -> a Sigstore bundle file


def key_signer(key: Path) -> Sign:
    private = load_private_key(key)
    return lambda payload: sign_payload(private, payload)


def chain_signer(key: Path, chain: list[bytes]) -> Sign:
    """Signs with a certificate chain (DER, leaf first), with none of `vault sign --cert`'s checks."""
    private = load_private_key(key)
    return lambda payload: sign_payload_with_chain(private, chain, payload)


def forge_bundle(
    out: Path,
    key: Path,
    files: dict[str, bytes],
    repo_id: str = "acme/tiny",
    commit: str = "c" * 40,
    refs: tuple[str, ...] = ("main",),
    fetched_at: str = "2026-01-01T00:00:00Z",
    provenance_repo: str | None = None,
    hash_type: str = "sha256",
    signed_as: dict[str, bytes] | None = None,
    model_statement: bytes | None = None,
    patch: Callable[[bytes], bytes] = lambda raw: raw,
    *,
    model_signers: tuple[Sign, ...] = (),
    provenance_signers: tuple[Sign, ...] = (),
    provenance_statement: bytes | None = None,
    upstream: tuple[bytes, ...] = (),
    extra: dict[str, tuple[bytes, ...]] | None = None,
    omit: tuple[str, ...] = (),
    revoke: tuple[str, ...] = (),
    revoke_reason: str = "withdrawn",
) -> Path:
    """`signed_as` maps a path to the content the model signature claims for it (a lie, if it differs).

    By default `key` signs each statement once; `model_signers`/`provenance_signers` sign instead.
    `upstream` and `extra` (kind -> raw files) are carried as they are; the files named in `omit`
    are left out as a delta bundle leaves out what the far side holds; `revoke` names commits of
    `repo_id` that `key` revokes in the same bundle.
    """
    private = load_private_key(key)
    digests = {p: hashlib.sha256(d).hexdigest() for p, d in files.items()}
    claimed = {**files, **(signed_as or {})}
    algo = hashlib.sha256 if hash_type == "sha256" else blake3.blake3
    model = build_model_statement(
        repo_id, [Resource(p, algo(claimed[p]).hexdigest(), hash_type) for p in files], hash_type=hash_type
    )
    prov = new_provenance(
        provenance_repo or repo_id, commit, {"type": "local-directory", "uri": "file:///forged"}, "main",
        refs, fetched_at, [FileRecord(p, len(d), digests[p]) for p, d in files.items()],
    )  # fmt: skip
    prefix = revision_prefix(repo_id, commit)
    own: Sign = lambda payload: sign_payload(private, payload)  # noqa: E731
    statements = {"model": patch(model_statement or model),
                  "provenance": patch(provenance_statement or build_provenance(prov))}  # fmt: skip
    raws: dict[str, list[bytes]] = {
        "model": [s(statements["model"]) for s in model_signers or (own,)],
        "provenance": [s(statements["provenance"]) for s in provenance_signers or (own,)],
        "upstream": list(upstream),
    }
    for kind, more in (extra or {}).items():
        raws[kind] += more
    names = {k: tuple(f"{prefix}/{signature_file_name(k, i)}" for i in range(len(v)))
             for k, v in raws.items() if v}  # fmt: skip
    gone = {digests[p] for p in omit}
    revocations = [
        (revocation_entry(repo_id, c, "f" * 16),
         own(build_revocation(RevocationClaim(repo_id, c, revoke_reason, "2026-01-02T00:00:00Z"))))
        for c in revoke
    ]  # fmt: skip
    index = BundleIndex(
        (RevisionEntry(repo_id, commit, names),),
        {digests[p]: len(d) for p, d in files.items() if digests[p] not in gone},
        revocations=tuple(name for name, _raw in revocations),
        omitted={digests[p]: len(files[p]) for p in omit},
    )
    entries = [(INDEX_NAME, index.to_bytes()), *revocations]
    for kind in names:
        entries += list(zip(names[kind], raws[kind], strict=True))
    seen = set(gone)
    for p, d in sorted(files.items(), key=lambda kv: digests[kv[0]]):
        if digests[p] not in seen:
            seen.add(digests[p])
            entries.append((blob_entry(digests[p]), d))
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o444
            tar.addfile(info, io.BytesIO(data))
    return out
