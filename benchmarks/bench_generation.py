"""Eval generation: snap's batched greedy generation vs a one-prompt-at-a-time `model.generate` loop.

Same model, same prompts, same process, measured in alternating rounds (the machine may be shared: a ratio is only
compared with the baseline of its own round). Three ways to answer the same prompts greedily:
  loop     the baseline: one prompt at a time through plain `model.generate` (what a naive eval loop does)
  hf       length-bucketed, left-padded batches through `model.generate` (snap before issue 12)
  snap     `generate_chat`: the same batches through snap's greedy loop, which drops finished rows
Prints one JSON document: tokens/s of each per round, the median ratio and its spread (min-max), and whether the
batched outputs equal the loop's token for token. Where `vllm` is installed and a CUDA GPU is present, vLLM's
offline `LLM.generate` on the same prompts (greedy, same token limit) is measured too, against the same loop;
elsewhere the document says why it was skipped.
Usage: python benchmarks/bench_generation.py [--model smollm2] [--n 24] [--max-new-tokens 48] [--batch-size 16]
                                             [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from snapcli.models import load_causal_lm
from snapcli.models.generation import _hf_generate, eos_ids, generate_chat, render_chat

QUESTIONS = [
    "Who founded Microsoft?", "What is the capital of France?", "Explain photosynthesis in one sentence.",
    "Name three primary colors.", "What is 12 times 7?", "Write a short greeting for a birthday card.",
    "Why is the sky blue?", "What does a compiler do?", "Give me a tip for sleeping better.",
    "Who wrote Romeo and Juliet?", "What is the boiling point of water at sea level?",
    "Summarize the plot of Cinderella in two sentences, including the stepmother, the ball and the glass slipper.",
]


def _encode(tok, convs):
    return [tok(render_chat(tok, c), add_special_tokens=False)["input_ids"] for c in convs]


def loop_generate(model, tok, enc, max_new_tokens):
    """The baseline: plain greedy `model.generate`, one prompt at a time; new ids without end-of-sequence."""
    eos = eos_ids(model, tok)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    out = []
    for e in enc:
        ids = torch.tensor([e])
        with torch.inference_mode():
            o = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                               do_sample=False, temperature=None, top_p=None, top_k=None, pad_token_id=pad,
                               eos_token_id=sorted(eos))
        toks = o[0, len(e):].tolist()
        out.append(toks[: next((k for k, t in enumerate(toks) if t in eos), len(toks))])
    return out


def hf_batched(model, tok, enc, max_new_tokens, batch_size):
    """snap's previous path: length-bucketed batches through `model.generate`."""
    eos = eos_ids(model, tok)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    order = sorted(range(len(enc)), key=lambda i: len(enc[i]))
    res = [None] * len(enc)
    for s in range(0, len(order), batch_size):
        idx = order[s: s + batch_size]
        outs = _hf_generate(model, [enc[i] for i in idx], max_new_tokens=max_new_tokens, eos=eos, pad_id=pad,
                            temperature=0.0, top_p=1.0, gen=None, device=next(model.parameters()).device)
        for i, o in zip(idx, outs, strict=True):
            res[i] = o
    return res


def vllm_figure(model_path: str, prompts: list[str], max_new_tokens: int, loop_tokens_per_s: float) -> dict:
    """vLLM (PagedAttention, continuous batching) on the same prompts, when it can run here."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return {"skipped": "vllm is not installed (pip install vllm, on a machine with a CUDA GPU)"}
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA GPU"}
    from vllm import LLM, SamplingParams

    llm = LLM(model=model_path, dtype="auto")
    params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens)
    llm.generate(prompts[:2], params)  # warm-up (CUDA graphs, allocator)
    t0 = time.perf_counter()
    outs = llm.generate(prompts, params)
    s = time.perf_counter() - t0
    n_tok = sum(len(o.outputs[0].token_ids) for o in outs)
    return {"tokens_per_s": round(n_tok / s, 1), "speedup_vs_loop": round(n_tok / s / loop_tokens_per_s, 2),
            "gpu": torch.cuda.get_device_name(0)}


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    model, tok = load_causal_lm(args.model)
    convs = [[{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}] for i in range(args.n)]
    enc = _encode(tok, convs)
    generate_chat(model, tok, convs[:2], max_new_tokens=4, batch_size=2)  # warm-up
    loop_generate(model, tok, enc[:1], 4)
    rounds = []
    identical = True
    for _ in range(max(1, getattr(args, "repeats", 1))):
        t0, c0 = time.perf_counter(), time.process_time()
        ref = loop_generate(model, tok, enc, args.max_new_tokens)
        loop_s, loop_c = time.perf_counter() - t0, time.process_time() - c0
        t0 = time.perf_counter()
        hf = hf_batched(model, tok, enc, args.max_new_tokens, args.batch_size)
        hf_s = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        out = generate_chat(model, tok, convs, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
        snap_s, snap_c = time.perf_counter() - t0, time.process_time() - c0
        n_tok = sum(len(r) for r in ref)
        texts = [tok.decode(r, skip_special_tokens=True).strip() for r in ref]
        identical = identical and [o["text"] for o in out] == texts and hf == ref
        rounds.append({"tokens": n_tok, "loop_tokens_per_s": n_tok / loop_s,
                       "hf_batched_tokens_per_s": sum(map(len, hf)) / hf_s,
                       "snap_tokens_per_s": sum(o["completion_tokens"] for o in out) / snap_s,
                       # CPU seconds of this process: less sensitive than wall time to other jobs on the machine
                       "cpu_ratio_snap_vs_loop": (sum(o["completion_tokens"] for o in out) / snap_c) / (n_tok / loop_c),
                       "load_average_1m": os.getloadavg()[0]})
    from snapcli.models import resolve_model

    vllm = vllm_figure(resolve_model(args.model).path_or_id, [render_chat(tok, c) for c in convs],
                       args.max_new_tokens, statistics.median(r["loop_tokens_per_s"] for r in rounds))
    ratio = [r["snap_tokens_per_s"] / r["loop_tokens_per_s"] for r in rounds]
    ratio_hf = [r["hf_batched_tokens_per_s"] / r["loop_tokens_per_s"] for r in rounds]
    med = statistics.median
    return {
        "model": args.model, "prompts": args.n, "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size,
        "repeats": len(rounds), "torch_threads": torch.get_num_threads(),
        "loop_tokens_per_s": round(med(r["loop_tokens_per_s"] for r in rounds), 1),
        "hf_batched_tokens_per_s": round(med(r["hf_batched_tokens_per_s"] for r in rounds), 1),
        "batched_tokens_per_s": round(med(r["snap_tokens_per_s"] for r in rounds), 1),
        "speedup_batched_vs_loop": round(med(ratio), 2),
        "speedup_batched_vs_loop_range": [round(min(ratio), 2), round(max(ratio), 2)],
        "speedup_hf_batched_vs_loop": round(med(ratio_hf), 2),
        "speedup_hf_batched_vs_loop_range": [round(min(ratio_hf), 2), round(max(ratio_hf), 2)],
        "speedup_batched_vs_loop_cpu_time": round(med(r["cpu_ratio_snap_vs_loop"] for r in rounds), 2),
        "identical_to_loop": identical,
        "vllm": vllm,
        "rounds": [{k: round(v, 2) for k, v in r.items()} for r in rounds],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    print(json.dumps(run(ap.parse_args()), indent=2))


if __name__ == "__main__":
    main()
