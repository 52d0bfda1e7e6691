"""The views a home publishes from its catalog: the directory tree and the Hugging Face cache.

One `publish(home, repo_ids)` brings both in line with the catalog for those
models; every operation that changes what resolves calls it, and nothing else
builds or removes a view (a repair's rebuild around new inodes aside).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vault._catalog import queries
from vault._home import Home
from vault._hub.cache_view import HFCacheView
from vault._hub.model_view import HubModel, all_repo_ids, hub_model
from vault._store.blobs import Store
from vault.status import AVAILABLE, REVOKED

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def hf_view(home: Home) -> HFCacheView:
    return HFCacheView(home.home, home.store)


@dataclass(frozen=True)
class ViewPlan:
    """What the views of some models must show, read from the catalog (`plan_views`).

    Read inside a writer's transaction and applied after it commits, so an
    import reads the catalog once before its commit and not again after.
    """

    revisions: list[tuple[str, str, str, list[tuple[str, str]]]]  # repo, commit, status, (path, sha256)
    hub: list[HubModel]


def plan_views(session: Session, store: Store, repo_ids: list[str]) -> ViewPlan:
    revisions = []
    hub = []
    for repo_id in repo_ids:
        model = queries.get_model(session, repo_id)
        for rev in model.revisions if model is not None else []:
            revisions.append((repo_id, rev.commit, rev.status, [(f.path, f.sha256) for f in rev.files]))
        found = hub_model(session, store, repo_id)
        if found is not None:
            hub.append(found)
    return ViewPlan(revisions, hub)


def apply_views(home: Home, plan: ViewPlan) -> None:
    """Directories first: an available revision without one gets it, a revoked one loses it at once
    (a path handed out earlier stops loading); a damaged one keeps it, withdrawn by its status. Then
    the HF cache view, which takes away before it adds. Under the writer lock (re-entrant)."""
    view = hf_view(home)
    with home.writer_lock():
        for repo_id, commit, status, files in plan.revisions:
            if status == REVOKED:
                home.store.remove_revision_view(repo_id, commit)
            elif status == AVAILABLE and not home.store.revision_dir(repo_id, commit).is_dir():
                home.store.build_revision_view(repo_id, commit, files)
        for model in plan.hub:
            view.sync(model)


def publish(home: Home, repo_ids: list[str]) -> None:
    """Bring both views of these models in line with the catalog, under the writer lock (taken here,
    re-entrant, so no caller can publish without it)."""
    with home.writer_lock():
        with home.session() as s:
            plan = plan_views(s, home.store, repo_ids)
        apply_views(home, plan)


def rebuild_hf_view(home: Home) -> int:
    """Recreate the whole HF view from the catalog; returns how many models it holds."""
    with home.writer_lock(), home.session() as s:
        models = [m for r in all_repo_ids(s) if (m := hub_model(s, home.store, r)) is not None]
        hf_view(home).rebuild(models)
    return len(models)
