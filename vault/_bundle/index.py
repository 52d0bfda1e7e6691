"""`vault-bundle.json`: the bundle's table of contents.

The index is NOT trusted. It only tells the reader which signature entries to
expect and how large each blob claims to be; every claim is checked against
the signed statements before a blob byte is read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from vault._bundle.part_digests import PartDigests
from vault._statements.manifest import canonical_json
from vault._statements.paths import check_relpath
from vault._statements.refs import check_repo_id, is_commit
from vault.errors import BundleFormatError, UsageError

INDEX_NAME = "vault-bundle.json"
FORMAT = "vault-bundle"
VERSION = 1
MAX_INDEX_BYTES = 4 << 20  # ~40,000 blobs; parsed JSON costs several times its size in memory
MAX_SIGNATURE_ENTRIES = 10_000
SIGNATURE_KINDS = ("model", "provenance", "upstream")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def blob_entry(sha256: str) -> str:
    return f"blobs/sha256/{sha256}"


def signature_file_name(kind: str, i: int) -> str:
    """The i-th (0-based) signature of a kind: `model.sig`, `model-2.sig`, … (in bundles and exports)."""
    return f"{kind}.sig" if i == 0 else f"{kind}-{i + 1}.sig"


def revision_prefix(repo_id: str, commit: str) -> str:
    return f"revisions/{repo_id}/{commit}"


@dataclass(frozen=True)
class RevisionEntry:
    repo_id: str
    commit: str
    signatures: dict[str, tuple[str, ...]]  # kind -> entry names


def revocation_entry(repo_id: str, commit: str, fingerprint: str) -> str:
    return f"revocations/{repo_id}/{commit}/{fingerprint[:16]}.sig"


def trusted_root_entry(sha256: str) -> str:
    return f"trusted_roots/{sha256}.json"


_TRUSTED_ROOT_ENTRY = re.compile(r"trusted_roots/([0-9a-f]{64})\.json")


def _is_root_entry(name: object) -> bool:
    return isinstance(name, str) and _TRUSTED_ROOT_ENTRY.fullmatch(name) is not None


def trusted_root_digest(name: str) -> str:
    """The sha256 a carried trusted root's entry name promises (the name is checked by `parse_index`)."""
    match = _TRUSTED_ROOT_ENTRY.fullmatch(name)
    assert match is not None
    return match.group(1)


@dataclass(frozen=True)
class BundleIndex:
    revisions: tuple[RevisionEntry, ...]
    blobs: dict[str, int]  # sha256 -> size
    revocations: tuple[str, ...] = ()  # entry names of signed revocations
    # The length of the whole tar stream, so a reader can name a missing or short
    # part. Absent in bundles of vault 0.1.0; unsigned, so it only shapes messages.
    size: int | None = None
    # The Sigstore trusted_root.json files the signatures were made under (never trusted:
    # the reader only compares them with the roots its trust entries pinned).
    trusted_roots: tuple[str, ...] = ()
    # A delta bundle's signed blobs that it leaves out, because the far side already
    # holds them (`--have`, `--base`): sha256 -> size. Unsigned like the rest: the
    # importer takes each from its own store, or refuses.
    omitted: dict[str, int] = field(default_factory=dict)
    # Block digests of every part (see `part_digests`): where the media is damaged.
    parts: PartDigests | None = None

    def to_bytes(self) -> bytes:
        extra: dict[str, object] = {"revocations": list(self.revocations)} if self.revocations else {}
        if self.trusted_roots:
            extra["trusted_roots"] = list(self.trusted_roots)
        if self.size is not None:
            extra["size"] = self.size
        if self.parts is not None:
            extra["parts"] = self.parts.to_json()
        if self.omitted:
            extra["omitted"] = [{"sha256": h, "size": n} for h, n in sorted(self.omitted.items())]
        return canonical_json(
            {
                **extra,
                "format": FORMAT,
                "version": VERSION,
                "revisions": [
                    {
                        "repo_id": r.repo_id,
                        "commit": r.commit,
                        "signatures": {k: list(v) for k, v in sorted(r.signatures.items())},
                    }
                    for r in self.revisions
                ],
                "blobs": [{"sha256": h, "size": n} for h, n in sorted(self.blobs.items())],
            }
        )

    def signature_entries(self) -> set[str]:
        """Every small signed entry that must be read (and verified) before any blob."""
        sigs = {name for r in self.revisions for names in r.signatures.values() for name in names}
        return sigs | set(self.revocations) | set(self.trusted_roots)


