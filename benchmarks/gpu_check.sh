#!/usr/bin/env bash
# GPU readiness check (issue 13), safe to run blindly on any machine:
#   benchmarks/gpu_check.sh [WORKDIR]
# On a CUDA machine, with the embedded SmolLM2-135M-Instruct and the curated Bill Gates set (no network needed):
#   1. bf16 full training and bf16 LoRA training, each with the zero2 preset on one GPU (the demo's recipe);
#   2. snap eval of the base model and both trained models with the hf backend, and with vLLM when it is
#      installed (the LoRA model through a merged `snap export`, since vLLM loads plain model directories);
#   3. ONE JSON document on stdout: step time, tokens/s and peak GPU memory per training run, UA/RA/TA/Avg per
#      model and backend, the device, versions and any step that failed (with its log's last lines).
# Without CUDA it prints one "no CUDA device" line and exits 0. Every step runs under `timeout`; a failed step is
# recorded and the others still run; the exit code is 1 if any step failed, else 0. Logs stay in WORKDIR.
# Knobs (environment): SNAP_PYTHON (default .venv/bin/python, else python3), GPU_CHECK_EPOCHS (2),
# GPU_CHECK_LIMIT (eval questions per set, 40), GPU_CHECK_TIMEOUT (seconds per step, 1800),
# GPU_CHECK_MODEL (smollm2). GPU_CHECK_ALLOW_CPU=1 GPU_CHECK_MODEL=tiny GPU_CHECK_MAX_STEPS=1 runs the same steps
# on a CPU, to test this script's plumbing (the numbers then mean nothing).
set -u -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${SNAP_PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY="$(command -v python3 || true)"; fi
fi
if [ -z "$PY" ] || ! "$PY" -c 'import snapcli, torch' >/dev/null 2>&1; then
  echo "gpu_check: no usable Python with snap and torch (set SNAP_PYTHON, or run make setup)" >&2
  exit 1
fi
if [ "${GPU_CHECK_ALLOW_CPU:-0}" != 1 ] &&
   ! timeout 120 "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
  echo "gpu_check: no CUDA device (torch.cuda.is_available() is False): nothing to check, exiting 0"
  exit 0
fi

WORK="${1:-$(mktemp -d "${TMPDIR:-/tmp}/snap-gpu-check.XXXXXX")}"
mkdir -p "$WORK"
WS="$WORK/ws"
EPOCHS="${GPU_CHECK_EPOCHS:-2}"
LIMIT="${GPU_CHECK_LIMIT:-40}"
TMO="${GPU_CHECK_TIMEOUT:-1800}"
MODEL="${GPU_CHECK_MODEL:-smollm2}"
LENGTH=(--epochs "$EPOCHS")
[ -n "${GPU_CHECK_MAX_STEPS:-}" ] && LENGTH=(--max-steps "$GPU_CHECK_MAX_STEPS")
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export SNAP_HOME="${SNAP_HOME:-$WORK/snap-home}"
STEPS_FILE="$WORK/steps.tsv"
: > "$STEPS_FILE"

# run NAME CMD...: stdout -> WORK/NAME.json, stderr -> WORK/NAME.log, the exit code into steps.tsv
run() {
  local name="$1"; shift
  local t0=$SECONDS
  timeout --kill-after=60 "$TMO" "$@" < /dev/null > "$WORK/$name.json" 2> "$WORK/$name.log"
  local rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t0))" >> "$STEPS_FILE"
  echo "gpu_check: $name exit $rc in $((SECONDS - t0)) s" >&2
  return $rc
}
SNAP=("$PY" -m snapcli --workspace "$WS")

run prepare "${SNAP[@]}" --json models prepare "$MODEL"
read -r -d '' DATA_PY <<'EOF'
import json, sys
from snapcli.store import Workspace
from snapcli.curated import import_example
arts = import_example(Workspace(sys.argv[1]), "bill-gates", general="builtin", general_size=100, general_train=60)
print(json.dumps({k: getattr(a, "ref", str(a)) for k, a in arts.items()}))
EOF
run data "$PY" -c "$DATA_PY" "$WS"

TRAIN=(train --model "$MODEL" --from filter@latest --retain-from both --reg wasserstein --lambda 0.1 "${LENGTH[@]}"
       --batch-size 8 --grad-accum 1 --max-length 128 --bf16 --accelerate-config zero2 --num-processes 1)
