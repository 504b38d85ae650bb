"""`snap audit`: probes, attacks and membership signal on an unlearned model, and a certificate (AuditSpec).

Exit codes: 0 when every --require passes (or none is given), 3 when one fails (EXIT_REQUIREMENT_FAILED), 2 on bad
input, 1 when the run fails. `snap audit --verify certificate.json` re-checks a certificate's hashes against the
workspace: exit 0 when everything still matches, 3 when something changed.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Optional

import pandas as pd
import typer
from rich.markup import escape

from snapcli.cli.common import emit, run_stage_cli, table, workspace
from snapcli.cli.flags import spec_command
from snapcli.console import out_console
from snapcli.errors import SnapError
from snapcli.stages.audit import AuditSpec

COLUMNS = ["UA", "UA-multihop", "leakage", "degenerate", "recovery"]

VERIFY = inspect.Parameter(
    "verify", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path],  # noqa: UP045 - Typer reads it
    default=typer.Option(None, "--verify", metavar="CERTIFICATE", rich_help_panel="Run",
                         help="Re-check a certificate.json against the workspace instead of auditing; exit 3 when a "
                              "hash no longer matches."))


def handle(spec: AuditSpec, *, config: str | None = None, force: bool = False, dry_run: bool = False,
           verify: Path | None = None) -> None:
    from snapcli.evaluate.audit.certificate import EXIT_REQUIREMENT_FAILED

    if verify is not None:
        _verify(verify)
        return
    arts = run_stage_cli(spec, force=force, dry_run=dry_run)
    if arts is None:
        return
    art = arts[0]
    cert = json.loads((art.path / "certificate.json").read_text(encoding="utf-8"))
    metrics = art.read_df("metrics")
    req = cert.get("requirements", {})
    data: dict[str, Any] = {
        "ref": art.ref, "cached": art.cached, "certificate": str(art.path / "certificate.json"),
        "html": str(art.path / "certificate.html"), "metrics": cert.get("metrics", []), "mia": cert.get("mia", []),
        "attacks": cert.get("attacks", []), "requirements": req, "notes": cert.get("notes", []),
    }

    def render() -> None:
        print_audit(art, cert, metrics)
        for r in req.get("results", []):
            mark = "[green]pass[/green]" if r.get("passed") else "[red]FAIL[/red]"
            value = "not measured" if r.get("value") is None else f"{r['value']:g}"
            out_console.print(f"{mark} {r['metric']}@{r['scope']} {r['op']} {r['threshold']:g}: {value}"
                              + (f" ({escape(r['why'])})" if r.get("why") and r.get("value") is not None else ""))
        out_console.print(f"certificate: {data['certificate']} (page: {data['html']})")

    emit(data, render)
    if req.get("results") and not req.get("passed"):
        raise typer.Exit(EXIT_REQUIREMENT_FAILED)


def weak_scopes(metrics: pd.DataFrame) -> dict[str, str]:
    """Probes and attacks under which the forgetting does not hold, with why: UA more than 10 points below the
    plain questions', leakage more than 5 points above theirs, or 10% or more degenerate replies (a refusal that
    turned into noise is not a refusal). Returns {scope: "UA 14.3, degenerate 41.9"} in the metrics' order."""
    v = {(r.scope, r.metric): float(r.value) for r in metrics.itertuples() if r.value == r.value}
    plain_ua, plain_leak = v.get(("plain", "UA"), 100.0), v.get(("plain", "leakage"), 0.0)
    out: dict[str, str] = {}
    for scope in dict.fromkeys(metrics["scope"]):
        if scope == "plain" or str(scope).startswith("mia"):
            continue
        why = []
        if ("UA" if (scope, "UA") in v else "UA-multihop") and v.get((scope, "UA"), plain_ua) < plain_ua - 10:
            why.append(f"UA {v[(scope, 'UA')]:.1f}")
        if v.get((scope, "leakage"), 0.0) > plain_leak + 5:
            why.append(f"leakage {v[(scope, 'leakage')]:.1f}")
        if v.get((scope, "degenerate"), 0.0) >= 10:
            why.append(f"degenerate {v[(scope, 'degenerate')]:.1f}")
        if why:
            out[str(scope)] = ", ".join(why)
    return out


def print_audit(art: Any, cert: dict[str, Any], metrics: pd.DataFrame) -> None:
    """The audit table (scope x UA, UA-multihop, leakage, degenerate, recovery), attacks that did not run, MIA AUCs
    and the probes/attacks the forgetting does not survive; shared by `snap audit` and `snap run`."""
    piv = metrics.pivot_table(index="scope", columns="metric", values="value", aggfunc="first", sort=False)
    cols = [c for c in COLUMNS if c in piv.columns]
    order = list(dict.fromkeys(metrics["scope"]))
    rows = [[escape(str(s)), *("" if piv.loc[s, c] != piv.loc[s, c] else f"{piv.loc[s, c]:.1f}" for c in cols)]
            for s in order if s in piv.index and not str(s).startswith("mia")]
    target = cert["target"][0] if cert.get("target") else ""
    out_console.print(table(f"snap audit {art.ref}: {escape(str(target))} (%)", ["scope", *cols], rows))
    for a in cert.get("attacks", []):
        if not a.get("ran"):
            out_console.print(f"[yellow]{a['name']} did not run[/yellow]: {escape(str(a.get('detail', '')))}")
    for m in cert.get("mia", []):
        before, after = (f"{x:.3f}" if isinstance(x, (int, float)) else "n/a"
                         for x in (m.get("auc_before"), m.get("auc_after")))
        out_console.print(f"MIA {m.get('method')}: AUC {before} before -> {after} after (0.5 = forget and retain "
                          "answers look alike)")
    weak = weak_scopes(metrics)
    if weak:
        out_console.print("[yellow]the forgetting does not hold under[/yellow]: "
                          + "; ".join(f"{escape(k)} ({v})" for k, v in weak.items()))
    else:
        out_console.print("[green]the forgetting holds under every probe and attack that ran[/green]")


def _verify(path: Path) -> None:
    from snapcli.evaluate.audit.certificate import EXIT_REQUIREMENT_FAILED, verify

    try:
        cert = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SnapError(f"--verify {path}: no such file") from None
    except (OSError, ValueError) as e:
        raise SnapError(f"--verify {path}: not a JSON certificate ({' '.join(str(e).split())[:120]})") from None
    if not isinstance(cert, dict):
        raise SnapError(f"--verify {path}: not a snap audit certificate")
    problems = verify(cert, workspace())
    data = {"certificate": str(path), "verified": not problems, "problems": problems}
    emit(data, lambda: out_console.print(
        "[green]verified[/green]: every hash and requirement result still matches" if not problems else
        "\n".join(f"[red]changed[/red]: {escape(p)}" for p in problems)))
    if problems:
        raise typer.Exit(EXIT_REQUIREMENT_FAILED)


def register(app: typer.Typer) -> None:
    app.command("audit")(spec_command(AuditSpec, handle, extra=[VERIFY]))
