"""Worker threads that leave Ctrl-C and SIGTERM to the main thread.

Linux hands a signal sent to the process to any thread that does not block
it. When a worker takes it, the main thread hears of it only at its next
bytecode check, and that check can fall just after the main thread took a
lock inside a Python-level `Condition.__enter__` (`queue.Queue.put`,
`Future.result`), before the `with` block that would release it exists. The
lock then stays held, and the cleanup that needs it waits forever (a bundle
given SIGINT hung this way in CI). Delivered to the main thread, the signal
interrupts its wait instead, before the lock is taken.
"""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor

MAIN_THREAD_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def leave_signals_to_main_thread() -> None:
    """Block Ctrl-C and SIGTERM in the calling thread (call it first thing in a worker)."""
    if hasattr(signal, "pthread_sigmask"):  # POSIX; elsewhere only the main thread gets them anyway
        signal.pthread_sigmask(signal.SIG_BLOCK, MAIN_THREAD_SIGNALS)


def worker_pool(max_workers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose workers never take a Ctrl-C or SIGTERM meant for the main thread."""
    return ThreadPoolExecutor(
        max_workers=max_workers, thread_name_prefix=name, initializer=leave_signals_to_main_thread
    )
