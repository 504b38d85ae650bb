"""`snap run`: the whole pipeline from one command (or one snap.yaml), reusing every cached stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from snapcli.cli.common import emit, table
from snapcli.console import log, out_console, progress, state
from snapcli.errors import SnapError
from snapcli.store import Workspace

STAGE_NAMES = "generate, filter, augment, train, eval, benchmark, report"


def run_cmd(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="snap.yaml with every stage's parameters "
                                          "(see examples/*.yaml)."),
    entity: list[str] = typer.Option([], "--entity", "-e", help="Target to forget (repeat for several; overrides "
                                     "the config's entity)."),
    k: Optional[int] = typer.Option(None, "--k", help="Top-k related people/organizations for hard retaining data "
                                    "(real persons; paper: 10)."),
    universe: Optional[str] = typer.Option(None, "--universe", help="Fictional universe of the target."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model to unlearn (alias, dir or hub id)."),
    example: Optional[str] = typer.Option(None, "--example", help="Start from a curated example set instead of "
                                          "generate/filter/augment (snap examples list)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of every stage."),
    set_: list[str] = typer.Option([], "--set", help="Override one key: SECTION.KEY=VALUE or KEY=VALUE (repeat)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (cached/new per stage); run nothing."),
    until: Optional[str] = typer.Option(None, "--until", help=f"Stop after this stage ({STAGE_NAMES})."),
    from_stage: Optional[str] = typer.Option(None, "--from-stage", help="Start at this stage; earlier stages are "
                                             "taken from the last run."),
    print_config: bool = typer.Option(False, "--print-config", help="Print the effective config as YAML and exit."),
    force: bool = typer.Option(False, "--force", help="Rerun every selected stage even if cached."),
) -> None:
    """generate -> filter -> augment -> train -> eval -> benchmark -> report, rerunning only what changed."""
    from snapcli.config import effective_config, load_config, parse_overrides, render_yaml, validate_config
    from snapcli.pipeline import Callbacks, Pipeline

    file_cfg = load_config(config) if config else {}
    flags: dict[str, Any] = {"entity": [e.strip() for e in entity] or None, "k": k, "universe": universe,
                             "model": model, "example": example, "seed": seed}
    if any(e == "" for e in flags["entity"] or []):
        raise SnapError("--entity must not be empty")
    overrides = validate_config({k2: v for k2, v in flags.items() if v is not None}, source="command line")
    for sec_key, value in parse_overrides(set_).items():
        if isinstance(value, dict):
            overrides.setdefault(sec_key, {}).update(value)
        else:
            overrides[sec_key] = value
    cfg = effective_config(file_cfg, overrides)
    if print_config:
        if state().json:
            emit(cfg)
        else:
            print(render_yaml(cfg), end="")
        return

    ws = _workspace(ctx, cfg)
    with progress() as bar:
        stage_task = bar.add_task("pipeline", total=None)
        phases: dict[str, int] = {}

        def on_unit_start(u) -> None:
            for t in phases.values():
                bar.remove_task(t)
            phases.clear()
            bar.update(stage_task, description=f"{u.stage}: {u.label}")

        def on_progress(phase: str, done: int, total: int) -> None:
            if phase not in phases:
                phases[phase] = bar.add_task(f"  {phase}", total=total)
            bar.update(phases[phase], completed=done, total=total)

        def on_train_step(info) -> None:
            r = info.row
            on_progress("train steps", info.step, info.total)
            bar.update(stage_task, description=f"train: L_f {r['loss_f']:.3f} L_r {r['loss_r']:.3f} "
                                               f"{r['step_seconds']:.1f}s/step")

        def on_unit_done(res) -> None:
            log(f"{res.stage:<9} {res.label}: {'reused' if res.status == 'cached' else 'ran'} "
                f"{', '.join(res.refs)} ({res.seconds}s)")

        pipe = Pipeline(ws, cfg, force=force, until=until, from_stage=from_stage,
                        callbacks=Callbacks(on_unit_start=on_unit_start, on_unit_done=on_unit_done,
                                            on_progress=on_progress, on_train_step=on_train_step))
        if dry_run:
            bar.update(stage_task, visible=False)
            plan = pipe.plan()
            outcome = None
        else:
            outcome = pipe.run()
            plan = outcome.units
            for t in [stage_task, *phases.values()]:
                bar.update(t, visible=False)  # the per-unit lines above already say what ran
    data: dict[str, Any] = {
        "name": cfg.get("name"), "workspace": str(ws.root), "dry_run": dry_run,
        "stages": [u.to_dict() for u in plan],
    }
    if outcome is not None:
        data.update(summary=outcome.summary, report=outcome.report,
                    record=outcome.record.ref if outcome.record else None)

    def render() -> None:
        title = ("plan" if dry_run else "snap run") + (f": {cfg['name']}" if cfg.get("name") else "")
        out_console.print(table(title, ["stage", "unit", "status", "why", "artifacts", "s"], [
            [u.stage, u.label, _status(u.status), u.reason, ", ".join(u.refs), u.seconds] for u in plan]))
        if outcome is None:
            return
        if outcome.summary:
            out_console.print(table("before / after unlearning (%)",
                                    ["target", "", "model", "UA", "UA-multihop", "RA", "TA", "Avg", "capability"],
                                    [[r["target"], r["role"], r["model"], *(_f(r[m]) for m in
                                      ["UA", "UA-multihop", "RA", "TA", "Avg", "capability"])]
                                     for r in outcome.summary]))
        if outcome.report:
            out_console.print(f"report: {outcome.report['html']}")
        out_console.print(f"run record: {data['record']} (snap show {data['record']})")

    emit(data, render)


def _status(s: str) -> str:
    return {"cached": "[green]cached[/green]", "new": "[yellow]new[/yellow]", "from-run": "[cyan]from last run[/cyan]",
            "skipped": "[dim]skipped[/dim]"}.get(s, s)


def _f(v: Any) -> str:
    return "" if v is None else f"{float(v):.1f}"


def _workspace(ctx: typer.Context, cfg: dict[str, Any]) -> Workspace:
    """The global --workspace (or SNAP_WORKSPACE) wins; else the config's `workspace`; else the default."""
    from typer._click.core import ParameterSource

    root = ctx.find_root()
    src = root.get_parameter_source("workspace") if root is not ctx else None
    explicit = src in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    if cfg.get("workspace") and not explicit:
        return Workspace(Path(cfg["workspace"]))
    return Workspace(state().workspace)


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)
