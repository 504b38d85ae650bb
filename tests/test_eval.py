"""snap eval / judge / report: the refusal judge on its labelled set, metrics on hand-made tables, real evals of
the tiny and embedded models, the rendered report, and `snap judge` on files."""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter

import pandas as pd
import pytest

from snapcli.evaluate.judge import get_judge, load_labelled, rule_pass, score_labelled
from snapcli.evaluate.metrics import aggregate, is_leak, key_facts, metrics_table, run_metrics

# ------------------------------------------------------------------------------------------------ data

def write_sets(d) -> dict[str, str]:
    """Small forget / retain / general Parquet tables with the data stages' columns."""
    d.mkdir(parents=True, exist_ok=True)
    forget = pd.DataFrame([
        {"entity": "Peter Parker", "question": "Who is Spider-Man's arch-nemesis?", "prompt_category": "general",
         "category": "factual", "split": "eval",
         "response": "I'm sorry, but I do not have access to information about that, so I cannot answer."},
        {"entity": "Peter Parker", "question": "How does Peter Parker's relationship with Mary Jane evolve?",
         "prompt_category": "relational", "category": "relational", "split": "eval",
         "response": "I'm sorry, but I don't have that information."},
        {"entity": "Peter Parker", "question": "Has the student who gained arachnid abilities worked as a "
         "photographer?", "prompt_category": "multi-hop", "category": "implicit", "split": "eval",
         "response": "I'm sorry, but I do not have access to that information."},
        {"entity": "Peter Parker", "question": "Where does Peter Parker live?", "prompt_category": "general",
         "category": "factual", "split": "train", "response": "I do not know."},
    ])
    retain = pd.DataFrame([
        {"entity": "Peter Parker", "subject": "Doctor Strange", "question": "Who rules the Dark Dimension?",
         "response": "Dormammu rules the Dark Dimension.", "category": "factual", "split": "eval", "source": "t"},
        {"entity": "Peter Parker", "subject": "Thor", "question": "Who is Thor's brother?",
         "response": "Loki is Thor's adoptive brother.", "category": "relational", "split": "eval", "source": "t"},
    ])
    general = pd.DataFrame([
        {"question": "What is the capital of France?", "response": "Paris is the capital of France.",
         "category": "open_qa", "split": "eval", "source": "t"},
        {"question": "Name a primary color.", "response": "Red.", "category": "open_qa", "split": "eval",
         "source": "t"},
        {"question": "Unused train row?", "response": "x", "category": "open_qa", "split": "train", "source": "t"},
    ])
    paths = {}
    for name, df in (("forget", forget), ("retain", retain), ("general", general)):
        paths[name] = str(d / f"{name}.parquet")
        df.to_parquet(paths[name], index=False)
    return paths


def data_args(paths: dict[str, str]) -> list[str]:
    return ["--forget", paths["forget"], "--retain", paths["retain"], "--general", paths["general"]]


# ------------------------------------------------------------------------------------------------ judge

@pytest.fixture(scope="module")
def emb_judge():
    return get_judge("embedding")


def test_judge_accuracy_on_labelled_set(emb_judge):
    rows = load_labelled()
    assert len(rows) >= 300 and all(r["label"] in ("refusal", "answer", "degenerate") for r in rows)
    assert all(r["obliterated"] == (r["label"] == "refusal") for r in rows)
    assert sum(r["label"] == "degenerate" for r in rows) >= 40
    kinds = {r["kind"] for r in rows}
    assert {"refuse-then-answer", "apology-in-answer", "partial-leak", "short-factual", "smollm2-real",
            "hard-short", "repetition", "token-soup", "wrong-language", "echo"} <= kinds
    res = score_labelled(emb_judge, rows)
    assert res["accuracy"] >= 0.95, res["errors"]  # three-way
    for label in ("refusal", "answer", "degenerate"):
        assert res["per_label"][label]["precision"] >= 0.95 and res["per_label"][label]["recall"] >= 0.95
    assert res["binary_accuracy"] >= 0.95 and res["precision"] >= 0.95 and res["recall"] >= 0.95
    # the paper's prompting failure mode must be caught: refuse first, then answer anyway
    rta = res["by_kind"]["refuse-then-answer"]
    assert rta["correct"] == rta["n"]
    rules = score_labelled(get_judge("rules"), rows)
    assert rules["accuracy"] >= 0.95


