"""Damaged or lost media: name the part to send again, or rebuild it from parity parts.

Verification runs first, as always. Only when it refuses a bundle does this
module look at the media: the part digests (from a parity part, else from the
bundle's index) say whether bytes were damaged in transit, which part and
where. Then, with enough good parity parts, the lost parts are rebuilt into
scratch space and the whole verification runs again on the rebuilt set; the
rebuilt bytes earn no trust of their own. A refusal with no damage found is
passed on unchanged: a forged bundle is not a damaged one.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from vault._bundle.index import INDEX_NAME, MAX_INDEX_BYTES, parse_index
from vault._bundle.parity import (
    ParityHeader,
    ParityPart,
    good_parity_shares,
    read_parity_parts,
    rebuild,
    same_set,
)
from vault._bundle.part_digests import Damage, PartDigests, find_damage, part_spans
from vault._bundle.parts import PartFiles, bundle_layout, part_name
from vault.errors import BundleFormatError, NotFoundError, TrustError, VaultError, VerificationError

R = TypeVar("R")


@dataclass(frozen=True)
class MediaState:
    base: Path
    table: PartDigests
    total: int
    sources: list[tuple[Path, int] | None]  # where each part's bytes are (file, offset)
    names: list[str]  # how to name each part to the operator
    damage: list[Damage]
    parity: list[ParityPart]
    header: ParityHeader | None

    def describe(self) -> str:
        first, *rest = self.damage
        what = _describe(first, self.names[first.part], self.table, self.total)
        more = f"; also {', '.join(self.names[d.part] for d in rest)}" if rest else ""
        return f"{what}{more}"


def _describe(d: Damage, name: str, table: PartDigests, total: int) -> str:
    span = part_spans(total, table.slice_size)[d.part]
    length = span[1] - span[0]
    if d.why == "missing":
        return f"{name} is missing"
    if d.why == "short":
        return f"{name} ends at byte {d.start} of {length}"
    if d.why != "mismatch":
        return f"{name} is {d.why}"
    return (
        f"{name} is damaged at bytes {d.start}-{d.end - 1} of {length} "
        "(they do not match the part digests the bundle was written with)"
    )


def _index_table(first: Path | None, numbered: dict[int, Path]) -> tuple[PartDigests, int] | None:
    """The part digests from the bundle's own index, if its first entry still reads."""
    from vault._bundle.reader import BundleReader

    target = first or numbered.get(0)
    if target is None:
        return None
    try:
        with BundleReader(target) as reader:
            entry = next(reader.entries(), None)
            if entry is None or entry.name != INDEX_NAME or entry.size > MAX_INDEX_BYTES:
                return None
            index = parse_index(entry.data.read(entry.size))
    except VaultError:
        return None
    if index.parts is None or index.size is None:
        return None
    return index.parts, index.size


def inspect_media(path: Path, limit: int | None = None) -> MediaState | None:
    """Which parts are missing or damaged; None when the bundle carries no part digests to tell.

    The parity parts' digests cover every byte, the index's all but the index
    itself, so parity parts (when there are any) are asked first.

    `limit`: check only the blocks before this stream offset (the signed entries).
    """
    base, numbered, single = bundle_layout(path)
    parity = read_parity_parts(base) if single is None else []
    header = _agreed_header(parity, numbered)
    found = _index_table(single, numbered)
    if header is not None:
        if found is not None:
            _check_parity_binds(header, *found)
        table, total = header.data, header.total
        parity = [p for p in parity if same_set(p.header, header)]
    else:
        if found is None:
            return None
        table, total = found
    count = len(part_spans(total, table.slice_size))
    if single is not None:
        sources: list[tuple[Path, int] | None] = [(single, i * table.slice_size) for i in range(count)]
        names = [f"bundle {single.name}" if count == 1 else
                 f"part {i + 1} of {count} of bundle {single.name} (from byte {i * table.slice_size})"
                 for i in range(count)]  # fmt: skip
    else:
        sources = [(numbered[i], 0) if i in numbered else None for i in range(count)]
        names = [f"part {i + 1} of {count} ({part_name(base, i).name})" for i in range(count)]
    damage = find_damage(sources, table, total, limit=limit)
    if header is not None and found is None:
        _check_parity_corroborated(sources, damage, names)
    return MediaState(base, table, total, sources, names, damage, parity, header)


def _check_parity_binds(header: ParityHeader, table: PartDigests, total: int) -> None:
    """Parity parts rebuild only the bundle they were written for: their digests of its parts must
    be the bundle index's own (every block after the index, which the index cannot digest).

    Parity from another bundle would otherwise call every intact part damaged and
    "repair" the bundle into the other one; it is refused, never substituted.
    """
    same_shape = (header.total, header.data.slice_size, header.data.block_size) == (
        total, table.slice_size, table.block_size,
    )  # fmt: skip
    if same_shape:
        spans = table.blocks(total)
        same_shape = all(
            header.data.sha256[i][j] == table.sha256[i][j]
            for i, blocks in enumerate(spans)
            for j, (start, _end) in enumerate(blocks)
            if start >= table.body_start
        )
    if not same_shape:
        raise BundleFormatError(
            "the parity parts beside this bundle were written for another bundle (their digests of its "
            "parts are not its index's): refused, nothing rebuilt"
        )


