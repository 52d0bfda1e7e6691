"""OMS statements: the same bytes every time, and the same meaning as model_signing's."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st
from model_signing import hashing as ms_hashing
from model_signing._signing import signing as ms_signing

from vault._hashing import hash_file
from vault._statements.manifest import Resource, build_model_statement, parse_model_statement
from vault.errors import IntegrityError, TrustError, UnsafeContentError

hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
names = st.from_regex(r"[a-z][a-z0-9_.-]{0,12}(/[a-z][a-z0-9_.-]{0,12})?", fullmatch=True)


def test_matches_model_signing_payload(tiny_model: Path) -> None:
    """model_signing's own hasher and Payload give the same resources and subject digest."""
    ours = json.loads(
        build_model_statement(
            "tiny",
            [
                Resource(p.relative_to(tiny_model).as_posix(), hash_file(p).sha256)
                for p in tiny_model.rglob("*")
                if p.is_file()
            ],
        )
    )
    manifest = ms_hashing.Config().set_ignored_paths(paths=[], ignore_git_paths=False).hash(tiny_model)
    theirs = json.loads(json_format.MessageToJson(ms_signing.Payload(manifest).statement.pb))
    assert ours["subject"][0]["digest"] == theirs["subject"][0]["digest"]
    assert ours["predicate"]["resources"] == theirs["predicate"]["resources"]
    assert ours["predicateType"] == theirs["predicateType"]


@given(st.dictionaries(names, hex64, max_size=20))
def test_build_parse_round_trip_is_deterministic(files: dict[str, str]) -> None:
    resources = [Resource(n, d) for n, d in files.items()]
    a = build_model_statement("m", resources)
    b = build_model_statement("m", list(reversed(resources)))
    assert a == b
    parsed = parse_model_statement(a)
    assert parsed.resources == files and parsed.hash_type == "sha256"


def _statement(**edits: object) -> bytes:
    stmt = json.loads(build_model_statement("m", [Resource("a", "0" * 64), Resource("b", "1" * 64)]))
    for path, value in edits.items():
        target = stmt
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        target[keys[-1]] = value
    return json.dumps(stmt).encode()


@pytest.mark.parametrize(
    ("edits", "error", "message"),
    [
        ({"predicateType": "https://example/other"}, TrustError, "predicateType"),
        ({"predicate__serialization__method": "shards"}, TrustError, "not supported"),
        ({"predicate__serialization__allow_symlinks": True}, TrustError, "allow_symlinks"),
        ({"predicate__resources__0__name": "../etc/passwd"}, UnsafeContentError, "'..'"),
        ({"predicate__resources__0__name": "/abs"}, UnsafeContentError, "absolute"),
        ({"predicate__resources__1__name": "a"}, TrustError, "listed twice"),
        ({"predicate__resources__0__digest": "XYZ"}, TrustError, "malformed digest"),
        ({"predicate__resources__0__digest": "2" * 64}, IntegrityError, "subject digest"),
        ({"subject": []}, TrustError, "exactly one subject"),
    ],
)
def test_parse_refuses_bad_statements(edits: dict, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_model_statement(_statement(**edits))


def test_parse_accepts_real_model_signing_statement(testdata: Path) -> None:
    raw = json.loads((testdata / "oms/v1.1.0-elliptic-key/model.sig").read_bytes())
    parsed = parse_model_statement(base64.b64decode(raw["dsseEnvelope"]["payload"]))
    assert set(parsed.resources) == {"signme-1", "signme-2"}
    assert "ignore-me" in parsed.ignore_paths
