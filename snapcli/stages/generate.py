"""snap generate: negative instructions (paper 3.1, Table 7, appendices C and E), broad whatever the writer.

Per target, four sources (issue 11):

1. **What the model knows.** The model being unlearned (`--model`) is probed, greedy and batched, with broad
   questions for the target's kind (snapcli.datagen.knowledge); its answers are kept as the `knowledge` table (the
   reference for leakage) and give the facts, descriptions and related entities the other sources use. The kind
   (person, organization, creative_work, fictional_character, place, event) is detected unless `--kind` is given.
2. **The question bank** (snapcli/data/bank): hand-written frames per kind and category, filled with the target's
   names and the facts the model stated: coverage that does not depend on the writer's strength.
3. **Derived questions**: implicit and multi-hop questions built from the stated facts (descriptions instead of the
   name).
4. **LLM-written questions** (the paper's Table 7 prompts): a chat asks the question model for `per_call`
   questions per category, then keeps asking for more (`calls` times).

`--questions N` is the budget per target and `--bank-ratio` the bank's share of it; when the writer yields less
than its share, more bank frames fill the gap (counted in the manifest). Every question gets an obliterated
response: appendix E's instruction to the response model, or the offline refusal writer (multilingual and
task-aware, snapcli.datagen.refusals). Related entities for `snap augment` are the people, organizations and places
the model mentions, merged with the LLM's top-k (appendix C) and `--related`; with `--universe`, the target's
fictional universe.
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
    RELATED_KINDS,
    ProgressFn,
    fill,
    load_prompts,
    name_terms,
    parse_names,
    parse_questions,
    progress_counter,
)
from snapcli.store import StageWriter, Workspace
from snapcli.store.hashing import file_sha256, json_sha256
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

# responder auto: the LLM with a remote backend; the template writer in-process, because the embedded 135M
# model wrote something that even looks like a refusal for only 29% of 62 questions (docs/data-stages.md).
# Paper: 10 calls x 30 questions per category. The embedded 135M model on a CPU cannot write 30 questions in
# one reply and would take ~30 min for 10 calls; the in-process default is 2 calls x 10 questions (~2-3 min).
CALL_DEFAULTS = {"remote": {"calls": 10, "per_call": 30}, "in_process": {"calls": 1, "per_call": 10}}
# The bank's default share of the question budget: a weak in-process writer (the embedded 135M model) writes few,
# narrow questions (33 usable of ~120 asked, docs/data-stages.md), a strong remote one (gpt-4-turbo) broad ones.
BANK_RATIO = {"remote": 0.3, "in_process": 0.8}
DEFAULT_MODEL = "smollm2"
PROMPT_CATEGORY = {"factual": "general", "relational": "relational", "open-ended": "open-ended",
                   "implicit": "implicit", "multi-hop": "multi-hop"}
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
    responder: str, seed: int, on_progress: ProgressFn | None = None, *, aliases: dict[str, list[str]] | None = None,
    kinds: dict[str, str] | None = None,
) -> list[str]:
    """Appendix E responses: the LLM asked to decline, or the deterministic refusal writer (in the question's
    language, snapcli.datagen.refusals)."""
    if responder == "template":
        from snapcli.datagen.refusals import refusal, refusal_langs

        langs = set(refusal_langs())
        aliases, kinds = aliases or {}, kinds or {}
        out = [refusal(r["question"], r.get("lang") if r.get("lang") in langs else "en",
                       names=[r["entity"], *aliases.get(r["entity"], [])], kind=kinds.get(r["entity"], "person"),
                       seed=seed) for r in rows]
        if on_progress:
            on_progress("responses", len(rows), len(rows))
        return out
    assert backend is not None and model is not None
    convs = [[{"role": "user", "content": fill(prompts["obliterate"], question=r["question"], entity=r["entity"])}]
             for r in rows]
    tick = progress_counter(on_progress, "responses", len(rows))
    replies = backend.chat_many(model, convs, Sampling(REFUSAL_TEMPERATURE, 0.95, 160, seed), on_done=tick)
    return [c.text for c in replies]


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
Kind = Literal["person", "organization", "creative_work", "fictional_character", "place", "event"]


class GenerateSpec(BackendOptions):
    """Generate questions about the target(s) and obliterated responses (paper 3.1, Table 7; issue 11)."""

    stage: ClassVar[str] = "generate"

    entity: Texts = option(..., "Target to forget (repeat for several).", short="-e", top="entity",
                           min_length=1)
    alias: list[str] = option([], "Another name or description of the target (ENTITY=ALIAS with several "
                              "targets); used to mask, filter and judge.")
    kind: Kind | None = option(None, "What the target is: person, organization, creative_work, "
                               "fictional_character, place, event (default: detected from the model's answers).",
                               top="kind")
    model: str = option(DEFAULT_MODEL, "The model being unlearned: it is probed for what it knows about the target "
                        "(its answers are the leakage reference and feed the bank and the related entities).",
                        short="-m", top="model")
    probe: bool = option(True, "Probe --model for what it knows (--no-probe: bank frames need no facts, related "
                         "entities come from the LLM and --related only).")
    questions: int = option(200, "Question budget per target (before deduplication).", ge=1)
    bank_ratio: float | None = option(None, "Share of the budget taken from the question bank (default: 0.8 with "
                                      "an in-process writer, 0.3 with a remote one); the writer's shortfall is "
                                      "filled from the bank too.", ge=0, le=1)
    bank: list[Path] = option([], "Extra question-bank YAML file (same layout as snapcli/data/bank; repeat).")
    derived: int = option(40, "Implicit and multi-hop questions derived from the facts the model stated (0 = "
                          "none).", ge=0)
    categories: list[ForgetCategory] | None = option(
        None, "Prompt categories for LLM-written questions (comma list; default: general,5w1h,relational,"
        "open-ended,implicit,multi-hop).", csv=True)
    calls: int | None = option(None, "LLM calls per category, each continuing the chat (paper and remote default: "
                               "10; in-process default: 1; 0 = no LLM-written questions).", ge=0)
    per_call: int | None = option(None, "Questions asked for per call (paper and remote default: 30; in-process "
                                  "default: the LLM's share of --questions).", ge=1)
    k: int = option(10, "Related individuals, organizations and places to keep for hard retaining data (paper: "
                    "10).", ge=0, top="k")
    related: list[str] = option([], "Related subjects you know of, kept first (\"A; B\" or repeat).",
                                top="related")
    universe: Text = option(None, "Fictional universe of the target (e.g. \"Marvel series\"), for snap augment.",
                            top="universe")
    responder: Literal["auto", "llm", "template"] = option(
        "auto", "llm: the response model writes each refusal (appendix E); template: deterministic offline "
        "refusals in the question's language; auto: llm with a remote backend, template in-process (the 135M "
        "model rarely refuses).")
    question_model: str | None = option(None, "Model that writes questions (openai: gpt-4-turbo; hf: smollm2).")
    response_model: str | None = option(None, "Model that writes responses (openai: gpt-3.5-turbo; hf: smollm2).")
    likelihood_check: bool = option(False, "Also keep a description of the target whose answer names someone else "
                                    "when the model finds the target's name a likelier reply than any neighbour's "
                                    "(in-process --model only). Off by default: held-out marie-curie UA 76.9 -> "
                                    "84.6, UA-multihop 0 -> 25, but RA 86.7 -> 70.0 (docs/data-stages.md).")
    probe_tokens: int = option(96, "Tokens per probe answer.", ge=8)
    temperature: float = option(QUESTION_TEMPERATURE, "Sampling temperature for questions.", ge=0)
    prompts: Path | None = option(None, "YAML file overriding the shipped prompt templates (same keys).")
    seed: int = option(0, "Sampling seed.", ge=0, top="seed")

    def check(self) -> None:
        check_entities(self.entity, parse_aliases(self.alias, self.entity))
        from snapcli.datagen.bank import bank_file

        for p in self.bank:
            bank_file(p)


def plan(ws: Workspace, spec: GenerateSpec) -> Plan:
    """Cheap: picks the backends (no model load, no network) and the budgets; reads nothing big."""
    from snapcli.datagen.bank import load_bank, read_bank_file
    from snapcli.models import resolve_model

    aliases = parse_aliases(spec.alias, spec.entity)
    entities = check_entities(spec.entity, aliases)
    backend, why = spec.make_backend(ws)
    where = "in_process" if backend.in_process else "remote"
    responder = spec.responder if spec.responder != "auto" else ("template" if backend.in_process else "llm")
    ratio = BANK_RATIO[where] if spec.bank_ratio is None else spec.bank_ratio
    cats = list(spec.categories or FORGET_CATEGORIES)
    llm_share = spec.questions - round(ratio * spec.questions)
    calls = CALL_DEFAULTS[where]["calls"] if spec.calls is None else spec.calls
    if spec.per_call is not None:
        per_call = spec.per_call
    elif where == "remote":
        per_call = CALL_DEFAULTS[where]["per_call"]
    else:
        per_call = max(1, -(-llm_share // max(1, calls * len(cats))))
    if llm_share == 0:
        calls = 0
    if calls == 0 and ratio == 0 and not (spec.derived and spec.probe):
        raise SnapError("nothing to write: --calls 0 and --bank-ratio 0 leave no question source "
                        f"({'--no-probe' if not spec.probe else '--derived 0'} turns off the derived questions too); "
                        "raise --bank-ratio or --calls")
    # a broken --bank file fails here, not after probing (whatever kind is detected)
    bank_kinds = {str(p): sorted({f.kind for f in read_bank_file(p)}) for p in spec.bank}
    if spec.kind:
        load_bank(spec.kind, extra=[str(p) for p in spec.bank])
        for path, kinds in bank_kinds.items():
            if spec.kind not in kinds:
                raise SnapError(f"--bank {path}: no {spec.kind} frames (it holds {', '.join(kinds) or 'none'}); "
                                f"frames of another kind than --kind are never used")
    prompts = load_prompts(spec.prompts)
    probe_model = resolve_model(spec.model, ws).path_or_id if spec.probe else None
    params = {
        "entities": entities, "aliases": aliases, "calls": calls, "per_call": per_call, "bank_ratio": ratio,
        "bank_files": {str(p): file_sha256(p) for p in spec.bank}, "responder": responder,
        "backend": backend.name, "endpoint": backend.identity(), "probe_model": probe_model,
        "response_model": spec.response_model if responder == "llm" else None,
        "prompts_sha256": json_sha256(prompts), "categories": cats,
    }
    return Plan(params, {}, spec.seed, {"backend": backend, "why": why, "prompts": prompts, "aliases": aliases,
                                        "ws": ws, "bank_kinds": bank_kinds})


def _probe_backend(ws: Workspace, spec: GenerateSpec, writer: LLMBackend) -> LLMBackend:
    """The model being unlearned runs here: the writer itself when it runs in-process, else the hf backend."""
    if writer.in_process:
        return writer
    from snapcli.llm import make_backend

    return make_backend("hf", ws, device=spec.device, dtype=spec.dtype, batch_size=spec.batch_size)[0]


# the RankedEntity kind (snapcli.datagen.knowledge) of the things a description of a target of each kind could denote
_ENTITY_KIND = {"person": "person", "fictional_character": "person", "organization": "organization",
                "creative_work": "creative_work", "place": "place", "event": "event"}


def _scorer(backend: LLMBackend, model: str):
    """Reply log-likelihoods on the model being unlearned (snapcli.models.scoring), or None when it does not run
    in this process as a transformers model (a server, vLLM): the description check then reads answers only."""
    loaded = getattr(backend, "loaded", None)
    if loaded is None:
        return None
    from snapcli.models.scoring import reply_logprobs

    def score(messages, replies):
        m, tok = loaded(model)
        return reply_logprobs(m, tok, messages, replies)

    return score


def build(w: StageWriter, spec: GenerateSpec, plan: Plan, ctx: Context) -> None:
    """Write `questions`, `knowledge`, `targets`, `resolution`, `related`, `aliases` and `calls`."""
    from snapcli.datagen.bank import bank_rows
    from snapcli.datagen.chatfn import backend_chat
    from snapcli.datagen.derive import derived_questions
    from snapcli.datagen.knowledge import Knowledge, extract, probe_target
    from snapcli.datagen.neighbours import field_of
    from snapcli.datagen.related import TABLE_KIND, rank_related
    from snapcli.datagen.resolve import check_descriptions, check_questions, contrast_names

    p, backend, prompts, aliases = plan.params, plan.state["backend"], plan.state["prompts"], plan.state["aliases"]
    ctx.note(f"LLM backend: [bold]{backend.name}[/bold] ({plan.state['why']}); responder: {p['responder']}")
    entities, calls, per_call, seed = p["entities"], p["calls"], p["per_call"], spec.seed
    qmodel = spec.question_model or backend.default_model("question")
    rmodel = (spec.response_model or backend.default_model("response")) if p["responder"] == "llm" else None
    bank_files = [str(b) for b in spec.bank]

    # 1. what the model knows
    knowledge: dict[str, Knowledge] = {}
    know_frames = []
    chat = None
    checked: dict[str, dict[str, list[dict[str, Any]]]] = {e: {"descriptions": [], "questions": []} for e in entities}
    if spec.probe:
        probe_backend = _probe_backend(plan.state["ws"], spec, backend)
        chat = backend_chat(probe_backend, spec.model)
        scorer = _scorer(probe_backend, spec.model) if spec.likelihood_check else None
        if spec.likelihood_check and scorer is None:
            ctx.note(f"[yellow]warning[/yellow]: --likelihood-check needs --model in this process "
                     f"({probe_backend.name} backend): descriptions are checked by the answer alone")
        kind_chat = None if backend.in_process else backend_chat(backend, qmodel)
        for i, e in enumerate(entities):
            ctx.progress("probing the model", i, len(entities))
            table, know = probe_target(chat, e, kind=spec.kind, aliases=aliases.get(e, []),
                                       max_new_tokens=spec.probe_tokens, batch_size=spec.batch_size,
                                       kind_chat=kind_chat)
            # descriptions the model resolves to someone else ("the co-founder of Apple") are not the target's
            kind = spec.kind or know.kind_guess or "person"
            names = [e, *aliases.get(e, [])]
            contrast = contrast_names(kind, field_of(" ".join(know.descriptions[:3]), kind), names,
                                      [x.name for x in know.entities if x.kind == _ENTITY_KIND[kind]][:8]
                                      ) if scorer is not None else []
            kept, checks = check_descriptions(chat, know.facts.get("description", []), names, kind,
                                              batch_size=spec.batch_size, scorer=scorer, contrast=contrast)
            know.facts["description"] = kept
            checked[e]["descriptions"] = [c.to_dict() for c in checks]
            knowledge[e] = know
            know_frames.append(table.assign(entity=e, model=spec.model))
        ctx.progress("probing the model", len(entities), len(entities))
    else:
        for e in entities:
            know = extract(e, pd.DataFrame({"question": [], "base_answer": []}), aliases=aliases.get(e, []),
                           kind=spec.kind or "person")
            knowledge[e] = know

    # 2.-4. the question sources
    rows: list[dict[str, Any]] = []
    log: list[dict[str, Any]] = []
    dropped: Counter = Counter()
    cats = p["categories"]
    if calls > 0:
        fmt = prompts.get("format") or ""
        chats = [Chat((e, cat), [{"role": "user", "content": f"{fill(prompts['forget'][cat], entity=e, n=per_call)}"
                                                             f"\n{fmt}".strip()}])
                 for e in entities for cat in cats]
        qs, log, dropped = write_questions(
            backend, qmodel, chats, calls=calls, per_call=per_call, more_prompt=prompts["more"],
            sampling=question_sampling(per_call, spec.temperature, seed), on_progress=ctx.on_progress,
        )
        rows += [{"entity": q["key"][0], "prompt_category": q["key"][1], "question": q["question"],
                  "category": None, "source": "llm", "call_index": q["call_index"], "item_index": q["item_index"]}
                 for q in qs]
    topped_up: dict[str, int] = {}
    targets = []
    for e in entities:
        know = knowledge[e]
        kind = spec.kind or know.kind_guess or "person"
        names = [e, *aliases.get(e, [])]
        written = sum(1 for r in rows if r["entity"] == e)
        derived = derived_questions(know, names, n=spec.derived, seed=seed) if spec.derived else pd.DataFrame()
        # the bank's share, plus what the writer and the derived questions left of the budget (--bank-ratio 0: none)
        bank_n = max(0, spec.questions - written - len(derived)) if p["bank_ratio"] > 0 else 0
        topped_up[e] = max(0, bank_n - round(p["bank_ratio"] * spec.questions))
        filled = bank_rows(kind, names, know.facts, n=bank_n, seed=seed, extra=bank_files) if bank_n else []
        if chat is not None and filled:
            # room for the unnamed questions the check below may drop: a longer fill starts with the same rows
            slack = sum(1 for r in filled if r.get("name") is None)
            if slack:
                filled = bank_rows(kind, names, know.facts, n=bank_n + slack, seed=seed, extra=bank_files)
        mine = [{"entity": e, "prompt_category": PROMPT_CATEGORY[r["category"]], "question": r["question"],
                 "category": r["category"], "source": "bank", "frame_id": r["frame_id"], "facet": r["facet"],
                 "lang": r.get("lang", "en"), "call_index": None, "item_index": j,
                 "description": (r.get("slots") or {}).get("description")} for j, r in enumerate(filled)]
        mine += [{"entity": e, "prompt_category": PROMPT_CATEGORY[r["category"]], "question": r["question"],
                  "category": r["category"], "source": "model_knowledge", "frame_id": r.get("frame_id"),
                  "facet": r.get("facet"), "call_index": None, "item_index": j, "description": r.get("description"),
                  "facts": [str(x) for x in r["facts"]] if isinstance(r.get("facts"), (list, tuple)) else None}
                 for j, r in enumerate(derived.to_dict("records"))]
        if chat is not None:
            # an unnamed question is the target's only if the model answers it with the target (datagen.resolve)
            written_rows = [r for r in rows if r["entity"] == e]
            rows = [r for r in rows if r["entity"] != e]
            keep, checks = check_questions(chat, written_rows + mine, names, kind,
                                           trusted=know.facts.get("description", []), batch_size=spec.batch_size)
            checked[e]["questions"] = [c.to_dict() for c in checks]
            kept = [r for r, k in zip(written_rows + mine, keep, strict=True) if k]
            bank_kept = {id(r) for r in [r for r in kept if r["source"] == "bank"][:bank_n]}
            mine = [r for r in kept if r["source"] != "bank" or id(r) in bank_kept]
        rows += mine
        field = (know.facts.get("field") or [None])[0] or field_of(" ".join(know.descriptions[:3]), kind)
        targets.append({"entity": e, "kind": kind, "kind_why": getattr(know, "kind_why", "given" if spec.kind
                                                                          else "detected"),
                        "field": field, "aliases": list(aliases.get(e, [])), "descriptions": know.descriptions[:6],
                        "probed": bool(spec.probe)})
    per_entity = Counter(r["entity"] for r in rows)
    empty = [e for e in entities if not per_entity[e]]
    if empty:
        e = empty[0]
        sample = next((x["reply"] for x in log if x["key"][0] == e), "")
        why = ["the bank is off (--bank-ratio 0)" if p["bank_ratio"] == 0 else
               f"the bank has no usable frame for a {next(t['kind'] for t in targets if t['entity'] == e)}",
               "no LLM-written questions (--calls 0)" if calls == 0 else
               f"{backend.describe(qmodel)} wrote nothing parseable (first reply: {' '.join(sample.split())[:120]!r})",
               "the derived questions are off" if not (spec.derived and spec.probe) else
               "the model stated no fact to derive a question from"]
        raise RunFailed(f"no question for {e!r}: {'; '.join(why)}")

    # responses
    kinds = {t["entity"]: t["kind"] for t in targets}
    responses = obliterated_responses(backend, rmodel, rows, prompts, p["responder"], seed, ctx.on_progress,
                                      aliases=aliases, kinds=kinds)
    df = pd.DataFrame(rows)
    for col, default in (("frame_id", None), ("facet", None), ("lang", "en"), ("description", None)):
        if col not in df.columns:
            df[col] = default
    df["response"] = responses
    df["lang"] = df["lang"].fillna("en")
    df["call_index"] = pd.array(df["call_index"], dtype="Int32")  # null: not LLM-written
    df["item_index"] = pd.array(df["item_index"], dtype="int32")
    df["backend"] = backend.name
    df["model"] = qmodel
    df["response_model"] = rmodel if rmodel else "template"
    df["responder"] = p["responder"]
    if "facts" not in df.columns:
        df["facts"] = None
    df["facts"] = df["facts"].map(lambda f: list(f) if isinstance(f, (list, tuple)) and len(f) else None)
    cols = ["entity", "question", "response", "prompt_category", "category", "source", "frame_id", "facet", "lang",
            "description", "facts", "call_index", "item_index", "backend", "model", "response_model", "responder"]
    w.write_table("questions", df[cols])

    # related entities: the model's, the LLM's (appendix C) and the user's
    llm_related = related_entities(backend, qmodel, entities, aliases, spec.k, None, prompts, seed, log) \
        if spec.k and calls > 0 else []
    related = [{"entity": e, "name": spec.universe, "kind": "universe", "rank": 0, "source": "user"}
               for e in entities if spec.universe]
    for e in entities:
        suggested = [(r["name"], r["kind"]) for r in llm_related if r["entity"] == e]
        ranked = rank_related(knowledge[e], llm_suggested=suggested, user=spec.related, k=spec.k,
                              names=aliases.get(e, []))
        related += [{"entity": e, "name": r["name"], "kind": TABLE_KIND.get(r["kind"], r["kind"]), "rank": r["rank"],
                     "source": r["source"]} for r in ranked]
    w.write_table("related", pd.DataFrame(related, columns=["entity", "name", "kind", "rank", "source"]).astype(
        {"rank": "int32"}))
    w.write_table("targets", pd.DataFrame(targets))
    # every check of datagen.resolve; the unresolved ones become near-miss retain questions in snap augment
    w.write_table("resolution", pd.DataFrame(
        [{"entity": e, "check": check[:-1], **c} for e, v in checked.items() for check in ("descriptions", "questions")
         for c in v[check]], columns=["entity", "check", "question", "answer", "resolved", "by", "margin", "rival"]
    ).astype({"margin": "float64"}))
    know_df = pd.concat(know_frames, ignore_index=True) if know_frames else pd.DataFrame(
        columns=["entity", "question", "base_answer", "facet", "model"])
    w.write_table("knowledge", know_df)
    alias_rows = [{"entity": e, "alias": t, "source": "user" if t in aliases.get(e, []) else "name"}
                  for e in entities for t in name_terms(e, aliases.get(e, [])) if t != e]
    w.write_table("aliases", pd.DataFrame(alias_rows, columns=["entity", "alias", "source"]))
    w.write_table("calls", pd.DataFrame([
        {"entity": x["key"][0], "prompt_category": x["key"][1] if len(x["key"]) > 1 else "",
         **{k2: v for k2, v in x.items() if k2 != "key"}} for x in log
    ], columns=["entity", "prompt_category", "call_index", "prompt", "reply", "parsed", "dropped",
                "dropped_reasons", "cached"]))
    found = {e: sum(1 for r in related if r["entity"] == e and r["kind"] != "universe") for e in entities}
    w.extra.update({
        "usage": backend.usage.to_dict(),
        "parse_dropped": dict(dropped),
        "questions_per_entity": dict(per_entity),
        "sources": {f"{e}/{s}": int(n) for (e, s), n in Counter((r["entity"], r["source"]) for r in rows).items()},
        "bank_topped_up": topped_up,
        "related_found": found,
        "knowledge": {e: k.to_dict() for e, k in knowledge.items()},
        # unnamed questions and descriptions asked of the model; resolved=False ones were left out (datagen.resolve)
        "resolution": checked,
        "unresolved_dropped": {e: sum(1 for c in v["questions"] if not c["resolved"]) for e, v in checked.items()},
        "backend": backend.describe(qmodel),
    })
    notes = [f"{e}: nothing related found (k={spec.k}); snap augment falls back to neighbours of the same kind and "
             "everyday instructions (--related \"A; B\" names some)" for e, n in found.items() if spec.k and n == 0]
    # a --bank file of another kind than the detected one adds nothing: say so rather than drop it silently
    notes += [f"{t['entity']}: --bank {path} added nothing: it holds {', '.join(kinds)} frames and the target was "
              f"detected as a {t['kind']} (--kind sets the kind)"
              for t in targets for path, kinds in plan.state["bank_kinds"].items() if t["kind"] not in kinds]
    w.extra["warnings"] = notes
    for n in notes:
        ctx.note(f"[yellow]note[/yellow]: {n}")


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
