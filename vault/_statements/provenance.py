"""Provenance statements: where a revision came from, signed beside its OMS signature.

The statement is an in-toto Statement v1 with a SLSA Provenance v1 predicate.
Its subjects are the revision's files; `externalParameters` records what was
asked for (source, repo, requested revision, the refs seen) and
`resolvedDependencies` what was fetched (the commit and each file, with what
the source published and whether it matched). `docs/formats.md` has the schema.

A statement says exactly what was checked, never more: each file's `check`
is `compared-with-hub` only when its digest was compared with a record the
Hub published, else `hashed-locally`; the commit's `commit_source` says
whether the Hub resolved it, the operator asserted it, or vault derived it
from the files. Statements written before these fields are read for what they
are: a file with no published record was only hashed, whatever its `matched`
said, and their commit's source is not recorded.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vault._statements.manifest import STATEMENT_TYPE, canonical_json
from vault._statements.paths import check_relpath, unshowable
from vault._statements.refs import check_ref_name, check_repo_id, is_commit
from vault.errors import TrustError, UsageError
from vault.version import __version__

SLSA_PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:vault:fetch:v1"
BUILDER_ID = "urn:vault"


class FileCheck(enum.StrEnum):
    """What was done to a file before it was signed: the only claims a statement makes about it."""

    COMPARED_WITH_HUB = "compared-with-hub"  # its digest equals the record the Hub published
    HASHED_LOCALLY = "hashed-locally"  # no record to compare with: hashed as it was found
    DID_NOT_MATCH = "did-not-match-hub"  # only read from old statements: vault never signs one


class CommitSource(enum.StrEnum):
    """Who named the revision's commit."""

    HUB = "hub"  # the Hub resolved the requested revision to it
    OPERATOR = "operator"  # given with `vault add --revision`: asserted, not fetched
    CONTENT = "content"  # derived by vault from the files' digests (no commit was given)
    UNRECORDED = ""  # a statement from before vault recorded it


@dataclass(frozen=True)
class FileRecord:
    path: str
    size: int
    sha256: str
    # What the source published for this file (e.g. the Hub's LFS sha256), or None
    # for a local directory, which publishes nothing but its bytes.
    published: dict[str, Any] | None = None
    check: FileCheck = FileCheck.HASHED_LOCALLY

    @property
    def matched(self) -> bool:
        """Compared with a Hub record, and equal to it: the one case shown as "matched the Hub"."""
        return self.check is FileCheck.COMPARED_WITH_HUB


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
    commit_source: CommitSource = CommitSource.UNRECORDED


def build_provenance(p: Provenance) -> bytes:
    files = sorted(p.files.values(), key=lambda f: f.path)
    commit: dict[str, Any] = {"uri": f"{p.source.get('uri', 'source')}", "digest": {"gitCommit": p.commit}}
    if p.commit_source is not CommitSource.UNRECORDED:
        commit["annotations"] = {"commit_source": p.commit_source.value}
    deps: list[dict[str, Any]] = [commit]
    for f in files:
        annotations: dict[str, Any] = {"size": f.size, "check": f.check.value}
        if f.check is FileCheck.COMPARED_WITH_HUB:
            annotations["matched"] = True  # what vault < 0.2 reads; written only when it is so
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
    commit_source: CommitSource = CommitSource.UNRECORDED,
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
        commit_source=commit_source,
    )


def _fail(msg: str) -> TrustError:
    return TrustError(f"provenance statement: {msg}")


