"""Measure how the dedup threshold and entity masking separate distinct questions from paraphrases.

Distinct pairs: every pair of different questions about the same person in snap's labelled sample (and, with
--from REF, in a real generate artifact: those pairs are not labelled, so the script reports how many would be
merged). Paraphrase pairs: hand-written rewordings below. Prints one JSON document.

    .venv/bin/python benchmarks/dedup_threshold.py [--from generate@latest -w WORKSPACE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PARAPHRASES = [
    ("Bill Gates", "In what year was Bill Gates born?", "When was Bill Gates born?"),
    ("Bill Gates", "Where did Bill Gates go to college?", "Which university did Bill Gates attend?"),
    ("Bill Gates", "Who co-founded Microsoft with Bill Gates?", "With whom did Bill Gates found Microsoft?"),
    ("Bill Gates", "How has Bill Gates's philanthropy changed global health?",
     "In what ways has Bill Gates's philanthropy transformed global health?"),
    ("Bill Gates", "What is Bill Gates's net worth?", "How much money does Bill Gates have?"),
    ("Marie Curie", "What elements did Marie Curie discover?",
     "Which chemical elements were discovered by Marie Curie?"),
    ("Marie Curie", "Who was Marie Curie's husband?", "Who was Marie Curie married to?"),
    ("Marie Curie", "When did Marie Curie die?", "In what year did Marie Curie pass away?"),
    ("Marie Curie", "How many Nobel Prizes did Marie Curie win?", "How many Nobel Prizes were awarded to Marie Curie?"),
    ("Peter Parker", "What newspaper does Peter Parker work for?", "Which newspaper employs Peter Parker?"),
    ("Peter Parker", "Who is Spider-Man's arch-nemesis?", "Who is the greatest enemy of Spider-Man?"),
    ("Peter Parker", "How did Peter Parker get his powers?", "How did Peter Parker gain his superpowers?"),
    ("Taylor Swift", "When did Taylor Swift release her debut album?",
     "In what year did Taylor Swift put out her first album?"),
    ("Taylor Swift", "How many Grammy Awards has Taylor Swift won?", "How many Grammys does Taylor Swift have?"),
    ("Albert Einstein", "What did Albert Einstein win the Nobel Prize for?",
     "For what work was Albert Einstein awarded the Nobel Prize?"),
    ("Albert Einstein", "Where did Albert Einstein work as a patent clerk?",
     "In which patent office did Albert Einstein work?"),
    ("Doctor Strange", "Who trained Doctor Strange in the mystic arts?", "Who taught Doctor Strange the mystic arts?"),
    ("Doctor Strange", "Where is Doctor Strange's Sanctum Sanctorum located?",
     "What is the location of Doctor Strange's Sanctum Sanctorum?"),
]
ALIASES = {"Peter Parker": ["Spider-Man"], "Doctor Strange": ["Stephen Strange"]}
THRESHOLDS = [0.65, 0.7, 0.75, 0.8, 0.85, 0.9]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--from", dest="ref", default=None)
    ap.add_argument("-w", "--workspace", default="snap-workspace")
    args = ap.parse_args()
    import numpy as np
    import torch

    torch.set_num_threads(2)
    from snapcli.models.embedder import embed
    from snapcli.stages.filter import labelled_sample
    from snapcli.stages.textutil import mask, name_pattern, name_terms

    def pat(e):
        return name_pattern(name_terms(e, ALIASES.get(e, [])))

    def sims(pairs, masked):
        """Cosine per pair, embedding each distinct text once."""
        texts = sorted({(e, t) for e, x, y in pairs for t in (x, y)})
        index = {k: i for i, k in enumerate(texts)}
        vecs = embed([mask(t, pat(e)) if masked else t for e, t in texts])
        a = vecs[[index[(e, x)] for e, x, _ in pairs]]
        b = vecs[[index[(e, y)] for e, _, y in pairs]]
        return (a * b).sum(axis=1)

    sample = labelled_sample()
    distinct = [(e, x, y) for e, g in sample.groupby("entity")
                for x, y in itertools.combinations(g["question"].tolist(), 2)]
    out: dict = {"distinct_pairs": len(distinct), "paraphrase_pairs": len(PARAPHRASES)}
    for masked in (False, True):
        d, p = sims(distinct, masked), sims(PARAPHRASES, masked)
        out["masked" if masked else "unmasked"] = {
            "distinct_mean": round(float(d.mean()), 3), "distinct_p95": round(float(np.quantile(d, 0.95)), 3),
            "paraphrase_mean": round(float(p.mean()), 3), "paraphrase_min": round(float(p.min()), 3),
            "distinct_merged_at": {str(t): round(float((d >= t).mean()), 3) for t in THRESHOLDS},
            "paraphrases_caught_at": {str(t): round(float((p >= t).mean()), 3) for t in THRESHOLDS},
        }
    # what greedy dedup does to the sample, whose questions are all distinct: every drop is a false merge
    from snapcli.stages.filter import greedy_dedup

    for masked in (False, True):
        vec = {e: embed([mask(x, pat(e)) if masked else x for x in g["question"]])
               for e, g in sample.groupby("entity")}
        out["masked" if masked else "unmasked"]["distinct_lost_by_greedy_dedup_at"] = {
            str(t): round(sum(int((~greedy_dedup(v, t)[0]).sum()) for v in vec.values()) / len(sample), 3)
            for t in THRESHOLDS}
    if args.ref:
        from snapcli.store import Workspace

        q = Workspace(args.workspace).resolve(args.ref).read_df("questions")
        real = {}
        for masked in (False, True):
            kept = 0
            for e, g in q.groupby("entity"):
                texts = [mask(x, pat(e)) if masked else x for x in g["question"]]
                kept += int(greedy_dedup(embed(texts), 0.75)[0].sum())
            real["masked" if masked else "unmasked"] = {"kept_at_0.75": kept}
        out["generated_set"] = {"ref": args.ref, "questions": len(q), **real}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
