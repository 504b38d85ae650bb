"""Training step time and peak memory with snap's malloc settings (snapcli/allocator.py) against glibc's defaults.

The setting is per process and cannot be undone, so each side runs `bench_train.py --variants wasserstein` (the
SNAP objective's step: L_f + L_r + lambda * SW) in its own fresh process: default (tuned, as `snap` is) and
`SNAP_MALLOC=system` (glibc's defaults), alternating for --rounds rounds so machine load hits both alike. Prints one
JSON document: median step seconds of each side, the ratio system/snap (> 1: snap's setting is faster), and each
side's peak RSS.

    .venv/bin/python benchmarks/bench_allocator.py [--model smollm2] [--steps 3] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

BENCH_TRAIN = Path(__file__).resolve().parent / "bench_train.py"


def one(mode: str, args) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "SNAP_MALLOC"}
    if mode == "system":
        env["SNAP_MALLOC"] = "system"
    # the demo's micro-batch shape: 8 forget + 8 retain rows, one micro-batch per step
    cmd = [sys.executable, str(BENCH_TRAIN), "--model", args.model, "--variants", "wasserstein", "--no-memory",
           "--steps", str(args.steps), "--batch-size", "8", "--grad-accum", "1", "--max-length", "96"]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"bench_allocator: {mode} run failed: {res.stderr.strip().splitlines()[-1:]}")
    return json.loads(res.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per process (after one warm-up step)")
    ap.add_argument("--rounds", type=int, default=1, help="alternating pairs of processes")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    runs: dict[str, list[dict]] = {"snap": [], "system": []}
    for _ in range(args.rounds):
        for mode in ("system", "snap"):
            runs[mode].append(one(mode, args))
    step = {m: statistics.median(r["step_seconds"]["wasserstein"] for r in rs) for m, rs in runs.items()}
    peak = {m: max(r["peak_rss_mb"] for r in rs) for m, rs in runs.items()}
    print(json.dumps({
        "model": args.model, "steps": args.steps, "rounds": args.rounds,
        "allocator": {m: rs[0]["allocator"] for m, rs in runs.items()},
        "step_seconds": step,
        "speedup_snap_vs_system": step["system"] / step["snap"],
        "peak_rss_mb": peak,
        "peak_rss_ratio_snap_vs_system": peak["snap"] / peak["system"],
    }, indent=2))


if __name__ == "__main__":
    main()
