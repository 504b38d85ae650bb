"""What the model knows (issue 11 item 2): probing, extraction, derived questions, related entities, kind detection.

Extraction, ranking and kind detection run on answer texts written here (including the tricky shapes a 135M model
produces: echoed questions, refusals, loops, hallucinations; names with diacritics, hyphens, apostrophes, CJK).
Probing runs the real embedded SmolLM2 on a few questions, and the tiny random model for garbage answers.
"""

from __future__ import annotations

import pandas as pd
import pytest

from snapcli.datagen.derive import DERIVED_COLUMNS, derived_questions
from snapcli.datagen.kind import detect_kind, heuristic_kind, parse_kind_reply
from snapcli.datagen.knowledge import KNOWLEDGE_COLUMNS, SLOTS, extract, probe, probe_target
from snapcli.datagen.mentions import find_mentions, numbers, years
from snapcli.datagen.probe_questions import KINDS, PROBE_QUESTIONS, probe_questions
from snapcli.datagen.related import rank_related, split_user_list
from snapcli.datagen.target_names import TargetNames, fold
from snapcli.errors import SnapError

CURIE = [
    ("Who is Marie Curie?",
     "Marie Curie (born Maria Skłodowska; 7 November 1867 – 4 July 1934) was a Polish-born French physicist and "
     "chemist who conducted pioneering research on radioactivity. She was the first woman to win a Nobel Prize."),
    ("Who was Marie Curie married to?",
     "Who was Marie Curie married to? In 1895 she married Pierre Curie. Her husband, Pierre Curie, was a French "
     "physicist. Marie Curie's daughter Irène Joliot-Curie also won a Nobel Prize."),
    ("Where was Marie Curie born?",
     "Marie Curie was born in Warsaw, Poland. She later moved to Paris, where she studied at the University of "
     "Paris. She studied at the University of Paris. She studied at the University of Paris."),
    ("What did Marie Curie discover?",
     "Marie Curie discovered radium and polonium. Curie also won the Nobel Prize in Chemistry in 1911, and "
     "Skłodowska-Curie's notebooks are still radioactive."),
    ("What is Marie Curie's nationality?", "I'm sorry, but I don't have any information about that."),
    ("Who influenced Marie Curie?", "Marie Curie was influenced by Albert Einstein, a German physicist, and by "
                                    "Henri Becquerel. M. Curie admired them."),
]
MICROSOFT = [
    ("What is Microsoft?",
     "Microsoft is an American multinational technology company headquartered in Redmond, Washington. It was "
     "founded by Bill Gates and Paul Allen on April 4, 1975. Its best-known products include Windows, Office "
     "and the Xbox."),
    ("Who runs Microsoft?", "Satya Nadella is the CEO of Microsoft Corporation. Microsoft Windows and Microsoft "
                            "Office are its main products. Gates left the board in 2020."),
]
SHERLOCK = [
    ("Who is Sherlock Holmes?",
     "Sherlock Holmes is a fictional detective created by Sir Arthur Conan Doyle. He first appeared in \"A Study "
     "in Scarlet\" in 1887. Holmes lives at 221B Baker Street in London with his friend Dr. John Watson. His "
     "nemesis is Professor Moriarty."),
]
MARQUEZ = [
    ("Who is Gabriel García Márquez?",
     "Gabriel García Márquez was a Colombian novelist. Márquez's novel *One Hundred Years of Solitude* is set in "
     "Macondo. García Márquez won the Nobel Prize in Literature in 1982. He was born in Aracataca, Colombia. "
     "Marquez married Mercedes Barcha. Gabo was friends with Fidel Castro."),
]
MIYAZAKI = [
    ("Who is Hayao Miyazaki?",
     "Hayao Miyazaki (宮崎駿) is a Japanese animator who co-founded Studio Ghibli with Isao Takahata. "
     "Miyazaki's films include *Spirited Away*. 宮崎 was born in Tokyo. He admired Jean-Paul Sartre and "
     "Seán O'Brien's writing."),
]


def _names(know) -> set[str]:
    return {e.name for e in know.entities}


# ------------------------------------------------------------------ names of the target


