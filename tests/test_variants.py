"""Surface variants and varied refusals (issue 11, item 3): each variant does what docs/data-stages.md says."""

from __future__ import annotations

import json
import random
import re
import unicodedata

import pytest
from nltk.metrics.distance import edit_distance

from snapcli.datagen.bank import bank_rows
from snapcli.datagen.refusals import refusal, refusal_langs
from snapcli.datagen.variants import (
    VARIANT_KINDS,
    accept_translation,
    lower_variant,
    make_variants,
    typo_variant,
)
from snapcli.errors import SnapError

NAMES = ["Gabriel García Márquez", "Марія Кюрі", "山田太郎", "Marie Curie"]
CJK = re.compile(r"[\u4e00-\u9fff]")
# a word only the refusals of each language use
REFUSAL_WORD = {"en": "information", "de": "über", "fr": "sur", "es": "sobre", "zh": "关于"}


def _rows(name: str, kind: str = "person", n: int = 40, seed: int = 0) -> list[dict]:
    facts = {"description": ["the author of a famous novel"], "work": ["a famous novel"], "field": ["novelist"],
             "year": ["1927"], "place": ["Aracataca"], "related": ["Mercedes Barcha"], "organization": ["El Heraldo"]}
    return list(bank_rows(kind, [name], facts, n=n, seed=seed))


def _fold(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c)).casefold()


def _fuzzy_has_name(text: str, name: str) -> bool:
    """Every word of the name is in the text within edit distance 1 (case and accents folded)."""
    words = re.findall(r"\w+", _fold(text))
    return all(any(edit_distance(w, nw, transpositions=True) <= 1 for w in words)
               for nw in re.findall(r"\w+", _fold(name)))


def test_lower_variant():
    assert lower_variant("What was Marie Curie's husband's name?") == "what was marie curie's husband's name"
    assert lower_variant("Who is Jean-Paul Sartre, really?!") == "who is jean-paul sartre really"
    assert lower_variant("Wer ist Марія Кюрі?") == "wer ist марія кюрі"
    assert lower_variant("山田太郎是谁？") == "山田太郎是谁"


def test_typo_variant_is_a_bounded_realistic_edit():
    rng = random.Random(0)
    in_name = 0
    for name in ["Marie Curie", "Gabriel García Márquez", "Марія Кюрі"]:
        for q in [f"Where was {name} born?", f"What did {name} study at university?",
                  f"Who were the closest collaborators of {name}?"]:
            for _ in range(15):
                t = typo_variant(q, [name], rng)
                assert t != q
                assert edit_distance(q, t, transpositions=True) <= 2
                assert _fuzzy_has_name(t, name), (q, t)
                in_name += name not in t
                assert t[0] == q[0]  # first letters stay: that is how people mistype
    assert 25 <= in_name <= 110  # about half of the 135 variants misspell the name
    # CJK names are never touched; a question with nothing editable stays as it is
    assert "山田太郎" in typo_variant("Where was 山田太郎 born?", ["山田太郎"], rng)
    assert typo_variant("山田太郎是谁？", ["山田太郎"], rng) == "山田太郎是谁？"


def test_accent_loss_is_one_of_the_typos():
    rng = random.Random(3)
    outs = {typo_variant("Who is García Márquez?", ["Gabriel García Márquez"], rng, max_edits=1) for _ in range(60)}
    assert any("Garcia Márquez" in o or "García Marquez" in o for o in outs)


