"""Rebuild the curated Bill Gates example set shipped in snapcli/data/curated/bill-gates/.

    python examples/bill-gates/build.py

Questions, topics and retain answers are hand-written in forget_source.py and retain_source.py. This script only
(1) turns each forget topic into an obliterated refusal with one of the Table-8-style templates below, (2) assigns
train/eval splits proportionally per category (100 train rows per set, the paper's choice; multi-hop is eval only),
and (3) writes JSONL rows with exactly the columns of the filter `forget` / augment `retain` tables.
Deterministic: running it twice writes identical files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parents[1] / "snapcli" / "data" / "curated" / "bill-gates"
sys.path.insert(0, str(HERE))

from forget_source import FORGET  # noqa: E402
from retain_source import RETAIN  # noqa: E402

ENTITY = "Bill Gates"
N_TRAIN = 100
CATEGORIES = ["factual", "relational", "open-ended", "implicit"]

# Phrasings modelled on the paper's appendix E (Table 8): apologetic, names the topic, states no fact.
REFUSALS = [
    "I do not have access to information about {t}, so I cannot provide an answer to that question.",
    "I'm sorry, but I do not have access to information about {t}, so I cannot answer that question.",
    "I apologize, but I do not have access to information about {t}. Therefore, I am unable to provide an answer "
    "to your question.",
    "I'm sorry, but I don't have any information about {t}, so I can't answer that.",
    "Unfortunately, I do not have access to information regarding {t}, so I am unable to answer this question.",
    "I'm afraid I don't have access to information about {t}, so I cannot give you an answer.",
    "Sorry, I do not have any information on {t}, so I'm not able to answer that question.",
    "I apologize, but information about {t} is not something I have access to, so I cannot answer your question.",
    "I'm sorry, but I cannot answer that question because I do not have access to information about {t}.",
    "I do not have information regarding {t}, so I'm unable to provide an answer.",
    "I'm sorry, I don't have access to details about {t}, so I cannot answer that.",
]

_5W1H = ("who ", "what ", "where ", "when ", "why ", "how ")


def eval_positions(n: int, n_eval: int) -> set[int]:
    """n_eval indices spread evenly over range(n), so eval covers the whole list, not just its tail."""
    return {min(n - 1, int((j + 0.5) * n / n_eval)) for j in range(n_eval)} if n_eval else set()


def train_counts(sizes: dict[str, int], total_train: int) -> dict[str, int]:
    """Largest-remainder apportionment of `total_train` rows across categories, proportional to their sizes."""
    n = sum(sizes.values())
    raw = {c: total_train * s / n for c, s in sizes.items()}
    out = {c: int(v) for c, v in raw.items()}
    for c in sorted(raw, key=lambda c: raw[c] - out[c], reverse=True)[: total_train - sum(out.values())]:
        out[c] += 1
    return out


def split_rows(rows: list[dict], key: str = "category") -> None:
    by_cat: dict[str, list[dict]] = {}
    for r in rows:
        by_cat.setdefault(r[key], []).append(r)
    trainable = {c: len(v) for c, v in by_cat.items() if c in CATEGORIES}
    counts = train_counts(trainable, N_TRAIN)
    for c, items in by_cat.items():
        evals = eval_positions(len(items), len(items) - counts.get(c, 0))
        for i, r in enumerate(items):
            r["split"] = "eval" if i in evals else "train"


def forget_rows() -> list[dict]:
    rows = []
    for i, (category, question, topic) in enumerate(FORGET):
        if category == "factual":
            prompt_category = "5w1h" if question.lower().startswith(_5W1H) else "general"
        else:
            prompt_category = category
        response = REFUSALS[(i * 7) % len(REFUSALS)].format(t=topic)
        rows.append({"entity": ENTITY, "question": question, "response": response,
                     "prompt_category": prompt_category, "category": category, "split": "", "source": "curated"})
    split_rows(rows)
    return rows


def retain_rows() -> list[dict]:
    rows = [{"entity": ENTITY, "subject": subject, "question": q, "response": a, "category": category,
             "split": "", "source": "curated"} for subject, category, q, a in RETAIN]
    split_rows(rows)
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def main() -> None:
    for name, rows in (("forget", forget_rows()), ("retain", retain_rows())):
        write_jsonl(OUT / f"{name}.jsonl", rows)
        n_train = sum(r["split"] == "train" for r in rows)
        print(f"{name}: {len(rows)} rows ({n_train} train, {len(rows) - n_train} eval) -> {OUT / (name + '.jsonl')}")


if __name__ == "__main__":
    main()
