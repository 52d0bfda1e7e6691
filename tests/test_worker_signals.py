"""Ctrl-C and SIGTERM reach vault's main thread, never one of its workers.

A worker that takes the signal leaves the main thread to notice it at a
moment that can strand a lock (see `vault._workers`); these check the mask
each kind of worker runs with, as the kernel sees it, and that the bundle
writer's cleanup finishes even with a lock stranded.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from vault._bundle.part_digests import BlockHasher, PartDigests
from vault._ops.bundle import _Digesting, _FileSink
from vault._workers import MAIN_THREAD_SIGNALS, worker_pool


def _blocked(native_id: int) -> set[int]:
    """The signals the kernel will not deliver to this thread (SigBlk in /proc)."""
    status = Path(f"/proc/self/task/{native_id}/status").read_text()
    mask = int(next(line for line in status.splitlines() if line.startswith("SigBlk:")).split()[1], 16)
    return {n for n in range(1, 65) if mask >> (n - 1) & 1}


def _digest_stream(tmp_path: Path) -> _Digesting:
    """The bundle writer's tee to its block-digest thread, over a throwaway file."""
    total = 4 << 20
    return _Digesting(
        _FileSink(tmp_path / "out.partial"), BlockHasher(PartDigests.placeholder(total, total, 0), total)
    )


def test_pool_workers_block_what_the_main_thread_handles() -> None:
    with worker_pool(2, "t") as pool:
        blocked = pool.submit(lambda: _blocked(threading.get_native_id())).result()
    assert set(MAIN_THREAD_SIGNALS) <= blocked
    assert not set(MAIN_THREAD_SIGNALS) & _blocked(threading.get_native_id())  # the main thread does


def test_the_bundle_digest_thread_blocks_them(tmp_path: Path) -> None:
    stream = _digest_stream(tmp_path)
    thread_id = stream._thread.native_id
    assert thread_id is not None
    deadline = time.monotonic() + 10
    while not set(MAIN_THREAD_SIGNALS) <= _blocked(thread_id) and time.monotonic() < deadline:
        time.sleep(0.01)
    blocked = _blocked(thread_id)
    stream.abandon()
    assert set(MAIN_THREAD_SIGNALS) <= blocked


def test_cleanup_does_not_wait_on_a_lock_a_signal_left_held(tmp_path: Path) -> None:
    """Ctrl-C can land inside the digest queue's Condition.__enter__, after it took the lock.

    The lock then stays held (CI once hung here for good); the abort path must
    finish without it, and the digest thread must still go once it is free.
    """
    stream = _digest_stream(tmp_path)
    stream.write(b"x" * 4096)
    stream._queue.mutex.acquire()  # what the interrupted put() left behind
    cleanup = threading.Thread(target=stream.abandon, daemon=True)
    cleanup.start()
    cleanup.join(10)
    assert not cleanup.is_alive(), "abandon() waited on the queue's lock"
    stream._queue.mutex.release()
    stream._thread.join(10)
    assert not stream._thread.is_alive(), "the digest thread outlived an abandoned stream"
