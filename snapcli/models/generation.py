"""Batched chat generation shared by the local LLM backend, `snap chat` and `snap eval`.

Prompts are sorted by length and cut into batches (length bucketing), left-padded, and decoded with the KV cache.
Greedy decoding (the eval default) runs snap's own loop over the model's forward pass, which drops every row from
the batch (and from its KV cache) the moment it emits end-of-sequence: `model.generate` keeps computing finished
rows until the longest answer ends, so a batch whose answers differ in length wastes most of its steps. The loop
is token-for-token the greedy `generate` (argmax of the last position's logits, same positions and masks; the
test suite checks it against one-prompt-at-a-time `generate`). Sampling (temperature > 0), and models whose
generation config changes greedy scores (repetition penalty, n-gram bans, ...), go through `model.generate`.
Results come back in the caller's order.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

Messages = list[dict[str, str]]

# generation-config fields that make `generate`'s greedy choice differ from a plain argmax
_SCORE_CHANGING = {
    "repetition_penalty": (None, 1.0), "no_repeat_ngram_size": (None, 0), "encoder_no_repeat_ngram_size": (None, 0),
    "bad_words_ids": (None,), "suppress_tokens": (None,), "begin_suppress_tokens": (None,),
    "forced_bos_token_id": (None,), "forced_eos_token_id": (None,), "min_length": (None, 0),
    "min_new_tokens": (None, 0), "sequence_bias": (None,), "guidance_scale": (None, 1.0),
    "exponential_decay_length_penalty": (None,), "forced_decoder_ids": (None,), "num_beams": (None, 1),
    "penalty_alpha": (None,), "epsilon_cutoff": (None, 0.0), "eta_cutoff": (None, 0.0),
    "assistant_model": (None,), "prompt_lookup_num_tokens": (None,), "renormalize_logits": (None, False),
    "low_memory": (None, False), "dola_layers": (None,), "watermarking_config": (None,),
}


def render_chat(tok, messages: Messages, add_generation_prompt: bool = True) -> str:
    """The model's own chat template; a plain fallback for tokenizers without one."""
    if getattr(tok, "chat_template", None):
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    text = "".join(f"{m['role']}: {m['content']}\n" for m in messages)
    return text + ("assistant: " if add_generation_prompt else "")


def eos_ids(model, tok) -> set[int]:
    """Every end-of-sequence id the model's generation config (or else the tokenizer) declares."""
    eos = model.generation_config.eos_token_id if getattr(model, "generation_config", None) is not None else None
    if eos is None:
        eos = tok.eos_token_id
    return {int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos]) if e is not None}


def can_use_greedy_loop(model) -> bool:
    """True when snap's greedy loop reproduces `model.generate(do_sample=False)`: a decoder-only model whose forward
    takes `position_ids` and a KV cache, and a generation config without score-changing options."""
    cfg = getattr(model, "generation_config", None)
    if cfg is not None:
        for name, neutral in _SCORE_CHANGING.items():
            if getattr(cfg, name, None) not in neutral:
                return False
    if getattr(getattr(model, "config", None), "is_encoder_decoder", False):
        return False
    params = inspect.signature(model.forward).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return True  # e.g. a PEFT wrapper passing everything through to the base model
    return {"position_ids", "attention_mask"} <= set(params) and bool({"cache", "past_key_values"} & set(params))


def _cache_kwarg(model) -> str:
    """The forward argument that takes the KV cache: `cache` (transformers >= 5.x) or `past_key_values`."""
    params = inspect.signature(model.forward).parameters
    if "cache" in params:
        return "cache"
    if "past_key_values" not in params and hasattr(model, "get_base_model"):
        return _cache_kwarg(model.get_base_model())  # PEFT wrapper
    return "past_key_values"


# prompts of one batch often share a long start (the chat template's system prompt, `--prompting`'s instruction):
# from this many tokens on it is run once and its KV cache copied to every row (as vLLM's prefix caching does)
MIN_SHARED_PREFIX = 8


