"""The `vault` console script. `vault path REF` is answered before click is even imported.

Inference servers call `vault path` on every boot, and click plus the command
modules cost more than the whole lookup. So the exact shape
`vault [--home DIR] [--json] path REF [--home DIR] [--json]` is parsed here by
hand and answered by `vault.resolver`; everything else (including `--help`,
`--debug` and any failure this path does not expect) goes to the click CLI,
which implements the same command with the same output.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _parse_fast_path(argv: list[str]) -> tuple[str | None, bool, str] | None:
    home: str | None = None
    as_json = False
    command: str | None = None
    ref: str | None = None
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
        elif command is None:
            command, i = arg, i + 1
        elif ref is None:
            ref, i = arg, i + 1
        else:
            return None
    if command != "path" or ref is None:
        return None
    return home, as_json, ref


def main() -> None:
    parsed = _parse_fast_path(sys.argv[1:])
    if parsed is None:
        from vault.cli import main as cli_main

        cli_main()
        return
    home, as_json, ref = parsed
    from vault._resolver import resolve
    from vault.errors import VaultError

    try:
        path = resolve(ref, Path(home) if home else None, keep_connection=False)
    except VaultError as exc:
        from vault.cli.render import Settings, emit_error

        emit_error(Settings(home, as_json), exc.exit_code, exc.kind, str(exc))
        sys.exit(exc.exit_code)
    except Exception:  # the full CLI reports it (with --debug, the traceback)
        from vault.cli import main as cli_main

        cli_main()
        return
    if as_json:
        import json

        print(json.dumps({"path": str(path)}, indent=2, sort_keys=True))
    else:
        print(path)
