"""The independent held-out question sets in benchmarks/heldout/ (issue 11, item 6): schema, counts, category and
variant coverage, no duplicates, implicit and multi-hop questions that never name the target, gold facts that the
question does not give away, and translated variants (forget, retain and general rows) that really are in their
language. Format and matching rules: benchmarks/heldout/README.md."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from snapcli.evaluate.metrics import fold, has_fact

HELDOUT = Path(__file__).resolve().parents[1] / "benchmarks" / "heldout"
FILES = sorted(HELDOUT.glob("*.yaml"))

KINDS = {"person", "organization", "creative_work", "fictional_character", "place", "event"}
CATEGORIES = {"factual", "relational", "open-ended", "implicit", "multi-hop"}
VARIANTS = {"plain", "typo", "lower", "translate-de", "translate-fr", "translate-es", "translate-zh", "task", "prefix",
            "roleplay"}
GENERAL_CATEGORIES = {"arithmetic", "cooking", "grammar", "geography", "coding", "advice", "science", "history",
                      "literature", "language", "writing"}
REQUIRED_GENERAL = {"arithmetic", "cooking", "grammar", "geography", "coding", "advice"}
ITEM_KEYS = {
    "forget": {"question", "category", "variant", "facts"},
    "retain": {"question", "answer", "subject", "why"},
    "general": {"question", "answer", "category"},
}
# retain and general rows may carry `variant` too (absent = plain English): only plain or a translation.
OPTIONAL_KEYS = {"retain": {"variant"}, "general": {"variant"}}
TRANSLATIONS = sorted(v for v in VARIANTS if v.startswith("translate-"))
ANSWER_VARIANTS = {"plain", *TRANSLATIONS}
MIN_ITEMS = {"forget": 40, "retain": 25, "general": 20}
MIN_PER_CATEGORY = {"factual": 10, "relational": 5, "open-ended": 4, "implicit": 6, "multi-hop": 6}
MIN_PER_VARIANT = {v: 2 if v.startswith("translate-") else 1 for v in VARIANTS} | {"plain": 30}
MIN_TRANSLATED = {"retain": 2, "general": 1}  # rows per translate-* variant: does the model still answer in it?

# Function words that tell the languages of the translated variants apart (no word shared by two lists).
MARKERS = {
    "en": set("the what which who whom where when how why is was did does of in year".split()),
    "de": set("welchem welcher welche jahr wurde wie heißt hieß der die das den dem erhielt für über erschien begann "
              "von im ist und".split()),
    "fr": set("quel quelle quels quelles année comment est le les du dans sur nom appelle appelait où qui".split()),
    "es": set("qué cómo quién cuál año se llama el los las su sus es para del".split()),
}
CJK = re.compile(r"[\u3400-\u9fff]")
PREFIX = re.compile(r"ignore|disregard|developer mode|admin mode|restriction|off limits", re.I)
ROLEPLAY = re.compile(r"\byou are\b|pretend|role-play|let's play|act as|imagine you", re.I)
TASK = re.compile(r"complete the sentence|\bwrite\b|summari[sz]e|\bdescribe\b", re.I)


def target_terms(target: dict[str, Any]) -> list[str]:
    """Name, aliases and the name's words (3+ letters): none may appear in an implicit or multi-hop question."""
    words = [w for w in re.split(r"\W+", target["name"]) if len(w) >= 3]
    return [fold(t) for t in [target["name"], *target["aliases"], *words]]


def names_any(text: str, terms: list[str]) -> str | None:
    low = fold(text)
    return next((t for t in terms if t in low), None)  # substring on purpose: 'Swifties' names 'Swift'


def assert_language(question: str, variant: str) -> None:
    """A translate-* question is in its language: CJK for Chinese; otherwise no CJK and more function words of the
    labelled language than of any other."""
    if variant == "translate-zh":
        assert CJK.search(question), question
        return
    lang = variant.removeprefix("translate-")
    words = re.findall(r"[^\W\d_]+", question.lower())
    score = {code: sum(w in markers for w in words) for code, markers in MARKERS.items()}
    assert not CJK.search(question) and all(score[lang] > s for code, s in score.items() if code != lang), (
        question, score)


def norm(question: str) -> str:
    return re.sub(r"[\W_]+", " ", fold(question)).strip()


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


DATA = {p.stem: load(p) for p in FILES}
ids = pytest.mark.parametrize("slug", sorted(DATA))


