"""`snap run`: the whole pipeline from one command (or one snap.yaml), reusing every cached stage.

Its target flags (--entity, --k, --model, ...) are generated from snapcli.config.PipelineSpec, the top-level keys
of snap.yaml; every stage option is reachable with `--set SECTION.KEY=VALUE` or the config file.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape

from snapcli.cli.common import emit, table
from snapcli.cli.flags import spec_command
from snapcli.config import PipelineSpec
from snapcli.console import log, out_console, progress, state
from snapcli.store import Workspace

STAGE_NAMES = "generate, filter, augment, train, eval, benchmark, audit, report"


def _opt(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


EXTRA = [
    _opt("config", Optional[Path], typer.Option(None, "--config", "-c", help="snap.yaml with every stage's "  # noqa: UP045
                                               "parameters (see examples/*.yaml).", rich_help_panel="Run")),
    _opt("set_", list[str], typer.Option([], "--set", help="Override one key: SECTION.KEY=VALUE or KEY=VALUE "
                                         "(repeat).", rich_help_panel="Run")),
    _opt("dry_run", bool, typer.Option(False, "--dry-run", help="Print the plan (cached/new per stage); run "
                                       "nothing.", rich_help_panel="Run")),
    _opt("until", Optional[str], typer.Option(None, "--until", help=f"Stop after this stage ({STAGE_NAMES}).",  # noqa: UP045
                                              rich_help_panel="Run")),
    _opt("from_stage", Optional[str], typer.Option(None, "--from-stage", help="Start at this stage; earlier "  # noqa: UP045
                                                   "stages are taken from the last run.", rich_help_panel="Run")),
    _opt("print_config", bool, typer.Option(False, "--print-config", help="Print the effective config as YAML and "
                                            "exit.", rich_help_panel="Run")),
    _opt("force", bool, typer.Option(False, "--force", help="Rerun every selected stage even if cached.",
                                     rich_help_panel="Run")),
]


def handle(flags: PipelineSpec, *, ctx: typer.Context, config: Path | None, set_: list[str], dry_run: bool,
           until: str | None, from_stage: str | None, print_config: bool, force: bool) -> None:
    """generate -> filter -> augment -> train -> eval -> benchmark -> report, rerunning only what changed."""
    from snapcli.config import effective_config, load_config, parse_overrides, render_yaml, validate_config
    from snapcli.pipeline import Callbacks, Pipeline
    from snapcli.stages.base import Context

    file_cfg = load_config(config) if config else {}
    explicit = {k: v for k, v in flags.public().items() if PipelineSpec.field_name(k) in flags.model_fields_set}
    overrides = validate_config(explicit, source="command line")
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

        def on_node_start(n) -> None:
            for t in phases.values():
                bar.remove_task(t)
            phases.clear()
            bar.update(stage_task, description=f"{n.stage}: {n.label}")

        def on_progress(phase: str, done: int, total: int) -> None:
            if phase not in phases:
                phases[phase] = bar.add_task(f"  {phase}", total=total)
            bar.update(phases[phase], completed=done, total=total)

        def on_train_step(info) -> None:
            r = info.row
            on_progress("train steps", info.step, info.total)
            bar.update(stage_task, description=f"train: L_f {r['loss_f']:.3f} L_r {r['loss_r']:.3f} "
                                               f"{r['step_seconds']:.1f}s/step")

        def on_node_done(res) -> None:
            log(f"{res.stage:<9} {res.label}: {'reused' if res.status == 'cached' else 'ran'} "
                f"{', '.join(res.refs)} ({res.seconds}s)")

        ctx = Context(on_progress=on_progress, on_note=lambda m: log(m, verbose=True), on_train_step=on_train_step)
        pipe = Pipeline(ws, cfg, force=force, until=until, from_stage=from_stage,
                        callbacks=Callbacks(on_node_start=on_node_start, on_node_done=on_node_done, context=ctx))
        if dry_run:
            bar.update(stage_task, visible=False)
            plan = pipe.plan()
            outcome = None
        else:
            outcome = pipe.run()
            plan = outcome.nodes
            for t in [stage_task, *phases.values()]:
                bar.update(t, visible=False)  # the per-node lines above already say what ran
    data: dict[str, Any] = {
        "name": cfg.get("name"), "workspace": str(ws.root), "dry_run": dry_run,
        "stages": [u.to_dict() for u in plan],
    }
    if outcome is not None:
        data.update(summary=outcome.summary, report=outcome.report, log=outcome.log,
                    audit=[{"ref": a.ref, "certificate": str(a.path / "certificate.json")}
                           for a in outcome.artifacts.get("audit", [])])

    def render() -> None:
        title = ("plan" if dry_run else "snap run") + (f": {cfg['name']}" if cfg.get("name") else "")
        out_console.print(table(title, ["stage", "unit", "status", "why", "artifacts", "s"], [
            [u.stage, escape(u.label), _status(u.status), escape(u.reason), ", ".join(u.refs), u.seconds]
            for u in plan]))
        if outcome is None:
            return
        if outcome.summary:
            out_console.print(table("before / after unlearning (%)",
                                    ["target", "", "model", "UA", "UA-multihop", "RA", "TA", "Avg", "capability"],
                                    [[escape(r["target"]), r["role"], r["model"], *(_f(r[m]) for m in
                                      ["UA", "UA-multihop", "RA", "TA", "Avg", "capability"])]
                                     for r in outcome.summary]))
        for art in outcome.artifacts.get("audit", []):
            from snapcli.cli.audit import print_audit

            cert = json.loads((art.path / "certificate.json").read_text(encoding="utf-8"))
            print_audit(art, cert, art.read_df("metrics"))
        if outcome.report:
            out_console.print(f"report: {outcome.report['html']}")
        out_console.print(f"run log: {data['log']}")

    emit(data, render)


def _status(s: str) -> str:
    return {"cached": "[green]cached[/green]", "new": "[yellow]new[/yellow]", "from-run": "[cyan]from last run[/cyan]",
            "skipped": "[dim]skipped[/dim]"}.get(s, s)


def _f(v: Any) -> str:
    return "" if v is None else f"{float(v):.1f}"


def _workspace(ctx: typer.Context, cfg: dict[str, Any]) -> Workspace:
    """The global --workspace (or SNAP_WORKSPACE) wins; else the config's `workspace`; else the default."""
    from snapcli.cli.flags import given

    root = ctx.find_root()
    if cfg.get("workspace") and not (root is not ctx and given(root, "workspace")):
        return Workspace(Path(cfg["workspace"]))
    return Workspace(state().workspace)


def register(app: typer.Typer) -> None:
    cmd = spec_command(PipelineSpec, handle, extra=EXTRA, common=False)
    cmd.__doc__ = handle.__doc__
    app.command("run")(cmd)
