"""`snap benchmark`: capability retention (lm-evaluation-harness, zero-shot) and the Table-2 comparison."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from snapcli.cli.common import emit, parse_csv, workspace
from snapcli.console import out_console, progress


def _pct(v: Any, digits: int = 2) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v) * 100:.{digits}f}"


def benchmark_cmd(
    model: list[str] = typer.Option(..., "--model", "-m", help="Model: alias (smollm2, tiny, llama2, mistral), "
                                    "train artifact ref (train@latest), local dir or hub id. Repeat to compare; "
                                    "the first is the base of the relative change."),
    tasks: Optional[list[str]] = typer.Option(None, "--tasks", "-t", help="Comma-separated lm-eval task names, "
                                              "'paper' (the paper's nine) or 'embedded' (snap's offline suite). "
                                              "Default: the paper's nine if the hub is reachable, else the "
                                              "embedded suite; with --tasks-dir, the tasks defined there."),
    tasks_dir: Optional[list[Path]] = typer.Option(None, "--tasks-dir", help="Folder of lm-eval task YAMLs over "
                                                   "local jsonl/parquet/csv files (repeatable)."),
    limit: Optional[float] = typer.Option(None, "--limit", help="Items per task (N), or a fraction if < 1."),
    batch_size: int = typer.Option(8, "--batch-size", help="Requests per forward pass."),
    metric: str = typer.Option("acc", "--metric", help="Headline metric of the comparison (acc or acc_norm; a "
                                "task without it shows acc, else its first metric)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: cuda if present)."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="auto, float32, bfloat16, float16."),
    seed: int = typer.Option(1234, "--seed", help="Seed for Python/NumPy/torch (log-likelihood scoring is "
                             "deterministic; sampled generation in custom tasks uses it)."),
    force: bool = typer.Option(False, "--force", help="Re-run every model even if cached results exist."),
) -> None:
    """Zero-shot lm-eval scores per task, the average, and the relative change against the first model."""
    from snapcli.evaluate.capability import comparison_table, format_rel_change, headline_scores, plan_tasks
    from snapcli.stages.benchmark import BenchmarkSpec, Callbacks, resolve_models, run_benchmark

    ws = workspace()
    spec = BenchmarkSpec(models=list(model), tasks=parse_csv(tasks) or None, tasks_dirs=list(tasks_dir or []),
                         limit=limit, batch_size=batch_size, device=device, dtype=dtype, seed=seed)
    refs = resolve_models(ws, spec.models)
    plan = plan_tasks(spec.tasks, spec.tasks_dirs)
    with progress() as bar:
        models_task = bar.add_task("benchmark", total=len(spec.models))
        req_task = bar.add_task("requests", total=None, visible=False)
        current: dict[str, str] = {}

        def on_model(label: str, i: int, n: int, reused: bool) -> None:
            current["model"] = label
            bar.update(models_task, completed=i, description=f"{label}" + (" (cached)" if reused else ""))

        def on_task(name: str) -> None:
            bar.update(models_task, description=f"{current.get('model', '')} · {name}")

        def on_requests(done: int, total: int) -> None:
            bar.update(req_task, completed=done, total=total, visible=True)

        art, plan = run_benchmark(ws, spec, plan=plan, models=refs, force=force,
                                  callbacks=Callbacks(on_model=on_model, on_task=on_task, on_requests=on_requests))
        bar.update(models_task, completed=len(spec.models), description="benchmark")
        bar.update(req_task, visible=False)

    scores = art.read_df("scores")
    extra = art.manifest.get("extra", {})
    label = extra.get("label") or plan.label
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
    app.command("benchmark")(benchmark_cmd)