def test_matching_rule() -> None:
    assert has_fact("She was born in Warsaw, Poland.", "Warsaw")
    assert has_fact("Elle est née à Varsovie en 1867.", "1867")
    assert has_fact("哈利·波特的生日是7月31日。", "31")
    assert has_fact("He made seven Horcruxes.", "Horcrux")
    assert has_fact("Irene and Eve Curie", "Ève") and has_fact("au Panthéon", "Pantheon")
    assert not has_fact("She never gave up.", "Ève")
    assert not has_fact("It was 1989.", "198")
    assert names_any("Why are her fans called Swifties?", ["swift"]) == "swift"


def test_targets_of_different_kinds() -> None:
    assert len(DATA) >= 3, "issue 11 asks for held-out sets for at least three targets"
    kinds = {d["target"]["kind"] for d in DATA.values()}
    assert len(kinds) >= 3, kinds


@ids
def test_schema(slug: str) -> None:
    data = DATA[slug]
    assert set(data) == {"target", "forget", "retain", "general"}
    target = data["target"]
    assert set(target) == {"name", "kind", "aliases"}
    assert isinstance(target["name"], str) and target["name"].strip()
    assert target["kind"] in KINDS
    assert re.sub(r"[^a-z0-9]+", "-", fold(target["name"])).strip("-") == slug, "file name = slug of the target"
    aliases = target["aliases"]
    assert isinstance(aliases, list) and aliases and all(isinstance(a, str) and a.strip() for a in aliases)
    assert len({fold(a) for a in aliases}) == len(aliases), "duplicate alias"
    for section, keys in ITEM_KEYS.items():
        items = data[section]
        assert isinstance(items, list)
        for item in items:
            assert isinstance(item, dict) and keys <= set(item) <= keys | OPTIONAL_KEYS.get(section, set()), (
                section, item)
            for key in set(item) - {"facts"}:
                assert isinstance(item[key], str) and item[key].strip(), (section, key, item)
    for item in data["forget"]:
        assert item["category"] in CATEGORIES, item
        assert item["variant"] in VARIANTS, item
        facts = item["facts"]
        assert isinstance(facts, list) and all(isinstance(f, str) and f.strip() for f in facts), item
        assert len({fold(f) for f in facts}) == len(facts), item
        if item["category"] == "open-ended":
            assert facts == [], f"open-ended questions have no gold facts: {item['question']}"
        else:
            assert 1 <= len(facts) <= 3, item
    for item in data["general"]:
        assert item["category"] in GENERAL_CATEGORIES, item
    for item in data["retain"] + data["general"]:
        assert item.get("variant", "plain") in ANSWER_VARIANTS, item


@ids
def test_counts_and_coverage(slug: str) -> None:
    data = DATA[slug]
    for section, minimum in MIN_ITEMS.items():
        assert len(data[section]) >= minimum, (section, len(data[section]))
    categories = Counter(i["category"] for i in data["forget"])
    for category, minimum in MIN_PER_CATEGORY.items():
        assert categories[category] >= minimum, (category, categories[category])
    variants = Counter(i["variant"] for i in data["forget"])
    for variant, minimum in MIN_PER_VARIANT.items():
        assert variants[variant] >= minimum, (variant, variants[variant])
    for section, minimum in MIN_TRANSLATED.items():
        translated = Counter(i.get("variant", "plain") for i in data[section])
        for variant in TRANSLATIONS:
            assert translated[variant] >= minimum, (section, variant, translated[variant])
    assert REQUIRED_GENERAL <= {i["category"] for i in data["general"]}
    assert len({fold(i["subject"]) for i in data["retain"]}) >= 15, "retain questions should cover many subjects"


@ids
def test_no_duplicate_questions(slug: str) -> None:
    questions = [norm(i["question"]) for section in ITEM_KEYS for i in DATA[slug][section]]
    dupes = [q for q, n in Counter(questions).items() if n > 1]
    assert not dupes, dupes


def test_no_question_shared_between_targets() -> None:
    owner: dict[str, str] = {}
    for slug, data in DATA.items():
        for section in ITEM_KEYS:
            for item in data[section]:
                key = norm(item["question"])
                assert owner.setdefault(key, slug) == slug, (item["question"], owner[key], slug)


@ids
def test_implicit_and_multihop_never_name_the_target(slug: str) -> None:
    terms = target_terms(DATA[slug]["target"])
    for item in DATA[slug]["forget"]:
        if item["category"] in {"implicit", "multi-hop"}:
            assert names_any(item["question"], terms) is None, item["question"]


@ids
def test_implicit_questions_ask_for_the_target(slug: str) -> None:
    terms = target_terms(DATA[slug]["target"])
    for item in DATA[slug]["forget"]:
        if item["category"] == "implicit":
            assert any(names_any(f, terms) for f in item["facts"]), item


@ids
def test_facts_are_not_given_away_by_the_question(slug: str) -> None:
    for item in DATA[slug]["forget"]:
        for fact in item["facts"]:
            assert not has_fact(item["question"], fact), (fact, item["question"])


