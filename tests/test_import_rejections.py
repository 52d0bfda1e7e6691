"""Fail closed: every broken or untrusted bundle is refused with one line, and the home is untouched."""

from __future__ import annotations

import base64
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import bundletools as bt
from tests.conftest import KeyPair, Transfer, run, snapshot


def assert_rejected(t: Transfer, bundle: Path, expect: str, code: int = 1) -> str:
    before = snapshot(t.airgapped)
    for command in ("verify", "import"):
        res = run(command, bundle, home=t.airgapped, code=code)
        err = res.stderr.strip()
        assert err.startswith("vault: error: ") and "\n" not in err, err
        assert expect in err, err
        assert res.stdout == ""
    assert snapshot(t.airgapped) == before
    run("path", t.repo_id, home=t.airgapped, code=3)
    return err


def flip_byte_in_weights(entries: bt.Entries) -> bt.Entries:
    name = bt.blob_name_for(entries, "model.safetensors")
    data = bytearray(next(d for i, d in entries if i.name == name))
    data[len(data) // 2] ^= 0x01
    return bt.replace_entry(entries, name, bytes(data))


def drop_config(entries: bt.Entries) -> bt.Entries:
    return bt.drop_entry(entries, bt.blob_name_for(entries, "config.json"))


def extra_blob_entry(entries: bt.Entries) -> bt.Entries:
    data = b"not signed by anyone"
    return [*entries, (bt.file_info(f"blobs/sha256/{bt.sha256(data)}", len(data)), data)]


def extra_file_at_root(entries: bt.Entries) -> bt.Entries:
    return [*entries, (bt.file_info("README.txt", 5), b"hello")]


def extra_blob_declared_in_index(entries: bt.Entries) -> bt.Entries:
    data = b"declared but never signed"
    index = bt.index_of(entries)
    index["blobs"].append({"sha256": bt.sha256(data), "size": len(data)})
    entries = bt.set_index(entries, index)
    return [*entries, (bt.file_info(f"blobs/sha256/{bt.sha256(data)}", len(data)), data)]


def _model_sig_name(entries: bt.Entries) -> str:
    return next(i.name for i, _ in entries if i.name.endswith("/model.sig"))


def tamper_model_signature(entries: bt.Entries) -> bt.Entries:
    name = _model_sig_name(entries)
    raw = next(d for i, d in entries if i.name == name)

    def edit(stmt: dict) -> None:
        stmt["predicate"]["resources"][0]["digest"] = "0" * 64

    return bt.replace_entry(entries, name, bt.tamper_signature_payload(raw, edit))


def corrupt_signature_bytes(entries: bt.Entries) -> bt.Entries:
    name = _model_sig_name(entries)
    doc = json.loads(next(d for i, d in entries if i.name == name))
    sig = bytearray(base64.b64decode(doc["dsseEnvelope"]["signatures"][0]["sig"]))
    sig[-1] ^= 0xFF
    doc["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    return bt.replace_entry(entries, name, json.dumps(doc).encode())


def drop_model_signature_entry(entries: bt.Entries) -> bt.Entries:
    return bt.drop_entry(entries, _model_sig_name(entries))


def drop_model_signature_everywhere(entries: bt.Entries) -> bt.Entries:
    entries = bt.drop_entry(entries, _model_sig_name(entries))
    index = bt.index_of(entries)
    del index["revisions"][0]["signatures"]["model"]
    return bt.set_index(entries, index)


def swap_in_wrong_size_index(entries: bt.Entries) -> bt.Entries:
    index = bt.index_of(entries)
    index["blobs"][0]["size"] += 1
    return bt.set_index(entries, index)


def symlink_entry(entries: bt.Entries) -> bt.Entries:
    link = tarfile.TarInfo("blobs/sha256/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return [*entries, (link, b"")]


def traversal_entry(entries: bt.Entries) -> bt.Entries:
    return [*entries, (bt.file_info("../escape", 3), b"bad")]


def duplicated_blob(entries: bt.Entries) -> bt.Entries:
    name = bt.blob_name_for(entries, "config.json")
    data = next(d for i, d in entries if i.name == name)
    return [*entries, (bt.file_info(name, len(data)), data)]


CASES: list[tuple[str, Callable[[bt.Entries], bt.Entries], str]] = [
    ("flipped byte in weights", flip_byte_in_weights, "model.safetensors: sha256 mismatch"),
    ("missing file", drop_config, "config.json: missing from the bundle"),
    ("extra undeclared entry", extra_blob_entry, "not declared by any signed revision"),
    ("extra file at root", extra_file_at_root, "'README.txt': not declared by any signed revision"),
    (
        "extra blob declared only in the index",
        extra_blob_declared_in_index,
        "is not part of any signed revision",
    ),
    ("tampered signed statement", tamper_model_signature, "does not verify under trusted key acme"),
    ("corrupted signature bytes", corrupt_signature_bytes, "does not verify under trusted key acme"),
    ("missing signature entry", drop_model_signature_entry, "model.sig' is missing"),
    ("no signature at all", drop_model_signature_everywhere, "bundle carries no model signature"),
    ("index lies about a size", swap_in_wrong_size_index, "signed size is"),
    ("symlink entry", symlink_entry, "is a symbolic link"),
    ("path traversal entry", traversal_entry, "'..' component"),
    ("duplicated blob entry", duplicated_blob, "appears twice"),
]


@pytest.mark.parametrize(("label", "edit", "expect"), CASES, ids=[c[0] for c in CASES])
def test_hostile_bundle_is_rejected(
    transfer: Transfer, tmp_path: Path, label: str, edit: Callable[[bt.Entries], bt.Entries], expect: str
) -> None:
    bad = bt.rewrite(transfer.bundle, tmp_path / "bad.vault", edit)
    assert_rejected(transfer, bad, expect)


def test_untrusted_key_is_rejected(transfer: Transfer, make_keypair: Callable[[str], KeyPair]) -> None:
    other = make_keypair("stranger")
    run("trust", "remove", "acme", home=transfer.airgapped)
    run("trust", "add", "stranger", "--key", other.public, "--scope", "*", home=transfer.airgapped)
    assert_rejected(transfer, transfer.bundle, "not signed by any trusted key")


def test_no_trust_entries_at_all(transfer: Transfer) -> None:
    run("trust", "remove", "acme", home=transfer.airgapped)
    assert_rejected(transfer, transfer.bundle, "no trusted keys in this vault")


def retrust(t: Transfer, scope: str) -> None:
    """Trust the signing key again, but only for `scope`."""
    run("trust", "remove", "acme", home=t.airgapped)
    run("trust", "add", "acme", "--key", t.key.public, "--scope", scope, home=t.airgapped)


def test_key_trusted_for_another_scope_is_rejected(transfer: Transfer) -> None:
    retrust(transfer, "other-org/*")
    assert_rejected(transfer, transfer.bundle, "signer acme (scope other-org/*) is not trusted for acme/tiny")


def test_truncated_bundle_is_rejected(transfer: Transfer, tmp_path: Path) -> None:
    data = transfer.bundle.read_bytes()
    cut = tmp_path / "cut.vault"
    cut.write_bytes(data[: len(data) // 2 + 100])
    assert_rejected(transfer, cut, "truncated")


def test_data_after_the_archive_is_rejected(transfer: Transfer, tmp_path: Path) -> None:
    padded = tmp_path / "padded.vault"
    padded.write_bytes(transfer.bundle.read_bytes() + b"\0" * 512 + b"smuggled" + b"\0" * 100_000)
    assert_rejected(transfer, padded, "after the end of the archive")


def test_missing_bundle_is_not_found(transfer: Transfer, tmp_path: Path) -> None:
    assert_rejected(transfer, tmp_path / "nope.vault", "no such bundle", code=3)


def test_good_bundle_still_imports_after_rejections(transfer: Transfer, tmp_path: Path) -> None:
    bad = bt.rewrite(transfer.bundle, tmp_path / "bad.vault", flip_byte_in_weights)
    assert_rejected(transfer, bad, "sha256 mismatch")
    run("import", transfer.bundle, home=transfer.airgapped)
    assert Path(run("path", transfer.repo_id, home=transfer.airgapped).stdout.strip()).is_dir()


def test_trust_is_checked_before_any_blob(transfer: Transfer, tmp_path: Path) -> None:
    """With both a bad blob and an out-of-scope key, the trust failure is what is reported."""
    bad = bt.rewrite(transfer.bundle, tmp_path / "bad.vault", flip_byte_in_weights)
    retrust(transfer, "elsewhere/*")
    err = assert_rejected(transfer, bad, "is not trusted for acme/tiny")
    assert "sha256" not in err


def test_verify_of_a_good_bundle_writes_nothing(transfer: Transfer) -> None:
    before = snapshot(transfer.airgapped)
    out = run("verify", transfer.bundle, home=transfer.airgapped).stdout
    assert out.startswith("OK: acme/tiny@")
    assert snapshot(transfer.airgapped) == before
