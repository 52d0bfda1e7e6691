"""The catalog as HTML for a reviewer's browser: server-rendered, self-contained, read-only.

An air-gapped browser reaches no CDN, so each page is one document with its
style inline and no script at all; the provenance chain is inline SVG. Every
name that came from outside (repo ids, file names, refs, signer names, audit
details) is escaped here, in one function, `esc`: a model called
`<script>` is shown as text.

Pure functions from the typed reports to bytes; `vault._hub.server` routes
to them.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from vault._report_text import commit_origin, human_bytes
from vault._ui.chain import ChainStep, chain_svg
from vault.reports import AuditReport, ProvenanceReport, RevisionDetail, RevisionSummary
from vault.results import ImportRecord, RevisionEvidence

STATUS_LABEL = {"available": "verified", "revoked": "revoked", "damaged": "damaged"}

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1b1f24;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{border-bottom:1px solid #d8dee4;padding:4px 8px;text-align:left;vertical-align:top}
td code{overflow-wrap:anywhere}
code.digest{overflow-wrap:normal;word-break:keep-all}code.digest span{white-space:nowrap}
.when{white-space:nowrap}dl.fields{margin:0;display:grid;grid-template-columns:max-content 1fr;gap:0 8px}
dl.fields dt{color:#57606a}dl.fields dd{margin:0}
th{background:#f3f5f7;font-weight:600}code,.mono{font-family:ui-monospace,monospace;font-size:12px}
.status{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px}
.verified{background:#dafbe1;color:#116329}.revoked{background:#ffebe9;color:#a40e26}
.damaged{background:#fff1c2;color:#7a4d00}.ok{color:#116329}.bad{color:#a40e26}
nav a{margin-right:14px}.muted{color:#57606a}
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


DIGEST_BLOCK = 16


def digest(value: str) -> str:
    """A hash or key shown whole, in blocks of 16 that never break inside: a line may end only between
    blocks, and a copy of it holds no spaces (an auditor compares it character by character)."""
    blocks = [value[i : i + DIGEST_BLOCK] for i in range(0, len(value), DIGEST_BLOCK)]
    return '<code class="digest">' + "<wbr>".join(f"<span>{esc(b)}</span>" for b in blocks) + "</code>"


def _when(value: str) -> str:
    return f'<span class="when">{esc(value)}</span>'


def _fields(detail: Mapping[str, object]) -> str:
    """An event's details as named fields, one per line: never a JSON blob to read."""
    items = []
    for key, value in sorted(detail.items()):
        if key == "by":
            continue
        values = value if isinstance(value, list) else [value]
        shown = "<br>".join(_value(v) for v in values) or "none"
        items.append(f"<dt>{esc(key)}</dt><dd>{shown}</dd>")
    return f'<dl class="fields">{"".join(items)}</dl>' if items else ""


def _value(value: object) -> str:
    text = str(value) if not isinstance(value, dict) else json.dumps(value, sort_keys=True)
    if len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text):
        return digest(text)
    return f"<code>{esc(text)}</code>"


def _page(title: str, body: str) -> bytes:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>"
        '<nav><a href="/">models</a><a href="/ui/audit">audit log</a></nav>'
        f"{body}</body></html>\n"
    ).encode()


def _status(status: str, signed: bool = True) -> str:
    """The revision's state as a badge: "verified" only for an available revision a signature covers."""
    label = STATUS_LABEL.get(status, status)
    if label == "verified" and not signed:
        return '<span class="status damaged">unsigned</span>'
    return f'<span class="status {esc(label)}">{esc(label)}</span>'


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def revision_href(repo_id: str, commit: str) -> str:
    return f"/ui/revision/{quote(repo_id, safe='/')}/{quote(commit, safe='')}"


def index_page(revisions: list[RevisionSummary]) -> bytes:
    rows = [
        [
            f'<a href="{esc(revision_href(r.repo_id, r.commit))}">{esc(r.repo_id)}</a>',
            f"<code>{esc(r.commit)}</code>",
            _status(r.status, r.signed),
            esc(", ".join(r.refs)) or '<span class="muted">none</span>',
            esc(r.files),
            esc(human_bytes(r.bytes)),
            "yes" if r.signed else '<span class="bad">no</span>',
            esc(r.fetched_at),
        ]
        for r in revisions
    ]
    models = len({r.repo_id for r in revisions})
    body = (
        f'<h1>vault</h1><p class="muted">{models} model(s), {len(revisions)} revision(s); '
        "read-only view of this vault's catalog</p>"
        + _table(["model", "commit", "status", "refs", "files", "size", "signed", "fetched"], rows)
    )
    return _page("vault: models", body)


