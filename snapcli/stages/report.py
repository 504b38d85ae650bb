"""Stage "report": the eval (and benchmark) artifacts of a workspace -> report.md, report.html, figures/*.png.

The report is itself a versioned artifact (cached on the content of everything it summarizes), so the page a
paper figure came from can always be found again; `snap report --out DIR` also copies it somewhere convenient.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from snapcli.errors import SnapError
from snapcli.evaluate.metrics import MAIN_METRICS
from snapcli.store import Artifact, StageWriter, Workspace
from snapcli.store.schema import register_table_schema

STAGE = "report"
register_table_schema(STAGE, "summary", ["method", "eval", "metric", "mean", "std", "runs"])


def pick_evals(ws: Workspace, refs: list[str] | None) -> list[Artifact]:
    """Explicit refs, or the latest eval artifact per (models, prompting): older re-runs are superseded."""
    if refs:
        return [ws.resolve(r).require_stage("eval") for r in refs]
    latest: dict[str, Artifact] = {}
    for art in ws.artifacts("eval"):
        p = art.manifest.get("params", {})
        latest[repr((p.get("models"), bool(p.get("prompting"))))] = art
    return sorted(latest.values(), key=lambda a: int(a.version[1:]) if a.version else 0)


def run_report(
    ws: Workspace,
    *,
    evals: list[str] | None = None,
    benchmarks: list[str] | None = None,
    title: str = "snap report",
    force: bool = False,
) -> tuple[Artifact, dict[str, Any]]:
    """Build (or reuse) the report artifact; returns it with the numbers it shows."""
    from snapcli.evaluate.report import collect, render

    eval_arts = pick_evals(ws, evals)
    if not eval_arts:
        raise SnapError(f"no eval artifacts in {ws.root}: run `snap eval --model ...` first")
    bench = ([ws.resolve(r).require_stage("benchmark") for r in benchmarks] if benchmarks
             else ws.artifacts("benchmark")[-1:])
    inputs: dict[str, Artifact] = {f"eval{i}": a for i, a in enumerate(eval_arts)}
    inputs.update({f"benchmark{i}": a for i, a in enumerate(bench)})
    params = {"title": title, "evals": [a.ref for a in eval_arts], "benchmarks": [a.ref for a in bench],
              "trains": [a.ref for a in ws.artifacts("train")]}
    data = collect(ws, eval_arts, bench)

    def fn(w: StageWriter) -> None:
        md, page, figs = render(data, title)
        (w.dir / "report.md").write_text(md, encoding="utf-8")
        (w.dir / "report.html").write_text(page, encoding="utf-8")
        if figs:
            (w.dir / "figures").mkdir()
            for name, png in figs.items():
                (w.dir / "figures" / name).write_bytes(png)
        w.write_table("summary", summary_frame(data))
        w.extra["figures"] = sorted(figs)

    art = ws.run_stage(STAGE, params=params, inputs=inputs, fn=fn, force=force)
    return art, data


def summary_frame(data: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for m in data["methods"]:
        for k in [*MAIN_METRICS, "leakage"]:
            v = m["summary"].get(k) or {}
            rows.append({"method": m["label"], "eval": m["ref"], "metric": k, "mean": v.get("mean", math.nan),
                         "std": v.get("std", math.nan), "runs": int(v.get("runs", 0) or 0)})
    return pd.DataFrame(rows, columns=["method", "eval", "metric", "mean", "std", "runs"])
