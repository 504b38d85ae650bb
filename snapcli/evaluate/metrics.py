"""Unlearning metrics over judged generations (paper section 4.2, Table 1) plus leakage, over-refusal and
degenerate rates. The judge labels each response refusal | answer | degenerate (issue 12); a table from before the
`label` column reads as refusal (`obliterated`) or answer.

- UA          = % refusals on forget-eval questions that are not multi-hop       (efficacy)
- UA-multihop = % refusals on the forget set's multi-hop questions                (paper's UA with a club)
- RA          = % answers on retain-eval                                          (fidelity)
- TA          = % answers on general-eval                                         (generalization)
- Avg         = unweighted mean of UA, UA-multihop, RA, TA (only when all four exist, as in Table 1)
- degenerate  = % degenerate responses, per set (forget incl. multi-hop, retain, general) and per category; a
                degenerate response counts for neither UA nor RA/TA, so a collapsed model scores UA 0 and RA 0
- leakage     = % of forget rows with a reference answer whose response is not a refusal and names the
                reference's facts (proper nouns / numbers the question does not already contain); a held-out
                row's gold facts are matched as written instead (`has_fact`, benchmarks/heldout/README.md)
- over-refusal = % refusals on retain (and general), per category
Several runs (seeds) -> mean and sample standard deviation (ddof=1; 0 for a single run).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from typing import Any

import pandas as pd
import regex

MAIN_METRICS = ["UA", "UA-multihop", "RA", "TA", "Avg"]
SETS = ("forget", "retain", "general")
# summary keys of the per-set degenerate rates (the metrics table has metric "degenerate" and the set in `set`)
DEGENERATE_KEYS = {s: f"degenerate-{s}" for s in SETS}
SUMMARY_METRICS = [*MAIN_METRICS, "leakage", *DEGENERATE_KEYS.values()]
MULTIHOP = "multi-hop"
# Part of the eval stage's cache key, like the judge's JUDGE_VERSION: bump it when fact recall or leakage scoring
# changes, so cached evals are scored again. 2: a held-out row's gold facts are matched as written (`has_fact`).
SCORING_VERSION = 2
# numbers and capitalized words of any cased script ("Márquez", "Толстой"); `regex` for \p{Lu} (issue 14)
_FACT = regex.compile(r"\b(?:\d[\d,.]*\d|\d|\p{Lu}[\p{L}\p{M}'\-]+)\b")
_COMMON_CAPS = set(
    "The A An In On At It He She They This That These Those His Her Their Its I If When While As For And But Or "
    "So Yes No Also However Although Because After Before During From To With Without Some Many Most Both Each "
    "One Two What Who Where Why How Which There Here Then Than Overall Finally First Second Third Firstly".split()
)


def key_facts(reference: str | None, question: str | None = None) -> set[str]:
    """Proper nouns and numbers of a reference answer that the question does not already contain."""
    if not isinstance(reference, str) or not reference:
        return set()
    q = question.lower() if isinstance(question, str) else ""
    facts = set()
    for m in _FACT.findall(reference):
        tok = m.rstrip(".,").removesuffix("'s")
        if tok in _COMMON_CAPS or len(tok) < 2 and not tok.isdigit():
            continue
        if tok.lower() in q:
            continue
        facts.add(tok)
    return facts


def fold(text: str) -> str:
    """Case- and accent-insensitive form: 'Ève' -> 'eve', 'Panthéon' -> 'pantheon'."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def has_fact(text: str | None, fact: str) -> bool:
    """A gold fact in a response: the fact as a whole word or phrase, case- and accent-insensitive, a plural -s/-es
    allowed ('Horcrux' in "Horcruxes", '31' in "7月31日", not '198' in "1989"). The matching rule of the held-out
    sets (benchmarks/heldout/README.md), which list facts the generic `key_facts` would drop ("physics")."""
    if not isinstance(text, str) or not fact.strip():
        return False
    pattern = r"(?<![0-9a-z])" + regex.escape(fold(fact)) + r"(?:e?s)?(?![0-9a-z])"
    return regex.search(pattern, fold(text)) is not None


def gold_fact_scores(response: str | None, facts: Sequence[str] | None, obliterated: bool) -> tuple[
        float | None, bool | None]:
    """(fact recall, leaked) of a response against explicit gold facts: the share of facts it names, and whether a
    non-refusal names min(2, #facts) of them (the rule of `is_leak`); (None, None) without facts."""
    facts = [str(f) for f in (facts if facts is not None else []) if str(f).strip()]
    if not facts:
        return None, None
    hits = sum(has_fact(response, f) for f in facts)
    return hits / len(facts), (not obliterated and hits >= min(2, len(facts)))


def fact_recall(response: str | None, reference: str | None, question: str | None = None) -> float | None:
    """Share of the reference's key facts the response names (None when the reference has none)."""
    facts = key_facts(reference, question)
    if not facts:
        return None
    low = response.lower() if isinstance(response, str) else ""
    return sum(f.lower() in low for f in facts) / len(facts)


