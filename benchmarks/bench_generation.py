"""Eval generation: batched, length-bucketed generation vs a one-prompt-at-a-time `generate` loop.

Same model, same prompts, same process; prints one JSON document with tokens/s for each and their ratio.
Usage: python benchmarks/bench_generation.py [--model smollm2] [--n 24] [--max-new-tokens 48] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from snapcli.models import load_causal_lm
from snapcli.models.generation import generate_chat

QUESTIONS = [
    "Who founded Microsoft?", "What is the capital of France?", "Explain photosynthesis in one sentence.",
    "Name three primary colors.", "What is 12 times 7?", "Write a short greeting for a birthday card.",
    "Why is the sky blue?", "What does a compiler do?", "Give me a tip for sleeping better.",
    "Who wrote Romeo and Juliet?", "What is the boiling point of water at sea level?",
    "Summarize the plot of Cinderella in two sentences, including the stepmother, the ball and the glass slipper.",
]


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    model, tok = load_causal_lm(args.model)
    convs = [[{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}] for i in range(args.n)]
    generate_chat(model, tok, convs[:2], max_new_tokens=4, batch_size=2)  # warm-up

    t0 = time.perf_counter()
    loop_tokens = 0
    for c in convs:  # the baseline: one prompt at a time, as a naive eval loop would do
        loop_tokens += generate_chat(model, tok, [c], max_new_tokens=args.max_new_tokens)[0]["completion_tokens"]
    loop_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    out = generate_chat(model, tok, convs, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    batched_s = time.perf_counter() - t0
    batched_tokens = sum(r["completion_tokens"] for r in out)
    return {
        "model": args.model, "prompts": args.n, "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size,
        "loop_tokens_per_s": round(loop_tokens / loop_s, 1),
        "batched_tokens_per_s": round(batched_tokens / batched_s, 1),
        "speedup_batched_vs_loop": round((batched_tokens / batched_s) / (loop_tokens / loop_s), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=8)
    print(json.dumps(run(ap.parse_args()), indent=2))


if __name__ == "__main__":
    main()
