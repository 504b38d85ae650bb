"""Stage "report": the eval (and benchmark) artifacts of a workspace -> report.md, report.html, figures/*.png.

The report is itself a versioned artifact (cached on the content of everything it summarizes), so the page a
paper figure came from can always be found again; `snap report --out DIR` also copies it somewhere convenient.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from snapcli.errors import SnapError
from snapcli.evaluate.metrics import SUMMARY_METRICS
from snapcli.stages.base import Context, Plan, StageDef
from snapcli.stages.spec import StageSpec, option
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


class ReportSpec(StageSpec):
    """Table 1-style comparison, per-category results, leakage, over-refusal, Figures 3 and 5, benchmarks."""

    stage: ClassVar[str] = "report"

    evals: list[str] | None = option(None, "Eval artifacts to compare (comma-separated or repeated). Default: the "
                                     "latest eval of each method.", csv=True, input=True)
    benchmarks: list[str] | None = option(None, "Benchmark artifacts for the capability section. Default: the "
                                          "latest one, if any.", csv=True, input=True)
    audits: list[str] | None = option(None, "Audit artifacts for the audit section. Default: the latest one, if "
                                      "any.", csv=True, input=True)
    title: str = option("snap report", "Page title.")
    out: Path | None = option(None, "Also copy report.html, report.md and figures/ here.", key=False)


def plan(ws: Workspace, spec: ReportSpec) -> Plan:
    eval_arts = pick_evals(ws, spec.evals)
    if not eval_arts:
        raise SnapError(f"no eval artifacts in {ws.root}: run `snap eval --model ...` first")
    bench = ([ws.resolve(r).require_stage("benchmark") for r in spec.benchmarks] if spec.benchmarks
             else ws.artifacts("benchmark")[-1:])
    audits = ([ws.resolve(r).require_stage("audit") for r in spec.audits] if spec.audits
              else ws.artifacts("audit")[-1:])
    inputs: dict[str, Artifact] = {f"eval{i}": a for i, a in enumerate(eval_arts)}
    inputs.update({f"benchmark{i}": a for i, a in enumerate(bench)})
    inputs.update({f"audit{i}": a for i, a in enumerate(audits)})
    params = {"title": spec.title, "evals": [a.ref for a in eval_arts], "benchmarks": [a.ref for a in bench],
              "trains": [a.ref for a in ws.artifacts("train")]}
    params["audits"] = [a.ref for a in audits]
    return Plan(params, inputs, None, {"ws": ws, "evals": eval_arts, "bench": bench, "audits": audits})


def report_data(ws: Workspace, plan: Plan) -> dict[str, Any]:
    """The numbers the report shows (also what `snap report --json` prints)."""
    from snapcli.evaluate.render import collect

    return collect(ws, plan.state["evals"], plan.state["bench"], plan.state.get("audits", []))


def build(w: StageWriter, spec: ReportSpec, plan: Plan, ctx: Context) -> None:
    from snapcli.evaluate.render import render

    data = report_data(plan.state["ws"], plan)
    md, page, figs = render(data, spec.title)
    (w.dir / "report.md").write_text(md, encoding="utf-8")
    (w.dir / "report.html").write_text(page, encoding="utf-8")
    if figs:
        (w.dir / "figures").mkdir()
        for name, png in figs.items():
            (w.dir / "figures" / name).write_bytes(png)
    w.write_table("summary", summary_frame(data))
    w.extra["figures"] = sorted(figs)


def copy_out(art: Artifact, spec: ReportSpec) -> None:
    """--out DIR: also copy report.html, report.md and figures/ somewhere convenient."""
    out = spec.out
    if out is None:
        return
    if out.exists() and not out.is_dir():
        raise SnapError(f"--out {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(art.path / "report.html", out / "report.html")
    shutil.copy2(art.path / "report.md", out / "report.md")
    if (art.path / "figures").is_dir():
        shutil.copytree(art.path / "figures", out / "figures", dirs_exist_ok=True)


DEF = StageDef(STAGE, ReportSpec, plan, build, finish=copy_out)


def summary_frame(data: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for m in data["methods"]:
        for k in SUMMARY_METRICS:
            v = m["summary"].get(k) or {}
            rows.append({"method": m["label"], "eval": m["ref"], "metric": k, "mean": v.get("mean", math.nan),
                         "std": v.get("std", math.nan), "runs": int(v.get("runs", 0) or 0)})
    return pd.DataFrame(rows, columns=["method", "eval", "metric", "mean", "std", "runs"])
