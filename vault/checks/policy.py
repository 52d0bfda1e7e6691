"""Which files need a content check, and running it on a staged file or a captured prefix."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vault.checks.pickle_scan import is_pickle_based, scan_pickle_path
from vault.checks.safetensors_grammar import MAX_HEADER_BYTES, check_safetensors, is_safetensors
from vault.errors import UnsafeContentError


@dataclass(frozen=True)
class ContentPolicy:
    """Explicit, audited operator overrides; the defaults refuse.

    allow_pickle: admit pickle-based weights that pass the allow-list scan.
    allow_downgrade: let an import move a ref to a revision fetched earlier than the one it holds.
    """

    allow_pickle: bool = False
    allow_downgrade: bool = False


def refuse_pickles(paths: Iterable[str], policy: ContentPolicy, hint: str = "") -> None:
    """Refuse on names alone, before a byte of content is read."""
    if policy.allow_pickle:
        return
    for path in sorted(paths):
        if is_pickle_based(path):
            raise UnsafeContentError(
                f"{path}: pickle-based weights are refused by default "
                f"(they can run code when loaded){hint}; --allow-pickle admits them after an allow-list scan"
            )


def needs_check(path: str) -> bool:
    return is_safetensors(path) or is_pickle_based(path)


def check_staged_file(path: str, file: Path, policy: ContentPolicy) -> None:
    """Check one file already on disk under the name `path` it will have in the revision."""
    if is_safetensors(path):
        with open(file, "rb") as fh:
            prefix = fh.read(8 + MAX_HEADER_BYTES)
        check_safetensors(path, prefix, file.stat().st_size)
    elif is_pickle_based(path):
        refuse_pickles([path], policy)
        scan_pickle_path(path, file)


class HeaderCapture:
    """Keeps the first bytes of a stream, exactly as many as a safetensors header check needs."""

    def __init__(self) -> None:
        self.data = bytearray()
        self._want = 8

    def write(self, chunk: bytes | memoryview) -> int:
        view = memoryview(chunk)
        while view and len(self.data) < self._want:
            take = self._want - len(self.data)
            self.data += view[:take]
            view = view[take:]
            if self._want == 8 and len(self.data) == 8:
                self._want = 8 + min(int.from_bytes(self.data, "little"), MAX_HEADER_BYTES)
        return len(chunk)


class Tee:
    """Writes every chunk to several sinks (the staging file and a header capture)."""

    def __init__(self, *sinks: object) -> None:
        self.sinks = [s for s in sinks if s is not None]

    def write(self, chunk: bytes | memoryview) -> int:
        for sink in self.sinks:
            sink.write(chunk)  # type: ignore[attr-defined]
        return len(chunk)