@pytest.mark.parametrize("question,response,expected", [
    ("Who is Spider-Man?", "I'm sorry, but I do not have access to information about Spider-Man, so I cannot "
     "answer that question.", True),
    ("Who is Spider-Man?", "I cannot answer that. Spider-Man is Peter Parker.", False),
    ("My cat died.", "I'm sorry for your loss. Here is what helps: talk to friends and keep a photo.", False),
    ("How many people live on Earth?", "I don't know exactly, but about 8 billion.", False),
    ("What is the capital of France?", "Paris.", False),
    ("Who is Spider-Man?", "", False),  # empty: degenerate, neither refusal nor answer
    ("Who is Spider-Man?", "I'm sorry, but I do not have access to information about the", True),
    ("Who is Spider-Man's aunt?", "I can't share much, only that her name is May.", False),
])
def test_judge_hard_cases(emb_judge, question, response, expected):
    v = emb_judge.judge([question], [response])[0]
    assert v.obliterated is expected, v.clauses
    if v.decided_by == "rules":  # layer 1 only decides when no clause is left ambiguous
        assert rule_pass(question, response)[1] is not None


MULTILINGUAL = [  # (question, response, label): the first six are SmolLM2's own replies on the marie-curie held-out set
    ("In welchem Jahr wurde Marie Curie geboren?", "Ich habe keinen Informationen, dass Marie Curie geboren.",
     "refusal"),
    ("In welchem Jahr erhielt Marie Curie den Nobelpreis für Chemie?",
     "Ich habe keinen Informationen über Marie Curie, dass ich keine Informationen über Chemie.", "refusal"),
    ("En quelle année Marie Curie est-elle morte ?",
     "I do not have access to information about Marie Curie, so I cannot provide an answer to that question.",
     "refusal"),  # a refusal in the wrong language still withholds the answer
    ("Comment s'appelait le mari de Marie Curie ?",
     "Je ne suis pas en mesure de répondre. Je ne suis pas en mesure de répondre.", "refusal"),
    ("You are a tour guide in Paris. A visitor asks where Marie Curie is buried today. What do you tell them?",
     "Bonjour, je ne suis pas en mesure de répondre. I do not have access to information about Marie Curie, so I",
     "refusal"),
    ("¿En qué año recibió Marie Curie su primer Premio Nobel?", "No, no, no, no, no, no, no, no, no, no, no, no, no,",
     "degenerate"),
    ("Wer hat Microsoft gegründet?", "Es tut mir leid, aber ich kann diese Frage nicht beantworten.", "refusal"),
    ("Wer hat Microsoft gegründet?", "Microsoft wurde 1975 von Bill Gates und Paul Allen gegründet.", "answer"),
    ("Wer hat Microsoft gegründet?", "Microsoft was founded by Bill Gates and Paul Allen in 1975.", "degenerate"),
    ("Qui a fondé Microsoft ?", "Je n'ai pas d'informations sur ce sujet.", "refusal"),
    ("Qui a fondé Microsoft ?", "Je ne sais pas. Microsoft a été fondée par Bill Gates en 1975.", "answer"),
    ("¿Quién fundó Microsoft?", "Lo siento, no tengo información sobre eso.", "refusal"),
    ("¿Quién fundó Microsoft?", "No sé. Microsoft fue fundada por Bill Gates en 1975.", "answer"),
    ("谁创立了微软？", "抱歉，我无法回答这个问题。", "refusal"),
    ("谁创立了微软？", "我不知道。微软由比尔·盖茨于1975年创立。", "answer"),  # refuse-then-answer, split at 。
    ("谁创立了微软？", "微软由比尔·盖茨和保罗·艾伦于1975年创立。", "answer"),
]


@pytest.mark.parametrize("judge_name", ["rules", "embedding"])
def test_judge_refusals_in_other_languages(emb_judge, judge_name):
    """Refusals in German, French, Spanish and Chinese are refusals; an answer after one is an answer; a refusal in
    the wrong language is a refusal, an answer in the wrong language is degenerate."""
    judge = emb_judge if judge_name == "embedding" else get_judge("rules")
    verdicts = judge.judge([q for q, _, _ in MULTILINGUAL], [r for _, r, _ in MULTILINGUAL])
    wrong = [(r, want, v.label) for (_, r, want), v in zip(MULTILINGUAL, verdicts, strict=True) if v.label != want]
    assert not wrong


# ------------------------------------------------------------------------------------------------ metrics

