"""The catalog's read-only questions as SQL text, for any `CatalogReader` (see `reader`).

Written once for SQLite and PostgreSQL alike: `"commit"` is quoted (a
reserved word in PostgreSQL), parameters are `:name`, and values are
normalised here (SQLite answers 0/1 for booleans, PostgreSQL a Decimal for a
sum of BIGINTs) so callers see the same types from both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vault._catalog.reader import CatalogReader, scalar
from vault._statements.refs import Ref as RefSpec
from vault.errors import NotFoundError
from vault.status import AVAILABLE, unavailable_message

_REVISION_COLUMNS = 'r.id, m.repo_id, r."commit", r.status, r.source, r.fetched_at'

_BY_REF = f"""
SELECT {_REVISION_COLUMNS} FROM models m
JOIN refs f ON f.model_id = m.id AND f.name = :revision
JOIN revisions r ON r.id = f.revision_id
WHERE m.repo_id = :repo_id
"""

_BY_COMMIT = f"""
SELECT {_REVISION_COLUMNS} FROM models m
JOIN revisions r ON r.model_id = m.id AND r."commit" = :revision
WHERE m.repo_id = :repo_id
"""


@dataclass(frozen=True)
class RevisionRow:
    id: int
    repo_id: str
    commit: str
    status: str
    source: str
    fetched_at: str


_ABBREVIATED = re.compile(r"[0-9a-f]{4,39}", re.ASCII)  # what `git log --oneline` prints
_REVOCATIONS_OF = """
SELECT reason, signer, revoked_at FROM revocations WHERE repo_id = :repo_id AND "commit" = :commit
ORDER BY revoked_at, signer
"""


def find_revision(reader: CatalogReader, ref: RefSpec, any_status: bool = False) -> RevisionRow:
    """The revision a REF names; only available ones unless `any_status` (show, provenance)."""
    params = {"repo_id": ref.repo_id, "revision": ref.revision}
    rows = reader.rows(_BY_COMMIT if ref.is_commit else _BY_REF, params)
    if not rows:
        if scalar(reader, "SELECT 1 FROM models WHERE repo_id = :repo_id", params) is None:
            raise NotFoundError(f"{ref.repo_id}: no such model in this vault")
        hint = ""
        if _ABBREVIATED.fullmatch(ref.revision) is not None:
            hint = " (a commit is named by its full 40-hex id: use the full 40-hex commit)"
        raise NotFoundError(f"{ref}: no such revision in this vault{hint}")
    rid, repo_id, commit, status, source, fetched_at = rows[0]
    if status != AVAILABLE and not any_status:
        why = tuple(
            (str(reason), str(signer), str(at))
            for reason, signer, at in reader.rows(_REVOCATIONS_OF, {"repo_id": repo_id, "commit": commit})
        )
        raise NotFoundError(unavailable_message(str(ref), commit, status, why))
    return RevisionRow(int(rid), repo_id, commit, status, source, fetched_at)


def refs_of(reader: CatalogReader, revision_id: int) -> list[str]:
    rows = reader.rows("SELECT name FROM refs WHERE revision_id = :rid ORDER BY name", {"rid": revision_id})
    return [name for (name,) in rows]


def refs_by_revision(reader: CatalogReader) -> dict[int, list[str]]:
    refs: dict[int, list[str]] = {}
    for rid, name in reader.rows("SELECT revision_id, name FROM refs ORDER BY name"):
        refs.setdefault(int(rid), []).append(name)
    return refs


def repo_ids(reader: CatalogReader) -> list[str]:
    return [repo for (repo,) in reader.rows("SELECT repo_id FROM models ORDER BY repo_id")]


def ref_names(reader: CatalogReader, repo_id: str) -> set[str]:
    rows = reader.rows(
        "SELECT f.name FROM refs f JOIN models m ON m.id = f.model_id WHERE m.repo_id = :repo_id",
        {"repo_id": repo_id},
    )
    return {name for (name,) in rows}


def provenance_statement(reader: CatalogReader, revision_id: int) -> bytes:
    raw = scalar(reader, "SELECT provenance_statement FROM revisions WHERE id = :rid", {"rid": revision_id})
    return bytes(raw)


def damaged_blobs(reader: CatalogReader) -> dict[str, str]:
    """sha256 -> what scrub found, for every blob still awaiting repair."""
    return dict(reader.rows("SELECT sha256, damage FROM blobs WHERE damage IS NOT NULL"))


def schema_version(reader: CatalogReader) -> str | None:
    found = scalar(reader, "SELECT version_num FROM alembic_version")
    return None if found is None else str(found)


@dataclass(frozen=True)
class RevokedContent:
    files: frozenset[tuple[str, str]]  # (path, sha256): what the revoked statement signed
    revokers: frozenset[str]  # the trust entries whose signed revocations revoked it


def revoked_contents(reader: CatalogReader) -> dict[str, RevokedContent]:
    """The files of every revoked revision the catalog holds, and who revoked it, keyed `repo@commit`.

    An import compares them with each new revision's files: revoked content
    stays revoked whatever commit it comes back under.
    """
    files: dict[str, set[tuple[str, str]]] = {}
    revokers: dict[str, set[str]] = {}
    rows = reader.rows(
        'SELECT m.repo_id, r."commit", f.path, f.sha256, v.signer FROM models m'
        " JOIN revisions r ON r.model_id = m.id"
        ' JOIN revocations v ON v.repo_id = m.repo_id AND v."commit" = r."commit"'
        " JOIN files f ON f.revision_id = r.id"
    )
    for repo_id, commit, path, sha, signer in rows:
        label = f"{repo_id}@{commit}"
        files.setdefault(label, set()).add((path, sha))
        revokers.setdefault(label, set()).add(signer)
    return {label: RevokedContent(frozenset(files[label]), frozenset(revokers[label])) for label in files}


def revisions_present(reader: CatalogReader, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (repo, commit) are catalogued, whatever their status (a revoked one stays)."""
    present = set()
    for repo_id, commit in pairs:
        rows = reader.rows(
            "SELECT 1 FROM revisions r JOIN models m ON m.id = r.model_id"
            ' WHERE m.repo_id = :repo_id AND r."commit" = :commit',
            {"repo_id": repo_id, "commit": commit},
        )
        if rows:
            present.add((repo_id, commit))
    return present


def available_revisions(reader: CatalogReader) -> list[tuple[str, str]]:
    """Every available revision (repo, commit): the views an interrupted import may owe."""
    rows = reader.rows(
        'SELECT m.repo_id, r."commit" FROM revisions r JOIN models m ON m.id = r.model_id'
        ' WHERE r.status = :status ORDER BY m.repo_id, r."commit"',
        {"status": AVAILABLE},
    )
    return [(repo_id, commit) for repo_id, commit in rows]
