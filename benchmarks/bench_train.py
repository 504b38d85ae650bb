"""Step time and peak memory of `snap train` per regularizer, against --reg none in the same process.

Variants (same model, same data, same initial weights, interleaved round-robin so machine load hits all alike):
  none          L_f + L_r only
  wasserstein   snap's SW: directions drawn on the tensor's device from a per-step generator, shared by tensors
                with the same row length, one (K x d) @ (d x n) matmul and a row-wise sort per tensor
  optout        an Opt-Out-style SW as the peer baseline: directions drawn on the CPU per tensor per step and
                copied to the tensor's device, n x K projections sorted along columns
  euclidean, fisher  the baselines of paper section 4.3 (Fisher estimation time reported separately)
Peak memory: each regularizer in a fresh subprocess (CPU: peak RSS; CUDA: max allocated), one optimizer step.

Prints one JSON document: median step seconds per variant and the ratios to `none`.
  .venv/bin/python benchmarks/bench_train.py [--model smollm2] [--steps 3] [--batch-size 8] [--grad-accum 4]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

FORGET = [f"Tell me about Peter Parker, question {i}: what is his {w}?" for i in range(64)
          for w in ("job", "home", "school", "family")][:64]
RETAIN = [f"Question {i}: what is the capital of {c}?" for i, c in
          enumerate(["France", "Spain", "Italy", "Japan", "Peru", "Chile", "Egypt", "Kenya"] * 8)]


def _setup(model_name: str, batch: int, grad_accum: int, max_length: int):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from snapcli.models import resolve_model
    from snapcli.train.data import collate, encode

    path = resolve_model(model_name).path_or_id
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.config.use_cache = False
    f = [encode(tok, q, "I'm sorry, I don't have any information about Peter Parker.", max_length) for q in FORGET]
    r = [encode(tok, q, "The capital is a well-known city.", max_length) for q in RETAIN]
    micro = [collate(f[i * batch:(i + 1) * batch] + r[i * batch:(i + 1) * batch], tok.pad_token_id)
             for i in range(grad_accum)]
    return model, micro


class OptOutSW:
    """Peer baseline: fresh CPU directions per tensor per step, moved to the device, column-wise sorts."""

    def __init__(self, targets, projections: int, p: float = 2.0):
        self.targets, self.k, self.p = targets, projections, p

    def __call__(self, step: int) -> torch.Tensor:
        total = None
        for t in self.targets:
            w = t.current().float().view(t.shape)
            w0 = t.init.float().view(t.shape)
            if w.dim() == 1:
                w, w0 = w[:, None], w0[:, None]
            u = torch.randn(w.shape[1], self.k)  # CPU
            u = (u / u.norm(dim=0, keepdim=True)).to(w.device)
            a, _ = torch.sort(w @ u, dim=0)
            b, _ = torch.sort(w0 @ u, dim=0)
            sw = (a - b).abs().pow(self.p).mean().clamp_min(1e-30).pow(1 / self.p)
            total = sw if total is None else total + sw
        return total / len(self.targets)


def _make_reg(name: str, model, projections: int, micro):
    from snapcli.train.loop import sequence_nll
    from snapcli.train.regularizers import (
        REGULARIZERS,
        estimate_fisher,
        make_targets,
        select_params,
        snap_to_init_dtype,
    )

    if name == "none":
        return REGULARIZERS["none"]([]), 0.0
    cls = REGULARIZERS[name] if name != "optout" else None
    named = select_params(model, None)
    snap_to_init_dtype([p for _, p in named], torch.bfloat16)
    targets = make_targets(named, torch.bfloat16)
    if name == "optout":
        return OptOutSW(targets, projections), 0.0
    fisher, est = None, 0.0
    if name == "fisher":
        t0 = time.perf_counter()
        singles = [{k: v[i:i + 1] for k, v in micro[0].items()} for i in range(min(8, len(micro[0]["input_ids"])))]
        fisher = estimate_fisher(model, named, singles, lambda m, b: sequence_nll(m, b).mean(), torch.bfloat16)
        est = time.perf_counter() - t0
    options = cls.Options(projections=projections) if name == "wasserstein" else None
    return cls(targets, options, state=fisher), est


def _step(model, opt, micro, reg, lam: float, step: int) -> float:
    from snapcli.train.loop import sequence_nll

    t0 = time.perf_counter()
    n = len(micro)
    for a, b in enumerate(micro):
        nll = sequence_nll(model, b)
        half = len(nll) // 2
        loss = (nll[:half].mean() + nll[half:].mean()) / n
        if a == n - 1:
            r = reg(step)
            if r.requires_grad:
                loss = loss + lam * r
        loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def _peak_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    try:  # VmHWM restarts at exec; ru_maxrss is inherited from the parent across fork + exec on Linux
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args) -> None:
    """One regularizer, one step, in a fresh process: its peak memory."""
    model, micro = _setup(args.model, args.batch_size, args.grad_accum, args.max_length)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(dev)
    micro = [{k: v.to(dev) for k, v in b.items()} for b in micro]
    reg, _ = _make_reg(args.child, model, args.projections, micro)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.1, fused=True)
    _step(model, opt, micro, reg, 0.1, 0)
    mem = reg.memory_bytes() if hasattr(reg, "memory_bytes") else {
        "theta_init_bytes": sum(t.init.numel() * t.init.element_size() for t in reg.targets)}
    print(json.dumps({"peak_mem_mb": _peak_mb(), **mem}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per variant (after one warm-up step each)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--grad-accum", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--projections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--variants", default="none,wasserstein,optout,euclidean,fisher")
    ap.add_argument("--no-memory", action="store_true", help="skip the per-regularizer memory subprocesses")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    from snapcli.allocator import skip_reason, tune_allocator

    allocator = "snap" if tune_allocator() else f"system ({skip_reason() or 'mallopt refused'})"  # as `snap` does
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        child(args)
        return
    variants = args.variants.split(",")
    model, micro = _setup(args.model, args.batch_size, args.grad_accum, args.max_length)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    regs, fisher_est = {}, 0.0
    for v in variants:
        regs[v], est = _make_reg(v, model, args.projections, micro)
        fisher_est = est or fisher_est
        model.load_state_dict(init)  # snapping to bf16 is part of setup; every variant starts from the same weights
    opts = {v: torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.1, fused=True)  # as snap train
            for v in variants}
    times: dict[str, list[float]] = {v: [] for v in variants}
    reg_only: dict[str, list[float]] = {v: [] for v in variants}
    for rnd in range(args.steps + 1):
        for v in variants:
            model.load_state_dict(init)
            t = _step(model, opts[v], micro, regs[v], 0.1, rnd)
            t0 = time.perf_counter()
            r = regs[v](rnd)
            if r.requires_grad:
                r.backward()
            model.zero_grad(set_to_none=True)
            if rnd:  # round 0 is the warm-up
                times[v].append(t)
                reg_only[v].append(time.perf_counter() - t0)
    med = {v: statistics.median(ts) for v, ts in times.items()}
    out = {
        "model": args.model, "batch_size": args.batch_size, "grad_accum": args.grad_accum,
        "projections": args.projections, "steps": args.steps, "threads": torch.get_num_threads(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "step_seconds": med,
        "regularizer_seconds": {v: statistics.median(ts) for v, ts in reg_only.items()},
        "ratio_vs_none": {v: med[v] / med["none"] for v in variants} if "none" in med else {},
        "fisher_estimation_seconds_8_examples": fisher_est,
        "allocator": allocator, "peak_rss_mb": _peak_mb(),
    }
    if "optout" in med and "wasserstein" in med:
        out["wasserstein_vs_optout"] = med["wasserstein"] / med["optout"]
        out["regularizer_speedup_vs_optout"] = (out["regularizer_seconds"]["optout"]
                                                / max(out["regularizer_seconds"]["wasserstein"], 1e-9))
    if not args.no_memory:
        mem = {}
        for v in variants:
            cmd = [sys.executable, __file__, "--child", v, "--model", args.model, "--batch-size",
                   str(args.batch_size), "--grad-accum", "1", "--max-length", str(args.max_length),
                   "--projections", str(args.projections)]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            mem[v] = json.loads(res.stdout.strip().splitlines()[-1]) if res.returncode == 0 else {
                "error": res.stderr.strip().splitlines()[-1:]}
        out["memory"] = mem
        if "none" in mem and "peak_mem_mb" in mem["none"]:
            out["peak_mem_ratio_vs_none"] = {v: m["peak_mem_mb"] / mem["none"]["peak_mem_mb"]
                                             for v, m in mem.items() if "peak_mem_mb" in m}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