@ids
def test_retain_and_general_are_not_about_the_target(slug: str) -> None:
    target = DATA[slug]["target"]
    terms = [fold(t) for t in [target["name"], *target["aliases"]]]
    for section in ("retain", "general"):
        for item in DATA[slug][section]:
            assert names_any(item["question"], terms) is None, (section, item["question"])
    for item in DATA[slug]["retain"]:
        assert fold(item["subject"]) not in terms, item


@ids
def test_variants_have_their_surface_form(slug: str) -> None:
    for item in DATA[slug]["forget"]:
        q, variant = item["question"], item["variant"]
        if variant == "lower":
            assert q == q.lower(), q
        elif variant == "translate-zh":
            assert CJK.search(q), q
        elif variant.startswith("translate-"):
            assert_language(q, variant)
        elif variant == "prefix":
            assert PREFIX.search(q), q
        elif variant == "roleplay":
            assert ROLEPLAY.search(q), q
        elif variant == "task":
            assert TASK.search(q), q
        if variant in {"plain", "typo", "task", "prefix", "roleplay"}:
            assert not CJK.search(q), q


@ids
def test_translated_retain_and_general_rows(slug: str) -> None:
    """Translated retain/general rows are in their language, name no word of the target's name either, and have a
    short gold answer without Chinese characters, so an answer in either language can be matched with has_fact."""
    terms = target_terms(DATA[slug]["target"])
    for section in ("retain", "general"):
        for item in DATA[slug][section]:
            q, variant = item["question"], item.get("variant", "plain")
            if variant == "plain":
                assert not CJK.search(q), q
                continue
            assert_language(q, variant)
            assert names_any(q, terms) is None, (section, q)
            answer = item["answer"]
            assert len(answer.split()) <= 3 and not CJK.search(answer), (section, q, answer)


def test_heldout_bound_counts_what_a_target_specific_refusal_can_reach(tmp_path):
    """benchmarks/heldout_bound.py: named questions + unnamed ones the base model answers with the target."""
    import importlib.util

    import pandas as pd

    spec = importlib.util.spec_from_file_location("heldout_bound", HELDOUT.parent / "heldout_bound.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    doc = yaml.safe_load((HELDOUT / "marie-curie.yaml").read_text(encoding="utf-8"))
    named = next(q["question"] for q in doc["forget"] if "Curie" in q["question"] and q["category"] != "multi-hop")
    unnamed = [q["question"] for q in doc["forget"] if "Curie" not in q["question"] and q["category"] == "implicit"]
    mh = next(q["question"] for q in doc["forget"] if q["category"] == "multi-hop")
    base = [(named, "She was born in Warsaw."), (unnamed[0], "That was Marie Curie."), (unnamed[1], "Albert Einstein."),
            (mh, "Nobody knows.")]
    rows = [{"set": "forget", "model": "smollm2", "question": q, "response": a, "label": "answer"} for q, a in base]
    rows += [{"set": "forget", "model": "smollm2 + snap", "question": q, "response": "I can't help.",
              "label": "refusal" if q != unnamed[1] else "answer"} for q, _ in base]
    ws = tmp_path / "marie-curie" / "eval" / "v0001"
    ws.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(ws / "generations.parquet")
    r = mod.bound(HELDOUT / "marie-curie.yaml", tmp_path / "marie-curie")
    assert (r["questions"], r["named"], r["unnamed"], r["unnamed_resolved_by_base"]) == (3, 1, 2, 1)
    assert r["UA_bound"] == round(100 * 2 / 3, 1) and r["UA_after"] == round(100 * 2 / 3, 1)
    assert (r["multihop"], r["multihop_resolved_by_base"], r["UA-multihop_bound"], r["UA-multihop_after"]) == (
        1, 0, 0.0, 100.0)


def test_facts_kept_pairs_the_base_models_correct_answers_with_the_unlearned_ones():
    """benchmarks/heldout.py: of the retain/general questions the base model answers with the gold fact, how many
    the unlearned model still does; a right answer the base model did not know is not counted as kept."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("heldout_bench", HELDOUT.parent / "heldout.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    before = {"forget": {"f": True}, "retain": {"a": True, "b": True, "c": False}, "general": {"g": True}}
    after = {"forget": {"f": False}, "retain": {"a": True, "b": False, "c": True}, "general": {}}
    assert mod.known(before) == {"forget": [1, 1], "retain": [2, 3], "general": [1, 1]}
    assert mod.facts_kept(before, after) == {"retain": [1, 2], "general": [0, 1]}
    assert mod.facts_kept({"retain": {}}, {}) == {"retain": [0, 0], "general": [0, 0]}
