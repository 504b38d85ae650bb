"""`snap eval`: generate, judge and score a model on the forget / retain / general eval splits."""

from __future__ import annotations

from typing import Optional

import typer

from snapcli.cli.common import emit, parse_csv, table, workspace
from snapcli.console import out_console, progress
from snapcli.evaluate.metrics import MAIN_METRICS, fmt


def eval_cmd(
    model: list[str] = typer.Option(..., "--model", "-m", help="Train artifact ref (train@latest), alias (smollm2, "
                                    "tiny, ...), hub id or local dir. Several (comma-separated or repeated) = "
                                    "several runs of one method -> mean ± std."),
    sets: str = typer.Option("forget,retain,general", "--sets", help="Sets to evaluate (forget includes its "
                             "multi-hop questions, reported as UA-multihop)."),
    forget: Optional[str] = typer.Option(None, "--forget", help="Filter artifact or Parquet (table `forget`). "
                                         "Default: the model's training data, else filter@latest."),
    retain: Optional[str] = typer.Option(None, "--retain", help="Augment artifact or Parquet (table `retain`). "
                                         "Default: the model's training data, else the augment made from the "
                                         "forget data."),
    general: Optional[str] = typer.Option(None, "--general", help="Augment artifact or Parquet (table `general`). "
                                          "Default: the retain artifact."),
    group: Optional[str] = typer.Option(None, "--group", help="'seeds': also evaluate every train artifact that "
                                        "differs from --model only in its seed."),
    limit: Optional[int] = typer.Option(None, "--limit", help="At most N questions per set (spread over "
                                        "categories)."),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens", help="Tokens generated per answer."),
    batch_size: int = typer.Option(16, "--batch-size", help="Prompts per generation batch (length-bucketed)."),
    prompting: bool = typer.Option(False, "--prompting", help="Prompting baseline: prepend the paper's "
                                   "instruction to refuse questions about the forget targets."),
    judge: str = typer.Option("embedding", "--judge", help="Refusal judge: embedding (rules + MiniLM), rules, "
                              "or llm (through the LLM backends)."),
    temperature: float = typer.Option(0.0, "--temperature", help="0 = greedy (default)."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed (only used with --temperature > 0)."),
    backend: str = typer.Option("hf", "--backend", help="Generation backend: hf (transformers, everywhere) or "
                                "vllm (GPUs, when installed)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: cuda if present)."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="auto, float32, bfloat16, float16."),
    force: bool = typer.Option(False, "--force", help="Re-run even if a cached eval exists."),
) -> None:
    """UA, UA-multihop, RA, TA and Avg (paper Table 1), per category, with leakage and over-refusal."""
    from snapcli.errors import SnapError
    from snapcli.stages.evaluate import EvalSpec, run_eval

    if group not in (None, "seeds"):
        raise SnapError(f"unknown --group '{group}' (only 'seeds')")
    spec = EvalSpec(
        models=parse_csv(model), sets=parse_csv(sets, allowed=["forget", "retain", "general"], what="set"),
        forget=forget, retain=retain, general=general, limit=limit, max_new_tokens=max_new_tokens,
        batch_size=batch_size, prompting=prompting, judge=judge, temperature=temperature, seed=seed,
        backend=backend, device=device, dtype=dtype, group_seeds=group == "seeds",
    )
    with progress() as bar:
        tasks: dict[str, int] = {}

        def on_progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        art = run_eval(workspace(), spec, force=force, on_progress=on_progress)
    summary = art.manifest.get("extra", {}).get("summary", {})
    label = art.manifest.get("extra", {}).get("label", "")
    data = {"ref": art.ref, "cached": art.cached, "label": label, "metrics": summary,
            "rows": art.rows, "models": art.manifest.get("extra", {}).get("models", [])}

    def render() -> None:
        out_console.print(f"{'reused' if art.cached else 'wrote'} [bold]{art.ref}[/bold] ({label})")
        out_console.print(table(None, ["metric", "value", "n runs"],
                                [[k, fmt(_num(summary.get(k))), (summary.get(k) or {}).get("runs", 0)]
                                 for k in [*MAIN_METRICS, "leakage"]]))

    emit(data, render)


def _num(v):
    if not v:
        return None
    return {k: (float("nan") if x is None else x) for k, x in v.items()}


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
