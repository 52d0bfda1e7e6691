"""The command-line reference in docs/cli.md, generated from the commands' own --help.

`python -m vault.cli.reference > docs/cli.md` rewrites it; a test fails when it
is stale, so the reference cannot drift from the code.
"""

from __future__ import annotations

import click

from vault.cli import cli


def _walk(cmd: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    out = [(path, cmd)]
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):  # loads the lazily registered commands
            sub = cmd.get_command(ctx, name)
            assert sub is not None
            out += _walk(sub, [*path, name])
    return out


def render() -> str:
    parts = ["# Command-line reference", "", "Generated from `--help` by `python -m vault.cli.reference`."]
    parts.append("")
    for path, cmd in _walk(cli, ["vault"]):
        with click.Context(
            cmd, info_name=" ".join(path), terminal_width=100, help_option_names=["-h", "--help"]
        ) as ctx:
            text = cmd.get_help(ctx)
        parts += [f"## `{' '.join(path)}`", "", "```", text, "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
