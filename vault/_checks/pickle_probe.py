"""Does a file read as a pickle from byte 0, the way `pickle.load` reads it? Found by reading it so.

`pickle.load`, `torch.load`, `joblib.load` and `np.load(allow_pickle=True)`
read from byte 0 and stop at STOP, ignoring whatever follows (a line of text,
a real .npz, a torch zip), and protocol 0 and 1 pickles have no magic number.
So the question is answered by the reference reader itself: Python's own
unpickler reads the file, bounded, with every global it asks for replaced by
an inert stand-in that records being called. Nothing is imported and nothing
runs. `pickletools.dis` is stricter than `pickle.load` (it refuses a stack
left non-empty at STOP, or a memo slot written twice), so it would let such
a pickle pass as text; the unpickler accepts exactly what loaders accept.

The reading is a pickle when the unpickler reaches STOP, or when it called a
global before it failed (a loader would have run that call before meeting the
malformed tail). Text that only imports before failing (`cat\\ndog\\n.` asks
for `at.dog`) is not taken for a pickle: a loader would import a module there,
not call anything; the threat model lists that as out of reach.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any, BinaryIO

from vault._checks.pickle_scan import MAX_PICKLE_BYTES
from vault._kernel_copy import next_data


@dataclass(frozen=True)
class PickleReading:
    """The bytes a loader's unpickler consumes, and whether it got to STOP."""

    end: int
    complete: bool


class _Bounded:
    """A file read no further than `limit` bytes: an unsigned prefix cannot make the read unbounded."""

    def __init__(self, fh: BinaryIO, limit: int) -> None:
        self._fh, self._left, self.consumed = fh, limit, 0

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        data = self._fh.read(n)
        self._left -= len(data)
        self.consumed += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self) -> bytes:
        """A line as the unpickler reads it, without holding more than a chunk unless it ends.

        A short line (nearly all of them) costs one buffered readline. The unpickler
        refuses a line without a newline ("pickle data was truncated"), so where none
        comes before the bound the load fails there whatever the bytes are: the end is
        returned at once instead of the rest of the file in one string (a safetensors
        shard of zeros was read whole this way).
        """
        start = self._fh.tell()
        line = self._fh.readline(min(_LINE_SCAN, self._left))
        if line.endswith(b"\n"):
            self._left -= len(line)
            self.consumed += len(line)
            return line
        scanned = len(line)
        while line and scanned < self._left:  # a long line: find its end a piece at a time
            skip = _hole_ahead(self._fh, start + scanned)  # zeros hold no newline: never read
            if skip:
                scanned = min(self._left, scanned + skip)
                self._fh.seek(start + scanned)
                continue
            line = self._fh.read(min(_LINE_SCAN, self._left - scanned))
            newline = line.find(b"\n")
            if newline >= 0:
                self._fh.seek(start)
                return self.read(scanned + newline + 1)
            scanned += len(line)
        self._left = 0
        self.consumed += scanned
        return b""


_LINE_SCAN = 1 << 20


def _hole_ahead(fh: BinaryIO, pos: int) -> int:
    """How many bytes from `pos` are a hole of the file under `fh` (0 where none, or unknown).

    A sparse shard of zeros would otherwise be read through the page cache, which fills it
    with zeros first (the probe's scan took most of a sparse `vault add`)."""
    raw = getattr(fh, "raw", fh)
    if hasattr(raw, "next_data"):
        return max(0, int(raw.next_data(pos)) - pos)
    try:
        fd = raw.fileno()
    except (AttributeError, OSError, ValueError):
        return 0
    return max(0, next_data(fd, pos) - pos)


class _Probe(pickle.Unpickler):
    """Python's unpickler with every global an inert stand-in: it imports nothing and calls nothing."""

    def __init__(self, source: _Bounded) -> None:
        super().__init__(source)  # read, readline and readinto are all it uses
        self.called = False

    def find_class(self, module: str, name: str) -> Any:
        probe = self

        class Stand(dict[str, Any]):  # BUILD may set state on it as on any object
            def __new__(cls, *args: Any, **kwargs: Any) -> Stand:
                probe.called = True
                return super().__new__(cls)

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                pass

            def __setstate__(self, state: Any) -> None:
                pass

        return Stand

    def persistent_load(self, pid: Any) -> Any:
        return pid  # torch's legacy storages: data, not code


def read_as_pickle(fh: BinaryIO, size: int) -> PickleReading | None:
    """How a loader's unpickler reads the file from byte 0; None when it reads no pickle there."""
    fh.seek(0)
    source = _Bounded(fh, min(size, MAX_PICKLE_BYTES))
    probe = _Probe(source)
    try:
        probe.load()
    except RecursionError:
        raise
    except Exception:  # the unpickler raises many types on what is not a pickle
        return PickleReading(source.consumed, complete=False) if probe.called else None
    return PickleReading(source.consumed, complete=True)