run train_full "${SNAP[@]}" --json "${TRAIN[@]}" --lr 1e-4
run train_lora "${SNAP[@]}" --json "${TRAIN[@]}" --lr 5e-4 --lora

ref_of() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["ref"])' "$WORK/$1.json" 2>/dev/null; }
FULL="$(ref_of train_full || true)"
LORA="$(ref_of train_lora || true)"
EVAL=(eval --limit "$LIMIT" --max-new-tokens 32 --judge embedding --sets forget,retain,general)
run eval_hf_base "${SNAP[@]}" --json "${EVAL[@]}" --backend hf --model "$MODEL"
[ -n "$FULL" ] && run eval_hf_full "${SNAP[@]}" --json "${EVAL[@]}" --backend hf --model "$FULL"
[ -n "$LORA" ] && run eval_hf_lora "${SNAP[@]}" --json "${EVAL[@]}" --backend hf --model "$LORA"
if "$PY" -c 'import vllm' >/dev/null 2>&1; then
  run eval_vllm_base "${SNAP[@]}" --json "${EVAL[@]}" --backend vllm --model "$MODEL"
  [ -n "$FULL" ] && run eval_vllm_full "${SNAP[@]}" --json "${EVAL[@]}" --backend vllm --model "$FULL"
  if [ -n "$LORA" ] && run export_lora "${SNAP[@]}" --json export "$LORA" --merge --out "$WORK/lora-merged"; then
    run eval_vllm_lora "${SNAP[@]}" --json "${EVAL[@]}" --backend vllm --model "$WORK/lora-merged"
  fi
fi

"$PY" - "$WORK" "$WS" <<'EOF'
import json, statistics, sys
from pathlib import Path

import torch

work, ws_path = Path(sys.argv[1]), sys.argv[2]
steps = [line.split("\t") for line in (work / "steps.tsv").read_text().splitlines() if line.strip()]
cuda = torch.cuda.is_available()
out = {"device": {"gpu": torch.cuda.get_device_name(0) if cuda else None, "torch": torch.__version__,
                  "cuda": torch.version.cuda,
                  "gpu_memory_gb": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if cuda else None},
       "workdir": str(work), "steps": {n: {"exit": int(rc), "seconds": int(s)} for n, rc, s in steps},
       "train": {}, "eval": {}, "errors": []}
try:
    import snapcli
    out["device"]["snap"] = snapcli.__version__
    import vllm
    out["device"]["vllm"] = vllm.__version__
except ImportError:
    out["device"]["vllm"] = None


def doc(name):
    try:
        return json.loads((work / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None


from snapcli.store import Workspace  # noqa: E402

ws = Workspace(ws_path)
for name in ("train_full", "train_lora"):
    d = doc(name)
    if not d:
        continue
    m = ws.resolve(d["ref"]).read_df("metrics")
    timed = m.iloc[1:] if len(m) > 1 else m  # step 1 includes warm-up (kernels, allocator)
    out["train"][name.removeprefix("train_")] = {
        "ref": d["ref"], "steps": int(m["step"].max()), "step_seconds_median": statistics.median(timed["step_seconds"]),
        "tokens_per_s_median": statistics.median(timed["tokens_per_s"]), "peak_mem_mb": float(m["peak_mem_mb"].max()), "peak_mem_is": "GPU" if cuda else "CPU RSS",
        "loss_f": [float(m["loss_f"].iloc[0]), float(m["loss_f"].iloc[-1])], "reg_last": float(m["reg"].iloc[-1])}
for n, _, _ in steps:
    if n.startswith("eval_") and (d := doc(n)):
        backend, model = n.split("_")[1:3]
        out["eval"].setdefault(backend, {})[model] = {
            k: (d.get("metrics", {}).get(k) or {}).get("mean") for k in ("UA", "UA-multihop", "RA", "TA", "Avg")}
for n, rc, _ in steps:
    if rc != "0":
        tail = (work / f"{n}.log").read_text(errors="replace").splitlines()[-5:] if (work / f"{n}.log").exists() else []
        out["errors"].append({"step": n, "exit": int(rc), "log_tail": tail})
print(json.dumps(out, indent=2, default=float))
EOF
rc=$?
if [ $rc -ne 0 ]; then echo "gpu_check: could not assemble the report (see $WORK)" >&2; exit 1; fi
if awk -F'\t' '$2 != 0 {bad=1} END {exit bad ? 0 : 1}' "$STEPS_FILE"; then exit 1; fi
exit 0
