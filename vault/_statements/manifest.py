"""OMS v1.0 statements (OpenSSF Model Signing): build and parse, deterministic bytes.

The statement is the only thing that says which files a revision has. Building
is a pure function of (name, resources), and the JSON is canonical (sorted keys,
no whitespace), so two signings of the same files give the same bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vault._statements.paths import check_relpath
from vault.errors import IntegrityError, TrustError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
OMS_PREDICATE_TYPE = "https://model_signing/signature/v1.0"
DIGEST_LENGTHS = {"sha256": 64, "blake3": 64}
_HEX = re.compile(r"[0-9a-f]{64}")  # both sha256 and blake3 (DIGEST_LENGTHS)


@dataclass(frozen=True)
class Resource:
    name: str
    digest: str
    algorithm: str = "sha256"


@dataclass(frozen=True)
class ModelManifest:
    """What an OMS statement declares: file name -> digest under one algorithm."""

    model_name: str
    hash_type: str
    resources: dict[str, str]
    ignore_paths: tuple[str, ...] = field(default_factory=tuple)


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def subject_digest(resources: Iterable[Resource]) -> str:
    """sha256 over the raw digests in name order, as model_signing computes it."""
    import hashlib  # here: loading OpenSSL is a tenth of `vault provenance`, which never calls this

    h = hashlib.sha256()
    for r in resources:
        h.update(bytes.fromhex(r.digest))
    return h.hexdigest()


def build_model_statement(
    model_name: str,
    resources: Iterable[Resource],
    ignore_paths: Iterable[str] = (),
    hash_type: str = "sha256",
) -> bytes:
    ordered = sorted(resources, key=lambda r: r.name)
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model_name, "digest": {"sha256": subject_digest(ordered)}}],
        "predicateType": OMS_PREDICATE_TYPE,
        "predicate": {
            "resources": [{"name": r.name, "algorithm": r.algorithm, "digest": r.digest} for r in ordered],
            "serialization": {
                "method": "files",
                "hash_type": hash_type,
                "allow_symlinks": False,
                "ignore_paths": sorted(set(ignore_paths)),
            },
        },
    }
    return canonical_json(statement)


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise TrustError(f"signature statement: {message}")


def parse_model_statement(payload: bytes) -> ModelManifest:
    """Parse a verified payload; anything outside OMS v1.0 file mode is refused."""
    try:
        stmt = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise TrustError(f"signature statement: not JSON ({exc})") from None
    _require(isinstance(stmt, dict), "not a JSON object")
    _require(stmt.get("_type") == STATEMENT_TYPE, f"_type is {stmt.get('_type')!r}")
    _require(
        stmt.get("predicateType") == OMS_PREDICATE_TYPE,
        f"predicateType is {stmt.get('predicateType')!r}, expected {OMS_PREDICATE_TYPE}",
    )
    subjects = stmt.get("subject")
    _require(isinstance(subjects, list) and len(subjects) == 1, "expected exactly one subject")
    subject = subjects[0]
    _require(isinstance(subject, dict), "subject is not an object")
    model_name = subject.get("name", "")
    root = (subject.get("digest") or {}).get("sha256")
    predicate = stmt.get("predicate")
    _require(isinstance(predicate, dict), "predicate is not an object")
    ser = predicate.get("serialization")
    _require(isinstance(ser, dict), "serialization is missing")
    _require(
        ser.get("method") == "files",
        f"serialization method {ser.get('method')!r} is not supported (only 'files')",
    )
    hash_type = ser.get("hash_type")
    _require(hash_type in DIGEST_LENGTHS, f"hash_type {hash_type!r} is not supported")
    _require(ser.get("allow_symlinks") is False, "allow_symlinks must be false")
    ignore = ser.get("ignore_paths", [])
    _require(
        isinstance(ignore, list) and all(isinstance(p, str) for p in ignore),
        "ignore_paths must be a list of strings",
    )
    raw = predicate.get("resources")
    _require(isinstance(raw, list), "resources is not a list")
    resources: dict[str, str] = {}
    ordered: list[Resource] = []
    for item in raw:
        _require(isinstance(item, dict), "resource is not an object")
        name, algorithm, digest = item.get("name"), item.get("algorithm"), item.get("digest")
        _require(isinstance(name, str), "resource without a name")
        check_relpath(name, "signed file")
        _require(algorithm == hash_type, f"{name}: algorithm {algorithm!r} != {hash_type!r}")
        _require(
            isinstance(digest, str)
            and len(digest) == DIGEST_LENGTHS[hash_type]
            and bool(_HEX.fullmatch(digest)),
            f"{name}: malformed digest",
        )
        _require(name not in resources, f"{name}: listed twice")
        resources[name] = digest
        ordered.append(Resource(name, digest, algorithm))
    # model_signing hashes the digests in the order they are listed, so do the same.
    if root != subject_digest(ordered):
        raise IntegrityError("signature statement: subject digest does not match its resources")
    return ModelManifest(str(model_name), hash_type, resources, tuple(ignore))
