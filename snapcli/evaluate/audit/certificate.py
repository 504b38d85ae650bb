"""The audit certificate: what was audited (content hashes), what was measured, and whether it met the bar.

(issue 12, item 7.) `build_certificate(...) -> dict` (JSON-able), `render_html(cert) -> str` (one self-contained
page), `verify(cert, ws) -> list[str]` (problems; empty = every hash still matches), `parse_requirements(spec)`.

Requirements: a comma-separated list of ``METRIC[@SCOPE] OP NUMBER`` with OP one of >=, <=, >, <, ==, e.g.
``UA>=90,leakage<=5,RA>=85,TA>=85,recovery<=20``. Metrics (values in %, AUC in [0, 1]):

| metric | default scope | meaning |
|---|---|---|
| UA, UA-multihop, RA, TA, Avg | eval (the eval stage's numbers), else plain | as in docs/eval.md |
| degenerate | plain | % degenerate answers to the plain forget questions |
| leakage | worst | % of forget questions that leak; worst over plain, every probe and every attack |
| recovery | relearn | % of the removed leakage the relearning attack brought back |
| AUC | mia:mink++ | membership AUC (forget vs retain base answers) after unlearning |

A scope is ``eval``, ``plain``, a probe (``prefix``), an attack (``int4``), ``mia:<method>``, ``base:<probe>`` (the
base model under that probe, a reference) or ``worst`` (the worst value over every scope of the unlearned model that
measured the metric: the minimum for >=/>, the maximum for <=/<). A requirement whose
metric was not measured fails ("not measured"): a certificate cannot pass on what it did not check. The CLI exits
with status 3 (`EXIT_REQUIREMENT_FAILED`) when any requirement fails, 0 when all pass.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from snapcli import __version__
from snapcli.errors import SnapError
from snapcli.store.hashing import file_sha256, json_sha256, tree_sha256

EXIT_REQUIREMENT_FAILED = 3
CERT_SCHEMA = 1
CERT_KIND = "snap-audit-certificate"
_EXCLUDE_TOP = {"manifest.json"}  # an artifact's content hash covers its outputs, as snapcli.store computes it

METRICS = {"ua": "UA", "ua-multihop": "UA-multihop", "ra": "RA", "ta": "TA", "avg": "Avg", "degenerate": "degenerate",
           "leakage": "leakage", "recovery": "recovery", "auc": "AUC"}
DEFAULT_SCOPE = {"UA": "eval", "UA-multihop": "eval", "RA": "eval", "TA": "eval", "Avg": "eval",
                 "degenerate": "plain", "leakage": "worst", "recovery": "relearn", "AUC": "mia:mink++"}
_OPS = {">=": lambda v, t: v >= t, "<=": lambda v, t: v <= t, ">": lambda v, t: v > t, "<": lambda v, t: v < t,
        "==": lambda v, t: math.isclose(v, t, abs_tol=1e-9)}
_REQ = re.compile(r"^\s*([A-Za-z][A-Za-z\-+]*)\s*(?:@\s*([A-Za-z0-9:+_\-]+)\s*)?(>=|<=|==|=|>|<)\s*"
                  r"([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*%?\s*$")


@dataclass
class Requirement:
    metric: str          # canonical name (UA, leakage, ...)
    scope: str | None    # None: the metric's default scope
    op: str
    threshold: float
    text: str            # as written


def parse_requirements(spec: str | None) -> list[Requirement]:
    """'UA>=90,leakage<=5' -> [Requirement, ...]; SnapError naming the part that does not parse."""
    if spec is None or not spec.strip():
        return []
    out = []
    for part in spec.split(","):
        if not part.strip():
            raise SnapError(f"--require '{spec}': empty requirement between commas")
        m = _REQ.match(part)
        if not m:
            raise SnapError(f"--require: cannot parse '{part.strip()}' (expected METRIC[@SCOPE] OP NUMBER with OP "
                            f"one of >=, <=, >, <, ==; e.g. UA>=90 or leakage@prefix<=10)")
        name, scope, op, num = m.groups()
        metric = METRICS.get(name.lower())
        if metric is None:
            raise SnapError(f"--require: unknown metric '{name}' in '{part.strip()}' (known: "
                            f"{', '.join(METRICS.values())})")
        out.append(Requirement(metric, scope, "==" if op == "=" else op, float(num), part.strip()))
    return out


def _metric_name(row: Mapping[str, Any]) -> str:
    return "AUC" if row["metric"] == "AUC-after" else row["metric"]


def check_requirements(reqs: Sequence[Requirement], metrics: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Evaluate each requirement against metric rows {scope, kind, metric, value}: one result dict per requirement
    with value, scope used, passed and why."""
    table: dict[tuple[str, str], float] = {}
    for r in metrics:
        v = r.get("value")
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        table[(_metric_name(r), r["scope"])] = float(v)
    out = []
    for req in reqs:
        scope = req.scope or DEFAULT_SCOPE[req.metric]
        if req.scope is None and scope == "eval" and (req.metric, "eval") not in table:
            scope = "plain"
        if scope == "worst":
            cands = [(v, s) for (mname, s), v in table.items() if mname == req.metric and not s.startswith("base:")]
            value, used = (min if req.op in (">=", ">") else max)(cands) if cands else (None, "worst")
        else:
            value, used = table.get((req.metric, scope)), scope
        if value is None:
            out.append({**asdict(req), "scope": used, "value": None, "passed": False, "why": "not measured"})
            continue
        ok = _OPS[req.op](value, req.threshold)
        out.append({**asdict(req), "scope": used, "value": value, "passed": ok,
                    "why": "" if ok else f"{req.metric}@{used} = {value:g}, required {req.op} {req.threshold:g}"})
    return out


