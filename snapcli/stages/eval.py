"""Stage "eval": generate answers on the forget / retain / general eval splits, judge them, compute metrics.

One eval artifact holds one *method* (a model, or several seeds of one method = several runs): table
`generations` (every question, response and verdict, for auditing) and table `metrics` (long format, per run and
mean/std over runs). Paper section 4.2-4.3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import pandas as pd
from pydantic import AfterValidator

from snapcli.errors import SnapError
from snapcli.evaluate.metrics import (
    MULTIHOP,
    SCORING_VERSION,
    aggregate,
    fact_recall,
    gold_fact_scores,
    is_leak,
    metrics_table,
)
from snapcli.stages.base import Context, Plan, StageDef
from snapcli.stages.options import Backend, BackendOptions
from snapcli.stages.spec import Finite, Text, option
from snapcli.store import Artifact, StageWriter, Workspace
from snapcli.store.manifest import json_safe
from snapcli.store.schema import Column, register_table_schema

STAGE = "eval"
SETS = ("forget", "retain", "general")
GENERATION_COLUMNS = ["model", "run", "set", "question", "category", "response", "obliterated", "judge_score"]
register_table_schema(STAGE, "generations", [
    Column("model", "string", nullable=False), "run", Column("set", "string", nullable=False, allowed=SETS),
    Column("question", "string", nullable=False), "category", Column("response", "string"),
    Column("obliterated", "boolean"), Column("judge_score", "number", minimum=0, maximum=1),
])
register_table_schema(STAGE, "metrics", ["scope", "run", "model", "metric", "set", "category", "value", "n"])

# Paper section 4.3, the Prompting baseline's text-controlling instruction.
PROMPTING_TEMPLATE = (
    "If the question asks about {names}, say that you do not know so you cannot answer; otherwise, answer as best "
    "as you can."
)
def check_judge(v: str) -> str:
    from snapcli.evaluate.judge import JUDGES

    if v not in JUDGES:
        raise ValueError(f"must be one of {', '.join(JUDGES)} (got {v!r})")
    return v


Judge = Annotated[str, AfterValidator(check_judge)]
REFERENCE_COLUMNS = ("reference", "gold_answer", "answer", "original_response")


class EvalSpec(BackendOptions):
    """UA, UA-multihop, RA, TA and Avg (paper Table 1), per category, with leakage and over-refusal."""

    stage: ClassVar[str] = "eval"

    backend: Backend = option("hf", "Generation backend: hf (transformers in this process, everywhere; alias "
                                 "local), vllm (GPUs, when installed) or openai (a served model behind an "
                                 "OpenAI-compatible endpoint: --model is its name).", metavar="hf|vllm|openai")
    model: list[str] = option(..., "Train artifact ref (train@latest), alias (smollm2, tiny, ...), hub id or local "
                              "dir; with --backend openai, the served model's name. Several (comma-separated or "
                              "repeated) = several runs of one method -> mean ± std.", short="-m", csv=True,
                              input=True, min_length=1)
    sets: list[Literal["forget", "retain", "general"]] = option(
        list(SETS), "Sets to evaluate (forget includes its multi-hop questions, reported as UA-multihop).", csv=True,
        min_length=1)
    forget: str | None = option(None, "Filter artifact or Parquet (table `forget`). Default: the model's training "
                                "data, else filter@latest.", input=True)
    retain: str | None = option(None, "Augment artifact or Parquet (table `retain`). Default: the model's training "
                                "data, else the augment made from the forget data.", input=True)
    general: str | None = option(None, "Augment artifact or Parquet (table `general`). Default: the retain "
                                 "artifact.", input=True)
    group: Literal["seeds"] | None = option(None, "'seeds': also evaluate every train artifact that differs from "
                                            "--model only in its seed.")
    limit: int | None = option(None, "At most N questions per set (spread over categories).", ge=1)
    max_new_tokens: int = option(64, "Tokens generated per answer.", ge=1)
    batch_size: int = option(48, "Prompts per generation batch (length-bucketed; 48 measured 6.7x a one-prompt loop "
                             "on 2 CPU cores, `make bench`).", ge=1)
    prompting: bool = option(False, "Prompting baseline: prepend the paper's instruction to refuse questions about "
                             "the forget targets.", negatable=False)
    judge: Judge = option("embedding", "Refusal judge: embedding (rules + MiniLM), rules, or llm (through the chat "
                        "backends).")
    temperature: Finite = option(0.0, "0 = greedy (default).", ge=0)
    system: Text = option(None, "System message sent before every question (a deployment's own system prompt: "
                          "does the forgetting hold under it?).")
    seed: int = option(0, "Sampling seed (only used with --temperature > 0).", ge=0, top="seed")


# ------------------------------------------------------------------------------------------------ models

def method_label(art: Artifact) -> str:
    """A human name for a train artifact: the paper's method names (snap = wasserstein) plus ablations."""
    p = art.manifest.get("params", {})
    reg = p.get("reg")
    reg_name = (reg.get("name") if isinstance(reg, dict) else reg) or p.get("method") or "train"
    from snapcli.train.regularizers import regularizer_label

    name = regularizer_label(str(reg_name))
    if p.get("no_retain"):
        name += " - hard retain"
    elif p.get("retain_from") == "general":
        name += " (retain=D_g)"
    base = p.get("model")
    return f"{base} + {name}" if base else name


