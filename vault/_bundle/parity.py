"""Parity parts: Reed-Solomon (zfec) over a split bundle's parts, to rebuild lost or damaged ones.

With `--parity N`, the k data parts `OUT.000…` get N parity parts `OUT.p000…`;
any k good parts out of the k + N rebuild the rest. Each parity part is a
plain tar (`tar tvf` shows it) of two entries: `parity`, this part's share,
one slice long, then `vault-parity.json`, the geometry and the block digests
of every data and parity part (so the reader knows which parts are good even
if the bundle's own index is the damaged part).

Nothing here is trusted: rebuilt bytes go through the same verification as
bytes that crossed intact, so a forged parity part can only fail an import.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vault._bundle.part_digests import PLACEHOLDER, BlockHasher, PartDigests, block_spans, find_damage
from vault._bundle.parts import glob_escape
from vault._bundle.reader import CappedTarInfo
from vault._bundle.tar_entries import entry_header
from vault._regular_files import is_regular, open_regular
from vault._statements.manifest import canonical_json
from vault.errors import UsageError

FORMAT = "vault-parity"
VERSION = 1
HEADER_NAME = "vault-parity.json"
DATA_NAME = "parity"
MAX_SHARES = 256  # zfec's limit on data + parity parts
MAX_HEADER = 8 << 20
STRIPE_BUDGET = 32 << 20  # bytes of all parts' stripes in memory at once


def stripe_size(n: int) -> int:
    """1 MiB stripes, smaller as parts grow in number, so k + N stripes stay within the budget."""
    return max(16 << 10, min(1 << 20, STRIPE_BUDGET // n))


def parity_name(out: Path, j: int) -> Path:
    return out.with_name(f"{out.name}.p{j:03d}")


def check_parity_request(parity: int, parts: int) -> None:
    if parity < 0:
        raise UsageError("--parity must be 0 or more")
    if parity and parts + parity > MAX_SHARES:
        raise UsageError(
            f"--parity {parity} with {parts} parts: at most {MAX_SHARES} parts and parity parts in all "
            "(use a larger --split-size)"
        )


@dataclass(frozen=True)
class ParityHeader:
    k: int  # data parts
    n: int  # data + parity parts
    share: int  # this part's share number (k … n-1)
    total: int  # the bundle's length
    # Block digests of the data parts, of every byte (`body_start` 0): written after the
    # bundle, they cover its index too, which the index's own table cannot.
    data: PartDigests
    parity: tuple[tuple[str, ...], ...]  # block digests of each parity share

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "format": FORMAT,
                "version": VERSION,
                "k": self.k,
                "n": self.n,
                "share": self.share,
                "total": self.total,
                "data": self.data.to_json(),
                "parity": [list(p) for p in self.parity],
            }
        )

    @classmethod
    def parse(cls, raw: bytes, share_size: int) -> ParityHeader:
        """`share_size`: the length of the share actually on the medium. Every field is bounded by
        it before anything is sized from the header: an unsigned header must not choose how
        much memory or time the reader spends."""
        doc = json.loads(raw)
        if doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise ValueError("not a vault parity part")
        k, n, share, total = (doc[x] for x in ("k", "n", "share", "total"))
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (k, n, share, total)):
            raise ValueError("geometry must be integers")
        if not (0 < k < n <= MAX_SHARES and k <= share < n and total > 0):
            raise ValueError("geometry out of range")
        slice_size = doc["data"].get("slice_size") if isinstance(doc["data"], dict) else None
        if slice_size != share_size or not (k - 1) * share_size < total <= k * share_size:
            raise ValueError("geometry does not fit the share on the medium")
        data = PartDigests.from_json(doc["data"], total)
        if len(data.sha256) != k:
            raise ValueError("data digests do not list k parts")
        shape = len(block_spans(0, data.slice_size, data.block_size))
        parity = doc["parity"]
        if not isinstance(parity, list) or len(parity) != n - k:
            raise ValueError("parity digests do not list every parity part")
        if not all(isinstance(p, list) and len(p) == shape for p in parity):
            raise ValueError("parity digests have the wrong shape")
        if data.body_start != 0:
            raise ValueError("parity digests must cover every byte")
        return cls(k, n, share, total, data, tuple(tuple(str(d) for d in p) for p in parity))

    def share_table(self) -> PartDigests:
        """A parity share checked like a data part: one slice, digests from the first byte."""
        slice_size = self.data.slice_size
        return PartDigests(slice_size, self.data.block_size, 0, (self.parity[self.share - self.k],))


def share_plan(slice_size: int, block_size: int) -> PartDigests:
    """How a parity share's blocks are cut: one slice, from its first byte, at the data's block size."""
    return PartDigests(
        slice_size, block_size, 0, (tuple(PLACEHOLDER for _ in block_spans(0, slice_size, block_size)),)
    )


class _Stripes:
    """Reads the k data parts side by side, one stripe at a time, the short last part padded with zeros."""

    def __init__(self, parts: Sequence[Path]) -> None:
        self._fhs = [open_regular(p) for p in parts]  # closed in close()

    def read(self, offset: int, length: int) -> list[bytes]:
        out = []
        for fh in self._fhs:
            fh.seek(offset)
            chunk = fh.read(length)
            out.append(chunk + bytes(length - len(chunk)))
        return out

    def close(self) -> None:
        for fh in self._fhs:
            fh.close()


def write_parity(
    parts: Sequence[Path], out: Path, table: PartDigests, total: int, parity: int, suffix: str
) -> list[Path]:
    """Encode `parity` parity parts over the finished data parts; returns the files, named `…suffix`.

    `table` is the index's part digests, taken as the bundle was written; only
    the blocks holding the index itself are hashed again, so the parity
    headers can cover every byte.
    """
    import zfec

    k, n, slice_size = len(parts), len(parts) + parity, table.slice_size
    encoder = zfec.Encoder(k, n)
    plan = share_plan(slice_size, table.block_size)
    hashers = [BlockHasher(plan, slice_size) for _ in range(parity)]
    stripes = _Stripes(parts)
    files = [out.with_name(parity_name(out, j).name + suffix) for j in range(parity)]
    sinks: list[ParityPartWriter] = []
    try:
        for path in files:
            sinks.append(ParityPartWriter(path, slice_size))
        stripe = stripe_size(n)
        for offset in range(0, slice_size, stripe):
            length = min(stripe, slice_size - offset)
            shares = encoder.encode(stripes.read(offset, length), list(range(k, n)))
            for sink, hasher, share in zip(sinks, hashers, shares, strict=True):
                hasher.update(share)
                sink.write(share)
        digests = tuple(h.table().sha256[0] for h in hashers)
        data = covering_every_byte(parts, table, total)
        for j, sink in enumerate(sinks):
            sink.finish(ParityHeader(k, n, k + j, total, data, digests).to_bytes())
        return files
    except BaseException:
        for sink in sinks:
            sink.abandon()
        for p in files:
            p.unlink(missing_ok=True)
        raise
    finally:
        stripes.close()


class ParityPartWriter:
    """One parity part, written as it is encoded: the share's entry first, its header entry last.

    The header carries the digests of every share, known only once all are
    encoded, so it goes after the share; the bytes are what `tarfile` writes
    (PAX headers, 512-byte blocks, the end marker, padding to a record).
    """

    def __init__(self, path: Path, size: int) -> None:
        from vault._durable import BulkWriter

        self._out = BulkWriter(open(path, "wb"))  # noqa: SIM115 - closed in finish() or abandon()
        self._written = 0
        self._size = size
        self._put(entry_header(DATA_NAME, size))

    def _put(self, data: bytes) -> None:
        self._out.write(data)
        self._written += len(data)

    def write(self, share: bytes) -> None:
        self._put(share)

    def finish(self, header: bytes) -> None:
        self._put(_padding(self._size))
        self._put(entry_header(HEADER_NAME, len(header)) + header + _padding(len(header)))
        end = 2 * tarfile.BLOCKSIZE
        self._put(bytes(end + -(self._written + end) % tarfile.RECORDSIZE))
        self._out.close()

    def abandon(self) -> None:
        with contextlib.suppress(OSError):
            self._out.close()


def _padding(size: int) -> bytes:
    return bytes(-size % tarfile.BLOCKSIZE)


def covering_every_byte(parts: Sequence[Path], table: PartDigests, total: int) -> PartDigests:
    """The index's part digests with the blocks that hold the index hashed in full (`body_start` 0)."""
    digests = []
    for i, blocks in enumerate(table.blocks(total)):
        start = i * table.slice_size
        row = list(table.sha256[i])
        for j, (bs, be) in enumerate(blocks):
            if bs < table.body_start:
                with open_regular(parts[i]) as fh:
                    fh.seek(bs - start)
                    row[j] = hashlib.sha256(fh.read(be - bs)).hexdigest()
        digests.append(tuple(row))
    return PartDigests(table.slice_size, table.block_size, 0, tuple(digests))


