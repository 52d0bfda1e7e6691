"""Helpers that take a good bundle apart and put a hostile one together."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

Entries = list[tuple[tarfile.TarInfo, bytes]]


def read_entries(bundle: Path) -> Entries:
    out: Entries = []
    with tarfile.open(bundle, "r:") as tar:
        for m in tar.getmembers():
            data = tar.extractfile(m).read() if m.isreg() else b""  # type: ignore[union-attr]
            out.append((m, data))
    return out


def file_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, 0o444
    return info


def write_entries(path: Path, entries: Entries) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            if info.isreg():
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def rewrite(src: Path, dst: Path, edit: Callable[[Entries], Entries]) -> Path:
    return write_entries(dst, edit(read_entries(src)))


def index_of(entries: Entries) -> dict:
    return json.loads(next(d for i, d in entries if i.name == "vault-bundle.json"))


def blob_name_for(entries: Entries, suffix: str) -> str:
    """The blob entry holding the file whose path ends with `suffix` (found via the provenance)."""
    prov_raw = next(d for i, d in entries if i.name.endswith("/provenance.sig"))
    stmt = json.loads(base64.b64decode(json.loads(prov_raw)["dsseEnvelope"]["payload"]))
    for s in stmt["subject"]:
        if s["name"].endswith(suffix):
            return f"blobs/sha256/{s['digest']['sha256']}"
    raise KeyError(suffix)


def replace_entry(entries: Entries, name: str, data: bytes) -> Entries:
    assert any(i.name == name for i, _ in entries), name
    return [(i, data if i.name == name else d) for i, d in entries]


def drop_entry(entries: Entries, name: str) -> Entries:
    assert any(i.name == name for i, _ in entries), name
    return [(i, d) for i, d in entries if i.name != name]


def set_index(entries: Entries, index: dict) -> Entries:
    return replace_entry(entries, "vault-bundle.json", json.dumps(index).encode())


def tamper_signature_payload(raw: bytes, edit: Callable[[dict], None]) -> bytes:
    """Change the signed statement but keep the old signature bytes."""
    doc = json.loads(raw)
    stmt = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    edit(stmt)
    doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(stmt).encode()).decode()
    return json.dumps(doc).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