def parse_index(raw: bytes) -> BundleIndex:
    def bad(msg: str) -> BundleFormatError:
        return BundleFormatError(f"{INDEX_NAME}: {msg}")

    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad("not JSON (or nested too deep)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise bad("not a vault bundle index")
    if doc.get("version") != VERSION:
        raise bad(f"format version {doc.get('version')!r} is not supported (this vault reads {VERSION})")
    try:
        revisions = []
        seen_revs: set[tuple[str, str]] = set()
        for r in doc["revisions"]:
            repo_id, commit = check_repo_id(r["repo_id"]), r["commit"]
            if not is_commit(commit):
                raise bad(f"commit {commit!r} is not 40 hex digits")
            if (repo_id, commit) in seen_revs:
                raise bad(f"{repo_id}@{commit} listed twice")
            seen_revs.add((repo_id, commit))
            prefix = revision_prefix(repo_id, commit) + "/"
            sigs: dict[str, tuple[str, ...]] = {}
            for kind, names in r["signatures"].items():
                if kind not in SIGNATURE_KINDS:
                    raise bad(f"unknown signature kind {kind!r}")
                for name in names:
                    check_relpath(name, "index entry")
                    if not name.startswith(prefix) or not name.endswith(".sig"):
                        raise bad(f"signature entry {name!r} outside {prefix}")
                sigs[kind] = tuple(names)
            revisions.append(RevisionEntry(repo_id, commit, sigs))
        blobs = _blob_list(doc["blobs"], bad)
        omitted = _blob_list(doc.get("omitted", []), bad)
        both = sorted(set(blobs) & set(omitted))
        if both:
            raise bad(f"blob {both[0]} is both carried and omitted")
    except (KeyError, TypeError, AttributeError):
        raise bad("malformed") from None
    except UsageError as exc:
        raise bad(str(exc)) from None
    revocations = doc.get("revocations", [])
    if not isinstance(revocations, list) or not all(isinstance(n, str) for n in revocations):
        raise bad("revocations must be a list of entry names")
    for name in revocations:
        check_relpath(name, "index entry")
        if not name.startswith("revocations/") or not name.endswith(".sig"):
            raise bad(f"revocation entry {name!r} outside revocations/")
    roots = doc.get("trusted_roots", [])
    if not isinstance(roots, list) or not all(_is_root_entry(n) for n in roots):
        raise bad("trusted_roots must be a list of trusted_roots/<sha256>.json entry names")
    size = doc.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise bad(f"bad bundle size {size!r}")
    parts = None
    if "parts" in doc:
        if size is None:
            raise bad("parts without the bundle size")
        try:
            parts = PartDigests.from_json(doc["parts"], size)
        except ValueError as exc:
            raise bad(str(exc)) from None
    all_sigs = [n for r in revisions for names in r.signatures.values() for n in names] + revocations + roots
    if len(all_sigs) > MAX_SIGNATURE_ENTRIES:
        raise bad(f"{len(all_sigs)} signature entries (limit {MAX_SIGNATURE_ENTRIES})")
    if len(all_sigs) != len(set(all_sigs)):
        raise bad("a signature entry is listed twice")
    return BundleIndex(tuple(revisions), blobs, tuple(revocations), size, tuple(roots), omitted, parts)


def _blob_list(items: object, bad: Callable[[str], BundleFormatError]) -> dict[str, int]:
    if not isinstance(items, list):
        raise bad("a blob list is not a list")
    blobs: dict[str, int] = {}
    for b in items:
        sha, size = b["sha256"], b["size"]
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise bad(f"malformed blob digest {sha!r}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise bad(f"blob {sha}: bad size {size!r}")
        if sha in blobs:
            raise bad(f"blob {sha} listed twice")
        blobs[sha] = size
    return blobs
