"""Unnamed forget questions are kept only when the model resolves them to the target (snapcli.datagen.resolve)."""

from __future__ import annotations

import pytest

from snapcli.datagen.refusals import refusal
from snapcli.datagen.resolve import (
    check_descriptions,
    check_questions,
    contrast_names,
    description_question,
    resolve,
)


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


def _scoring(table: dict[tuple[str, str], float]):
    """A scorer whose reply log-likelihoods are written out (default -20): the selection logic is under test."""
    def scorer(messages, replies):
        return [table.get((messages[-1]["content"], r), -20.0) for r in replies]

    return scorer


def test_likelihood_keeps_a_description_only_when_the_target_outscores_every_contrast_name():
    chat = _answering({"Who is the founder of Microsoft?": "That is Bill Gates."})
    scorer = _scoring({
        ("Who is the Polish-French chemist?", "Marie Curie"): -6.0,
        ("Who is the Polish-French chemist?", "Albert Einstein"): -7.5,
        ("Who is the Hungarian-American physicist?", "Marie Curie"): -9.0,
        ("Who is the Hungarian-American physicist?", "Albert Einstein"): -6.0,
        ("Who is the first woman to win the Nobel Prize?", "Madame Curie"): -5.0,  # an alias counts
        ("Who is the first woman to win the Nobel Prize?", "Marie Curie"): -30.0,
        ("Who is the first woman to win the Nobel Prize?", "Lise Meitner"): -8.0,
    })
    descs = ["a Polish-French chemist", "the Hungarian-American physicist", "the first woman to win the Nobel Prize"]
    kept, checks = check_descriptions(chat, descs, ["Marie Curie", "Madame Curie"], "person", scorer=scorer,
                                      contrast=["Albert Einstein", "Lise Meitner", "marie curie"])
    assert kept == ["a Polish-French chemist", "the first woman to win the Nobel Prize"]
    assert [c.by for c in checks] == ["likelihood"] * 3
    assert checks[0].margin == pytest.approx(1.5) and checks[0].rival == "Albert Einstein"
    assert checks[1].margin == pytest.approx(-3.0) and not checks[1].resolved
    assert checks[2].margin == pytest.approx(3.0) and checks[2].rival == "Lise Meitner"
    assert checks[0].to_dict()["by"] == "likelihood"
    # an answer that names the target decides without scoring; no contrast: the answer alone decides
    kept, checks = check_descriptions(chat, ["the founder of Microsoft", "a Polish-French chemist"], ["Bill Gates"],
                                      "person", scorer=scorer, contrast=[])
    assert kept == ["the founder of Microsoft"] and [c.by for c in checks] == ["answer", "answer"]
    assert checks[0].margin is None


def test_contrast_names_are_the_mentioned_people_then_the_field_never_the_target():
    out = contrast_names("person", "scientists", ["Marie Curie", "Maria Skłodowska"],
                         ["Pierre Curie", "Curie", "Max Planck", "Max Planck"])
    assert out[:2] == ["Pierre Curie", "Max Planck"]
    assert "Albert Einstein" in out and "Marie Curie" not in out and "Curie" not in out
    assert out.count("Max Planck") == 1 and len(out) == len(set(out))
    spread = contrast_names("person", None, ["Marie Curie"], n=12)
    assert len(spread) == 12 and "Marie Curie" not in spread


def test_reply_logprobs_match_a_full_forward_pass(tiny_model_dir):
    import torch

    from snapcli.models import load_causal_lm
    from snapcli.models.generation import render_chat
    from snapcli.models.scoring import reply_logprobs

    model, tok = load_causal_lm(str(tiny_model_dir))
    msgs = [{"role": "user", "content": "Who is the first woman to win the Nobel Prize in Chemistry?"}]
    cands = ["Marie Curie", "Albert Einstein", "Dorothy Crowfoot Hodgkin", "X", ""]
    got = reply_logprobs(model, tok, msgs, cands, batch_size=2)  # three batches on copies of one prompt cache
    prompt = render_chat(tok, msgs)
    n = len(tok(prompt, add_special_tokens=False)["input_ids"])
    want = []
    with torch.no_grad():
        for c in cands:
            ids = tok(prompt + c, add_special_tokens=False)["input_ids"]
            lp = model(torch.tensor([ids])).logits[0].float().log_softmax(-1)
            want.append(float(sum(lp[k - 1, ids[k]] for k in range(n, len(ids)))))
    assert got == pytest.approx(want, abs=1e-3)
    assert got[-1] == 0.0 and reply_logprobs(model, tok, msgs, []) == []
    with pytest.raises(ValueError):
        reply_logprobs(model, tok, msgs, cands, batch_size=0)


@pytest.mark.slow
def test_embedded_model_prefers_marie_curie_for_its_own_true_description(smollm2_chat, smollm2_lm):
    # SmolLM2-135M answers "Who is the first woman to win the Nobel Prize in Chemistry?" with an invented name, yet
    # ranks "Marie Curie" first among the scientists (measured +1.9 nats); for the wrong "Hungarian-American
    # physicist" it ranks Albert Einstein first (-3.3): issue 11
    from snapcli.models.scoring import reply_logprobs

    model, tok = smollm2_lm
    descs = ["the first woman to win the Nobel Prize in Chemistry", "a Hungarian-American physicist"]
    kept, checks = check_descriptions(smollm2_chat, descs, ["Marie Curie"], "person",
                                      scorer=lambda m, r: reply_logprobs(model, tok, m, r),
                                      contrast=contrast_names("person", "scientists", ["Marie Curie"]))
    assert kept == ["the first woman to win the Nobel Prize in Chemistry"]
    assert checks[0].by == "likelihood" and checks[0].margin > 0.5
    assert checks[1].rival == "Albert Einstein" and checks[1].margin < -1
