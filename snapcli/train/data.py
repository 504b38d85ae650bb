"""Training data: forget/retain rows -> chat-templated token ids with response-only labels, a resumable order.

Balancing L_f and L_r: batches are *paired*. Every micro-batch holds `batch_size` forget examples and
`batch_size` retain examples, run through the model in one forward pass; L_f and L_r are the means of the
per-example NLLs of each half, so both terms get equal weight on every step whatever the sizes of the two sets.
An epoch is one pass over the forget set; the retain set is walked in its own shuffled order and wraps around
(a larger retain set is covered over several epochs, a smaller one is repeated).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pandas as pd
import torch

from snapcli.errors import SnapError
from snapcli.models.generation import render_chat

IGNORE = -100
REQUIRED = ("question", "response")
# Part of the train stage's cache key: bump it when `encode` turns a row into different tokens, so a cached model
# trained on the old encoding is not reused. 2: rows over max_length keep the system prompt and every turn's role.
ENCODE_VERSION = 2


def train_rows(df: pd.DataFrame, source: str, what: str) -> pd.DataFrame:
    """The split=train rows with a question and a response; a clear error for anything unusable."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise SnapError(
            f"{what} data {source} is missing column(s) {', '.join(missing)} (has: {', '.join(df.columns) or 'none'})"
        )
    if "split" in df.columns:
        df = df[df["split"].astype(str) == "train"]
    df = df[df["question"].notna() & df["response"].notna()]
    df = df[(df["question"].astype(str).str.strip() != "") & (df["response"].astype(str).str.strip() != "")]
    return df.reset_index(drop=True)


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]


