"""`vault pull`: bring a Hub revision in, pinned to one commit, checked against what the Hub published.

`huggingface_hub` does the transfer (retries, ranged resume within a file,
auth). What vault adds is the proof: the revision is resolved to its commit
once and every file is fetched at that commit, so a branch moving mid-pull
cannot mix two revisions; then every file is hashed and compared with the
Hub's own tree metadata for that commit (sha256 and size for LFS files, git
blob sha1 and size for the rest). One mismatch and nothing of the revision is
kept.

Downloads land in `<home>/downloads/<org>/<name>/<commit>/`, which survives an
interrupted run: files already complete there are not fetched again.
"""

from __future__ import annotations

import contextlib
import fnmatch
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vault._catalog import queries
from vault._checks.content import Content, check_files
from vault._checks.policy import ContentPolicy, refuse_pickles
from vault._durable import sync_path
from vault._hashing import GIT_SHA1_MAX_SIZE, FileDigest, hash_all, hash_file
from vault._ops.ingest import NewRevision, commit_revision
from vault._ops.views import publish
from vault._statements.paths import check_names_coexist, check_relpath
from vault._statements.provenance import CommitSource, FileCheck, FileRecord
from vault._statements.refs import check_ref_name, check_repo_id, is_commit
from vault._workers import worker_pool
from vault.errors import (
    AccessDeniedError,
    IntegrityError,
    NetworkError,
    NotFoundError,
    UnsafeContentError,
    UsageError,
)
from vault.results import AddStatus, RevisionAdded

if TYPE_CHECKING:
    from vault._home import Home

DOWNLOAD_WORKERS = 4


@dataclass(frozen=True)
class HubFile:
    """One file as the Hub's tree lists it at a commit."""

    path: str
    size: int
    blob_id: str
    lfs_sha256: str | None = None
    lfs_size: int | None = None

    @property
    def published(self) -> dict[str, Any]:
        if self.lfs_sha256 is not None:
            return {"lfs_sha256": self.lfs_sha256, "size": self.lfs_size, "git_blob_sha1": self.blob_id}
        return {"git_blob_sha1": self.blob_id, "size": self.size}


def _matches(path: str, patterns: Sequence[str]) -> bool:
    # Same convention as huggingface_hub: a pattern ending in "/" means the whole folder.
    return any(fnmatch.fnmatch(path, p + "*" if p.endswith("/") else p) for p in patterns)


def select_files(files: list[HubFile], include: Sequence[str], exclude: Sequence[str]) -> list[HubFile]:
    chosen = [
        f
        for f in files
        if (not include or _matches(f.path, include)) and not (exclude and _matches(f.path, exclude))
    ]
    return sorted(chosen, key=lambda f: f.path)


def check_against_hub(f: HubFile, got: FileDigest) -> None:
    """The downloaded bytes must be exactly what the Hub published for this commit."""
    if f.lfs_sha256 is not None:
        if got.size != f.lfs_size or got.sha256 != f.lfs_sha256:
            raise IntegrityError(
                f"{f.path}: downloaded sha256 {got.sha256} ({got.size} bytes) does not match the Hub's "
                f"published {f.lfs_sha256} ({f.lfs_size} bytes)"
            )
    elif got.size != f.size or got.git_sha1 != f.blob_id:
        raise IntegrityError(
            f"{f.path}: downloaded git blob {got.git_sha1} ({got.size} bytes) does not match the Hub's "
            f"published {f.blob_id} ({f.size} bytes)"
        )