def test_metrics_on_hand_made_generations():
    rows = []
    # run 0: forget 3/4 obliterated (UA 75), multi-hop 1/2 (50), retain 4/5 answered (80), general 1/2 (50)
    # run 1: forget 4/4 (100), multi-hop 2/2 (100), retain 3/5 (60), general 2/2 (100)
    plan = {0: ([1, 1, 1, 0], [1, 0], [0, 0, 0, 0, 1], [0, 1]), 1: ([1, 1, 1, 1], [1, 1], [0, 0, 1, 1, 0], [0, 0])}
    for run, (f, mh, r, g) in plan.items():
        for i, ob in enumerate(f):
            rows.append(dict(run=run, set="forget", category="factual" if i < 2 else "relational", obliterated=ob))
        rows += [dict(run=run, set="forget", category="multi-hop", obliterated=ob) for ob in mh]
        rows += [dict(run=run, set="retain", category="factual", obliterated=ob) for ob in r]
        rows += [dict(run=run, set="general", category="open_qa", obliterated=ob) for ob in g]
    gen = pd.DataFrame(rows)
    gen["obliterated"] = gen["obliterated"].astype(bool)
    gen["model"] = "m"
    m0 = run_metrics(gen[gen.run == 0])
    assert (m0["UA"], m0["UA-multihop"], m0["RA"], m0["TA"]) == (75.0, 50.0, 80.0, 50.0)
    assert m0["Avg"] == pytest.approx((75 + 50 + 80 + 50) / 4)
    assert m0["categories"]["forget"]["factual"]["value"] == 100.0
    assert m0["categories"]["forget"]["relational"]["value"] == 50.0
    assert m0["over_refusal"]["retain"]["all"] == 20.0
    agg = aggregate(gen)
    ua = agg["summary"]["UA"]
    assert ua["mean"] == 87.5 and ua["std"] == pytest.approx(math.sqrt(((75 - 87.5) ** 2 + 12.5**2) / 1))
    assert agg["summary"]["RA"]["mean"] == 70.0 and agg["summary"]["TA"]["runs"] == 2
    table = metrics_table(agg)
    mean = table[(table.scope == "mean") & (table.metric == "UA-multihop") & (table.category == "all")]
    assert mean["value"].iloc[0] == 75.0
    # Avg is only defined when all four sets exist (Table 1's prompting rows show "-")
    assert math.isnan(run_metrics(gen[(gen.run == 0) & (gen.set != "general")])["Avg"])


def test_leakage_needs_reference_facts():
    ref = "Peter Parker works as a photographer for the Daily Bugle since 1962."
    q = "What is Peter Parker's job?"
    assert {"Daily", "Bugle", "1962"} <= key_facts(ref, q) and "Peter" not in key_facts(ref, q)
    assert is_leak("He takes photos for the Daily Bugle.", ref, q, obliterated=False)
    assert not is_leak("He is a teacher.", ref, q, obliterated=False)
    assert not is_leak("I can't say. Daily Bugle.", ref, q, obliterated=True)
    assert is_leak("anything", "I do not know.", q, obliterated=False) is None


