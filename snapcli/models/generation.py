"""Batched chat generation shared by the local LLM backend and `snap eval`.

Prompts are sorted by length and cut into batches (length bucketing), left-padded, and decoded with the KV
cache on, so a batch wastes little compute on padding; results come back in the caller's order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Messages = list[dict[str, str]]


def render_chat(tok, messages: Messages, add_generation_prompt: bool = True) -> str:
    """The model's own chat template; a plain fallback for tokenizers without one."""
    if getattr(tok, "chat_template", None):
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    text = "".join(f"{m['role']}: {m['content']}\n" for m in messages)
    return text + ("assistant: " if add_generation_prompt else "")


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
    """Generate one reply per conversation: [{"text", "prompt_tokens", "completion_tokens"}] in input order."""
    import torch

    if not conversations:
        return []
    prompts = [render_chat(tok, c) for c in conversations]
    enc = [tok(p, add_special_tokens=False)["input_ids"][-max_input_tokens:] for p in prompts]
    order = sorted(range(len(enc)), key=lambda i: len(enc[i]))
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    device = next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(seed) if seed is not None else None
    results: list[dict[str, Any] | None] = [None] * len(enc)
    eos = model.generation_config.eos_token_id if model.generation_config is not None else tok.eos_token_id
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        width = max(len(enc[i]) for i in idx)
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            ids[row, width - len(enc[i]) :] = torch.tensor(enc[i])
            mask[row, width - len(enc[i]) :] = 1
        kwargs: dict[str, Any] = dict(
            input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
            pad_token_id=pad_id, eos_token_id=eos, use_cache=True,
        )
        if temperature > 0:
            if gen is not None:
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = model.generate(**kwargs)
        new = out[:, width:].cpu()
        for row, i in enumerate(idx):
            toks = new[row].tolist()
            n = len(toks)
            while n and toks[n - 1] == pad_id:
                n -= 1
            text = tok.decode(toks[:n], skip_special_tokens=True).strip()
            results[i] = {"text": text, "prompt_tokens": len(enc[i]), "completion_tokens": n}
        if on_batch:
            on_batch(len(idx))
    return results  # type: ignore[return-value]
