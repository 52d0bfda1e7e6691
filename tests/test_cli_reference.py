"""docs/cli.md is generated from --help and must match the code."""

from __future__ import annotations

from pathlib import Path

from vault.cli.reference import render


def test_cli_reference_is_current() -> None:
    doc = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
    assert doc.read_text() == render(), "docs/cli.md is stale: python -m vault.cli.reference > docs/cli.md"
