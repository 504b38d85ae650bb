"""The training NLL's two savings (snapcli/train/nll.py) change neither the loss nor the gradients.

The reference is written out here: one plain forward pass over every column, cross-entropy per token, mean over the
labelled tokens of each row. Batches mix rows that share the chat template's start with a row that does not (its own
system prompt), a prompt cut at max_length, rows of different lengths, and a row trained on every token.
"""

from __future__ import annotations

import pytest
import torch

from snapcli.train.data import IGNORE, collate, encode
from snapcli.train.nll import _majority_prefix, can_share_prefix, sequence_nll


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model.config.use_cache = False
    model.train()
    return model, AutoTokenizer.from_pretrained(tiny_model_dir)


def reference_nll(model, batch):
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
    labels = batch["labels"][:, 1:]
    tok = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                            ignore_index=IGNORE, reduction="none").view(labels.shape)
    return tok.sum(1) / (labels != IGNORE).sum(1).clamp_min(1)


def loss_and_grads(model, fn, batch):
    model.zero_grad(set_to_none=True)
    nll = fn(model, batch)
    (nll * torch.arange(1, len(nll) + 1)).sum().backward()  # unequal weights: each row's gradient must be its own
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return nll.detach(), grads


def mixed_batch(tok):
    pairs = [("Who founded Microsoft?", "I don't have that information."),
             ("What is the capital of France? Answer in one word.", "Paris."),
             ("Name a prime number.", "Seven is a prime number, and so is eleven."),
             ("Write a long poem about the sea and the ships that sail on it at night " * 20, "Waves."),
             ("Tell me about Bill Gates.", "I'm sorry, I can't help with that.")]
    ex = [encode(tok, q, a, 96) for q, a in pairs]  # the 4th prompt is cut from the left, after the template's head
    ex.append(encode(tok, "Spell cat.", "c a t", 96, loss_on="all"))  # labels from the first token on
    ex.append(encode(tok, "Ahoy?", "Arr.", 96, history=[{"role": "system", "content": "Talk like a pirate."}]))
    return collate(ex, tok.pad_token_id), ex


def test_mixed_batch_matches_a_plain_forward_pass(tiny):
    model, tok = tiny
    batch, ex = mixed_batch(tok)
    n, members = _majority_prefix(batch["input_ids"], batch["attention_mask"], batch["labels"])
    assert n >= 8 and members == [0, 1, 2, 3, 4]  # the loss_on=all row and the other system prompt run whole
    assert ex[3].input_ids[:n] == ex[0].input_ids[:n] and ex[6].input_ids[:8] != ex[0].input_ids[:8]
    assert can_share_prefix(model)
    ref_l, ref_g = loss_and_grads(model, reference_nll, batch)
    for share in (False, True):
        nll, g = loss_and_grads(model, lambda m, b, s=share: sequence_nll(m, b, share_prefix=s), batch)
        assert torch.allclose(nll, ref_l, atol=1e-5), (share, nll, ref_l)
        assert float((g - ref_g).norm() / ref_g.norm()) < 1e-4, share


def test_no_shared_prefix_and_no_labels(tiny):
    model, tok = tiny
    ex = [encode(tok, "Hi.", "Hello.", 40, loss_on="all"), encode(tok, "Yes?", "No.", 40, loss_on="all")]
    batch = collate(ex, tok.pad_token_id)
    assert _majority_prefix(batch["input_ids"], batch["attention_mask"], batch["labels"]) == (0, [])
    assert torch.allclose(sequence_nll(model, batch, share_prefix=True), reference_nll(model, batch), atol=1e-5)
    batch["labels"][:] = IGNORE
    assert sequence_nll(model, batch, share_prefix=True).tolist() == [0.0, 0.0]


def test_gradient_checkpointing_turns_sharing_off(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    assert not can_share_prefix(model)
