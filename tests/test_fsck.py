"""`vault fsck`: clean after an import, and it names each kind of damage."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Transfer, run, run_json


@pytest.fixture
def imported(transfer: Transfer) -> Transfer:
    run("import", transfer.bundle, home=transfer.airgapped)
    return transfer


def _view(t: Transfer) -> Path:
    return t.airgapped / "models" / t.repo_id / t.commit


def _blob(t: Transfer, rel: str) -> Path:
    shown = run_json("show", t.repo_id, home=t.airgapped)
    sha = next(f["sha256"] for f in shown["files"] if f["path"] == rel)
    return t.airgapped / "store" / "blobs" / "sha256" / sha[:2] / sha[2:]


def test_clean_after_import(imported: Transfer) -> None:
    report = run_json("fsck", home=imported.airgapped)
    assert report["clean"] and report["problems"] == [] and report["checked"]["revisions"] == 1


def _delete_blob(t: Transfer) -> None:
    blob = _blob(t, "config.json")
    for view_file in (_view(t) / "config.json",):
        view_file.unlink()
    blob.unlink()


def _writable_blob(t: Transfer) -> None:
    _blob(t, "config.json").chmod(0o644)


def _missing_view_file(t: Transfer) -> None:
    (_view(t) / "tokenizer" / "vocab.txt").unlink()


def _extra_view_file(t: Transfer) -> None:
    (_view(t) / "smuggled.py").write_text("import os")


def _stray_copy(t: Transfer) -> None:
    f = _view(t) / "config.json"
    data = f.read_bytes()
    f.unlink()
    f.write_bytes(data)


def _missing_snapshot(t: Transfer) -> None:
    shutil.rmtree(t.airgapped / "hf" / "hub" / "models--acme--tiny" / "snapshots" / t.commit)


def _missing_view(t: Transfer) -> None:
    shutil.rmtree(_view(t))


DAMAGE: list[tuple[str, Callable[[Transfer], None], str]] = [
    ("blob deleted", _delete_blob, "missing-blob"),
    ("blob made writable", _writable_blob, "writable-blob"),
    ("file missing from the view", _missing_view_file, "missing-file"),
    ("extra file in the view", _extra_view_file, "extra-file"),
    ("view file replaced by a copy", _stray_copy, "stray-file"),
    ("HF snapshot missing", _missing_snapshot, "missing-hf-snapshot"),
    ("revision directory missing", _missing_view, "missing-view"),
]


@pytest.mark.parametrize(("label", "damage", "kind"), DAMAGE, ids=[d[0] for d in DAMAGE])
def test_damage_is_reported(
    imported: Transfer, label: str, damage: Callable[[Transfer], None], kind: str
) -> None:
    damage(imported)
    res = run("--json", "fsck", home=imported.airgapped, code=1)
    assert "fsck:" in res.stderr and "inconsistencies" in res.stderr
    kinds = {p["kind"] for p in json.loads(res.stdout)["problems"]}
    assert kind in kinds, kinds


def test_orphan_blob_is_only_a_warning(imported: Transfer) -> None:
    orphan = imported.airgapped / "store" / "blobs" / "sha256" / "ff" / ("f" * 62)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"left by a killed import")
    os.chmod(orphan, 0o444)
    report = run_json("fsck", home=imported.airgapped)
    assert report["clean"] and report["warnings"][0]["kind"] == "orphan-blob"
