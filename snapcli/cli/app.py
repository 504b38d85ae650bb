"""The `snap` command: global options, error handling and exit codes around the subcommands."""

from __future__ import annotations

import importlib
import os

# DeepSpeed (imported by transformers/accelerate) warns on every start when it probes for an accelerator.
if not os.environ.get("CUDA_VISIBLE_DEVICES") and not os.path.exists("/dev/nvidia0"):
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
import sys
import traceback
from pathlib import Path

import typer
from typer._click import Context
from typer._click import exceptions as click_exc
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

    def invoke(self, ctx: Context):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, click_exc.ClickException):
            raise
        except (SnapError, RunFailed) as e:
            if state().verbose:
                err_console.print_exception()
            err_console.print(f"[red]Error:[/red] {_one_line(e)}", highlight=False, soft_wrap=True)
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
                err_console.print(
                    f"[red]Error:[/red] run failed: {type(e).__name__}: {_one_line(e)} (--verbose shows the traceback)",
                    highlight=False,
                )
            raise typer.Exit(1) from None


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


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
    try:
        app(prog_name="snap")
    except KeyboardInterrupt:
        err_console.print("[yellow]Interrupted[/yellow]")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
