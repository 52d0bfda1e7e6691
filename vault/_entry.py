"""The `vault` console script. `path`, `list`, `show` and `provenance` are answered before click is imported.

Inference servers call `vault path` on every boot, and operators script
`list`/`show`/`provenance`; click plus the command modules cost more than the
whole lookup. So the exact shapes `vault [--home DIR] [--json] path|show|provenance
REF` and `vault [--home DIR] [--json] list` (global options in any position)
are parsed here by hand and answered through the same library calls and the
same renderers (`vault._report_text`) as the click commands; everything else
(including `--help`, `--debug` and any failure this path does not expect)
goes to the click CLI, which implements the same commands with the same output.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# The commands answered here, and how many positional arguments each takes.
FAST_COMMANDS = {"path": 1, "list": 0, "show": 1, "provenance": 1}


def _parse_fast_path(argv: list[str]) -> tuple[str | None, bool, str, list[str]] | None:
    home: str | None = None
    as_json = False
    positional: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--home" and i + 1 < len(argv):
            home, i = argv[i + 1], i + 2
        elif arg.startswith("--home="):
            home, i = arg.split("=", 1)[1], i + 1
        elif arg == "--json":
            as_json, i = True, i + 1
        elif arg.startswith("-"):
            return None
        else:
            positional.append(arg)
            i += 1
    if not positional or FAST_COMMANDS.get(positional[0]) != len(positional) - 1:
        return None
    return home, as_json, positional[0], positional[1:]


def _answer(command: str, args: list[str], home: Path | None) -> tuple[Any, str]:
    """(what --json prints, what the text output is), from the same calls the click commands make."""
    if command == "path":
        from vault._resolver import resolve

        path = resolve(args[0], home, keep_connection=False)
        return {"path": str(path)}, str(path)
    from vault import _report_text as text
    from vault.api import open_vault

    with open_vault(home, readonly=True) as v:
        if command == "list":
            rows = v.list()
            return rows, text.list_text(rows)
        if command == "show":
            detail = v.show(args[0])
            return detail, text.show_text(detail)
        report = v.provenance(args[0])
        return report, text.provenance_text(report)


def _full_cli() -> None:
    from vault.cli import main as cli_main

    cli_main()


def main() -> None:
    parsed = _parse_fast_path(sys.argv[1:])
    if parsed is None:
        _full_cli()
        return
    home, as_json, command, args = parsed
    from vault.errors import VaultError

    try:
        data, rendered = _answer(command, args, Path(home) if home else None)
    except VaultError as exc:
        from vault.cli.render import Settings, emit_error

        emit_error(Settings(home, as_json), exc.exit_code, exc.kind, str(exc))
        sys.exit(exc.exit_code)
    except Exception:  # the full CLI reports it (with --debug, the traceback); these commands only read
        _full_cli()
        return
    from vault._closed_pipe import flush_stdout, reader_gone

    try:
        if as_json:
            from vault._report_text import to_json

            print(to_json(data))
        else:
            print(rendered)
    except BrokenPipeError:
        reader_gone()
        return
    flush_stdout()
