"""`snap benchmark`: capability retention (lm-evaluation-harness, zero-shot) and the Table-2 comparison."""

from __future__ import annotations

import math
from typing import Any

import typer
from rich.table import Table

from snapcli.cli.common import emit, run_stage_cli
from snapcli.cli.flags import spec_command
from snapcli.console import out_console
from snapcli.stages.benchmark import BenchmarkSpec


def _pct(v: Any, digits: int = 2) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v) * 100:.{digits}f}"


def handle(spec: BenchmarkSpec, *, config: str | None = None, force: bool = False, dry_run: bool = False) -> None:
    from snapcli.evaluate.capability import comparison_table, format_rel_change, headline_scores

    arts = run_stage_cli(spec, force=force, dry_run=dry_run)
    if arts is None:
        return
    art = arts[0]
    metric = spec.metric
    scores = art.read_df("scores")
    extra = art.manifest.get("extra", {})
    label = extra.get("label") or ""
    comp = comparison_table(scores, metric=metric)
    task_cols = [c for c in comp.columns if c not in ("model", "average", "rel_change", "n_tasks")]
    head = headline_scores(scores, metric)
    stderr = {(r.model, r.task): r.stderr for r in head.itertuples()}
    used = {r.task: r.metric for r in head.itertuples()}  # a task without `metric` shows acc or its first metric

    data = {
        "ref": art.ref, "cached": art.cached, "suite": label, "metric": metric, "tasks": task_cols,
        "task_metrics": {t: used.get(t) for t in task_cols},
        "models": [{
            "model": r["model"],
            "scores": {t: (None if math.isnan(r[t]) else float(r[t])) for t in task_cols},
            "stderr": {t: stderr.get((r["model"], t)) for t in task_cols},
            "average": None if math.isnan(r["average"]) else float(r["average"]),
            "rel_change": None if math.isnan(r["rel_change"]) else float(r["rel_change"]),
        } for _, r in comp.iterrows()],
        "scores_path": str(art.path / "scores.parquet"), "samples_path": str(art.path / "samples.parquet"),
    }

    def render() -> None:
        t = Table(title=f"snap benchmark {art.ref} — {metric} (%) zero-shot", caption=label, show_lines=False)
        t.add_column("model", overflow="fold")
        for c in task_cols:
            t.add_column(c if used.get(c) == metric else f"{c} ({used.get(c)})", justify="right", overflow="fold")
        t.add_column("avg", justify="right", style="bold")
        t.add_column("vs base", justify="right")
        for _, r in comp.iterrows():
            rel = format_rel_change(r["rel_change"])
            color = "" if not rel else ("green" if r["rel_change"] >= 0 else "red")
            t.add_row(str(r["model"]), *[_pct(r[c]) for c in task_cols], _pct(r["average"]),
                      f"[{color}]{rel}[/{color}]" if color else rel)
        out_console.print(t)

    emit(data, render)


def register(app: typer.Typer) -> None:
    app.command("benchmark")(spec_command(BenchmarkSpec, handle))
