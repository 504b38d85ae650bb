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


def test_long_history_is_cut_from_the_left(tok):
    long = [{"role": "user", "content": "Tell me a long story. " * 60},
            {"role": "assistant", "content": "Once upon a time. " * 60}]
    ex = encode(tok, QUESTION, REFUSAL, 96, history=long)
    assert len(ex.input_ids) == 96
    assert REFUSAL in _labelled(tok, ex) and QUESTION in tok.decode(ex.input_ids)


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
