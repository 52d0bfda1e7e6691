"""Progress reporting for long work, kept out of the library's logic.

The library takes any object with `start`/`advance`/`finish` and counts bytes
as they are read; the CLI passes a tqdm bar on a terminal and nothing
otherwise (so `--json` and pipes stay clean).
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, total: int, description: str) -> None: ...
    def advance(self, n: int) -> None: ...
    def finish(self) -> None: ...


class NoProgress:
    def start(self, total: int, description: str) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def finish(self) -> None:
        pass


class CountingReader:
    """Wraps a readable source and reports every byte read from it."""

    def __init__(self, source: object, progress: Progress) -> None:
        self._source = source
        self._progress = progress

    def readinto(self, buf: bytearray | memoryview) -> int:
        n: int = self._source.readinto(buf)  # type: ignore[attr-defined]  # the sources are files and tar entries
        self._progress.advance(n or 0)
        return n

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._source.read(size)  # type: ignore[attr-defined]  # as readinto
        self._progress.advance(len(data))
        return data
