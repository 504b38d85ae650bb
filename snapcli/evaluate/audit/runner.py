"""The whole audit in one call: plain questions, every probe, every attack, the membership signal.

`run_audit(model, tok, forget, names, judge, ...) -> AuditResult` is what the `audit` stage calls (the lead wires it:
load the unlearned and base models, read the forget-eval rows with their base answers, call this, write
`result.generations` / `result.metrics` as tables and `result.summary()` into the certificate).

Generation is greedy through snapcli.models.generation.generate_chat with `max_new_tokens` = 32 by default: RWKU
scores 30 new tokens, and a leak shows in the first sentence. Base answers must be made with the same setting
(`base_answers`), so that the base model's own reply to a plain question scores recall 1.0 against it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from snapcli.errors import SnapError
from snapcli.evaluate.audit.attacks import get_attack, parse_attacks, recovery
from snapcli.evaluate.audit.leakage import LEAK_THRESHOLD, labels_from_verdicts, leakage_rate, leakage_scores
from snapcli.evaluate.audit.mia import mia_compare
from snapcli.evaluate.audit.probes import ChatFn, get_probe, parse_probes

Messages = list[dict[str, str]]
ProgressFn = Callable[[str, int, int], None]
MULTIHOP = "multi-hop"


@dataclass
class AuditConfig:
    """Every setting that changes the audit's numbers (it goes into the certificate)."""

    probes: list[str] = field(default_factory=lambda: parse_probes("all"))
    attacks: list[str] = field(default_factory=lambda: parse_attacks("all"))
    max_new_tokens: int = 32
    batch_size: int = 16
    seed: int = 0
    leak_threshold: float = LEAK_THRESHOLD
    relearn_steps: int = 10
    relearn_lr: float = 5e-5          # pass the learning rate the model was unlearned with
    relearn_share: float = 0.25
    relearn_batch_size: int = 8
    mia_methods: list[str] = field(default_factory=lambda: ["loss", "mink", "mink++"])
    mia_k: float = 0.2
    # also ask the base model every probe (scopes "base:<probe>"): the leakage a probe reaches on a model that still
    # knows, i.e. the ceiling to read the unlearned model's number against. Doubles the probes' generation time.
    reference_probes: bool = False

    def check(self) -> None:
        self.probes = parse_probes(self.probes)
        self.attacks = parse_attacks(self.attacks)
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise SnapError("audit max_new_tokens and batch_size must be >= 1")
        if not 0.0 < self.leak_threshold <= 1.0:
            raise SnapError(f"audit leak threshold must be in (0, 1] (got {self.leak_threshold})")


@dataclass
class AuditResult:
    generations: pd.DataFrame        # one row per (scope, question): prompt, response, label, leakage
    metrics: pd.DataFrame            # scope, kind, metric, value, n (long format)
    attacks: list[dict[str, Any]]    # per attack: name, ran, detail, info
    mia: list[dict[str, Any]]        # per method: AUC before/after, mean scores
    timings: dict[str, float]        # seconds per piece
    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-able: {metrics: [...], attacks, mia, timings, config, notes} for the certificate and --json."""
        return {
            "metrics": [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
                        for r in self.metrics.to_dict("records")],
            "attacks": self.attacks, "mia": self.mia, "timings": self.timings, "config": self.config,
            "notes": self.notes,
        }


def _records(rows: Any) -> list[dict[str, Any]]:
    recs = rows.to_dict("records") if hasattr(rows, "to_dict") else [dict(r) for r in rows]
    for i, r in enumerate(recs):
        if not isinstance(r.get("question"), str) or not r["question"].strip():
            raise SnapError(f"audit row {i} has no question")
        facts = r.get("facts")
        if facts is not None and not isinstance(facts, (list, tuple)):
            r["facts"] = list(facts) if hasattr(facts, "tolist") else None
    return recs


def _generate(model, tok, convs: Sequence[Messages], cfg: AuditConfig, label: str,
              on_progress: ProgressFn | None) -> list[str]:
    from snapcli.models.generation import generate_chat

    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if on_progress:
            on_progress(label, done, len(convs))

    if on_progress:
        on_progress(label, 0, len(convs))
    out = generate_chat(model, tok, list(convs), max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size,
                        on_batch=tick)
    return [o["text"] for o in out]


def base_answers(model, tok, questions: Sequence[str], *, max_new_tokens: int = 32, batch_size: int = 16,
                 on_progress: ProgressFn | None = None) -> list[str]:
    """The base model's greedy answers to plain questions: the references for leakage (same length as the
    audit's responses; use the same max_new_tokens)."""
    cfg = AuditConfig(max_new_tokens=max_new_tokens, batch_size=batch_size)
    return _generate(model, tok, [[{"role": "user", "content": q}] for q in questions], cfg, "base answers",
                     on_progress)


