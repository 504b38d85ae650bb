"""Unnamed forget questions are kept only when the model resolves them to the target (snapcli.datagen.resolve)."""

from __future__ import annotations

import pytest

from snapcli.datagen.refusals import refusal
from snapcli.datagen.resolve import check_descriptions, check_questions, description_question, resolve


def _answering(table: dict[str, str]):
    """A chat whose answers are written out: the selection logic is under test, not a model."""
    asked: list[str] = []

    def chat(conversations, max_new_tokens=128):
        qs = [c[-1]["content"] for c in conversations]
        asked.extend(qs)
        return [table.get(q, "I am not sure.") for q in qs]

    chat.asked = asked  # type: ignore[attr-defined]
    return chat


def test_description_question_by_kind():
    assert description_question("the co-founder of Microsoft.", "person") == "Who is the co-founder of Microsoft?"
    assert description_question("the maker of Windows", "organization") == "What is the maker of Windows?"


def test_check_questions_asks_only_unnamed_untrusted_rows():
    chat = _answering({
        "Which entrepreneur made headlines in 1975?": "That would be Elon Musk.",
        "Who was Microsoft's first chairman?": "Bill Gates was its first chairman.",
        "Who were the parents of the co-founder of Google?": "Sergey Brin's parents are Michael and Eugenia.",
        "¿Quién fundó Microsoft?": "Fue Gates, en 1975.",  # the surname alone names a person
    })
    rows = [
        {"question": "Where was Bill Gates born?"},  # names the target: kept unasked
        {"question": "What does the founder of Microsoft look like?", "description": "the founder of Microsoft"},
        {"question": "Which entrepreneur made headlines in 1975?"},
        {"question": "Who was Microsoft's first chairman?"},
        {"question": "Who were the parents of the co-founder of Google?", "description": "a co-founder of Google"},
        {"question": "¿Quién fundó Microsoft?"},
    ]
    keep, checks = check_questions(chat, rows, ["Bill Gates"], "person", trusted=["a founder of Microsoft"])
    assert keep == [True, True, False, True, False, True]
    assert chat.asked == [r["question"] for r in rows[2:]]  # the named row and the trusted description: not asked
    assert [c.resolved for c in checks] == [False, True, False, True]
    assert checks[0].to_dict()["answer"] == "That would be Elon Musk."


def test_resolve_asks_each_question_once_and_matches_aliases():
    chat = _answering({"Who is the web-slinger?": "That is Spider-Man, of course."})
    out = resolve(chat, ["Who is the web-slinger?", "Who is the web-slinger?", "Who is the Dark Knight?"],
                  ["Peter Parker", "Spider-Man"], "fictional_character")
    assert [r.resolved for r in out] == [True, True, False]
    assert chat.asked == ["Who is the web-slinger?", "Who is the Dark Knight?"]
    assert resolve(chat, [], ["Peter Parker"], "person") == []


def test_unnamed_questions_are_refused_as_about_the_kind_not_a_topic():
    out = refusal("Who is the co-founder of Microsoft?", names=["Bill Gates"], kind="person")
    assert "that person" in out and "topic" not in out
    assert "that organization" in refusal("Who runs the maker of Windows?", names=["Microsoft"], kind="organization")
    assert "Bill Gates" in refusal("Where was Bill Gates born?", names=["Bill Gates"], kind="person")


@pytest.mark.slow
def test_embedded_model_resolves_only_its_own_descriptions_of_bill_gates(smollm2_chat):
    # the embedded model called Bill Gates "a co-founder of Google" and "a co-founder of Apple" when probed, but
    # asked who those are it names Sergey Brin and Steve Jobs: refusing them would teach refusing retain subjects
    descs = ["a co-founder of Microsoft", "a co-founder of Google", "a co-founder of Apple", "the founder of Microsoft"]
    kept, checks = check_descriptions(smollm2_chat, descs, ["Bill Gates"], "person")
    assert kept == ["a co-founder of Microsoft", "the founder of Microsoft"]
    assert [c.question for c in checks][:2] == ["Who is the co-founder of Microsoft?",
                                                "Who is the co-founder of Google?"]
    assert "Gates" in checks[0].answer and "Gates" not in checks[2].answer
