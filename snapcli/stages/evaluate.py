"""Stage "eval": generate answers on the forget / retain / general eval splits, judge them, compute metrics.

One eval artifact holds one *method* (a model, or several seeds of one method = several runs): table
`generations` (every question, response and verdict, for auditing) and table `metrics` (long format, per run and
mean/std over runs). Paper section 4.2-4.3.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from snapcli.errors import SnapError
from snapcli.evaluate.metrics import MULTIHOP, aggregate, fact_recall, is_leak, metrics_table
from snapcli.store import Artifact, StageWriter, Workspace
from snapcli.store.schema import register_table_schema

STAGE = "eval"
SETS = ("forget", "retain", "general")
GENERATION_COLUMNS = ["model", "run", "set", "question", "category", "response", "obliterated", "judge_score"]
register_table_schema(STAGE, "generations", GENERATION_COLUMNS)
register_table_schema(STAGE, "metrics", ["scope", "run", "model", "metric", "set", "category", "value", "n"])

# Paper section 4.3, the Prompting baseline's text-controlling instruction.
PROMPTING_TEMPLATE = (
    "If the question asks about {names}, say that you do not know so you cannot answer; otherwise, answer as best "
    "as you can."
)
REFERENCE_COLUMNS = ("reference", "gold_answer", "answer", "original_response")
Progress = Callable[[str, int, int], None]


@dataclass
class EvalSpec:
    models: list[str]
    sets: list[str] = field(default_factory=lambda: list(SETS))
    forget: str | None = None
    retain: str | None = None
    general: str | None = None
    limit: int | None = None
    max_new_tokens: int = 64
    batch_size: int = 16
    prompting: bool = False
    judge: str = "embedding"
    temperature: float = 0.0
    seed: int = 0
    backend: str = "hf"
    device: str | None = None
    dtype: str | None = None
    group_seeds: bool = False

    def check(self) -> None:
        if not self.models:
            raise SnapError("no model to evaluate: pass --model REF|ALIAS")
        bad = [s for s in self.sets if s not in SETS]
        if bad or not self.sets:
            raise SnapError(f"unknown set(s) {', '.join(bad) or '(none)'} (choose from {', '.join(SETS)})")
        if self.limit is not None and self.limit < 1:
            raise SnapError(f"--limit must be >= 1 (got {self.limit})")
        if self.max_new_tokens < 1:
            raise SnapError(f"--max-new-tokens must be >= 1 (got {self.max_new_tokens})")
        if self.batch_size < 1:
            raise SnapError(f"--batch-size must be >= 1 (got {self.batch_size})")
        if not (self.temperature >= 0) or math.isinf(self.temperature):
            raise SnapError(f"--temperature must be >= 0 (got {self.temperature})")
        from snapcli.evaluate.generators import GENERATORS
        from snapcli.evaluate.judge import JUDGES

        if self.judge not in JUDGES:
            raise SnapError(f"unknown judge '{self.judge}' (choose from {', '.join(JUDGES)})")
        if self.backend not in GENERATORS:
            raise SnapError(f"unknown backend '{self.backend}' (choose from {', '.join(GENERATORS)})")


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


def resolve_models(ws: Workspace, names: list[str], group_seeds: bool) -> list[ModelRef]:
    from snapcli.models import resolve_model

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
        forget = ws.resolve(spec.forget).require_stage("filter")
    elif trained is not None:
        forget = _input_of(trained, "filter", ws)
    if forget is None and ("forget" in spec.sets or spec.prompting or not (spec.retain and spec.general)):
        if ws.latest("filter"):
            forget = ws.resolve("filter@latest")
    if spec.retain:
        retain = ws.resolve(spec.retain).require_stage("augment")
    elif trained is not None:
        retain = _input_of(trained, "augment", ws)
    if retain is None and forget is not None and not forget.is_plain:
        retain = ws.find_derived("augment", "from", forget)
    if retain is None and ws.latest("augment") and not spec.retain:
        retain = ws.resolve("augment@latest")
    if spec.general:
        general = ws.resolve(spec.general).require_stage("augment")
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
    df = art.read_df(table)
    need = ["question"] + (["category"] if set_name != "general" else [])
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise SnapError(f"{art.ref} table '{table}' lacks column(s) {', '.join(missing)} needed for eval")
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
        if ref is None and s in ("retain", "general") and "response" in df.columns:
            ref = df["response"]  # gold answers of D_r / D_g
        out = pd.DataFrame({
            "set": s, "question": df["question"].astype(str), "category": df["category"].astype(str),
            "entity": df["entity"].astype(str) if "entity" in df.columns else None,
            "reference": ref.astype("string") if ref is not None else pd.Series([None] * len(df), dtype="string"),
            "source_response": df["response"].astype(str) if s == "forget" and "response" in df.columns else None,
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

def run_eval(
    ws: Workspace,
    spec: EvalSpec,
    *,
    force: bool = False,
    on_progress: Progress | None = None,
    judge_chat: Callable | None = None,
) -> Artifact:
    """Evaluate every model in spec.models (one run each) and publish one eval artifact."""
    from snapcli.evaluate.generators import make_generator
    from snapcli.evaluate.judge import get_judge

    spec.check()
    models = resolve_models(ws, spec.models, spec.group_seeds)
    data = resolve_data(ws, spec, models)
    questions = build_questions(data, spec)
    instruction = prompting_instruction(target_names(data)) if spec.prompting else None
    label = models[0].label if len({m.label for m in models}) == 1 else " | ".join(m.label for m in models)
    if spec.prompting:
        label += " + prompting"
    inputs: dict[str, Artifact] = {}
    for i, m in enumerate(models):
        if m.artifact is not None:
            inputs[f"model{i}"] = m.artifact
    inputs.update(data)
    params: dict[str, Any] = {
        "models": [m.name if m.artifact is None else m.artifact.ref for m in models], "label": label,
        "sets": list(spec.sets), "limit": spec.limit, "max_new_tokens": spec.max_new_tokens,
        "batch_size": spec.batch_size, "prompting": spec.prompting, "instruction": instruction,
        "judge": spec.judge, "temperature": spec.temperature, "seed": spec.seed, "backend": spec.backend,
        "data": {k: a.ref for k, a in data.items()},
    }

    def fn(w: StageWriter) -> None:
        convs = [[{"role": "user", "content": f"{instruction}\n\n{q}" if instruction else q}]
                 for q in questions["question"]]
        frames = []
        total = len(convs) * len(models)
        done = 0
        for run, m in enumerate(models):
            gen = make_generator(spec.backend, m.name, ws, device=spec.device, dtype=spec.dtype)

            def tick(n: int) -> None:
                nonlocal done
                done += n
                if on_progress:
                    on_progress("generating", done, total)

            try:
                outs = gen.generate(convs, max_new_tokens=spec.max_new_tokens, batch_size=spec.batch_size,
                                    temperature=spec.temperature, seed=spec.seed, on_batch=tick)
            finally:
                gen.close()
            df = questions.copy()
            df.insert(0, "run", run)
            df.insert(0, "model", m.label if len(models) == 1 else f"{m.label} [{m.name}]")
            df["response"] = [o["text"] for o in outs]
            df["prompt_tokens"] = [o["prompt_tokens"] for o in outs]
            df["completion_tokens"] = [o["completion_tokens"] for o in outs]
            frames.append(df)
        gens = pd.concat(frames, ignore_index=True)
        if on_progress:
            on_progress("judging", 0, len(gens))
        judge = get_judge(spec.judge, chat=judge_chat, ws=ws) if spec.judge == "llm" else get_judge(spec.judge)
        verdicts = judge.judge(gens["question"].tolist(), gens["response"].tolist())
        gens["obliterated"] = [v.obliterated for v in verdicts]
        gens["judge_score"] = [float(v.score) for v in verdicts]
        gens["decided_by"] = [v.decided_by for v in verdicts]
        # a forget row's own response is a usable reference only when it is an answer, not a refusal
        src = gens["source_response"].fillna("").tolist()
        forget_mask = (gens["set"] == "forget") & gens["reference"].isna() & (gens["source_response"].notna())
        if forget_mask.any():
            uniq = sorted({s for s, f in zip(src, forget_mask, strict=True) if f and s})
            ref_verdicts = dict(zip(uniq, judge.judge([None] * len(uniq), uniq), strict=True)) if uniq else {}
            gens.loc[forget_mask, "reference"] = [
                s if s in ref_verdicts and not ref_verdicts[s].obliterated else None
                for s in gens.loc[forget_mask, "source_response"]]
        if on_progress:
            on_progress("judging", len(gens), len(gens))
        gens["fact_recall"] = [fact_recall(r, ref, q) for r, ref, q in
                               zip(gens["response"], gens["reference"], gens["question"], strict=True)]
        gens["leaked"] = pd.array(
            [is_leak(r, ref, q, ob) if s == "forget" else None for r, ref, q, ob, s in zip(
                gens["response"], gens["reference"], gens["question"], gens["obliterated"], gens["set"], strict=True)],
            dtype="boolean")
        gens = gens.drop(columns=["source_response"])
        agg = aggregate(gens)
        w.write_table("generations", gens)
        w.write_table("metrics", metrics_table(agg))
        w.extra["summary"] = _clean(agg["summary"])
        w.extra["label"] = label
        w.extra["rows"] = {s: int((questions["set"] == s).sum()) for s in SETS}
        w.extra["models"] = [{"name": m.name, "label": m.label, "ref": m.artifact.ref if m.artifact else None}
                             for m in models]
        w.extra["judge_chat"] = "injected" if judge_chat is not None else None

    return ws.run_stage(STAGE, params=params, inputs=inputs, fn=fn, force=force, seed=spec.seed)


def _clean(obj: Any) -> Any:
    """NaN -> None so manifests stay valid JSON."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj
