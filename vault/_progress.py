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
