"""Measure the audit on the demo's data (docs/audit.md quotes this script's output).

  calibrate  the base model's greedy answers vs (a) its sampled re-answers of the same question and (b) its answers
             to the other questions: the two ROUGE-L recall distributions LEAK_THRESHOLD sits between
  sanity     the base model audited against its own answers under every probe (leakage should be high)
  audit      a full audit of an unlearned model (every probe, both attacks, MIA) with wall and CPU seconds per piece

Base answers are cached in --cache (Parquet) so the three parts share them.

    .venv/bin/python benchmarks/audit_demo.py calibrate sanity --limit 40
    .venv/bin/python benchmarks/audit_demo.py audit --model /path/to/unlearned --lr 2e-4 --limit 40
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _rows(limit: int):
    import pandas as pd

    from snapcli.stages.eval import take_limit

    ex = Path(__file__).resolve().parents[1] / "snapcli/data/curated/bill-gates"
    f = pd.read_json(ex / "forget.jsonl", lines=True)
    r = pd.read_json(ex / "retain.jsonl", lines=True)
    f = take_limit(f[f["split"] == "eval"].reset_index(drop=True), limit)
    r = take_limit(r[r["split"] == "eval"].reset_index(drop=True), limit)
    return f, r


def _load(name: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from snapcli.models import resolve_model

    path = resolve_model(name).path_or_id
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    return model, tok, path


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("parts", nargs="+", choices=["calibrate", "sanity", "audit"])
    ap.add_argument("--base", default="smollm2")
    ap.add_argument("--model", help="the unlearned model (directory) for `audit`")
    ap.add_argument("--lr", type=float, default=1e-4, help="the learning rate the model was unlearned with")
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--sanity-limit", type=int, default=20)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--judge", default="embedding")
    ap.add_argument("--cache", default="/tmp/snap-audit-base-answers.parquet")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--probes", default="all")
    ap.add_argument("--attacks", default="all")
    ap.add_argument("--mia", default="loss,mink,mink++", help="MIA methods ('' = none)")
    args = ap.parse_args()

    import pandas as pd
    import torch

    from snapcli.evaluate.audit import AuditConfig, base_answers, run_audit
    from snapcli.evaluate.audit.leakage import content_words, rouge_l_recall, target_pattern
    from snapcli.evaluate.judge import get_judge
    from snapcli.models.generation import generate_chat

    torch.set_num_threads(args.threads)
    report: dict = {"load_avg_start": os.getloadavg(), "threads": args.threads}
    forget, retain = _rows(args.limit)
    names = [str(forget["entity"].iloc[0])]
    judge = get_judge(args.judge)
    base, tok, _ = _load(args.base)
    cache = Path(args.cache)
    if cache.exists():
        cached = pd.read_parquet(cache)
        answers = dict(zip(cached["question"], cached["base_answer"], strict=True))
    else:
        answers = {}
    need = [q for q in [*forget["question"], *retain["question"]] if q not in answers]
    if need:
        t, c = time.perf_counter(), time.process_time()
        made = base_answers(base, tok, need, max_new_tokens=args.max_new_tokens)
        report["base_answers"] = {"n": len(need), "wall_s": round(time.perf_counter() - t, 1),
                                  "cpu_s": round(time.process_time() - c, 1)}
        answers.update(zip(need, made, strict=True))
        pd.DataFrame({"question": list(answers), "base_answer": list(answers.values())}).to_parquet(cache)
    forget["base_answer"] = [answers[q] for q in forget["question"]]
    retain["base_answer"] = [answers[q] for q in retain["question"]]

    if "calibrate" in args.parts:
        t = time.perf_counter()
        qs = list(forget["question"])
        sampled = [o["text"] for o in generate_chat(base, tok, [[{"role": "user", "content": q}] for q in qs],
                                                    max_new_tokens=args.max_new_tokens, temperature=0.7, seed=1)]
        pat = target_pattern(names)
        greedy = list(forget["base_answer"])
        same, other = [], []
        for i, q in enumerate(qs):
            qw = frozenset(content_words(q, pat))
            ref = content_words(greedy[i], pat, qw)
            r = rouge_l_recall(content_words(sampled[i], pat, qw), ref)
            if r is not None:
                same.append(r)
            for j in range(len(qs)):
                if j != i:
                    r = rouge_l_recall(content_words(greedy[j], pat, qw), ref)
                    if r is not None:
                        other.append(r)
        report["calibrate"] = {
            "n_questions": len(qs), "wall_s": round(time.perf_counter() - t, 1),
            "same_question_sampled": {"median": statistics.median(same), "p10": _pct(same, 0.10),
                                      "p25": _pct(same, 0.25), "mean": statistics.fmean(same)},
            "other_question_greedy": {"median": statistics.median(other), "p90": _pct(other, 0.90),
                                      "p95": _pct(other, 0.95), "p99": _pct(other, 0.99)},
            "share_same_above": {str(th): sum(x >= th for x in same) / len(same) for th in (0.15, 0.2, 0.25, 0.3)},
            "share_other_above": {str(th): sum(x >= th for x in other) / len(other) for th in (0.15, 0.2, 0.25, 0.3)},
        }
        print(json.dumps({"calibrate": report["calibrate"]}), flush=True)

    if "sanity" in args.parts:
        t, c = time.perf_counter(), time.process_time()
        res = run_audit(base, tok, forget.head(args.sanity_limit), names, judge,
                        config=AuditConfig(attacks=[], mia_methods=[], max_new_tokens=args.max_new_tokens))
        m = res.metrics
        report["sanity"] = {
            "n_questions": min(args.sanity_limit, len(forget)), "wall_s": round(time.perf_counter() - t, 1),
            "cpu_s": round(time.process_time() - c, 1),
            "per_scope": {s: {k: v for k, v in zip(g["metric"], g["value"], strict=True)}
                          for s, g in m.groupby("scope", sort=False)},
        }
        res.generations.to_parquet("/tmp/snap-audit-sanity-generations.parquet")
        print(json.dumps({"sanity": report["sanity"]}), flush=True)

    if "audit" in args.parts:
        if not args.model:
            ap.error("audit needs --model")
        model, _, path = _load(args.model)
        # the baseline, in the same run and under the same load: one plain greedy pass over the forget questions
        t, c = time.perf_counter(), time.process_time()
        plain = generate_chat(model, tok, [[{"role": "user", "content": q}] for q in forget["question"]],
                              max_new_tokens=args.max_new_tokens, batch_size=16)
        base_wall, base_cpu = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        res = run_audit(model, tok, forget, names, judge, base_model=base, retain=retain, model_path=path,
                        config=AuditConfig(relearn_lr=args.lr, max_new_tokens=args.max_new_tokens, probes=args.probes,
                                           attacks=args.attacks, mia_methods=[m for m in args.mia.split(",") if m]))
        m = res.metrics
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        report["audit"] = {
            "n_questions": len(forget), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "plain_pass": {"wall_s": round(base_wall, 1), "cpu_s": round(base_cpu, 1),
                           "tokens": sum(o["completion_tokens"] for o in plain)},
            "audit_over_plain_pass": {"wall": round(wall / base_wall, 2), "cpu": round(cpu / base_cpu, 2)},
            "prompts_generated": int(len(res.generations)),
            "timings_wall_s": res.timings,
            "per_scope": {s: {k: v for k, v in zip(g["metric"], g["value"], strict=True)}
                          for s, g in m.groupby("scope", sort=False)},
            "attacks": [{k: v for k, v in a.items() if k != "info"} | {"seconds": a["info"].get("seconds")}
                        for a in res.attacks],
            "mia": res.mia, "notes": res.notes,
        }
        res.generations.to_parquet("/tmp/snap-audit-generations.parquet")
        print(json.dumps({"audit": report["audit"]}, default=str), flush=True)
    report["load_avg_end"] = os.getloadavg()
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
