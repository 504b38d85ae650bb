"""Process-wide output state: results go to stdout, everything else to stderr."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

err_console = Console(stderr=True)
out_console = Console(soft_wrap=True)


@dataclass
class AppState:
    workspace: Path = field(default_factory=lambda: Path(os.environ.get("SNAP_WORKSPACE", "snap-workspace")))
    json: bool = False
    quiet: bool = False
    verbose: bool = False


_STATE = AppState()


def state() -> AppState:
    return _STATE


def set_state(new: AppState) -> None:
    global _STATE
    _STATE = new


def log(msg: str, *, verbose: bool = False) -> None:
    """A line on stderr; silenced by --quiet, and verbose lines need --verbose."""
    st = state()
    if st.quiet or (verbose and not st.verbose):
        return
    err_console.print(msg, highlight=False)


def progress(transient: bool = False) -> Progress:
    """A rich progress display on stderr (disabled with --quiet)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=state().quiet,
        transient=transient,
    )