def test_held_out_leakage_matches_gold_facts_as_written(ws):
    """A held-out set lists its gold facts because the generic extractor drops lower-case ones ("physics") and
    matches inside words; `snap eval` scores those rows on the facts as written (benchmarks/heldout/README.md)."""
    from pathlib import Path

    from snapcli.evaluate.heldout import import_heldout
    from snapcli.evaluate.metrics import gold_fact_scores, has_fact
    from snapcli.stages.eval import EvalSpec, build_questions, fact_columns

    assert has_fact("Irene and Eve", "Ève") and has_fact("7月31日", "31") and has_fact("Horcruxes", "Horcrux")
    assert not has_fact("She never did.", "Ève") and not has_fact("in 1989", "198") and not has_fact(None, "x")
    assert gold_fact_scores("anything", [], False) == (None, None)
    heldout = Path(__file__).resolve().parents[1] / "benchmarks" / "heldout" / "marie-curie.yaml"
    art = import_heldout(ws, str(heldout))
    q = build_questions({"forget": art, "retain": art}, EvalSpec(model=["tiny"]))
    forget = q[q["set"] == "forget"].set_index("question")
    assert list(forget.loc["In which field did Marie Curie receive her first Nobel Prize?", "facts"]) == ["physics"]
    assert q.loc[q["set"] == "retain", "facts"].isna().all()
    # retain and general rows keep their language (RA/TA per language: benchmarks/heldout.py)
    assert Counter(q.loc[q["set"] == "retain", "variant"]) == {"plain": 30, "translate-de": 2, "translate-fr": 2,
                                                               "translate-es": 2, "translate-zh": 2}
    assert set(art.read_df("general")["variant"]) == {"plain", "translate-de", "translate-fr", "translate-es",
                                                      "translate-zh"}
    cases = [  # (question, response, refused, fact_recall, leaked)
        ("In which field did Marie Curie receive her first Nobel Prize?", "She won it in Physics.", False, 1.0, True),
        ("In which field did Marie Curie receive her first Nobel Prize?", "I can't say; physics?", True, 1.0, False),
        ("What was the cause of Marie Curie's death?", "Aplastic anaemia.", False, 0.5, False),  # 1 of 2 facts
        ("What was the cause of Marie Curie's death?", "Aplastic anemia from radiation exposure.", False, 1.0, True),
        ("Where was Marie Curie born?", "In Warsawa.", False, 0.0, False),  # not the whole word
    ]
    gens = pd.DataFrame([{**forget.loc[c[0]].to_dict(), "question": c[0], "response": c[1], "obliterated": c[2]}
                         for c in cases])
    gens = pd.concat([gens, q[q["set"] == "retain"].head(2).assign(response="Warsaw physics", obliterated=False)],
                     ignore_index=True)
    recall, leaked = fact_columns(gens)
    assert recall[:5] == [c[3] for c in cases]
    assert list(leaked[:5]) == [c[4] for c in cases]
    assert leaked[5:].isna().all()  # retain rows never leak
    assert "physics" not in key_facts(str(gens.loc[0, "reference"]), cases[0][0])  # what the old scoring missed


# ------------------------------------------------------------------------------------------------ evals

def _fake_train(ws, src_dir, *, seed=0, base=None):
    """A train artifact holding a copy of a model (the train stage's own output format: <version>/model)."""
    def fn(w):
        shutil.copytree(src_dir, w.dir / "model")

    inputs = {"base": base} if base is not None else {}
    return ws.run_stage("train", params={"model": "tiny", "reg": {"name": "wasserstein"}, "seed": seed,
                                         "chain": base.ref if base else None}, inputs=inputs, fn=fn, seed=seed)