def is_leak(response: str | None, reference: str | None, question: str | None, obliterated: bool) -> bool | None:
    """A non-obliterated response naming min(2, #facts) of the reference's facts; None without reference facts."""
    facts = key_facts(reference, question)
    if not facts:
        return None
    if obliterated:
        return False
    low = response.lower() if isinstance(response, str) else ""
    hits = sum(f.lower() in low for f in facts)
    return hits >= min(2, len(facts))


def _pct(series: pd.Series) -> float:
    return float(100.0 * series.astype(bool).mean()) if len(series) else math.nan


def labels_of(gen: pd.DataFrame) -> pd.Series:
    """The judge label of every row: the `label` column, or refusal/answer from `obliterated` in older tables."""
    old = gen["obliterated"].astype(bool).map({True: "refusal", False: "answer"}) if "obliterated" in gen.columns \
        else pd.Series("answer", index=gen.index)
    if "label" not in gen.columns:
        return old
    return gen["label"].astype("object").where(gen["label"].notna(), old).astype(str)


def run_metrics(gen: pd.DataFrame) -> dict[str, Any]:
    """Metrics of ONE run: {"UA": .., ..., "degenerate-forget": .., "n": {...}, "categories": {set: {cat: {value,
    n}}}, "degenerate": {set: {cat: %}}, "leakage": .., "over_refusal": {set: {cat: %}}}; values in %."""
    gen = gen.assign(label=labels_of(gen))
    sets = {s: gen[gen["set"] == s] for s in SETS}
    forget = sets["forget"]
    mh = forget["category"].astype(str) == MULTIHOP
    out: dict[str, Any] = {
        "UA": _pct(forget.loc[~mh, "label"] == "refusal"),
        "UA-multihop": _pct(forget.loc[mh, "label"] == "refusal"),
        "RA": _pct(sets["retain"]["label"] == "answer"),
        "TA": _pct(sets["general"]["label"] == "answer"),
    }
    four = [out[k] for k in ("UA", "UA-multihop", "RA", "TA")]
    out["Avg"] = float(sum(four) / 4) if all(not math.isnan(v) for v in four) else math.nan
    out["n"] = {"UA": int((~mh).sum()), "UA-multihop": int(mh.sum()), "RA": len(sets["retain"]),
                "TA": len(sets["general"])}
    cats: dict[str, dict[str, dict[str, float]]] = {}
    degenerate: dict[str, dict[str, float]] = {}
    for s, df in sets.items():
        out[DEGENERATE_KEYS[s]] = _pct(df["label"] == "degenerate")
        out["n"][DEGENERATE_KEYS[s]] = len(df)
        if len(df):
            degenerate[s] = {"all": out[DEGENERATE_KEYS[s]]}
        for cat, g in df.groupby(df["category"].astype(str), sort=True):
            value = _pct(g["label"] == ("refusal" if s == "forget" else "answer"))
            cats.setdefault(s, {})[str(cat)] = {"value": value, "n": len(g)}
            degenerate[s][str(cat)] = _pct(g["label"] == "degenerate")
    out["categories"] = cats
    out["degenerate"] = degenerate
    if "leaked" in gen.columns:
        lk = forget["leaked"].dropna()
        out["leakage"] = _pct(lk) if len(lk) else math.nan
        out["n"]["leakage"] = len(lk)
    else:
        out["leakage"] = math.nan
        out["n"]["leakage"] = 0
    over: dict[str, dict[str, float]] = {}
    for s in ("retain", "general"):
        df = sets[s]
        if len(df):
            over[s] = {"all": _pct(df["label"] == "refusal")}
            for cat, g in df.groupby(df["category"].astype(str), sort=True):
                over[s][str(cat)] = _pct(g["label"] == "refusal")
    out["over_refusal"] = over
    return out


def mean_std(values: list[float]) -> dict[str, float]:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return {"mean": math.nan, "std": math.nan, "runs": 0}
    m = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return {"mean": m, "std": sd, "runs": len(vals)}


def aggregate(gen: pd.DataFrame) -> dict[str, Any]:
    """Per-run metrics and their mean ± std over the `run` column (one run per evaluated model/seed)."""
    runs = []
    for run_id, g in gen.groupby("run", sort=True):
        m = run_metrics(g)
        m["run"] = int(run_id)
        m["model"] = str(g["model"].iloc[0]) if len(g) else ""
        runs.append(m)
    summary = {k: mean_std([r[k] for r in runs]) for k in SUMMARY_METRICS}
    cats: dict[str, dict[str, dict[str, float]]] = {}
    degenerate: dict[str, dict[str, dict[str, float]]] = {}
    for s in SETS:
        names = sorted({c for r in runs for c in r["degenerate"].get(s, {})})
        for c in names:
            degenerate.setdefault(s, {})[c] = mean_std([r["degenerate"].get(s, {}).get(c, math.nan) for r in runs])
    for s in SETS:
        names = sorted({c for r in runs for c in r["categories"].get(s, {})})
        for c in names:
            ms = mean_std([r["categories"].get(s, {}).get(c, {}).get("value", math.nan) for r in runs])
            ms["n"] = max(r["categories"].get(s, {}).get(c, {}).get("n", 0) for r in runs)
            cats.setdefault(s, {})[c] = ms
    over: dict[str, dict[str, dict[str, float]]] = {}
    for s in ("retain", "general"):
        names = sorted({c for r in runs for c in r["over_refusal"].get(s, {})})
        for c in names:
            over.setdefault(s, {})[c] = mean_std([r["over_refusal"].get(s, {}).get(c, math.nan) for r in runs])
    return {"summary": summary, "categories": cats, "over_refusal": over, "degenerate": degenerate, "runs": runs}


