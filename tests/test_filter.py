"""snap filter on real Parquet with the embedded MiniLM: masking, dedup, relevance, categories, split."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from snapcli.stages.filter import (
    categorizer_accuracy,
    description_pattern,
    embed,
    filter_frame,
    greedy_dedup,
    labelled_sample,
    proportional_split,
    relevance,
)
from snapcli.stages.textutil import mask, name_pattern, name_terms

sys.path.insert(0, str(Path(__file__).parent))

GATES = name_pattern(name_terms("Bill Gates"))

QUESTIONS = [
    ("general", "In what year was Marie Curie born?"),
    ("general", "Who was Marie Curie's husband?"),
    ("general", "When was Marie Curie born?"),  # paraphrase of the first
    ("5w1h", "Where did Marie Curie study physics?"),
    ("5w1h", "What elements did Marie Curie discover?"),
    ("relational", "How did Marie Curie and Pierre Curie collaborate on their research?"),
    ("open-ended", "How did Marie Curie's research change modern medicine?"),
    ("open-ended", "In what ways did Marie Curie's research transform modern medicine?"),  # paraphrase
    ("implicit", "What elements did the Polish-born physicist who pioneered radioactivity research discover?"),
    ("implicit", "How do you feel about yourself today?"),  # a weak generator's non-question about the target
    ("multi-hop", "Did the scientist who discovered polonium teach at the university where she studied?"),
    ("general", ""),
]


def _generate_parquet(path: Path, rows=QUESTIONS, entity="Marie Curie") -> Path:
    df = pd.DataFrame({
        "entity": entity, "question": [q for _, q in rows], "response": "I do not have access to that.",
        "prompt_category": [c for c, _ in rows], "call_index": 0, "backend": "local", "model": "smollm2",
    })
    df.to_parquet(path)
    return path


def test_masking_separates_distinct_questions_about_one_person():
    a, b = "In what year was Marie Curie born?", "Who was Marie Curie's husband?"
    pat = name_pattern(name_terms("Marie Curie"))
    raw = embed([a, b])
    masked = embed([mask(a, pat), mask(b, pat)])
    assert float(raw[0] @ raw[1]) >= 0.75  # the name dominates: the paper's threshold would merge them
    assert float(masked[0] @ masked[1]) < 0.6
    para = embed([mask("When was Marie Curie born?", pat), mask(a, pat)])
    assert float(para[0] @ para[1]) >= 0.75  # a true paraphrase is still caught


UNNAMED = [  # (question, description) as snap generate writes them; the demo kept 4 of 55 such rows before
    ("Where was Bill Gates born?", None),
    ("What did Bill Gates study at university?", None),
    ("Where was the co-founder of Microsoft born?", "a co-founder of Microsoft"),
    ("What did the co-founder of Microsoft study at university?", "a co-founder of Microsoft"),
    ("Who were the parents of the co-founder of Microsoft?", "a co-founder of Microsoft"),
    ("How wealthy is the founder of Microsoft?", "the founder of Microsoft"),
    ("Where was the founder of Microsoft born?", "the founder of Microsoft"),  # same frame, other description
]


def test_dedup_masks_descriptions_and_keeps_the_unnamed_twin():
    """Descriptions are masked like names, and unnamed questions are deduplicated only among themselves: the
    unnamed twin of a named question is what teaches refusing a description of the target."""
    pat = description_pattern(["a co-founder of Microsoft", "The founder of Microsoft."])
    assert mask("Where was the co-founder of Microsoft born?", pat) == "Where was the someone born?"
    assert description_pattern(["", "a"]) is None
    raw = embed(["Where was the co-founder of Microsoft born?", "Who were the parents of the co-founder of Microsoft?"])
    assert float(raw[0] @ raw[1]) >= 0.75  # the shared description dominates, as a shared name does

    df = pd.DataFrame({"entity": "Bill Gates", "question": [q for q, _ in UNNAMED],
                       "description": [d for _, d in UNNAMED], "prompt_category": "general",
                       "category": ["factual", "factual", *["implicit"] * 5], "source": "bank",
                       "response": "I don't know."})
    kept, dropped, _ = filter_frame(df, patterns={"Bill Gates": GATES}, train_size=10)
    kept_q = set(kept["question"])
    assert {"Where was Bill Gates born?", "Where was the co-founder of Microsoft born?",
            "What did the co-founder of Microsoft study at university?",
            "Who were the parents of the co-founder of Microsoft?",
            "How wealthy is the founder of Microsoft?"} <= kept_q
    dup = dropped.set_index("question").loc["Where was the founder of Microsoft born?"]
    assert dup["reason"] == "duplicate" and dup["duplicate_of"] == "Where was the co-founder of Microsoft born?"
    # without the description mask the shared phrase collapses the unnamed questions (the measured failure)
    bare, _, _ = filter_frame(df.drop(columns="description"), patterns={"Bill Gates": GATES}, train_size=10)
    assert (bare["category"] == "implicit").sum() < (kept["category"] == "implicit").sum()


def test_greedy_dedup_is_order_deterministic_and_blockwise_exact():
    import numpy as np

    rng = np.random.default_rng(0)
    base = rng.normal(size=(40, 16)).astype("float32")
    vecs = np.concatenate([base, base[:10] + 0.01 * rng.normal(size=(10, 16)).astype("float32")])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    keep, dup_of, sim = greedy_dedup(vecs, 0.9, block=7)  # blocks smaller than the data
    keep2, dup2, _ = greedy_dedup(vecs, 0.9, block=1024)
    assert keep.tolist() == keep2.tolist() and dup_of.tolist() == dup2.tolist()
    assert keep[:40].all() and not keep[40:].any()
    assert dup_of[40:].tolist() == list(range(10)) and (sim[40:] >= 0.9).all()
    # brute-force definition: kept iff below threshold against every earlier kept row
    kept: list[int] = []
    for i in range(len(vecs)):
        if all(float(vecs[i] @ vecs[j]) < 0.9 for j in kept):
            kept.append(i)
    assert kept == np.nonzero(keep)[0].tolist()


def test_relevance_keeps_descriptions_and_drops_reader_questions():
    assert relevance("When did Bill Gates found Microsoft?", GATES, "general", None) is None
    assert relevance("What did the founder of Microsoft study?", GATES, "implicit", None) is None
    assert "addressed to the reader" in relevance("How do you feel about yourself?", GATES, "implicit", None)
    assert relevance("What is the capital of France?", GATES, "general", None) == "does not name or describe the target"
    assert relevance("What's the best part about being a tech entrepreneur?", GATES, "general", None)  # generic
    assert relevance("Who won the Grammy award for Best Artist?", GATES, "general", None)
    from snapcli.stages.filter import _SAMPLE_ALIASES

    sample = labelled_sample()  # every labelled question, implicit ones included, is about its person
    assert not [q for e, q in zip(sample["entity"], sample["question"], strict=True)
                if relevance(q, name_pattern(name_terms(e, _SAMPLE_ALIASES.get(e, []))), "implicit", None)]


def test_offline_categorizer_accuracy_on_the_labelled_sample():
    acc = categorizer_accuracy()
    df = labelled_sample()
    assert acc["n"] == len(df) >= 100 and set(df["category"]) == {"factual", "relational", "open-ended", "implicit"}
    assert acc["accuracy"] >= 0.85  # the number docs/data-stages.md states


def test_proportional_split_is_seeded_and_keeps_multihop_for_eval():
    cats = ["factual"] * 60 + ["relational"] * 30 + ["implicit"] * 10 + ["multi-hop"] * 20 + ["open-ended"] * 100
    split, n = proportional_split(cats, 100, seed=1)
    assert n == 100
    train = Counter(c for c, s in zip(cats, split, strict=True) if s == "train")
    assert train == {"open-ended": 50, "factual": 30, "relational": 15, "implicit": 5}
    assert all(s == "eval" for c, s in zip(cats, split, strict=True) if c == "multi-hop")
    assert proportional_split(cats, 100, seed=1)[0] == split
    assert proportional_split(cats, 100, seed=2)[0] != split
    small, n_small = proportional_split(["factual"] * 6 + ["multi-hop"], 100, seed=0)
    assert n_small == 4 and small.count("train") == 4  # too few for 100: a fifth (rounded up) stays for eval
    assert proportional_split(["factual"], 100, seed=0) == (["eval"], 0)  # eval never empty


@pytest.mark.parametrize("n, train_size, want", [
    (99, 100, 79),    # fewer than train_size: eval keeps its 20, not half (49 before)
    (90, 100, 72),    # a fifth of 90 is 18
    (110, 100, 90),   # just over train_size: eval still keeps 20
    (139, 100, 100),  # enough for both
    (30, 100, 24), (2, 100, 1), (0, 100, 0), (50, 10, 10),
])
def test_split_reserves_a_fifth_for_eval_at_most_twenty(n, train_size, want):
    split, got = proportional_split(["factual", "relational"] * (n // 2) + ["factual"] * (n % 2), train_size, seed=0)
    assert got == want == split.count("train") and split.count("eval") == n - want


def test_filter_cli_on_real_parquet(cli, tmp_path, ws_path, monkeypatch):
    src = _generate_parquet(tmp_path / "questions.parquet")
    r = cli("--json", "filter", "--from", str(src), "--train-size", "4", "--categorizer", "rules")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    from snapcli.store import Workspace

    art = Workspace(ws_path).resolve(data["ref"])
    forget, dropped = art.read_df("forget"), art.read_df("dropped")
    reasons = dict(zip(dropped["question"], dropped["reason"], strict=True))
    assert reasons[""] == "empty"
    assert reasons["How do you feel about yourself today?"] == "irrelevant"
    assert reasons["When was Marie Curie born?"] == "duplicate"
    dup = dropped.set_index("question").loc["When was Marie Curie born?"]
    assert dup["duplicate_of"] == "In what year was Marie Curie born?" and dup["similarity"] >= 0.75
    assert "Who was Marie Curie's husband?" in set(forget["question"])  # distinct despite the shared name
    assert {"entity", "question", "response", "prompt_category", "category", "split"} <= set(forget.columns)
    cat = dict(zip(forget["question"], forget["category"], strict=True))
    assert cat["How did Marie Curie and Pierre Curie collaborate on their research?"] == "relational"
    assert cat["What elements did the Polish-born physicist who pioneered radioactivity research discover?"] == \
        "implicit"
    mh = forget[forget["category"] == "multi-hop"]
    assert len(mh) == 1 and (mh["split"] == "eval").all()
    plain = forget[forget["variant"] == "plain"]
    assert (plain["split"] == "train").sum() == 4
    # surface variants of the train questions, each with a refusal that fits it; the eval split stays plain
    variants = forget[forget["variant"] != "plain"]
    assert len(variants) >= 4 and (variants["split"] == "train").all()
    assert set(variants["variant_of"]) <= set(plain[plain["split"] == "train"]["question"])
    assert variants["response"].str.len().gt(10).all()
    assert {"lower", "typo", "task", "prefix", "roleplay", "multiturn"} <= set(variants["variant"])
    assert variants[variants["variant"] == "multiturn"]["history"].str.startswith("[").all()
    assert any(v.startswith("translate-") for v in variants["variant"])
    same = ("--json", "filter", "--from", str(src), "--train-size", "4", "--categorizer", "rules")
    # the data report and its warnings are in the JSON, and a cached rerun repeats the stored warnings on stderr
    assert data["data_report"]["forget"]["train_questions"] == 4
    assert any("raise snap filter --train-size (now 4)" in w for w in data["warnings"]), data["warnings"]
    rerun = cli(*same)
    again = json.loads(rerun.stdout)
    assert again["cached"] is True and again["ref"] == data["ref"] and again["warnings"] == data["warnings"]
    assert "(stored with filter@v0001)" in rerun.stderr and "--train-size (now 4)" in rerun.stderr
    # --translate-share: a sample per language (the default spreads --variant-share over the four)
    each = json.loads(cli(*same, "--translate-share", "0.5").stdout)
    f2 = Workspace(ws_path).resolve(each["ref"]).read_df("forget")
    assert Counter(v for v in f2["variant"] if v.startswith("translate-")) == {
        f"translate-{x}": 2 for x in ("de", "fr", "es", "zh")}
    bad = cli(*same, "--variants", "lower", "--translate-share", "0.5")  # a flag with nothing to act on
    assert bad.exit_code == 2 and "--translate-share needs translate in --variants" in bad.stderr
    other = json.loads(cli(*same, "--seed", "1").stdout)
    assert other["cached"] is False  # the seed is part of the stage cache key
    from snapcli.stages import filter as filter_mod

    monkeypatch.setattr(filter_mod, "SPLIT_VERSION", filter_mod.SPLIT_VERSION + 1)
    assert json.loads(cli(*same).stdout)["cached"] is False  # a new split rule does not reuse an old split
    monkeypatch.undo()
    import snapcli.datagen.variants as variants_mod

    monkeypatch.setattr(variants_mod, "VARIANTS_VERSION", variants_mod.VARIANTS_VERSION + 1)
    assert json.loads(cli(*same).stdout)["cached"] is False  # nor new variant rules old variants
    monkeypatch.undo()
    # --no-mask-entity: the shared name makes distinct questions collapse (the measured failure mode)
    r2 = cli("--json", "filter", "--from", str(src), "--no-mask-entity", "--categorizer", "rules")
    assert json.loads(r2.stdout)["rows"]["forget"] < data["rows"]["forget"]


def test_filter_llm_categorizer_with_fallback(cli, tmp_path, ws_path, monkeypatch):
    import openai_stub

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server, _ = openai_stub.start()
    try:
        src = _generate_parquet(tmp_path / "q.parquet")
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        r = cli("--json", "filter", "--from", str(src), "--base-url", url)  # auto -> llm with openai
        assert r.exit_code == 0, r.output
        data = json.loads(r.stdout)
        assert data["stats"]["llm_unparsed"] == 1  # the stub breaks the format on line 2: rules fill in
        from snapcli.store import Workspace

        f = Workspace(ws_path).resolve(data["ref"]).read_df("forget")
        f = f[f["variant"] == "plain"]
        assert Counter(f["category_source"])["rules"] == 2  # that one + the multi-hop question
        assert set(f["category"]) <= {"factual", "relational", "open-ended", "implicit", "multi-hop"}
    finally:
        server.shutdown()


@pytest.mark.parametrize("args,msg", [
    (["--threshold", "0"], "--threshold must be > 0"),
    (["--train-size", "-1"], "--train-size must be >= 0"),
    (["--categorizer", "magic"], "--categorizer must be one of"),
])
def test_filter_bad_flags_exit_2(cli, tmp_path, args, msg):
    src = _generate_parquet(tmp_path / "q.parquet")
    r = cli("filter", "--from", str(src), *args)
    assert r.exit_code == 2 and msg in r.output


def test_filter_bad_inputs_exit_2(cli, tmp_path, ws_path):
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"entity": ["X"], "question": ["Who is X?"]}).to_parquet(bad)
    r = cli("filter", "--from", str(bad), "--categorizer", "rules")
    assert r.exit_code == 2 and "missing column(s) response" in r.output
    r = cli("filter", "--from", "generate@latest", "--categorizer", "rules")
    assert r.exit_code == 2 and "no 'generate' artifacts" in r.output
    src = _generate_parquet(tmp_path / "q.parquet")
    ok = json.loads(cli("--json", "filter", "--from", str(src), "--categorizer", "rules").stdout)["ref"]
    r = cli("filter", "--from", ok, "--categorizer", "rules")  # a filter artifact is not a generate one
    assert r.exit_code == 2 and "expected 'generate'" in r.output
    weird = _generate_parquet(tmp_path / "w.parquet", rows=[("sonnets", "Who is Marie Curie?")])
    r = cli("filter", "--from", str(weird), "--categorizer", "rules")
    assert r.exit_code == 2 and "column 'prompt_category', row 0 is 'sonnets'" in r.output
    assert not (ws_path / "filter" / "v0002").exists()  # nothing half-written published