def parse_provenance(payload: bytes) -> Provenance:
    """Parse a verified provenance payload, checking every field against the schema in
    docs/formats.md: a signed statement is judged whole before anything is written, so a
    field of the wrong type is a refusal here, never a crash after blobs were stored.
    """
    try:
        stmt = _object(json.loads(payload), "statement")
        pred = _object(stmt["predicate"], "predicate")
        bd = _object(pred["buildDefinition"], "buildDefinition")
        ext = _object(bd["externalParameters"], "externalParameters")
        if stmt["_type"] != STATEMENT_TYPE or stmt["predicateType"] != SLSA_PREDICATE_TYPE:
            raise _fail(f"unexpected type {stmt['predicateType']!r}")
        if bd["buildType"] != BUILD_TYPE:
            raise _fail(f"unexpected buildType {bd['buildType']!r}")
        repo_id = check_repo_id(_text(ext["repo_id"], "repo_id"))
        deps = bd["resolvedDependencies"]
        if not isinstance(deps, list) or not deps:
            raise _fail("resolvedDependencies is not a non-empty list")
        first = _object(deps[0], "dependency")
        commit = _object(first["digest"], "digest")["gitCommit"]
        if not isinstance(commit, str) or not is_commit(commit):
            raise _fail(f"commit {commit!r} is not 40 hex digits")
        refs = {check_ref_name(_text(k, "ref")): v for k, v in _object(ext["refs"], "refs").items()}
        if any(v != commit for v in refs.values()):
            raise _fail("a ref points to a commit other than this revision's")
        files = _file_records(deps[1:])
        _check_subjects(stmt["subject"], files)
        meta = _object(_object(pred["runDetails"], "runDetails")["metadata"], "metadata")
        builder = _object(_object(pred["runDetails"], "runDetails")["builder"], "builder")
        source = _source(ext["source"])
        commit_source = _commit_source(first)
        _check_claims_fit_the_source(source, commit_source, files)
        return Provenance(
            repo_id=repo_id,
            commit=commit,
            source=source,
            requested_revision=_text(ext["requested_revision"], "requested_revision"),
            refs=refs,
            fetched_at=_text(meta["startedOn"], "startedOn"),
            tool_version=_text(_object(builder["version"], "version")["vault"], "tool version"),
            files=files,
            commit_source=commit_source,
        )
    except UsageError as exc:
        raise _fail(str(exc)) from None
    except (KeyError, IndexError, TypeError, AttributeError, ValueError, RecursionError) as exc:
        raise _fail(f"malformed ({type(exc).__name__}: {exc})") from None


_SHA256_HEX = frozenset("0123456789abcdef")


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(f"{what} is not an object")
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise _fail(f"{what} is not a string")
    if unshowable(value):
        # Shown by `provenance`, `show` and the pages: a newline or an escape would forge a line.
        raise _fail(f"{what} holds a control, format or line-separator character")
    return value


def _sha256(value: object, what: str) -> str:
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= _SHA256_HEX:
        raise _fail(f"{what}: sha256 is not 64 lowercase hex digits")
    return value


def _scalar_map(value: object, what: str) -> dict[str, Any]:
    """An object of strings, integers and lists of strings: what vault writes in `source` and
    `published`, and all a reader may render."""
    checked = _object(value, what)
    for key, item in checked.items():
        texts = [key, *(item if isinstance(item, list) else [item])]
        texts += list(item.values()) if isinstance(item, dict) else []
        if any(isinstance(s, str) and unshowable(s) for s in texts):
            raise _fail(f"{what}.{key} holds a control, format or line-separator character")
        plain = isinstance(item, str) or (isinstance(item, int) and not isinstance(item, bool))
        strings = isinstance(item, list) and all(isinstance(i, str) for i in item)
        if not (plain or strings or (key == "upstream_signature" and _upstream_record(item))):
            raise _fail(f"{what}.{key} is not a string, integer or list of strings")
    return checked


