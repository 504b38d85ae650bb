"""`snap export`: a model (a train artifact, a LoRA adapter, an alias) as a directory transformers/peft load."""

from __future__ import annotations

from pathlib import Path

import typer

from snapcli.cli.common import emit, workspace
from snapcli.console import log, out_console


def export_cmd(
    ref: str = typer.Argument(..., help="Train artifact ref (train@latest), alias, local dir or hub id."),
    out: Path = typer.Option(..., "--out", "-o", help="New directory to write (must not exist, or be empty)."),
    merge: bool = typer.Option(False, "--merge", help="LoRA adapters: merge into the base model and write a "
                               "standalone model (default: the adapter alone, pointing at its base)."),
    dtype: str = typer.Option("auto", "--dtype", help="Weights dtype of a merged export: auto (the base "
                              "model's), float32, bfloat16, float16."),
) -> None:
    """Write a model as a plain directory: AutoModelForCausalLM.from_pretrained(OUT) (full or --merge) or
    AutoPeftModelForCausalLM.from_pretrained(OUT) (an adapter), no snap needed."""
    from snapcli.models.export import export_model

    ws = workspace()
    log(f"exporting [bold]{ref}[/bold] to {out}…")
    res = export_model(ref, out, ws=ws, merge=merge, dtype=dtype)
    info = {"ref": ref, "out": str(res.out), "kind": res.kind, "source": res.source, "base": res.base,
            "dtype": res.dtype, "files": res.files}

    def render() -> None:
        load = ("AutoPeftModelForCausalLM" if res.kind == "adapter" else "AutoModelForCausalLM")
        out_console.print(f"{res.kind} model written to [bold]{res.out}[/bold] ({len(res.files)} files); "
                          f"load it with {load}.from_pretrained({str(res.out)!r})"
                          + (f"; base model: {res.base}" if res.kind == "adapter" else ""), highlight=False)

    emit(info, render)


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)