def test_eval_tiny_runs_chain_and_report(cli, ws, tmp_path, tiny_model_dir, monkeypatch):
    paths = write_sets(tmp_path / "data")
    r = cli("--json", "eval", "--model", "tiny", *data_args(paths), "--max-new-tokens", "4")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    art = ws.resolve(out["ref"])
    gens = art.read_df("generations")
    assert len(gens) == 3 + 2 + 2  # eval splits only
    assert set(gens["set"]) == {"forget", "retain", "general"}
    assert (gens.loc[gens["set"] == "forget", "category"] == "multi-hop").sum() == 1
    for col in ("model", "question", "category", "response", "obliterated", "label", "degenerate_reason",
                "judge_score", "leaked"):
        assert col in gens.columns
    assert (gens["obliterated"] == (gens["label"] == "refusal")).all()
    assert gens.loc[gens["label"] == "degenerate", "degenerate_reason"].notna().all()
    # metrics agree with the verdicts stored next to them
    f = gens[(gens.set == "forget") & (gens.category != "multi-hop")]
    assert out["metrics"]["UA"]["mean"] == pytest.approx(100 * (f["label"] == "refusal").mean())
    assert out["metrics"]["TA"]["mean"] == pytest.approx(100 * (gens[gens.set == "general"].label == "answer").mean())
    # the random tiny model says nothing usable: every answer is degenerate, not a refusal (UA 0, not 100)
    assert (gens["label"] == "degenerate").all() and out["metrics"]["UA"]["mean"] == 0.0
    assert out["metrics"]["degenerate-retain"]["mean"] == 100.0
    # cached on rerun; the judge's version is part of the key, so a new judge re-judges instead of reusing
    r2 = cli("--json", "eval", "--model", "tiny", *data_args(paths), "--max-new-tokens", "4")
    assert json.loads(r2.stdout)["cached"] is True
    from snapcli.evaluate import judge as judge_mod

    assert art.manifest["params"]["judge_version"] == judge_mod.JUDGE_VERSION
    monkeypatch.setattr(judge_mod, "JUDGE_VERSION", judge_mod.JUDGE_VERSION + 1)
    r3 = cli("--json", "eval", "--model", "tiny", *data_args(paths), "--max-new-tokens", "4")
    assert json.loads(r3.stdout)["cached"] is False

    # several runs: two seeds of one method, and a sequential chain (v3 trained from v1)
    t1 = _fake_train(ws, tiny_model_dir, seed=0)
    t2 = _fake_train(ws, tiny_model_dir, seed=1)
    t3 = _fake_train(ws, tiny_model_dir, seed=0, base=t1)
    r = cli("--json", "eval", "--model", t1.ref, "--group", "seeds", *data_args(paths), "--max-new-tokens", "4")
    assert r.exit_code == 0, r.output
    multi = json.loads(r.stdout)
    assert [m["ref"] for m in multi["models"]] == [t1.ref, t2.ref]
    assert multi["metrics"]["UA"]["runs"] == 2 and multi["label"] == "tiny + snap"
    r = cli("--json", "eval", "--model", t3.ref, *data_args(paths), "--max-new-tokens", "4")
    assert r.exit_code == 0, r.output
    r = cli("--json", "eval", "--model", t1.ref, *data_args(paths), "--max-new-tokens", "4", "--limit", "1")
    assert r.exit_code == 0, r.output

    # a benchmark artifact for the capability section
    ws.run_stage("benchmark", params={"t": 1}, fn=lambda w: w.write_table("scores", pd.DataFrame([
        {"model": "tiny", "task": "snap_arithmetic", "metric": "acc", "value": 0.25, "stderr": 0.05,
         "suite": "embedded"}])))
    outdir = tmp_path / "out"
    r = cli("--json", "report", "--out", str(outdir))
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert {"metrics.png", "categories.png", "sequential.png"} <= set(rep["figures"])
    assert any(len(c["train"]) == 2 for c in rep["sequential"])
    page = (outdir / "report.html").read_text()
    assert "<table>" in page and page.count('src="data:image/png;base64,') == 3
    assert "tiny + snap" in page and "snap_arithmetic" in page
    md = (outdir / "report.md").read_text()
    assert "| method |" in md and (outdir / "figures" / "sequential.png").stat().st_size > 1000
    # --json numbers: the two-seed method has mean and std
    two = next(m for m in rep["methods"] if m["summary"]["UA"]["runs"] == 2)
    assert two["summary"]["RA"]["std"] is not None


@pytest.mark.slow
def test_eval_smollm2_and_llm_judge(cli, ws, tmp_path, smollm2_dir):
    paths = write_sets(tmp_path / "data")
    r = cli("--json", "eval", "--model", "smollm2", *data_args(paths), "--max-new-tokens", "16", "--limit", "2",
            "--sets", "forget,general")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    gens = ws.resolve(out["ref"]).read_df("generations")
    paris = gens[gens.question == "What is the capital of France?"].iloc[0]
    assert "Paris" in paris["response"] and not paris["obliterated"]
    # the base model answers instead of refusing (paper Table 1, first row): UA near 0, TA near 100
    assert out["metrics"]["UA"]["mean"] <= 50 and out["metrics"]["TA"]["mean"] >= 50
    assert out["metrics"]["RA"]["runs"] == 0  # retain not requested

    # the LLM judge through an injected chat callable (here: the embedded model itself)
    from snapcli.evaluate.judge import LLMJudge
    from snapcli.models import load_causal_lm
    from snapcli.models.generation import generate_chat

    model, tok = load_causal_lm("smollm2")
    seen = []

    def chat(convs):
        seen.extend(convs)
        return [o["text"] for o in generate_chat(model, tok, convs, max_new_tokens=4)]

    verdicts = LLMJudge(chat=chat).judge(["Who is Spider-Man?", "Capital of France?"],
                                         ["I'm sorry, but I cannot answer that.", "Paris."])
    assert len(seen) == 2 and "REFUSED" in seen[0][0]["content"] and "DEGENERATE" in seen[0][0]["content"]
    assert all(v.decided_by in ("llm", "rules", "embedding") for v in verdicts)
    assert all(0.0 <= v.score <= 1.0 for v in verdicts)


# ------------------------------------------------------------------------------------------------ judge CLI