def revision_page(evidence: RevisionEvidence, path: str | None) -> bytes:
    detail, prov, imports = evidence.detail, evidence.provenance, evidence.imports
    published = {f.path: f for f in prov.files}
    file_rows = []
    for f in detail.files:
        p = published.get(f.path)
        hub = _published(p.published) if p is not None else ""
        if p is not None and p.check == "compared-with-hub":
            verdict = '<span class="ok">matched the Hub</span>'
        elif p is not None and p.check == "did-not-match-hub":
            verdict = '<span class="bad">DID NOT MATCH the Hub</span>'
        else:
            verdict = '<span class="muted">hashed locally (nothing to compare with)</span>'
        if f.runs_code:
            verdict += f'<br><span class="bad">runs code: {esc(f.runs_code)}</span>'
        file_rows.append(
            [
                f"<code>{esc(f.path)}</code>",
                esc(human_bytes(f.size)),
                digest(f.sha256),
                hub,
                verdict,
            ]
        )
    sig_rows = [
        [esc(s.kind), esc(s.method), esc(s.signer), digest(s.key),
         '<span class="ok">verified</span>' if s.verified else '<span class="bad">not verified</span>']
        for s in detail.signatures
    ]  # fmt: skip
    import_rows = [
        [digest(i.index_sha256), esc(i.parts), esc(i.operator), _when(i.imported_at)] for i in imports
    ]
    revoked = "".join(
        f'<p class="bad">revoked {_when(x.revoked_at)} by {esc(x.signer)}: {esc(x.reason)}; '
        + (f"carried by bundle {digest(x.carried_by)}" if x.carried_by else "revoked on this vault")
        + "</p>"
        for x in detail.revocations
    )
    code = [f for f in detail.files if f.runs_code]
    if code:
        revoked += (
            '<p class="bad">runs code: '
            + ", ".join(f"<code>{esc(f.path)}</code>" for f in code)
            + (" (admitted by name with --allow-code; a loader executes them)</p>")
        )
    source = prov.source
    where = str(source.get("uri") or source.get("type") or "unknown")
    body = (
        f"<h1>{esc(detail.repo_id)} {_status(detail.status, any(s.verified for s in detail.signatures))}</h1>"
        f"<p><code>{esc(detail.commit)}</code> · refs {esc(', '.join(detail.refs) or 'none')} · "
        f"fetched {esc(detail.fetched_at)} from {esc(where)}; commit {esc(commit_origin(prov.commit_source))}"
        f"</p>{revoked}"
        "<h2>Provenance chain</h2>"
        + chain_svg(_chain(detail, prov, imports, path))
        + "<h2>Files</h2>"
        + _table(["path", "size", "sha256", "published by the Hub", "check"], file_rows)
        + "<h2>Signatures</h2>"
        + _table(["kind", "method", "admitted by trust entry", "key or identity", "state"], sig_rows)
        + "<h2>Imports</h2>"
        + (_table(["bundle (index sha256)", "parts", "operator", "imported"], import_rows) if imports
           else "<p class=\"muted\">signed in this vault; not imported from a bundle</p>")
        + (f"<h2>Served from</h2><p><code>{esc(path)}</code></p>" if path else "")
    )  # fmt: skip
    return _page(f"vault: {detail.repo_id}@{detail.commit[:12]}", body)


def _published(pub: Mapping[str, object] | None) -> str:
    if not pub:
        return ""
    return "<br>".join(f"{esc(k)} {_value(v)}" for k, v in sorted(pub.items()))


def _chain(
    detail: RevisionDetail, prov: ProvenanceReport, imports: list[ImportRecord], path: str | None
) -> list[ChainStep]:
    hub = prov.source.get("type") == "hub"
    signers = sorted({s.signer for s in detail.signatures if s.verified})
    steps = [
        ChainStep(
            "Hub commit" if hub else "source", detail.commit[:12] if hub else str(prov.source.get("type"))
        ),
        ChainStep("pull" if hub else "add", prov.fetched_at),
        ChainStep("signatures", ", ".join(signers) or "none", ok=bool(signers)),
    ]
    if imports:
        last = imports[-1]
        steps.append(ChainStep("bundle", last.index_sha256[:12]))
        steps.append(ChainStep("import", last.imported_at))
    steps.append(ChainStep("path", "served" if path else STATUS_LABEL.get(detail.status, detail.status),
                           ok=path is not None))  # fmt: skip
    return steps


def audit_page(report: AuditReport) -> bytes:
    state = (
        '<p class="ok">hash chain intact</p>'
        if report.chain_intact
        else f'<p class="bad">hash chain broken at event {esc(report.first_broken_event)}</p>'
    )
    rows = [
        [esc(e.id), _when(e.at), esc(e.by or "not recorded"), esc(e.action), f"<code>{esc(e.subject)}</code>",
         _fields(e.detail), digest(e.hash)]
        for e in reversed(report.events)
    ]  # fmt: skip
    headers = ["#", "at", "by", "action", "subject", "detail", "hash"]
    body = f"<h1>Audit log</h1>{state}" + _table(headers, rows)
    return _page("vault: audit log", body)


def not_found_page(message: str) -> bytes:
    return _page("vault: not found", f"<h1>Not found</h1><p>{esc(message)}</p>")
