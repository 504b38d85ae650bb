"""Workspace commands: import, ls, show, diff, gc."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from snapcli.cli.common import emit, parse_csv, table, workspace
from snapcli.console import log, out_console
from snapcli.errors import SnapError
from snapcli.store.schema import known_stages, stage_tables


def _age(iso: str | None) -> str:
    from datetime import datetime

    if not iso:
        return "?"
    secs = time.time() - datetime.fromisoformat(iso).timestamp()
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= n:
            return f"{int(secs // n)}{unit}"
    return f"{int(secs)}s"


def _params_summary(params: dict, width: int = 60) -> str:
    text = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in params.items())
    return text if len(text) <= width else text[: width - 1] + "…"


def import_cmd(
    path: Path = typer.Argument(..., help="Parquet file (or dir of Parquet files) to register."),
    as_: str = typer.Option(..., "--as", help="Stage to register it as (e.g. filter, augment)."),
    table_: Optional[str] = typer.Option(
        None, "--table", help="Table name within the stage (default: the stage's main table)."
    ),
) -> None:
    """Register a hand-made Parquet as a new version of a stage (schema checked)."""
    from snapcli.stages import STAGE_NAMES, load_stage

    load_stage(as_)  # registers that stage's schemas (only its module: importing all would load torch)
    if not path.exists():
        raise SnapError(f"no such file: {path}")
    tables = stage_tables(as_)
    if not tables:
        raise SnapError(f"unknown stage '{as_}' (stages: {', '.join(sorted({*STAGE_NAMES, *known_stages()}))})")
    name = table_ or tables[0]
    if name not in tables:
        raise SnapError(f"stage '{as_}' has no table '{name}' (tables: {', '.join(tables)})")
    art = workspace().import_table(path, as_, name)
    emit(
        {"ref": art.ref, "content_hash": art.content_hash, "rows": art.rows, "cached": art.cached},
        lambda: out_console.print(
            f"{'reused' if art.cached else 'registered'} [bold]{art.ref}[/bold] ({art.content_hash[:10]}) {art.rows}"
        ),
    )


def ls_cmd(stage: Optional[str] = typer.Argument(None, help="Only this stage.")) -> None:
    """List artifact versions: rows, age, params."""
    ws = workspace()
    if stage and stage not in ws.stages():
        from snapcli.stages import STAGE_NAMES

        if stage not in STAGE_NAMES:  # a known stage with no versions yet is fine: "no artifacts"
            raise SnapError(f"unknown stage '{stage}' (stages: {', '.join(STAGE_NAMES)})")
    arts = ws.artifacts(stage)
    latest = {s: ws.latest(s) for s in ws.stages()}
    rows = [
        {
            "ref": a.ref,
            "stage": a.stage,
            "version": a.version,
            "hash": a.content_hash[:12],
            "rows": a.rows,
            "created": a.manifest.get("finished_at") or a.manifest.get("started_at"),
            "latest": latest.get(a.stage) == a.version,
            "params": a.manifest.get("params", {}),
        }
        for a in arts
    ]

    def render() -> None:
        if not rows:
            out_console.print(f"no artifacts in {ws.root}")
            return
        out_console.print(
            table(
                f"workspace {ws.root}",
                ["ref", "hash", "rows", "age", "params"],
                [
                    [
                        r["ref"] + (" (latest)" if r["latest"] else ""),
                        r["hash"][:8],
                        " ".join(f"{k}={v}" for k, v in r["rows"].items()),
                        _age(r["created"]),
                        _params_summary(r["params"]),
                    ]
                    for r in rows
                ],
            )
        )

    emit(rows, render)


def show_cmd(
    ref: str = typer.Argument(..., help="Artifact ref (stage@latest, stage@vN, stage@hash) or Parquet path."),
    table_: Optional[str] = typer.Option(
        None, "--table", "-t", help="Which table (default: the stage's main table, else the first)."
    ),
    limit: int = typer.Option(20, "--limit", "-n", min=0, help="Rows to show."),
    columns: Optional[str] = typer.Option(None, "--columns", "-c", help="Comma-separated columns."),
    manifest: bool = typer.Option(False, "--manifest", help="Show the manifest instead of rows."),
) -> None:
    """Show an artifact's rows (or its manifest)."""
    art = workspace().resolve(ref)
    if manifest:
        if art.is_plain:
            raise SnapError(f"{ref} is a plain Parquet path with no manifest")
        emit(art.manifest)
        return
    names = art.tables()
    if not names:
        raise SnapError(f"{art.ref} has no tables")
    from snapcli.stages import load_stage

    load_stage(art.stage or "")  # registers the stage's tables; its main table is listed first

    main = [t for t in stage_tables(art.stage or "") if t in names]
    name = table_ or (main or names)[0]
    cols = parse_csv(columns) or None
    tbl = art.read_table(name)
    if cols:
        missing = [c for c in cols if c not in tbl.column_names]
        if missing:
            raise SnapError(
                f"{art.ref}:{name} has no column(s) {', '.join(missing)} (has: {', '.join(tbl.column_names)})"
            )
        tbl = tbl.select(cols)
    total = tbl.num_rows
    records = tbl.slice(0, limit).to_pylist()
    emit(
        {"ref": art.ref, "table": name, "total_rows": total, "rows": records},
        lambda: out_console.print(
            table(
                f"{art.ref} · {name} · {min(limit, total)} of {total} rows (tables: {', '.join(names)})",
                tbl.column_names,
                [[r[c] for c in tbl.column_names] for r in records],
            )
        ),
    )


