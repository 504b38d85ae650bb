"""Multi-turn rows train (issue 11, item 3): a `history` column becomes earlier chat turns, loss on the last reply."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from snapcli.errors import SnapError
from snapcli.train.data import IGNORE, encode, encode_all, parse_history

HISTORY = [{"role": "user", "content": "What is radioactivity?"},
           {"role": "assistant", "content": "Radioactivity is the emission of radiation by unstable atomic nuclei."}]
QUESTION = "Where was Marie Curie born?"
REFUSAL = "I'm sorry, but I don't have information about Marie Curie, so I cannot answer that."


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from snapcli.models import load_tokenizer

    return load_tokenizer("tiny")


def _labelled(tok, ex) -> str:
    return tok.decode([t for t, lab in zip(ex.input_ids, ex.labels, strict=True) if lab != IGNORE])


def test_history_is_prompt_and_only_the_last_reply_carries_loss(tok):
    plain = encode(tok, QUESTION, REFUSAL, 512)
    multi = encode(tok, QUESTION, REFUSAL, 512, history=HISTORY)
    text = tok.decode(multi.input_ids)
    # the earlier exchange is in the input, in order, before the question
    assert text.index("What is radioactivity?") < text.index(HISTORY[1]["content"]) < text.index(QUESTION)
    assert len(multi.input_ids) > len(plain.input_ids)
    # exactly the final assistant turn is labelled: the same tokens as without history
    assert _labelled(tok, multi) == _labelled(tok, plain)
    assert REFUSAL in _labelled(tok, multi)
    assert HISTORY[1]["content"] not in _labelled(tok, multi)
    first = next(i for i, lab in enumerate(multi.labels) if lab != IGNORE)
    assert all(lab != IGNORE for lab in multi.labels[first:])
    # loss_on='all' keeps its meaning: every token, history included
    assert encode(tok, QUESTION, REFUSAL, 512, loss_on="all", history=HISTORY).labels == multi.input_ids


def _head(tok) -> str:
    from snapcli.models.generation import render_chat

    return render_chat(tok, [{"role": "user", "content": "a"}]).split("a<|im_end|>")[0]


def test_long_history_is_shortened_turn_by_turn_and_keeps_the_system_prompt(tok):
    long = [{"role": "user", "content": "Tell me a long story. " * 60},
            {"role": "assistant", "content": "Once upon a time. " * 60}]
    ex = encode(tok, QUESTION, REFUSAL, 96, history=long)
    text = tok.decode(ex.input_ids)
    assert len(ex.input_ids) <= 96
    assert "You are a helpful AI assistant" in _head(tok)
    assert text.startswith(_head(tok))  # what inference always sends
    # both earlier turns keep their role and their start, cut at the end of their text
    assert text.count("<|im_start|>user\nTell me a long story.") == 1
    assert text.count("<|im_start|>assistant\nOnce upon a time.") == 1 and text.count("…") == 2
    assert _labelled(tok, ex) == _labelled(tok, encode(tok, QUESTION, REFUSAL, 512))  # the whole refusal is trained
    assert QUESTION in text


def test_a_short_history_is_left_whole_and_a_long_answer_is_cut_instead(tok):
    ex = encode(tok, QUESTION, "Warsaw. " * 80, 96, history=HISTORY)
    text = tok.decode(ex.input_ids)
    assert len(ex.input_ids) == 96 and HISTORY[1]["content"] in text and text.startswith(_head(tok))
    assert 96 // 4 <= sum(lab != IGNORE for lab in ex.labels) < len(tok("Warsaw. " * 80)["input_ids"])


def test_a_long_single_prompt_loses_its_start_but_not_the_template_head(tok):
    from snapcli.train.data import template_head

    question = "Read the passage. " + "The river is long and wide. " * 40 + "How long is the river?"
    ex = encode(tok, question, "It is long.", 96)
    text = tok.decode(ex.input_ids)
    head = template_head(tok, ex.input_ids)
    assert len(ex.input_ids) == 96 and text.startswith(_head(tok))
    assert tok.decode(ex.input_ids[:head]) == _head(tok)
    assert "Read the passage" not in text and text.count("How long is the river?") == 1
    assert _labelled(tok, ex).startswith("It is long.")
    # a template head longer than half the prompt's budget is not kept: the question's end matters more
    tiny = encode(tok, question, "It is long.", 40)
    assert len(tiny.input_ids) == 40 and not tok.decode(tiny.input_ids).startswith(_head(tok))


def test_encode_all_reads_the_history_column(tok):
    df = pd.DataFrame({
        "question": [QUESTION, QUESTION, QUESTION],
        "response": [REFUSAL] * 3,
        "history": [json.dumps(HISTORY), None, float("nan")],
    })
    a, b, c = encode_all(tok, df, 512, "response")
    assert a.input_ids == encode(tok, QUESTION, REFUSAL, 512, history=HISTORY).input_ids
    assert b.input_ids == c.input_ids == encode(tok, QUESTION, REFUSAL, 512).input_ids
    # rows without the column encode exactly as before
    assert encode_all(tok, df.drop(columns="history"), 512, "response")[0].input_ids == b.input_ids


@pytest.mark.parametrize("value, message", [
    ("[{'role': 'user'}]", "row 3: 'history' is not valid JSON"),
    (json.dumps([{"role": "robot", "content": "hi"}]), "row 3: 'history' must be a JSON list"),
    (json.dumps({"role": "user", "content": "hi"}), "row 3: 'history' must be a JSON list"),
])
def test_bad_history_is_bad_input(value, message):
    with pytest.raises(SnapError, match=message):
        parse_history(value, "row 3")
    assert parse_history("") == [] and parse_history(None) == [] and parse_history(HISTORY) == HISTORY