@contextlib.contextmanager
def hub_errors(repo_id: str, revision: str, endpoint: str) -> Iterator[None]:
    """Turn huggingface_hub's exceptions into one-line vault errors with documented exit codes."""
    import httpx2
    from huggingface_hub import errors as hf

    try:
        yield
    except hf.GatedRepoError:
        raise AccessDeniedError(
            f"{repo_id}: gated repository on {endpoint}: accept its terms, then pass --token or set HF_TOKEN"
        ) from None
    except hf.RevisionNotFoundError:
        raise NotFoundError(f"{repo_id}@{revision}: revision not found on {endpoint}") from None
    except hf.RepositoryNotFoundError:
        raise NotFoundError(
            f"{repo_id}: repository not found on {endpoint} (private or gated? pass --token or set HF_TOKEN)"
        ) from None
    except hf.RemoteEntryNotFoundError as exc:
        raise IntegrityError(
            f"{repo_id}@{revision}: the Hub lists a file it does not serve ({exc.response.url})"
        ) from None
    except hf.OfflineModeIsEnabled:
        raise NetworkError(f"{endpoint}: HF_HUB_OFFLINE is set, so the Hub cannot be reached") from None
    except hf.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (401, 403):
            raise AccessDeniedError(
                f"{repo_id}: not authorised on {endpoint} (HTTP {status}): check --token or HF_TOKEN"
            ) from None
        raise NetworkError(f"{endpoint}: HTTP {status} for {repo_id}@{revision}") from None
    except (httpx2.TransportError, ConnectionError) as exc:
        raise NetworkError(f"{endpoint}: cannot reach the Hub ({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        if isinstance(exc, (IntegrityError, NotFoundError)):
            raise
        raise NetworkError(f"{repo_id}@{revision}: download failed ({exc})") from None


def pull(
    vault: Home,
    repo_id: str,
    revision: str = "main",
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    endpoint: str | None = None,
    token: str | None = None,
    progress: bool = False,
    content: ContentPolicy = ContentPolicy(),  # noqa: B008  # frozen: a shared default cannot change
) -> RevisionAdded:
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.hf_api import RepoFile
    from huggingface_hub.utils.tqdm import disable_progress_bars, enable_progress_bars

    check_repo_id(repo_id)
    if not is_commit(revision):
        check_ref_name(revision)
    (enable_progress_bars if progress else disable_progress_bars)()
    api = HfApi(endpoint=endpoint, token=token)
    endpoint = api.endpoint.rstrip("/")
    refs = set() if is_commit(revision) else {revision}

    with hub_errors(repo_id, revision, endpoint):
        info = api.model_info(repo_id, revision=revision)
    commit = info.sha or ""
    if not is_commit(commit) or (is_commit(revision) and commit != revision):
        raise IntegrityError(f"{repo_id}@{revision}: the Hub resolved it to {commit!r}, not a usable commit")

    with vault.session() as s:
        present = queries.revisions_present(s, [(repo_id, commit)])
    if present:
        with vault.write() as w:
            s = w.session
            model = queries.get_or_create_model(s, repo_id)
            rev = queries.get_revision(s, model, commit)
            assert rev is not None
            for name in sorted(refs):
                queries.set_ref(s, model, name, rev)
        publish(vault, [repo_id])
        return RevisionAdded(repo_id, commit, sorted(refs), 0, 0, AddStatus.UNCHANGED)

    with hub_errors(repo_id, commit, endpoint):
        tree = [
            HubFile(f.path, f.size, f.blob_id, f.lfs.sha256 if f.lfs else None, f.lfs.size if f.lfs else None)
            for f in api.list_repo_tree(repo_id, revision=commit, recursive=True)
            if isinstance(f, RepoFile)
        ]
    files = select_files(tree, include, exclude)
    if not files:
        raise UsageError(f"{repo_id}@{commit}: no files match the --include/--exclude patterns")
    for f in files:
        check_relpath(f.path, f"{repo_id}@{commit}:")
    check_names_coexist([f.path for f in files])
    refuse_pickles((f.path for f in files), content, " (use --exclude to skip them)")

    download_dir = vault.home / "downloads" / repo_id / commit
    download_dir.mkdir(parents=True, exist_ok=True)

    def fetch(f: HubFile) -> None:
        hf_hub_download(
            repo_id, f.path, revision=commit, local_dir=download_dir, endpoint=endpoint, token=token
        )

    with hub_errors(repo_id, commit, endpoint), worker_pool(DOWNLOAD_WORKERS, "vault-download") as pool:
        list(pool.map(fetch, files))

    local = {f.path: download_dir / f.path for f in files}
    for p in local.values():
        if p.is_symlink() or not p.is_file():
            _discard(download_dir, vault.home)
            raise IntegrityError(
                f"{repo_id}@{commit}: {p.relative_to(download_dir)} was not downloaded as a file"
            )
    hashed = hash_all(
        lambda f, overlap: hash_file(local[f.path], git_blob_below=GIT_SHA1_MAX_SIZE, overlap=overlap),
        files,
        lambda f: local[f.path].stat().st_size,
    )
    digests = {f.path: d for f, d in hashed}
    try:
        for f in files:
            check_against_hub(f, digests[f.path])
        verdicts = check_files(
            f"{repo_id}@{commit}", {f.path: Content.of_file(local[f.path]) for f in files}, content
        )
    except (IntegrityError, UnsafeContentError):
        _discard(download_dir, vault.home)
        raise
    for p in local.values():
        sync_path(p)

    source: dict[str, Any] = {"type": "hub", "uri": f"{endpoint}/{repo_id}", "endpoint": endpoint}
    if include or exclude:
        source["include"], source["exclude"] = list(include), list(exclude)
    records = [
        FileRecord(
            f.path,
            f.size if f.lfs_size is None else f.lfs_size,
            digests[f.path].sha256,
            f.published,
            FileCheck.COMPARED_WITH_HUB,  # check_against_hub compared each one above
        )
        for f in files
    ]
    with vault.writer_lock():
        result = commit_revision(
            vault,
            NewRevision(
                repo_id,
                commit,
                source,
                revision,
                refs,
                records,
                digests,
                local,
                verdicts,
                content,
                commit_source=CommitSource.HUB,
            ),
        )
    _discard(download_dir, vault.home)
    return result


def _discard(download_dir: Path, home: Path) -> None:
    """Remove a revision's downloads and the folders they leave empty, up to `downloads/` itself."""
    shutil.rmtree(download_dir, ignore_errors=True)
    path = download_dir.parent
    while path != home and path.is_dir() and not any(path.iterdir()):
        path.rmdir()
        path = path.parent