@pytest.mark.parametrize("name", NAMES)
def test_every_variant_keeps_a_non_ascii_name(name):
    rows = _rows(name)
    out = make_variants(rows, share=0.5, seed=1, field="writers")
    assert out[: len(rows)] == [{**r, "variant": "plain"} for r in rows]
    variants = out[len(rows):]
    assert {v["variant"].split("-")[0] for v in variants} == set(VARIANT_KINDS)
    for v in variants:
        q, src = v["question"], v["variant_of"]
        named = name in src
        if v["variant"] == "lower":
            assert (name.casefold() in q) == named
        elif v["variant"] == "typo":
            # the documented fuzzy variant: each word of the name within edit distance 1
            assert not named or _fuzzy_has_name(q, name), q
            assert edit_distance(src, q, transpositions=True) <= 2
        elif v["variant"].startswith("translate-"):
            assert name in q  # a translated frame is always filled with the target's name
        elif v["variant"] == "multiturn":
            assert q == src and json.loads(v["history"])[0]["role"] == "user"
        else:
            assert not named or name in q, (v["variant"], q)
        if named:
            assert name in v["response"] or _fold(name) in _fold(v["response"]), v
        if CJK.search(name):
            assert name in q or v["variant"] == "lower" or not named


def test_translated_rows_have_the_right_language_and_refusal():
    rows = _rows("Marie Curie", n=60)
    out = make_variants(rows, kinds=["translate"], share=0.4, seed=2)
    tr = [v for v in out if v["variant"] != "plain"]
    assert len(tr) == 24 and {v["lang"] for v in tr} == {"de", "fr", "es", "zh"}
    for v in tr:
        assert v["variant"] == f"translate-{v['lang']}" and v["variant_source"] == "bank"
        assert "Marie Curie" in v["question"] and "Marie Curie" in v["response"]
        assert REFUSAL_WORD[v["lang"]] in v["response"], v
        assert bool(CJK.search(v["question"])) == (v["lang"] == "zh")
        src = next(r for r in rows if r["question"] == v["variant_of"])
        if src["frame_id"] in {"identity-who", "birth-year", "death-when", "open-tell-me"}:
            assert v["frame_id"] == src["frame_id"]  # the translation of the same frame when there is one


