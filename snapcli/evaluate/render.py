"""Reports: the comparison table (Table 1), per-category breakdowns, leakage / over-refusal, benchmark scores,
and PNG plots (metric bars, Figure 3 category distribution, Figure 5 sequential unlearning), as Markdown and as
one self-contained HTML page (images embedded as base64, no external files needed to view it)."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from snapcli.evaluate.metrics import DEGENERATE_KEYS, MAIN_METRICS, fmt, summary_from_table
from snapcli.store import Artifact, Workspace
from snapcli.store.artifact import plain_artifact

METRIC_TITLES = {"UA": "UA", "UA-multihop": "UA (multi-hop)", "RA": "RA", "TA": "TA", "Avg": "Avg"}


# ----------------------------------------------------------------------------------------------- collecting

def eval_entry(art: Artifact) -> dict[str, Any]:
    """One row of the comparison: a method (an eval artifact) with its summary and per-category numbers."""
    mt = art.read_df("metrics")
    summary = summary_from_table(mt)
    agg = mt[mt["scope"] == "mean"]
    std = mt[mt["scope"] == "std"].set_index(["metric", "set", "category"])["value"]
    cats: dict[str, dict[str, dict[str, float]]] = {}
    over: dict[str, dict[str, dict[str, float]]] = {}
    degenerate: dict[str, dict[str, dict[str, float]]] = {}
    for _, r in agg[agg["category"] != "all"].iterrows():
        key = (r["metric"], r["set"], r["category"])
        cell = {"mean": float(r["value"]), "std": float(std.get(key, math.nan)),
                "runs": summary.get("UA", summary.get("RA", {})).get("runs", 1), "n": _int(r["n"])}
        into = {"over-refusal": over, "degenerate": degenerate}.get(r["metric"], cats)
        into.setdefault(r["set"], {})[r["category"]] = cell
    for _, r in agg[(agg["category"] == "all") & (agg["metric"] == "over-refusal")].iterrows():
        over.setdefault(r["set"], {})["all"] = {"mean": float(r["value"]), "std": float(
            std.get((r["metric"], r["set"], "all"), math.nan)), "runs": _int(r["n"])}
    p = art.manifest.get("params", {})
    return {
        "ref": art.ref, "label": art.manifest.get("extra", {}).get("label") or p.get("label") or art.ref,
        "models": p.get("models", []), "prompting": bool(p.get("prompting")), "summary": summary,
        "categories": cats, "over_refusal": over, "degenerate": degenerate,
        "model_hashes": [v.get("content_hash") for k, v in art.manifest.get("inputs", {}).items()
                         if k.startswith("model")],
        "data": p.get("data", {}),
    }


def _int(v: Any) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


def dataset_categories(ws: Workspace, evals: Sequence[Artifact]) -> pd.DataFrame:
    """Figure 3: category counts of the forget and retain sets the evaluated methods used (all splits)."""
    seen: set[str] = set()
    rows = []
    for art in evals:
        for name, inp in art.manifest.get("inputs", {}).items():
            if name not in ("forget", "retain") or not (inp.get("version") or inp.get("path")):
                continue
            key = f"{name}:{inp.get('content_hash')}"
            if key in seen:
                continue
            seen.add(key)
            try:
                src = ws.load(inp["stage"], inp["version"]) if inp.get("version") else plain_artifact(
                    Path(inp["path"]))
                df = src.read_df(name)
            except Exception:  # noqa: BLE001 - an input removed by gc just drops out of the figure
                continue
            if "category" not in df.columns:
                continue
            for cat, n in df["category"].astype(str).value_counts().items():
                rows.append({"set": name, "source": src.ref, "category": cat, "count": int(n)})
    df = pd.DataFrame(rows, columns=["set", "source", "category", "count"])
    if df.empty:
        return df
    return df.groupby(["set", "category"], as_index=False)["count"].sum()


def sequential_chains(ws: Workspace, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Figure 5: chains of train artifacts linked by their `base` input, with the eval of each link."""
    trains = ws.artifacts("train")
    by_ver = {a.version: a for a in trains}
    parent: dict[str, str] = {}
    for a in trains:
        base = a.manifest.get("inputs", {}).get("base") or {}
        if base.get("stage") == "train" and base.get("version") in by_ver:
            parent[a.version] = base["version"]
    children: dict[str, list[str]] = {}
    for c, p in parent.items():
        children.setdefault(p, []).append(c)
    # eval entry per train content hash (single-run, non-prompting evals only)
    by_hash: dict[str, dict[str, Any]] = {}
    for e in entries:
        if len(e["model_hashes"]) == 1 and not e["prompting"]:
            by_hash[e["model_hashes"][0]] = e
    base_evals = {e["models"][0]: e for e in entries
                  if not e["model_hashes"] and len(e["models"]) == 1 and not e["prompting"]}
    chains = []
    for root in sorted(v for v in by_ver if v not in parent and v in children):
        path = [root]
        while path[-1] in children:
            path.append(sorted(children[path[-1]])[-1])
        points = []
        model = by_ver[root].manifest.get("params", {}).get("model")
        if model in base_evals:
            points.append({"step": 0, "ref": model, "summary": base_evals[model]["summary"]})
        for i, v in enumerate(path, start=1):
            e = by_hash.get(by_ver[v].content_hash)
            if e is not None:
                points.append({"step": i, "ref": by_ver[v].ref, "summary": e["summary"]})
        if sum(p["step"] > 0 for p in points) >= 2:
            chains.append({"root": by_ver[root].ref, "train": [by_ver[v].ref for v in path], "points": points})
    return chains