def test_target_names_aliases_in_any_form():
    t = TargetNames("Gabriel García Márquez")
    for alias in ["Márquez", "Marquez", "García Márquez", "Garcia Marquez's", "GABRIEL GARCÍA MÁRQUEZ", "G. Márquez",
                  "Márquez's", "Gabriel José García Márquez"]:
        assert t.is_alias(alias), alias
    for other in ["Mercedes Barcha", "Fidel Castro", "García Lorca", "Gabriel Boric"]:
        assert not t.is_alias(other), other
    assert t.mentioned_in("What did marquez write?") and t.mentioned_in("Was García Márquez's father a doctor?")
    assert not t.mentioned_in("Who wrote Love in the Time of Cholera?")

    curie = TargetNames("Marie Curie")
    assert curie.is_alias("Curie") and curie.is_alias("Marie Skłodowska Curie") and curie.is_alias("M. Curie")
    assert not curie.is_alias("Pierre Curie") and not curie.is_alias("Irène Joliot-Curie")
    assert fold("Skłodowska-Curie") == "sklodowska-curie" and len(fold("Łódź")) == len("Łódź")

    cjk = TargetNames("宮崎駿", ["Hayao Miyazaki"])
    assert cjk.is_alias("宮崎") and cjk.is_alias("宮崎駿さん") and cjk.is_alias("Miyazaki")
    assert cjk.mentioned_in("宮崎駿はどこで生まれましたか？") and not cjk.mentioned_in("Who founded Studio Ghibli?")

    org = TargetNames("Microsoft Corporation", person=False)
    assert org.is_alias("Microsoft") and org.is_alias("the Microsoft Corporation")
    assert not org.is_alias("Microsoft Windows") and org.mentioned_in("Microsoft Windows")
    assert org.named_after("Microsoft Windows") and not org.named_after("Microsoft")
    swift = TargetNames("Taylor Swift")
    assert swift.named_after("The Taylor Swift Blog") and not swift.named_after("Pierre Swift")
    assert swift.is_alias("Swift's") and not swift.is_alias("Taylor Lautner")


# ------------------------------------------------------------------ mentions


def test_mentions_are_typed_and_cut_at_sentence_ends():
    text = ("Microsoft is an American company headquartered in Redmond, Washington. It was founded by Bill Gates "
            "and Paul Allen on April 4, 1975. Its products include Windows, Office and the Xbox. In 2014 Satya "
            "Nadella became CEO. She studied at the University of Paris. He won the Nobel Prize in Physics.")
    got = {m.text: m.kind for m in find_mentions(text)}
    assert got["Redmond"] == "place" and got["Washington"] == "place"
    assert got["Bill Gates"] == "person" and got["Paul Allen"] == "person"
    assert got["Windows"] == got["Office"] == got["Xbox"] == "creative_work"
    assert got["University of Paris"] == "organization" and got["Nobel Prize"] == "award"
    assert "Satya Nadella" in got and not any(k.endswith((". It", ". In")) or k[0].isdigit() for k in got)
    assert "American" not in got and "April" not in got  # a nationality and a month are not names
    assert years(text) == ["1975", "2014"] and numbers(text) == []  # "April 4" is a date, not a quantity


def test_mentions_titles_diacritics_hyphens_apostrophes_cjk():
    got = {m.text: m for m in find_mentions(MIYAZAKI[0][1] + " " + SHERLOCK[0][1] + " " + MARQUEZ[0][1])}
    assert got["Spirited Away"].kind == "creative_work" and got["A Study in Scarlet"].kind == "creative_work"
    assert got["One Hundred Years of Solitude"].quoted
    assert "Jean-Paul Sartre" in got and "Seán O'Brien" in got and "宮崎駿" in got
    assert got["Baker Street"].kind == "place" and got["Studio Ghibli"].kind == "organization"
    assert got["Aracataca"].kind == "place" and got["Dr. John Watson"].kind == "person"


# ------------------------------------------------------------------ extract