# ------------------------------------------------------------------------------------------- hashing subjects

def hash_path(path: Path) -> dict[str, Any]:
    """Content hash of a file (sha256) or a directory (tree hash of relative path -> file hash, as snapcli.store
    computes artifact hashes; a top-level manifest.json is left out). Also the file count and bytes."""
    path = Path(path)
    if path.is_file():
        return {"sha256": file_sha256(path), "files": 1, "bytes": path.stat().st_size}
    if not path.is_dir():
        raise SnapError(f"cannot hash {path}: no such file or directory")
    files: dict[str, str] = {}
    size = 0
    for p in sorted(path.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(path).as_posix()
        if rel in _EXCLUDE_TOP or rel.startswith(".staging/"):
            continue
        files[rel] = file_sha256(p)
        size += p.stat().st_size
    return {"sha256": tree_sha256(files), "files": len(files), "bytes": size}


def subject(role: str, thing: Any, ws: Any = None, name: str | None = None) -> dict[str, Any]:
    """One hashed input of the audit. thing: an Artifact (snapcli.store), a Path, or a string (a path; anything
    else, e.g. a hub id that is not on disk, is recorded by name with sha256 None and the reason)."""
    ref = None
    if hasattr(thing, "path") and hasattr(thing, "content_hash"):
        ref = thing.ref
        path = Path(thing.path)
    else:
        path = Path(str(thing)).expanduser()
    entry: dict[str, Any] = {"role": role, "name": name or ref or str(thing), "ref": ref}
    if not path.exists():
        entry.update(path=str(thing), ws_path=None, sha256=None, files=0, bytes=0,
                     note="not a local path (e.g. a hub id): not hashed")
        return entry
    path = path.resolve()
    entry["path"] = str(path)
    entry["ws_path"] = None
    if ws is not None:
        try:
            entry["ws_path"] = path.relative_to(Path(ws.root).resolve()).as_posix()
        except ValueError:
            pass
    entry.update(hash_path(path))
    if ref is not None and getattr(thing, "content_hash", "") and path.is_dir():
        entry["manifest_content_hash"] = thing.content_hash
    return entry


def judge_info(judge: Any) -> dict[str, str]:
    """Name and version of a judge: the sha256 of the judge's code file and of the labelled set it is measured on."""
    import inspect
    from importlib.resources import files

    mod = inspect.getmodule(type(judge))
    code = Path(inspect.getfile(mod)) if mod is not None else None
    labelled = files("snapcli.data").joinpath("judge_labelled.jsonl")
    return {
        "name": getattr(judge, "name", type(judge).__name__),
        "class": type(judge).__name__,
        "code_sha256": file_sha256(code) if code and code.exists() else "",
        "labelled_set_sha256": file_sha256(Path(str(labelled))) if Path(str(labelled)).exists() else "",
    }


# ---------------------------------------------------------------------------------------------- certificate

def _self_hash(cert: Mapping[str, Any]) -> str:
    return json_sha256({k: v for k, v in cert.items() if k != "certificate_sha256"})


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else obj
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _clean(obj.item())
    return obj


def build_certificate(
    *,
    target: Sequence[str],
    base_model: Any,
    unlearned_model: Any,
    audit: Any,
    data: Mapping[str, Any] | None = None,
    eval_metrics: Mapping[str, float] | None = None,
    configs: Mapping[str, Any] | None = None,
    seeds: Mapping[str, int] | None = None,
    judge: Any = None,
    requirements: str | None = None,
    ws: Any = None,
) -> dict[str, Any]:
    """The certificate dict (JSON-able).

    target: the forgotten target's name and aliases. base_model / unlearned_model: an Artifact, a directory, or a
    name that is not on disk (recorded unhashed). audit: an AuditResult (runner) or its `.summary()` dict.
    data: name -> Artifact or file/dir (every data artifact the audit read: forget, retain, knowledge, ...).
    eval_metrics: the eval stage's headline numbers {"UA": 96.9, "RA": 87.5, ...} (scope "eval").
    configs: name -> JSON-able config (each is stored and hashed). seeds: name -> seed. judge: the judge object (its
    name and code/labelled-set hashes are recorded) or a dict. requirements: the --require string (SnapError when
    it does not parse). ws: the Workspace, so paths inside it are also recorded relative to its root.
    """
    from snapcli.store.manifest import git_commit, host_summary, now_iso

    reqs = parse_requirements(requirements)
    summary = audit.summary() if hasattr(audit, "summary") else dict(audit)
    metrics = [dict(m) for m in summary.get("metrics", [])]
    for k, v in (eval_metrics or {}).items():
        metrics.append({"scope": "eval", "kind": "eval", "metric": k, "value": v, "n": None})
    metrics = _clean(metrics)
    subjects = [subject("base_model", base_model, ws), subject("unlearned_model", unlearned_model, ws)]
    for name, thing in (data or {}).items():
        subjects.append(subject(f"data:{name}", thing, ws))
    cfgs = _clean(dict(configs or {}))
    results = check_requirements(reqs, metrics)
    cert: dict[str, Any] = {
        "kind": CERT_KIND,
        "certificate_schema": CERT_SCHEMA,
        "created_at": now_iso(),
        "snap_version": __version__,
        "git_commit": git_commit(),
        "host": host_summary(),
        "target": [str(t) for t in target],
        "subjects": subjects,
        "configs": {k: {"sha256": json_sha256(v), "value": v} for k, v in cfgs.items()},
        "seeds": dict(seeds or {}),
        "judge": judge if isinstance(judge, Mapping) or judge is None else judge_info(judge),
        "metrics": metrics,
        "attacks": _clean(summary.get("attacks", [])),
        "mia": _clean(summary.get("mia", [])),
        "timings": _clean(summary.get("timings", {})),
        "audit_config": _clean(summary.get("config", {})),
        "notes": list(summary.get("notes", [])),
        "requirements": {"spec": requirements or "", "results": results,
                         "passed": all(r["passed"] for r in results)},
    }
    cert["certificate_sha256"] = _self_hash(cert)
    return cert


def verify(cert: Mapping[str, Any], ws: Any = None) -> list[str]:
    """Re-check a certificate: its own hash, then every subject's content hash (found under `ws` by its
    workspace-relative path when it has one, else at its absolute path). Returns problems; [] = verified."""
    problems: list[str] = []
    if cert.get("kind") != CERT_KIND:
        return [f"not a snap audit certificate (kind={cert.get('kind')!r})"]
    if cert.get("certificate_sha256") != _self_hash(cert):
        problems.append("the certificate itself was edited after it was written (its sha256 does not match)")
    for s in cert.get("subjects", []):
        if not s.get("sha256"):
            continue
        where = None
        if s.get("ws_path") is not None and ws is not None:
            where = Path(ws.root) / s["ws_path"]
        if where is None or not where.exists():
            where = Path(s["path"])
        if not where.exists():
            problems.append(f"{s['role']} ({s['name']}): missing ({where})")
            continue
        now = hash_path(where)
        if now["sha256"] != s["sha256"]:
            problems.append(f"{s['role']} ({s['name']}): content changed at {where} (certified {s['sha256'][:12]}, "
                            f"now {now['sha256'][:12]}; {now['files']} files)")
    results = check_requirements(parse_requirements(cert.get("requirements", {}).get("spec")), cert.get("metrics", []))
    recorded = cert.get("requirements", {}).get("results", [])
    if [r["passed"] for r in results] != [r.get("passed") for r in recorded]:
        problems.append("the recorded requirement results do not follow from the recorded metrics")
    return problems


# ---------------------------------------------------------------------------------------------------- HTML

def _fmt(v: Any, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _scope_table(cert: Mapping[str, Any]) -> tuple[list[str], dict[str, dict[str, float]]]:
    """Scopes of the unlearned model in order, and their metrics; the base model's numbers under a probe
    (scope base:<probe>) are filed under that probe as "base <metric>"."""
    order: list[str] = []
    vals: dict[str, dict[str, float]] = {}
    for m in cert.get("metrics", []):
        kind = m.get("kind")
        if kind not in ("plain", "probe", "attack", "base-probe"):
            continue
        scope, key = m["scope"], m["metric"]
        if kind == "base-probe":
            scope, key = scope.removeprefix("base:"), "base " + key
        if scope not in vals:
            order.append(scope)
            vals[scope] = {}
        vals[scope][key] = m.get("value")
        vals[scope]["n:" + key] = m.get("n")
    return order, vals


def _plot(cert: Mapping[str, Any]) -> str:
    """UA and leakage per scope as one PNG, base64 (an empty string when there is nothing to plot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order, vals = _scope_table(cert)
    if not order:
        return ""
    series = [("UA (% refused)", "UA", "#4c72b0"), ("leakage (%)", "leakage", "#dd8452"),
              ("base model's leakage under the probe (%)", "base leakage", "#bbbbbb")]
    series = [t for t in series if any(vals[s].get(t[1]) is not None for s in order)]
    if not series:
        return ""
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(order) + 2), 3.6), dpi=110)
    x = range(len(order))
    w = 0.8 / len(series)
    for k, (label, key, color) in enumerate(series):
        ys = [vals[s].get(key) for s in order]
        ax.bar([i - 0.4 + w * (k + 0.5) for i in x], [0 if v is None or v != v else v for v in ys], w, label=label,
               color=color)
    ax.set_xticks(list(x))
    ax.set_xticklabels(order, rotation=30, ha="right")
    ax.set_ylim(0, 122)  # headroom for the legend above the 100% bars
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("%")
    ax.legend(loc="upper center", ncol=len(series), fontsize=8, frameon=False)
    ax.set_title("Forget questions: plain, under each probe, after each attack", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0 1.4em}td,th{border:1px solid #ccc;padding:4px 8px;font-size:14px;
text-align:left}th{background:#f3f3f3}.pass{color:#1a7f37;font-weight:600}.fail{color:#c62828;font-weight:600}
.verdict{font-size:22px;padding:.5em 1em;display:inline-block;border-radius:6px}
.vpass{background:#e6f4ea}.vfail{background:#fdecea}code,pre{font-size:12px;background:#f7f7f7}
pre{padding:.6em;overflow-x:auto}"""


def render_html(cert: Mapping[str, Any]) -> str:
    """A self-contained HTML page of the certificate (tables, one embedded PNG plot, no external resources)."""
    req = cert.get("requirements", {})
    passed = req.get("passed", True)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>snap audit: "
             f"{html.escape(', '.join(cert.get('target', [])))}</title><style>{_CSS}</style></head><body>",
             f"<h1>Unlearning audit: {html.escape(cert.get('target', ['?'])[0])}</h1>",
             f"<p>snap {html.escape(str(cert.get('snap_version')))} &middot; "
             f"{html.escape(str(cert.get('created_at')))} &middot; certificate sha256 "
             f"<code>{html.escape(str(cert.get('certificate_sha256', ''))[:16])}</code></p>"]
    if req.get("results"):
        parts.append(f"<div class='verdict {'vpass' if passed else 'vfail'}'>"
                     f"{'All requirements pass' if passed else 'Requirements FAILED'}</div>")
        rows = [[html.escape(r["text"]), html.escape(r["scope"]), _fmt(r["value"], 2),
                 f"<span class='{'pass' if r['passed'] else 'fail'}'>{'pass' if r['passed'] else 'FAIL'}</span>",
                 html.escape(r.get("why", ""))] for r in req["results"]]
        parts.append("<h2>Requirements</h2>" + _table(["requirement", "scope", "value", "result", "why"], rows))
    ev = [m for m in cert.get("metrics", []) if m.get("kind") == "eval"]
    if ev:
        parts.append("<h2>Evaluation (eval stage)</h2>" + _table(
            [m["metric"] for m in ev], [[_fmt(m.get("value")) for m in ev]]))
    order, vals = _scope_table(cert)
    if order:
        rows = [[html.escape(s), _fmt(vals[s].get("UA")), _fmt(vals[s].get("UA-multihop")),
                 _fmt(vals[s].get("leakage")), _fmt(vals[s].get("base leakage")), _fmt(vals[s].get("leak-score"), 3),
                 _fmt(vals[s].get("degenerate")), _fmt(vals[s].get("recovery")), _fmt(vals[s].get("n:leakage"), 0)]
                for s in order]
        parts.append("<h2>Forget questions under probes and attacks</h2>"
                     "<p>UA: % refused (multi-hop apart). Leakage: % of questions with base-model knowledge whose "
                     "answer overlaps the base answer or names a gold fact. Base leakage: the base model's own "
                     "leakage under the same probe (the ceiling; when measured). Degenerate: % empty/looping/garbled."
                     "</p>" + _table(["scope", "UA", "UA-multihop", "leakage", "base leakage", "mean leak score",
                                      "degenerate", "recovery", "n (leakage)"], rows))
        png = _plot(cert)
        if png:
            parts.append(f"<img alt='UA and leakage per scope' src='data:image/png;base64,{png}'>")
    atts = cert.get("attacks", [])
    if atts:
        rows = [[html.escape(a["name"]), "ran" if a.get("ran") else "<span class='fail'>did not run</span>",
                 html.escape(a.get("detail", "")), _fmt((a.get("leakage") or {}).get("unlearned")),
                 _fmt((a.get("leakage") or {}).get("attacked")), _fmt(a.get("recovery"))] for a in atts]
        parts.append("<h2>Attacks</h2>" + _table(
            ["attack", "status", "what", "leakage before", "leakage after", "recovery %"], rows))
    mia = cert.get("mia", [])
    if mia:
        rows = [[html.escape(m["method"]), _fmt(m.get("auc_before"), 3), _fmt(m.get("auc_after"), 3),
                 _fmt(m.get("forget_mean_before"), 3), _fmt(m.get("forget_mean_after"), 3),
                 _fmt(m.get("retain_mean_before"), 3), _fmt(m.get("retain_mean_after"), 3),
                 f"{m.get('n_forget')}/{m.get('n_retain')}"] for m in mia]
        parts.append("<h2>Membership signal</h2><p>AUC of the score of the base model's forget answers against its "
                     "retain answers. Near 0.5 before; well below 0.5 after means the old forget answers became "
                     "unlikely (knowledge removed); unchanged means it is only hidden.</p>" + _table(
                         ["method", "AUC before", "AUC after", "forget mean before", "forget mean after",
                          "retain mean before", "retain mean after", "n forget/retain"], rows))
    subs = cert.get("subjects", [])
    if subs:
        rows = [[html.escape(s["role"]), html.escape(str(s.get("name"))),
                 f"<code>{html.escape(s['sha256'])}</code>" if s.get("sha256") else html.escape(s.get("note", "-")),
                 _fmt(s.get("files"), 0), _fmt(s.get("bytes"), 0)] for s in subs]
        parts.append("<h2>What was audited (content hashes)</h2>" + _table(
            ["role", "name", "sha256", "files", "bytes"], rows))
    judge = cert.get("judge") or {}
    if judge:
        parts.append("<h2>Judge</h2>" + _table(list(judge.keys()), [[html.escape(str(v)) for v in judge.values()]]))
    import json

    extra = {"seeds": cert.get("seeds"), "audit_config": cert.get("audit_config"), "timings_s": cert.get("timings"),
             "configs": {k: v.get("value") for k, v in (cert.get("configs") or {}).items()},
             "host": cert.get("host"), "git_commit": cert.get("git_commit")}
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in cert.get("notes", []))
    if notes:
        parts.append(f"<h2>Notes</h2><ul>{notes}</ul>")
    parts.append("<h2>Settings</h2><pre>" + html.escape(json.dumps(extra, indent=2, default=str)) + "</pre>")
    parts.append("<p>Re-check this certificate against the workspace with <code>snap audit --verify FILE</code>.</p>"
                 "</body></html>")
    return "\n".join(parts)