def _upstream_record(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _source(value: object) -> dict[str, Any]:
    source = _scalar_map(value, "source")
    _text(source.get("type"), "source.type")
    return source


def _file_records(deps: list[Any]) -> dict[str, FileRecord]:
    files: dict[str, FileRecord] = {}
    for d in deps:
        d = _object(d, "dependency")
        name = check_relpath(_text(d["name"], "file name"), "provenance file")
        ann = _object(d["annotations"], f"{name}: annotations")
        size = ann["size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise _fail(f"{name}: bad size {size!r}")
        if name in files:
            raise _fail(f"{name}: listed twice")
        published = ann.get("published")
        if published is not None:
            published = _scalar_map(published, f"{name}: published")
        check = _file_check(name, ann, published)
        sha = _sha256(_object(d["digest"], f"{name}: digest")["sha256"], name)
        if check is FileCheck.COMPARED_WITH_HUB:
            _check_published(name, size, sha, _object(published, f"{name}: published"))
        files[name] = FileRecord(name, size, sha, published, check)
    return files


def _file_check(name: str, ann: dict[str, Any], published: dict[str, Any] | None) -> FileCheck:
    """What was done to the file: said by `check`, or, in older statements, read from what they hold."""
    matched = ann.get("matched")
    if matched is not None and not isinstance(matched, bool):
        raise _fail(f"{name}: matched is not true or false")
    if "check" not in ann:  # before `check`: `matched` was written, and true even with nothing compared
        if matched is None:
            raise _fail(f"{name}: says neither check nor matched")
        if published is None:
            return FileCheck.HASHED_LOCALLY
        return FileCheck.COMPARED_WITH_HUB if matched else FileCheck.DID_NOT_MATCH
    try:
        check = FileCheck(ann["check"])
    except ValueError:
        raise _fail(f"{name}: check {ann['check']!r} is not one vault writes") from None
    compared = check is FileCheck.COMPARED_WITH_HUB
    if (
        check is FileCheck.DID_NOT_MATCH
        or (matched is True) != compared
        or compared != (published is not None)
    ):
        raise _fail(f"{name}: check {check.value} contradicts what the statement holds for it")
    return check


def _check_claims_fit_the_source(
    source: dict[str, Any], commit_source: CommitSource, files: dict[str, FileRecord]
) -> None:
    """Only a Hub resolves a commit and publishes records to compare with: a statement whose source is
    a local folder cannot say either, and one whose source is the Hub cannot say the operator named it."""
    hub = source.get("type") == "hub"
    if commit_source is CommitSource.HUB and not hub:
        raise _fail(f"commit_source hub for a {source.get('type')} source")
    if commit_source in (CommitSource.OPERATOR, CommitSource.CONTENT) and hub:
        raise _fail(f"commit_source {commit_source.value} for a Hub source")
    compared = sorted(n for n, f in files.items() if f.check is FileCheck.COMPARED_WITH_HUB)
    if compared and not hub:
        raise _fail(f"{compared[0]}: compared with the Hub, but the source is {source.get('type')}")


def _commit_source(first: dict[str, Any]) -> CommitSource:
    annotations = first.get("annotations")
    if annotations is None:
        return CommitSource.UNRECORDED
    value = _text(_object(annotations, "commit annotations").get("commit_source"), "commit_source")
    try:
        source = CommitSource(value)
    except ValueError:
        raise _fail(f"commit_source {value!r} is not one vault writes") from None
    if source is CommitSource.UNRECORDED:
        raise _fail("commit_source is empty")
    return source


def _check_published(name: str, size: int, sha: str, published: dict[str, Any]) -> None:
    """`matched` is shown as "matched the Hub": a record that contradicts its own file cannot say so.

    The LFS sha256 and the size are compared here; a git blob id, which needs
    the bytes, where they are hashed (`metadata.check_published_git_ids`).
    """
    if "lfs_sha256" in published and published["lfs_sha256"] != sha:
        raise _fail(f"{name}: says it matched the published LFS sha256, which is not its sha256")
    if "size" in published and published["size"] != size:
        raise _fail(f"{name}: says it matched the published size, which is not its size")


def _check_subjects(subjects: object, files: dict[str, FileRecord]) -> None:
    """The statement's subjects are its files: the same names and digests, no more, no fewer."""
    if not isinstance(subjects, list):
        raise _fail("subject is not a list")
    named: dict[str, str] = {}
    for s in subjects:
        s = _object(s, "subject")
        name = _text(s["name"], "subject name")
        if name in named:
            raise _fail(f"subject {name!r} listed twice")
        named[name] = _sha256(_object(s["digest"], "subject digest")["sha256"], f"subject {name}")
    if named != {p: f.sha256 for p, f in files.items()}:
        raise _fail("subjects and files disagree")
