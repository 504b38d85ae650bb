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
from typing import Any, ClassVar, Literal

import pandas as pd

from snapcli.errors import SnapError
from snapcli.llm import Sampling
from snapcli.stages.base import Context, Plan, StageDef
from snapcli.stages.filter import DEFAULT_THRESHOLD, DEFAULT_TRAIN_SIZE, filter_frame
from snapcli.stages.generate import CALL_DEFAULTS, QUESTION_TEMPERATURE, Chat, question_sampling, write_questions
from snapcli.stages.options import BackendOptions
from snapcli.stages.spec import Text, Texts, option
from snapcli.stages.textutil import (
    CATEGORIES,
    RETAIN_CATEGORIES,
    SPLITS,
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
SUBJECT_DEFAULTS = {"remote": {"calls": 1, "per_call": 10}, "in_process": {"calls": 0, "per_call": 5}}
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
    # always shuffled (taking the whole file in order put its first 60 rows, all open_qa/general_qa, in train and
    # no classification, summarization or writing task at all: the demo then refused 70% of those TA tasks)
    sample = df.sample(n=n, random_state=seed).reset_index(drop=True)
    split = _stratified_split(sample["category"].astype(str).tolist(), train)
    question = [i if not c.strip() else f"{i}\n\n{c}" for i, c in zip(sample["instruction"], sample["context"],
                                                                     strict=True)]
    out = pd.DataFrame({
        "question": question, "response": sample["response"], "category": sample["category"], "split": split,
        "source": source, "instruction": sample["instruction"], "context": sample["context"],
    })
    return out, {"source": source, "available": len(df), "requested": size, "sampled": n - train, "train": train}


def _stratified_split(categories: list[str], train: int) -> list[str]:
    """"train" for `train` rows spread over the categories in proportion (largest remainder), "eval" for the rest;
    within a category the first rows (of an already shuffled sample) are the train rows."""
    counts = Counter(categories)
    total = len(categories)
    if not train or not total:
        return ["eval"] * total
    exact = {c: train * k / total for c, k in counts.items()}
    quota = {c: int(x) for c, x in exact.items()}
    for c in sorted(exact, key=lambda c: (-(exact[c] - quota[c]), c))[: train - sum(quota.values())]:
        quota[c] += 1
    out: list[str] = []
    for c in categories:
        out.append("train" if quota[c] > 0 else "eval")
        quota[c] -= 1
    return out


def general_id(spec: str) -> str:
    """What identifies the general set in the stage cache key (file content, not just its name)."""
    p = Path(spec).expanduser()
    if spec not in ("builtin", "dolly") and p.exists() and p.is_file():
        return "file:" + file_sha256(p)
    return spec


# ------------------------------------------------------------------ retain subjects


NEAR_MISS = "near miss"  # subject and subject_kind of near-miss retain rows (near_miss_rows)
SUBJECT_BANK_KIND = {"individual": "person", "person": "person", "organization": "organization",
                     "place": "place", "creative_work": "creative_work"}


def retain_subjects(
    src: Artifact, ws: Workspace, universe: str | None, extra: list[str], neighbours_n: int = 6, k: int = 10,
) -> tuple[list[str], dict[str, list[str]], list[dict[str, str]]]:
    """(entities, aliases per entity, subjects [{entity, subject, kind, source}]) from the filter's generate input.

    Subjects: the target's universe (fictional targets), the related entities snap generate kept (what the model
    mentions, the LLM's top-k, --related), the user's --subject, then neighbours of the same kind and field from
    snapcli/data/neighbours.yaml: at least `neighbours_n`, more when fewer than `k` related entities were found, so
    there is always hard retaining data even when nothing related was found."""
    from snapcli.datagen.neighbours import neighbours
    from snapcli.datagen.target_names import TargetNames, fold

    forget = src.read_checked("filter", "forget").to_pandas()
    entities = [str(e) for e in pd.unique(forget["entity"])]
    aliases: dict[str, list[str]] = {}
    related = pd.DataFrame(columns=["entity", "name", "kind", "rank"])
    targets: dict[str, dict[str, Any]] = {}
    gen = (src.manifest.get("inputs") or {}).get("from") or {}
    if gen.get("stage") == "generate" and gen.get("version") and gen["version"] in ws.versions("generate"):
        g = ws.load("generate", gen["version"])
        if g.has_table("aliases"):
            for e, a, s in g.read_df("aliases")[["entity", "alias", "source"]].itertuples(index=False):
                if s == "user":
                    aliases.setdefault(e, []).append(a)
        if g.has_table("related"):
            related = g.read_df("related")
        if g.has_table("targets"):
            targets = {str(r["entity"]): r for r in g.read_df("targets").to_dict("records")}
    subjects: list[dict[str, str]] = []
    for e in entities:
        rel = related[related["entity"] == e].sort_values(["rank"])
        uni = universe or next((n for n, kd in zip(rel["name"], rel["kind"], strict=True) if kd == "universe"), None)
        if uni:
            subjects.append({"entity": e, "subject": uni, "kind": "universe", "source": "universe"})
        t = targets.get(e, {})
        kind = str(t.get("kind") or "person")
        target = TargetNames(e, aliases.get(e, []), person=kind in ("person", "fictional_character"))
        taken = {e, *aliases.get(e, [])}
        folded = {fold(x) for x in taken}  # one subject per spelling: "bill gates" is "Bill Gates"
        for n, kd in zip(rel["name"], rel["kind"], strict=True):
            if kd in SUBJECT_BANK_KIND and fold(n) not in folded:
                subjects.append({"entity": e, "subject": n, "kind": kd, "source": "related"})
                taken.add(n)
                folded.add(fold(n))
        for n in extra:
            if target.is_alias(n) or target.spelling_variant(n):
                raise SnapError(f"--subject {n!r} is the forget target {e!r} itself: retain subjects are what must "
                                f"be kept (drop it, or give the target's other names with snap generate --alias)")
            if fold(n) not in folded:
                subjects.append({"entity": e, "subject": n, "kind": "individual", "source": "user"})
                taken.add(n)
                folded.add(fold(n))
        field = neighbour_field(t, kind)
        n_rel = sum(1 for x in subjects if x["entity"] == e and x["source"] == "related")
        want = max(neighbours_n, k - n_rel)
        for n in neighbours(kind, field, exclude=sorted(taken), n=want, seed=0):
            subjects.append({"entity": e, "subject": n, "kind": kind, "source": "neighbour"})
    return entities, aliases, subjects


def near_miss_rows(src: Artifact, ws: Workspace) -> list[dict[str, Any]]:
    """Retain questions from snap generate's `resolution` table: the unnamed questions and descriptions the model
    resolves to someone else ("Who is the co-founder of Apple?" -> Steve Jobs). They were left out of the forget
    set; answered normally here, they mark where the target ends (snapcli.datagen.resolve). [] when the generate
    artifact has no such table (older versions, --no-probe, or imported forget data)."""
    gen = (src.manifest.get("inputs") or {}).get("from") or {}
    if gen.get("stage") != "generate" or gen.get("version") not in ws.versions("generate"):
        return []
    g = ws.load("generate", gen["version"])
    if not g.has_table("resolution"):
        return []
    res = g.read_df("resolution")
    res = res[~res["resolved"].astype(bool)].drop_duplicates("question")
    return [{"entity": str(r["entity"]), "subject": NEAR_MISS, "subject_kind": NEAR_MISS,
             "question": str(r["question"]), "category": "factual", "prompt_category": "general", "split": "train",
             "source": "near-miss", "category_source": "rule", "call_index": None} for r in res.to_dict("records")]


def neighbour_field(target: dict[str, Any], kind: str) -> str | None:
    """The neighbours.yaml group of a `targets` row (field + descriptions), or None.

    The field word alone ("founder") often names no group; what the model said the target is does ("a co-founder
    of Microsoft" -> tech_founders)."""
    from snapcli.datagen.neighbours import field_of

    descs = target.get("descriptions")
    about = " ; ".join([str(target.get("field") or ""), *[str(d) for d in (descs if descs is not None else [])]])
    return field_of(about, kind) if about.strip(" ;") else None


def bank_retain_rows(subjects: list[dict[str, str]], per_subject: int, seed: int) -> list[dict[str, Any]]:
    """Question-bank questions about each retain subject (its own kind's frames, filled with its name only)."""
    from snapcli.datagen.bank import bank_rows

    out: list[dict[str, Any]] = []
    if per_subject <= 0:
        return out
    for s in subjects:
        kind = SUBJECT_BANK_KIND.get(s["kind"], s["kind"])
        if kind not in ("person", "organization", "creative_work", "fictional_character", "place", "event"):
            continue
        for r in bank_rows(kind, [s["subject"]], {}, n=per_subject, seed=seed):
            out.append({"entity": s["entity"], "subject": s["subject"], "question": r["question"],
                        "prompt_category": {"factual": "general"}.get(r["category"], r["category"]),
                        "call_index": None, "category": r["category"], "source": "bank"})
    return out


def strip_names(text: str, subject_pattern: re.Pattern | None) -> str:
    """The question without the subject's own name ("Gates Ventures" must not count as naming Bill Gates)."""
    return subject_pattern.sub(" ", text) if subject_pattern else text


RetainCategory = Literal[tuple(RETAIN_CATEGORIES)]  # type: ignore[valid-type]


class AugmentSpec(BackendOptions):
    """Build hard retaining data (related subjects, answered normally) and the general set (paper 3.2, 4.1)."""

    stage: ClassVar[str] = "augment"

    from_: str = option("filter@latest", "filter artifact whose targets to retain around.", alias="from", input=True)
    universe: Text = option(None, "Fictional universe to ask about minus the target (default: the one given "
                                  "to snap generate).", top="universe")
    subject: Texts = option([], "Extra related subject to ask about (repeat).")
    model: str = option("smollm2", "The model being unlearned: in-process, it answers the retain questions (its own "
                        "answers are what must be kept).", short="-m", top="model")
    neighbours: int = option(6, "Well-known subjects of the target's kind and field added as retain subjects "
                             "(more when fewer than generate's --k related entities were found).", ge=0)
    near_misses: bool = option(False, "Also answer, as retain questions, the unnamed questions snap generate left "
                               "out because the model resolves them to someone else (its `resolution` table). Off "
                               "by default: on the demo it cost held-out UA-multihop 33 -> 13 for RA +0.7 "
                               "(docs/data-stages.md).")
    per_subject: int = option(8, "Question-bank questions per retain subject (0 = LLM-written only).", ge=0)
    categories: list[RetainCategory] | None = option(
        None, "Retain prompt categories (comma list; default: general,5w1h,relational,open-ended,implicit).",
        csv=True)
    calls: int | None = option(None, "LLM calls per subject and category (default: universe 10 remote / 2 "
                               "in-process; related subjects 1 remote / 0 in-process, where the bank covers them).",
                               ge=0)
    per_call: int | None = option(None, "Questions per call (default: universe 30 openai / 10 in-process; related "
                                  "subjects 10 openai / 5 in-process).", ge=1)
    general: str = option("builtin", "General set D_g: builtin (shipped, offline), dolly "
                          "(databricks/databricks-dolly-15k from the hub), or a jsonl/parquet path with dolly's "
                          "columns.")
    general_size: int = option(DEFAULT_GENERAL_SIZE, "General rows to sample (paper: 300).", ge=1)
    general_train: int = option(60, "Also put this many other everyday instructions in the train split, for `snap "
                                "train --retain-from both` (the default): a small model otherwise learns to refuse "
                                "everything (paper: 0).", ge=0)
    threshold: float = option(DEFAULT_THRESHOLD, "Dedup cosine threshold (as snap filter).", gt=0, le=1)
    mask_entity: bool = option(True, "Mask subject names before embedding for dedup.")
    embedder: str = option("minilm", "sentence-transformers model for dedup.")
    train_size: int = option(DEFAULT_TRAIN_SIZE, "Retain train questions per target (rest: eval).", ge=0)
    question_model: str | None = option(None, "Model that writes retain questions (openai: gpt-4-turbo; hf: "
                                        "smollm2).")
    response_model: str | None = option(None, "Model that answers them (openai: gpt-3.5-turbo; hf: smollm2).")
    answer_tokens: int = option(96, "Max tokens per retain answer.", ge=1)
    variant_share: float = option(0.15, "Share of the retain train questions that also get each of snap filter's "
                                  "surface variants (typos, task requests, prefixes, role play, languages, "
                                  "multi-turn), answered normally: the subject, not the wording, must decide a "
                                  "refusal (0 = none).", ge=0, le=1)
    translate_share: float | None = option(None, "For each language, the share of the retain train questions that "
                                           "get a translation (default: --variant-share, spread over the "
                                           "languages), as snap filter's --translate-share.", ge=0, le=1)
    temperature: float = option(QUESTION_TEMPERATURE, "Sampling temperature for questions.", ge=0)
    prompts: Path | None = option(None, "YAML file overriding the shipped prompts.")
    seed: int = option(0, "Sampling and split seed.", ge=0, top="seed")


# the retain subjects' kinds (generate's `related` table names people "individual") as the variants module knows them
_VARIANT_KIND = {"individual": "person", "person": "person", "organization": "organization", "place": "place",
                 "creative_work": "creative_work", "work": "creative_work", "event": "event",
                 "fictional_character": "fictional_character", "character": "fictional_character"}


def retain_variants(kept: pd.DataFrame, share: float, seed: int, backend: Any, model: str, sampling: Any,
                    on_progress: Any = None, translate_share: float | None = None) -> tuple[pd.DataFrame, list[Any]]:
    """The same surface variants the forget train set gets (snapcli.datagen.variants), made from the retain train
    rows about each subject and answered normally (issue 11 item 4).

    Without them a small model learns the *wording* of the variants ("Write a poem about ...", "You are a historian.
    ...", a German question) as the cue to refuse, and refuses everyday requests phrased that way: measured on the
    demo (examples/demo.yaml, issue 11), TA fell from 95 to 30 and RA to 70 with forget-only variants.
    Lower-case, typo, prefix, role-play and multi-turn variants keep the source row's answer; task requests and
    translations are answered by `model` (the model being unlearned: its own answers are what must be kept).
    Returns (kept + variant rows, the extra replies for usage accounting); universe subjects get no variants.
    """
    from snapcli.datagen.variants import make_variants

    kept = kept.assign(variant="plain", variant_of=None, lang="en", history=None)
    train = kept[(kept["split"] == "train") & kept["subject_kind"].isin(list(_VARIANT_KIND))]
    if (share == 0 and not translate_share) or train.empty:
        return kept, []
    new: list[dict[str, Any]] = []
    for sk, group in train.groupby("subject_kind"):
        # make_variants names the row's `entity` in task requests: here the retain subject, not the forget target
        rows = [{**r, "target": r["entity"], "entity": r["subject"]} for r in group.to_dict("records")]
        out = make_variants(rows, share=share, seed=seed, kind=_VARIANT_KIND[str(sk)], refusals=False,
                            translate_share=translate_share)
        new += [{**r, "entity": r["target"]} for r in out if r.get("variant", "plain") != "plain"]
    if not new:
        return kept, []
    var = pd.DataFrame(new).drop(columns=["target"])
    var["split"] = "train"
    ask = var.index[var["response"].isna()].tolist()  # task requests and translations need their own answer
    replies: list[Any] = []
    if ask:
        tick = progress_counter(on_progress, "retain variant answers", len(ask))
        convs = [[{"role": "user", "content": str(q)}] for q in var.loc[ask, "question"]]
        replies = backend.chat_many(model, convs, sampling, on_done=tick)
        var.loc[ask, "response"] = [a.text for a in replies]
    var = var[var["response"].fillna("").str.strip() != ""]
    return pd.concat([kept, var[[c for c in var.columns if c in kept.columns]]], ignore_index=True), replies


def _generate_k(src: Artifact, ws: Workspace) -> int:
    gen = (src.manifest.get("inputs") or {}).get("from") or {}
    if gen.get("stage") == "generate" and gen.get("version") in ws.versions("generate"):
        return int((ws.load("generate", gen["version"]).manifest.get("spec") or {}).get("k") or 0)
    return 0


def plan(ws: Workspace, spec: AugmentSpec) -> Plan:
    src = ws.resolve(spec.from_).require_stage("filter")
    gen_k = _generate_k(src, ws)
    entities, aliases, subj = retain_subjects(src, ws, spec.universe, spec.subject, spec.neighbours, gen_k)
    load_general(spec.general)  # a bad --general fails before any model is loaded
    backend, why = spec.make_backend(ws)
    prompts = load_prompts(spec.prompts)
    from snapcli.datagen.variants import VARIANTS_VERSION

    params = {
        "subjects": subj, "categories": spec.categories or list(RETAIN_CATEGORIES), "calls": spec.calls,
        "per_call": spec.per_call, "general": general_id(spec.general), "general_size": spec.general_size,
        "general_train": spec.general_train, "threshold": spec.threshold, "mask_entity": spec.mask_entity,
        "embedder": spec.embedder, "train_size": spec.train_size, "backend": backend.name,
        "endpoint": backend.identity(), "question_model": spec.question_model,
        "response_model": spec.response_model, "answer_tokens": spec.answer_tokens,
        "temperature": spec.temperature, "seed": spec.seed, "prompts_sha256": json_sha256(prompts),
        "variants_version": VARIANTS_VERSION,  # the retain rows' surface variants
    }
    return Plan(params, {"from": src}, spec.seed, {"backend": backend, "why": why, "prompts": prompts,
                                                    "entities": entities, "aliases": aliases, "subjects": subj,
                                                    "ws": ws})


def build(w: StageWriter, spec: AugmentSpec, plan: Plan, ctx: Context) -> None:
    """Write `retain`, `general` and `dropped` (retain questions removed, with reasons)."""
    backend, prompts = plan.state["backend"], plan.state["prompts"]
    entities, aliases, subj = plan.state["entities"], plan.state["aliases"], plan.state["subjects"]
    ctx.note(f"LLM backend: [bold]{backend.name}[/bold] ({plan.state['why']})")
    on_progress = ctx.on_progress
    categories = plan.params["categories"]
    calls, per_call, seed, temperature = spec.calls, spec.per_call, spec.seed, spec.temperature
    threshold, mask_entity, embedder, train_size = spec.threshold, spec.mask_entity, spec.embedder, spec.train_size
    answer_tokens = spec.answer_tokens
    general_df, general_stats = general_table(spec.general, spec.general_size, seed, spec.general_train)
    qmodel = spec.question_model or backend.default_model("question")
    rmodel = spec.response_model or (spec.model if backend.in_process else backend.default_model("response"))
    uni_d = CALL_DEFAULTS["in_process" if backend.in_process else "remote"]
    sub_d = SUBJECT_DEFAULTS["in_process" if backend.in_process else "remote"]
    fmt = prompts.get("format") or ""
    chats_by_budget: dict[tuple[int, int], list[Chat]] = {}
    kinds: dict[tuple[str, str], str] = {}
    for s in subj:
        d = uni_d if s["kind"] == "universe" else sub_d
        c_n = d["calls"] if calls is None else calls
        p_n = per_call or d["per_call"]
        kinds[(s["entity"], s["subject"])] = s["kind"]
        if c_n == 0:
            continue
        table = prompts["retain_universe" if s["kind"] == "universe" else "retain_person"]
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
    rows = [{"entity": q["key"][0], "subject": q["key"][1], "prompt_category": q["key"][2],
             "question": q["question"], "call_index": q["call_index"], "category": None, "source": "llm"} for q in qs]
    rows += bank_retain_rows(subj, spec.per_subject, seed)
    df = pd.DataFrame(rows, columns=["entity", "subject", "prompt_category", "question", "call_index", "category",
                                     "source"])
    df["subject_kind"] = [kinds[(e, s)] for e, s in zip(df["entity"], df["subject"], strict=True)]
    target = {e: name_pattern(name_terms(e, aliases.get(e, []))) for e in entities}
    subj_pat = {s: (None if k == "universe" else name_pattern(name_terms(
        s, person=k in ("individual", "person", "fictional_character")))) for (_, s), k in kinds.items()}
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
    near = near_miss_rows(plan.inputs["from"], plan.state["ws"]) if spec.near_misses else []
    if near:
        kept = pd.concat([kept, pd.DataFrame(near)[[c for c in kept.columns if c in near[0]]]], ignore_index=True)
    tick = progress_counter(on_progress, "retain answers", len(kept))
    answers = backend.chat_many(rmodel, [[{"role": "user", "content": q}] for q in kept["question"]],
                                Sampling(ANSWER_TEMPERATURE, 1.0, answer_tokens, seed), on_done=tick)
    kept["response"] = [a.text for a in answers]
    kept, variant_answers = retain_variants(kept, spec.variant_share, seed, backend, rmodel,
                                            Sampling(ANSWER_TEMPERATURE, 1.0, answer_tokens, seed), on_progress,
                                            spec.translate_share)
    answers = [*answers, *variant_answers]
    kept["source"] = kept["source"].map(lambda x: x if x in ("bank", "near-miss") else "generated")
    kept["backend"] = backend.name
    kept["model"] = qmodel
    kept["response_model"] = rmodel
    cols = ["entity", "subject", "subject_kind", "question", "response", "category", "prompt_category", "split",
            "source", "category_source", "call_index", "backend", "model", "response_model", "variant", "variant_of",
            "lang", "history"]
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
        "subjects": {src: int(n) for src, n in Counter(x["source"] for x in subj).items()},
        "near_misses": len(near),
    })
    from snapcli.datagen.report import data_report, thin_warnings

    forget = plan.inputs["from"].read_df("forget")
    report = data_report(forget, kept, related_found=sum(1 for x in subj if x["source"] == "related"),
                         k=_generate_k(plan.inputs["from"], plan.state["ws"]),
                         general_train=int((general_df["split"] == "train").sum()) if len(general_df) else 0)
    warnings = [m for m in thin_warnings(report) if "retain" in m.lower() or "related" in m.lower()]
    w.extra.update({"data_report": report, "warnings": warnings})
    for msg in warnings:
        ctx.note(f"[yellow]warning[/yellow]: {msg}")



DEF = StageDef("augment", AugmentSpec, plan, build)
