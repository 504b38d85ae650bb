"""Benchmark: snap filter's core on 10,000 questions (embedding, blocked greedy dedup, relevance, categories,
split), against the straightforward dedup (one matrix-vector product per candidate against the kept set)
measured in the same process. Prints one JSON document.

    .venv/bin/python benchmarks/bench_filter.py [--n 10000] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def synthetic_questions(n: int, seed: int = 0):
    """Questions in the shapes LLMs write, over 10 people, with ~15% near-verbatim repeats (as real runs have)."""
    import numpy as np
    import pandas as pd

    people = ["Bill Gates", "Marie Curie", "Peter Parker", "Taylor Swift", "Albert Einstein", "Ada Lovelace",
              "Nelson Mandela", "Frida Kahlo", "Alan Turing", "Serena Williams"]
    stems = ["When was {e} born", "Where did {e} grow up", "What is {e} best known for", "Who influenced {e} the most",
             "How did {e} become famous", "Why is {e} considered important", "What was {e}'s first job",
             "Which award did {e} receive in {y}", "How did {e}'s work change {f}", "What did {e} say about {f}",
             "Who worked with {e} on {f}", "What role did {e} play in {f} during {y}",
             "In what ways has {e} shaped {f}", "What was the relationship between {e} and {o}",
             "How did {o} describe {e}'s approach to {f}"]
    fields = ["science", "technology", "music", "sport", "art", "politics", "medicine", "education", "business",
              "mathematics", "computing", "literature", "film", "philanthropy", "engineering", "history"]
    others = ["a rival", "a mentor", "a former colleague", "the press", "a close friend", "a biographer"]
    rng = np.random.default_rng(seed)
    rows = []
    cats = ["general", "5w1h", "relational", "open-ended", "implicit", "multi-hop"]
    while len(rows) < n:
        e = people[rng.integers(len(people))]
        q = stems[rng.integers(len(stems))].format(e=e, f=fields[rng.integers(len(fields))],
                                                  o=others[rng.integers(len(others))], y=1950 + rng.integers(70))
        if rows and rng.random() < 0.15:
            q = rows[rng.integers(len(rows))]["question"].rstrip("?")  # a repeat, as weak models emit
        rows.append({"entity": e, "question": q + "?", "response": "I do not have access to that information.",
                     "prompt_category": cats[rng.integers(len(cats))], "call_index": 0})
    return pd.DataFrame(rows)


def naive_dedup(vecs, threshold):
    """The obvious loop: compare each candidate with every kept row so far."""
    import numpy as np

    kept: list[int] = []
    mat = np.empty_like(vecs)  # kept rows, appended in place (no copying per candidate)
    for i in range(len(vecs)):
        if not kept or float(np.max(mat[: len(kept)] @ vecs[i])) < threshold:
            mat[len(kept)] = vecs[i]
            kept.append(i)
    return kept


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from snapcli.models.embedder import embed, load_embedder
    from snapcli.stages.filter import filter_frame, greedy_dedup
    from snapcli.stages.textutil import name_pattern, name_terms

    df = synthetic_questions(args.n)
    t0 = time.perf_counter()
    load_embedder("minilm")
    load_s = time.perf_counter() - t0
    print(f"filtering {args.n} questions ...", file=sys.stderr, flush=True)
    t0, c0 = time.perf_counter(), time.process_time()
    kept, dropped, stats = filter_frame(
        df, patterns={e: name_pattern(name_terms(e)) for e in df["entity"].unique()}, train_size=100, seed=0)
    filter_s, filter_cpu = time.perf_counter() - t0, time.process_time() - c0
    # dedup alone, blocked vs naive, all rows as one group: on the real embeddings (most rows are duplicates,
    # as in the paper's runs) and on random vectors (every row kept: the worst case for the naive loop)
    print(f"filter done in {filter_s:.1f} s; dedup baseline ...", file=sys.stderr, flush=True)
    rng = np.random.default_rng(0)
    rand = rng.normal(size=(args.n, 384)).astype("float32")
    rand /= np.linalg.norm(rand, axis=1, keepdims=True)
    dedup = {}
    for name, vecs in (("embeddings", embed(df["question"].tolist())), ("random_all_kept", rand)):
        t0 = time.perf_counter()
        keep, _, _ = greedy_dedup(vecs, 0.75)
        blocked_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        naive = naive_dedup(vecs, 0.75)
        naive_s = time.perf_counter() - t0
        assert naive == np.nonzero(keep)[0].tolist(), "blocked dedup must keep exactly what the naive loop keeps"
        dedup[name] = {"kept": int(keep.sum()), "blocked_s": round(blocked_s, 3), "naive_s": round(naive_s, 3),
                       "speedup_vs_naive": round(naive_s / max(blocked_s, 1e-9), 1), "same_result": True}
    print(json.dumps({
        "questions": args.n, "threads": args.threads, "embedder_load_s": round(load_s, 2),
        "filter_total_s": round(filter_s, 2), "filter_cpu_s_all_threads": round(filter_cpu, 2),
        "load_avg_1m": round(os.getloadavg()[0], 1), "under_60s": filter_s < 60, "kept": len(kept),
        "dropped": stats["dropped"], "dedup": dedup,
    }, indent=2))


if __name__ == "__main__":
    main()
