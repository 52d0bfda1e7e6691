"""REF grammar shared by every command: ``org/name``, ``org/name@ref``, ``org/name@<commit>``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vault.errors import UsageError

DEFAULT_REF = "main"

# Hub repo ids: one namespace and one name, conservative characters. Keeping the
# grammar tight matters because repo ids become directory names in the store.
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_REF_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")


def is_commit(text: str) -> bool:
    return bool(_COMMIT.fullmatch(text))


def check_repo_id(repo_id: str) -> str:
    # "--" is refused as the Hub refuses it: the HF cache folder models--org--name would alias.
    if not _REPO_ID.fullmatch(repo_id) or ".." in repo_id or "--" in repo_id:
        raise UsageError(f"invalid repo id {repo_id!r}: expected org/name")
    return repo_id


def check_ref_name(name: str) -> str:
    if not _REF_NAME.fullmatch(name) or ".." in name or name.endswith("/") or "//" in name:
        raise UsageError(f"invalid ref name {name!r}")
    if _COMMIT.fullmatch(name.lower()):
        # A ref named like a commit would answer a request for that commit with another revision.
        raise UsageError(f"invalid ref name {name!r}: looks like a commit")
    return name


@dataclass(frozen=True)
class Ref:
    """A parsed REF; `revision` is a ref name or a 40-hex commit."""

    repo_id: str
    revision: str = DEFAULT_REF

    @property
    def is_commit(self) -> bool:
        return is_commit(self.revision)

    def __str__(self) -> str:
        return f"{self.repo_id}@{self.revision}"


def parse_ref(text: str) -> Ref:
    repo_id, sep, revision = text.partition("@")
    check_repo_id(repo_id)
    if not sep:
        return Ref(repo_id)
    if not revision:
        raise UsageError(f"invalid REF {text!r}: empty revision after '@'")
    if not is_commit(revision):
        check_ref_name(revision)
    return Ref(repo_id, revision)
