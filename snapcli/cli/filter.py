"""`snap filter`: dedup, relevance, categories, train/eval split of generated questions (flags from FilterSpec)."""

from __future__ import annotations

import typer

from snapcli.cli.common import emit, run_stage_cli, stored_warnings, table
from snapcli.cli.flags import spec_command
from snapcli.console import out_console
from snapcli.stages.filter import FilterSpec


def handle(spec: FilterSpec, *, config: str | None = None, force: bool = False, dry_run: bool = False) -> None:
    arts = run_stage_cli(spec, force=force, dry_run=dry_run)
    if arts is None:
        return
    art = arts[0]
    stats = art.manifest.get("extra", {}).get("stats", {})
    f = art.read_df("forget")
    counts = f.groupby(["entity", "category", "split"]).size()
    data = {"ref": art.ref, "cached": art.cached, "rows": art.rows, "stats": stats,
            "per_category": {f"{e}/{c}/{s}": int(n) for (e, c, s), n in counts.items()},
            "warnings": stored_warnings(art), "data_report": art.manifest.get("extra", {}).get("data_report")}

    def render() -> None:
        n_var = int((f["variant"] != "plain").sum()) if "variant" in f.columns else 0
        kept = f"{len(f) - n_var} kept of {stats.get('input', '?')}"
        kept += f", + {n_var} surface variants" if n_var else ""
        out_console.print(table(f"{art.ref}: {kept}",
                                ["entity", "category", "split", "questions"],
                                [[e, c, s, n] for (e, c, s), n in counts.items()]))
        out_console.print("dropped: " + (", ".join(f"{k}={v}" for k, v in stats.get("dropped", {}).items()) or
                                         "none") + f"  (details: snap show {art.ref})")

    emit(data, render)


def register(app: typer.Typer) -> None:
    app.command("filter")(spec_command(FilterSpec, handle))
