"""`make bench`: every performance claim of snap as ONE JSON document of ratios, each measured in this run
against its baseline in the same process (or, for peak memory, in sibling processes of this run).

  training step time   wasserstein vs none, wasserstein vs an Opt-Out-style SW, every regularizer vs none
                       (benchmarks/bench_train.py)
  allocator            training step time and peak memory with snap's malloc settings vs glibc's defaults, each in
                       its own fresh process (benchmarks/bench_allocator.py; snapcli/allocator.py)
  training loss        snap's NLL (logits only at labelled columns, the shared prompt start run once) vs a plain
                       forward + backward on a demo-shaped batch, with the loss/gradient differences
                       (benchmarks/bench_loss.py)
  eval generation      snap's batched greedy generation (length buckets, shared prefix, finished rows dropped) vs a
                       one-prompt-at-a-time `model.generate` loop, tokens/s, median of alternating rounds; also
                       batched `model.generate`, and vLLM where installed with a GPU (benchmarks/bench_generation.py)
  filter               seconds for 10,000 questions; blocked dedup vs the naive loop (benchmarks/bench_filter.py)
  judge                responses/s of each refusal judge, on the curated set's refusals and answers
  peak memory          each regularizer relative to none (bench_train.py's per-regularizer subprocesses)
  zero3                ZeRO-3 vs ZeRO-2 step time per regularizer, 2 processes of `tiny` (benchmarks/bench_zero3.py;
                       --full: every regularizer and 5 steps)

The defaults keep the whole run to a few minutes on 2 CPU cores; `--full` uses the sub-benchmarks' own,
bigger defaults (the paper's batch of 8 x 4, 24 prompts x 48 tokens), and each size has its own flag.

    .venv/bin/python benchmarks/run_all.py [--full] [--model smollm2] [--skip train,generation,filter,judge]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

PARTS = ["train", "allocator", "loss", "generation", "filter", "judge", "zero3"]


def _json_of(main, argv: list[str]) -> dict:
    """Run a benchmark script's main() with these arguments and read the one JSON document it prints."""
    old = sys.argv
    buf = io.StringIO()
    sys.argv = [main.__module__, *argv]
    try:
        with contextlib.redirect_stdout(buf):
            main()
    finally:
        sys.argv = old
    return json.loads(buf.getvalue())


def bench_train(args) -> dict:
    import bench_train as bt

    steps = 3 if args.full else args.train_steps
    argv = ["--model", args.model, "--steps", str(steps), "--variants", args.train_variants]
    if not args.full:
        argv += ["--batch-size", "4", "--grad-accum", "1", "--max-length", "128"]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    return _json_of(bt.main, argv)


def bench_allocator(args) -> dict:
    import bench_allocator as ba

    argv = ["--model", args.model, "--steps", "3" if args.full else "2", "--rounds", "2" if args.full else "1"]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    return _json_of(ba.main, argv)


def bench_loss(args) -> dict:
    import bench_loss as bl

    argv = ["--model", args.model, "--repeats", "3" if args.full else "2"]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    return _json_of(bl.main, argv)


def bench_generation(args) -> dict:
    import bench_generation as bg

    from snapcli.stages.eval import EvalSpec

    n, tokens = (96, 48) if args.full else (args.gen_prompts, args.gen_tokens)
    # `snap eval`'s default batch; rounds alternate loop and batched runs so a shared machine hits both alike
    return bg.run(argparse.Namespace(model=args.model, n=n, max_new_tokens=tokens,
                                     batch_size=EvalSpec.defaults()["batch_size"], repeats=args.gen_repeats))


def bench_filter(args) -> dict:
    import bench_filter as bf

    return _json_of(bf.main, ["--n", str(args.filter_n), "--threads", str(args.threads or 2)])


