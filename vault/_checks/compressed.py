"""Compressed and archived files, opened and judged by what they hold.

joblib writes zlib-, gzip-, bz2-, xz- and lzma-compressed pickles (and reads
its legacy "ZF" files); a `.tar.gz` can carry a pickle; a legacy `torch.save`
file can be a tar of pickles (read with tarfile, `ustar` or not); NeMo's
`.nemo` is a tar of a checkpoint and its YAML. The loaders decompress or
unpack them and unpickle what is inside, so "a binary of no format" is the
wrong verdict: each is opened here, within bounds, and every member is judged
as any file would be. What a member is decides what the whole is.
"""

from __future__ import annotations

import bz2
import io
import lzma
import re
import tarfile
import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from vault._checks.formats import FileKind, FormatError, Verdict
from vault._checks.loader_code import check_named_template, runs_code

# Expanded bytes held in memory to judge them: a compressed pickle past this is refused, not read.
MAX_EXPANDED = 64 << 20
MAX_MEMBERS = 10_000
MAX_DEPTH = 3  # a gzip of a tar of a gzip is as deep as any loader goes


class _Decompressor(Protocol):
    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


# Where a file's bytes lie, for a checker that reads them in a child process: a file, or a bundle region.
Source = Path | tuple[int, int, list[Path]]


@dataclass(frozen=True)
class Inner:
    """Bytes found inside a file, to be judged like a file of their own.

    `member` names them as a member of the zip at a Source, when the outer
    file has one: the HDF5 child can then read them where they lie.
    """

    size: int
    open: Callable[[], AbstractContextManager[BinaryIO]]
    member: tuple[Source, str] | None = None


Judge = Callable[[str, Inner, int], Verdict]  # name, bytes, depth -> verdict


@dataclass(frozen=True)
class _Codec:
    name: str
    make: Callable[[], _Decompressor]
    offset: int = 0  # where the compressed stream starts
    # gzip, bz2 and xz readers go on to the next stream when one ends (joblib and pickle.load
    # read a multi-stream file whole); zlib readers stop at the end of the one stream.
    multi: bool = True


# joblib's legacy compressed pickle: "ZF", the length in hex padded to 19 bytes, then zlib.
_ZFILE = re.compile(rb"ZF0x[0-9a-f]+L? *", re.ASCII)


def _codec(head: bytes) -> _Codec | None:
    if head[:2] == b"\x1f\x8b":
        return _Codec("gzip", lambda: zlib.decompressobj(wbits=31))
    if head[:3] == b"BZh" and head[3:4].isdigit():
        return _Codec("bz2", bz2.BZ2Decompressor)
    if head[:6] == b"\xfd7zXZ\x00":
        return _Codec("xz", lzma.LZMADecompressor)
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return _Codec("zlib", zlib.decompressobj, multi=False)
    if head[:1] == b"]" and head[1:3] == b"\x00\x00" and len(head) >= 13:
        # LZMA "alone" (joblib's compress=("lzma", n)): properties 0x5d, then a dictionary size.
        return _Codec("lzma", lambda: lzma.LZMADecompressor(format=lzma.FORMAT_ALONE), multi=False)
    if _ZFILE.fullmatch(head[:21]) is not None:
        return _Codec("joblib zfile", zlib.decompressobj, offset=21, multi=False)
    return None


def _expand(name: str, fh: BinaryIO, codec: _Codec) -> tuple[bytes, bool] | None:
    """(the decompressed bytes, whether the whole file decompressed); None if nothing did.

    Refuses past MAX_EXPANDED. Streams are followed one after another as the
    loaders follow them, so a second stream cannot hide what a loader reads.
    """
    fh.seek(codec.offset)
    out = bytearray()
    decompressor = codec.make()
    pending = b""
    while True:
        chunk = pending or fh.read(1 << 20)
        pending = b""
        if not chunk:
            break
        try:
            out += decompressor.decompress(chunk, MAX_EXPANDED + 1 - len(out))
        except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError):
            return (bytes(out), False) if out else None
        if len(out) > MAX_EXPANDED:
            raise FormatError(f"{name}: expands past {MAX_EXPANDED >> 20} MiB: too large to judge, refused")
        if getattr(decompressor, "eof", False):
            rest = decompressor.unused_data + fh.read(1 << 20)  # type: ignore[attr-defined]  # all four have it
            if not rest:
                return bytes(out), True
            if not codec.multi:
                return bytes(out), False
            decompressor, pending = codec.make(), rest
    return (bytes(out), False) if out else None