def benchmark_table(ws: Workspace, bench: Sequence[Artifact]) -> pd.DataFrame:
    frames = []
    for art in bench:
        try:
            df = art.read_df("scores")
        except Exception:  # noqa: BLE001 - a benchmark without scores is skipped
            continue
        need = {"model", "task", "metric", "value"}
        if not need <= set(df.columns):
            continue
        df = df.assign(artifact=art.ref)
        if "stderr" not in df.columns:
            df["stderr"] = math.nan
        frames.append(df[["artifact", "model", "task", "metric", "value", "stderr"]])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def collect(ws: Workspace, evals: Sequence[Artifact], bench: Sequence[Artifact],
            audits: Sequence[Artifact] = ()) -> dict[str, Any]:
    entries = [eval_entry(a) for a in evals]
    return {
        "methods": entries,
        "datasets": dataset_categories(ws, evals).to_dict("records"),
        "sequential": sequential_chains(ws, entries),
        "benchmark": benchmark_table(ws, bench).to_dict("records"),
        "audits": [audit_entry(a) for a in audits],
    }


AUDIT_COLUMNS = ["UA", "UA-multihop", "leakage", "degenerate", "recovery"]


def audit_entry(art: Artifact) -> dict[str, Any]:
    """An audit artifact's per-scope table (plain, each probe, each attack) and its requirement results."""
    m = art.read_df("metrics")
    rows = []
    for scope in dict.fromkeys(m["scope"]):
        if str(scope).startswith("mia"):
            continue
        sub = m[m["scope"] == scope]
        rows.append({"scope": str(scope), **{c: float(sub[sub["metric"] == c]["value"].iloc[0])
                                              for c in AUDIT_COLUMNS if (sub["metric"] == c).any()}})
    extra = art.manifest.get("extra", {})
    return {"ref": art.ref, "target": extra.get("target"), "rows": rows,
            "requirements": extra.get("requirements") or {}, "mia": (extra.get("summary") or {}).get("mia", [])}


