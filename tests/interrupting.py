"""Deliver a signal to a vault command at a chosen moment, as an operator's Ctrl-C would."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence


def _as_from_a_terminal() -> None:
    """A command run from a shell takes Ctrl-C; a suite started in the background would pass
    SIGINT on ignored (a shell's background jobs ignore it), and the command would never see it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def signal_when(
    argv: Sequence[str | os.PathLike[str]], ready: Callable[[], bool], sig: signal.Signals
) -> subprocess.CompletedProcess[str] | None:
    """Run `argv`; once `ready()` holds, freeze it, check `ready()` again, send `sig`, let it run on.

    Freezing first makes the moment exact: the signal is pending when it
    resumes. None when the command finished before it was ever caught ready
    (the caller resets and tries again).
    """
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_from_a_terminal)  # fmt: skip
    while proc.poll() is None and not ready():
        time.sleep(0.0005)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGSTOP)
        if ready():
            os.kill(proc.pid, sig)
            os.kill(proc.pid, signal.SIGCONT)
            stdout, stderr = proc.communicate(timeout=60)
            return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        os.kill(proc.pid, signal.SIGCONT)
    proc.communicate(timeout=60)
    return None


def exited_as_interrupted(res: subprocess.CompletedProcess[str], sig: signal.Signals) -> bool:
    """130 for Ctrl-C, 143 for SIGTERM.

    A Ctrl-C that escapes an eval()/exec() of source text (namedtuple or
    dataclass creation) makes CPython 3.11 end the process by SIGINT even
    after vault handled it; a shell sees 130 either way.
    """
    wanted = {signal.SIGINT: 130, signal.SIGTERM: 143}[sig]
    return res.returncode == wanted or (sig == signal.SIGINT and res.returncode == -sig)
