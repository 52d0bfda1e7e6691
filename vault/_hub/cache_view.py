"""The Hugging Face cache view at `<home>/hf/hub`: `HF_HUB_CACHE` + `HF_HUB_OFFLINE=1` just work.

Layout, exactly as `huggingface_hub` writes its own cache:

    models--org--name/blobs/<etag>                 hard link to the read-only store blob
    models--org--name/snapshots/<commit>/<path>    relative symlink to ../../blobs/<etag>
    models--org--name/refs/<ref>                   the commit, no trailing newline
    models--org--name/trees/<commit>.json          the tree listing, so a client can tell
                                                   a complete snapshot from a partial one

The view is derived from the catalog and can always be rebuilt. Each piece
appears atomically (built aside, then renamed), trees before snapshots before
refs, so a reader never follows a ref into a half-built snapshot.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

from vault._hub.metadata import HubEntry
from vault._hub.model_view import HubModel
from vault._store.blobs import Store

TREE_FORMAT_VERSION = 1


def model_folder_name(repo_id: str) -> str:
    return "models--" + repo_id.replace("/", "--")


def _write_atomic(path: Path, data: bytes) -> None:
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def tree_listing(entries: list[HubEntry]) -> bytes:
    files = {}
    for e in entries:
        info: dict[str, object] = {"size": e.size, "blob_id": e.blob_id}
        if e.lfs:
            info["lfs_sha256"], info["lfs_size"] = e.sha256, e.size
        files[e.path] = info
    return json.dumps(
        {"format_version": TREE_FORMAT_VERSION, "files": files}, indent=1, sort_keys=True
    ).encode()


class HFCacheView:
    def __init__(self, home: Path, store: Store) -> None:
        self.root = home / "hf" / "hub"
        self.store = store

    def model_dir(self, repo_id: str) -> Path:
        return self.root / model_folder_name(repo_id)

    def snapshot_dir(self, repo_id: str, commit: str) -> Path:
        return self.model_dir(repo_id) / "snapshots" / commit

    def sync(self, model: HubModel, root: Path | None = None) -> None:
        """Make one model's view match the catalog: add what is new, drop what is gone."""
        mdir = (root or self.root) / model_folder_name(model.repo_id)
        blobs, snapshots, refs, trees = (mdir / d for d in ("blobs", "snapshots", "refs", "trees"))
        for d in (blobs, snapshots, refs, trees):
            d.mkdir(parents=True, exist_ok=True)
        # Take away first: a revocation must leave the view even if adding something new then fails.
        for ref_file in [p for p in refs.rglob("*") if p.is_file()]:
            if ref_file.relative_to(refs).as_posix() not in model.refs:
                ref_file.unlink()
        for snap in snapshots.iterdir():
            if snap.name not in model.revisions:
                shutil.rmtree(snap)
        for tree in trees.iterdir():
            if tree.name.removesuffix(".json") not in model.revisions:
                tree.unlink()
        wanted_blobs = {e.etag for entries in model.revisions.values() for e in entries}
        for blob in blobs.iterdir():
            if blob.name not in wanted_blobs:
                blob.unlink()

        for commit, entries in model.revisions.items():
            for e in entries:
                target = blobs / e.etag
                # A blob repaired after scrub is a new file: relink, or the view keeps the damaged one.
                if not target.exists() or not os.path.samefile(target, self.store.blob_path(e.sha256)):
                    tmp = blobs / f".{e.etag}.{secrets.token_hex(4)}.tmp"
                    os.link(self.store.blob_path(e.sha256), tmp)
                    os.replace(tmp, target)
            _write_atomic(trees / f"{commit}.json", tree_listing(entries))
            if not (snapshots / commit).is_dir():
                self._build_snapshot(snapshots, commit, entries)
        for name, commit in model.refs.items():
            _write_atomic(refs / name, commit.encode())

    def _build_snapshot(self, snapshots: Path, commit: str, entries: list[HubEntry]) -> None:
        building = snapshots / f".building-{commit}-{secrets.token_hex(4)}"
        try:
            for e in entries:
                link = building / e.path
                link.parent.mkdir(parents=True, exist_ok=True)
                blob = snapshots.parent / "blobs" / e.etag
                os.symlink(os.path.relpath(blob, link.parent), link)
            building.mkdir(exist_ok=True)
            os.replace(building, snapshots / commit)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise

    def rebuild(self, models: list[HubModel]) -> None:
        """Recreate the whole view from the catalog, then swap it in."""
        parent = self.root.parent
        parent.mkdir(parents=True, exist_ok=True)
        fresh = parent / f".hub-{secrets.token_hex(4)}"
        try:
            for m in models:
                self.sync(m, fresh)
            old = parent / f".hub-old-{secrets.token_hex(4)}"
            if self.root.exists():
                os.replace(self.root, old)
            os.replace(fresh, self.root)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
