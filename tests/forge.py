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

from vault._bundle.index import INDEX_NAME, BundleIndex, RevisionEntry, blob_entry, revision_prefix
from vault._signing.dsse import sign_payload
from vault._signing.keys import load_private_key
from vault._statements.manifest import Resource, build_model_statement
from vault._statements.provenance import FileRecord, build_provenance, new_provenance


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
) -> Path:
    """`signed_as` maps a path to the content the model signature claims for it (a lie, if it differs)."""
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
    sigs = {"model": (f"{prefix}/model.sig",), "provenance": (f"{prefix}/provenance.sig",)}
    index = BundleIndex(
        (RevisionEntry(repo_id, commit, sigs),), {digests[p]: len(d) for p, d in files.items()}
    )
    entries = [
        (INDEX_NAME, index.to_bytes()),
        (sigs["model"][0], sign_payload(private, patch(model_statement or model))),
        (sigs["provenance"][0], sign_payload(private, patch(build_provenance(prov)))),
    ]
    seen = set()
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