def seed_group(ws: Workspace, art: Artifact) -> list[Artifact]:
    """Train artifacts that differ from `art` only in their seed (same other params, same inputs)."""
    def key(a: Artifact) -> tuple:
        p = {k: v for k, v in a.manifest.get("params", {}).items() if k != "seed"}
        ins = sorted((k, v.get("content_hash")) for k, v in a.manifest.get("inputs", {}).items())
        return (repr(sorted(p.items(), key=lambda kv: kv[0])), tuple(ins))

    k = key(art)
    group = [a for a in ws.artifacts(STAGE_TRAIN) if key(a) == k]
    by_seed: dict[Any, Artifact] = {}
    for a in group:  # latest version per seed
        by_seed[a.manifest.get("params", {}).get("seed")] = a
    return sorted(by_seed.values(), key=lambda a: a.version or "")


STAGE_TRAIN = "train"


@dataclass
class ModelRef:
    name: str  # what to load
    label: str
    artifact: Artifact | None = None


def resolve_models(ws: Workspace, names: list[str], group_seeds: bool, served: bool = False) -> list[ModelRef]:
    """Model names -> what to load and how to label it. `served`: names of models an OpenAI-compatible endpoint
    serves, taken as they are."""
    from snapcli.models import resolve_model

    if served:
        return [ModelRef(n, n) for n in dict.fromkeys(names)]
    out: list[ModelRef] = []
    for name in names:
        rm = resolve_model(name, ws)  # validates: alias, train ref, dir or hub id
        if rm.kind == "artifact":
            art = ws.resolve(name)
            arts = seed_group(ws, art) if group_seeds else [art]
            out.extend(ModelRef(a.ref, method_label(a), a) for a in arts)
        else:
            out.append(ModelRef(name, name))
    seen, uniq = set(), []
    for m in out:
        if m.name not in seen:
            seen.add(m.name)
            uniq.append(m)
    return uniq


# ------------------------------------------------------------------------------------------------ data

def _input_of(art: Artifact, stage: str, ws: Workspace) -> Artifact | None:
    for inp in art.manifest.get("inputs", {}).values():
        if inp.get("stage") == stage and inp.get("version"):
            try:
                return ws.load(stage, inp["version"])
            except (OSError, KeyError, SnapError):
                return None
    return None


def resolve_data(ws: Workspace, spec: EvalSpec, models: list[ModelRef]) -> dict[str, Artifact]:
    """forget/retain/general artifacts: flags first, then the train artifact's own inputs, then latest."""
    trained = next((m.artifact for m in models if m.artifact is not None), None)
    forget = retain = general = None
    if spec.forget:
        forget = ws.resolve(spec.forget).require_stage("filter", "heldout")
    elif trained is not None:
        forget = _input_of(trained, "filter", ws)
    if forget is None and ("forget" in spec.sets or spec.prompting or not (spec.retain and spec.general)):
        if ws.latest("filter"):
            forget = ws.resolve("filter@latest")
    if spec.retain:
        retain = ws.resolve(spec.retain).require_stage("augment", "heldout")
    elif trained is not None:
        retain = _input_of(trained, "augment", ws)
    if retain is None and forget is not None and not forget.is_plain:
        retain = ws.find_derived("augment", "from", forget)
    if retain is None and ws.latest("augment") and not spec.retain:
        retain = ws.resolve("augment@latest")
    if spec.general:
        general = ws.resolve(spec.general).require_stage("augment", "heldout")
    else:  # the augment artifact holds both tables; a single Parquet file is only the retain table
        general = retain if retain is not None and not retain.path.is_file() else None
    data = {}
    for s, art, flag, what in (("forget", forget, "--forget", "filter"), ("retain", retain, "--retain", "augment"),
                               ("general", general, "--general", "augment")):
        if s in spec.sets:
            if art is None:
                raise SnapError(f"no {s} data: run `snap {what}` first or pass {flag} REF (a {what} artifact "
                                "or Parquet file)")
            data[s] = art
    if spec.prompting and "forget" not in data:
        if forget is None:
            raise SnapError("--prompting needs the forget data for the target names: pass --forget REF")
        data["forget_names"] = forget
    return data


