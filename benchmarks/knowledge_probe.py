"""Run "what the model knows" for real: probe -> kind -> extract -> derived questions -> related entities.

For each target: the kind-neutral questions, kind detection (cue heuristic, and the strict-format question to the
same model), then the kind's probe questions, greedy and batched; prints one JSON document per run with the answers,
the Knowledge, the derived questions, the related-entity ranking and the seconds each step took. The precision
figures in docs/data-stages.md ("What the model knows") come from labelling this output by hand; the labels are
in benchmarks/knowledge_labels.yaml, the labelled run in benchmarks/knowledge_run_smollm2.json, and `--score FILE`
recomputes the shares from a saved run.

    .venv/bin/python benchmarks/knowledge_probe.py [--model smollm2] [--targets "Marie Curie=person;Paris"]
        [--max-new-tokens 96] [--batch-size 16] [--out run.json]
    .venv/bin/python benchmarks/knowledge_probe.py --reextract run.json --out run2.json   # no model needed
    .venv/bin/python benchmarks/knowledge_probe.py --score run.json [--labels benchmarks/knowledge_labels.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_TARGETS = ("Marie Curie=person;Taylor Swift=person;Microsoft=organization;"
                   "Sherlock Holmes=fictional_character;Paris=place;The Great Gatsby=creative_work;"
                   "World War II=event")


def run(args) -> dict:
    import torch

    from snapcli.datagen.chatfn import local_chat
    from snapcli.datagen.derive import derived_questions
    from snapcli.datagen.kind import detect_kind
    from snapcli.datagen.knowledge import probe_target
    from snapcli.datagen.related import rank_related
    from snapcli.models import load_causal_lm

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model, tok = load_causal_lm(args.model)
    chat = local_chat(model, tok, batch_size=args.batch_size)
    out = {"model": args.model, "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size,
           "threads": args.threads, "load_s": round(time.perf_counter() - t0, 2), "targets": []}
    for item in args.targets.split(";"):
        name, _, expected = item.partition("=")
        name = name.strip()
        t = time.perf_counter()
        table, know = probe_target(chat, name, kind=None, max_new_tokens=args.max_new_tokens,
                                   batch_size=args.batch_size)
        probe_s = time.perf_counter() - t
        neutral = table["base_answer"].tolist()[:3]
        t = time.perf_counter()
        llm_kind, llm_why = detect_kind(name, neutral, chat=chat)
        kind_llm_s = time.perf_counter() - t
        t = time.perf_counter()
        derived = derived_questions(know, [name], n=40, seed=0)
        related = rank_related(know, [], [], k=10)
        post_s = time.perf_counter() - t
        tokens = int(table["completion_tokens"].fillna(0).sum())
        out["targets"].append({
            "name": name, "expected_kind": expected or None, "kind": know.kind_guess, "kind_why": know.kind_why,
            "llm_kind": llm_kind, "llm_kind_why": llm_why,
            "answers": table[["question", "facet", "base_answer", "completion_tokens"]].to_dict("records"),
            "knowledge": know.to_dict(), "derived": derived.to_dict("records"), "related": related,
            "seconds": {"probe": round(probe_s, 2), "kind_llm": round(kind_llm_s, 2), "extract_derive_rank":
                        round(post_s, 3)},
            "questions": len(table), "completion_tokens": tokens,
            "tokens_per_s": round(tokens / probe_s, 1) if probe_s else None,
        })
        print(f"{name}: {len(table)} questions, {probe_s:.0f} s, kind {know.kind_guess} (LLM: {llm_kind})",
              file=sys.stderr)
    return out


def reextract(run_file: str, use_embedder: bool = False) -> dict:
    """Extraction, derived questions and ranking again on a saved run's answers (no model needed)."""
    import pandas as pd

    from snapcli.datagen.derive import derived_questions
    from snapcli.datagen.knowledge import extract
    from snapcli.datagen.related import rank_related

    embed = None
    if use_embedder:
        from snapcli.stages.filter import embed
    data = json.loads(Path(run_file).read_text())
    for t in data["targets"]:
        table = pd.DataFrame(t["answers"])
        start = time.perf_counter()
        know = extract(t["name"], table, kind=t["kind"], embed=embed)
        know.kind_why = t["kind_why"]
        t["knowledge"] = know.to_dict()
        t["derived"] = derived_questions(know, [t["name"]], n=40, seed=0).to_dict("records")
        t["related"] = rank_related(know, [], [], k=10)
        t["seconds"]["extract_derive_rank"] = round(time.perf_counter() - start, 3)
    return data


def score(run_file: str, labels_file: str) -> dict:
    """Shares of labelled-correct items per target and overall. Only items of the run count; items of the run
    without a label are listed under `unlabelled` (relabel after a change to extraction)."""
    import yaml

    data = json.loads(Path(run_file).read_text())
    labels = yaml.safe_load(Path(labels_file).read_text())
    result: dict = {"targets": {}, "overall": {}, "unlabelled": {}}
    totals: dict[str, list[int]] = {}
    for t in data["targets"]:
        lab = labels.get(t["name"], {})
        items = {"descriptions": t["knowledge"]["facts"]["description"], "related": [r["name"] for r in t["related"]]}
        row = {"kind_heuristic": t["kind"], "kind_llm_reply": t.get("llm_kind_why", "")}
        for part, names in items.items():
            got = [lab.get(part, {}).get(n) for n in names]
            missing = [n for n, g in zip(names, got, strict=True) if g is None]
            if missing:
                result["unlabelled"].setdefault(t["name"], []).extend(missing)
            for crit in ("stated", "real", "typed"):
                vals = [g[crit] for g in got if g and crit in g]
                if vals:
                    row[f"{part}_{crit}"] = f"{sum(vals)}/{len(vals)}"
                    tot = totals.setdefault(f"{part}_{crit}", [0, 0])
                    tot[0] += sum(vals)
                    tot[1] += len(vals)
        result["targets"][t["name"]] = row
    result["overall"] = {k: f"{a}/{b} ({100 * a / b:.0f}%)" for k, (a, b) in totals.items() if b}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--targets", default=DEFAULT_TARGETS, help='"Name=kind;Name" (kind is what you expect)')
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--score", help="a saved run: print the labelled shares instead of running")
    ap.add_argument("--reextract", help="a saved run: extract/derive/rank again from its answers")
    ap.add_argument("--embedder", action="store_true", help="type bare names with the embedded MiniLM too")
    ap.add_argument("--labels", default=str(Path(__file__).with_name("knowledge_labels.yaml")))
    args = ap.parse_args()
    if args.score:
        doc = score(args.score, args.labels)
    elif args.reextract:
        doc = reextract(args.reextract, args.embedder)
    else:
        doc = run(args)
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