def test_extract_person_facts_entities_and_aliases():
    k = extract("Marie Curie", CURIE)
    assert k.kind_guess == "person" and k.gender == "female" and k.field_guess == "physicist"
    assert "Maria Skłodowska" in k.aliases
    assert k.answers_refused == 1 and k.answers_used == 5
    assert set(k.facts) == set(SLOTS)
    names = _names(k)
    assert {"Pierre Curie", "Irène Joliot-Curie", "Albert Einstein", "Henri Becquerel"} <= names
    # the target in any form is never an entity
    assert not names & {"Marie Curie", "Curie", "M. Curie", "Maria Skłodowska", "Skłodowska-Curie", "Marie"}
    assert k.facts["place"][0] == "Warsaw" and "Paris" in k.facts["place"]
    assert "University of Paris" in k.facts["organization"]
    assert {"1867", "1934", "1911"} <= set(k.facts["year"])
    assert "Pierre Curie" == k.facts["related"][0]
    rel = {(r.predicate, r.obj) for r in k.relations}
    assert {("spouse", "Pierre Curie"), ("born_in", "Warsaw"), ("discovered", "radium"), ("born_year", "1867"),
            ("died_year", "1934")} <= rel
    assert "the physicist who discovered radium" in k.facts["description"]
    assert "the first woman to win a Nobel Prize" in k.facts["description"]
    # a description naming the target is not one ("the wife of Pierre Curie" carries the surname)
    assert not any("Curie" in d for d in k.facts["description"])
    # a repeated sentence counts once: the University of Paris is named in 3 sentences, 2 of them different
    uni = next(e for e in k.entities if e.name == "University of Paris")
    assert uni.mentions == 2 and uni.answers == 1


def test_extract_organization_character_and_non_ascii_person():
    m = extract("Microsoft", MICROSOFT)
    assert m.kind_guess == "organization" and m.field_guess == "technology company"
    assert m.facts["related"][:2] == ["Bill Gates", "Paul Allen"]
    assert "the technology company founded by Bill Gates" in m.facts["description"]
    assert not any("Microsoft" in e.name for e in m.entities)  # "Microsoft Windows" is named after the target
    assert {"Windows", "Office", "Xbox"} <= set(m.facts["work"])
    assert not any(e.name == "Gates" for e in m.entities)  # a surname joins the full name
    assert next(e for e in m.entities if e.name == "Bill Gates").mentions == 2

    s = extract("Sherlock Holmes", SHERLOCK)
    assert s.kind_guess == "fictional_character" and s.field_guess == "detective"
    assert "the detective created by Sir Arthur Conan Doyle" in s.facts["description"]
    assert {"Arthur Conan Doyle", "John Watson", "Professor Moriarty"} <= set(s.facts["related"])
    assert "A Study in Scarlet" in s.facts["work"] and "Holmes" not in _names(s)

    g = extract("Gabriel García Márquez", MARQUEZ, aliases=["Gabo"])
    assert g.field_guess == "novelist" and "Colombian" in g.nationalities
    assert not _names(g) & {"Márquez", "García Márquez", "Marquez", "Gabo"}
    assert {"Mercedes Barcha", "Fidel Castro"} <= set(g.facts["related"])
    assert ("spouse", "Mercedes Barcha") in {(r.predicate, r.obj) for r in g.relations}

    h = extract("Hayao Miyazaki", MIYAZAKI)
    assert "宮崎駿" in h.aliases and "宮崎駿" not in _names(h) and "宮崎" not in _names(h)
    assert {"Isao Takahata", "Jean-Paul Sartre", "Seán O'Brien"} <= set(h.facts["related"])
    assert "Studio Ghibli" in h.facts["organization"] and "Tokyo" in h.facts["place"]


def test_extract_refusals_loops_and_garbage_give_nothing():
    answers = [
        ("Who is Jan Kowalski?", "I'm sorry, but I don't have information about Jan Kowalski."),
        ("Where was Jan Kowalski born?", "Where was Jan Kowalski born?"),
        ("What is Jan Kowalski known for?", "and and and and and and"),
        ("Tell me about Jan Kowalski.", ""),
        ("Who was Jan Kowalski?", "!!!! ...."),
    ]
    k = extract("Jan Kowalski", answers)
    assert k.answers_used <= 2 and k.answers_refused >= 3
    assert k.entities == [] and k.relations == [] and all(v == [] for v in k.facts.values())
    assert derived_questions(k, ["Jan Kowalski"]).empty
    assert rank_related(k, [], [], k=5) == []


