"""snap augment: hard retaining data (paper 3.2, appendix C) and the general set D_g (paper 4.1).

Retain questions ask about what is close to the target but must be kept: the top-k related individuals and
organizations stored by `snap generate --k`, or the target's fictional universe. Any retain question that
still names the target is removed (and counted): training the model to answer it would fight the forget set.
The rest is deduplicated, categorized and split like the forget set, then answered normally.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from snapcli.errors import SnapError
from snapcli.llm import LLMBackend, Sampling
from snapcli.stages.filter import DEFAULT_THRESHOLD, DEFAULT_TRAIN_SIZE, filter_frame
from snapcli.stages.generate import CALL_DEFAULTS, QUESTION_TEMPERATURE, Chat, question_sampling, write_questions
from snapcli.stages.textutil import (
    CATEGORIES,
    RETAIN_CATEGORIES,
    SPLITS,
    ProgressFn,
    fill,
    load_prompts,
    mentions,
    name_pattern,
    name_terms,
    progress_counter,
)
from snapcli.store import Artifact, StageWriter, Workspace
from snapcli.store.hashing import file_sha256, json_sha256
from snapcli.store.schema import Column, register_table_schema

register_table_schema(
    "augment", "retain",
    [Column("entity", "string", nullable=False), Column("subject", "string", nullable=False),
     Column("question", "string", nullable=False, blank=False), Column("response", "string", nullable=False),
     Column("category", "string", nullable=False, allowed=CATEGORIES),
     Column("split", "string", nullable=False, allowed=SPLITS), Column("source", "string")],
)
register_table_schema(
    "augment", "general",
    [Column("question", "string", nullable=False, blank=False), Column("response", "string", nullable=False),
     Column("category", "string"), Column("split", "string", nullable=False, allowed=SPLITS),
     Column("source", "string")],
)

DOLLY_ID = "databricks/databricks-dolly-15k"
DOLLY_COLUMNS = ["instruction", "context", "response", "category"]
DEFAULT_GENERAL_SIZE = 300
# Per related subject a single call suffices (20 subjects x 5 categories already gives thousands of questions
# at the paper's scale); a universe gets the forget set's budget.
SUBJECT_DEFAULTS = {"openai": {"calls": 1, "per_call": 10}, "local": {"calls": 1, "per_call": 5}}
ANSWER_TEMPERATURE = 0.0  # retain answers should be the model's best answer, not a sample

# ------------------------------------------------------------------ the general set


def builtin_general() -> pd.DataFrame:
    """The general instructions snap ships (dolly's schema), written for this project."""
    text = resources.files("snapcli.data").joinpath("general_builtin.jsonl").read_text()
    return pd.DataFrame([json.loads(line) for line in text.splitlines() if line.strip()])


def _check_dolly(df: pd.DataFrame, where: str) -> pd.DataFrame:
    missing = [c for c in ("instruction", "response") if c not in df.columns]
    if missing:
        raise SnapError(f"{where} is missing dolly column(s) {', '.join(missing)} (has: {', '.join(df.columns)})")
    for c in ("context", "category"):
        if c not in df.columns:
            df[c] = ""
    df = df[DOLLY_COLUMNS].fillna("").astype(str)
    df = df[(df["instruction"].str.strip() != "") & (df["response"].str.strip() != "")]
    if df.empty:
        raise SnapError(f"{where} holds no rows with both an instruction and a response")
    return df.reset_index(drop=True)


def load_general(spec: str) -> tuple[pd.DataFrame, str, str]:
    """(rows in dolly's columns, source label, content id) for builtin | dolly | a hub id | a jsonl/parquet path."""
    if spec == "builtin":
        df = builtin_general()
        return _check_dolly(df, "the builtin general set"), "builtin", "builtin:" + json_sha256(df.to_dict("list"))
    p = Path(spec).expanduser()
    if p.exists():
        if p.suffix == ".parquet":
            try:
                df = pd.read_parquet(p)
            except (OSError, ValueError) as e:
                raise SnapError(f"--general: cannot read Parquet {p}: {e}") from None
        elif p.suffix in (".jsonl", ".json"):
            try:
                df = pd.read_json(p, lines=p.suffix == ".jsonl")
            except ValueError as e:
                msg = " ".join(str(e).split())[:160]
                raise SnapError(f"--general: {p} is not valid {p.suffix[1:]}: {msg}") from None
        else:
            raise SnapError(f"--general: {p} must be .jsonl, .json or .parquet")
        return _check_dolly(df, str(p)), p.name, "file:" + file_sha256(p)
    hub_id = DOLLY_ID if spec == "dolly" else spec
    if spec != "dolly" and not re.fullmatch(r"[\w.\-]+/[\w.\-]+", spec):
        raise SnapError(f"--general: {spec!r} is not builtin, dolly, an existing file or a hub dataset id")
    offline = ("use --general builtin (shipped, offline) or --general PATH (a local jsonl/parquet with dolly's "
               "columns instruction, context, response, category)")
    try:
        import datasets
    except ImportError:
        raise SnapError(f"--general {spec} needs the 'datasets' package (pip install datasets); or {offline}") from None
    try:
        ds = datasets.load_dataset(hub_id, split="train")
    except Exception as e:  # noqa: BLE001 - any hub/network failure means the same thing to the user
        raise SnapError(f"cannot load {hub_id} from the Hugging Face hub ({type(e).__name__}); {offline}") from None
    return _check_dolly(ds.to_pandas(), hub_id), "dolly" if spec == "dolly" else hub_id, f"hub:{hub_id}"


def general_table(spec: str, size: int, seed: int, train: int = 0) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Sample `size` eval rows (all that are left if fewer): D_g measures TA (paper 4.1).

    `train` > 0 also samples that many *other* rows as split=train, for `snap train --retain-from general|both`
    (paper 4.6 trains on D_g; a small model also needs everyday answers in its retain data to keep answering them).
    """
    if size < 1:
        raise SnapError(f"--general-size must be >= 1 (got {size})")
    if train < 0:
        raise SnapError(f"--general-train must be >= 0 (got {train})")
    df, source, _ = load_general(spec)
    if train and train >= len(df):
        raise SnapError(f"--general-train {train} leaves no eval rows: the general set has {len(df)} rows")
    n = min(size + train, len(df))
    sample = df.sample(n=n, random_state=seed).reset_index(drop=True) if n < len(df) else df
    split = ["train"] * train + ["eval"] * (n - train)
    question = [i if not c.strip() else f"{i}\n\n{c}" for i, c in zip(sample["instruction"], sample["context"],
                                                                     strict=True)]
    out = pd.DataFrame({
        "question": question, "response": sample["response"], "category": sample["category"], "split": split,
        "source": source, "instruction": sample["instruction"], "context": sample["context"],
    })
    return out, {"source": source, "available": len(df), "requested": size, "sampled": n - train, "train": train}


def general_id(spec: str) -> str:
    """What identifies the general set in the stage cache key (file content, not just its name)."""
    p = Path(spec).expanduser()
    if spec not in ("builtin", "dolly") and p.exists() and p.is_file():
        return "file:" + file_sha256(p)
    return spec


# ------------------------------------------------------------------ retain subjects


def retain_subjects(
    src: Artifact, ws: Workspace, universe: str | None, extra: list[str],
) -> tuple[list[str], dict[str, list[str]], list[dict[str, str]]]:
    """(entities, aliases per entity, subjects [{entity, subject, kind}]) from the filter's generate input."""
    forget = src.read_checked("filter", "forget").to_pandas()
    entities = [str(e) for e in pd.unique(forget["entity"])]
    aliases: dict[str, list[str]] = {}
    related = pd.DataFrame(columns=["entity", "name", "kind", "rank"])
    gen = (src.manifest.get("inputs") or {}).get("from") or {}
    if gen.get("stage") == "generate" and gen.get("version") and gen["version"] in ws.versions("generate"):
        g = ws.load("generate", gen["version"])
        if g.has_table("aliases"):
            for e, a, s in g.read_df("aliases")[["entity", "alias", "source"]].itertuples(index=False):
                if s == "user":
                    aliases.setdefault(e, []).append(a)
        if g.has_table("related"):
            related = g.read_df("related")
    subjects: list[dict[str, str]] = []
    for e in entities:
        rel = related[related["entity"] == e].sort_values(["kind", "rank"])
        uni = universe or next((n for n, k in zip(rel["name"], rel["kind"], strict=True) if k == "universe"), None)
        if uni:
            subjects.append({"entity": e, "subject": uni, "kind": "universe"})
        for n, k in zip(rel["name"], rel["kind"], strict=True):
            if k in ("individual", "organization"):
                subjects.append({"entity": e, "subject": n, "kind": k})
        for n in extra:
            subjects.append({"entity": e, "subject": n, "kind": "individual"})
        if not any(s["entity"] == e for s in subjects):
            raise SnapError(
                f"no retain subjects for {e!r}: its generate artifact stored no related entities or universe; "
                "rerun snap generate with --k N or --universe NAME, or pass --universe/--subject to augment"
            )
    return entities, aliases, subjects


def strip_names(text: str, subject_pattern: re.Pattern | None) -> str:
    """The question without the subject's own name ("Gates Ventures" must not count as naming Bill Gates)."""
    return subject_pattern.sub(" ", text) if subject_pattern else text


def run_augment(
    ws: Workspace,
    source: str | Artifact,
    *,
    backend: LLMBackend,
    question_model: str | None = None,
    response_model: str | None = None,
    universe: str | None = None,
    subjects: list[str] | None = None,
    categories: list[str] | None = None,
    calls: int | None = None,
    per_call: int | None = None,
    general: str = "builtin",
    general_size: int = DEFAULT_GENERAL_SIZE,
    general_train: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    mask_entity: bool = True,
    embedder: str = "minilm",
    train_size: int = DEFAULT_TRAIN_SIZE,
    answer_tokens: int = 256,
    temperature: float = QUESTION_TEMPERATURE,
    seed: int = 0,
    prompts_path: str | None = None,
    force: bool = False,
    on_progress: ProgressFn | None = None,
) -> Artifact:
    """Write `retain`, `general` and `dropped` (retain questions removed, with reasons)."""
    src = ws.resolve(source).require_stage("filter")
    categories = categories or list(RETAIN_CATEGORIES)
    bad = [c for c in categories if c not in RETAIN_CATEGORIES]
    if bad:
        raise SnapError(f"unknown retain category {', '.join(bad)} (choose from {', '.join(RETAIN_CATEGORIES)})")
    if universe is not None and not universe.strip():
        raise SnapError("--universe must not be empty")
    if any(not s.strip() for s in subjects or []):
        raise SnapError("--subject must not be empty")
    for name, v in (("--calls", calls), ("--per-call", per_call)):
        if v is not None and v < 1:
            raise SnapError(f"{name} must be >= 1 (got {v})")
    entities, aliases, subj = retain_subjects(src, ws, universe, [s.strip() for s in subjects or []])
    # fail on a bad --general before spending any LLM calls
    general_df, general_stats = general_table(general, general_size, seed, general_train)
    prompts = load_prompts(prompts_path)
    qmodel = question_model or backend.default_model("question")
    rmodel = response_model or backend.default_model("response")
    uni_d = CALL_DEFAULTS.get(backend.name, CALL_DEFAULTS["openai"])
    sub_d = SUBJECT_DEFAULTS.get(backend.name, SUBJECT_DEFAULTS["openai"])
    params = {
        "subjects": subj, "categories": categories, "calls": calls, "per_call": per_call,
        "general": general_id(general), "general_size": general_size,
        "general_train": general_train, "threshold": threshold,
        "mask_entity": mask_entity, "embedder": embedder, "train_size": train_size, "backend": backend.name,
        "endpoint": backend.identity(), "question_model": qmodel, "response_model": rmodel,
        "answer_tokens": answer_tokens, "temperature": temperature, "seed": seed,
        "prompts_sha256": json_sha256(prompts),
    }

    def build(w: StageWriter) -> None:
        fmt = prompts.get("format") or ""
        chats_by_budget: dict[tuple[int, int], list[Chat]] = {}
        kinds: dict[tuple[str, str], str] = {}
        for s in subj:
            d = uni_d if s["kind"] == "universe" else sub_d
            c_n, p_n = calls or d["calls"], per_call or d["per_call"]
            table = prompts["retain_universe" if s["kind"] == "universe" else "retain_person"]
            kinds[(s["entity"], s["subject"])] = s["kind"]
            for cat in categories:
                text = fill(table[cat], entity=s["entity"], subject=s["subject"], universe=s["subject"], n=p_n)
                chats_by_budget.setdefault((c_n, p_n), []).append(
                    Chat((s["entity"], s["subject"], cat), [{"role": "user", "content": f"{text}\n{fmt}".strip()}]))
        qs: list[dict[str, Any]] = []
        log: list[dict[str, Any]] = []
        parse_dropped: Counter = Counter()
        for (c_n, p_n), chats in chats_by_budget.items():
            q, lg, dr = write_questions(backend, qmodel, chats, calls=c_n, per_call=p_n, more_prompt=prompts["more"],
                                        sampling=question_sampling(p_n, temperature, seed), on_progress=on_progress,
                                        phase="retain questions")
            qs += q
            log += lg
            parse_dropped.update(dr)
        df = pd.DataFrame({
            "entity": [q["key"][0] for q in qs], "subject": [q["key"][1] for q in qs],
            "prompt_category": [q["key"][2] for q in qs], "question": [q["question"] for q in qs],
            "call_index": [q["call_index"] for q in qs],
        })
        df["subject_kind"] = [kinds[(e, s)] for e, s in zip(df["entity"], df["subject"], strict=True)]
        target = {e: name_pattern(name_terms(e, aliases.get(e, []))) for e in entities}
        subj_pat = {s: (None if k == "universe" else name_pattern(name_terms(s, person=k == "individual")))
                    for (_, s), k in kinds.items()}
        # strip only the subject's full name: "Melinda French Gates" yes, but not a shared surname "Gates"
        full_name = {s: name_pattern([s]) for (_, s) in kinds}
        names_target = [mentions(strip_names(q, full_name[s]), target[e])
                        for q, e, s in zip(df["question"], df["entity"], df["subject"], strict=True)]
        mask_t = pd.Series(names_target, dtype=bool)
        removed = df[mask_t]
        df = df[~mask_t].reset_index(drop=True)
        if df.empty:
            raise SnapError(
                f"{backend.describe(qmodel)} wrote no usable retain question ({len(qs)} parsed, {len(removed)} "
                f"named the target; parse drops: {dict(parse_dropped)})"
            )
        kept, dropped, stats = filter_frame(
            df, patterns=subj_pat, others={}, threshold=threshold, mask_entity=mask_entity, embedder=embedder,
            relevance_check=True, relevance_skip=[s for (_, s), k in kinds.items() if k == "universe"],
            categorizer="rules", train_size=train_size, seed=seed, group_col="subject", split_col="entity",
            on_progress=on_progress,
        )
        if kept.empty:
            raise SnapError(f"no retain question survived filtering ({stats['dropped']}); nothing to publish")
        tick = progress_counter(on_progress, "retain answers", len(kept))
        answers = backend.chat_many(rmodel, [[{"role": "user", "content": q}] for q in kept["question"]],
                                    Sampling(ANSWER_TEMPERATURE, 1.0, answer_tokens, seed), on_done=tick)
        kept["response"] = [a.text for a in answers]
        kept["source"] = "generated"
        kept["backend"] = backend.name
        kept["model"] = qmodel
        kept["response_model"] = rmodel
        cols = ["entity", "subject", "subject_kind", "question", "response", "category", "prompt_category", "split",
                "source", "category_source", "call_index", "backend", "model", "response_model"]
        w.write_table("retain", kept[cols])
        w.write_table("general", general_df)
        removed_rows = pd.DataFrame({"entity": removed["entity"], "subject": removed["subject"],
                                     "question": removed["question"], "reason": "mentions_target",
                                     "duplicate_of": None, "similarity": None,
                                     "prompt_category": removed["prompt_category"],
                                     "detail": "names the forget target or an alias"})
        w.write_table("dropped", pd.concat([removed_rows, dropped], ignore_index=True) if len(dropped)
                      else removed_rows)
        w.write_table("calls", pd.DataFrame([
            {"entity": x["key"][0], "subject": x["key"][1], "prompt_category": x["key"][2],
             **{k2: v for k2, v in x.items() if k2 != "key"}} for x in log]))
        w.extra.update({
            "usage": backend.usage.to_dict(), "removed_mentions_target": len(removed),
            "parse_dropped": dict(parse_dropped), "retain": stats, "general": general_stats,
            "empty_answers": int(sum(1 for a in answers if not a.text.strip())),
        })

    return ws.run_stage("augment", params=params, inputs={"from": src}, fn=build, force=force, seed=seed)
