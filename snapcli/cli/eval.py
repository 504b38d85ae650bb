"""`snap eval`: generate, judge and score a model on the forget / retain / general eval splits (EvalSpec)."""

from __future__ import annotations

import typer

from snapcli.cli.common import emit, run_stage_cli, table
from snapcli.cli.flags import spec_command
from snapcli.console import out_console
from snapcli.evaluate.metrics import SUMMARY_METRICS, fmt
from snapcli.stages.eval import EvalSpec


def handle(spec: EvalSpec, *, config: str | None = None, force: bool = False, dry_run: bool = False) -> None:
    arts = run_stage_cli(spec, force=force, dry_run=dry_run)
    if arts is None:
        return
    art = arts[0]
    summary = art.manifest.get("extra", {}).get("summary", {})
    label = art.manifest.get("extra", {}).get("label", "")
    data = {"ref": art.ref, "cached": art.cached, "label": label, "metrics": summary,
            "rows": art.rows, "models": art.manifest.get("extra", {}).get("models", [])}

    def render() -> None:
        out_console.print(f"{'reused' if art.cached else 'wrote'} [bold]{art.ref}[/bold] ({label})")
        out_console.print(table(None, ["metric", "value", "n runs"],
                                [[k, fmt(_num(summary.get(k))), (summary.get(k) or {}).get("runs", 0)]
                                 for k in SUMMARY_METRICS]))

    emit(data, render)


def _num(v):
    if not v:
        return None
    return {k: (float("nan") if x is None else x) for k, x in v.items()}


def register(app: typer.Typer) -> None:
    app.command("eval")(spec_command(EvalSpec, handle))