def shared_prefix_len(rows: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix common to all rows, leaving every row at least one token of its own."""
    if len(rows) < 2:
        return 0
    limit = min(len(r) for r in rows) - 1
    first = rows[0]
    n = 0
    while n < limit and all(r[n] == first[n] for r in rows):
        n += 1
    return n


def _left_pad(rows: Sequence[Sequence[int]], pad_id: int):
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if len(r):
            ids[i, width - len(r):] = torch.as_tensor(list(r), dtype=torch.long)
            mask[i, width - len(r):] = 1
    return ids, mask


def greedy_batch(model, rows: Sequence[Sequence[int]], *, max_new_tokens: int, eos: set[int], pad_id: int,
                 share_prefix: bool = True) -> list[list[int]]:
    """Greedy continuation of each token-id row (left-padded into one batch); finished rows leave the batch.

    Shapes: `rows` is B lists of prompt ids; returns B lists of new ids, each without the end-of-sequence id and at
    most `max_new_tokens` long. The prompts' common prefix (>= MIN_SHARED_PREFIX tokens) is run once and its KV cache
    copied to the B rows; then one forward pass over the rest of the prompts (padded between prefix and suffix,
    masked), then one per step over the rows still running, with the KV cache's batch dimension cut to them
    (`Cache.batch_select_indices`). Positions and masks are those `generate` uses for each prompt alone.
    """
    import torch

    device = next(model.parameters()).device
    cache_arg = _cache_kwarg(model)
    n_pre = shared_prefix_len(rows) if share_prefix else 0
    cache = None
    if n_pre >= MIN_SHARED_PREFIX:
        pre = torch.as_tensor(list(rows[0][:n_pre]), dtype=torch.long, device=device)[None]
        with torch.inference_mode():
            out = model(input_ids=pre, attention_mask=torch.ones_like(pre),
                        position_ids=torch.arange(n_pre, device=device)[None], use_cache=True, logits_to_keep=1)
        cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
        if not hasattr(cache, "batch_repeat_interleave"):
            cache, n_pre = None, 0
        else:
            cache.batch_repeat_interleave(len(rows))
    else:
        n_pre = 0
    ids, smask = _left_pad([r[n_pre:] for r in rows], pad_id)
    # positions as `generate` numbers them: count of real tokens before, pads at 0
    pos = (n_pre + smask.cumsum(-1) - 1).masked_fill(smask == 0, 0)
    mask = torch.cat([torch.ones((len(rows), n_pre), dtype=torch.long), smask], dim=1)
    ids, mask, pos = ids.to(device), mask.to(device), pos.to(device)
    out_ids: list[list[int]] = [[] for _ in rows]
    alive = list(range(len(rows)))
    with torch.inference_mode():
        past = {cache_arg: cache} if cache is not None else {}
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1, **past)
        cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
        can_drop = hasattr(cache, "batch_select_indices")
        nxt = out.logits[:, -1, :].argmax(-1)
        last = pos[:, -1]
        for step in range(max_new_tokens):
            keep = []
            for k, t in enumerate(nxt.tolist()):
                if alive[k] < 0:
                    continue  # finished earlier, kept only where the cache cannot drop rows
                if t in eos:
                    if not can_drop:
                        alive[k] = -1
                    continue
                out_ids[alive[k]].append(t)
                keep.append(k)
            if not keep or step == max_new_tokens - 1:
                break
            if can_drop and len(keep) < len(alive):
                sel = torch.as_tensor(keep, device=device)
                cache.batch_select_indices(sel)
                mask, nxt, last = mask[sel], nxt[sel], last[sel]
                alive = [alive[k] for k in keep]
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
            last = last + 1
            out = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=last[:, None],
                        use_cache=True, **{cache_arg: cache})
            nxt = out.logits[:, -1, :].argmax(-1)
    return out_ids


def generate_chat(
    model,
    tok,
    conversations: Sequence[Messages],
    *,
    max_new_tokens: int = 128,
    batch_size: int = 8,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | None = None,
    max_input_tokens: int = 1024,
    on_batch: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Generate one reply per conversation: [{"text", "prompt_tokens", "completion_tokens"}] in input order.

    `completion_tokens` counts the generated tokens without the end-of-sequence token. Greedy (temperature 0) uses
    `greedy_batch` when `can_use_greedy_loop(model)`, else `model.generate`.
    """
    import torch

    if not conversations:
        return []
    prompts = [render_chat(tok, c) for c in conversations]
    enc = [tok(p, add_special_tokens=False)["input_ids"][-max_input_tokens:] for p in prompts]
    order = sorted(range(len(enc)), key=lambda i: len(enc[i]))
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    eos = eos_ids(model, tok)
    device = next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(seed) if seed is not None else None
    fast = temperature <= 0 and can_use_greedy_loop(model)
    results: list[dict[str, Any] | None] = [None] * len(enc)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        if fast:
            new_ids = greedy_batch(model, [enc[i] for i in idx], max_new_tokens=max_new_tokens, eos=eos,
                                   pad_id=pad_id)
        else:
            new_ids = _hf_generate(model, [enc[i] for i in idx], max_new_tokens=max_new_tokens, eos=eos,
                                   pad_id=pad_id, temperature=temperature, top_p=top_p, gen=gen, device=device)
        for i, toks in zip(idx, new_ids, strict=True):
            text = tok.decode(toks, skip_special_tokens=True).strip()
            results[i] = {"text": text, "prompt_tokens": len(enc[i]), "completion_tokens": len(toks)}
        if on_batch:
            on_batch(len(idx))
    return results  # type: ignore[return-value]


def _hf_generate(model, rows: list[list[int]], *, max_new_tokens: int, eos: set[int], pad_id: int,
                 temperature: float, top_p: float, gen, device) -> list[list[int]]:
    """`model.generate` on one left-padded batch; new ids per row, cut at the first end-of-sequence id."""
    import torch

    ids, mask = _left_pad(rows, pad_id)
    width = ids.shape[1]
    kwargs: dict[str, Any] = dict(
        input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
        pad_token_id=pad_id, eos_token_id=sorted(eos) or None, use_cache=True,
    )
    if temperature > 0:
        if gen is not None:
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    with torch.inference_mode():
        out = model.generate(**kwargs)
    result = []
    for toks in out[:, width:].cpu().tolist():
        n = next((k for k, t in enumerate(toks) if t in eos), len(toks))
        result.append(toks[:n])
    return result