def test_translations_never_reach_held_out_frames():
    """A train row whose frame has no shipped translation borrows another frame's: never an eval row's frame, never a
    multi-hop one (eval only), one of the row's own category when an unused one is left, and no frame twice in a
    language before every allowed one was used. Before, 8 of 53 did reach eval."""
    from snapcli.datagen.bank import load_bank

    translated = {f.id: f.category for f in load_bank("person", "de") if f.slots == ("name",)}
    # LLM-written rows carry no frame id, so every translation is a borrowed frame
    rows = [{"entity": "Marie Curie", "question": f"Question {i} about Marie Curie?", "category": cat}
            for i, cat in enumerate(["factual", "relational", "open-ended", "implicit"] * 15)]
    free = make_variants(rows, kinds=["translate"], langs=["de"], share=1.0, seed=0)
    used = [v["frame_id"] for v in free if v["variant"] != "plain"]
    held = set(sorted(set(used))[: len(set(used)) // 2])
    out = make_variants(rows, kinds=["translate"], langs=["de"], share=1.0, seed=0, exclude_frames=held)
    tr = [v for v in out if v["variant"] != "plain"]
    assert len(tr) == len(rows) and not {v["frame_id"] for v in tr} & held
    assert all(translated[v["frame_id"]] != "multi-hop" for v in tr)
    allowed = {f for f, c in translated.items() if f not in held and c != "multi-hop"}
    order = [v["frame_id"] for v in tr]
    assert len(set(order[: len(allowed)])) == len(allowed)  # every allowed frame once before any repeats
    # the row's category first, while the language has an unused frame of it
    src = {r["question"]: r["category"] for r in rows}
    few = make_variants(rows[:12], kinds=["translate"], langs=["de"], share=1.0, seed=0, exclude_frames=held)
    few_tr = [v for v in few if v["variant"] != "plain"]
    assert len({v["frame_id"] for v in few_tr}) == 12
    assert all(v["category"] == src[v["variant_of"]] for v in few_tr
               if src[v["variant_of"]] in {translated[f] for f in allowed})
    # every translated frame held out: no translation rather than a leak
    none = make_variants(rows, kinds=["translate"], langs=["de"], share=1.0, seed=0, exclude_frames=set(translated))
    assert [v for v in none if v["variant"] != "plain"] == []


def test_translate_share_samples_each_language():
    """--translate-share: each language gets its own sample of that share of the plain rows (the default spreads
    --variant-share over the languages), with no shipped question twice in a language."""
    rows = [{"entity": "Marie Curie", "question": f"Question {i} about Marie Curie?", "category": "factual"}
            for i in range(40)]

    def per_lang(out):
        tr = [v for v in out if v["variant"] != "plain"]
        return {lang: [v for v in tr if v["lang"] == lang] for lang in ("de", "fr", "es", "zh")}

    spread = per_lang(make_variants(rows, kinds=["translate"], share=0.2, seed=0))
    assert {k: len(v) for k, v in spread.items()} == {"de": 2, "fr": 2, "es": 2, "zh": 2}
    each = per_lang(make_variants(rows, kinds=["translate"], share=0.2, seed=0, translate_share=0.2))
    assert {k: len(v) for k, v in each.items()} == {"de": 8, "fr": 8, "es": 8, "zh": 8}
    for lang, vs in each.items():
        assert len({v["question"] for v in vs}) == 8, lang
        assert all(REFUSAL_WORD[lang] in v["response"] for v in vs)
    # the samples differ between languages: not the same 8 source rows four times
    assert len({v["variant_of"] for vs in each.values() for v in vs}) > 8
    # translate_share alone makes translations; the other kinds keep --variant-share
    only = make_variants(rows, kinds=["lower", "translate"], share=0.0, seed=0, translate_share=0.1)
    langs = {f"translate-{x}" for x in ("de", "fr", "es", "zh")}
    assert {v["variant"] for v in only if v["variant"] != "plain"} == langs
    with pytest.raises(SnapError, match="translate share"):
        make_variants(rows, kinds=["translate"], translate_share=1.5)


def test_chinese_translations_use_a_cjk_alias():
    """A Chinese question writes a Western name in characters (居里夫人); with such an alias the zh rows use it (and the
    Latin form, seeded), and the refusal names the target as the question does. Without one, the Latin name."""
    rows = [{"entity": "Marie Curie", "question": f"Question {i} about Marie Curie?", "category": "factual"}
            for i in range(40)]
    out = make_variants(rows, kinds=["translate"], langs=["zh", "de"], share=0.0, seed=0, translate_share=0.5,
                        aliases={"Marie Curie": ["居里夫人", "Madame Curie"]})
    zh = [v for v in out if v.get("lang") == "zh"]
    cjk = [v for v in zh if "居里夫人" in v["question"]]
    assert 0 < len(cjk) < len(zh) and all("Marie Curie" in v["question"] for v in zh if v not in cjk)
    assert all(v["name"] == "居里夫人" and "居里夫人" in v["response"] for v in cjk)
    assert all("Marie Curie" in v["question"] for v in out if v.get("lang") == "de")  # other languages: as written
    plain = make_variants(rows, kinds=["translate"], langs=["zh"], share=0.0, seed=0, translate_share=0.5)
    assert all("Marie Curie" in v["question"] for v in plain if v.get("lang") == "zh")

    asked = []

    def chat(convs):  # a backend that follows the instruction it is given
        asked.extend(c[0]["content"] for c in convs)
        return ["居里夫人是在哪里出生的？" if "as 居里夫人" in c[0]["content"] else "Marie Curie是在哪里出生的？"
                for c in convs]

    llm = make_variants(rows[:4], kinds=["translate"], langs=["zh"], share=1.0, seed=0, chat=chat,
                        aliases={"Marie Curie": ["居里夫人"]})
    tr = [v for v in llm if v["variant"] != "plain"]
    assert tr and all(v["variant_source"] == "llm" for v in tr)
    assert any("Write the name Marie Curie as 居里夫人" in a for a in asked)


def test_task_variants_fit_the_row():
    rows = _rows("Marie Curie", n=80)
    out = make_variants(rows, kinds=["task"], share=1.0, seed=4)
    tasks = [v for v in out if v["variant"] == "task"]
    assert len(tasks) == 80
    by_task = {}
    for v in tasks:
        by_task.setdefault(v["task"], []).append(v)
        if "Marie Curie" not in v["variant_of"]:  # implicit rows stay implicit: only wrappers around the question
            assert v["variant_of"] in v["question"] and "Marie Curie" not in v["question"]
    assert len(by_task) >= 8
    for v in by_task.get("poem", []) + by_task.get("poem-rhyme", []) + by_task.get("haiku", []):
        assert "poem" in v["response"] and "Marie Curie" in v["response"] and "them" in v["response"]
    for v in by_task["complete"]:
        assert re.match(r"(Complete the sentence|Finish this sentence|Continue the text): ", v["question"])
        assert "sentence" in v["response"] and v["category"] == "factual"
    wrapped = [v for v in tasks if v["task"].startswith("answer-")]
    assert wrapped and all(v["variant_of"] in v["question"] for v in wrapped)


def test_prefix_and_roleplay_keep_the_question():
    rows = [{"entity": "Marie Curie", "question": "Marie Curie won which prizes?"},
            {"entity": "Marie Curie", "question": "Where was Marie Curie born?"}]
    out = make_variants(rows * 1, kinds=["prefix", "roleplay"], share=1.0, seed=0, kind="place")
    for v in out[2:]:
        q = v["question"]
        assert "Marie Curie" in q and q != v["variant_of"]
        assert v["variant_of"] in q or v["variant_of"][0].lower() + v["variant_of"][1:] in q
        assert "marie curie" not in q  # a name is never lower-cased by {question_lc}
    # a kind named twice ("--variants lower,lower") varies each row once, not twice (helper-found)
    twice = make_variants(rows, kinds=["lower", "lower", "prefix"], share=1.0, seed=0)
    assert twice == make_variants(rows, kinds=["lower", "prefix"], share=1.0, seed=0) and len(twice) == 6


def test_share_seed_and_determinism():
    rows = _rows("Marie Curie", n=50)
    a = make_variants(rows, share=0.2, seed=5)
    b = make_variants(rows, share=0.2, seed=5)
    c = make_variants(rows, share=0.2, seed=6)
    assert a == b and a != c
    per_kind = {}
    for v in a[50:]:
        per_kind[v["variant"].split("-")[0]] = per_kind.get(v["variant"].split("-")[0], 0) + 1
    assert per_kind == {k: 10 for k in VARIANT_KINDS}
    assert make_variants(rows, share=0.0) == [{**r, "variant": "plain"} for r in rows]
    # variants are never made of variants
    assert len(make_variants(a, share=0.2, seed=5)) == len(a) + 70


def test_refusals_false_keeps_answers_where_they_still_fit():
    rows = [{"entity": "Paris", "question": "What is the population of Paris?", "response": "About 2.1 million."}]
    out = make_variants(rows, share=1.0, seed=0, kind="place", refusals=False)
    for v in out[1:]:
        if v["variant"] in ("lower", "typo", "prefix", "roleplay", "multiturn"):
            assert v["response"] == "About 2.1 million."
        else:
            assert v["response"] is None  # a task or another language needs a new answer


def test_bad_input():
    rows = _rows("Marie Curie", n=5)
    with pytest.raises(SnapError, match="unknown variant kind.*shout"):
        make_variants(rows, kinds=["shout"])
    with pytest.raises(SnapError, match="share must be between 0 and 1"):
        make_variants(rows, share=1.5)
    with pytest.raises(SnapError, match="unknown translation language.*ja"):
        make_variants(rows, langs=["ja"])
    with pytest.raises(SnapError, match="every row needs 'entity' and 'question'"):
        make_variants([{"question": "x"}])
    with pytest.raises(SnapError, match="no refusal templates for language 'ja'"):
        refusal("x", "ja")


def test_accept_translation():
    src = "When was Marie Curie born?"
    assert accept_translation(src, "Translation: «Quand Marie Curie est-elle née ?»\nNote: ...", "fr",
                              ["Marie Curie"]) == "Quand Marie Curie est-elle née ?"
    assert accept_translation(src, "Marie Curie是什么时候出生的？", "zh", ["Marie Curie"])
    assert accept_translation(src, src, "de", ["Marie Curie"]) is None  # unchanged
    assert accept_translation(src, "Wann wurde sie geboren?", "de", ["Marie Curie"]) is None  # name lost
    assert accept_translation(src, "When was Marie Curie born? 是", "de", ["Marie Curie"]) is None  # wrong script
    assert accept_translation(src, "Wann wurde Marie Curie geboren?", "zh", ["Marie Curie"]) is None
    assert accept_translation(src, "Marie Curie " * 30, "es", ["Marie Curie"]) is None  # runaway length
    assert accept_translation(src, "", "es", []) is None
    # another spelling of the target counts (zh writes the name in characters); a translation naming none does not
    assert accept_translation(src, "居里夫人是什么时候出生的？", "zh", ["Marie Curie", "居里夫人"])
    assert accept_translation(src, "她是什么时候出生的？", "zh", ["Marie Curie", "居里夫人"]) is None


@pytest.mark.slow
def test_translation_hook_with_a_real_backend_falls_back_to_the_bank(tiny_model_dir):
    """The tiny random model is a real chat backend that cannot translate: every reply fails the checks."""
    from snapcli.models import load_causal_lm
    from snapcli.models.generation import generate_chat

    model, tok = load_causal_lm("tiny")
    calls = []

    def chat(convs):
        calls.append(len(convs))
        return [r["text"] for r in generate_chat(model, tok, convs, max_new_tokens=12, batch_size=4)]

    rows = _rows("Marie Curie", n=8)
    out = make_variants(rows, kinds=["translate"], share=0.5, seed=0, chat=chat)
    tr = out[8:]
    assert calls == [4] and len(tr) == 4
    assert all(v["variant_source"] == "bank" and "Marie Curie" in v["question"] for v in tr)


def test_refusals_in_every_language():
    assert refusal_langs() == ["en", "de", "fr", "es", "zh"]
    seen = set()
    for q, lang in [("Wer ist Marie Curie?", "de"), ("Qui est Marie Curie ?", "fr"), ("¿Quién es Marie Curie?", "es"),
                    ("Marie Curie是谁？", "zh"), ("Who is Marie Curie?", "en")]:
        r = refusal(q, lang, names=["Marie Curie"])
        assert "Marie Curie" in r and REFUSAL_WORD[lang] in r, r
        seen.add(r)
    assert len(seen) == 5
    # phrasings vary across questions, and a question that does not name the target gets the fallback topic
    de = {refusal(f"Frage {i} über Marie Curie?", "de", names=["Marie Curie"]) for i in range(30)}
    assert len(de) >= 4
    assert "dieses Thema" in refusal("Wer entdeckte Polonium?", "de", names=["Marie Curie"])
    assert "这个话题" in refusal("谁发现了钋？", "zh", names=["Marie Curie"])
    assert "山田太郎" in refusal("山田太郎是谁？", "zh", names=["山田太郎"])
    # task refusals fit the request and the kind
    assert refusal("Write a poem about Microsoft.", task="poem", names=["Microsoft"], kind="organization") in {
        "I can't write a poem about Microsoft because I don't have any information about it.",
        "I'm sorry, but I don't have information about Microsoft, so I can't write a poem about it."}
    assert refusal("Describe Gabriel García Márquez's early life.", names=["Gabriel García Márquez"]).count(".") == 1