def is_tar(fh: BinaryIO) -> bool:
    """Does `tarfile.open(mode="r:")` read a tar here, as torch's legacy loader tries to?

    Not only `ustar` at byte 257: an old-style header with a valid checksum is
    a tar to tarfile, and one can sit in bytes another format leaves free.
    """
    fh.seek(0)
    try:
        with tarfile.open(fileobj=fh, mode="r:") as tar:
            return tar.next() is not None
    except (tarfile.TarError, EOFError, ValueError, OSError):
        return False


def judge_compressed(name: str, fh: BinaryIO, depth: int, judge: Judge) -> Verdict | None:
    """If the file is compressed, what it holds decides; None when it is not (or does not decompress).

    Bytes after the stream that do not decompress are refused, once what did
    decompress has been judged: a loader may act on it before it meets them.
    """
    fh.seek(0)
    codec = _codec(fh.read(32))
    if codec is None:
        return None
    expanded = _expand(name, fh, codec)
    if expanded is None:
        return None
    data, whole = expanded
    inner = Inner(len(data), lambda: io.BytesIO(data))
    verdict = worst_of(
        codec.name, [(f"{name}!{codec.name}", judge(f"{name}!{codec.name}", inner, depth + 1))]
    )
    if not whole:
        raise FormatError(f"{name}: {codec.name} stream followed by bytes that do not decompress, refused")
    return verdict


def judge_tar(name: str, fh: BinaryIO, depth: int, judge: Judge) -> Verdict:
    """Every member of a tar judged; links, devices and other special members are refused."""
    fh.seek(0)
    try:
        with tarfile.open(fileobj=fh, mode="r:") as tar:
            members = []
            for i, member in enumerate(tar):
                if i >= MAX_MEMBERS:
                    raise FormatError(f"{name}: more than {MAX_MEMBERS} tar members")
                if member.isdir():
                    continue
                if not member.isreg():
                    raise FormatError(f"{name}: tar member {member.name!r} is not a regular file")
                members.append(member)
            verdicts = []
            for member in members:
                label = f"{name}:{member.name}"

                def opener(m: tarfile.TarInfo = member) -> AbstractContextManager[BinaryIO]:
                    extracted = tar.extractfile(m)
                    assert extracted is not None  # a regular member
                    return cast(BinaryIO, extracted)

                verdicts.append((label, judge(label, Inner(member.size, opener), depth + 1)))
    except tarfile.TarError as exc:
        raise FormatError(f"{name}: malformed tar ({exc})") from None
    return worst_of("tar", verdicts)


def worst_of(
    container: str, members: list[tuple[str, Verdict]], kind: FileKind = FileKind.COMPRESSED
) -> Verdict:
    """What the container is to a loader that opens it: the worst of what it holds.

    Code a member runs (by its bytes or its name) is code the container runs.
    """
    runs = []
    for label, verdict in members:
        check_named_template(label, verdict)
        reason = runs_code(label, verdict)
        if reason:
            runs.append(f"{label}: {reason}")
    code = "; ".join(runs)
    for label, verdict in members:
        if verdict.pickle:
            detail = f"{container} holding a pickle ({label})"
            return Verdict(FileKind.PICKLE, pickle=True, detail=detail, runs_code=code)
    for label, verdict in members:
        if verdict.kind is FileKind.UNKNOWN or verdict.external:
            detail = f"{container} holding {label}, a binary of no format vault can check"
            return Verdict(FileKind.UNKNOWN, detail=detail, runs_code=code)
    kinds = ", ".join(v.kind.value for _l, v in members) or "nothing"
    return Verdict(kind, detail=f"{container} of {kinds}", runs_code=code)
