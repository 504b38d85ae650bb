"""Helpers every CLI module shares: the workspace, --json output, tables, and running a stage with progress."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

from rich.table import Table

from snapcli.console import log, out_console, progress, state
from snapcli.errors import SnapError
from snapcli.store import Artifact, Workspace


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


def stored_warnings(art) -> list[str]:
    """The data warnings a stage stored in its manifest (`extra.warnings`); repeated on stderr when the artifact
    was reused from the cache, since the build that printed them did not run (--quiet silences them)."""
    warnings = [str(w) for w in art.manifest.get("extra", {}).get("warnings", [])]
    if getattr(art, "cached", False):
        for w in warnings:
            log(f"[yellow]warning[/yellow] (stored with {art.ref}): {w}")
    return warnings


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


@contextlib.contextmanager
def stage_context(bar_title: str | None = None) -> Iterator[Any]:
    """A snapcli.stages.base.Context whose progress callback drives one rich bar per phase (on stderr)."""
    from snapcli.stages.base import Context

    with progress() as bar:
        tasks: dict[str, int] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        def status(msg: str) -> None:
            update(bar_title or "status", 0, 0)
            bar.update(tasks[bar_title or "status"], description=msg, total=None)

        yield Context(on_progress=update, on_note=log, on_status=status)


def run_stage_cli(spec: Any, *, force: bool, dry_run: bool, ctx: Any = None) -> list[Artifact] | None:
    """Run `snap <stage>` for a validated spec; with --dry-run print the plan instead and return None."""
    from snapcli.stages import get
    from snapcli.stages.base import run

    stage = get(spec.stage)
    ws = workspace()
    if dry_run:
        print_plan(ws, stage, spec, force)
        return None
    if ctx is not None:
        arts = run(ws, stage, spec, force=force, ctx=ctx)
    else:
        with stage_context() as c:
            arts = run(ws, stage, spec, force=force, ctx=c)
    for a in arts:
        if a.cached:
            log(f"reused {a.ref} (same parameters and inputs; --force to run again)")
    return arts


def print_plan(ws: Workspace, stage: Any, spec: Any, force: bool) -> None:
    """What `snap <stage>` would do: cached or new, and what the cache key covers (the stage's plan)."""
    from snapcli.stages.base import cache_lookup

    hit, plans = cache_lookup(ws, stage, spec)
    runs = []
    for i, p in enumerate(plans):
        cached = None if (force or hit is None) else hit[i]
        runs.append({"status": "cached" if cached else "new", "artifact": cached.ref if cached else None,
                     "key": ws.cache_key(stage.name, p.params, p.inputs)[:16],
                     "inputs": {k: a.ref for k, a in p.inputs.items()}, "params": p.params})
    data = {"stage": stage.name, "dry_run": True, "force": force, "runs": runs, "spec": spec.public()}

    def render() -> None:
        rows = [[r["status"] + (f" ({r['artifact']})" if r["artifact"] else ""), r["key"],
                 ", ".join(f"{k}={v}" for k, v in r["inputs"].items()) or "-"] for r in runs]
        out_console.print(table(f"snap {stage.name} --dry-run", ["status", "key", "inputs"], rows))
        if force:
            out_console.print("--force: would run again even if cached")

    emit(data, render)
