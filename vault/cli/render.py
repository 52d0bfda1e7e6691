"""Shared CLI plumbing: settings from global options, opening the vault, output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from vault._report_text import human_bytes as human_bytes
from vault._report_text import plain, to_json
from vault.errors import VaultError

if TYPE_CHECKING:
    from vault.api import Vault


class Terminated(BaseException):
    """SIGTERM, raised where the process is so that cleanup (`finally`, partial files) runs."""


@dataclass
class Settings:
    """The global options, filled in wherever they appear on the command line."""

    home: str | None = None
    as_json: bool = False
    debug: bool = False

    @property
    def home_path(self) -> Path | None:
        return Path(self.home) if self.home else None

    def open(self, create: bool = True, readonly: bool | None = False) -> Vault:
        from vault.api import Vault  # imported here: `vault path` must not pay for SQLAlchemy

        return Vault.open(self.home_path, create=create, readonly=readonly)


def emit(settings: Settings, data: Any, text: str | None = None) -> None:
    """JSON on stdout with --json, else the human text (if any)."""
    if settings.as_json:
        click.echo(to_json(data))
    elif text is not None:
        click.echo(text)


class FailedWithReport(VaultError):
    """A check that produced a report and then failed (fsck, scrub, audit).

    With --json the report and the error go out as one object, so stdout
    always parses as exactly one JSON document.
    """

    def __init__(self, error: VaultError, report: Any) -> None:
        super().__init__(str(error))
        self.exit_code, self.kind, self.report = error.exit_code, error.kind, report


def emit_or_fail(settings: Settings, data: Any, text: str, error: VaultError | None) -> None:
    """Render a report; if `error`, then fail with it (exit code and error line as for any failure)."""
    if error is None:
        emit(settings, data, text)
        return
    if not settings.as_json:
        click.echo(text)
    raise FailedWithReport(error, data)


def emit_error(settings: Settings, code: int, kind: str, message: str, report: Any = None) -> None:
    """One line on stderr; with --json also one object on stdout, the same shape for every failure."""
    message = " ".join(message.split())  # a driver's multi-line text must not break "one line"
    if settings.as_json:
        error = {"error": {"code": code, "kind": kind, "message": message}}
        report = plain(report)
        body = {**report, **error} if isinstance(report, dict) else error
        click.echo(json.dumps(body, indent=2, sort_keys=True))
    click.echo(f"vault: error: {message}", err=True)


class TerminalProgress:
    """A tqdm byte bar on stderr, only when stderr is a terminal and --json is off."""

    def __init__(self, settings: Settings) -> None:
        import sys
        import threading

        self.enabled = not settings.as_json and sys.stderr.isatty()
        self._bar: Any = None
        self._lock = threading.Lock()  # blobs are hashed on several threads at once

    def start(self, total: int, description: str) -> None:
        if self.enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=description, unit="B", unit_scale=True, unit_divisor=1024)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            with self._lock:
                self._bar.update(n)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
