"""A reader that goes away is not an error: `vault provenance REF | head -1` exits quietly.

Python ignores SIGPIPE, so a write to a pipe whose reader has closed raises
BrokenPipeError, from the command's own output or from the interpreter's
final flush of stdout (then printed as "Exception ignored …"). The console
script catches the first, flushes inside that guard, and points stdout at
/dev/null so the interpreter has nothing left to fail on.
"""

from __future__ import annotations

import os
import sys


def reader_gone() -> None:
    """Call on BrokenPipeError from stdout: nothing more will be written, and exit says nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout (embedded, captured): nothing to redirect
        pass


def flush_stdout() -> bool:
    """Flush what the command printed; False when the reader had already gone."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        reader_gone()
        return False
    return True
