"""Zip containers (torch checkpoints, `.npz`, Keras `.keras`): read strictly, classified by their members.

A zip is where loaders hide pickles: `torch.load` unpickles `*/data.pkl`,
`numpy.load` reads `.npy` members (object arrays unpickle), Keras reads a
`config.json` that can name code. Every oddity a hostile archive can carry
(encryption, CRC errors, a local name that differs from the directory's,
duplicate or unsafe member names, unknown compression) is a typed refusal,
never a traceback out of `zipfile`.
"""

from __future__ import annotations

import json
import zipfile
from typing import IO

from vault._checks.formats import FileKind, FormatError, Verdict
from vault._checks.keras_config import check_keras_config
from vault._checks.numpy_grammar import PREFIX_BYTES, check_npy_size, parse_npy_header
from vault._checks.pickle_scan import MAX_PICKLE_BYTES, PickleError, scan_pickle_stream
from vault._statements.paths import check_relpath
from vault.errors import UnsafeContentError

MAX_MEMBERS = 100_000
MAX_CONFIG_BYTES = 64 << 20
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}


class ZipError(FormatError):
    """A zip archive with an anomaly a loader might read differently than vault."""


def _members(name: str, zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ZipError(f"{name}: zip with {len(infos)} members (limit {MAX_MEMBERS})")
    seen: set[str] = set()
    for info in infos:
        where = f"{name}: zip member {info.filename!r}"
        if info.flag_bits & 0x1:
            raise ZipError(f"{where}: encrypted (vault cannot read what the loader would)")
        if info.compress_type not in _METHODS:
            raise ZipError(f"{where}: compression method {info.compress_type}, expected stored or deflated")
        if info.filename in seen:
            raise ZipError(f"{where}: appears twice")
        seen.add(info.filename)
        if not info.filename.endswith("/"):
            try:
                check_relpath(info.filename, "zip member")
            except UnsafeContentError as exc:
                raise ZipError(f"{name}: {exc}") from None
    return infos


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
    try:
        return zipfile.ZipFile(fh)
    except Exception as exc:  # as in _read
        raise ZipError(f"{name}: malformed zip ({type(exc).__name__}: {exc})") from None


def scan_zip_pickles(name: str, fh: IO[bytes]) -> None:
    """Every `.pkl` member of a torch zip checkpoint through the allow-list scan."""
    with _open(name, fh) as zf:
        pickles = [i for i in _members(name, zf) if i.filename.endswith(".pkl")]
        if not pickles:
            raise PickleError(f"{name}: zip checkpoint without a data.pkl")
        for info in pickles:
            scan_pickle_stream(f"{name}:{info.filename}", _read(name, zf, info, MAX_PICKLE_BYTES))


def inspect_zip(name: str, fh: IO[bytes]) -> Verdict:
    """Classify a zip by what its loader would do with it, checking what that loader would read."""
    with _open(name, fh) as zf:
        infos = _members(name, zf)
        files = [i for i in infos if not i.filename.endswith("/")]
        names = {i.filename for i in files}
        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            for info in files:
                if info.filename.endswith(".pkl"):
                    scan_pickle_stream(f"{name}:{info.filename}", _read(name, zf, info, MAX_PICKLE_BYTES))
            return Verdict(FileKind.TORCH_ZIP, pickle=True, detail="torch.save zip checkpoint")
        if "config.json" in names and ("model.weights.h5" in names or "metadata.json" in names):
            config = _read(name, zf, zf.getinfo("config.json"), MAX_CONFIG_BYTES)
            try:
                doc = json.loads(config)
            except (ValueError, UnicodeDecodeError):
                raise ZipError(f"{name}: config.json of a Keras archive is not JSON") from None
            check_keras_config(f"{name}:config.json", doc)
            return Verdict(FileKind.KERAS, detail="Keras v3 archive")
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
