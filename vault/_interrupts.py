"""A Ctrl-C or SIGTERM that cannot be lost on the way to the point of no return.

Python raises a signal handler's exception wherever the main thread next
runs Python code, and that can be a finalizer: a thread pool's weakref
callback, a `__del__`, a generator closed by the garbage collector. There the
exception is printed as "Exception ignored" and dropped, and the command
carries on as if nobody had asked it to stop (an import given SIGINT in CI
finished and said "imported"). So the command line's handlers also record
the request here, and each operation calls `check()` just before it makes
anything visible (the import's catalog commit, a bundle's final names): a
request recorded by then stops it, whatever swallowed the exception.
"""

from __future__ import annotations

_requested: list[type[BaseException]] = []


def request(stop: type[BaseException]) -> None:
    """Record a stop request (a signal handler calls this, then raises `stop` itself)."""
    _requested.append(stop)


def check() -> None:
    """Raise the first stop requested and not yet raised here."""
    if _requested:
        raise _requested.pop(0)()


def forget() -> None:
    """A command is over: requests made during it do not carry into the next (an embedding
    program may run several)."""
    _requested.clear()
