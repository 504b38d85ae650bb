"""Training loss: snap's NLL (logits only at labelled columns, the shared prompt start run once) vs a plain forward.

One forward + backward of `snapcli.train.nll.sequence_nll` on a demo-shaped micro-batch (8 forget + 8 retain rows
of the curated Bill Gates set, chat-templated, response-only labels, max_length 96), three ways, in alternating
rounds in one process (a ratio is only compared with the baseline of its own round):
  plain    every column's logits, every row whole (snap before this benchmark: what HF Trainer computes)
  labels   logits only where a label is (`logits_to_keep`)
  snap     labels + the batch's common start run once and its KV cache repeated over the rows
Prints one JSON document: seconds per round, the median ratio vs plain and its spread, and the largest difference
of the per-row losses and the relative difference of the gradients from plain's (rounding only).
Usage: python benchmarks/bench_loss.py [--model smollm2] [--repeats 3] [--batch 8] [--max-length 96] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from snapcli.curated import load_example
from snapcli.models import load_causal_lm
from snapcli.train.data import IGNORE, collate, encode
from snapcli.train.nll import _majority_prefix, sequence_nll


def plain_nll(model, batch):
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False).logits
    labels = batch["labels"][:, 1:]
    tok = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                            ignore_index=IGNORE, reduction="none").view(labels.shape)
    return tok.sum(1) / (labels != IGNORE).sum(1).clamp_min(1)


WAYS = {"plain": plain_nll,
        "labels": lambda m, b: sequence_nll(m, b),
        "snap": lambda m, b: sequence_nll(m, b, share_prefix=True)}


def _step(model, fn, batch) -> tuple[float, torch.Tensor, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    nll = fn(model, batch)
    nll.mean().backward()
    secs = time.perf_counter() - t0
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return secs, nll.detach(), grads


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8, help="forget rows and retain rows per micro-batch (each)")
    ap.add_argument("--max-length", type=int, default=96)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tok = load_causal_lm(args.model)
    model.float().train()
    model.config.use_cache = False
    sets = load_example("bill-gates")
    rows = [encode(tok, q, r, args.max_length) for df in (sets["forget"], sets["retain"])
            for q, r in zip(df["question"][: args.batch], df["response"][: args.batch], strict=True)]
    batch = collate(rows, tok.pad_token_id)
    n_pre, members = _majority_prefix(batch["input_ids"], batch["attention_mask"], batch["labels"])
    labelled = int((batch["labels"][:, 1:] != IGNORE).any(dim=0).sum())
    for fn in WAYS.values():  # warm-up
        _step(model, fn, batch)
    rounds = []
    ref_nll = ref_g = None
    diffs: dict[str, dict[str, float]] = {}
    for _ in range(args.repeats):
        r = {}
        for name, fn in WAYS.items():
            secs, nll, g = _step(model, fn, batch)
            r[name] = round(secs, 3)
            if name == "plain":
                ref_nll, ref_g = nll, g
            else:
                diffs[name] = {"max_abs_loss_diff": float((nll - ref_nll).abs().max()),
                               "grad_rel_diff": float((g - ref_g).norm() / ref_g.norm())}
        rounds.append(r)
    ratio = {name: [rd["plain"] / rd[name] for rd in rounds] for name in WAYS if name != "plain"}
    print(json.dumps({
        "model": args.model, "rows": len(rows), "width": int(batch["input_ids"].shape[1]),
        "tokens": int(batch["attention_mask"].sum()), "labelled_columns": labelled,
        "shared_prefix_tokens": n_pre, "rows_on_the_prefix": len(members),
        "seconds": rounds,
        "speedup_vs_plain": {k: round(statistics.median(v), 3) for k, v in ratio.items()},
        "speedup_vs_plain_range": {k: [round(min(v), 3), round(max(v), 3)] for k, v in ratio.items()},
        "difference_from_plain": diffs,
    }, indent=2))


if __name__ == "__main__":
    main()
