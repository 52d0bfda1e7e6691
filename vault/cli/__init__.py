"""The `vault` command: a thin click layer that parses, calls `vault.api`, and renders.

Errors become one line on stderr and an exit code (see docs/operator-guide.md);
a traceback only with --debug.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from vault.cli.render import Settings
from vault.errors import VaultError
from vault.version import __version__


class VaultGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VaultError as exc:
            if ctx.obj is not None and ctx.obj.debug:
                raise
            click.echo(f"vault: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except OSError as exc:
            if ctx.obj is not None and ctx.obj.debug:
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"vault: error: {where}{exc.strerror or exc}", err=True)
            ctx.exit(5)


@click.group(cls=VaultGroup)
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar="VAULT_HOME",
    help="Vault home directory (default: the user data dir).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(__version__, prog_name="vault")
@click.pass_context
def cli(ctx: click.Context, home: str | None, as_json: bool, debug: bool) -> None:
    """vault: carry model weights across an air gap, verified."""
    ctx.obj = Settings(home=home, as_json=as_json, debug=debug)


def _register() -> None:
    from vault.cli import connected, offline, query

    for module in (connected, offline, query):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    sys.exit(cli.main(prog_name="vault"))
