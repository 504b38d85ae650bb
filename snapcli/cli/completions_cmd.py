"""`snap completions SHELL`: the shell completion script, generated from the app itself."""

from __future__ import annotations

import typer

from snapcli.errors import SnapError

SHELLS = ("bash", "zsh", "fish")


def completion_script(shell: str) -> str:
    from typer._completion_shared import get_completion_script

    if shell not in SHELLS:
        raise SnapError(f"unknown shell '{shell}' (choose {', '.join(SHELLS)})")
    return get_completion_script(prog_name="snap", complete_var="_SNAP_COMPLETE", shell=shell)


def completions_cmd(shell: str = typer.Argument(..., help="bash, zsh or fish.")) -> None:
    """Print the completion script (see completions/ for the checked-in copies)."""
    print(completion_script(shell))


def register(app: typer.Typer) -> None:
    app.command("completions")(completions_cmd)