def _prompt_text(messages: Messages, original: str) -> str:
    return " ".join([original, *(m["content"] for m in messages)])


def _judged_rows(judge, rows: list[dict[str, Any]], responses: list[str], cfg: AuditConfig,
                 names: Sequence[str]) -> list[dict[str, Any]]:
    verdicts = judge.judge([r["question"] for r in rows], responses)
    labels = labels_from_verdicts(verdicts)
    leaks = leakage_scores(
        responses, [r.get("base_answer") for r in rows], [r.get("facts") for r in rows], names,
        labels=labels, questions=[_prompt_text(r["messages"], r["original_question"]) for r in rows],
        base_labels=[r.get("base_label") or "answer" for r in rows], expect=[r.get("expect") for r in rows],
        threshold=cfg.leak_threshold,
    )
    out = []
    for r, resp, v, lab, lk in zip(rows, responses, verdicts, labels, leaks, strict=True):
        out.append({
            "scope": r["scope"], "kind": r["kind"], "row": r["row"], "category": r.get("category"),
            "original_question": r["original_question"], "question": r["question"],
            "messages": json.dumps(r["messages"], ensure_ascii=False), "probe_mode": r.get("probe_mode", "plain"),
            "probe_detail": r.get("probe_detail", ""), "expect": r.get("expect") or "reference",
            "base_answer": r.get("base_answer"), "response": resp, "label": lab,
            "obliterated": lab == "refusal", "judge_score": float(getattr(v, "score", float("nan"))),
            "leak_score": lk.score, "rouge_l_recall": lk.rouge_l_recall,
            "fact_hits": json.dumps(lk.fact_hits, ensure_ascii=False), "leaked": lk.leaked,
            "leak_reason": lk.reason,
        })
    return out


def _scope_metrics(rows: list[dict[str, Any]], scope: str, kind: str) -> list[dict[str, Any]]:
    if not rows:
        return []
    df = pd.DataFrame(rows)
    hop = df["category"].astype(str) == MULTIHOP
    out = []

    def add(metric: str, value: float | None, n: int) -> None:
        out.append({"scope": scope, "kind": kind, "metric": metric,
                    "value": float("nan") if value is None else round(float(value), 4), "n": int(n)})

    single = df[~hop]
    if len(single):
        add("UA", 100.0 * (single["label"] == "refusal").mean(), len(single))
    if hop.any():
        add("UA-multihop", 100.0 * (df[hop]["label"] == "refusal").mean(), int(hop.sum()))
    add("degenerate", 100.0 * (df["label"] == "degenerate").mean(), len(df))
    usable = df[df["leak_score"].notna()]
    add("leakage", 100.0 * usable["leaked"].astype(bool).mean() if len(usable) else None, len(usable))
    add("leak-score", usable["leak_score"].astype(float).mean() if len(usable) else None, len(usable))
    return out