def _check_parity_corroborated(
    sources: list[tuple[Path, int] | None], damage: list[Damage], names: list[str]
) -> None:
    """With the bundle's index unreadable, parity is bound by the parts that are there: at least one
    must match it whole. When every part present disagrees, the parity belongs to something else."""
    present = [i for i, s in enumerate(sources) if s is not None]
    damaged = {d.part for d in damage}
    if present and all(i in damaged for i in present):
        raise BundleFormatError(
            f"no part of this bundle matches the parity parts beside it ({names[present[0]]} and every other "
            "part present differ): they were written for another bundle, or every part is damaged; "
            "refused, nothing rebuilt"
        )


def _agreed_header(parity: list[ParityPart], numbered: dict[int, Path]) -> ParityHeader | None:
    """The geometry most parity parts agree on (a leftover from another bundle is outvoted), if the
    parts on the media fit it. Parity parts are unsigned: one that does not fit is not used at all."""
    if not parity:
        return None
    votes = Counter(p.header.data for p in parity)
    data = votes.most_common(1)[0][0]
    header = next(p.header for p in parity if p.header.data == data)
    # Parts on the media must fit: numbered below k, none longer than its slice (shorter is damage).
    spans = part_spans(header.total, data.slice_size)
    for i, part in numbered.items():
        if i >= len(spans) or part.stat().st_size > spans[i][1] - spans[i][0]:
            return None
    return header


def rebuild_parts(state: MediaState, scratch: Path) -> PartFiles:
    """Rebuild every damaged part from k good parts; each rebuilt part must then match its digests."""
    header = state.header
    assert header is not None  # with_repair rebuilds only with parity parts that fit the media
    lost = [d.part for d in state.damage]
    good_data = {i: s[0] for i, s in enumerate(state.sources) if s is not None and i not in lost}
    good_parity = good_parity_shares(header, state.parity)
    if len(good_data) + len(good_parity) < header.k:
        raise BundleFormatError(
            f"{state.describe()}; {len(good_parity)} good parity part(s) cannot rebuild "
            f"{len(lost)} lost part(s): send them again"
        )
    rebuilt = rebuild(header, good_data, good_parity, lost, lambda i: scratch / part_name(state.base, i).name)
    count = len(state.sources)
    for i, path in rebuilt.items():
        at: list[tuple[Path, int] | None] = [(path, 0) if j == i else None for j in range(count)]
        if find_damage(at, state.table, state.total, only={i}):
            raise BundleFormatError(
                f"{state.describe()}; rebuilding it from parity did not match its digests"
            )
    paths = [rebuilt.get(i) or good_data[i] for i in range(header.k)]
    return PartFiles(paths, scratch / state.base.name, dict(enumerate(paths)))


def signed_region_end(path: Path) -> int | None:
    """Where the first blob's data starts: a trust refusal can only come from the bytes before it."""
    from vault._bundle.reader import BundleReader

    try:
        with BundleReader(path) as reader:
            for entry in reader.entries():
                if entry.name.startswith("blobs/"):
                    return entry.offset
    except VaultError:
        return None
    return None


def with_repair(
    path: Path,
    attempt: Callable[[Path | PartFiles], R],
    scratch: Callable[[], contextlib.AbstractContextManager[Path]],
) -> tuple[R, list[str]]:
    """Run `attempt`; if it refuses the bundle and the media is damaged, say where, or rebuild and retry."""
    try:
        return attempt(path), []
    except (VerificationError, NotFoundError) as exc:
        limit = signed_region_end(path) if isinstance(exc, TrustError) else None
        state = _inspect(path, limit)
        if state is None or not state.damage:
            raise
        if state.header is None:  # no parity parts, or none that fit these media
            raise type(exc)(_with_damage(str(exc), state)) from None
        with scratch() as space:
            files = rebuild_parts(state, space)
            result = attempt(files)
        names = ", ".join(state.names[d.part] for d in state.damage)
        return result, [f"rebuilt {names} from parity parts (the rebuilt bytes verified like any others)"]


def _with_damage(refusal: str, state: MediaState) -> str:
    """The refusal first (a re-packed or forged bundle also fails its part digests), then where the media
    differ from what was written, unless the refusal already said it."""
    damage = state.describe()
    if damage.split(";")[0] in refusal:
        return f"{refusal}: send it again"
    return f"{refusal} ({damage}: send it again)"


def _inspect(path: Path, limit: int | None) -> MediaState | None:
    try:
        return inspect_media(path, limit)
    except OSError:
        return None


def add_notes(result: R, notes: list[str]) -> R:
    if not notes:
        return result
    return replace(result, notes=[*notes, *result.notes])  # type: ignore[type-var, attr-defined]  # R: a result dataclass with notes
