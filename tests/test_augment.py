"""snap augment: retain questions about related subjects (target mentions removed), answered normally; the
general set from the shipped file, a local dolly-format file, or the hub (offline here -> exit 2)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from snapcli.stages.augment import builtin_general
from snapcli.store import Workspace

sys.path.insert(0, str(Path(__file__).parent))
import openai_stub  # noqa: E402


@pytest.fixture
def endpoint(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server, state = openai_stub.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    server.shutdown()


def _forget(cli, url: str, *extra: str) -> str:
    # the paper's path: LLM-written questions and LLM-named related subjects only (the bank, probing and
    # neighbours are tested in test_augment_neighbours_and_bank_without_related_entities)
    r = cli("--json", "generate", "--entity", "Bill Gates", "--base-url", url, "--categories", "general,5w1h",
            "--calls", "1", "--per-call", "3", "--no-probe", "--bank-ratio", "0", "--derived", "0", "--kind",
            "person", *extra)
    assert r.exit_code == 0, r.output
    r = cli("--json", "filter", "--categorizer", "rules", "--train-size", "2")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["ref"]


def test_builtin_general_set_is_large_varied_and_complete():
    df = builtin_general()
    assert len(df) >= 150
    assert list(df.columns) == ["instruction", "context", "response", "category"]
    assert df["instruction"].is_unique and (df["response"].str.split().str.len() >= 3).all()
    assert df["category"].nunique() >= 8 and df["category"].value_counts().max() <= 0.35 * len(df)
    assert (df[df["category"] == "closed_qa"]["context"].str.len() > 0).all()


def test_augment_related_subjects_end_to_end(cli, endpoint, ws_path, monkeypatch):
    url, _ = endpoint
    _forget(cli, url, "--k", "6")
    r = cli("--json", "augment", "--base-url", url, "--train-size", "10", "--general-size", "40",
            "--neighbours", "0", "--per-subject", "0", "--general-train", "0")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    art = Workspace(ws_path).resolve(data["ref"])
    assert art.manifest["inputs"]["from"]["stage"] == "filter"
    retain = art.read_df("retain")
    assert {"entity", "subject", "question", "response", "category", "split", "source"} <= set(retain.columns)
    assert set(retain["subject"]) == {"Paul Allen", "Steve Ballmer", "Melinda French Gates", "Microsoft",
                                      "Gates Ventures", "Berkshire Hathaway"}
    # the stub writes "How did <subject> work with Bill Gates?" for each subject: every one is removed
    assert data["removed_mentions_target"] == 6 * 5
    assert not retain["question"].str.contains("Bill Gates").any()
    # ... but the subject's own name keeps "Gates Ventures" and "Melinda French Gates" questions
    assert (retain["subject"] == "Gates Ventures").sum() >= 1
    assert (retain["subject"] == "Melinda French Gates").sum() >= 1
    plain = retain[retain["variant"] == "plain"]
    # --train-size 10 of 12 questions: eval keeps a fifth, rounded up (filter.proportional_split)
    assert (plain["split"] == "train").sum() == 9 and set(plain["split"]) == {"train", "eval"}
    assert (retain["response"].str.len() > 0).all()
    # the forget set's surface variants, made from retain train rows and answered normally (issue 11 item 4)
    var = retain[retain["variant"] != "plain"]
    assert set(var["split"]) == {"train"} and set(var["variant_of"]) <= set(plain.loc[plain.split == "train",
                                                                                       "question"])
    assert {"lower", "typo", "task", "prefix", "roleplay", "multiturn"} <= set(var["variant"])
    assert var["variant"].str.startswith("translate-").any()
    assert not var["question"].str.contains("Bill Gates").any()
    tasks = var[var["variant"] == "task"]
    assert len(tasks) and all(r.subject in r.question or r.variant_of in r.question for r in tasks.itertuples())
    assert var.loc[var["variant"] == "multiturn", "history"].notna().all()
    assert art.manifest["params"]["variant_share"] == 0.15
    dropped = art.read_df("dropped")
    assert (dropped["reason"] == "mentions_target").sum() == 30
    general = art.read_df("general")
    assert len(general) == 40 and (general["split"] == "eval").all() and (general["source"] == "builtin").all()
    assert {"question", "response", "category", "split", "source", "instruction", "context"} <= set(general.columns)
    assert art.manifest["extra"]["general"] == {"source": "builtin", "available": len(builtin_general()),
                                                "requested": 40, "sampled": 40, "train": 0}
    # --translate-share: every language gets its own sample (here all train rows), each answered in the stub's reply
    r = cli("--json", "augment", "--base-url", url, "--train-size", "10", "--general-size", "40", "--neighbours",
            "0", "--per-subject", "0", "--general-train", "0", "--variant-share", "0", "--translate-share", "1")
    tr = Workspace(ws_path).resolve(json.loads(r.stdout)["ref"]).read_df("retain")
    langs = ("de", "fr", "es", "zh")
    assert Counter(tr.loc[tr["variant"] != "plain", "variant"]) == {f"translate-{x}": 9 for x in langs}
    assert tr["response"].str.strip().ne("").all()
    import snapcli.datagen.variants as variants_mod

    again = ("--json", "augment", "--base-url", url, "--train-size", "10", "--general-size", "40", "--neighbours", "0",
             "--per-subject", "0", "--general-train", "0")
    assert json.loads(cli(*again).stdout)["cached"] is True
    monkeypatch.setattr(variants_mod, "VARIANTS_VERSION", variants_mod.VARIANTS_VERSION + 1)
    assert json.loads(cli(*again).stdout)["cached"] is False  # new variant rules: the retain variants are remade


def test_augment_universe_and_general_from_file(cli, endpoint, ws_path, tmp_path):
    url, _ = endpoint
    _forget(cli, url, "--universe", "Marvel series", "--k", "0")
    rows = [{"instruction": f"Name a color number {i}.", "context": "", "response": "Blue.", "category": "open_qa"}
            for i in range(5)]
    jl = tmp_path / "mine.jsonl"
    jl.write_text("".join(json.dumps(x) + "\n" for x in rows))
    r = cli("--json", "augment", "--base-url", url, "--general", str(jl), "--calls", "2", "--per-call", "3",
            "--categories", "general,implicit", "--threshold", "0.995", "--neighbours", "0", "--per-subject", "0",
            "--general-train", "2")
    assert r.exit_code == 0, r.output
    art = Workspace(ws_path).resolve(json.loads(r.stdout)["ref"])
    retain = art.read_df("retain")
    assert set(retain["subject"]) == {"Marvel series"} and set(retain["subject_kind"]) == {"universe"}
    assert set(retain["prompt_category"]) == {"general", "implicit"}
    assert set(retain[retain["prompt_category"] == "implicit"]["category"]) == {"implicit"}
    calls = art.read_df("calls")
    assert sorted(calls["call_index"].unique()) == [0, 1]
    general = art.read_df("general")
    assert len(general) == 5 and set(general["source"]) == {"mine.jsonl"}
    assert (general["split"] == "train").sum() == 2  # everyday rows for train --retain-from both (the default)
    pq = tmp_path / "mine.parquet"
    pd.DataFrame(rows).drop(columns=["context"]).to_parquet(pq)
    r = cli("--json", "augment", "--base-url", url, "--general", str(pq), "--general-size", "2",
            "--general-train", "0", "--neighbours", "0", "--per-subject", "0")
    assert r.exit_code == 0, r.output
    assert Workspace(ws_path).resolve(json.loads(r.stdout)["ref"]).rows["general"] == 2


def test_augment_bad_inputs_exit_2(cli, endpoint, ws_path, tmp_path):
    url, state = endpoint
    r = cli("augment", "--base-url", url)
    assert r.exit_code == 2 and "no 'filter' artifacts" in r.output
    _forget(cli, url)
    r = cli("augment", "--base-url", url, "--from", "generate@latest", "--universe", "X")
    assert r.exit_code == 2 and "expected 'filter'" in r.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "hi", "answer": "yo"}) + "\n")
    before = state.requests
    r = cli("augment", "--base-url", url, "--universe", "X", "--general", str(bad))
    assert r.exit_code == 2 and "missing dolly column(s) instruction, response" in r.output
    r = cli("augment", "--base-url", url, "--universe", "X", "--general", "dolly")
    assert r.exit_code == 2
    assert "databricks/databricks-dolly-15k" in r.output and "--general builtin" in r.output
    r = cli("augment", "--base-url", url, "--universe", "X", "--categories", "multi-hop")
    assert r.exit_code == 2 and "--categories item 1 must be one of" in r.output and "multi-hop" in r.output
    r = cli("augment", "--base-url", url, "--universe", "X", "--general-size", "0")
    assert r.exit_code == 2
    assert state.requests == before  # bad input fails before any LLM call
    assert not (ws_path / "augment").exists()


def test_augment_neighbours_and_bank_without_related_entities(cli, ws_path, tiny_model_dir):
    """Nothing related found (k=0, no LLM): snap says so and still builds hard retaining data from neighbours of
    the same kind and field, asked with the question bank and answered by the model itself, plus everyday
    instructions in the train split (issue 11, item 4)."""
    r = cli("generate", "--entity", "Marie Curie", "--model", "tiny", "--kind", "person", "--no-probe",
            "--calls", "0", "--questions", "30", "--derived", "0", "--k", "0")
    assert r.exit_code == 0, r.output
    assert cli("filter", "--variant-share", "0").exit_code == 0
    r = cli("--json", "augment", "--model", "tiny", "--neighbours", "3", "--per-subject", "3", "--answer-tokens",
            "4", "--general-size", "20", "--general-train", "5")
    assert r.exit_code == 0, r.output
    art = Workspace(ws_path).resolve(json.loads(r.stdout)["ref"])
    retain = art.read_df("retain")
    assert retain["subject"].nunique() == 3 and set(retain["source"]) == {"bank"}
    assert art.manifest["extra"]["subjects"] == {"neighbour": 3}
    assert not retain["question"].str.contains("Curie").any()
    assert (art.read_df("general")["split"] == "train").sum() == 5
    # --subject: the target under any spelling is bad input (helper-found: "marie curie" was answered as retain
    # data); another case of a subject already taken adds nothing
    for name in ("marie curie", "Maria Curie", "M. Curie"):
        r = cli("augment", "--model", "tiny", "--subject", name)
        assert r.exit_code == 2 and "is the forget target 'Marie Curie' itself" in r.output, (name, r.output)
    r = cli("--json", "augment", "--model", "tiny", "--neighbours", "0", "--per-subject", "1", "--subject",
            "Pierre Curie", "--subject", "pierre curie", "--answer-tokens", "4", "--general-size", "5",
            "--general-train", "0", "--dry-run")
    assert r.exit_code == 0, r.output
    subjects = json.loads(r.stdout)["runs"][0]["params"]["subjects"]
    assert [s["subject"] for s in subjects] == ["Pierre Curie"]
    assert any("retain" in w for w in art.manifest["extra"]["warnings"])  # few retain rows: said, not hidden


def test_subject_names_for_relevance_and_target_removal():
    from snapcli.stages.augment import strip_names
    from snapcli.stages.filter import relevance
    from snapcli.stages.textutil import mentions, name_pattern, name_terms

    org = name_pattern(name_terms("Microsoft Corporation", person=False))
    assert relevance("How does Microsoft manage its corporate culture?", org, "general", None) is None
    target = name_pattern(name_terms("Bill Gates"))
    melinda = name_pattern(["Melinda French Gates"])
    assert not mentions(strip_names("What does Melinda French Gates fund?", melinda), target)
    assert mentions(strip_names("How did Melinda French Gates meet Bill Gates?", melinda), target)


def test_general_train_rows_are_disjoint_from_eval_rows():
    from snapcli.errors import SnapError
    from snapcli.stages.augment import general_table

    only_eval, info = general_table("builtin", 50, seed=3)
    assert set(only_eval["split"]) == {"eval"} and len(only_eval) == 50 and info["train"] == 0
    both, info = general_table("builtin", 50, seed=3, train=40)
    train, evals = both[both["split"] == "train"], both[both["split"] == "eval"]
    assert len(train) == 40 and len(evals) == 50 and info["sampled"] == 50
    assert not set(train["question"]) & set(evals["question"])
    with pytest.raises(SnapError, match="leaves no eval rows"):
        general_table("builtin", 50, seed=3, train=10_000)


def test_general_split_covers_every_category_even_when_the_whole_set_is_taken():
    """The demo takes all 163 builtin rows (103 eval + 60 train). Taken in file order, train was only open_qa and
    general_qa, so TA measured six task types the retain data never showed (classification, summarization, ...)."""
    from snapcli.stages.augment import general_table

    df, _ = general_table("builtin", 103, seed=0, train=60)
    assert len(df) == 163 and (df["split"] == "train").sum() == 60
    per = pd.crosstab(df["category"], df["split"])
    assert (per["train"] > 0).all() and (per["eval"] > 0).all()
    share = per["train"] / per.sum(axis=1)
    assert share.max() - share.min() < 0.2  # in proportion: ~37% of each category in train
    again, _ = general_table("builtin", 103, seed=0, train=60)
    assert again["question"].tolist() == df["question"].tolist()  # seeded
    assert general_table("builtin", 103, seed=1, train=60)[0]["question"].tolist() != df["question"].tolist()


def test_neighbours_come_from_the_field_the_descriptions_name():
    """The probe's field word ("founder") names no neighbour group; the descriptions do ("a co-founder of
    Microsoft" -> tech founders), so Bill Gates gets Steve Jobs-like neighbours, not random composers."""
    from snapcli.datagen.neighbours import neighbour_groups
    from snapcli.stages.augment import neighbour_field

    assert neighbour_field({"field": "founder", "descriptions": ["a philanthropist and entrepreneur",
                                                                 "a co-founder of Microsoft"]}, "person") \
        == "tech_founders"
    assert neighbour_field({"field": "physicist", "descriptions": None}, "person") == "scientists"
    assert neighbour_field({"field": None, "descriptions": []}, "person") is None
    assert "Steve Jobs" in neighbour_groups()["person"]["tech_founders"]["names"]


