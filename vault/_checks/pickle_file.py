"""A pickle-based file, whatever its wrapping: a raw pickle, a legacy torch file, or a torch zip."""

from __future__ import annotations

from typing import IO

from vault._checks.pickle_scan import (
    MAX_PICKLE_BYTES,
    PickleError,
    is_torch_legacy,
    scan_pickle_stream,
    scan_torch_legacy,
)
from vault._checks.zip_archive import scan_zip_pickles


def scan_pickle_file(name: str, fh: IO[bytes], size: int) -> None:
    """Scan a raw pickle, a legacy torch file, or every pickle inside a zip-wrapped torch checkpoint."""
    head = fh.read(4)
    fh.seek(0)
    if head == b"PK\x03\x04":
        scan_zip_pickles(name, fh)
        return
    data = fh.read(min(size, MAX_PICKLE_BYTES))
    if is_torch_legacy(data):
        scan_torch_legacy(name, data)
        return
    if size > MAX_PICKLE_BYTES:
        raise PickleError(f"{name}: pickle too large to scan ({size} bytes, limit {MAX_PICKLE_BYTES})")
    scan_pickle_stream(name, data)
