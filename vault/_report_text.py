"""How the read-only reports read as text, and results as JSON: no click here.

The console script answers `vault list`, `show`, `provenance` and `path`
without importing click (see `vault._entry`), and the click commands render
through the same functions, so both print the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vault.reports import ProvenanceFile, ProvenanceReport, RevisionDetail, RevisionSummary, SignatureInfo


def plain(data: Any) -> Any:
    """A result (dataclass, or a list of them) as JSON-ready data: its field names are the keys."""
    if is_dataclass(data) and not isinstance(data, type):
        return asdict(data)
    if isinstance(data, list):
        return [plain(x) for x in data]
    return data


def to_json(data: Any) -> str:
    return json.dumps(plain(data), indent=2, sort_keys=True)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{n} B"
        size /= 1024
    return f"{n} B"


def list_text(rows: list[RevisionSummary]) -> str:
    lines = [
        "\t".join(
            [
                f"{r.repo_id}@{r.commit}",
                ",".join(r.refs) or "-",
                f"{r.files} files",
                human_bytes(r.bytes),
                "signed" if r.signed else "unsigned",
            ]
            + ([] if r.status == "available" else [f"[{r.status.upper()}]"])
        )
        for r in rows
    ]
    return "\n".join(lines) or "no models"


def show_text(r: RevisionDetail) -> str:
    lines = [
        f"{r.repo_id}@{r.commit}" + ("" if r.status == "available" else f"  [{r.status.upper()}]"),
        f"  refs: {', '.join(r.refs) or '-'}",
        f"  source: {r.source}, fetched {r.fetched_at}",
        f"  path: {r.path}" if r.path else f"  path: none (not served: {r.status})",
        "  files:",
    ]
    lines += [f"    {f.sha256}  {f.size:>12}  {f.path}" for f in r.files]
    # Said wherever the revision is shown: what a loader of it will execute, admitted by name.
    lines += [f"  runs code: {f.path} ({f.runs_code})" for f in r.files if f.runs_code]
    lines.append("  signatures:")
    lines += [
        f"    {s.kind}: {s.method} by {s.signer} ({_signed_with(s)}){'' if s.verified else ' UNVERIFIED'}"
        for s in r.signatures
    ]
    lines += [f"  revoked {x.revoked_at} by {x.signer}: {x.reason}" for x in r.revocations]
    return "\n".join(lines)


def provenance_text(r: ProvenanceReport) -> str:
    src = r.source
    lines = [
        f"{r.repo_id}@{r.commit}",
        f"  source: {src.get('type')} {src.get('uri', '')}",
        f"  requested revision: {r.requested_revision}",
        f"  commit: {commit_origin(r.commit_source)}",
        f"  refs seen: {', '.join(f'{k}={v}' for k, v in r.refs_seen.items()) or '-'}",
        f"  fetched: {r.fetched_at} by vault {r.tool_version}",
    ]
    # Said from what this vault verified, never from the statement's own record of it.
    upstream = [s for s in r.signatures if s.kind == "upstream"]
    if upstream:
        good = [s for s in upstream if s.verified]
        said = f"verified, signer {good[0].signer} ({_signed_with(good[0])})" if good else "NOT verified here"
        lines.append(f"  upstream signature: {said}")
    lines.append("  files:")
    for f in r.files:
        lines.append(f"    {f.path}  sha256 {f.sha256}  {f.size} bytes  {file_check(f)}")
    lines.append("  signatures:")
    lines += [
        f"    {s.kind}: {s.signer} ({_signed_with(s)}){'' if s.verified else ' UNVERIFIED'}"
        for s in r.signatures
    ]
    lines += [f"  REVOKED {x.revoked_at} by {x.signer}: {x.reason}" for x in r.revocations]
    return "\n".join(lines)


COMMIT_ORIGINS = {
    "hub": "resolved by the Hub",
    "operator": "asserted by the operator (vault add --revision), not fetched",
    "content": "derived by vault from the files' digests (no commit was given)",
    "": "not recorded (a statement from before vault recorded it)",
}


def commit_origin(source: str) -> str:
    """Who named the commit, in the words every view uses."""
    return COMMIT_ORIGINS.get(source, source)


def file_check(f: ProvenanceFile) -> str:
    """What was done to a file, from the statement's own record: never more than that."""
    if f.check == "compared-with-hub" and f.published:
        return _published(f.published)
    if f.check == "did-not-match-hub":
        return "DID NOT MATCH the Hub"
    return "hashed locally (nothing to compare with)"


def _published(pub: Mapping[str, object]) -> str:
    if "lfs_sha256" in pub:
        return f"matched Hub LFS sha256 {pub['lfs_sha256']}"
    if "git_blob_sha1" in pub:
        return f"matched Hub git blob {pub['git_blob_sha1']}"
    return "matched " + ", ".join(f"{k} {v}" for k, v in sorted(pub.items()))


def _signed_with(s: SignatureInfo) -> str:
    """A key's hint, or for Sigstore the digest of the identity and issuer (as `trust list` keys it)."""
    return f"{'identity' if s.method == 'sigstore' else 'key'} {s.key[:16]}…"
