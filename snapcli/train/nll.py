"""Per-example NLL of a training batch (paper eq. 1), computed without the work that cannot change it.

Two savings, both exact up to float rounding (tests/test_train_nll.py compares loss and gradients with a plain
forward pass):

- **Logits only where a label is.** The LM head (a 576 x 49152 matrix on SmolLM2) runs only at the columns whose
  next token is labelled (`logits_to_keep` with their indices); with response-only labels the prompt columns need
  no logits.
- **The shared prompt start runs once.** Most rows of a batch begin with the same tokens (the chat template's
  system prompt and user header: 24 of SmolLM2's ~80 tokens per demo row). That prefix is run once, its KV cache is
  repeated over the rows (`batch_repeat_interleave`, differentiable: the rows' gradients add up in the prefix, as
  they would in B copies), and the rest of each row runs on top of it. Rows that do not start with it (a prompt
  cut from the left at `max_length`, a `loss_on='all'` row) run as a second batch, each batch cut to its own
  longest row. Used when at least two rows share >= MIN_SHARED_PREFIX tokens that carry no label, and the model
  takes a KV cache and position ids (not under gradient checkpointing, which turns the cache off, nor under
  ZeRO-3, where a second forward pass would gather every shard twice).

`make bench` (benchmarks/bench_loss.py) times both against a plain forward pass.
"""

from __future__ import annotations

import inspect
from collections import Counter

import torch

from snapcli.models.generation import MIN_SHARED_PREFIX, _cache_kwarg, can_use_greedy_loop

IGNORE = -100
_KEY = 8  # rows are grouped by their first tokens to find the majority prefix


def _majority_prefix(ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> tuple[int, list[int]]:
    """(n, rows): the unlabelled start that the most rows share (>= 2 rows, >= MIN_SHARED_PREFIX tokens), and those
    rows. A row whose labels begin inside it (loss_on='all') is left out: its loss needs logits there."""
    lengths = mask.sum(dim=1).tolist()
    rows = ids.tolist()
    has = labels != IGNORE
    none = torch.full_like(has[:, 0], 1 << 30, dtype=torch.long)
    first_label = torch.where(has.any(dim=1), has.int().argmax(dim=1), none)
    eligible = [i for i, n in enumerate(lengths) if n > _KEY and int(first_label[i]) > MIN_SHARED_PREFIX]
    keys = Counter(tuple(rows[i][:_KEY]) for i in eligible)
    if not keys:
        return 0, []
    key, count = keys.most_common(1)[0]
    if count < 2:
        return 0, []
    members = [i for i in eligible if tuple(rows[i][:_KEY]) == key]
    first = rows[members[0]]
    # each row keeps >= 2 tokens of its own; the first labelled token's logit (one column before it) is computed
    limit = min(min(lengths[i] for i in members) - 2, min(int(first_label[i]) for i in members) - 1)
    n = 0
    while n < limit and all(rows[i][n] == first[n] for i in members):
        n += 1
    return (n, members) if n >= MIN_SHARED_PREFIX else (0, [])


def can_share_prefix(model) -> bool:
    """Whether `model` (unwrapped) can run a batch on top of a KV cache with explicit position ids."""
    # transformers >= 5 names it is_activation_checkpointing (the old name warns)
    name = "is_activation_checkpointing" if hasattr(type(model), "is_activation_checkpointing") \
        else "is_gradient_checkpointing"
    if getattr(model, name, False) or not _keeps_logits(model):
        return False
    try:
        return can_use_greedy_loop(model)
    except (TypeError, ValueError):
        return False


def sequence_nll(model, batch: dict[str, torch.Tensor], *, share_prefix: bool = False,
                 cache_arg: str | None = None) -> torch.Tensor:
    """Per-example mean NLL over labelled tokens, shape (B,), in nats (paper eq. 1: -1/T sum log p).

    `batch`: right-padded `input_ids`, `attention_mask`, `labels` (IGNORE = -100 where no loss), shape (B, T).
    `share_prefix`: run the majority prefix once (module docstring); the caller checks the model with
    `can_share_prefix`. `cache_arg`: the forward's KV-cache argument name (`cache` or `past_key_values`), taken
    from the unwrapped model when the caller's is a DDP wrapper.
    """
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    n_pre, members = _majority_prefix(ids, mask, labels) if share_prefix else (0, [])
    if not n_pre:
        return _plain_nll(model, ids, mask, labels)
    # the rows on the prefix and the others run as two batches, each as wide as its own longest row: one batch
    # would be as wide as the longest row without the prefix and save nothing
    others = [i for i in range(ids.shape[0]) if i not in set(members)]
    parts = [_prefix_nll(model, *_rows(ids, mask, labels, members), n_pre, cache_arg or _cache_kwarg(model))]
    if others:
        parts.append(_plain_nll(model, *_rows(ids, mask, labels, others)))
    order = torch.tensor(members + others, device=ids.device)
    return torch.cat(parts)[torch.argsort(order)]


def _rows(ids, mask, labels, idx: list[int]):
    sel = torch.tensor(idx, device=ids.device)
    width = int(mask[sel].sum(dim=1).max())
    return ids[sel, :width], mask[sel, :width], labels[sel, :width]


def _plain_nll(model, ids, mask, labels) -> torch.Tensor:
    target = labels[:, 1:]
    if not _keeps_logits(model):  # a model whose forward has no logits_to_keep: every column
        out = model(input_ids=ids, attention_mask=mask, use_cache=False)
        return _mean_nll(out.logits[:, :-1], target)
    cols = _label_columns(target)
    out = model(input_ids=ids, attention_mask=mask, use_cache=False, logits_to_keep=cols)
    return _mean_nll(out.logits, target[:, cols])


def _keeps_logits(model) -> bool:
    params = inspect.signature(model.forward).parameters
    return "logits_to_keep" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _label_columns(target: torch.Tensor) -> torch.Tensor:
    """Columns whose next token carries a label; one column when none does (every row's loss is then 0)."""
    cols = torch.nonzero((target != IGNORE).any(dim=0)).squeeze(1)
    return cols if cols.numel() else torch.zeros(1, dtype=torch.long, device=target.device)


def _mean_nll(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    tok = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE, reduction="none"
    ).view(target.shape)
    n = (target != IGNORE).sum(dim=1).clamp_min(1)
    return tok.sum(dim=1) / n


def _prefix_nll(model, ids, mask, labels, n_pre: int, cache_arg: str) -> torch.Tensor:
    """Rows that all start with the same n_pre unlabelled tokens: those run once, the rest on their KV cache."""
    b, device = ids.shape[0], ids.device
    out = model(input_ids=ids[:1, :n_pre], position_ids=torch.arange(n_pre, device=device)[None], use_cache=True,
                logits_to_keep=1)
    cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
    cache.batch_repeat_interleave(b)
    width = ids.shape[1] - n_pre
    pos = torch.arange(n_pre, n_pre + width, device=device)[None].expand(b, width)
    target = labels[:, n_pre + 1:]
    cols = _label_columns(target)
    out = model(input_ids=ids[:, n_pre:], attention_mask=mask, position_ids=pos, use_cache=True,
                logits_to_keep=cols, **{cache_arg: cache})
    return _mean_nll(out.logits, target[:, cols])
