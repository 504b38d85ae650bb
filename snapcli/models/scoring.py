"""Log-likelihood of candidate replies to one chat prompt, on an in-process causal LM.

Used by snapcli.datagen.resolve to ask which of several names the model finds the most likely answer to "Who is the
Polish-French chemist?": a 135M model that answers such questions with an invented name often still puts more
probability on the right one than on its neighbours' (measured in issue 11). The prompt runs once; its KV cache is
copied to every candidate (`Cache.batch_repeat_interleave`, as snapcli.models.generation does for shared prefixes).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from snapcli.models.generation import Messages, _cache_kwarg, render_chat


def reply_token_ids(tok, prompt: str, reply: str) -> list[int]:
    """The ids `reply` gets as the start of the assistant turn: the tail of tokenize(prompt + reply) when that
    starts with tokenize(prompt) (no merge across the boundary), else tokenize(reply) alone."""
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    full = tok(prompt + reply, add_special_tokens=False)["input_ids"]
    if full[: len(p_ids)] == p_ids and len(full) > len(p_ids):
        return full[len(p_ids):]
    return tok(reply, add_special_tokens=False)["input_ids"]


def reply_logprobs(model, tok, messages: Messages, replies: Sequence[str], *, batch_size: int = 32) -> list[float]:
    """log P(reply | chat prompt), summed over the reply's tokens (nats), for each reply in order.

    messages: the conversation so far (the prompt gets the model's chat template and the assistant-turn opening);
    replies: candidate starts of the assistant turn ("Marie Curie"). One forward pass over the prompt, then one per
    `batch_size` replies over the reply tokens only (right-padded, masked), on the prompt's KV cache. An empty reply
    scores 0.0. Raises ValueError for batch_size < 1.
    """
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 (got {batch_size})")
    if not replies:
        return []
    device = next(model.parameters()).device
    prompt = render_chat(tok, messages, add_generation_prompt=True)
    p_ids = torch.as_tensor(tok(prompt, add_special_tokens=False)["input_ids"], dtype=torch.long, device=device)[None]
    n_p = p_ids.shape[1]
    r_ids = [reply_token_ids(tok, prompt, r) for r in replies]
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    cache_arg = _cache_kwarg(model)
    out: list[float] = []
    with torch.inference_mode():
        first = model(input_ids=p_ids, attention_mask=torch.ones_like(p_ids), use_cache=True)
        cache0 = first.cache if getattr(first, "cache", None) is not None else first.past_key_values
        lp_first = first.logits[0, -1].float().log_softmax(-1)
        for start in range(0, len(r_ids), batch_size):
            part = r_ids[start : start + batch_size]
            width = max(1, max(len(r) for r in part))
            ids = torch.full((len(part), width), pad, dtype=torch.long)
            mask = torch.zeros((len(part), n_p + width), dtype=torch.long)
            mask[:, :n_p] = 1
            for i, r in enumerate(part):
                if r:
                    ids[i, : len(r)] = torch.as_tensor(r, dtype=torch.long)
                    mask[i, n_p : n_p + len(r)] = 1
            ids, mask = ids.to(device), mask.to(device)
            pos = torch.arange(n_p, n_p + width, device=device)[None].expand(len(part), -1)
            cache = copy.deepcopy(cache0)
            cache.batch_repeat_interleave(len(part))
            logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                           **{cache_arg: cache}).logits.float().log_softmax(-1)
            for i, r in enumerate(part):
                if not r:
                    out.append(0.0)
                    continue
                s = lp_first[r[0]]
                if len(r) > 1:
                    nxt = torch.as_tensor(r[1:], dtype=torch.long, device=device)
                    s = s + logits[i, torch.arange(len(r) - 1, device=device), nxt].sum()
                out.append(float(s))
    return out
