"""Batched greedy generation (issue 12, item 8): token for token the same as plain one-prompt-at-a-time greedy
`model.generate`, with finished rows leaving the batch."""

from __future__ import annotations

import pytest
import torch

from snapcli.models.generation import can_use_greedy_loop, eos_ids, generate_chat, greedy_batch, render_chat

PROMPTS = ["What is the capital of France?", "Who wrote Romeo and Juliet?", "What is 12 times 7?",
           "Explain photosynthesis in one sentence.", "Name three primary colors."]


def _plain_generate(model, tok, question: str, max_new_tokens: int) -> list[int]:
    ids = tok(render_chat(tok, [{"role": "user", "content": question}]), add_special_tokens=False,
              return_tensors="pt")["input_ids"]
    eos = eos_ids(model, tok)
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             do_sample=False, temperature=None, top_p=None, top_k=None,
                             pad_token_id=tok.pad_token_id, eos_token_id=sorted(eos))
    new = out[0, ids.shape[1]:].tolist()
    return new[: next((k for k, t in enumerate(new) if t in eos), len(new))]


@pytest.mark.slow
def test_batched_greedy_equals_one_at_a_time_generate(smollm2_dir):
    from snapcli.models import load_causal_lm

    model, tok = load_causal_lm("smollm2")
    assert can_use_greedy_loop(model)
    max_new = 24
    ref = [_plain_generate(model, tok, q, max_new) for q in PROMPTS]
    assert any(len(r) < max_new for r in ref) and any(len(r) == max_new for r in ref)  # some stop early
    widths: list[int] = []
    hook = model.register_forward_pre_hook(lambda _m, _a, kw: widths.append(kw["input_ids"].shape[0]),
                                           with_kwargs=True)
    try:
        out = generate_chat(model, tok, [[{"role": "user", "content": q}] for q in PROMPTS],
                            max_new_tokens=max_new, batch_size=len(PROMPTS))
    finally:
        hook.remove()
    assert [o["text"] for o in out] == [tok.decode(r, skip_special_tokens=True).strip() for r in ref]
    assert [o["completion_tokens"] for o in out] == [len(r) for r in ref]
    assert widths[0] == 1  # the chat template's shared system prompt, run once for all rows
    # finished rows leave the batch: the batch shrinks from 5 rows as answers end, never grows
    steps = widths[1:]
    assert steps[0] == len(PROMPTS) and steps == sorted(steps, reverse=True) and steps[-1] < len(PROMPTS)
    assert len(steps) == max(len(r) for r in ref)  # one prompt pass + one step per further token, none wasted


def test_greedy_batch_on_tiny_matches_generate_and_respects_limits(tiny_model_dir):
    from snapcli.models import load_causal_lm

    model, tok = load_causal_lm("tiny")
    rows = [tok(render_chat(tok, [{"role": "user", "content": q}]), add_special_tokens=False)["input_ids"]
            for q in PROMPTS[:3]]
    out = greedy_batch(model, rows, max_new_tokens=6, eos=eos_ids(model, tok), pad_id=tok.pad_token_id)
    assert [len(o) <= 6 for o in out] == [True] * 3
    assert out == [_plain_generate(model, tok, q, 6) for q in PROMPTS[:3]]
    # sampling still goes through model.generate, seeded
    convs = [[{"role": "user", "content": q}] for q in PROMPTS[:2]]
    a = generate_chat(model, tok, convs, max_new_tokens=5, temperature=1.0, seed=3)
    b = generate_chat(model, tok, convs, max_new_tokens=5, temperature=1.0, seed=3)
    assert a == b and all(o["completion_tokens"] <= 5 for o in a)


def test_score_changing_generation_config_falls_back_to_generate(tiny_model_dir):
    from snapcli.models import load_causal_lm

    model, _tok = load_causal_lm("tiny")
    assert can_use_greedy_loop(model)
    model.generation_config.repetition_penalty = 1.3  # a fresh model object: nothing else sees this
    assert not can_use_greedy_loop(model)
    convs = [[{"role": "user", "content": "Hi"}]]
    assert generate_chat(model, _tok, convs, max_new_tokens=3)[0]["completion_tokens"] <= 3