@dataclass(frozen=True)
class ParityPart:
    path: Path
    header: ParityHeader
    data_offset: int  # where the share's bytes start in the file


def read_parity_parts(base: Path) -> list[ParityPart]:
    """The readable parity parts beside a bundle; unreadable ones are skipped (they count as lost)."""
    found = []
    for path in sorted(base.parent.glob(f"{glob_escape(base.name)}.p[0-9][0-9][0-9]")):
        if not is_regular(path):
            continue  # a FIFO or device named like a parity part is never opened
        try:
            with (
                open_regular(path) as raw,
                tarfile.open(fileobj=raw, mode="r:", tarinfo=CappedTarInfo) as tar,
            ):
                size = os.fstat(raw.fileno()).st_size
                share = tar.next()
                if share is None or share.name != DATA_NAME or not share.isreg():
                    continue
                last = tar.next()
                if last is None or last.name != HEADER_NAME or not last.isreg() or last.size > MAX_HEADER:
                    continue
                fh = tar.extractfile(last)
                assert fh is not None
                if share.offset_data + share.size > size:
                    continue  # a share longer than its file: a header's claim, not bytes
                header = ParityHeader.parse(fh.read(last.size), share.size)
                found.append(ParityPart(path, header, share.offset_data))
        except (OSError, tarfile.TarError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            continue
    return found


def same_set(a: ParityHeader, b: ParityHeader) -> bool:
    """Whether two parity parts were written together (everything but the share number agrees)."""
    return (a.k, a.n, a.total, a.data, a.parity) == (b.k, b.n, b.total, b.data, b.parity)


def good_parity_shares(header: ParityHeader, parts: list[ParityPart]) -> dict[int, ParityPart]:
    """Parity parts of `header`'s set whose share bytes match the digests they carry, one per share
    number. A part of another set lends nothing, not even its share number: a duplicate or
    foreign number fed to the decoder would make it loop or fail."""
    good: dict[int, ParityPart] = {}
    for p in parts:
        if (
            not same_set(p.header, header)
            or not header.k <= p.header.share < header.n
            or p.header.share in good
        ):
            continue
        if not find_damage([(p.path, p.data_offset)], p.header.share_table(), p.header.data.slice_size):
            good[p.header.share] = p
    return good


def rebuild(
    header: ParityHeader,
    data_sources: dict[int, Path],
    parity: dict[int, ParityPart],
    lost: Sequence[int],
    dest: Callable[[int], Path],
) -> dict[int, Path]:
    """Write each lost data part from any k good shares; returns part number -> rebuilt file."""
    import zfec

    k, n, slice_size, total = header.k, header.n, header.data.slice_size, header.total
    use = sorted(data_sources)[:k]
    use += sorted(parity)[: k - len(use)]
    if len(use) < k:
        raise ValueError(f"{len(use)} good parts of the {k} needed")
    files = {i: (data_sources[i], 0) if i < k else (parity[i].path, parity[i].data_offset) for i in use}
    handles = {i: open_regular(path) for i, (path, _o) in files.items()}  # closed below
    outs = {i: open(dest(i), "wb") for i in lost}  # noqa: SIM115 - closed below
    lengths = {i: min(slice_size, total - i * slice_size) for i in lost}
    try:
        decoder = zfec.Decoder(k, n)
        stripe = stripe_size(n)
        for offset in range(0, slice_size, stripe):
            length = min(stripe, slice_size - offset)
            blocks = []
            for i in use:
                fh = handles[i]
                fh.seek(files[i][1] + offset)
                chunk = fh.read(length)
                blocks.append(chunk + bytes(length - len(chunk)))
            # Fresh lists each call: zfec reorders the sequences it is given, in place.
            primary = decoder.decode(list(blocks), list(use))
            for i in lost:
                want = max(0, min(length, lengths[i] - offset))
                outs[i].write(bytes(primary[i])[:want])
    finally:
        for fh in handles.values():
            fh.close()
        for out in outs.values():
            out.close()
    return {i: dest(i) for i in lost}
