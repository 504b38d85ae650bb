"""The question bank (issue 11, item 1): coverage per kind and category, filling, validation, user files."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import yaml

from snapcli.datagen.bank import (
    KINDS,
    SLOTS,
    bank_langs,
    bank_rows,
    fill_frames,
    load_bank,
    parse_frames,
    target_pattern,
)
from snapcli.errors import SnapError
from snapcli.stages.textutil import CATEGORIES

MIN_FRAMES = {"person": 150, **{k: 80 for k in KINDS if k != "person"}}

# A sample target per kind, with facts as snapcli.datagen.knowledge extracts them (every slot has a value).
SAMPLES = {
    "person": (["Gabriel García Márquez", "Gabo"], {
        "description": ["the Colombian author of One Hundred Years of Solitude"], "related": ["Mercedes Barcha"],
        "work": ["Love in the Time of Cholera"], "place": ["Aracataca"], "year": ["1927"], "field": ["novelist"],
        "organization": ["El Espectador"]}),
    "organization": (["Microsoft", "Microsoft Corporation"], {
        "description": ["the maker of Windows"], "related": ["Paul Allen"], "work": ["Windows"],
        "place": ["Redmond"], "year": ["1975"], "field": ["software company"], "organization": ["Apple"]}),
    "creative_work": (["One Hundred Years of Solitude"], {
        "description": ["the novel about the Buendía family"], "related": ["Aureliano Buendía"],
        "work": ["Love in the Time of Cholera"], "place": ["Macondo"], "year": ["1967"], "field": ["novel"],
        "organization": ["Editorial Sudamericana"]}),
    "fictional_character": (["Sherlock Holmes", "Holmes"], {
        "description": ["the consulting detective of 221B Baker Street"], "related": ["Dr. John Watson"],
        "work": ["A Study in Scarlet"], "place": ["London"], "year": ["1887"], "field": ["detective"],
        "organization": ["Scotland Yard"]}),
    "place": (["山田町"], {
        "description": ["the fishing town on the Sanriku coast"], "related": ["Miyako"], "work": ["a local festival"],
        "place": ["Iwate Prefecture"], "year": ["2011"], "field": ["town"], "organization": ["Yamada Fisheries"]}),
    "event": (["the Apollo 11 Moon landing", "Apollo 11"], {
        "description": ["the first crewed landing on the Moon"], "related": ["Neil Armstrong"],
        "work": ["First Man"], "place": ["the Sea of Tranquility"], "year": ["1969"], "field": ["space mission"],
        "organization": ["NASA"]}),
}


@pytest.mark.parametrize("kind", KINDS)
def test_bank_size_and_coverage(kind):
    frames = load_bank(kind)
    assert len(frames) >= MIN_FRAMES[kind]
    cats = Counter(f.category for f in frames)
    assert set(cats) == set(CATEGORIES)
    # every category is a real share of the bank, implicit and multi-hop included
    assert min(cats.values()) >= 0.1 * len(frames), cats
    assert len({f.facet for f in frames}) >= 12
    assert len({f.id for f in frames}) == len(frames)
    # varied wording, not one template: many different first words, and no text twice
    assert len({f.text.split()[0].lower() for f in frames}) >= 12
    assert len({f.text for f in frames}) == len(frames)
    for f in frames:
        assert set(f.slots) <= set(SLOTS)
        if f.category == "implicit":
            assert "name" not in f.slots, f.id


def test_person_bank_covers_the_facets_of_a_life():
    facets = {f.facet for f in load_bank("person")}
    assert {"birth", "family", "education", "career", "works", "awards", "beliefs", "death", "legacy",
            "controversies", "appearance", "places", "dates", "quotes"} <= facets


@pytest.mark.parametrize("kind", KINDS)
def test_every_frame_fills_for_a_sample_target(kind):
    names, facts = SAMPLES[kind]
    frames = load_bank(kind)
    rows = fill_frames(frames, names, facts, seed=3)
    assert not rows.skipped, rows.skipped
    assert len(rows) == len(frames)
    assert {r["frame_id"] for r in rows} == {f.id for f in frames}
    pattern = target_pattern(names, person=kind in ("person", "fictional_character"))
    for r in rows:
        q = r["question"]
        assert "{" not in q and "}" not in q and q[0].isupper() or not q[0].isalpha(), q
        assert q == " ".join(q.split())
        assert (r["category"], r["lang"], r["kind"], r["source"]) == (r["category"], "en", kind, "bank")
        if r["category"] == "implicit":
            assert not pattern.search(q), q  # implicit questions never name the target
            assert r["name"] is None
        if "name" in r and r["name"] is not None:
            assert r["name"] in names and r["name"] in q


def test_implicit_values_that_name_the_target_are_not_used():
    frames = [f for f in load_bank("person") if f.id in ("imp-who-description", "identity-who")]
    rows = fill_frames(frames, ["Marie Curie"], {"description": ["the wife of Pierre Curie"]})
    # the only description names her surname: the implicit frame is skipped and counted, the named one fills
    assert [r["frame_id"] for r in rows] == ["identity-who"]
    assert rows.skipped == {"imp-who-description": ["description"]}
    assert rows.skipped_by_slot == Counter({"description": 1})


def test_missing_facts_skip_frames_and_count_them():
    frames = load_bank("person")
    rows = fill_frames(frames, ["Ada Lovelace"], {}, seed=0)
    assert rows and all("{" not in r["question"] for r in rows)
    assert len(rows) + len(rows.skipped) == len(frames)
    assert rows.skipped_by_slot["description"] >= 20
    assert not any(r["category"] == "implicit" for r in rows)


def test_selection_spreads_over_facets_and_is_seeded():
    frames = load_bank("person")
    names, facts = SAMPLES["person"]
    a = fill_frames(frames, names, facts, n=25, seed=7)
    b = fill_frames(frames, names, facts, n=25, seed=7)
    c = fill_frames(frames, names, facts, n=25, seed=8)
    assert [r["question"] for r in a] == [r["question"] for r in b]
    assert [r["question"] for r in a] != [r["question"] for r in c]
    # 25 rows out of 181 frames still touch most facets and every category
    assert len({r["facet"] for r in a}) >= 15
    assert {r["category"] for r in a} == set(CATEGORIES)


def test_more_rows_than_frames_uses_other_names_and_values():
    frames = load_bank("organization")
    rows = fill_frames(frames, ["Microsoft", "MS"], {"year": ["1975", "1986"], "field": ["software company"]},
                       n=300, seed=1)
    qs = [r["question"] for r in rows]
    assert len(qs) == len(set(qs)) > len([f for f in frames if set(f.slots) <= {"name", "year", "field"}])
    assert {r["name"] for r in rows if r["name"]} == {"Microsoft", "MS"}
    # with a single name and no facts nothing new can be made: it stops instead of looping
    assert len(fill_frames(frames, ["Microsoft"], {}, n=10_000)) < 100


def test_a_cjk_alias_names_the_target_only_in_chinese_frames():
    """`--alias 居里夫人` is for Chinese questions: English frames keep the Latin names ("Where was 居里夫人 born?" is
    not how anyone asks); a zh frame may use it; a target whose own name is CJK keeps every name everywhere."""
    names = ["Marie Curie", "Madame Curie", "居里夫人"]
    en = fill_frames(load_bank("person"), names, n=300, seed=0)
    assert {r["name"] for r in en if r["name"]} == {"Marie Curie", "Madame Curie"}
    zh = fill_frames(load_bank("person", "zh"), names, n=300, seed=0)
    assert "居里夫人" in {r["name"] for r in zh}
    own = fill_frames(load_bank("person"), ["山田太郎", "Taro Yamada", "やまだ"], n=300, seed=0)
    assert {r["name"] for r in own if r["name"]} == {"山田太郎", "Taro Yamada", "やまだ"}


def test_rendering_details():
    person = {f.id: f for f in load_bank("person")}
    rows = fill_frames([person["imp-born-where"]], ["X"], {"description": ["An American physicist."]})
    assert rows[0]["question"] == "Where was the American physicist born?"
    org = {f.id: f for f in load_bank("organization")}
    rows = fill_frames([org["identity-what"]], ["the United Nations"], {})
    assert rows[0]["question"] == "What is the United Nations?"
    fr = {f.id: f for f in load_bank("person", "fr")}
    rows = fill_frames([fr["identity-nationality"]], ["Albert Einstein"], {})
    assert rows[0]["question"] == "Quelle est la nationalité d'Albert Einstein ?"
    rows = fill_frames([fr["identity-nationality"]], ["Marie Curie"], {})
    assert rows[0]["question"] == "Quelle est la nationalité de Marie Curie ?"


@pytest.mark.parametrize("kind", KINDS)
def test_translated_frames(kind):
    en = {f.id: f for f in load_bank(kind)}
    assert bank_langs(kind) == ["en", "de", "fr", "es", "zh"]
    for lang in ("de", "fr", "es", "zh"):
        frames = load_bank(kind, lang)
        assert len(frames) >= 25, (kind, lang)
        for f in frames:
            assert f.lang == lang and f.id in en, (kind, lang, f.id)
            assert f.category == en[f.id].category and f.facet == en[f.id].facet
            assert f.slots == ("name",)  # English fact values would not read in another language
            assert f.text != en[f.id].text
            if lang == "zh":
                assert re.search(r"[\u4e00-\u9fff]", f.text) and f.text[-1] in "？。", f.text
            else:
                assert not re.search(r"[\u4e00-\u9fff]", f.text)
            if lang == "es" and f.text.endswith("?"):
                assert "¿" in f.text, f.text
        rows = fill_frames(frames, ["Marie Curie"])
        assert len(rows) == len(frames) and all("Marie Curie" in r["question"] for r in rows)
        assert all(r["lang"] == lang for r in rows)


# ------------------------------------------------------------------ validation and user files


def _doc(**frame):
    return {"kind": "person", "lang": "en", "frames": [{"id": "x1", "category": "factual", "facet": "birth",
                                                        "text": "When was {name} born?", **frame}]}


@pytest.mark.parametrize("frame, message", [
    ({"text": "Where did {name} meet {friend}?"}, r"frame x1: unknown slot\(s\) \{friend\}"),
    ({"category": "trivia"}, r"frame x1: unknown category 'trivia'"),
    ({"kind": "planet"}, r"frame x1: unknown kind 'planet'"),
    ({"category": "implicit"}, r"frame x1: an implicit frame must describe the target without \{name\}"),
    ({"text": "What is the capital of France?"}, r"frame x1: the text has no slot"),
    ({"facet": ""}, r"frame x1: missing or malformed facet"),
    ({"colour": "red"}, r"frame x1: unknown key\(s\) colour"),
    ({"id": "bad id!"}, r"frame bad id!: missing or malformed id"),
])
def test_invalid_frames_name_file_and_frame(frame, message):
    with pytest.raises(SnapError, match=r"^bank file my\.yaml, " + message):
        parse_frames(_doc(**frame), "my.yaml")


def test_duplicate_ids_and_bad_files(tmp_path):
    doc = _doc()
    doc["frames"].append(dict(doc["frames"][0]))
    with pytest.raises(SnapError, match="frame x1: duplicate id"):
        parse_frames(doc, "d.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("frames: [ {id: x")
    with pytest.raises(SnapError, match=f"bank file {bad} is not valid YAML"):
        load_bank("person", extra=[bad])
    with pytest.raises(SnapError, match="--bank .*: no such file"):
        load_bank("person", extra=[tmp_path / "missing.yaml"])
    with pytest.raises(SnapError, match="expected a mapping with a 'frames' list"):
        parse_frames(["x"], "l.yaml")
    with pytest.raises(SnapError, match="unknown kind 'planet' for the question bank"):
        load_bank("planet")
    with pytest.raises(SnapError, match=r"no person frames in language 'ja' \(shipped: en, de, fr, es, zh\)"):
        load_bank("person", "ja")
    with pytest.raises(SnapError, match="needs the target's name"):
        fill_frames(load_bank("person"), [" "], {})


def test_user_bank_file_merges(tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text(yaml.safe_dump({"kind": "person", "frames": [
        {"id": "birth-year", "category": "factual", "facet": "birth", "text": "Which year saw {name}'s birth?"},
        {"id": "my-pet", "category": "factual", "facet": "hobbies", "text": "What is the name of {name}'s cat?"},
        {"id": "my-ja", "lang": "ja", "category": "factual", "facet": "identity", "text": "{name}は誰ですか？"},
        {"id": "org-x", "kind": "organization", "category": "factual", "facet": "brand",
         "text": "What colour is {name}'s logo?"},
    ]}, allow_unicode=True))
    shipped = {f.id: f for f in load_bank("person")}
    merged = {f.id: f for f in load_bank("person", extra=[user])}
    assert len(merged) == len(shipped) + 1
    assert merged["birth-year"].text == "Which year saw {name}'s birth?"
    assert merged["my-pet"].facet == "hobbies"
    assert [f.id for f in load_bank("person", "ja", extra=[user])] == ["my-ja"]
    assert "org-x" in {f.id for f in load_bank("organization", extra=[user])}
    rows = bank_rows("person", ["Ada Lovelace"], {}, extra=[user])
    assert "What is the name of Ada Lovelace's cat?" in {r["question"] for r in rows}


def test_target_pattern_handles_any_script():
    p = target_pattern(["Gabriel García Márquez"])
    assert p.search("Where was Márquez born?").group(0) == "Márquez"
    assert p.search("gabriel garcía márquez's books").group(0) == "gabriel garcía márquez's"
    assert p.search("Gabriel García Márquez是谁？").group(0) == "Gabriel García Márquez"
    assert not p.search("Marquezs and Gabrielle")
    assert target_pattern(["Марія Кюрі"]).search("Хто така Кюрі?").group(0) == "Кюрі"
    assert target_pattern(["山田太郎"]).search("山田太郎是谁？").group(0) == "山田太郎"
    assert target_pattern(["Microsoft"], person=False).search("Who founded Microsoft?")