def parse_history(value: Any, where: str = "row") -> list[dict[str, str]]:
    """Earlier turns of a multi-turn row: a JSON list of {role: user|assistant|system, content} (or the list itself).

    None, NaN and "" mean no history. Raises SnapError naming `where` for anything else that is not such a list.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str) and not value.strip():
        return []
    msgs = value
    if isinstance(value, str):
        try:
            msgs = json.loads(value)
        except json.JSONDecodeError as e:
            raise SnapError(f"{where}: 'history' is not valid JSON ({e.msg})") from None
    if hasattr(msgs, "tolist"):
        msgs = msgs.tolist()
    if not isinstance(msgs, list) or not all(
        isinstance(m, dict) and m.get("role") in ("user", "assistant", "system") and isinstance(m.get("content"), str)
        for m in msgs
    ):
        raise SnapError(f"{where}: 'history' must be a JSON list of {{role: user|assistant|system, content: text}}")
    return [{"role": m["role"], "content": m["content"]} for m in msgs]


def encode(
    tok,
    question: str,
    response: str,
    max_length: int,
    loss_on: str = "response",
    history: Sequence[dict[str, str]] = (),
) -> Example:
    """Chat-template the pair; labels cover the assistant turn (or everything with loss_on='all').

    `history`: earlier turns of a multi-turn row (issue 11); they are part of the prompt, so with
    loss_on='response' only the final assistant turn carries loss. Over `max_length`: first the earlier turns are
    shortened at the end of their text, longest first, to no less than HISTORY_MIN_TOKENS each (every turn keeps its
    role), until a response of up to half the budget fits whole, or a quarter of the budget of a longer one; then the
    response keeps at least a quarter of the budget and the prompt loses tokens from the left, except the chat
    template's head (its default system prompt and first role marker, `template_head`), which inference always sends.
    """
    user = [*history, {"role": "user", "content": question}]
    p_ids, r_ids = _prompt_and_response(tok, user, response)
    for _ in range(3):  # re-tokenizing a shortened text can differ by a token or two from the estimate
        # a response of up to half the budget (a refusal) stays whole; a longer one may shrink to a quarter
        reserve = len(r_ids) if len(r_ids) <= max_length // 2 else max_length // 4
        excess = len(p_ids) + reserve - max_length
        if excess <= 0 or not history:
            break
        shorter = _shorten_turns(tok, user[:-1], excess)
        if shorter == user[:-1]:
            break
        user = [*shorter, user[-1]]
        p_ids, r_ids = _prompt_and_response(tok, user, response)
    if len(p_ids) + len(r_ids) > max_length:
        r_ids = r_ids[: max(1, max_length - min(len(p_ids), 3 * max_length // 4))]
        budget = max_length - len(r_ids)
        head = template_head(tok, p_ids)
        if head > budget // 2:  # a long system prompt: keep the question's end rather than the whole head
            head = 0
        p_ids = p_ids[:head] + p_ids[len(p_ids) - (budget - head):] if budget > 0 else []
    ids = p_ids + r_ids
    labels = ([IGNORE] * len(p_ids) + r_ids) if loss_on == "response" else list(ids)
    return Example(ids, labels)


# an earlier turn is never shortened below this many tokens of its text
HISTORY_MIN_TOKENS = 8


def _prompt_and_response(tok, user: list[dict[str, str]], response: str) -> tuple[list[int], list[int]]:
    prompt = render_chat(tok, user, add_generation_prompt=True)
    full = render_chat(tok, [*user, {"role": "assistant", "content": response}], add_generation_prompt=False)
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    if full.startswith(prompt):
        return p_ids, tok(full[len(prompt):], add_special_tokens=False)["input_ids"]
    # a template that renders the prompt differently inside a full conversation
    return p_ids, tok(response + (tok.eos_token or ""), add_special_tokens=False)["input_ids"]


def _shorten_turns(tok, turns: list[dict[str, str]], excess: int) -> list[dict[str, str]]:
    """`turns` with about `excess` tokens cut from the ends of their texts, longest turn first (a lead-in answer
    before its question), each kept to at least HISTORY_MIN_TOKENS tokens and marked with an ellipsis."""
    ids = [tok(m["content"], add_special_tokens=False)["input_ids"] for m in turns]
    out = list(turns)
    for i in sorted(range(len(turns)), key=lambda i: -len(ids[i])):
        cut = min(excess, len(ids[i]) - HISTORY_MIN_TOKENS)
        if cut > 0:
            out[i] = {**turns[i], "content": tok.decode(ids[i][: len(ids[i]) - cut - 1]).rstrip() + "…"}
            excess -= cut
    return out


def template_head(tok, p_ids: Sequence[int]) -> int:
    """How many leading tokens of the prompt `p_ids` are the chat template's own (default system prompt, first role
    marker): the common start of two one-turn prompts that differ only in the user's text, where `p_ids` has it too.

    A prompt cut from the left loses exactly these tokens, so a trained row would lack the system prompt that
    inference always sends (about 10% of the demo's rows at max_length 96 did, all of its multi-turn rows among them).
    0 for a template that puts the user's text first.
    """
    a, b = (tok(render_chat(tok, [{"role": "user", "content": c}]), add_special_tokens=False)["input_ids"]
            for c in ("a", "b"))
    n = 0
    for x, y, z in zip(a, b, p_ids, strict=False):
        if not x == y == z:
            break
        n += 1
    return n


def encode_all(tok, df: pd.DataFrame, max_length: int, loss_on: str) -> list[Example]:
    """Encode every row; a `history` column (multi-turn rows) is used where it holds turns."""
    hist = df["history"] if "history" in df.columns else [None] * len(df)
    rows = zip(df["question"], df["response"], hist, strict=True)
    return [encode(tok, str(q), str(r), max_length, loss_on, parse_history(h, f"row {i}"))
            for i, (q, r, h) in enumerate(rows)]


def collate(examples: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch; padding is masked out of attention and labels."""
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@lru_cache(maxsize=64)
def permutation(n: int, seed: int, epoch: int, salt: int) -> tuple[int, ...]:
    """The order of epoch `epoch`: a pure function of (seed, epoch), so a resumed run sees the same data order."""
    g = torch.Generator().manual_seed(seed * 7919 + epoch * 104729 + salt)
    return tuple(torch.randperm(n, generator=g).tolist())


class PairedOrder:
    """Which forget and retain examples form micro-batch `m` of the run; stateless, so resume = skip to m."""

    def __init__(self, n_forget: int, n_retain: int, batch: int, seed: int, rank: int = 0, world: int = 1):
        self.nf, self.nr, self.b = n_forget, n_retain, batch
        self.seed, self.rank, self.world = seed, rank, world
        self.per_epoch = max(1, -(-n_forget // (batch * world)))  # micro-batches per rank per epoch

    def micro(self, m: int) -> tuple[int, list[int], list[int]]:
        """(epoch, forget indices, retain indices) of this rank's micro-batch number m (0-based, global count)."""
        epoch, pos = divmod(m, self.per_epoch)
        perm = permutation(self.nf, self.seed, epoch, 1)
        start = (pos * self.world + self.rank) * self.b
        f_idx = [perm[(start + i) % self.nf] for i in range(self.b)]
        r_idx: list[int] = []
        if self.nr:
            flat = (m * self.world + self.rank) * self.b
            for i in range(self.b):
                k = flat + i
                r_epoch, r_pos = divmod(k, self.nr)
                r_idx.append(permutation(self.nr, self.seed, r_epoch, 2)[r_pos])
        return epoch, f_idx, r_idx
