"""The data report and thin-set warnings (issue 11, item 5), with the real embedded sentence embedder."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from snapcli.curated import load_example
from snapcli.datagen.bank import bank_rows
from snapcli.datagen.report import THRESHOLDS, data_report, default_embed, mean_pairwise_similarity, thin_warnings
from snapcli.datagen.variants import make_variants

FACTS = {"description": ["the Polish-French physicist who discovered polonium"], "work": ["the discovery of radium"],
         "related": ["Pierre Curie"], "place": ["Warsaw"], "year": ["1867"], "field": ["physicist"],
         "organization": ["the University of Paris"]}
FLAGS = re.compile(r"--[a-z][a-z-]+")


@pytest.fixture(scope="module")
def broad() -> pd.DataFrame:
    rows = bank_rows("person", ["Marie Curie"], FACTS, seed=0)
    return pd.DataFrame(make_variants(rows, share=0.1, seed=0)).assign(split="train")


def test_mean_pairwise_similarity_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(40, 16))
    u = v / np.linalg.norm(v, axis=1, keepdims=True)
    sims = u @ u.T
    expected = (sims.sum() - 40) / (40 * 39)
    assert mean_pairwise_similarity(v) == pytest.approx(expected)
    assert mean_pairwise_similarity(np.ones((5, 3))) == pytest.approx(1.0)
    assert mean_pairwise_similarity(v[:1]) is None


def test_report_counts_a_broad_bank_set(broad):
    rep = data_report(broad, related_found=10, k=10)
    f = rep["forget"]
    assert f["rows"] == len(broad) and f["train_rows"] == len(broad) and f["train_questions"] == 179
    assert sum(f["by_category"].values()) == len(broad) and min(f["by_category"].values()) > 0
    assert f["by_variant"]["plain"] == f["plain_rows"] == 179
    assert {"lower", "typo", "task", "prefix", "roleplay", "multiturn", "translate-de", "translate-zh"} <= set(
        f["by_variant"])
    assert f["by_lang"]["en"] < len(broad) and set(f["by_lang"]) == {"en", "de", "fr", "es", "zh"}
    assert f["distinct_frames"] == 179 and f["distinct_facets"] >= 20
    assert 0.1 < f["mean_similarity"] < THRESHOLDS["max_mean_similarity"]
    json.dumps(rep)  # JSON-able, for the manifest
    assert thin_warnings(rep) == []


def test_masking_measures_what_is_asked_not_who():
    same_q = pd.DataFrame({"entity": ["Marie Curie"] * 3 + ["Ada Lovelace"] * 3,
                           "question": ["Where was Marie Curie born?", "Who was Marie Curie's husband?",
                                        "What did Marie Curie discover?", "Where was Ada Lovelace born?",
                                        "Who was Ada Lovelace's husband?", "What did Ada Lovelace discover?"]})
    masked = data_report(same_q)["forget"]["mean_similarity"]
    unmasked = mean_pairwise_similarity(default_embed(same_q["question"].tolist()))
    assert masked < unmasked  # names inflate similarity; the report masks them as snap filter does


def test_thin_sets_warn_with_the_flag_that_fixes_them():
    # the embedded writer's situation in issue 11: a dozen narrow questions, one related entity of --k 3, 4 retain rows
    who = ["Who is Bill Gates?", "What is Bill Gates known for?", "Tell me about Bill Gates.",
           "What is Bill Gates famous for?", "Why is Bill Gates famous?", "Can you tell me who Bill Gates is?",
           "Describe Bill Gates.", "What do you know about Bill Gates?", "Give me an overview of Bill Gates.",
           "Who is Bill Gates and what does he do?", "When was Bill Gates born?", "Where was Bill Gates born?",
           "What is Bill Gates's birthday?", "How old is Bill Gates?"]
    forget = pd.DataFrame({"entity": "Bill Gates", "question": who, "split": "train",
                           "category": ["open-ended"] * 10 + ["factual"] * 4})
    retain = pd.DataFrame({"subject": "ISO", "question": [f"q{i}" for i in range(4)], "split": ["train"] * 2 +
                           ["eval"] * 2})
    rep = data_report(forget, retain, related_found=1, k=3)
    warnings = thin_warnings(rep)
    text = "\n".join(warnings)
    assert "only 14 forget questions" in text
    assert "implicit questions are 0 of 14" in text and "multi-hop questions are 0 of 14" in text
    assert "relational questions are 0 of 14" in text
    assert f"mean similarity {rep['forget']['mean_similarity']:.2f}" in text
    assert "surface variants" in text and "found 1 of --k 3 related entities" in text
    assert "2 retain rows for 14 forget rows" in text
    assert all(FLAGS.search(w) for w in warnings), warnings  # every warning names a flag
    # every flag named is one of the stage it names (helper-found: "--k" and "--related" are snap generate's)
    assert "snap generate --related" in text and "snap augment --per-subject" in text
    # everyday train rows are retain data too (train --retain-from both): enough of them clear the ratio warning
    assert not any("retain rows for" in w for w in thin_warnings(data_report(forget, retain, general_train=8)))
    # a --train-size below the threshold is named as the cause, not the writer
    small = thin_warnings(data_report(forget, train_size=14, embed=None))
    assert "raise snap filter --train-size (now 14)" in "\n".join(small)


def test_surface_variants_do_not_count_as_questions_to_train_on(broad):
    # harry-potter's held-out run: 49 plain train questions and 49 variants of them, and no warning
    plain = broad[broad["variant"] == "plain"].head(49)
    thin = pd.concat([plain, broad[broad["variant_of"].isin(plain["question"])]])
    rep = data_report(thin, embed=None)
    assert rep["forget"]["train_rows"] > 50 and rep["forget"]["train_questions"] == 49
    assert any(w.startswith("only 49 forget questions") for w in thin_warnings(rep))
    assert not any(w.startswith("only") for w in thin_warnings(data_report(broad.head(60), embed=None)))


def test_curated_set_is_not_thin_except_for_variants():
    tables = load_example("bill-gates")
    forget, retain = tables["forget"], tables["retain"]
    rep = data_report(forget, retain)
    assert rep["forget"]["train_rows"] == 100 and rep["retain"]["train_rows"] == 100
    assert rep["forget"]["mean_similarity"] < 0.25
    assert rep["forget"]["distinct_frames"] == 0  # hand-written: no bank frames, and no warning about them
    assert [w.split(" ")[1] for w in thin_warnings(rep)] == ["of"]  # only "0% of forget rows are surface variants"


def test_embed_none_skips_similarity(broad):
    rep = data_report(broad.head(20), embed=None)
    assert rep["forget"]["mean_similarity"] is None and rep["retain"] is None