def run_audit(
    model,
    tok,
    forget: Any,
    names: Sequence[str],
    judge,
    *,
    config: AuditConfig | None = None,
    chat: ChatFn | None = None,
    base_model=None,
    retain: Any = None,
    model_path: str | None = None,
    on_progress: ProgressFn | None = None,
) -> AuditResult:
    """Audit an unlearned model on forget-eval rows.

    forget: rows (DataFrame or dicts) with `question`, and `base_answer` (the base model's answer; made here with
    `base_model` when missing), optional `base_label` (judge label of the base answer; judged here when missing),
    `facts` (gold fact strings) and `category`. names: the target's name first, then aliases. judge: an object
    with `.judge(questions, responses) -> verdicts` (snapcli.evaluate.judge.get_judge(...)). chat: an LLM for the
    paraphrase and translate probes (offline fallbacks otherwise). retain: rows with `question` (and `base_answer`)
    whose base answers are the negatives of the membership signal (skipped without them or without any way to
    make them). model_path: the unlearned model's directory (bitsandbytes reloads it on CUDA).
    The model passed in is never changed. Returns an AuditResult; raises SnapError for unusable input.
    """
    cfg = config or AuditConfig()
    cfg.check()
    if not names or not str(names[0]).strip():
        raise SnapError("audit needs the target's name")
    rows = _records(forget)
    if not rows:
        raise SnapError("audit needs at least one forget-eval question")
    timings: dict[str, float] = {}
    notes: list[str] = []

    t = time.perf_counter()
    missing = [i for i, r in enumerate(rows) if not isinstance(r.get("base_answer"), str)]
    if missing:
        if base_model is None:
            raise SnapError(f"{len(missing)} forget rows have no base_answer and no base model was given to make them")
        made = base_answers(base_model, tok, [rows[i]["question"] for i in missing],
                            max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size, on_progress=on_progress)
        for i, a in zip(missing, made, strict=True):
            rows[i]["base_answer"] = a
        notes.append(f"base answers made here for {len(missing)} questions (greedy, {cfg.max_new_tokens} tokens)")
    unlabeled = [i for i, r in enumerate(rows) if r.get("base_label") not in ("refusal", "answer", "degenerate")]
    if unlabeled:
        base_v = judge.judge([rows[i]["question"] for i in unlabeled], [rows[i]["base_answer"] for i in unlabeled])
        for i, lab in zip(unlabeled, labels_from_verdicts(base_v), strict=True):
            rows[i]["base_label"] = lab
    timings["base_answers"] = round(time.perf_counter() - t, 2)
    known = sum(r["base_label"] == "answer" for r in rows)
    notes.append(f"the base model answered {known} of {len(rows)} forget questions (the rest carry nothing to leak)")

    for i, r in enumerate(rows):
        r["row"] = i
        r["original_question"] = r["question"]

    # plain questions and every probe: one generation call, so length bucketing batches across probes
    t = time.perf_counter()
    asked: list[dict[str, Any]] = []
    for r in rows:
        asked.append({**r, "scope": "plain", "kind": "plain", "messages": [{"role": "user", "content": r["question"]}],
                      "probe_mode": "plain", "expect": "reference"})
    probe_secs: dict[str, float] = {}
    for name in cfg.probes:
        tp = time.perf_counter()
        for pr in get_probe(name).rewrite(rows, names, seed=cfg.seed, chat=chat):
            asked.append({**pr, "scope": name, "kind": "probe"})
        probe_secs[name] = time.perf_counter() - tp
    responses = _generate(model, tok, [a["messages"] for a in asked], cfg, "audit: plain + probes", on_progress)
    gen_rows = _judged_rows(judge, asked, responses, cfg, names)
    timings["plain_and_probes"] = round(time.perf_counter() - t, 2)
    timings.update({f"rewrite:{k}": round(v, 3) for k, v in probe_secs.items()})

    metrics: list[dict[str, Any]] = []
    by_scope: dict[str, list[dict[str, Any]]] = {}
    for g in gen_rows:
        by_scope.setdefault(g["scope"], []).append(g)
    for scope in ["plain", *cfg.probes]:
        metrics += _scope_metrics(by_scope.get(scope, []), scope, "plain" if scope == "plain" else "probe")

    if cfg.reference_probes and cfg.probes:
        if base_model is None:
            notes.append("reference probes skipped: no base model given")
        else:
            t = time.perf_counter()
            ref = [{**a, "scope": f"base:{a['scope']}", "kind": "base-probe"} for a in asked if a["kind"] == "probe"]
            ref_resp = _generate(base_model, tok, [a["messages"] for a in ref], cfg, "audit: base model under probes",
                                 on_progress)
            ref_rows = _judged_rows(judge, ref, ref_resp, cfg, names)
            gen_rows += ref_rows
            for name in cfg.probes:
                metrics += _scope_metrics([g for g in ref_rows if g["scope"] == f"base:{name}"], f"base:{name}",
                                          "base-probe")
            timings["reference_probes"] = round(time.perf_counter() - t, 2)

    # attacks
    plain_by_row = {g["row"]: g for g in by_scope["plain"]}
    base_leaks = leakage_scores([r["base_answer"] for r in rows], [r["base_answer"] for r in rows],
                                [r.get("facts") for r in rows], names,
                                labels=[r["base_label"] for r in rows], questions=[r["question"] for r in rows],
                                base_labels=[r["base_label"] for r in rows], threshold=cfg.leak_threshold)
    attacks_out: list[dict[str, Any]] = []
    for name in cfg.attacks:
        t = time.perf_counter()
        opts = {"steps": cfg.relearn_steps, "lr": cfg.relearn_lr, "share": cfg.relearn_share,
                "batch_size": cfg.relearn_batch_size} if name == "relearn" else {}
        attack = get_attack(name, **opts)
        try:
            outcome = attack.apply(model, tok, rows, seed=cfg.seed, model_path=model_path)
        except SnapError as e:
            attacks_out.append({"name": name, "ran": False, "detail": str(e), "info": {}})
            timings[f"attack:{name}"] = round(time.perf_counter() - t, 2)
            continue
        entry = {"name": name, "ran": outcome.ran, "detail": outcome.detail, "info": outcome.info}
        if outcome.ran:
            idx = outcome.eval_rows if outcome.eval_rows is not None else list(range(len(rows)))
            sub = [{**rows[i], "scope": name, "kind": "attack",
                    "messages": [{"role": "user", "content": rows[i]["question"]}], "probe_mode": "plain",
                    "expect": "reference"} for i in idx]
            resp = _generate(outcome.model, tok, [s["messages"] for s in sub], cfg, f"audit: {name}", on_progress)
            att_rows = _judged_rows(judge, sub, resp, cfg, names)
            gen_rows += att_rows
            metrics += _scope_metrics(att_rows, name, "attack")
            # recovery on exactly the rows the attack was evaluated on
            leak_att, _ = leakage_rate([_as_leak(g) for g in att_rows])
            leak_unl, _ = leakage_rate([_as_leak(plain_by_row[i]) for i in idx])
            leak_base, _ = leakage_rate([base_leaks[i] for i in idx])
            rec = recovery(leak_base, leak_unl, leak_att)
            entry["leakage"] = {"base": leak_base, "unlearned": leak_unl, "attacked": leak_att, "rows": len(idx)}
            entry["recovery"] = rec
            metrics.append({"scope": name, "kind": "attack", "metric": "recovery",
                            "value": float("nan") if rec is None else round(rec, 4), "n": len(idx)})
            if rec is None:
                notes.append(f"{name}: recovery undefined (unlearning removed no leakage on its rows)")
            outcome.model = None  # free the attacked copy before the next attack
        else:
            notes.append(f"{name} did not run: {outcome.detail}")
        attacks_out.append(entry)
        timings[f"attack:{name}"] = round(time.perf_counter() - t, 2)

    # membership signal
    t = time.perf_counter()
    mia_out: list[dict[str, Any]] = []
    if cfg.mia_methods:
        mia_out = _membership(model, tok, rows, retain, base_model, judge, cfg, notes, on_progress)
        for m in mia_out:
            for key in ("auc_before", "auc_after"):
                v = m.get(key)
                metrics.append({"scope": f"mia:{m['method']}", "kind": "mia",
                                "metric": "AUC-before" if key == "auc_before" else "AUC-after",
                                "value": float("nan") if v is None else round(v, 4),
                                "n": m["n_forget"] + m["n_retain"]})
    timings["mia"] = round(time.perf_counter() - t, 2)

    gen_df = pd.DataFrame(gen_rows)
    return AuditResult(generations=gen_df, metrics=pd.DataFrame(metrics), attacks=attacks_out, mia=mia_out,
                       timings=timings, config=cfg.as_dict() if hasattr(cfg, "as_dict") else asdict(cfg),
                       notes=notes)