def audit_rows(audit: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["scope", *AUDIT_COLUMNS]
    rows = [[r["scope"], *("" if r.get(c) is None or r.get(c) != r.get(c) else f"{r[c]:.1f}" for c in AUDIT_COLUMNS)]
            for r in audit["rows"]]
    return head, rows


# ----------------------------------------------------------------------------------------------- plots

def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_metric_bars(methods: list[dict[str, Any]]) -> bytes | None:
    if not methods:
        return None
    plt = _plt()
    import numpy as np

    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(MAIN_METRICS) + 0.3 * len(methods)), 3.8))
    width = 0.8 / len(methods)
    x = np.arange(len(MAIN_METRICS))
    for i, m in enumerate(methods):
        means = [m["summary"].get(k, {}).get("mean", math.nan) for k in MAIN_METRICS]
        stds = [m["summary"].get(k, {}).get("std", 0.0) for k in MAIN_METRICS]
        means = [0.0 if v is None or math.isnan(v) else v for v in means]
        stds = [0.0 if v is None or math.isnan(v) else v for v in stds]
        ax.bar(x + (i - (len(methods) - 1) / 2) * width, means, width, yerr=stds, capsize=3, label=m["label"])
    ax.set_xticks(x, [METRIC_TITLES[k] for k in MAIN_METRICS])
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.set_title("Unlearning metrics per method (mean ± std over runs)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(3, len(methods)))
    return _png(fig)


def plot_categories(datasets: list[dict[str, Any]]) -> bytes | None:
    if not datasets:
        return None
    plt = _plt()
    df = pd.DataFrame(datasets)
    sets = [s for s in ("forget", "retain") if s in set(df["set"])]
    fig, axes = plt.subplots(1, len(sets), figsize=(4.5 * len(sets), 3.4), squeeze=False)
    for ax, s in zip(axes[0], sets, strict=True):
        d = df[df["set"] == s].sort_values("count", ascending=True)
        total = d["count"].sum()
        ax.barh(d["category"], d["count"], color="#4C72B0" if s == "forget" else "#55A868")
        for y, (_c, n) in enumerate(zip(d["category"], d["count"], strict=True)):
            ax.text(n, y, f" {n} ({100 * n / total:.1f}%)", va="center", fontsize=8)
        ax.set_title(f"{s} set ({total} questions)")
        ax.set_xlim(0, d["count"].max() * 1.35)
    fig.suptitle("Category distribution of the datasets (paper Figure 3)")
    return _png(fig)


def plot_sequential(chains: list[dict[str, Any]]) -> bytes | None:
    if not chains:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(chains), figsize=(5 * len(chains), 3.6), squeeze=False)
    for ax, ch in zip(axes[0], chains, strict=True):
        steps = [p["step"] for p in ch["points"]]
        for k in ("UA", "RA", "TA"):
            ys = [p["summary"].get(k, {}).get("mean", math.nan) for p in ch["points"]]
            ax.plot(steps, ys, marker="o", label=k)
        ax.set_xticks(steps)
        ax.set_xlabel("entities unlearned (sequential)")
        ax.set_ylabel("%")
        ax.set_ylim(-5, 105)
        ax.set_title(f"chain from {ch['root']}")
        ax.legend(fontsize=8)
    fig.suptitle("Sequential unlearning (paper Figure 5)")
    return _png(fig)


# ----------------------------------------------------------------------------------------------- rendering

