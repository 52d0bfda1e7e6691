"""The path grammar: whatever it accepts stays inside the directory it is joined to."""

from __future__ import annotations

import posixpath
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault._statements.paths import check_names_coexist, check_relpath
from vault.errors import UnsafeContentError


@given(st.text(max_size=60))
def test_accepted_paths_never_escape(path: str) -> None:
    try:
        check_relpath(path)
    except UnsafeContentError:
        return
    joined = posixpath.normpath(posixpath.join("/root", path))
    assert joined.startswith("/root/")
    assert "\\" not in path and "\0" not in path
    assert unicodedata.normalize("NFC", path) == path


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "/etc/passwd",
        "../x",
        "a/../../x",
        "a//b",
        "./a",
        "a\\b",
        "a\0b",
        "a\nb",
        "e\u0301",
        "x" * 300,
        "a/",
    ],
)
def test_rejected(bad: str) -> None:
    with pytest.raises(UnsafeContentError):
        check_relpath(bad)


def test_case_collisions() -> None:
    check_names_coexist(["a/B", "a/c"])
    with pytest.raises(UnsafeContentError, match="collides"):
        check_names_coexist(["Model.bin", "model.bin"])
