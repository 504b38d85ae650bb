"""Helpers every CLI module shares: the workspace, --json output, list parsing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rich.table import Table

from snapcli.console import out_console, state
from snapcli.errors import SnapError
from snapcli.store import Workspace


def workspace() -> Workspace:
    return Workspace(state().workspace)


def emit(data: Any, render: Callable[[], None] | None = None) -> None:
    """One JSON document on stdout with --json, else the human rendering."""
    if state().json:
        print(json.dumps(data, indent=2, default=str))
    elif render is not None:
        render()
    else:
        out_console.print_json(json.dumps(data, default=str))


def parse_csv(value: str | list[str] | None, *, allowed: list[str] | None = None, what: str = "value") -> list[str]:
    """'a,b' or ['a', 'b,c'] -> ['a', 'b', 'c'], checked against `allowed`."""
    if value is None:
        return []
    parts = value if isinstance(value, list) else [value]
    items = [x.strip() for p in parts for x in p.split(",") if x.strip()]
    if allowed is not None:
        bad = [x for x in items if x not in allowed]
        if bad:
            raise SnapError(f"unknown {what} {', '.join(bad)} (choose from {', '.join(allowed)})")
    return items


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title, show_lines=False)
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    return t
