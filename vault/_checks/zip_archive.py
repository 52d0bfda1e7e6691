"""Zip containers (torch checkpoints, `.npz`, Keras `.keras`): read strictly, classified by their members.

A zip is where loaders hide pickles: `torch.load` unpickles `*/data.pkl`,
`numpy.load` reads `.npy` members (object arrays unpickle), Keras reads a
`config.json` that can name code and weights that can point outside the
archive. A Keras archive is judged whole: its config, then every member as a
file of its own. Every oddity a hostile archive can carry (encryption, CRC
errors, a local name that differs from the directory's, duplicate or unsafe
member names, unknown compression, a size deflate cannot produce, a member
that inflates a thousandfold) is a typed refusal, never a traceback out of
`zipfile`.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from contextlib import AbstractContextManager
from typing import IO, BinaryIO, cast

from vault._checks.compressed import Inner, Judge, Source, worst_of
from vault._checks.formats import FileKind, FormatError, Verdict
from vault._checks.keras_config import check_keras_config
from vault._checks.numpy_grammar import PREFIX_BYTES, check_npy_size, parse_npy_header
from vault._checks.pickle_scan import MAX_PICKLE_BYTES, PickleError, scan_pickle_stream
from vault._statements.paths import check_relpath
from vault.errors import UnsafeContentError

MAX_MEMBERS = 100_000
MAX_CONFIG_BYTES = 64 << 20
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
# Deflate cannot expand a byte past 1032 of them; a size beyond that is a lie in the directory.
DEFLATE_CEILING = 1032
# A member larger than this that inflates more than BOMB_RATIO-fold is a zip bomb, not weights.
BOMB_BYTES = 64 << 20
BOMB_RATIO = 100
KERAS_CONFIG = "config.json"


class ZipError(FormatError):
    """A zip archive with an anomaly a loader might read differently than vault."""


def _members(name: str, zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ZipError(f"{name}: zip with {len(infos)} members (limit {MAX_MEMBERS})")
    seen: set[str] = set()
    folded: set[str] = set()
    for info in infos:
        where = f"{name}: zip member {info.filename!r}"
        if info.orig_filename != info.filename:
            # Python's zipfile cuts a name at a NUL; torch's reader (miniz) keeps it whole.
            raise ZipError(f"{name}: zip member {info.orig_filename!r} has a NUL in its name")
        if info.filename.casefold() in folded and info.filename not in seen:
            # torch's reader finds `data.pkl` ignoring case: two such names are two readings.
            raise ZipError(f"{where}: differs from another member only in case")
        folded.add(info.filename.casefold())
        if info.flag_bits & 0x1:
            raise ZipError(f"{where}: encrypted (vault cannot read what the loader would)")
        if info.compress_type not in _METHODS:
            raise ZipError(f"{where}: compression method {info.compress_type}, expected stored or deflated")
        if info.filename in seen:
            raise ZipError(f"{where}: appears twice")
        _check_sizes(where, info)
        seen.add(info.filename)
        if not info.filename.endswith("/"):
            try:
                check_relpath(info.filename, "zip member")
            except UnsafeContentError as exc:
                raise ZipError(f"{name}: {exc}") from None
    return infos


def _check_sizes(where: str, info: zipfile.ZipInfo) -> None:
    """What the directory declares must be what the member can hold (checked again as it is read)."""
    size, packed = info.file_size, info.compress_size
    if info.compress_type == zipfile.ZIP_STORED and size != packed:
        raise ZipError(f"{where}: stored member declares {size} bytes in {packed}")
    if size > packed * DEFLATE_CEILING + 1024:
        raise ZipError(f"{where}: declares {size} bytes from {packed}, more than deflate can produce")
    if size > BOMB_BYTES and size > packed * BOMB_RATIO:
        raise ZipError(f"{where}: inflates {packed} bytes to {size} (a zip bomb), refused")


def _read(name: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """A member's bytes, CRC-checked by zipfile; anything odd becomes a ZipError."""
    if info.file_size > limit:
        raise ZipError(f"{name}: zip member {info.filename!r} is {info.file_size} bytes (limit {limit})")
    try:
        with zf.open(info) as member:
            data = member.read(limit + 1)
    except Exception as exc:  # zipfile, zlib and struct raise many types on a hostile archive
        raise ZipError(f"{name}: zip member {info.filename!r}: {type(exc).__name__}: {exc}") from None
    if len(data) != info.file_size:
        raise ZipError(f"{name}: zip member {info.filename!r} holds {len(data)} bytes, not {info.file_size}")
    return data


def _head(name: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo, n: int) -> bytes:
    try:
        with zf.open(info) as member:
            return member.read(n)
    except Exception as exc:  # as in _read
        raise ZipError(f"{name}: zip member {info.filename!r}: {type(exc).__name__}: {exc}") from None


