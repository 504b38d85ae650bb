"""`snap augment`: hard retaining data about related subjects, and the general set."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from snapcli.cli.common import emit, parse_csv, table, workspace
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


def augment_cmd(
    from_: str = typer.Option("filter@latest", "--from", help="filter artifact whose targets to retain around."),
    universe: Optional[str] = typer.Option(None, "--universe", help="Fictional universe to ask about minus the "
                                           "target (default: the one given to snap generate)."),
    subject: list[str] = typer.Option([], "--subject", help="Extra related subject to ask about (repeat)."),
    categories: Optional[str] = typer.Option(None, "--categories", help="Retain prompt categories (comma list; "
                                             "default: general,5w1h,relational,open-ended,implicit)."),
    calls: Optional[int] = typer.Option(None, "--calls", help="Calls per subject and category (default: "
                                        "universe 10 openai / 2 local; related subjects 1)."),
    per_call: Optional[int] = typer.Option(None, "--per-call", help="Questions per call (default: universe 30 "
                                           "openai / 10 local; related subjects 10 openai / 5 local)."),
    general: str = typer.Option("builtin", "--general", help="General set D_g: builtin (shipped, offline), dolly "
                                "(databricks/databricks-dolly-15k from the hub), or a jsonl/parquet path with "
                                "dolly's columns."),
    general_size: int = typer.Option(300, "--general-size", help="General rows to sample (paper: 300)."),
    general_train: int = typer.Option(0, "--general-train", help="Also put this many other general rows in the "
                                      "train split, for `snap train --retain-from general|both` (paper: 0)."),
    threshold: float = typer.Option(0.75, "--threshold", help="Dedup cosine threshold (as snap filter)."),
    mask_entity: bool = typer.Option(True, "--mask-entity/--no-mask-entity", help="Mask subject names before "
                                     "embedding for dedup."),
    embedder: str = typer.Option("minilm", "--embedder", help="sentence-transformers model for dedup."),
    train_size: int = typer.Option(100, "--train-size", help="Retain train questions per target (rest: eval)."),
    backend: Optional[str] = backend_option(),
    base_url: Optional[str] = base_url_option(),
    question_model: Optional[str] = typer.Option(None, "--question-model", help="Model that writes retain "
                                                 "questions (openai: gpt-4-turbo; local: smollm2)."),
    response_model: Optional[str] = typer.Option(None, "--response-model", help="Model that answers them "
                                                 "(openai: gpt-3.5-turbo; local: smollm2)."),
    answer_tokens: int = typer.Option(256, "--answer-tokens", min=1, help="Max tokens per retain answer."),
    temperature: float = typer.Option(0.7, "--temperature", min=0.0, help="Sampling temperature for questions."),
    concurrency: int = concurrency_option(),
    batch_size: int = batch_size_option(),
    device: Optional[str] = device_option(),
    prompts: Optional[Path] = typer.Option(None, "--prompts", help="YAML file overriding the shipped prompts."),
    seed: int = typer.Option(0, "--seed", help="Sampling and split seed."),
    force: bool = typer.Option(False, "--force", help="Run again even if an identical run is in the workspace."),
) -> None:
    """Build hard retaining data (related subjects, answered normally) and the general set (paper 3.2, 4.1)."""
    from snapcli.stages.augment import RETAIN_CATEGORIES, load_general, run_augment

    cats = parse_csv(categories, allowed=RETAIN_CATEGORIES, what="category") or None
    if categories is not None and not cats:
        raise SnapError("--categories is empty")
    if general_size < 1:
        raise SnapError(f"--general-size must be >= 1 (got {general_size})")
    load_general(general)  # a bad --general fails before any model is loaded
    b = build_backend(backend, base_url, concurrency, device, batch_size)
    with stage_progress() as on_progress:
        art = run_augment(
            workspace(), from_, backend=b, question_model=question_model, response_model=response_model,
            universe=universe, subjects=subject, categories=cats, calls=calls, per_call=per_call, general=general,
            general_size=general_size, general_train=general_train, threshold=threshold, mask_entity=mask_entity,
            embedder=embedder,
            train_size=train_size, answer_tokens=answer_tokens, temperature=temperature, seed=seed,
            prompts_path=str(prompts) if prompts else None, force=force, on_progress=on_progress,
        )
    if art.cached:
        log(f"reused {art.ref} (same input and parameters; --force to run again)")
    extra = art.manifest.get("extra", {})
    r = art.read_df("retain")
    counts = r.groupby(["entity", "category", "split"]).size()
    data = {"ref": art.ref, "cached": art.cached, "rows": art.rows,
            "removed_mentions_target": extra.get("removed_mentions_target"), "retain": extra.get("retain", {}),
            "general": extra.get("general", {}), "usage": extra.get("usage", {}),
            "per_category": {f"{e}/{c}/{s}": int(n) for (e, c, s), n in counts.items()}}

    def render() -> None:
        out_console.print(table(f"{art.ref}: {len(r)} retain questions", ["entity", "category", "split", "rows"],
                                [[e, c, s, n] for (e, c, s), n in counts.items()]))
        out_console.print(f"removed {extra.get('removed_mentions_target', 0)} retain question(s) naming the target; "
                          f"dropped: {extra.get('retain', {}).get('dropped', {})}")
        g = extra.get("general", {})
        out_console.print(f"general: {g.get('sampled')} of {g.get('available')} from {g.get('source')}")
        out_console.print(f"inspect: snap show {art.ref}")

    emit(data, render)


def register(app: typer.Typer) -> None:
    app.command("augment")(augment_cmd)
