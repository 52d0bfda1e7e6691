"""Block digests of a bundle's parts: which part of the media is damaged, and where.

Signatures say *that* a blob is wrong; after a DVD or a diode, the operator
needs to know *which part to send again*. The index carries sha256 digests of
fixed-size blocks of every part, so a failed check can name the part and the
byte range. They are unsigned like the rest of the index: they only word the
error and tell the parity decoder which parts to rebuild; every byte is still
checked against the signatures.

The index cannot hold digests of bytes that include itself, so blocks cover
the stream from the end of the index entry (`body_start`) on; bytes before it
count as absent. The writer fills the digests in after the stream is written,
in place, since their length is fixed in advance.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vault._holes import zeros
from vault._regular_files import open_regular
from vault._workers import worker_pool

MIN_BLOCK = 1 << 20
MAX_BLOCKS = 8192  # ~550 KB of index at most, whatever the bundle's size
_READ = 1 << 20
PLACEHOLDER = "0" * 64


@functools.cache
def _zeros_digest(length: int) -> str:
    h = hashlib.sha256()
    for start in range(0, length, _READ):
        h.update(zeros(min(_READ, length - start)))
    return h.hexdigest()


def block_size_for(total: int) -> int:
    """The smallest power of two from 1 MiB up that keeps the digests under MAX_BLOCKS."""
    size = MIN_BLOCK
    while -(-total // size) > MAX_BLOCKS:
        size *= 2
    return size


def part_spans(total: int, slice_size: int) -> list[tuple[int, int]]:
    """[start, end) of each part in the stream."""
    count = max(1, -(-total // slice_size))
    return [(i * slice_size, min((i + 1) * slice_size, total)) for i in range(count)]


def block_spans(start: int, end: int, block: int) -> list[tuple[int, int]]:
    return [(s, min(s + block, end)) for s in range(start, end, block)] or [(start, start)]


@dataclass(frozen=True)
class PartDigests:
    slice_size: int
    block_size: int
    body_start: int
    sha256: tuple[tuple[str, ...], ...]  # per part, per block

    @classmethod
    def placeholder(cls, total: int, slice_size: int, body_start: int) -> PartDigests:
        block = block_size_for(total)
        shape = tuple(
            tuple(PLACEHOLDER for _ in block_spans(s, e, block)) for s, e in part_spans(total, slice_size)
        )
        return cls(slice_size, block, body_start, shape)

    def to_json(self) -> dict[str, object]:
        return {
            "slice_size": self.slice_size,
            "block_size": self.block_size,
            "body_start": self.body_start,
            "sha256": [list(p) for p in self.sha256],
        }

    @classmethod
    def from_json(cls, doc: object, total: int) -> PartDigests:
        """Raises ValueError unless the table has exactly the shape a bundle of `total` bytes needs."""
        if not isinstance(doc, dict):
            raise ValueError("parts is not an object")
        nums = [doc.get(k) for k in ("slice_size", "block_size", "body_start")]
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in nums) or not all(
            nums[:2]
        ):
            raise ValueError("parts sizes must be positive integers")
        slice_size, block, body_start = (int(n) for n in nums if isinstance(n, int))
        if block != block_size_for(total) or body_start > total:
            raise ValueError("parts block size or body start do not fit the bundle")
        digests = doc.get("sha256")
        # Count before listing spans: an attacker's tiny slice of a huge size must cost nothing.
        if not isinstance(digests, list) or len(digests) != max(1, -(-total // slice_size)):
            raise ValueError(f"parts lists {len(digests) if isinstance(digests, list) else '?'} parts")
        spans = part_spans(total, slice_size)
        table = []
        for (s, e), blocks in zip(spans, digests, strict=True):
            ok = isinstance(blocks, list) and len(blocks) == len(block_spans(s, e, block))
            if not ok or not all(isinstance(d, str) and len(d) == 64 for d in blocks):
                raise ValueError("parts block digests do not fit the bundle")
            table.append(tuple(blocks))
        return cls(slice_size, block, body_start, tuple(table))

    def blocks(self, total: int) -> list[list[tuple[int, int]]]:
        return [block_spans(s, e, self.block_size) for s, e in part_spans(total, self.slice_size)]


class BlockHasher:
    """Fed the whole stream in order as it is written; yields the digest table at the end."""

    def __init__(self, plan: PartDigests, total: int) -> None:
        self._spans = [b for part in plan.blocks(total) for b in part]
        self._shape = [len(part) for part in plan.blocks(total)]
        self._body_start = plan.body_start
        self._plan = plan
        self._pos = 0
        self._i = 0
        self._done: list[str] = []
        self._current = hashlib.sha256()
        self._zeros = 0  # zero bytes received and not yet hashed (see update_zeros)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._flush_zeros()
        self._update(data)

    def _update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        while view:
            _start, end = self._spans[self._i]
            n = min(len(view), end - self._pos)
            if n <= 0:  # an empty block (or the end of one): move on
                self._close_block()
                continue
            lo = max(0, self._body_start - self._pos)
            if lo < n:
                self._current.update(view[lo:n])
            self._pos += n
            view = view[n:]
            if self._pos == end:
                self._close_block()

    def update_zeros(self, n: int) -> None:
        """`n` zero bytes of the stream (a hole). Runs are gathered until data comes, so that
        a block they cover whole, however the writer cut them, takes the digest of zeros
        computed once per length instead of hashing them again (a sparse model's holes)."""
        self._zeros += n

    def _flush_zeros(self) -> None:
        n, self._zeros = self._zeros, 0
        while n:
            start, end = self._spans[self._i]
            if self._pos == start and start >= self._body_start and end - start <= n and end > start:
                self._done.append(_zeros_digest(end - start))
                self._current = hashlib.sha256()
                self._i += 1
                self._pos = end
                n -= end - start
                continue
            k = min(n, _READ, max(end - self._pos, 1))
            self._update(zeros(k))
            n -= k

    def _close_block(self) -> None:
        self._done.append(self._current.hexdigest())
        self._current = hashlib.sha256()
        self._i += 1

    def table(self) -> PartDigests:
        self._flush_zeros()
        while len(self._done) < len(self._spans):
            self._close_block()
        out, k = [], 0
        for n in self._shape:
            out.append(tuple(self._done[k : k + n]))
            k += n
        return PartDigests(self._plan.slice_size, self._plan.block_size, self._plan.body_start, tuple(out))


@dataclass(frozen=True)
class Damage:
    part: int  # 0-based, in the table's numbering
    path: Path | None  # None: the part is missing
    start: int  # byte range within the part
    end: int
    why: str = "mismatch"  # missing | short (ends at `start`) | unreadable | mismatch


def find_damage(
    sources: Sequence[tuple[Path, int] | None],
    table: PartDigests,
    total: int,
    limit: int | None = None,
    only: set[int] | None = None,
) -> list[Damage]:
    """Every part that is missing, short, or has a block whose bytes do not match its digest.

    `sources[i]` is where part i's bytes are: a file and the offset they start
    at (0 for a part file; i * slice for a bundle joined into one file). Each
    part is read once, one part per core; a part's first bad block names it.
    `limit` checks only the blocks that start before that stream offset;
    `only`, only those parts.
    """
    spans = part_spans(total, table.slice_size)

    def check(i: int) -> Damage | None:
        source = sources[i] if i < len(sources) else None
        start, end = spans[i]
        if (only is not None and i not in only) or (limit is not None and start >= limit):
            return None
        if source is None:
            return Damage(i, None, 0, end - start, "missing")
        path, base = source
        try:
            with open_regular(path) as fh:
                for (bs, be), want in zip(
                    block_spans(start, end, table.block_size), table.sha256[i], strict=True
                ):
                    h, pos = hashlib.sha256(), bs
                    fh.seek(base + bs - start)
                    while pos < be:
                        chunk = fh.read(min(_READ, be - pos))
                        if not chunk:  # short part: damaged from here on
                            return Damage(i, path, pos - start, end - start, "short")
                        h.update(chunk[max(0, table.body_start - pos) :])
                        pos += len(chunk)
                    if h.hexdigest() != want:
                        return Damage(i, path, bs - start, be - start)
        except OSError as exc:
            return Damage(i, path, 0, end - start, f"unreadable ({exc.strerror})")
        return None

    with worker_pool(max(1, min(len(spans), os.cpu_count() or 1)), "vault-media") as pool:
        found = list(pool.map(check, range(len(spans))))
    return [d for d in found if d is not None]
