"""Provenance statements: where a revision came from, signed beside its OMS signature.

The statement is an in-toto Statement v1 with a SLSA Provenance v1 predicate.
Its subjects are the revision's files; `externalParameters` records what was
asked for (source, repo, requested revision, the refs seen) and
`resolvedDependencies` what was fetched (the commit and each file, with what
the source published and whether it matched). `docs/formats.md` has the schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vault._statements.manifest import STATEMENT_TYPE, canonical_json
from vault._statements.paths import check_relpath
from vault._statements.refs import check_ref_name, check_repo_id, is_commit
from vault.errors import TrustError, UsageError
from vault.version import __version__

SLSA_PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:vault:fetch:v1"
BUILDER_ID = "urn:vault"


@dataclass(frozen=True)
class FileRecord:
    path: str
    size: int
    sha256: str
    # What the source published for this file (e.g. the Hub's LFS sha256), or None
    # for a local directory, which publishes nothing but its bytes.
    published: dict[str, Any] | None = None
    matched: bool = True


@dataclass(frozen=True)
class Provenance:
    repo_id: str
    commit: str
    source: dict[str, Any]
    requested_revision: str
    refs: dict[str, str]
    fetched_at: str
    tool_version: str
    files: dict[str, FileRecord] = field(default_factory=dict)


def build_provenance(p: Provenance) -> bytes:
    files = sorted(p.files.values(), key=lambda f: f.path)
    deps: list[dict[str, Any]] = [
        {"uri": f"{p.source.get('uri', 'source')}", "digest": {"gitCommit": p.commit}}
    ]
    for f in files:
        annotations: dict[str, Any] = {"size": f.size, "matched": f.matched}
        if f.published is not None:
            annotations["published"] = f.published
        deps.append({"name": f.path, "digest": {"sha256": f.sha256}, "annotations": annotations})
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f.path, "digest": {"sha256": f.sha256}} for f in files],
        "predicateType": SLSA_PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "repo_id": p.repo_id,
                    "source": p.source,
                    "requested_revision": p.requested_revision,
                    "refs": dict(sorted(p.refs.items())),
                },
                "internalParameters": {},
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": {"id": BUILDER_ID, "version": {"vault": p.tool_version}},
                "metadata": {"startedOn": p.fetched_at, "finishedOn": p.fetched_at},
            },
        },
    }
    return canonical_json(statement)


def new_provenance(
    repo_id: str,
    commit: str,
    source: dict[str, Any],
    requested_revision: str,
    refs: Iterable[str],
    fetched_at: str,
    files: Iterable[FileRecord],
) -> Provenance:
    return Provenance(
        repo_id=repo_id,
        commit=commit,
        source=source,
        requested_revision=requested_revision,
        refs={name: commit for name in refs},
        fetched_at=fetched_at,
        tool_version=__version__,
        files={f.path: f for f in files},
    )


def _fail(msg: str) -> TrustError:
    return TrustError(f"provenance statement: {msg}")


def parse_provenance(payload: bytes) -> Provenance:
    """Parse a verified provenance payload; every field the importer relies on is checked."""
    try:
        stmt = json.loads(payload)
        pred = stmt["predicate"]
        bd = pred["buildDefinition"]
        ext = bd["externalParameters"]
        if stmt["_type"] != STATEMENT_TYPE or stmt["predicateType"] != SLSA_PREDICATE_TYPE:
            raise _fail(f"unexpected type {stmt['predicateType']!r}")
        if bd["buildType"] != BUILD_TYPE:
            raise _fail(f"unexpected buildType {bd['buildType']!r}")
        repo_id = check_repo_id(ext["repo_id"])
        deps = bd["resolvedDependencies"]
        commit = deps[0]["digest"]["gitCommit"]
        if not is_commit(commit):
            raise _fail(f"commit {commit!r} is not 40 hex digits")
        refs = {check_ref_name(k): v for k, v in ext["refs"].items()}
        if any(v != commit for v in refs.values()):
            raise _fail("a ref points to a commit other than this revision's")
        files: dict[str, FileRecord] = {}
        for d in deps[1:]:
            name = check_relpath(d["name"], "provenance file")
            ann = d["annotations"]
            size = ann["size"]
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise _fail(f"{name}: bad size {size!r}")
            if name in files:
                raise _fail(f"{name}: listed twice")
            files[name] = FileRecord(
                name, size, d["digest"]["sha256"], ann.get("published"), bool(ann["matched"])
            )
        meta = pred["runDetails"]["metadata"]
        return Provenance(
            repo_id=repo_id,
            commit=commit,
            source=ext["source"],
            requested_revision=str(ext["requested_revision"]),
            refs=refs,
            fetched_at=str(meta["startedOn"]),
            tool_version=str(pred["runDetails"]["builder"]["version"]["vault"]),
            files=files,
        )
    except UsageError as exc:
        raise _fail(str(exc)) from None
    except (KeyError, IndexError, TypeError, AttributeError, ValueError, RecursionError) as exc:
        raise _fail(f"malformed ({type(exc).__name__}: {exc})") from None