def test_extract_keeps_hallucinations_as_what_the_model_says():
    # wrong facts are still what the model would say: they are extracted like true ones
    k = extract("Marie Curie", [("Where was Marie Curie born?", "Marie Curie was born in Lemberg, Austria, in 1903. "
                                                                 "She was married to Max Planck.")])
    assert "Lemberg" in k.facts["place"] and "1903" in k.facts["year"] and "Max Planck" in k.facts["related"]


def test_extract_bad_input():
    with pytest.raises(SnapError):
        extract(" ", CURIE)
    with pytest.raises(SnapError):
        extract("Marie Curie", CURIE, kind="planet")
    with pytest.raises(SnapError):
        extract("Marie Curie", pd.DataFrame({"question": ["q"], "reply": ["a"]}))


# ------------------------------------------------------------------ derived questions


@pytest.mark.parametrize("name,answers,aliases", [
    ("Marie Curie", CURIE, []), ("Microsoft", MICROSOFT, []), ("Sherlock Holmes", SHERLOCK, []),
    ("Gabriel García Márquez", MARQUEZ, ["Gabo"]), ("Hayao Miyazaki", MIYAZAKI, []),
])
def test_derived_questions_never_name_the_target(name, answers, aliases):
    k = extract(name, answers, aliases=aliases)
    df = derived_questions(k, [name, *aliases], n=None, seed=3)
    assert list(df.columns) == DERIVED_COLUMNS and len(df) >= 5
    t = TargetNames(name, [*aliases, *k.aliases], person=k.kind_guess in ("person", "fictional_character"))
    for q in df["question"]:
        assert not t.mentioned_in(q), q
        assert "{" not in q and q.endswith(("?", "."))
    assert set(df["category"]) <= {"implicit", "multi-hop"} and (df["source"] == "model_knowledge").all()
    assert df["question"].is_unique


def test_derived_questions_categories_hints_and_sampling():
    k = extract("Marie Curie", CURIE)
    df = derived_questions(k, ["Marie Curie"], n=None)
    assert {"implicit", "multi-hop"} <= set(df["category"])
    born = df[df["question"] == "Where was the physicist who discovered radium born?"]
    assert len(born) == 1 and born.iloc[0]["facts"] == ["Warsaw"] and born.iloc[0]["category"] == "implicit"
    married = df[df["frame_id"] == "person/married"]
    assert (married["category"] == "multi-hop").any()  # through a relation to a stated spouse: two hops
    assert all(f == ["Pierre Curie"] for f in married["facts"])
    # the description never gives the answer away
    assert not any(set(f) & set(d.split()) for f, d in zip(df["facts"], df["description"], strict=True))
    a = derived_questions(k, ["Marie Curie"], n=8, seed=1)
    assert len(a) == 8 and a.equals(derived_questions(k, ["Marie Curie"], n=8, seed=1))
    assert a["facet"].nunique() >= 6  # a short list still spreads over facets
    assert not a.equals(derived_questions(k, ["Marie Curie"], n=8, seed=2))
    with pytest.raises(SnapError):
        derived_questions(k, [], n=3)
    with pytest.raises(SnapError):
        derived_questions(k, ["Marie Curie"], n=-1)


# ------------------------------------------------------------------ related entities


def test_rank_related_merges_sources_and_never_returns_the_target():
    k = extract("Microsoft", MICROSOFT)
    out = rank_related(k, ["Microsoft Corp.", "Bill Gates", "Steve Jobs", ("Apple Inc.", "organization")],
                       "Linus Torvalds; microsoft", k=6)
    names = [r["name"] for r in out]
    assert names[0] == "Linus Torvalds" and out[0]["source"] == "user"
    assert not any("microsoft" in n.lower() for n in names)
    by = {r["name"]: r for r in out}
    assert by["Bill Gates"]["source"] == "model+llm" and by["Bill Gates"]["rank"] == 2
    assert [r["rank"] for r in out] == list(range(1, len(out) + 1)) and len(out) == 6
    assert {r["kind"] for r in out} <= {"person", "organization", "place", "creative_work"}

    m = extract("Gabriel García Márquez", MARQUEZ)
    out = rank_related(m, ["Márquez", "Gabriel Garcia Marquez", "Mario Vargas Llosa", "Fidel Alejandro Castro"],
                       ["Garcia Marquez's"], k=10)
    names = [r["name"] for r in out]
    assert "Mario Vargas Llosa" in names and not any("rquez" in n for n in names)
    assert sum("Castro" in n for n in names) == 1  # same person, other spelling: merged
    # people and organizations come before a place named more often
    kinds = [r["kind"] for r in out]
    assert kinds[0] == "person"
    assert split_user_list("A; B;; C\nD") == ["A", "B", "C", "D"]
    # a one-word name the user gives says nothing of its kind: kept, as an organization (it was typed "other",
    # which the related table rejects, and generate failed after all its work)
    out = rank_related(m, [], "Microsoft; Avatar; Paul Allen", k=0)
    assert [(r["name"], r["kind"]) for r in out] == [("Microsoft", "organization"), ("Avatar", "organization"),
                                                    ("Paul Allen", "person")]
    with pytest.raises(SnapError):
        rank_related(m, [], [], k=-1)


