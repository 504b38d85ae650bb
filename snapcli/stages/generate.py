"""snap generate: negative instructions (paper 3.1, Table 7, appendices C and E).

For each target and prompt category, a chat asks the question model for `per_call` questions, then keeps
asking for more in the same chat (`calls` times). Every question gets an obliterated response (appendix E's
instruction to the response model, or the offline template writer). With `k`, the top-k related individuals
and organizations are stored for `snap augment`; with `universe`, the target's fictional universe.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from snapcli.errors import RunFailed, SnapError
from snapcli.llm import LLMBackend, Sampling
from snapcli.stages.textutil import (
    FORGET_CATEGORIES,
    RELATED_KINDS,
    ProgressFn,
    fill,
    load_prompts,
    name_pattern,
    name_terms,
    parse_names,
    parse_questions,
    progress_counter,
    template_refusal,
)
from snapcli.store import Artifact, StageWriter, Workspace
from snapcli.store.hashing import json_sha256
from snapcli.store.schema import Column, register_table_schema

register_table_schema(
    "generate", "questions",
    [Column("entity", "string", nullable=False, blank=False), Column("question", "string", nullable=False),
     Column("response", "string", nullable=False),
     Column("prompt_category", "string", nullable=False, allowed=FORGET_CATEGORIES),
     Column("call_index", "integer", minimum=0), Column("backend", "string"), Column("model", "string")],
    min_rows=1,
)
register_table_schema(
    "generate", "related",
    [Column("entity", "string", nullable=False), Column("name", "string", nullable=False, blank=False),
     Column("kind", "string", nullable=False, allowed=RELATED_KINDS), Column("rank", "integer", minimum=0)],
)

RESPONDERS = ["auto", "llm", "template"]
# auto: the LLM with the openai backend; the template writer with the local one, because the embedded 135M
# model wrote something that even looks like a refusal for only 29% of 62 questions (docs/data-stages.md).
AUTO_RESPONDER = {"openai": "llm", "local": "template"}
# Paper: 10 calls x 30 questions per category. The embedded 135M model on a CPU cannot write 30 questions in
# one reply and would take ~30 min for 10 calls; the local default is 2 calls x 10 questions (~2-3 min).
CALL_DEFAULTS = {"openai": {"calls": 10, "per_call": 30}, "local": {"calls": 2, "per_call": 10}}
QUESTION_TEMPERATURE = 0.7  # variety between calls; the paper does not state one
REFUSAL_TEMPERATURE = 0.7
MAX_EMPTY_CALLS = 2  # stop a chat after this many consecutive replies with no new question



@dataclass
class Chat:
    """One running question-writing conversation (a target x category, or a retain subject x category)."""

    key: tuple[str, ...]
    messages: list[dict[str, str]]
    seen: set[str] = field(default_factory=set)
    empty_streak: int = 0


def write_questions(
    backend: LLMBackend,
    model: str,
    chats: list[Chat],
    *,
    calls: int,
    per_call: int,
    more_prompt: str,
    sampling: Sampling,
    on_progress: ProgressFn | None = None,
    phase: str = "questions",
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Counter]:
    """Run all chats for `calls` rounds, batching one request per chat per round.

    Returns (questions, call log, dropped-by-reason). Each question dict has key, question, call_index,
    item_index. A chat stops early after MAX_EMPTY_CALLS replies that add nothing new.
    """
    from snapcli.stages.textutil import normalize

    questions: list[dict[str, Any]] = []
    log: list[dict[str, Any]] = []
    dropped: Counter = Counter()
    total = calls * len(chats)
    done = 0
    if on_progress:
        on_progress(phase, 0, total)
    for r in range(calls):
        active = [c for c in chats if c.empty_streak < MAX_EMPTY_CALLS]
        if not active:
            break
        replies = backend.chat_many(model, [c.messages for c in active], sampling)
        for chat, rep in zip(active, replies, strict=True):
            items, drops = parse_questions(rep.text)
            new = 0
            for it in items:
                norm = normalize(it)
                if norm in chat.seen:
                    drops["repeated"] += 1
                    continue
                chat.seen.add(norm)
                questions.append({"key": chat.key, "question": it, "call_index": r, "item_index": new})
                new += 1
            dropped.update(drops)
            chat.empty_streak = 0 if new else chat.empty_streak + 1
            log.append({"key": chat.key, "call_index": r, "prompt": chat.messages[-1]["content"], "reply": rep.text,
                        "parsed": new, "dropped": sum(drops.values()),
                        "dropped_reasons": json.dumps(dict(drops), sort_keys=True), "cached": rep.cached})
            chat.messages = [*chat.messages, {"role": "assistant", "content": rep.text},
                             {"role": "user", "content": fill(more_prompt, n=per_call)}]
        done += len(chats)
        if on_progress:
            on_progress(phase, done, total)
    return questions, log, dropped


def question_sampling(per_call: int, temperature: float, seed: int) -> Sampling:
    # ~25 tokens per question plus slack; a degenerate reply then stops early instead of running for minutes
    return Sampling(temperature=temperature, top_p=0.95, max_tokens=min(4096, 32 * per_call + 48), seed=seed)


def obliterated_responses(
    backend: LLMBackend | None, model: str | None, rows: list[dict[str, Any]], prompts: dict[str, Any],
    responder: str, seed: int, on_progress: ProgressFn | None = None,
) -> list[str]:
    """Appendix E responses: the LLM asked to decline, or the deterministic template writer."""
    if responder == "template":
        pats = {e: name_pattern(name_terms(e, rows_aliases)) for e, rows_aliases in _aliases_of(rows).items()}
        out = [template_refusal(r["question"], pats.get(r["entity"]), seed) for r in rows]
        if on_progress:
            on_progress("responses", len(rows), len(rows))
        return out
    assert backend is not None and model is not None
    convs = [[{"role": "user", "content": fill(prompts["obliterate"], question=r["question"], entity=r["entity"])}]
             for r in rows]
    tick = progress_counter(on_progress, "responses", len(rows))
    replies = backend.chat_many(model, convs, Sampling(REFUSAL_TEMPERATURE, 0.95, 160, seed), on_done=tick)
    return [c.text for c in replies]


def _aliases_of(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r["entity"], list(r.get("aliases", [])))
    return out


def check_entities(entities: list[str], aliases: dict[str, list[str]]) -> list[str]:
    ents = [e.strip() for e in entities]
    if not ents:
        raise SnapError("give at least one --entity NAME")
    if any(not e for e in ents):
        raise SnapError("--entity must not be empty")
    if len(set(ents)) != len(ents):
        raise SnapError("the same --entity was given twice")
    unknown = [e for e in aliases if e not in ents]
    if unknown:
        raise SnapError(f"--alias names unknown entity {unknown[0]!r} (entities: {', '.join(ents)})")
    return ents


def run_generate(
    ws: Workspace,
    *,
    entities: list[str],
    backend: LLMBackend | None,
    question_model: str | None = None,
    response_model: str | None = None,
    categories: list[str] | None = None,
    calls: int | None = None,
    per_call: int | None = None,
    k: int = 0,
    universe: str | None = None,
    aliases: dict[str, list[str]] | None = None,
    responder: str = "auto",
    temperature: float = QUESTION_TEMPERATURE,
    seed: int = 0,
    prompts_path: str | None = None,
    force: bool = False,
    on_progress: ProgressFn | None = None,
) -> Artifact:
    """Write the `questions`, `related`, `aliases` and `calls` tables as one generate artifact."""
    aliases = {e: list(v) for e, v in (aliases or {}).items()}
    entities = check_entities(entities, aliases)
    categories = categories or list(FORGET_CATEGORIES)
    bad = [c for c in categories if c not in FORGET_CATEGORIES]
    if bad:
        raise SnapError(f"unknown category {', '.join(bad)} (choose from {', '.join(FORGET_CATEGORIES)})")
    if k < 0:
        raise SnapError(f"--k must be >= 0 (got {k})")
    if responder not in RESPONDERS:
        raise SnapError(f"unknown responder '{responder}' (choose from {', '.join(RESPONDERS)})")
    if backend is None:
        raise SnapError("generate needs an LLM backend to write questions")
    if responder == "auto":
        responder = AUTO_RESPONDER.get(backend.name, "llm")
    defaults = CALL_DEFAULTS.get(backend.name, CALL_DEFAULTS["openai"])
    calls = defaults["calls"] if calls is None else calls
    per_call = defaults["per_call"] if per_call is None else per_call
    if calls < 1 or per_call < 1:
        raise SnapError(f"--calls and --per-call must be >= 1 (got {calls}, {per_call})")
    if universe is not None and not universe.strip():
        raise SnapError("--universe must not be empty")
    prompts = load_prompts(prompts_path)
    qmodel = question_model or backend.default_model("question")
    rmodel = (response_model or backend.default_model("response")) if responder == "llm" else None

    params = {
        "entities": entities, "aliases": aliases, "categories": categories, "calls": calls, "per_call": per_call,
        "k": k, "universe": universe, "responder": responder, "backend": backend.name,
        "endpoint": backend.identity(), "question_model": qmodel, "response_model": rmodel,
        "temperature": temperature, "seed": seed, "prompts_sha256": json_sha256(prompts),
    }

    def build(w: StageWriter) -> None:
        fmt = prompts.get("format") or ""
        chats = []
        for e in entities:
            for cat in categories:
                text = fill(prompts["forget"][cat], entity=e, n=per_call)
                chats.append(Chat((e, cat), [{"role": "user", "content": f"{text}\n{fmt}".strip()}]))
        qs, log, dropped = write_questions(
            backend, qmodel, chats, calls=calls, per_call=per_call, more_prompt=prompts["more"],
            sampling=question_sampling(per_call, temperature, seed), on_progress=on_progress,
        )
        per_entity = Counter(q["key"][0] for q in qs)
        empty = [e for e in entities if not per_entity[e]]
        if empty:
            sample = next((x["reply"] for x in log if x["key"][0] == empty[0]), "")
            raise RunFailed(
                f"{backend.describe(qmodel)} returned no parseable questions for {empty[0]!r} in "
                f"{calls} call(s) per category (first reply: {' '.join(sample.split())[:120]!r})"
            )
        rows = [{"entity": q["key"][0], "prompt_category": q["key"][1], "question": q["question"],
                 "call_index": q["call_index"], "item_index": q["item_index"], "aliases": aliases.get(q["key"][0], [])}
                for q in qs]
        responses = obliterated_responses(backend, rmodel, rows, prompts, responder, seed, on_progress)
        empty_resp = sum(1 for r in responses if not r.strip())
        df = pd.DataFrame({
            "entity": [r["entity"] for r in rows],
            "question": [r["question"] for r in rows],
            "response": responses,
            "prompt_category": [r["prompt_category"] for r in rows],
            "call_index": pd.array([r["call_index"] for r in rows], dtype="int32"),
            "item_index": pd.array([r["item_index"] for r in rows], dtype="int32"),
            "backend": backend.name,
            "model": qmodel,
            "response_model": rmodel if rmodel else "template",
            "responder": responder,
        })
        w.write_table("questions", df)
        related = related_entities(backend, qmodel, entities, aliases, k, universe, prompts, seed, log)
        w.write_table("related", pd.DataFrame(related, columns=["entity", "name", "kind", "rank"]).astype(
            {"rank": "int32"}))
        alias_rows = [{"entity": e, "alias": t, "source": "user" if t in aliases.get(e, []) else "name"}
                      for e in entities for t in name_terms(e, aliases.get(e, [])) if t != e]
        w.write_table("aliases", pd.DataFrame(alias_rows, columns=["entity", "alias", "source"]))
        w.write_table("calls", pd.DataFrame([
            {"entity": x["key"][0], "prompt_category": x["key"][1] if len(x["key"]) > 1 else "",
             **{k2: v for k2, v in x.items() if k2 != "key"}} for x in log
        ]))
        w.extra.update({
            "usage": backend.usage.to_dict(),
            "parse_dropped": dict(dropped),
            "questions_per_entity": dict(per_entity),
            "empty_responses": empty_resp,
            "backend": backend.describe(qmodel),
        })

    return ws.run_stage("generate", params=params, fn=build, force=force, seed=seed)


def related_entities(
    backend: LLMBackend, model: str, entities: list[str], aliases: dict[str, list[str]], k: int,
    universe: str | None, prompts: dict[str, Any], seed: int, log: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Appendix C: the top-k related individuals and organizations per target, plus the universe if given."""
    rows: list[dict[str, Any]] = []
    if universe:
        rows += [{"entity": e, "name": universe.strip(), "kind": "universe", "rank": 0} for e in entities]
    if k <= 0:
        return rows
    jobs = [(e, kind) for e in entities for kind in ("individual", "organization")]
    convs = [[{"role": "user", "content": fill(prompts["related"][kind], entity=e, k=k)}] for e, kind in jobs]
    replies = backend.chat_many(model, convs, Sampling(0.0, 1.0, 24 * k + 48, seed))
    for (e, kind), conv, rep in zip(jobs, convs, replies, strict=True):
        names = parse_names(rep.text, exclude=[e, *aliases.get(e, [])], limit=k)
        rows += [{"entity": e, "name": n, "kind": kind, "rank": i + 1} for i, n in enumerate(names)]
        log.append({"key": (e, f"related:{kind}"), "call_index": 0, "prompt": conv[0]["content"],
                    "reply": rep.text, "parsed": len(names), "dropped": 0, "dropped_reasons": "{}",
                    "cached": rep.cached})
    return rows
