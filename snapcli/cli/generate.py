"""`snap generate`: negative instructions about one or more targets (flags from GenerateSpec)."""

from __future__ import annotations

import typer

from snapcli.cli.common import emit, run_stage_cli, stored_warnings, table
from snapcli.cli.flags import spec_command
from snapcli.console import out_console
from snapcli.stages.generate import GenerateSpec


def handle(spec: GenerateSpec, *, config: str | None = None, force: bool = False, dry_run: bool = False) -> None:
    arts = run_stage_cli(spec, force=force, dry_run=dry_run)
    if arts is None:
        return
    art = arts[0]
    q = art.read_df("questions")
    rel = art.read_df("related")
    extra = art.manifest.get("extra", {})
    q["category"] = q["category"].fillna("(filter decides)") if "category" in q.columns else "(filter decides)"
    if "source" not in q.columns:
        q["source"] = "llm"
    counts = q.groupby(["entity", "source", "category"]).size()
    data = {
        "ref": art.ref, "cached": art.cached, "rows": art.rows,
        "per_source_category": {f"{e}/{s}/{c}": int(n) for (e, s, c), n in counts.items()},
        "targets": art.read_df("targets").to_dict("records") if art.has_table("targets") else [],
        "warnings": stored_warnings(art),
        "parse_dropped": extra.get("parse_dropped", {}), "related": rel.to_dict("records"),
        "usage": extra.get("usage", {}),
    }

    def render() -> None:
        out_console.print(table(f"{art.ref}: {len(q)} questions", ["entity", "source", "category", "questions"],
                                [[e, s, c, n] for (e, s, c), n in counts.items()]))
        for t in data["targets"]:
            out_console.print(f"{t['entity']}: {t['kind']} ({t['kind_why']})" + (f", {t['field']}" if t.get("field")
                                                                                else ""))
        drops = extra.get("parse_dropped", {})
        if drops:
            out_console.print("dropped while parsing: " + ", ".join(f"{k2}={v}" for k2, v in sorted(drops.items())))
        if len(rel):
            out_console.print("related: " + "; ".join(f"{r.name} ({r.kind})" for r in rel.itertuples()))
        for m, u in extra.get("usage", {}).items():
            out_console.print(f"usage {m}: {u['requests']} requests ({u['cached']} cached), "
                              f"{u['prompt_tokens']} prompt + {u['completion_tokens']} completion tokens")
        out_console.print(f"inspect: snap show {art.ref}")

    emit(data, render)


def register(app: typer.Typer) -> None:
    app.command("generate")(spec_command(GenerateSpec, handle))
