"""The `vault` command: a thin click layer that parses, calls `vault.api`, and renders.

Every failure ends the same way, whichever command it came from: one line on
stderr (with `--json`, also one `{"error": …}` object on stdout) and an exit
code from the table in docs/operator-guide.md. A traceback only with --debug.
"""

from __future__ import annotations

import difflib
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from types import FrameType
from typing import Any

import click

from vault import _interrupts as interrupts
from vault._closed_pipe import flush_stdout, reader_gone
from vault.cli.render import FailedWithReport, Settings, Terminated, emit_error
from vault.errors import VaultError
from vault.version import __version__

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
EXIT_FAILURE = 5
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


def _raise_terminated(_signum: int, _frame: FrameType | None) -> None:
    interrupts.request(Terminated)
    raise Terminated


def _raise_interrupted(_signum: int, _frame: FrameType | None) -> None:
    interrupts.request(KeyboardInterrupt)
    raise KeyboardInterrupt


def _scan_flags(args: Sequence[str], settings: Settings) -> None:
    """Global flags, for failures that happen before click has parsed them."""
    settings.as_json = settings.as_json or "--json" in args
    settings.debug = settings.debug or "--debug" in args


def _failure(settings: Settings, code: int, kind: str, message: str, report: Any = None) -> int:
    if settings.debug and sys.exc_info()[0] is not None:
        traceback.print_exc()
    emit_error(settings, code, kind, message, report)
    return code


# Which module defines each command. Only the invoked command's module is
# imported (start-up is what `vault list` is judged on); `--help` loads all.
# A test checks this against each module's COMMANDS.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "vault.cli.connected": ("add", "bundle", "keygen", "pull", "revoke", "sign"),
    "vault.cli.offline": ("import", "inventory", "ref", "trust", "verify"),
    "vault.cli.fleet": ("check", "publish"),
    "vault.cli.query": (
        "audit",
        "bom",
        "fsck",
        "gc",
        "hf-cache",
        "list",
        "path",
        "provenance",
        "scrub",
        "serve",
        "show",
    ),
}


class VaultGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for names in COMMAND_MODULES.values() for name in names)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """A mistyped command names the ones it may have meant."""
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=2, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise click.UsageError(f"no such command {name!r}{hint}", ctx)
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            for module, names in COMMAND_MODULES.items():
                if cmd_name in names:
                    _register(module)
        return self.commands.get(cmd_name)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run click without its own error handling, and map every outcome to one exit code."""
        argv = list(sys.argv[1:] if args is None else args)
        settings = extra.pop("obj", None) or Settings()
        code = self._run(argv, "vault", settings, **extra)  # whatever launched it, the command is `vault`
        flush_stdout()  # a reader gone after the last line is as quiet as one gone before it
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(self, argv: list[str], prog_name: str, settings: Settings, **extra: Any) -> int:
        # Only the main thread may set handlers; an embedding program keeps its own.
        previous = signal.getsignal(signal.SIGTERM)
        own_handler = (
            previous in (signal.SIG_DFL, None) and threading.current_thread() is threading.main_thread()
        )
        # Ctrl-C: Python's own handler, unless an embedding program installed another (or ignores it).
        own_interrupt = own_handler and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        if own_handler:
            signal.signal(signal.SIGTERM, _raise_terminated)
        if own_interrupt:
            signal.signal(signal.SIGINT, _raise_interrupted)
        try:
            result = super().main(argv, prog_name, standalone_mode=False, obj=settings, **extra)
            return result if isinstance(result, int) else 0
        except click.exceptions.Exit as exc:
            return exc.exit_code
        except click.UsageError as exc:
            if not _asked_for_help(exc):
                _scan_flags(argv, settings)
                return _failure(settings, exc.exit_code, "usage", _usage_line(exc))
            # `vault`, `vault trust`: a first look, not a mistake; the help is the answer.
            assert exc.ctx is not None
            click.echo(exc.ctx.get_help())
            return 0
        except click.ClickException as exc:
            _scan_flags(argv, settings)
            return _failure(settings, exc.exit_code, "usage", _usage_line(exc))
        except (click.exceptions.Abort, KeyboardInterrupt):
            _scan_flags(argv, settings)
            return _failure(
                settings, EXIT_INTERRUPTED, "interrupted", "interrupted; nothing half-done was kept"
            )
        except Terminated:
            _scan_flags(argv, settings)
            return _failure(settings, EXIT_TERMINATED, "terminated", "terminated; nothing half-done was kept")
        except VaultError as exc:
            _scan_flags(argv, settings)
            report = exc.report if isinstance(exc, FailedWithReport) else None
            return _failure(settings, exc.exit_code, exc.kind, str(exc), report)
        except BrokenPipeError:
            reader_gone()  # `vault … | head -1`: the reader had what it wanted
            return 0
        except SystemExit as exc:
            if type(sys.stdout).__name__.endswith("PacifyFlushWrapper"):  # click's own EPIPE exit
                reader_gone()
                return 0
            raise exc
        except OSError as exc:
            _scan_flags(argv, settings)
            where = f"{exc.filename}: " if exc.filename else ""
            return _failure(settings, EXIT_FAILURE, "io", f"{where}{exc.strerror or exc}")
        except Exception as exc:
            _scan_flags(argv, settings)
            message = f"unexpected {type(exc).__name__}: {exc}" + (
                "" if settings.debug else " (--debug shows the traceback)"
            )
            return _failure(settings, EXIT_FAILURE, "internal", message)
        finally:
            if own_handler:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if own_interrupt:
                signal.signal(signal.SIGINT, signal.default_int_handler)
            interrupts.forget()


def _asked_for_help(exc: click.UsageError) -> bool:
    """A command group named with no command under it: `vault`, `vault --home H`, `vault trust`."""
    if exc.ctx is None or not isinstance(exc.ctx.command, click.Group):
        return False
    return isinstance(exc, click.exceptions.NoArgsIsHelpError) or exc.message == "Missing command."


def _usage_line(exc: click.ClickException) -> str:
    """One line, like every other error, with where to look: not click's usage block."""
    message = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        return f"{message} (see '{ctx.command_path} --help')"
    return message


def _set_home(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(Settings).home = value


def _set_flag(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        setattr(ctx.ensure_object(Settings), param.name or "", True)


def global_options() -> list[click.Option]:
    """--home, --json and --debug, accepted before or after the subcommand (`vault show REF --json`)."""
    return [
        click.Option(["--home"], type=click.Path(file_okay=False), expose_value=False, callback=_set_home,
                     help="Vault home directory (default: VAULT_HOME, else the user data dir)."),
        click.Option(["--json", "as_json"], is_flag=True, expose_value=False, callback=_set_flag,
                     help="Machine-readable output on stdout (errors too)."),
        click.Option(["--debug"], is_flag=True, expose_value=False, callback=_set_flag,
                     help="Show tracebacks on errors."),
    ]  # fmt: skip


@click.group(cls=VaultGroup, context_settings=CONTEXT_SETTINGS)
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar="VAULT_HOME",
    help="Vault home directory (default: the user data dir).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout (errors too).")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(__version__, "-V", "--version", prog_name="vault")
@click.pass_context
def cli(ctx: click.Context, home: str | None, as_json: bool, debug: bool) -> None:
    """vault: carry model weights across an air gap, verified."""
    settings = ctx.ensure_object(Settings)
    settings.home = settings.home or home
    settings.as_json = settings.as_json or as_json
    settings.debug = settings.debug or debug


def _add_global_options(command: click.Command) -> None:
    command.params.extend(global_options())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_global_options(sub)


def _register(module_name: str) -> None:
    import importlib

    for command in importlib.import_module(module_name).COMMANDS:
        if command.name not in cli.commands:
            _add_global_options(command)
            cli.add_command(command)


def main() -> None:
    cli.main(prog_name="vault")
