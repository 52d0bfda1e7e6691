"""The `vault` console script. `vault path REF` is answered before click is even imported.

Inference servers call `vault path` on every boot, and click plus the command
modules cost more than the whole lookup. So the exact shape
`vault [--home DIR] [--json] [--debug] path REF` is parsed here by hand and
answered by `vault.resolver`; everything else (including `--help`) goes to the
click CLI, which implements the same command with the same output.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _parse_fast_path(argv: list[str]) -> tuple[str | None, bool, str] | None:
    home: str | None = None
    as_json = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--home" and i + 1 < len(argv):
            home, i = argv[i + 1], i + 2
        elif arg.startswith("--home="):
            home, i = arg.split("=", 1)[1], i + 1
        elif arg == "--json":
            as_json, i = True, i + 1
        elif arg == "path" and len(argv) == i + 2 and not argv[i + 1].startswith("-"):
            return home, as_json, argv[i + 1]
        else:
            return None
    return None


def main() -> None:
    parsed = _parse_fast_path(sys.argv[1:])
    if parsed is None or "--debug" in sys.argv:
        from vault.cli import main as cli_main

        cli_main()
        return
    home, as_json, ref = parsed
    from vault.errors import VaultError
    from vault.resolver import resolve

    try:
        path = resolve(ref, Path(home) if home else None, keep_connection=False)
    except VaultError as exc:
        print(f"vault: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    if as_json:
        import json

        print(json.dumps({"path": str(path)}, indent=2, sort_keys=True))
    else:
        print(path)
