"""Shared CLI plumbing: settings from global options, opening the vault, output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from vault.api import Vault


@dataclass
class Settings:
    home: str | None
    as_json: bool
    debug: bool

    @property
    def home_path(self) -> Path | None:
        return Path(self.home) if self.home else None

    def open(self, create: bool = True) -> Vault:
        from vault.api import Vault  # imported here: `vault path` must not pay for SQLAlchemy

        return Vault.open(self.home_path, create=create)


def emit(settings: Settings, data: Any, text: str | None = None) -> None:
    """JSON on stdout with --json, else the human text (if any)."""
    if settings.as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    elif text is not None:
        click.echo(text)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{n} B"
        size /= 1024
    return f"{n} B"


class TerminalProgress:
    """A tqdm byte bar on stderr, only when stderr is a terminal and --json is off."""

    def __init__(self, settings: Settings) -> None:
        import sys

        self.enabled = not settings.as_json and sys.stderr.isatty()
        self._bar: Any = None

    def start(self, total: int, description: str) -> None:
        if self.enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=description, unit="B", unit_scale=True, unit_divisor=1024)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
