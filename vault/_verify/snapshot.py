"""What an import or a verify compares a bundle against, read once before any check runs.

One catalog read (`Home.read`, one connection) and a stat of each blob the
bundle names: the trust policy, the names held, revoked content, which of the
bundle's revisions are already here, and what the catalog and the store hold of
its blobs. The checks in `metadata` are then pure functions of this snapshot
and the bundle's signed bytes, as python-tuf keeps I/O out of its trusted set.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from vault._bundle.index import BundleIndex
from vault._catalog import reads
from vault._catalog.blob_reads import StoredBlob, stored_blobs
from vault._catalog.reader import CatalogReader
from vault._catalog.trust_reads import trust_policy
from vault._signing.trust import TrustPolicy

if TYPE_CHECKING:
    from vault._home import Home


@dataclass(frozen=True)
class CatalogSnapshot:
    policy: TrustPolicy
    repo_ids: list[str]
    refs: dict[str, set[str]]  # repo -> ref names held
    revoked: dict[str, reads.RevokedContent]  # repo@commit -> what it signed, and who revoked it
    present: set[tuple[str, str]]  # the bundle's revisions already catalogued (any status)
    damaged: dict[str, str]  # sha256 -> what scrub found, for every blob awaiting repair
    stored: dict[str, StoredBlob]  # the catalog's record of the bundle's blobs it holds
    on_disk: dict[str, bool]  # the bundle's blobs: present in the store at their indexed size
    available: list[tuple[str, str]]  # every available revision (repo, commit): views to recover


def read_snapshot(reader: CatalogReader, index: BundleIndex) -> CatalogSnapshot:
    """Every catalog fact the checks need, in one read."""
    repos = sorted({e.repo_id for e in index.revisions})
    blobs = sorted({**index.blobs, **index.omitted})
    return CatalogSnapshot(
        policy=trust_policy(reader),
        repo_ids=reads.repo_ids(reader),
        refs={repo: reads.ref_names(reader, repo) for repo in repos},
        revoked=reads.revoked_contents(reader),
        present=reads.revisions_present(reader, [(e.repo_id, e.commit) for e in index.revisions]),
        damaged=reads.damaged_blobs(reader),
        stored=stored_blobs(reader, blobs),
        on_disk={},
        available=reads.available_revisions(reader),
    )


def take_snapshot(home: Home, index: BundleIndex) -> CatalogSnapshot:
    """The one catalog read (`read_snapshot`), plus a stat of each blob the bundle names."""
    snapshot = home.read(lambda r: read_snapshot(r, index))
    sizes = {**index.blobs, **index.omitted}
    on_disk = {sha: home.store.has_blob_of_size(sha, size) for sha, size in sorted(sizes.items())}
    return replace(snapshot, on_disk=on_disk)