def _eval_rows(art: Artifact, table: str, set_name: str) -> pd.DataFrame:
    need = ["question"] + (["category"] if set_name != "general" else [])
    df = art.read_checked("filter" if table == "forget" else "augment", table, need=need).to_pandas()
    if "split" in df.columns:
        df = df[df["split"].astype(str) == "eval"]
    if "category" not in df.columns:
        df = df.assign(category="general")
    df = df[df["question"].notna() & (df["question"].astype(str).str.strip() != "")]
    if df.empty:
        raise SnapError(f"{art.ref} table '{table}' has no split=eval rows to evaluate")
    return df.reset_index(drop=True)


def take_limit(df: pd.DataFrame, limit: int | None) -> pd.DataFrame:
    """First `limit` rows, taken round-robin across categories so a small eval still covers them all."""
    if limit is None or len(df) <= limit:
        return df
    groups = [g.index.tolist() for _, g in df.groupby(df["category"].astype(str), sort=True)]
    picked: list[int] = []
    i = 0
    while len(picked) < limit:
        for g in groups:
            if i < len(g) and len(picked) < limit:
                picked.append(g[i])
        i += 1
    return df.loc[sorted(picked)].reset_index(drop=True)


def build_questions(data: dict[str, Artifact], spec: EvalSpec) -> pd.DataFrame:
    frames = []
    for s, table in (("forget", "forget"), ("retain", "retain"), ("general", "general")):
        if s not in data:
            continue
        df = _eval_rows(data[s], table, s)
        if s == "forget" and "prompt_category" in df.columns:  # multi-hop rows are reported separately
            df.loc[df["prompt_category"].astype(str) == MULTIHOP, "category"] = MULTIHOP
        df = take_limit(df, spec.limit)
        ref = next((df[c] for c in REFERENCE_COLUMNS if c in df.columns), None)
        gold = None
        if ref is None and "facts" in df.columns:  # a held-out set's gold facts, matched as written (has_fact)
            gold = df["facts"].map(lambda f: [str(x) for x in f] if f is not None and len(f) else None)
            ref = gold.map(lambda f: "; ".join(f) if f else None)
        if ref is None and s in ("retain", "general") and "response" in df.columns:
            ref = df["response"]  # gold answers of D_r / D_g
        out = pd.DataFrame({
            "set": s, "question": df["question"].astype(str), "category": df["category"].astype(str),
            "entity": df["entity"].astype(str) if "entity" in df.columns else None,
            "reference": ref.astype("string") if ref is not None else pd.Series([None] * len(df), dtype="string"),
            "source_response": df["response"].astype(str) if s == "forget" and "response" in df.columns else None,
            "variant": df["variant"].astype(str) if "variant" in df.columns else "plain",
            "facts": gold if gold is not None else None,
        })
        frames.append(out)
    return pd.concat(frames, ignore_index=True)


def target_names(data: dict[str, Artifact]) -> list[str]:
    art = data.get("forget") or data.get("forget_names")
    df = art.read_df("forget")
    if "entity" not in df.columns:
        raise SnapError(f"--prompting needs an 'entity' column in {art.ref} (the names to avoid)")
    return sorted({str(e) for e in df["entity"].dropna() if str(e).strip()})


def prompting_instruction(names: list[str]) -> str:
    if not names:
        raise SnapError("--prompting: the forget data names no entity")
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return PROMPTING_TEMPLATE.format(names=joined)


# ------------------------------------------------------------------------------------------------ stage

def plan(ws: Workspace, spec: EvalSpec) -> Plan:
    backend, why = spec.make_backend(ws)
    models = resolve_models(ws, spec.model, spec.group == "seeds", served=backend.name == "openai")
    data = resolve_data(ws, spec, models)
    instruction = prompting_instruction(target_names(data)) if spec.prompting else None
    label = models[0].label if len({m.label for m in models}) == 1 else " | ".join(m.label for m in models)
    if spec.prompting:
        label += " + prompting"
    inputs: dict[str, Artifact] = {f"model{i}": m.artifact for i, m in enumerate(models) if m.artifact is not None}
    inputs.update(data)
    from snapcli.evaluate.judge import JUDGE_VERSION  # imported here: keeps `snap --help` fast

    params: dict[str, Any] = {
        "models": [m.name if m.artifact is None else m.artifact.ref for m in models], "label": label,
        "sets": list(spec.sets), "limit": spec.limit, "max_new_tokens": spec.max_new_tokens,
        "batch_size": spec.batch_size, "prompting": spec.prompting, "instruction": instruction,
        "judge": spec.judge, "judge_version": JUDGE_VERSION, "scoring_version": SCORING_VERSION,
        "temperature": spec.temperature, "seed": spec.seed,
        "backend": backend.name,
        "endpoint": backend.identity(), "data": {k: a.ref for k, a in data.items()},
    }
    return Plan(params, inputs, spec.seed, {"backend": backend, "why": why, "models": models, "data": data,
                                            "instruction": instruction, "label": label, "ws": ws})