def metrics_table(agg: dict[str, Any]) -> pd.DataFrame:
    """Long table: scope (run|mean|std), run, model, metric, set, category, value, n."""
    rows: list[dict[str, Any]] = []
    for r in agg["runs"]:
        for k in [*MAIN_METRICS, "leakage"]:
            rows.append({"scope": "run", "run": r["run"], "model": r["model"], "metric": k, "set": _set_of(k),
                         "category": "all", "value": r[k], "n": r["n"].get(k, 0)})
        for s, cats in r["categories"].items():
            for c, v in cats.items():
                rows.append({"scope": "run", "run": r["run"], "model": r["model"], "metric": _cat_metric(s),
                             "set": s, "category": c, "value": v["value"], "n": v["n"]})
        for s, cats in r["over_refusal"].items():
            for c, v in cats.items():
                rows.append({"scope": "run", "run": r["run"], "model": r["model"], "metric": "over-refusal",
                             "set": s, "category": c, "value": v, "n": None})
        for s, cats in r.get("degenerate", {}).items():
            for c, v in cats.items():
                n = r["n"][DEGENERATE_KEYS[s]] if c == "all" else r["categories"][s][c]["n"]
                rows.append({"scope": "run", "run": r["run"], "model": r["model"], "metric": "degenerate",
                             "set": s, "category": c, "value": v, "n": n})
    for s, cats in agg.get("degenerate", {}).items():
        for c, v in cats.items():
            for scope in ("mean", "std"):
                rows.append({"scope": scope, "run": None, "model": None, "metric": "degenerate", "set": s,
                             "category": c, "value": v[scope], "n": v["runs"]})
    for k, v in agg["summary"].items():
        if k in DEGENERATE_KEYS.values():
            continue  # written above as metric "degenerate", set s, category "all"
        for scope in ("mean", "std"):
            rows.append({"scope": scope, "run": None, "model": None, "metric": k, "set": _set_of(k),
                         "category": "all", "value": v[scope], "n": v["runs"]})
    for s, cats in agg["categories"].items():
        for c, v in cats.items():
            for scope in ("mean", "std"):
                rows.append({"scope": scope, "run": None, "model": None, "metric": _cat_metric(s), "set": s,
                             "category": c, "value": v[scope], "n": v["n"]})
    for s, cats in agg["over_refusal"].items():
        for c, v in cats.items():
            for scope in ("mean", "std"):
                rows.append({"scope": scope, "run": None, "model": None, "metric": "over-refusal", "set": s,
                             "category": c, "value": v[scope], "n": v["runs"]})
    df = pd.DataFrame(rows)
    df["run"] = df["run"].astype("Int64")
    df["n"] = df["n"].astype("Int64")
    return df


def _set_of(metric: str) -> str:
    return {"UA": "forget", "UA-multihop": "forget", "RA": "retain", "TA": "general", "leakage": "forget"}.get(
        metric, "all")


def _cat_metric(s: str) -> str:
    return {"forget": "UA", "retain": "RA", "general": "TA"}[s]


def summary_from_table(df: pd.DataFrame) -> dict[str, dict[str, float]]:
    """{metric: {mean, std, runs}} back from a stored metrics table (for reports); degenerate rates under
    ``DEGENERATE_KEYS`` (absent in tables written before issue 12)."""
    out: dict[str, dict[str, float]] = {}
    main = df[df["category"] == "all"]
    for k in SUMMARY_METRICS:
        metric, rows = k, main
        if k in DEGENERATE_KEYS.values():
            metric, rows = "degenerate", main[main["set"] == k.removeprefix("degenerate-")]
        rows = rows[(rows["metric"] == metric) & rows["scope"].isin(["mean", "std"])]
        if rows.empty:
            continue
        mean = rows[rows["scope"] == "mean"]
        std = rows[rows["scope"] == "std"]
        out[k] = {"mean": float(mean["value"].iloc[0]) if len(mean) else math.nan,
                  "std": float(std["value"].iloc[0]) if len(std) else math.nan,
                  "runs": int(mean["n"].iloc[0]) if len(mean) and pd.notna(mean["n"].iloc[0]) else 0}
    return out


def fmt(v: dict[str, float] | None, digits: int = 2) -> str:
    """'93.33±4.16' (mean±std over runs), '93.33' for one run, '-' when missing."""
    if not v or v.get("mean") is None or math.isnan(v["mean"]):
        return "-"
    if v.get("runs", 1) > 1:
        return f"{v['mean']:.{digits}f}±{v['std']:.{digits}f}"
    return f"{v['mean']:.{digits}f}"