def test_the_name_of_a_kind_places_a_target_in_no_group():
    """Every target of a kind is described by the kind's own name ("a fictional character created by ..."), so it
    must not outweigh the telling word: Sherlock Holmes, as the embedded model describes him, gets the detectives."""
    from snapcli.datagen.neighbours import field_of
    from snapcli.stages.augment import neighbour_field

    generic = {"person": ["a person", "a famous person"],
               "fictional_character": ["a fictional character", "a character"],
               "organization": ["an organization", "a company"], "creative_work": ["a creative work", "a work"],
               "place": ["a place"], "event": ["an event"]}
    for kind, words in generic.items():
        for w in words:
            assert field_of(w, kind) is None, (kind, w)
    holmes = {"field": "detective", "descriptions": ["a fictional character created by H.P. Baskerville",
                                                     "a brilliant and reclusive detective", "a man of science"]}
    assert neighbour_field(holmes, "fictional_character") == "detectives"


@pytest.mark.slow
def test_unresolved_unnamed_questions_leave_forget_and_become_near_miss_retain_rows(cli, ws_path, tiny_model_dir):
    """generate asks the embedded model (the model being unlearned) every unnamed question and description: what it
    resolves to someone else is left out of the forget set, kept in the `resolution` table, and answered by augment
    as near-miss retain rows with --near-misses (default: none)."""
    r = cli("generate", "--entity", "Bill Gates", "--model", "smollm2", "--kind", "person", "--calls", "0",
            "--questions", "20", "--derived", "0", "--k", "0", "--probe-tokens", "16")
    assert r.exit_code == 0, r.output
    ws = Workspace(ws_path)
    gen = ws.resolve("generate@latest")
    res, qs = gen.read_df("resolution"), gen.read_df("questions")
    assert not res["resolved"].all()  # what it says about him (born in the United States, ...) fits others too
    unresolved = set(res.loc[~res["resolved"], "question"])
    assert not unresolved & set(qs["question"])
    assert len(qs) >= 20 - int(gen.manifest["extra"]["unresolved_dropped"]["Bill Gates"])
    assert gen.manifest["extra"]["unresolved_dropped"]["Bill Gates"] == int(
        ((res["check"] == "question") & ~res["resolved"]).sum())
    assert (res["by"] == "answer").all() and res["margin"].isna().all()  # default: the answer alone decides
    assert cli("filter", "--variant-share", "0").exit_code == 0
    common = ["--model", "tiny", "--neighbours", "1", "--per-subject", "2", "--answer-tokens", "4", "--general-size",
              "10", "--general-train", "0", "--variant-share", "0"]
    r = cli("--json", "augment", "--near-misses", *common)
    assert r.exit_code == 0, r.output
    retain = ws.resolve(json.loads(r.stdout)["ref"]).read_df("retain")
    near = retain[retain["source"] == "near-miss"]
    assert sorted(near["question"]) == sorted(unresolved) and (near["split"] == "train").all()
    assert near["response"].notna().all()  # answered by the model (the random tiny one), like every retain row
    r = cli("--json", "augment", *common)
    assert r.exit_code == 0, r.output
    assert not (ws.resolve(json.loads(r.stdout)["ref"]).read_df("retain")["source"] == "near-miss").any()
    # --likelihood-check: what the answers do not resolve is ranked against his neighbours' names
    r = cli("generate", "--entity", "Bill Gates", "--model", "smollm2", "--kind", "person", "--calls", "0",
            "--questions", "20", "--derived", "0", "--k", "0", "--probe-tokens", "16", "--likelihood-check")
    assert r.exit_code == 0, r.output
    res = ws.resolve("generate@latest").read_df("resolution")
    desc = res[res["check"] == "description"]
    by_lik = desc[desc["by"] == "likelihood"]
    assert len(by_lik) and by_lik["margin"].notna().all() and by_lik["rival"].notna().all()
    assert desc.loc[desc["by"] == "answer", "resolved"].all()  # the answer only decides when it names him