def main_table_rows(methods: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    head = ["method", "eval", "runs", *[METRIC_TITLES[k] for k in MAIN_METRICS], "leakage",
            "degenerate (forget / retain / general)"]
    rows = []
    for m in methods:
        runs = max((v.get("runs", 0) for v in m["summary"].values()), default=0)
        rows.append([m["label"], m["ref"], str(runs), *[fmt(m["summary"].get(k)) for k in MAIN_METRICS],
                     fmt(m["summary"].get("leakage")),
                     " / ".join(fmt(m["summary"].get(k)) for k in DEGENERATE_KEYS.values())])
    return head, rows


def category_rows(methods: list[dict[str, Any]], key: str) -> tuple[list[str], list[list[str]]]:
    cols = sorted({(s, c) for m in methods for s, cats in m[key].items() for c in cats},
                  key=lambda sc: (["forget", "retain", "general"].index(sc[0]) if sc[0] in
                                  ("forget", "retain", "general") else 9, sc[1] != "all", sc[1]))
    head = ["method", *[f"{s}/{c}" for s, c in cols]]
    rows = [[m["label"], *[fmt(m[key].get(s, {}).get(c)) for s, c in cols]] for m in methods]
    return head, rows


def benchmark_rows(bench: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    if not bench:
        return [], []
    df = pd.DataFrame(bench)
    df["cell"] = [f"{v:.4g}" + (f" ± {s:.2g}" if s == s and s is not None else "")
                  for v, s in zip(df["value"], df["stderr"], strict=True)]
    df["col"] = df["task"] + " (" + df["metric"] + ")"
    piv = df.pivot_table(index="model", columns="col", values="cell", aggfunc="first")
    head = ["model", *piv.columns.tolist()]
    rows = [[str(idx), *["" if pd.isna(v) else str(v) for v in r]] for idx, r in zip(piv.index, piv.values,
                                                                                         strict=True)]
    return head, rows


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    if not head:
        return ""
    esc = [[c.replace("|", "\\|") for c in r] for r in rows]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in esc]
    return "\n".join(lines)


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    if not head:
        return ""
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


SECTIONS_HELP = {
    "main": "UA = % refusals on forget-eval (multi-hop excluded); UA (multi-hop) = on multi-hop questions; "
            "RA / TA = % answers on retain / general; Avg = mean of the four (paper Table 1). "
            "Leakage = % of forget answers (with a reference) that are not refusals and name the reference's facts. "
            "Degenerate = % of responses that are neither refusal nor answer (empty, loops, token soup, another "
            "language, an echo); they count for neither UA nor RA/TA.",
    "categories": "Per category: forget = % refusals, retain/general = % answers.",
    "over": "Over-refusal: % of retain/general questions the model refused, per category (lower is better).",
    "degenerate": "Degenerate: % of responses per set and category that are neither refusal nor answer "
                  "(lower is better; a collapsed model scores 100).",
}


def render(data: dict[str, Any], title: str = "snap report") -> tuple[str, str, dict[str, bytes]]:
    """(markdown, html, {figure file name: png bytes})."""
    figs: dict[str, bytes] = {}
    for name, png in (("metrics.png", plot_metric_bars(data["methods"])),
                      ("categories.png", plot_categories(data["datasets"])),
                      ("sequential.png", plot_sequential(data["sequential"]))):
        if png:
            figs[name] = png
    sections: list[tuple[str, str, tuple[list[str], list[list[str]]] | None, str | None]] = [
        ("Unlearning results", SECTIONS_HELP["main"], main_table_rows(data["methods"]), "metrics.png"),
        ("Per-category results", SECTIONS_HELP["categories"], category_rows(data["methods"], "categories"), None),
        ("Over-refusal", SECTIONS_HELP["over"], category_rows(data["methods"], "over_refusal"), None),
    ]
    if any(m.get("degenerate") for m in data["methods"]):
        sections.append(("Degenerate responses", SECTIONS_HELP["degenerate"],
                         category_rows(data["methods"], "degenerate"), None))
    if "categories.png" in figs:
        sections.append(("Datasets", "Category distribution of the forget and retain sets (all splits).", None,
                         "categories.png"))
    if "sequential.png" in figs:
        seq = "; ".join(" -> ".join(c["train"]) for c in data["sequential"])
        sections.append(("Sequential unlearning", f"Chains of train artifacts (each trained from the previous one): "
                         f"{seq}.", None, "sequential.png"))
    if data["benchmark"]:
        sections.append(("Capability benchmarks", "Scores from benchmark artifacts (value ± stderr).",
                         benchmark_rows(data["benchmark"]), None))
    for a in data.get("audits", []):
        req = a["requirements"]
        verdict = ("" if not req.get("results") else " Requirements: " + ("all passed." if req.get("passed") else
                   "FAILED (" + "; ".join(r.get("why", "") for r in req["results"] if not r.get("passed")) + ")."))
        sections.append((f"Audit ({a['ref']})", "UA, leakage (non-refusals that repeat what the base model said), "
                         "degenerate answers and relearning recovery (%) on the plain forget-eval questions, under "
                         "each adversarial probe and after each attack (certificate.html in the audit artifact has "
                         "the details)." + verdict, audit_rows(a), None))
    md = [f"# {title}", ""]
    body = [f"<h1>{html.escape(title)}</h1>"]
    for head, text, tbl, fig in sections:
        md += [f"## {head}", "", text, ""]
        body += [f"<h2>{html.escape(head)}</h2>", f"<p>{html.escape(text)}</p>"]
        if tbl is not None:
            md += [_md_table(*tbl), ""]
            body.append(_html_table(*tbl))
        if fig:
            md += [f"![{head}](figures/{fig})", ""]
            b64 = base64.b64encode(figs[fig]).decode("ascii")
            body.append(f'<img alt="{html.escape(head)}" src="data:image/png;base64,{b64}">')
    page = (
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>" + html.escape(title) + "</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;"
        "text-align:right}th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}"
        "img{max-width:100%;margin:1em 0}p{color:#555}</style></head><body>" + "\n".join(body) + "</body></html>"
    )
    return "\n".join(md).rstrip() + "\n", page, figs
