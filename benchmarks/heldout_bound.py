"""How much held-out UA can a refusal that stays on the target reach? (issue 11, the UA gap)

An unlearned model that refuses exactly what is about the target *as the model knows it* refuses (a) every
question that names the target (name, alias or surname: snap's own matcher, `snapcli.datagen.bank.target_pattern`)
and (b) the unnamed questions the base model itself answers with the target's name. Everything else, a question
that only describes the target when the base model names someone else or no one, can only be refused by refusing a
topic, and the same topic holds the retain questions (\"Who discovered polonium?\" is forget, \"Who discovered
X-rays?\" retain). This script reads the base model's held-out answers from the workspaces `benchmarks/heldout.py`
wrote and prints, per set, that ceiling next to what the unlearned model reached.

    python benchmarks/heldout_bound.py --workspace bench-out/heldout            # every set found there
    python benchmarks/heldout_bound.py --workspace W --sets marie-curie --json out.json

The base answers are the greedy 32-token answers of the held-out eval (a name that comes later is missed, so the
ceiling is a slight underestimate of what the base model knows).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from snapcli.datagen.bank import target_pattern  # noqa: E402

PERSON_LIKE = ("person", "fictional_character")


def _generations(ws: Path) -> pd.DataFrame:
    parts = [pd.read_parquet(p) for p in sorted(ws.glob("eval/v*/generations.parquet"))]
    if not parts:
        raise SystemExit(f"{ws}: no eval artifacts (run benchmarks/heldout.py first)")
    return pd.concat(parts, ignore_index=True)


def bound(set_file: Path, ws: Path) -> dict:
    """Per set: counts of named / unnamed / base-resolved questions, the UA and UA-multihop ceilings, and the
    measured after-unlearning UA and UA-multihop on the same questions (percent)."""
    doc = yaml.safe_load(set_file.read_text(encoding="utf-8"))
    target = doc["target"]
    pat = target_pattern([target["name"], *target.get("aliases", [])], person=target.get("kind") in PERSON_LIKE)
    forget = {q["question"]: q.get("category") for q in doc["forget"]}
    gens = _generations(ws)
    gens = gens[(gens["set"] == "forget") & gens["question"].isin(list(forget))]
    after = gens["model"].astype(str).str.contains(r" \+ ", regex=True)
    base = gens[~after].drop_duplicates("question", keep="last").set_index("question")
    unl = gens[after].drop_duplicates("question", keep="last").set_index("question")
    rows = []
    for q, cat in forget.items():
        if q not in base.index:
            continue
        rows.append({"mh": cat == "multi-hop", "named": bool(pat.search(q)),
                     "resolved": bool(pat.search(str(base.at[q, "response"]))),
                     "refused_after": q in unl.index and unl.at[q, "label"] == "refusal"})
    df = pd.DataFrame(rows)
    one, mh = df[~df["mh"]], df[df["mh"]]
    pct = lambda s: round(100 * float(s.mean()), 1) if len(s) else None  # noqa: E731
    return {
        "set": set_file.stem, "questions": len(one), "named": int(one["named"].sum()),
        "unnamed": int((~one["named"]).sum()), "unnamed_resolved_by_base": int((~one["named"] & one["resolved"]).sum()),
        "UA_bound": pct(one["named"] | one["resolved"]), "UA_after": pct(one["refused_after"]),
        "multihop": len(mh), "multihop_resolved_by_base": int(mh["resolved"].sum()),
        "UA-multihop_bound": pct(mh["resolved"]), "UA-multihop_after": pct(mh["refused_after"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workspace", type=Path, default=Path("bench-out/heldout"),
                    help="the --workspace of benchmarks/heldout.py (one sub-directory per set)")
    ap.add_argument("--sets", nargs="*", help="set names (default: every set with a workspace)")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    a = ap.parse_args()
    files = sorted((HERE / "heldout").glob("*.yaml"))
    files = [f for f in files if (a.workspace / f.stem).is_dir() and (not a.sets or f.stem in a.sets)]
    if not files:
        raise SystemExit(f"no held-out workspace under {a.workspace}")
    out = [bound(f, a.workspace / f.stem) for f in files]
    print("| set | questions (not multi-hop) | name the target | unnamed | unnamed the base model answers with the "
          "target | UA ceiling | UA after | multi-hop | answered with the target | UA-multihop ceiling | "
          "UA-multihop after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in out:
        print(f"| {r['set']} | {r['questions']} | {r['named']} | {r['unnamed']} | {r['unnamed_resolved_by_base']} | "
              f"{r['UA_bound']} | {r['UA_after']} | {r['multihop']} | {r['multihop_resolved_by_base']} | "
              f"{r['UA-multihop_bound']} | {r['UA-multihop_after']} |")
    if a.json:
        a.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
