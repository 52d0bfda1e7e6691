"""The views a home publishes from its catalog: the directory tree and the Hugging Face cache.

One `publish(home, repo_ids)` brings both in line with the catalog for those
models; every operation that changes what resolves calls it, and nothing else
writes the HF view.
"""

from __future__ import annotations

from vault._home import Home
from vault._hub.cache_view import HFCacheView
from vault._hub.model_view import all_repo_ids, hub_model


def hf_view(home: Home) -> HFCacheView:
    return HFCacheView(home.home, home.store)


def publish(home: Home, repo_ids: list[str]) -> None:
    """Bring the Hugging Face cache view of these models in line with the catalog (writer lock held)."""
    view = hf_view(home)
    with home.session() as s:
        for repo_id in repo_ids:
            model = hub_model(s, home.store, repo_id)
            if model is not None:
                view.sync(model)


def rebuild_hf_view(home: Home) -> int:
    """Recreate the whole HF view from the catalog; returns how many models it holds."""
    with home.writer_lock(), home.session() as s:
        models = [m for r in all_repo_ids(s) if (m := hub_model(s, home.store, r)) is not None]
        hf_view(home).rebuild(models)
    return len(models)
