"""`snap report`: Markdown + self-contained HTML comparison of every evaluated method, with plots."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

import typer

from snapcli.cli.common import emit, parse_csv, workspace
from snapcli.console import out_console


def report_cmd(
    evals: Optional[list[str]] = typer.Option(None, "--evals", help="Eval artifacts to compare (comma-separated "
                                              "or repeated). Default: the latest eval of each method."),
    benchmarks: Optional[list[str]] = typer.Option(None, "--benchmarks", help="Benchmark artifacts for the "
                                                   "capability section. Default: the latest one, if any."),
    title: str = typer.Option("snap report", "--title", help="Page title."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also copy report.html, report.md and figures/ here."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if a cached report exists."),
) -> None:
    """Table 1-style comparison, per-category results, leakage, over-refusal, Figures 3 and 5, benchmarks."""
    from snapcli.errors import SnapError
    from snapcli.stages.evaluate import _clean
    from snapcli.stages.report import run_report

    ws = workspace()
    art, data = run_report(ws, evals=parse_csv(evals) or None, benchmarks=parse_csv(benchmarks) or None,
                           title=title, force=force)
    html_path, md_path = art.path / "report.html", art.path / "report.md"
    if out is not None:
        if out.exists() and not out.is_dir():
            raise SnapError(f"--out {out} exists and is not a directory")
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(html_path, out / "report.html")
        shutil.copy2(md_path, out / "report.md")
        if (art.path / "figures").is_dir():
            shutil.copytree(art.path / "figures", out / "figures", dirs_exist_ok=True)
        html_path, md_path = out / "report.html", out / "report.md"
    payload = {"ref": art.ref, "cached": art.cached, "html": str(html_path), "markdown": str(md_path),
               "figures": art.manifest.get("extra", {}).get("figures", []), **_clean(data)}

    def render() -> None:
        out_console.print(md_path.read_text(encoding="utf-8").split("\n## Datasets")[0].split("\n![")[0])
        out_console.print(f"{'reused' if art.cached else 'wrote'} [bold]{art.ref}[/bold]: {html_path}")

    emit(payload, render)


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