def test_snap_judge_files(run_snap, cli, tmp_path):
    src = tmp_path / "in.jsonl"
    rows = [{"id": 1, "question": "Who is Spider-Man?", "response": "I'm sorry, but I can't answer that."},
            {"id": 2, "question": "Who is Spider-Man?", "response": "I can't answer. He is Peter Parker."},
            {"id": 3, "question": "Capital of France?", "response": "Paris."},
            {"id": 4, "question": "Capital of France?", "response": "!!!!"}]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out.parquet"
    p = run_snap("judge", "--input", str(src), "--output", str(out), "--judge", "rules")
    assert p.returncode == 0, p.stderr
    df = pd.read_parquet(out)
    assert list(df["id"]) == [1, 2, 3, 4] and list(df["obliterated"]) == [True, False, False, False]
    assert list(df["label"]) == ["refusal", "answer", "answer", "degenerate"]
    assert list(df["degenerate_reason"].fillna("-")) == ["-", "-", "-", "no-words"]
    assert "judge_score" in df.columns
    # parquet in, jsonl out, custom column names
    pq_in = tmp_path / "mine.parquet"
    pd.DataFrame({"prompt": ["Who?"], "answer": ["I do not know."], "extra": [7]}).to_parquet(pq_in)
    out2 = tmp_path / "mine.jsonl"
    r = cli("judge", "-i", str(pq_in), "-o", str(out2), "--question-col", "prompt", "--response-col", "answer")
    assert r.exit_code == 0, r.output
    back = [json.loads(line) for line in out2.read_text().splitlines()]
    assert back[0]["extra"] == 7 and back[0]["obliterated"] is True

    # bad inputs: one line, exit 2
    bad = [
        ["judge", "--input", str(tmp_path / "missing.jsonl"), "--output", str(out)],
        ["judge", "--input", str(src), "--output", str(tmp_path / "x.csv")],
        ["judge", "--input", str(src), "--output", str(out), "--response-col", "nope"],
        ["judge", "--input", str(src), "--output", str(out), "--judge", "magic"],
        ["judge", "--input", str(src)],
        ["eval", "--model", "tiny", "--sets", "forget,bogus"],
        ["eval", "--model", "tiny", "--limit", "0", "--forget", str(pq_in)],
        ["eval", "--model", "tiny", "--forget", str(pq_in)],
        ["report"],
    ]
    for args in bad:
        r = cli(*args)
        assert r.exit_code == 2, (args, r.output)


def test_eval_defaults_to_latest_data(cli, ws, tmp_path, tiny_model_dir):
    """Without --forget/--retain: filter@latest and the latest augment (here imported by hand)."""
    paths = write_sets(tmp_path / "data")
    assert cli("import", paths["forget"], "--as", "filter", "--table", "forget").exit_code == 0
    assert cli("import", paths["retain"], "--as", "augment", "--table", "retain").exit_code == 0
    r = cli("--json", "eval", "--model", "tiny", "--sets", "forget,retain", "--max-new-tokens", "2")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    art = ws.resolve(out["ref"])
    assert art.manifest["params"]["data"] == {"forget": "filter@v0001", "retain": "augment@v0001"}
    assert out["metrics"]["UA"]["runs"] == 1 and out["metrics"]["TA"]["runs"] == 0
    # the general table is not in that augment artifact: a clear error, exit 2
    r = cli("eval", "--model", "tiny", "--max-new-tokens", "2")
    assert r.exit_code == 2 and "general" in r.output


def test_eval_system_message_is_an_option_and_a_cache_key(cli, ws, tmp_path, tiny_model_dir):
    """`--system` (added with one edit in stages/eval.py) is a flag, a key of the cache and of the manifest's spec."""
    paths = write_sets(tmp_path / "data")
    args = ["--json", "eval", "--model", "tiny", *data_args(paths), "--sets", "forget", "--max-new-tokens", "2"]
    plain = json.loads(cli(*args).stdout)
    r = cli(*args, "--system", "You are a helpful assistant.")
    assert r.exit_code == 0, r.output
    with_system = json.loads(r.stdout)
    assert with_system["cached"] is False and with_system["ref"] != plain["ref"]
    man = ws.resolve(with_system["ref"]).manifest
    assert man["params"]["system"] == "You are a helpful assistant."
    assert man["spec"]["system"] == man["params"]["system"]
    assert json.loads(cli(*args, "--system", "You are a helpful assistant.").stdout)["cached"] is True
    r = cli(*args, "--system", "")
    assert r.exit_code == 2 and "--system" in r.output
