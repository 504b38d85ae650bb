"""`snap examples list|import`: the curated example sets shipped with snap (the offline demo starts from one)."""

from __future__ import annotations

from typing import Optional

import typer

from snapcli.cli.common import emit, table, workspace
from snapcli.console import out_console

examples_app = typer.Typer(
    help="Curated example sets written by the snap authors (forget + hard-retain data), e.g. bill-gates.",
    no_args_is_help=True,
)


@examples_app.command("list")
def list_cmd() -> None:
    """The shipped sets: target, rows per table and split."""
    from snapcli.curated import example_summary, list_examples

    rows = [example_summary(n) for n in list_examples()]

    def render() -> None:
        out_console.print(table("curated example sets", ["name", "entity", "table", "stage", "rows", "train", "eval"], [
            [r["name"], ", ".join(r["entity"]), t, info["stage"], info["rows"], info["splits"].get("train", 0),
             info["splits"].get("eval", 0)]
            for r in rows for t, info in r["tables"].items()
        ]))

    emit(rows, render)


@examples_app.command("import")
def import_cmd(
    name: str = typer.Argument(..., help="Example set name (see `snap examples list`)."),
    general: Optional[str] = typer.Option(
        "builtin", "--general", help="General set D_g added to the augment artifact: builtin, dolly, or a path "
        "(as snap augment --general).",
    ),
    no_general: bool = typer.Option(False, "--no-general", help="Leave the general table out."),
    general_size: int = typer.Option(300, "--general-size", min=1, help="General rows to sample (paper: 300)."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed for the general set."),
) -> None:
    """Publish a set as stage artifacts: forget -> filter@vN, retain (+ general) -> augment@vN, linked so
    `snap train --from filter@latest` and `snap eval` find the retain data themselves."""
    import snapcli.stages

    snapcli.stages.load_all()  # registers the stage schemas write_table checks
    from snapcli.curated import import_example

    arts = import_example(workspace(), name, general=None if no_general else general, general_size=general_size,
                          seed=seed)
    data = {t: {"ref": a.ref, "rows": a.rows, "cached": a.cached} for t, a in arts.items()}
    emit(data, lambda: [
        out_console.print(f"{'reused' if a.cached else 'imported'} {t} -> [bold]{a.ref}[/bold] "
                          + ", ".join(f"{k}={v}" for k, v in a.rows.items()))
        for t, a in arts.items()
    ])


def register(app: typer.Typer) -> None:
    app.add_typer(examples_app, name="examples")