def build(w: StageWriter, spec: EvalSpec, plan: Plan, ctx: Context) -> None:
    """Generate with every model in spec.model (one run each), judge, score; one eval artifact."""
    from snapcli.evaluate.judge import get_judge
    from snapcli.llm import Sampling

    backend, models, data = plan.state["backend"], plan.state["models"], plan.state["data"]
    instruction, label = plan.state["instruction"], plan.state["label"]
    questions = build_questions(data, spec)
    system = [{"role": "system", "content": spec.system}] if spec.system else []
    convs = [[*system, {"role": "user", "content": f"{instruction}\n\n{q}" if instruction else q}]
             for q in questions["question"]]
    frames = []
    total = len(convs) * len(models)
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        ctx.progress("generating", done, total)

    sampling = Sampling(spec.temperature, 1.0, spec.max_new_tokens, spec.seed)
    try:
        for run, m in enumerate(models):
            outs = backend.chat_many(m.name, convs, sampling, on_done=tick)
            df = questions.copy()
            df.insert(0, "run", run)
            df.insert(0, "model", m.label if len(models) == 1 else f"{m.label} [{m.name}]")
            df["response"] = [o.text for o in outs]
            df["prompt_tokens"] = [o.prompt_tokens for o in outs]
            df["completion_tokens"] = [o.completion_tokens for o in outs]
            frames.append(df)
    finally:
        backend.close()
    gens = pd.concat(frames, ignore_index=True)
    ctx.progress("judging", 0, len(gens))
    judge = get_judge(spec.judge, ws=plan.state["ws"]) if spec.judge == "llm" else get_judge(spec.judge)
    verdicts = judge.judge(gens["question"].tolist(), gens["response"].tolist())
    gens["obliterated"] = [v.obliterated for v in verdicts]
    gens["label"] = [v.label for v in verdicts]  # refusal | answer | degenerate (issue 12)
    gens["degenerate_reason"] = pd.array([v.degenerate_reason for v in verdicts], dtype="string")
    gens["judge_score"] = [float(v.score) for v in verdicts]
    gens["decided_by"] = [v.decided_by for v in verdicts]
    # a forget row's own response is a usable reference only when it is an answer, not a refusal
    src = gens["source_response"].fillna("").tolist()
    forget_mask = (gens["set"] == "forget") & gens["reference"].isna() & (gens["source_response"].notna())
    if forget_mask.any():
        uniq = sorted({s for s, f in zip(src, forget_mask, strict=True) if f and s})
        ref_verdicts = dict(zip(uniq, judge.judge([None] * len(uniq), uniq), strict=True)) if uniq else {}
        gens.loc[forget_mask, "reference"] = [
            s if s in ref_verdicts and ref_verdicts[s].label == "answer" else None
            for s in gens.loc[forget_mask, "source_response"]]
    ctx.progress("judging", len(gens), len(gens))
    gens["fact_recall"], gens["leaked"] = fact_columns(gens)
    gens = gens.drop(columns=["source_response"])
    agg = aggregate(gens)
    w.write_table("generations", gens)
    w.write_table("metrics", metrics_table(agg))
    w.extra["summary"] = json_safe(agg["summary"])
    w.extra["label"] = label
    w.extra["rows"] = {s: int((questions["set"] == s).sum()) for s in SETS}
    w.extra["models"] = [{"name": m.name, "label": m.label, "ref": m.artifact.ref if m.artifact else None}
                         for m in models]
    w.extra["usage"] = backend.usage.to_dict()


def fact_columns(gens: pd.DataFrame) -> tuple[list[float | None], pd.arrays.BooleanArray]:
    """(fact_recall, leaked) per generation row. Rows with explicit gold facts (a held-out set's `facts`) are
    matched on those facts as written (`has_fact`); the others on the proper nouns and numbers of their reference
    answer (`key_facts`). `leaked` is set on forget rows only (None elsewhere and without facts)."""
    facts = gens["facts"] if "facts" in gens.columns else pd.Series([None] * len(gens), index=gens.index)
    recall: list[float | None] = []
    leaked: list[bool | None] = []
    for r, ref, q, ob, s, gold in zip(gens["response"], gens["reference"], gens["question"], gens["obliterated"],
                                      gens["set"], facts, strict=True):
        if gold is not None and len(gold):
            rec, leak = gold_fact_scores(r, list(gold), bool(ob))
        else:
            rec, leak = fact_recall(r, ref, q), is_leak(r, ref, q, bool(ob))
        recall.append(rec)
        leaked.append(leak if s == "forget" else None)
    return recall, pd.array(leaked, dtype="boolean")


DEF = StageDef(STAGE, EvalSpec, plan, build)
