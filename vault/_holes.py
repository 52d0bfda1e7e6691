"""Runs of zeros become holes when vault writes a blob or a bundle.

A model's bytes are not usually zeros, so this rarely saves anything on real
weights; it is what lets a bundle of a 200 GB sparse test model (or a padded
checkpoint) cross this machine's own disk without filling it, and what keeps
the bench's sparse case honest about time and memory rather than disk size.
Whoever reads the file back gets the same bytes either way.
"""

from __future__ import annotations

# Smaller zero runs are written: a hole is only worth a seek if it spans pages.
HOLE_MIN = 64 << 10
# Writers look for zeros a piece of this size at a time, whatever size their writes are.
HOLE_PIECE = 1 << 20
# Every hole that is hashed (import, verify, scrub, the bundle's block digests) is hashed from this:
# the largest window any of them takes. Never written, so its pages stay the kernel's zero page.
_ZEROS = bytes(32 << 20)


def zeros(n: int) -> memoryview:
    """`n` zero bytes to hash a hole from (at most a window's worth)."""
    if n > len(_ZEROS):
        raise ValueError(f"{n} zero bytes asked for, {len(_ZEROS)} at most")
    return memoryview(_ZEROS)[:n]


def all_zero(view: memoryview) -> bool:
    n = len(view)
    # Three bytes rule out nearly every chunk of real data before any full scan.
    if n < HOLE_MIN or view[0] or view[-1] or view[n // 2]:
        return False
    # memcmp against the zero buffer: no copy of the candidate (tobytes was one per MiB)
    return all(_ZEROS.startswith(view[at : at + len(_ZEROS)]) for at in range(0, n, len(_ZEROS)))
