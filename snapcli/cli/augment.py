"""`snap augment`: hard retaining data about related subjects, and the general set (flags from AugmentSpec)."""

from __future__ import annotations

import typer

from snapcli.cli.common import emit, run_stage_cli, stored_warnings, table
from snapcli.cli.flags import spec_command
from snapcli.console import out_console
from snapcli.stages.augment import AugmentSpec


def handle(spec: AugmentSpec, *, config: str | None = None, force: bool = False, dry_run: bool = False) -> None:
    arts = run_stage_cli(spec, force=force, dry_run=dry_run)
    if arts is None:
        return
    art = arts[0]
    extra = art.manifest.get("extra", {})
    r = art.read_df("retain")
    counts = r.groupby(["entity", "category", "split"]).size()
    data = {"ref": art.ref, "cached": art.cached, "rows": art.rows,
            "removed_mentions_target": extra.get("removed_mentions_target"), "retain": extra.get("retain", {}),
            "general": extra.get("general", {}), "usage": extra.get("usage", {}),
            "per_category": {f"{e}/{c}/{s}": int(n) for (e, c, s), n in counts.items()},
            "warnings": stored_warnings(art), "data_report": extra.get("data_report")}

    def render() -> None:
        out_console.print(table(f"{art.ref}: {len(r)} retain questions", ["entity", "category", "split", "rows"],
                                [[e, c, s, n] for (e, c, s), n in counts.items()]))
        out_console.print(f"removed {extra.get('removed_mentions_target', 0)} retain question(s) naming the target; "
                          f"dropped: {extra.get('retain', {}).get('dropped', {})}")
        g = extra.get("general", {})
        out_console.print(f"general: {g.get('sampled')} of {g.get('available')} from {g.get('source')}")
        out_console.print(f"inspect: snap show {art.ref}")

    emit(data, render)


def register(app: typer.Typer) -> None:
    app.command("augment")(spec_command(AugmentSpec, handle))
