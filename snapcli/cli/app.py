"""The `snap` command: global options, error handling and exit codes around the subcommands."""

from __future__ import annotations

import importlib
import os
import re
import sys
import traceback
from pathlib import Path

import typer
from rich.markup import escape
from typer import Context
from typer.core import TyperGroup

from snapcli import __version__
from snapcli.console import AppState, err_console, set_state, state
from snapcli.errors import RunFailed, SnapError

# Global flags are accepted anywhere on the line (`snap ls --json` and `snap --json ls` alike).
_GLOBAL_FLAGS = {"--json", "--quiet", "-q", "--verbose", "-v"}
_GLOBAL_VALUED = {"--workspace", "-w"}


def _hoist_globals(args: list[str]) -> list[str]:
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            rest.extend(args[i:])
            break
        if a in _GLOBAL_FLAGS:
            front.append(a)
        elif a in _GLOBAL_VALUED and i + 1 < len(args):
            front.extend([a, args[i + 1]])
            i += 1
        elif a.startswith("--workspace="):
            front.append(a)
        else:
            rest.append(a)
        i += 1
    return front + rest


class SnapGroup(TyperGroup):
    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _hoist_globals(list(args)))

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode: bool = True, **extra):
        """Click's usage errors (unknown command or option, bad value, missing argument) as ONE stderr line with
        exit 2, like every other bad input; the "Try 'snap X -h'" hint follows on a second line only on a TTY."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as e:  # Click's exceptions derive from it (typer's public API)
            if type(e).__name__ == "NoArgsIsHelpError":  # bare `snap`: the help is already on stdout
                sys.exit(e.exit_code)
            sys.exit(_usage_error(e))
        except typer.Abort:  # EOF at a prompt: Click's own convention
            _error_line("aborted")
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: Context):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except (SnapError, RunFailed) as e:
            if state().verbose:
                err_console.print_exception()
            _error_line(_one_line(e))
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            err_console.print(
                "[yellow]Interrupted[/yellow]: finished artifacts are kept, nothing partial was published"
            )
            raise typer.Exit(130) from None
        except Exception as e:  # noqa: BLE001 - the CLI's last line of defence
            if state().verbose:
                err_console.print(traceback.format_exc(), highlight=False, markup=False)
            else:
                _error_line(f"run failed: {type(e).__name__}: {_one_line(e)} (--verbose shows the traceback)")
            raise typer.Exit(1) from None


def _one_line(e: BaseException) -> str:
    """The message on one line: line breaks (and the indentation after them) become one space; other spacing
    stays, so a quoted value such as '   ' is shown as it is."""
    return re.sub(r"\s*[\r\n]+\s*", " ", str(e)).strip() or type(e).__name__


def _error_line(text: str) -> None:
    """One 'Error: ...' line on stderr: no wrapping at the terminal width, no rich markup read from `text`."""
    err_console.print(f"[red]Error:[/red] {escape(text)}", highlight=False, soft_wrap=True)


def _usage_error(e: typer.TyperException) -> int:
    ctx = getattr(e, "ctx", None)
    where = f"{ctx.command_path}: " if ctx is not None else ""
    _error_line(f"{where}{' '.join(e.format_message().split())}")
    if ctx is not None and sys.stderr.isatty():
        err_console.print(f"Try '{escape(ctx.command_path)} {ctx.help_option_names[0]}' for help.", highlight=False)
    return e.exit_code


def _bad_argv(args: list[str]) -> str | None:
    """Arguments the OS passed as undecodable bytes (lone surrogates after Python's surrogateescape)."""
    for i, a in enumerate(args, start=1):
        try:
            a.encode("utf-8")
        except UnicodeEncodeError:
            raw = os.fsencode(a)
            return f"argument {i} ({raw!r}) is not valid UTF-8; pass names and paths as UTF-8 text"
    return None


app = typer.Typer(
    cls=SnapGroup,
    name="snap",
    help="Remove selected knowledge from an instruction-tuned LLM (SNAP: negative instructions, hard retaining "
    "data, Wasserstein regularization).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"snap {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    workspace: Path = typer.Option(
        Path("snap-workspace"),
        "--workspace",
        "-w",
        envvar="SNAP_WORKSPACE",
        help="Workspace directory.",
        show_default=True,
    ),
    json_: bool = typer.Option(False, "--json", help="Print one JSON document on stdout and nothing else there."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress or logs on stderr."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="More logs; tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    set_state(AppState(workspace=workspace, json=json_, quiet=quiet, verbose=verbose))
    if verbose:
        os.environ.setdefault("SNAP_VERBOSE", "1")


# Each module registers its commands; the list is the CLI's table of contents (pipeline order first).
COMMAND_MODULES = [
    "snapcli.cli.generate",
    "snapcli.cli.filter",
    "snapcli.cli.augment",
    "snapcli.cli.train",
    "snapcli.cli.eval",
    "snapcli.cli.judge",
    "snapcli.cli.benchmark",
    "snapcli.cli.audit",
    "snapcli.cli.report",
    "snapcli.cli.run",
    "snapcli.cli.chat",
    "snapcli.cli.export",
    "snapcli.cli.examples_cmd",
    "snapcli.cli.store_cmds",
    "snapcli.cli.models_cmds",
    "snapcli.cli.completions_cmd",
]
for _mod in COMMAND_MODULES:
    importlib.import_module(_mod).register(app)


def main() -> None:
    bad = _bad_argv(sys.argv[1:])
    if bad:
        _error_line(bad)
        sys.exit(2)
    try:
        app(prog_name="snap")
    except KeyboardInterrupt:
        err_console.print("[yellow]Interrupted[/yellow]")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
