"""`snap filter`: dedup, relevance, categories, train/eval split of generated questions."""

from __future__ import annotations

from typing import Optional

import typer

from snapcli.cli.common import emit, table, workspace
from snapcli.cli.llm_options import (
    backend_option,
    base_url_option,
    batch_size_option,
    build_backend,
    concurrency_option,
    device_option,
    stage_progress,
)
from snapcli.console import log, out_console
from snapcli.errors import SnapError


def filter_cmd(
    from_: str = typer.Option("generate@latest", "--from", help="generate artifact (or Parquet with its columns)."),
    threshold: float = typer.Option(0.75, "--threshold", help="Drop a question whose cosine similarity to a kept "
                                    "one is >= this (paper: 0.75)."),
    mask_entity: bool = typer.Option(True, "--mask-entity/--no-mask-entity", help="Mask the target's names "
                                     "before embedding, so shared names do not make distinct questions look alike."),
    embedder: str = typer.Option("minilm", "--embedder", help="sentence-transformers model (alias minilm = "
                                 "embedded all-MiniLM-L6-v2, a local dir or a hub id)."),
    relevance: bool = typer.Option(True, "--relevance/--no-relevance", help="Drop questions that neither name "
                                   "nor describe the target."),
    categorizer: str = typer.Option("auto", "--categorizer", help="rules (offline), llm (strict-format LLM "
                                    "labels, rules where it breaks format), auto: llm with the openai backend."),
    train_size: int = typer.Option(100, "--train-size", help="Train questions per target, sampled proportionally "
                                   "per category (paper: 100); the rest is eval; multi-hop is eval only."),
    backend: Optional[str] = backend_option(),
    base_url: Optional[str] = base_url_option(),
    model: Optional[str] = typer.Option(None, "--model", help="Categorizer model (default: the question model)."),
    concurrency: int = concurrency_option(),
    batch_size: int = batch_size_option(),
    device: Optional[str] = device_option(),
    seed: int = typer.Option(0, "--seed", help="Split seed."),
    force: bool = typer.Option(False, "--force", help="Run again even if an identical run is in the workspace."),
) -> None:
    """Filter generated questions: near-duplicates, irrelevant ones; categorize and split (paper 3.1, 4.1)."""
    from snapcli.llm import choose_backend
    from snapcli.stages.filter import CATEGORIZERS, run_filter

    if categorizer not in CATEGORIZERS:
        raise SnapError(f"unknown categorizer '{categorizer}' (choose from {', '.join(CATEGORIZERS)})")
    if not 0 < threshold <= 1:
        raise SnapError(f"--threshold must be in (0, 1] (got {threshold})")
    if train_size < 0:
        raise SnapError(f"--train-size must be >= 0 (got {train_size})")
    if categorizer == "auto":
        categorizer = "llm" if choose_backend(backend, base_url)[0] == "openai" else "rules"
        log(f"categorizer: {categorizer}")
    b = build_backend(backend, base_url, concurrency, device, batch_size) if categorizer == "llm" else None
    with stage_progress() as on_progress:
        art = run_filter(
            workspace(), from_, threshold=threshold, mask_entity=mask_entity, embedder=embedder,
            relevance_check=relevance, categorizer=categorizer, backend=b, model=model, train_size=train_size,
            seed=seed, force=force, on_progress=on_progress,
        )
    if art.cached:
        log(f"reused {art.ref} (same input and parameters; --force to run again)")
    stats = art.manifest.get("extra", {}).get("stats", {})
    f = art.read_df("forget")
    counts = f.groupby(["entity", "category", "split"]).size()
    data = {"ref": art.ref, "cached": art.cached, "rows": art.rows, "stats": stats,
            "per_category": {f"{e}/{c}/{s}": int(n) for (e, c, s), n in counts.items()}}

    def render() -> None:
        out_console.print(table(f"{art.ref}: {len(f)} kept of {stats.get('input', '?')}",
                                ["entity", "category", "split", "questions"],
                                [[e, c, s, n] for (e, c, s), n in counts.items()]))
        out_console.print("dropped: " + (", ".join(f"{k}={v}" for k, v in stats.get("dropped", {}).items()) or
                                         "none") + f"  (details: snap show {art.ref})")

    emit(data, render)


def register(app: typer.Typer) -> None:
    app.command("filter")(filter_cmd)