def _open(name: str, fh: IO[bytes]) -> zipfile.ZipFile:
    """The zip, once every reader would find the same members in it.

    Python's zipfile shifts every offset by the bytes found before the
    archive; torch's reader (miniz) takes the directory's offsets as written.
    A zip that does not begin where its directory says (anything prepended,
    or a second archive laid over the first) is two archives to two readers.
    """
    try:
        endrec = zipfile._EndRecData(fh)  # type: ignore[attr-defined]  # the stdlib's own EOCD reader
        archive = zipfile.ZipFile(fh)
    except Exception as exc:  # as in _read
        raise ZipError(f"{name}: malformed zip ({type(exc).__name__}: {exc})") from None
    if endrec is not None:
        # zipfile's own reckoning: where it found the directory, less where the record says it is.
        shift = archive.start_dir - endrec[zipfile._ECD_OFFSET]  # type: ignore[attr-defined]  # stdlib index
        if shift != 0:
            archive.close()
            raise ZipError(
                f"{name}: a zip that begins {shift} bytes into the file: readers disagree on where its "
                "members are (Python's zipfile shifts the offsets, torch's reader does not)"
            )
    return archive


def scan_zip_pickles(name: str, fh: IO[bytes]) -> None:
    """Every `.pkl` member of a torch zip checkpoint through the allow-list scan."""
    with _open(name, fh) as zf:
        pickles = [i for i in _members(name, zf) if i.filename.lower().endswith(".pkl")]
        if not pickles:
            raise PickleError(f"{name}: zip checkpoint without a data.pkl")
        for info in pickles:
            scan_pickle_stream(f"{name}:{info.filename}", _read(name, zf, info, MAX_PICKLE_BYTES))


def _judge_keras(
    name: str,
    zf: zipfile.ZipFile,
    files: list[zipfile.ZipInfo],
    depth: int,
    judge: Judge,
    source: Source | None,
) -> Verdict:
    """A `.keras` archive: its config, then every other member judged as a file (the weights included)."""
    config = _read(name, zf, zf.getinfo(KERAS_CONFIG), MAX_CONFIG_BYTES)
    try:
        doc = json.loads(config)
    except (ValueError, UnicodeDecodeError):
        raise ZipError(f"{name}: config.json of a Keras archive is not JSON") from None
    check_keras_config(f"{name}:config.json", doc)
    verdicts = []
    for info in files:
        if info.filename == KERAS_CONFIG:
            continue
        label = f"{name}:{info.filename}"

        def opener(i: zipfile.ZipInfo = info) -> AbstractContextManager[BinaryIO]:
            return cast(BinaryIO, zf.open(i))

        inner = Inner(info.file_size, opener, None if source is None else (source, info.filename))
        try:
            verdicts.append((label, judge(label, inner, depth + 1)))
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # a CRC or stream error met mid-member
            raise ZipError(f"{label}: {type(exc).__name__}: {exc}") from None
    return worst_of("Keras v3 archive", verdicts, FileKind.KERAS)


def inspect_zip(name: str, fh: IO[bytes], depth: int, judge: Judge, source: Source | None) -> Verdict:
    """Classify a zip by what its loader would do with it, checking what that loader would read.

    `judge` judges a member as a file (depth counts containers); `source`
    says where the zip lies, so a member can be read in place by a child.
    """
    with _open(name, fh) as zf:
        infos = _members(name, zf)
        files = [i for i in infos if not i.filename.endswith("/")]
        names = {i.filename for i in files}
        if any(n.lower() == "data.pkl" or n.lower().endswith("/data.pkl") for n in names):
            for info in files:
                if info.filename.lower().endswith(".pkl"):
                    scan_pickle_stream(f"{name}:{info.filename}", _read(name, zf, info, MAX_PICKLE_BYTES))
            return Verdict(FileKind.TORCH_ZIP, pickle=True, detail="torch.save zip checkpoint")
        if KERAS_CONFIG in names and ("model.weights.h5" in names or "metadata.json" in names):
            return _judge_keras(name, zf, files, depth, judge, source)
        if files and all(n.endswith(".npy") for n in names):
            has_object = False
            for info in files:
                member = f"{name}:{info.filename}"
                header = parse_npy_header(member, _head(name, zf, info, PREFIX_BYTES))
                check_npy_size(member, header, info.file_size)
                if header.has_object:
                    payload = _read(name, zf, info, MAX_PICKLE_BYTES)[header.data_offset :]
                    scan_pickle_stream(member, payload)
                    has_object = True
            return Verdict(FileKind.NUMPY_ZIP, pickle=has_object, detail="NumPy .npz")
    return Verdict(FileKind.UNKNOWN, detail="zip archive of no known model format")
