"""`snap report`: Markdown + self-contained HTML comparison of every evaluated method, with plots (ReportSpec)."""

from __future__ import annotations

import typer

from snapcli.cli.common import emit, run_stage_cli, workspace
from snapcli.cli.flags import spec_command
from snapcli.console import out_console
from snapcli.stages.report import ReportSpec


def handle(spec: ReportSpec, *, config: str | None = None, force: bool = False, dry_run: bool = False) -> None:
    from snapcli.stages import get
    from snapcli.stages.report import report_data
    from snapcli.store.manifest import json_safe

    arts = run_stage_cli(spec, force=force, dry_run=dry_run)
    if arts is None:
        return
    art = arts[0]
    ws = workspace()
    data = report_data(ws, get("report").plan(ws, spec))
    html_path, md_path = art.path / "report.html", art.path / "report.md"
    if spec.out is not None:
        html_path, md_path = spec.out / "report.html", spec.out / "report.md"
    payload = {"ref": art.ref, "cached": art.cached, "html": str(html_path), "markdown": str(md_path),
               "figures": art.manifest.get("extra", {}).get("figures", []), **json_safe(data)}

    def render() -> None:
        out_console.print(md_path.read_text(encoding="utf-8").split("\n## Datasets")[0].split("\n![")[0])
        out_console.print(f"{'reused' if art.cached else 'wrote'} [bold]{art.ref}[/bold]: {html_path}")

    emit(payload, render)


def register(app: typer.Typer) -> None:
    app.command("report")(spec_command(ReportSpec, handle))