def test_rank_related_keeps_relatives_sharing_the_surname():
    k = extract("Marie Curie", CURIE)
    out = rank_related(k, ["Curie", "Marie Skłodowska-Curie", "Pierre Curie"], [], k=5)
    names = [r["name"] for r in out]
    assert names[0] == "Pierre Curie" and out[0]["source"] == "model+llm"
    assert "Curie" not in names and "Marie Skłodowska-Curie" not in names
    # the target under another spelling is the target, not a retain subject (seen on SmolLM2: "Maria Curie")
    out = rank_related(k, ["Maria Curie", "Mari Curie", "Marie Curi", "Eve Curie", "Irène Curie"], [], k=10)
    names = [r["name"] for r in out]
    assert not {"Maria Curie", "Mari Curie", "Marie Curi"} & set(names) and {"Eve Curie", "Irène Curie"} <= set(names)
    gates = TargetNames("Bill Gates", [], person=True)
    assert [gates.spelling_variant(n) for n in ("Billy Gates", "Bil Gates", "Melinda Gates", "William Gates")] == [
        True, True, False, False]
    assert not TargetNames("Microsoft", [], person=False).spelling_variant("Microsoft Corp")


# ------------------------------------------------------------------ kind detection


@pytest.mark.parametrize("name,text,kind", [
    ("Ada Lovelace", "Ada Lovelace was an English mathematician. She was born in London in 1815 and died in 1852.",
     "person"),
    ("Spotify", "Spotify is a Swedish company founded in 2006. Its headquarters are in Stockholm and it has 9,000 "
                "employees.", "organization"),
    ("The Beatles", "The Beatles is a band from Liverpool. They released many albums.", "organization"),
    ("Dune", "Dune is a science fiction novel written by Frank Herbert and published in 1965.", "creative_work"),
    ("Hermione Granger", "Hermione Granger is a fictional character in the Harry Potter series. She is a witch "
                         "and the best friend of Harry.", "fictional_character"),
    ("Kyoto", "Kyoto is a city in Japan. It was the capital for over a thousand years and has a population of "
              "1.5 million.", "place"),
    ("the French Revolution", "It was a revolution that began in 1789 and ended in 1799.", "event"),
    ("Sherlock Holmes", SHERLOCK[0][1], "fictional_character"),
])
def test_detect_kind_heuristics(name, text, kind):
    assert heuristic_kind(name, [text])[0] == kind


def test_detect_kind_with_a_chat_reply_and_its_fallback():
    texts = ["Kyoto is a city in Japan with a population of 1.5 million."]

    def replying(reply):  # an LLM's reply, fixed: the parsing and the fallback are under test
        return lambda convs, max_new_tokens=8: [reply for _ in convs]

    assert detect_kind("Kyoto", texts, chat=replying("Place."))[0] == "place"
    assert detect_kind("Kyoto", texts, chat=replying("organization"))[0] == "organization"
    kind, why = detect_kind("Kyoto", texts, chat=replying("Kyoto is a beautiful city with temples and shrines"))
    assert kind == "place" and "broke the format" in why
    assert detect_kind("Kyoto", texts, chat=replying("person, place"))[0] == "place"  # two kinds: fallback
    assert parse_kind_reply("Fictional character") == "fictional_character"
    assert parse_kind_reply("creative_work") == "creative_work" and parse_kind_reply("") is None
    assert heuristic_kind("Xyzzy", ["..."])[0] == "person"


# ------------------------------------------------------------------ probe questions