def bench_judge(args) -> dict:
    """Responses per second of each judge over the curated set's refusals (forget) and answers (retain)."""
    from snapcli.curated import load_example
    from snapcli.evaluate.judge import JUDGES, get_judge

    sets = load_example("bill-gates")
    qs = sets["forget"]["question"].tolist() + sets["retain"]["question"].tolist()
    rs = sets["forget"]["response"].tolist() + sets["retain"]["response"].tolist()
    reps = max(1, args.judge_n // len(qs))
    qs, rs = qs * reps, rs * reps
    out: dict = {"responses": len(rs)}
    for name in [j for j in JUDGES if j != "llm"]:  # the llm judge's speed is the endpoint's, not snap's
        judge = get_judge(name)
        judge.judge(qs[:8], rs[:8])  # warm-up: model load is not per-response cost
        t0 = time.perf_counter()
        verdicts = judge.judge(qs, rs)
        s = time.perf_counter() - t0
        n_forget = len(sets["forget"]) * reps
        correct = sum(v.obliterated for v in verdicts[:n_forget]) + sum(not v.obliterated for v in verdicts[n_forget:])
        out[name] = {"seconds": round(s, 3), "responses_per_s": round(len(rs) / s, 1),
                     "agreement_with_curated_labels": round(correct / len(rs), 4)}
    return out


def bench_zero3(args) -> dict:
    import bench_zero3 as bz

    regs = "none,wasserstein,euclidean,fisher" if args.full else "none,wasserstein"
    return _json_of(bz.main, ["--model", "tiny", "--steps", "5" if args.full else "3", "--regs", regs])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="the sub-benchmarks' bigger default sizes")
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--skip", default="", help=f"comma list of parts to leave out ({', '.join(PARTS)})")
    ap.add_argument("--train-steps", type=int, default=1, help="timed optimizer steps per regularizer (--full: 3)")
    ap.add_argument("--train-variants", default="none,wasserstein,optout,euclidean,fisher")
    ap.add_argument("--gen-prompts", type=int, default=48)
    ap.add_argument("--gen-tokens", type=int, default=32)
    ap.add_argument("--gen-repeats", type=int, default=2, help="generation rounds (median and min-max reported)")
    ap.add_argument("--filter-n", type=int, default=10_000)
    ap.add_argument("--judge-n", type=int, default=640)
    args = ap.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    bad = skip - set(PARTS)
    if bad:
        ap.error(f"unknown part(s) {', '.join(sorted(bad))} (choose from {', '.join(PARTS)})")
    from snapcli.allocator import tune_allocator

    tune_allocator()  # every part measures snap as the `snap` command runs it
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    t_all = time.perf_counter()
    raw: dict = {}
    seconds: dict = {}
    for part, fn in (("train", bench_train), ("allocator", bench_allocator), ("loss", bench_loss),
                     ("generation", bench_generation), ("filter", bench_filter), ("judge", bench_judge),
                     ("zero3", bench_zero3)):
        if part in skip:
            continue
        t0 = time.perf_counter()
        raw[part] = fn(args)
        seconds[part] = round(time.perf_counter() - t0, 1)
        print(f"run_all: {part} done in {seconds[part]}s", file=sys.stderr)

    ratios: dict = {}
    if "train" in raw:
        t = raw["train"]
        r = t.get("ratio_vs_none", {})
        ratios["train_step_wasserstein_vs_none"] = r.get("wasserstein")
        ratios["train_step_wasserstein_vs_optout_sw"] = t.get("wasserstein_vs_optout")
        ratios["train_regularizer_speedup_vs_optout_sw"] = t.get("regularizer_speedup_vs_optout")
        ratios["train_step_vs_none"] = r
        ratios["peak_memory_vs_none"] = t.get("peak_mem_ratio_vs_none")
    if "allocator" in raw:
        ratios["train_step_snap_malloc_vs_glibc_default"] = raw["allocator"].get("speedup_snap_vs_system")
        ratios["peak_memory_snap_malloc_vs_glibc_default"] = raw["allocator"].get("peak_rss_ratio_snap_vs_system")
    if "loss" in raw:
        ratios["train_loss_vs_plain_forward"] = raw["loss"].get("speedup_vs_plain")
        ratios["train_loss_difference_from_plain"] = raw["loss"].get("difference_from_plain")
    if "generation" in raw:
        g = raw["generation"]
        ratios["eval_generation_batched_vs_loop_tokens_per_s"] = g.get("speedup_batched_vs_loop")
        ratios["eval_generation_batched_vs_loop_range"] = g.get("speedup_batched_vs_loop_range")
        ratios["eval_generation_hf_generate_batched_vs_loop"] = g.get("speedup_hf_batched_vs_loop")
        ratios["eval_generation_identical_to_loop"] = g.get("identical_to_loop")
        ratios["eval_generation_vllm_vs_loop"] = (g.get("vllm") or {}).get("speedup_vs_loop",
                                                                          (g.get("vllm") or {}).get("skipped"))
    if "filter" in raw:
        f = raw["filter"]
        ratios["filter_seconds_for_n_questions"] = f.get("filter_total_s")
        ratios["filter_questions"] = f.get("questions")
        dedup = f.get("dedup")
        ratios["filter_dedup_blocked_vs_naive"] = (
            {k: v.get("speedup_vs_naive") for k, v in dedup.items()} if isinstance(dedup, dict)
            else f.get("dedup_speedup_vs_naive"))
    if "judge" in raw:
        ratios["judge_responses_per_s"] = {k: v["responses_per_s"] for k, v in raw["judge"].items()
                                           if isinstance(v, dict)}
    if "zero3" in raw:
        ratios["train_step_zero3_vs_zero2"] = raw["zero3"].get("zero3_vs_zero2")
    doc = {
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                    "load_average_1m": round(os.getloadavg()[0], 2)},
        "full": args.full, "seconds": {**seconds, "total": round(time.perf_counter() - t_all, 1)},
        "ratios": ratios, "details": raw,
    }
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
