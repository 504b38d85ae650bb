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
from pathlib import Path
from typing import Any, ClassVar, Literal

import pandas as pd

from snapcli.errors import RunFailed, SnapError
from snapcli.llm import LLMBackend, Sampling
from snapcli.stages.base import Context, Plan, StageDef
from snapcli.stages.options import BackendOptions
from snapcli.stages.spec import Text, Texts, option
from snapcli.stages.textutil import (
    FORGET_CATEGORIES,
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
from snapcli.store import StageWriter, Workspace
from snapcli.store.hashing import json_sha256
from snapcli.store.schema import register_table_schema

register_table_schema(
    "generate", "questions",
    ["entity", "question", "response", "prompt_category", "call_index", "backend", "model"],
)
register_table_schema("generate", "related", ["entity", "name", "kind", "rank"])

# responder auto: the LLM with a remote backend; the template writer in-process, because the embedded 135M
# model wrote something that even looks like a refusal for only 29% of 62 questions (docs/data-stages.md).
# Paper: 10 calls x 30 questions per category. The embedded 135M model on a CPU cannot write 30 questions in
# one reply and would take ~30 min for 10 calls; the in-process default is 2 calls x 10 questions (~2-3 min).
CALL_DEFAULTS = {"remote": {"calls": 10, "per_call": 30}, "in_process": {"calls": 2, "per_call": 10}}
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


ForgetCategory = Literal[tuple(FORGET_CATEGORIES)]  # type: ignore[valid-type]


class GenerateSpec(BackendOptions):
    """Generate questions about the target(s) and obliterated responses (paper 3.1, Table 7)."""

    stage: ClassVar[str] = "generate"

    entity: Texts = option(..., "Target to forget (repeat for several).", short="-e", top="entity",
                               min_length=1)
    alias: list[str] = option([], "Another name or description of the target (ENTITY=ALIAS with several "
                              "targets); used to mask, filter and judge.")
    categories: list[ForgetCategory] | None = option(
        None, "Prompt categories (comma list; default: general,5w1h,relational,open-ended,implicit,multi-hop).",
        csv=True)
    calls: int | None = option(None, "Calls per category, each continuing the chat (paper and openai default: 10; "
                               "in-process default: 2).", ge=1)
    per_call: int | None = option(None, "Questions asked for per call (paper and openai default: 30; in-process "
                                  "default: 10).", ge=1)
    k: int = option(0, "Also store the top-k related individuals and organizations (real people; paper: 10), for "
                    "snap augment.", ge=0, top="k")
    universe: Text = option(None, "Fictional universe of the target (e.g. \"Marvel series\"), for snap "
                                  "augment.", top="universe")
    responder: Literal["auto", "llm", "template"] = option(
        "auto", "llm: the response model writes each refusal (appendix E); template: deterministic offline "
        "refusals; auto: llm with the openai backend, template in-process (the 135M model rarely refuses).")
    question_model: str | None = option(None, "Model that writes questions (openai: gpt-4-turbo; hf: smollm2).")
    response_model: str | None = option(None, "Model that writes responses (openai: gpt-3.5-turbo; hf: smollm2).")
    temperature: float = option(QUESTION_TEMPERATURE, "Sampling temperature for questions.", ge=0)
    prompts: Path | None = option(None, "YAML file overriding the shipped prompt templates (same keys).")
    seed: int = option(0, "Sampling seed.", top="seed")

    def check(self) -> None:
        check_entities(self.entity, parse_aliases(self.alias, self.entity))


def plan(ws: Workspace, spec: GenerateSpec) -> Plan:
    """Cheap: picks the backend (no model load, no network) and the call budget; reads nothing big."""
    aliases = parse_aliases(spec.alias, spec.entity)
    entities = check_entities(spec.entity, aliases)
    backend, why = spec.make_backend(ws)
    responder = spec.responder
    if responder == "auto":
        responder = "template" if backend.in_process else "llm"
    defaults = CALL_DEFAULTS["in_process" if backend.in_process else "remote"]
    calls = defaults["calls"] if spec.calls is None else spec.calls
    per_call = defaults["per_call"] if spec.per_call is None else spec.per_call
    prompts = load_prompts(spec.prompts)
    params = {
        "entities": entities, "aliases": aliases, "categories": spec.categories or list(FORGET_CATEGORIES),
        "calls": calls, "per_call": per_call, "k": spec.k, "universe": spec.universe, "responder": responder,
        "backend": backend.name, "endpoint": backend.identity(), "question_model": spec.question_model,
        "response_model": spec.response_model if responder == "llm" else None, "temperature": spec.temperature,
        "seed": spec.seed, "prompts_sha256": json_sha256(prompts),
    }
    return Plan(params, {}, spec.seed, {"backend": backend, "why": why, "prompts": prompts, "aliases": aliases})


def build(w: StageWriter, spec: GenerateSpec, plan: Plan, ctx: Context) -> None:
    """Write the `questions`, `related`, `aliases` and `calls` tables."""
    p, backend, prompts, aliases = plan.params, plan.state["backend"], plan.state["prompts"], plan.state["aliases"]
    ctx.note(f"LLM backend: [bold]{backend.name}[/bold] ({plan.state['why']}); responder: {p['responder']}")
    entities, calls, per_call, seed = p["entities"], p["calls"], p["per_call"], p["seed"]
    qmodel = spec.question_model or backend.default_model("question")
    rmodel = (spec.response_model or backend.default_model("response")) if p["responder"] == "llm" else None
    fmt = prompts.get("format") or ""
    chats = []
    for e in entities:
        for cat in p["categories"]:
            text = fill(prompts["forget"][cat], entity=e, n=per_call)
            chats.append(Chat((e, cat), [{"role": "user", "content": f"{text}\n{fmt}".strip()}]))
    qs, log, dropped = write_questions(
        backend, qmodel, chats, calls=calls, per_call=per_call, more_prompt=prompts["more"],
        sampling=question_sampling(per_call, spec.temperature, seed), on_progress=ctx.on_progress,
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
    responses = obliterated_responses(backend, rmodel, rows, prompts, p["responder"], seed, ctx.on_progress)
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
        "responder": p["responder"],
    })
    w.write_table("questions", df)
    related = related_entities(backend, qmodel, entities, aliases, spec.k, spec.universe, prompts, seed, log)
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


DEF = StageDef("generate", GenerateSpec, plan, build)


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
