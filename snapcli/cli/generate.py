"""`snap generate`: negative instructions about one or more targets."""

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


def parse_aliases(values: list[str], entities: list[str]) -> dict[str, list[str]]:
    """'ALIAS' (one entity) or 'ENTITY=ALIAS' -> {entity: [aliases]}."""
    out: dict[str, list[str]] = {}
    for v in values:
        ent, sep, alias = v.partition("=")
        if not sep:
            if len(entities) != 1:
                raise SnapError(f"--alias {v!r}: with several entities write ENTITY=ALIAS")
            ent, alias = entities[0], v
        ent, alias = ent.strip(), alias.strip()
        if not alias:
            raise SnapError(f"--alias {v!r} is empty")
        out.setdefault(ent, []).append(alias)
    return out


def generate_cmd(
    entity: list[str] = typer.Option(..., "--entity", "-e", help="Target to forget (repeat for several)."),
    alias: list[str] = typer.Option([], "--alias", help="Another name or description of the target "
                                    "(ENTITY=ALIAS with several targets); used to mask, filter and judge."),
    categories: Optional[str] = typer.Option(None, "--categories", help="Prompt categories (comma list; "
                                             "default: general,5w1h,relational,open-ended,implicit,multi-hop)."),
    calls: Optional[int] = typer.Option(None, "--calls", help="Calls per category, each continuing the chat "
                                        "(paper and openai default: 10; local default: 2)."),
    per_call: Optional[int] = typer.Option(None, "--per-call", help="Questions asked for per call (paper and "
                                           "openai default: 30; local default: 10)."),
    k: int = typer.Option(0, "--k", help="Also store the top-k related individuals and organizations (real "
                          "people; paper: 10), for snap augment."),
    universe: Optional[str] = typer.Option(None, "--universe", help="Fictional universe of the target (e.g. "
                                           "\"Marvel series\"), for snap augment."),
    responder: str = typer.Option("auto", "--responder", help="llm: the response model writes each refusal "
                                  "(appendix E); template: deterministic offline refusals; auto: llm with the "
                                  "openai backend, template with the local one (the 135M model rarely refuses)."),
    backend: Optional[str] = backend_option(),
    base_url: Optional[str] = base_url_option(),
    question_model: Optional[str] = typer.Option(None, "--question-model", help="Model that writes questions "
                                                 "(openai: gpt-4-turbo; local: smollm2)."),
    response_model: Optional[str] = typer.Option(None, "--response-model", help="Model that writes responses "
                                                 "(openai: gpt-3.5-turbo; local: smollm2)."),
    temperature: float = typer.Option(0.7, "--temperature", min=0.0, help="Sampling temperature for questions."),
    concurrency: int = concurrency_option(),
    batch_size: int = batch_size_option(),
    device: Optional[str] = device_option(),
    prompts: Optional[Path] = typer.Option(None, "--prompts", help="YAML file overriding the shipped prompt "
                                           "templates (same keys)."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    force: bool = typer.Option(False, "--force", help="Run again even if an identical run is in the workspace."),
) -> None:
    """Generate questions about the target(s) and obliterated responses (paper 3.1, Table 7)."""
    from snapcli.stages.generate import FORGET_CATEGORIES, run_generate

    ents = [e.strip() for e in entity]
    if any(not e for e in ents):
        raise SnapError("--entity must not be empty")
    cats = parse_csv(categories, allowed=FORGET_CATEGORIES, what="category") or None
    if categories is not None and not cats:
        raise SnapError("--categories is empty")
    if k < 0:
        raise SnapError(f"--k must be >= 0 (got {k})")
    if responder not in ("auto", "llm", "template"):
        raise SnapError(f"unknown responder '{responder}' (choose from auto, llm, template)")
    aliases = parse_aliases(alias, ents)
    b = build_backend(backend, base_url, concurrency, device, batch_size)
    if responder == "auto":
        from snapcli.stages.generate import AUTO_RESPONDER

        responder = AUTO_RESPONDER.get(b.name, "llm")
        log(f"responder: {responder} (--responder llm|template to choose)")
    with stage_progress() as on_progress:
        art = run_generate(
            workspace(), entities=ents, backend=b, question_model=question_model, response_model=response_model,
            categories=cats, calls=calls, per_call=per_call, k=k, universe=universe, aliases=aliases,
            responder=responder, temperature=temperature, seed=seed, prompts_path=str(prompts) if prompts else None,
            force=force, on_progress=on_progress,
        )
    if art.cached:
        log(f"reused {art.ref} (same parameters; --force to run again)")
    q = art.read_df("questions")
    rel = art.read_df("related")
    extra = art.manifest.get("extra", {})
    counts = q.groupby(["entity", "prompt_category"]).size()
    data = {
        "ref": art.ref, "cached": art.cached, "rows": art.rows,
        "per_category": {f"{e}/{c}": int(n) for (e, c), n in counts.items()},
        "parse_dropped": extra.get("parse_dropped", {}), "related": rel.to_dict("records"),
        "usage": extra.get("usage", {}),
    }

    def render() -> None:
        out_console.print(table(f"{art.ref}: {len(q)} questions", ["entity", "category", "questions"],
                                [[e, c, n] for (e, c), n in counts.items()]))
        drops = extra.get("parse_dropped", {})
        if drops:
            out_console.print("dropped while parsing: " + ", ".join(f"{k2}={v}" for k2, v in sorted(drops.items())))
        if len(rel):
            out_console.print("related: " + "; ".join(f"{r.name} ({r.kind})" for r in rel.itertuples()))
        for m, u in extra.get("usage", {}).items():
            out_console.print(f"usage {m}: {u['requests']} requests ({u['cached']} cached), "
                              f"{u['prompt_tokens']} prompt + {u['completion_tokens']} completion tokens")
        out_console.print(f"inspect: snap show {art.ref}")

    emit(data, render)


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_cmd)
