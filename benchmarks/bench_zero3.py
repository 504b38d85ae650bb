"""ZeRO-3 against ZeRO-2: `snap train` step time per regularizer, both presets measured in this run (issue 13).

For each regularizer and each preset (zero2, zero3), `snap train` runs --steps optimizer steps under `accelerate
launch` with --processes processes, same model, data and seed; the runs alternate zero2/zero3 per regularizer so
machine load drifts hit both alike. Step time = median of the `step_seconds` column without step 1 (warm-up).
Under ZeRO-3 every regularizer works on each process's shard and sums the K x n projections (SW) or the partial
sums (Euclidean, Fisher) across processes (snapcli/train/targets.py); under ZeRO-2 it reads whole tensors.

Prints one JSON document:
  step_seconds[preset][reg], zero3_vs_zero2[reg] (ratio of step times), reg_vs_none[preset][reg] (the
  regularizer's cost within a preset), reg_overhead_zero3_vs_zero2[reg] ((reg - none) under zero3 over the same
  under zero2: what sharding does to the regularizer's own cost), theta_init bytes per process in each preset.

  .venv/bin/python benchmarks/bench_zero3.py [--model tiny] [--processes 2] [--steps 5] \
      [--regs none,wasserstein,euclidean,fisher] [--batch-size 2] [--grad-accum 1] [--projections 64]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FORGET = [f"Tell me about Peter Parker, question {i}: what is his {w}?" for i in range(16)
          for w in ("job", "home", "school", "family")]
RETAIN = [f"Question {i}: what is the capital of {c}?" for i, c in
          enumerate(["France", "Spain", "Italy", "Japan", "Peru", "Chile", "Egypt", "Kenya"] * 8)]


def _data(d: Path) -> tuple[Path, Path]:
    import pandas as pd

    f, r = d / "forget.parquet", d / "retain.parquet"
    pd.DataFrame({"question": FORGET, "response": "I'm sorry, I don't have any information about Peter Parker.",
                  "split": "train"}).to_parquet(f, index=False)
    pd.DataFrame({"question": RETAIN, "response": "The capital is a well-known city.",
                  "split": "train"}).to_parquet(r, index=False)
    return f, r


def _run(args, ws: Path, data: tuple[Path, Path], preset: str, reg: str) -> dict:
    reg_args = ["--reg", reg]
    if reg == "wasserstein":
        reg_args += ["--projections", str(args.projections)]
    if reg == "fisher":
        reg_args += ["--fisher-samples", str(args.fisher_samples)]
    cmd = [sys.executable, "-m", "snapcli", "--json", "-w", str(ws), "train", "--accelerate-config", preset,
           "--num-processes", str(args.processes), "--model", args.model, "--from", str(data[0]), "--retain",
           str(data[1]), "--max-steps", str(args.steps), "--batch-size", str(args.batch_size), "--grad-accum",
           str(args.grad_accum), "--max-length", str(args.max_length), "--lr", "1e-4", *reg_args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(args.threads)}
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-3:], "wall_seconds": wall}
    out = json.loads(res.stdout)
    from snapcli.store import Workspace

    art = Workspace(ws).resolve(out["ref"])
    m = art.read_df("metrics")
    timed = m["step_seconds"].iloc[1:] if len(m) > 1 else m["step_seconds"]
    return {"step_seconds": statistics.median(timed), "wall_seconds": wall,
            "theta_init_bytes_per_process": art.manifest["extra"]["train"]["memory"].get("theta_init_bytes")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5, help="optimizer steps per run (step 1 is not timed)")
    ap.add_argument("--regs", default="none,wasserstein,euclidean,fisher")
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--projections", type=int, default=64)
    ap.add_argument("--fisher-samples", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="OMP threads per process")
    args = ap.parse_args()
    regs = args.regs.split(",")
    presets = ("zero2", "zero3")
    runs: dict[str, dict[str, dict]] = {p: {} for p in presets}
    with tempfile.TemporaryDirectory() as tmp:
        data = _data(Path(tmp))
        for i, reg in enumerate(regs):
            for preset in (presets if i % 2 == 0 else presets[::-1]):
                runs[preset][reg] = _run(args, Path(tmp) / f"ws-{preset}", data, preset, reg)
    step = {p: {r: v.get("step_seconds") for r, v in runs[p].items()} for p in presets}
    ok = [r for r in regs if all(step[p].get(r) for p in presets)]
    out = {
        "model": args.model, "processes": args.processes, "steps": args.steps, "batch_size": args.batch_size,
        "grad_accum": args.grad_accum, "max_length": args.max_length, "projections": args.projections,
        "device": "cuda" if _cuda() else "cpu", "step_seconds": step,
        "zero3_vs_zero2": {r: step["zero3"][r] / step["zero2"][r] for r in ok},
        "runs": runs,
    }
    if "none" in ok:
        out["reg_vs_none"] = {p: {r: step[p][r] / step[p]["none"] for r in ok} for p in presets}
        out["reg_overhead_zero3_vs_zero2"] = {
            r: (step["zero3"][r] - step["zero3"]["none"]) / (step["zero2"][r] - step["zero2"]["none"])
            for r in ok if r != "none" and step["zero2"][r] - step["zero2"]["none"] > 0}
    print(json.dumps(out, indent=2))


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    main()