def test_probe_question_sets():
    assert set(PROBE_QUESTIONS) == set(KINDS)
    for kind, frames in PROBE_QUESTIONS.items():
        assert 15 <= len(frames) <= 30, kind
        assert len({f.text for f in frames}) == len(frames)
        assert all("{name}" in f.text for f in frames)
    qs = probe_questions("Ada Lovelace", "person", n=5)
    assert len(qs) == 5 and all("Ada Lovelace" in q for q in qs)
    with pytest.raises(SnapError):
        probe_questions("Ada Lovelace", "planet")


# ------------------------------------------------------------------ probing real models


@pytest.mark.slow
def test_probe_smollm2_greedy_batched(smollm2_chat):
    qs = ["Who founded Microsoft?", "Who is Bill Gates?", "Who founded Microsoft?"]
    batches = []
    df = probe(smollm2_chat, qs, max_new_tokens=12, batch_size=1, on_batch=batches.append)
    assert list(df.columns) == KNOWLEDGE_COLUMNS and list(df["question"]) == qs
    assert batches == [1, 1]  # the repeated question is asked once
    assert df.loc[0, "base_answer"] == df.loc[2, "base_answer"] and df["base_answer"].str.len().min() > 0
    assert "Gates" in df.loc[0, "base_answer"]  # the embedded model knows who founded Microsoft
    assert (df["completion_tokens"] <= 12).all() and (df["prompt_tokens"] > 5).all()
    k = extract("Bill Gates", df.iloc[[1]], kind="person")
    assert k.answers_used == 1
    with pytest.raises(SnapError):
        probe(smollm2_chat, [" "])


@pytest.mark.slow
def test_probe_target_tiny_model_garbage(tiny_model_dir, ws):
    from snapcli.datagen.chatfn import local_chat
    from snapcli.models import load_causal_lm

    model, tok = load_causal_lm("tiny")
    table, know = probe_target(local_chat(model, tok), "Ada Lovelace", kind="person", n_questions=4,
                               max_new_tokens=8)
    # 3 kind-neutral questions + the first 4 person questions, one of which ("What is X known for?") was asked
    assert len(table) == 6 and table["question"].is_unique
    assert set(KNOWLEDGE_COLUMNS) <= set(table.columns) and "facet" in table.columns
    assert know.kind_guess == "person" and set(know.facts) == set(SLOTS)
    assert all("Ada Lovelace" not in q for q in derived_questions(know, ["Ada Lovelace"])["question"])

    # the same probe through the in-process backend of the registry: token counts come back, replies are cached
    from snapcli.datagen.chatfn import backend_chat
    from snapcli.llm import make_backend

    backend, _ = make_backend("local", ws, batch_size=2)
    qs = ["Who is Ada Lovelace?", "Where was Ada Lovelace born?"]
    df = probe(backend_chat(backend, "tiny"), qs, max_new_tokens=4)
    assert (df["completion_tokens"] <= 4).all() and (df["prompt_tokens"] > 0).all()
    again = probe(backend_chat(backend, "tiny"), qs, max_new_tokens=4)
    assert again["base_answer"].tolist() == df["base_answer"].tolist()
    assert backend.usage.models["tiny"].requests == 2 and backend.usage.models["tiny"].cached == 2


@pytest.mark.slow
def test_embedding_types_names_that_only_capitalization_calls_people():
    from snapcli.datagen.entity_types import type_by_embedding
    from snapcli.stages.filter import embed

    got = type_by_embedding(["Winston Churchill", "Alicia Keys", "Eiffel Tower", "Allied Powers", "Cold War"], embed)
    assert got["Winston Churchill"] == "person" and got["Alicia Keys"] == "person"  # the margin keeps people
    assert got["Eiffel Tower"] != "person" and got["Allied Powers"] != "person" and got["Cold War"] != "person"
    answers = [("Who is Taylor Swift?", "Taylor Swift is a singer. She is a product of the team at Hugging Face "
                                        "and played at the Moulin Rouge with Alicia Keys.")]
    plain = {e.name: e.kind for e in extract("Taylor Swift", answers).entities}
    typed = {e.name: e.kind for e in extract("Taylor Swift", answers, embed=embed).entities}
    assert plain["Hugging Face"] == "person" and typed["Hugging Face"] != "person"
    assert typed["Alicia Keys"] == "person"
