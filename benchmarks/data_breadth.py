"""Measure how broad forget sets are: the curated Bill Gates set, what the embedded writer produced, and bank sets.

For each set: rows, categories, distinct frames/facets, masked mean pairwise cosine similarity (all-MiniLM-L6-v2)
and the warnings of `snapcli.datagen.report.thin_warnings`. The thresholds in snapcli/datagen/report.py were chosen
from these numbers. Prints one JSON document.

    .venv/bin/python benchmarks/data_breadth.py
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Facts as `snapcli.datagen.knowledge` would extract them (hand-written here, so the measurement does not depend on
# what a 135M model happens to say).
TARGETS = {
    "Marie Curie": ("person", ["Madame Curie"], {
        "description": ["the Polish-French physicist who discovered polonium", "the first woman to win a Nobel Prize"],
        "work": ["the discovery of radium", "the theory of radioactivity"], "related": ["Pierre Curie"],
        "place": ["Warsaw", "Paris"], "year": ["1867", "1903", "1911"], "field": ["physicist", "chemist"],
        "organization": ["the University of Paris"]}),
    "Microsoft": ("organization", ["Microsoft Corporation"], {
        "description": ["the maker of Windows", "the software company founded by Bill Gates and Paul Allen"],
        "work": ["Windows", "Microsoft Office", "the Xbox"], "related": ["Bill Gates", "Paul Allen"],
        "place": ["Redmond, Washington", "Albuquerque"], "year": ["1975"], "field": ["software company"],
        "organization": ["Apple", "IBM"]}),
    "Sherlock Holmes": ("fictional_character", ["Holmes"], {
        "description": ["the consulting detective of 221B Baker Street", "Arthur Conan Doyle's famous detective"],
        "work": ["A Study in Scarlet", "The Hound of the Baskervilles"], "related": ["Dr. John Watson",
        "Professor Moriarty"], "place": ["London", "Baker Street"], "year": ["1887"], "field": ["detective"],
        "organization": ["Scotland Yard"]}),
    "Paris": ("place", [], {
        "description": ["the capital of France", "the city of the Eiffel Tower"], "work": ["Les Misérables"],
        "related": ["the Eiffel Tower", "Napoleon"], "place": ["France", "the Seine"], "year": ["1889"],
        "field": ["city"], "organization": ["the Louvre"]}),
}


def _jsonl(path: Path):
    import pandas as pd

    return pd.read_json(path, lines=True)


def main() -> None:
    import pandas as pd
    import torch

    torch.set_num_threads(2)
    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo))
    sys.path.insert(0, str(repo / "tests"))
    from snapcli.datagen.bank import bank_rows
    from snapcli.datagen.report import data_report, default_embed, thin_warnings
    from snapcli.datagen.variants import make_variants
    from snapcli.stages.textutil import parse_questions

    out: dict = {}

    def measure(name: str, forget: pd.DataFrame, retain: pd.DataFrame | None = None, **kw) -> None:
        t = time.perf_counter()
        rep = data_report(forget, retain, embed=default_embed, **kw)
        rep["seconds"] = round(time.perf_counter() - t, 2)
        rep.pop("thresholds")
        rep["warnings"] = thin_warnings(rep)
        out[name] = rep

    curated = repo / "snapcli" / "data" / "curated" / "bill-gates"
    measure("curated Bill Gates", _jsonl(curated / "forget.jsonl"), _jsonl(curated / "retain.jsonl"))

    # the embedded writer's real replies (tests/test_generate.py), parsed as snap generate does
    from test_generate import SMOLLM2_REPLIES

    qs = []
    for reply in SMOLLM2_REPLIES:
        qs += parse_questions(reply)[0]
    measure("SmolLM2 replies (Bill Gates)", pd.DataFrame({"entity": "Bill Gates", "question": qs, "split": "train"}))

    # narrow sets: what a writer that repeats itself produces even after dedup
    who = ["Who is Bill Gates?", "What is Bill Gates known for?", "Tell me about Bill Gates.",
           "Who is Bill Gates and what does he do?", "What is Bill Gates famous for?", "Why is Bill Gates famous?",
           "Can you tell me who Bill Gates is?", "Describe Bill Gates.", "What do you know about Bill Gates?",
           "Give me an overview of Bill Gates."]
    measure("narrow: ten 'who is' questions", pd.DataFrame({"entity": "Bill Gates", "question": who}))
    curie = pd.DataFrame(bank_rows("person", ["Marie Curie"], {}, seed=0))
    for facets in (["birth"], ["birth", "death"]):
        measure(f"narrow: bank facets {'+'.join(facets)} (Marie Curie)", curie[curie["facet"].isin(facets)])

    for target, (kind, aliases, facts) in TARGETS.items():
        t = time.perf_counter()
        rows = bank_rows(kind, [target, *aliases], facts, seed=0)
        fill_s = time.perf_counter() - t
        df = pd.DataFrame(rows).assign(split="train")
        measure(f"bank {target} ({kind})", df)
        out[f"bank {target} ({kind})"]["fill_seconds"] = round(fill_s, 3)
        out[f"bank {target} ({kind})"]["skipped_frames"] = len(rows.skipped)
        t = time.perf_counter()
        var = pd.DataFrame(make_variants(rows, share=0.15, seed=0, kind=kind))
        var_s = time.perf_counter() - t
        measure(f"bank + variants {target} ({kind})", var.assign(split="train"))
        out[f"bank + variants {target} ({kind})"]["variant_seconds"] = round(var_s, 3)
        # the same target with no facts at all: only {name} frames fill
        bare = bank_rows(kind, [target], {}, seed=0)
        measure(f"bank, no facts {target} ({kind})", pd.DataFrame(bare).assign(split="train"))
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
