"""Ctrl-C and SIGTERM reach vault's main thread, never one of its workers.

A worker that takes the signal leaves the main thread to notice it at a
moment that can strand a lock (see `vault._workers`); these check the mask
each kind of worker runs with, as the kernel sees it.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from vault._bundle.part_digests import BlockHasher, PartDigests
from vault._bundle.writer import _Digesting, _FileSink
from vault._workers import MAIN_THREAD_SIGNALS, worker_pool


def _blocked(native_id: int) -> set[int]:
    """The signals the kernel will not deliver to this thread (SigBlk in /proc)."""
    status = Path(f"/proc/self/task/{native_id}/status").read_text()
    mask = int(next(line for line in status.splitlines() if line.startswith("SigBlk:")).split()[1], 16)
    return {n for n in range(1, 65) if mask >> (n - 1) & 1}


def test_pool_workers_block_what_the_main_thread_handles() -> None:
    with worker_pool(2, "t") as pool:
        blocked = pool.submit(lambda: _blocked(threading.get_native_id())).result()
    assert set(MAIN_THREAD_SIGNALS) <= blocked
    assert not set(MAIN_THREAD_SIGNALS) & _blocked(threading.get_native_id())  # the main thread does


def test_the_bundle_digest_thread_blocks_them(tmp_path: Path) -> None:
    total = 4 << 20
    stream = _Digesting(
        _FileSink(tmp_path / "out.partial"), BlockHasher(PartDigests.placeholder(total, total, 0), total)
    )
    thread_id = stream._thread.native_id
    assert thread_id is not None
    deadline = time.monotonic() + 10
    while not set(MAIN_THREAD_SIGNALS) <= _blocked(thread_id) and time.monotonic() < deadline:
        time.sleep(0.01)
    blocked = _blocked(thread_id)
    stream.abandon()
    assert {signal.SIGINT, signal.SIGTERM} <= blocked