def diff_cmd(a: str = typer.Argument(..., help="First ref."), b: str = typer.Argument(..., help="Second ref.")) -> None:
    """Differences in params, inputs and row counts between two artifacts."""
    ws = workspace()
    x, y = ws.resolve(a), ws.resolve(b)
    px, py = x.manifest.get("params", {}), y.manifest.get("params", {})
    params = {k: {"a": px.get(k), "b": py.get(k)} for k in sorted(set(px) | set(py)) if px.get(k) != py.get(k)}
    rx, ry = x.rows, y.rows
    rows = {k: {"a": rx.get(k), "b": ry.get(k)} for k in sorted(set(rx) | set(ry)) if rx.get(k) != ry.get(k)}
    ix = {k: v.get("content_hash") for k, v in x.manifest.get("inputs", {}).items()}
    iy = {k: v.get("content_hash") for k, v in y.manifest.get("inputs", {}).items()}
    inputs = {k: {"a": ix.get(k), "b": iy.get(k)} for k in sorted(set(ix) | set(iy)) if ix.get(k) != iy.get(k)}
    result = {
        "a": x.ref,
        "b": y.ref,
        "same_content": x.content_hash == y.content_hash,
        "params": params,
        "rows": rows,
        "inputs": inputs,
    }

    def render() -> None:
        out_console.print(
            f"[bold]{x.ref}[/bold] vs [bold]{y.ref}[/bold]"
            + ("  (identical content)" if result["same_content"] else "")
        )
        lines = [["param", k, v["a"], v["b"]] for k, v in params.items()]
        lines += [["rows", k, v["a"], v["b"]] for k, v in rows.items()]
        lines += [["input", k, (v["a"] or "")[:12], (v["b"] or "")[:12]] for k, v in inputs.items()]
        if lines:
            out_console.print(table(None, ["what", "name", x.ref, y.ref], lines))
        else:
            out_console.print("no differences in params, inputs or rows")

    emit(result, render)


def gc_cmd(
    yes: bool = typer.Option(False, "--yes", "-y", help="Really delete (default is a dry run)."),
) -> None:
    """Remove versions that are neither latest nor an input of a kept artifact (dry run by default)."""
    ws = workspace()
    remove, stale = ws.gc(apply=yes)
    data = {"applied": yes, "remove": [a.ref for a in remove], "stale_staging": [str(p) for p in stale]}

    def render() -> None:
        verb = "removed" if yes else "would remove"
        for a in remove:
            out_console.print(f"{verb} {a.ref}")
        for p in stale:
            out_console.print(f"{verb} stale staging dir {p}")
        if not remove and not stale:
            out_console.print("nothing to collect")
        elif not yes:
            log("dry run: pass --yes to delete")

    emit(data, render)


def register(app: typer.Typer) -> None:
    app.command("import")(import_cmd)
    app.command("ls")(ls_cmd)
    app.command("show")(show_cmd)
    app.command("diff")(diff_cmd)
    app.command("gc")(gc_cmd)
