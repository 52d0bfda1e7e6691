"""Which page a path names, and the catalog reads behind it (the pages themselves are pure: `pages`)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from vault._statements.refs import Ref
from vault._ui import pages
from vault.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from vault._home import Home

# No script runs, nothing loads from elsewhere, and no other site may frame or sniff these pages.
HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
REVISION_PREFIX = "/ui/revision/"


def render(vault: Home, path: str) -> tuple[int, bytes]:
    from vault._reads.evidence import revision_evidence
    from vault._reads.reports import audit_report, list_revisions

    try:
        if path == "/":
            return 200, pages.index_page(vault.read(list_revisions))
        if path == "/ui/audit":
            with vault.session() as s:
                return 200, pages.audit_page(audit_report(s))
        if path.startswith(REVISION_PREFIX):
            parts = unquote(path[len(REVISION_PREFIX) :]).split("/")
            if len(parts) != 3:
                raise NotFoundError(f"{path}: not a revision page (/ui/revision/ORG/NAME/COMMIT)")
            ref = Ref(f"{parts[0]}/{parts[1]}", parts[2])
            evidence = vault.read(lambda r: revision_evidence(r, ref, vault.store))
            detail = evidence.detail
            return 200, pages.revision_page(evidence, detail.path)
    except (NotFoundError, UsageError) as exc:
        return 404, pages.not_found_page(str(exc))
    return 404, pages.not_found_page(f"no page at {path}")
