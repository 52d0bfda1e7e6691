"""The views a home publishes from its catalog: the directory tree and the Hugging Face cache.

One `publish(home, repo_ids)` brings both in line with the catalog for those
models; every operation that changes what resolves calls it, and nothing else
builds or removes a view (a repair's rebuild around new inodes aside).
"""

from __future__ import annotations

from vault._catalog import queries
from vault._home import Home
from vault._hub.cache_view import HFCacheView
from vault._hub.model_view import all_repo_ids, hub_model
from vault.status import AVAILABLE, REVOKED


def hf_view(home: Home) -> HFCacheView:
    return HFCacheView(home.home, home.store)


def publish(home: Home, repo_ids: list[str]) -> None:
    """Bring both views of these models in line with the catalog, under the writer lock (taken here,
    re-entrant, so no caller can publish without it).

    Directories first: an available revision without one gets it, a revoked
    one loses it at once (a path handed out earlier stops loading); a damaged
    one keeps it, withdrawn by its status. Then the HF cache view, which takes
    away before it adds.
    """
    view = hf_view(home)
    with home.writer_lock(), home.session() as s:
        for repo_id in repo_ids:
            model = queries.get_model(s, repo_id)
            for rev in model.revisions if model is not None else []:
                if rev.status == REVOKED:
                    home.store.remove_revision_view(repo_id, rev.commit)
                elif rev.status == AVAILABLE and not home.store.revision_dir(repo_id, rev.commit).is_dir():
                    home.store.build_revision_view(
                        repo_id, rev.commit, [(f.path, f.sha256) for f in rev.files]
                    )
            hub = hub_model(s, home.store, repo_id)
            if hub is not None:
                view.sync(hub)


def rebuild_hf_view(home: Home) -> int:
    """Recreate the whole HF view from the catalog; returns how many models it holds."""
    with home.writer_lock(), home.session() as s:
        models = [m for r in all_repo_ids(s) if (m := hub_model(s, home.store, r)) is not None]
        hf_view(home).rebuild(models)
    return len(models)