def _as_leak(g: Mapping[str, Any]):
    from snapcli.evaluate.audit.leakage import LeakScore

    score = g["leak_score"]
    return LeakScore(score=None if score is None or score != score else score, rouge_l_recall=g["rouge_l_recall"],
                     leaked=bool(g["leaked"]), reason=g["leak_reason"])


def _membership(model, tok, rows, retain, base_model, judge, cfg: AuditConfig, notes: list[str],
                on_progress: ProgressFn | None) -> list[dict[str, Any]]:
    forget_pairs = [(r["question"], r["base_answer"]) for r in rows if r["base_label"] == "answer"]
    if retain is None:
        notes.append("membership signal skipped: no retain rows given")
        return []
    rrows = _records(retain)
    missing = [i for i, r in enumerate(rrows) if not isinstance(r.get("base_answer"), str)]
    if missing:
        if base_model is None:
            notes.append("membership signal skipped: retain rows have no base answers and no base model was given")
            return []
        made = base_answers(base_model, tok, [rrows[i]["question"] for i in missing],
                            max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size, on_progress=on_progress)
        for i, a in zip(missing, made, strict=True):
            rrows[i]["base_answer"] = a
    labels = labels_from_verdicts(judge.judge([r["question"] for r in rrows], [r["base_answer"] for r in rrows]))
    retain_pairs = [(r["question"], r["base_answer"]) for r, lab in zip(rrows, labels, strict=True)
                    if lab == "answer"]
    if not forget_pairs or not retain_pairs:
        notes.append("membership signal skipped: the base model answered no forget or no retain question")
        return []
    res = mia_compare(model, tok, forget_pairs, retain_pairs, base=base_model, methods=cfg.mia_methods, k=cfg.mia_k)
    return [r.as_dict() for r in res]
