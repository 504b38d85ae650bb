"""Every training path really runs (issue 13), with real processes on CPU (gloo; DeepSpeed with DS_ACCELERATOR=cpu):

- the matrix {single, ddp, zero2, zero3} x {full, lora}: 2 processes for the multi-process presets, 2 optimizer
  steps of `tiny` each, regularizers rotated so each one runs under ZeRO-3, then `snap eval --limit 2` on the
  result; under ZeRO-3 (1 and 2 processes) R of the published weights equals the single-process value;
- kill -9 of a whole zero2 run, then resume: the same weights, metrics and LR schedule as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
from traindata import register_data  # noqa: E402

from snapcli.store import Workspace  # noqa: E402

pytestmark = pytest.mark.slow

ENV = {"DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "1"}
TINY = ["--model", "tiny", "--batch-size", "1", "--grad-accum", "2", "--max-length", "32", "--lr", "3e-3"]
REG_ARGS = {"wasserstein": ["--reg", "wasserstein", "--projections", "8"], "euclidean": ["--reg", "euclidean"],
            "fisher": ["--reg", "fisher", "--fisher-samples", "4"], "none": ["--reg", "none"]}
LORA = ["--lora", "--lora-r", "4", "--lora-alpha", "8"]
# (preset, processes, lora, regularizer): every regularizer once under ZeRO-3, each preset with and without LoRA
CELLS = [
    ("single", 1, False, "wasserstein"),
    ("single", 1, True, "fisher"),
    ("ddp", 2, False, "fisher"),
    ("ddp", 2, True, "euclidean"),
    ("zero2", 2, False, "euclidean"),
    ("zero2", 2, True, "wasserstein"),
    ("zero3", 2, False, "wasserstein"),
    ("zero3", 2, True, "fisher"),
]  # + euclidean under ZeRO-3 with 1 process: test_zero3_regularizer_gradient_matches_one_process


def _train(run_snap, ref: str, preset: str, procs: int, *args: str, timeout: float = 600):
    r = run_snap("--json", "train", "--accelerate-config", preset, "--num-processes", str(procs), "--from", ref,
                 *TINY, *args, env=ENV, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)  # exactly one JSON document: only the main process prints


def reference_reg(ws: Workspace, ref: str) -> float:
    """R of a published model recomputed in this process on whole tensors, as the single-process loop sets it
    up (theta_init rounded to bf16 or the frozen LoRA base, Fisher of the first retain examples, the directions
    of the last step), for comparison with the run's own final R."""
    from transformers import AutoTokenizer

    from snapcli.models import load_causal_lm
    from snapcli.models.loading import load_weights
    from snapcli.train.data import collate, encode_all, train_rows
    from snapcli.train.nll import sequence_nll
    from snapcli.train.regularizers import RegSpec, Target, make_targets, select_params, snap_to_init_dtype

    art = ws.resolve(ref)
    p = art.manifest["params"]
    spec = RegSpec(**p["reg"])
    cls, options = spec.regularizer, spec.build_options()
    start_path = p["base_weights"]["path"]
    base = load_weights(start_path, dtype=torch.float32)
    named = select_params(base, spec.params)
    if p["lora"]:
        named = [(n, q) for n, q in named if any(n.endswith(f"{t}.weight") for t in p["lora"]["targets"])]
    else:
        snap_to_init_dtype([q for _, q in named], spec.torch_init_dtype)
    retain = pd.concat([train_rows(ws.load(i["stage"], i["version"]).read_df("retain"), "", "retain")
                        for k, i in sorted(art.manifest["inputs"].items()) if k.startswith("retain")])
    tok = AutoTokenizer.from_pretrained(start_path)
    r_ex = encode_all(tok, retain, p["max_length"], p["loss_on"])
    examples = (collate([e], tok.pad_token_id) for e in r_ex)
    state = cls.estimate(base, named, examples, lambda m, b: sequence_nll(m, b).mean(), spec.torch_init_dtype,
                         options)
    init = make_targets(named, torch.float32 if p["lora"] else spec.torch_init_dtype)
    trained, _ = load_causal_lm(art.ref, ws)
    now = dict(trained.named_parameters())
    targets = [Target(t.name, t.shape, (lambda n=t.name: now[n].reshape(-1)), t.init) for t in init]
    with torch.no_grad():
        return float(cls(targets, options, seed=p["seed"], state=state)(art.manifest["extra"]["train"]["steps"]))


@pytest.mark.parametrize("preset,procs,lora,reg", CELLS,
                         ids=[f"{c[0]}-{c[1]}p-{'lora' if c[2] else 'full'}-{c[3]}" for c in CELLS])
def test_training_path_runs_and_evaluates(tiny_model_dir, ws, run_snap, cli, preset, procs, lora, reg):
    flt, _ = register_data(ws)
    merge = lora and preset == "zero3"  # merging needs whole weights: under ZeRO-3 the adapter is merged on reload
    out = _train(run_snap, flt.ref, preset, procs, "--max-steps", "2", *REG_ARGS[reg], *(LORA if lora else []),
                 *(["--merge-lora"] if merge else []))
    art = ws.resolve(out["ref"])
    tr = art.manifest["extra"]["train"]
    assert tr["processes"] == procs and art.manifest["params"]["processes"] == procs
    assert tr["deepspeed_zero_stage"] == ({"zero2": 2, "zero3": 3}.get(preset))
    m = art.read_df("metrics")
    assert list(m["step"]) == [1, 2] and m["reg"].iloc[0] == pytest.approx(0, abs=1e-12)  # theta == theta_init
    assert m["reg"].iloc[1] > 0 and (m["loss_r"] > 0).all()
    if not lora:
        assert m["loss_f"].iloc[-1] < m["loss_f"].iloc[0]
    assert list(m["lr"]) == [3e-3, 1.5e-3]  # the linear schedule, stepped once per optimizer step
    assert (art.path / "model" / ("adapter_config.json" if lora and not merge else "config.json")).exists()
    if preset == "zero3":
        # every process holds only its shard of theta_init and the Fisher estimate
        numel = sum(v.numel() for v in load_file(tiny_model_dir / "model.safetensors").values())
        if not lora:
            assert tr["memory"]["theta_init_bytes"] <= 2 * numel // procs + 1024
        assert tr["final_reg"] == pytest.approx(reference_reg(ws, art.ref), rel=1e-5)

    r = cli("--json", "eval", "-m", art.ref, "--limit", "2", "--max-new-tokens", "8", "--judge", "rules")
    assert r.exit_code == 0, r.output
    assert {"UA", "RA", "TA"} <= set(json.loads(r.stdout)["metrics"])


def test_zero3_regularizer_gradient_matches_one_process(tiny_model_dir, ws, run_snap):
    """ZeRO-3 hands lambda * dR/d(shard) to DeepSpeed's partitioned gradients: with a strong Euclidean pull the
    trajectory (losses and R per step) is the single-process one; without the hand-over it would not be."""
    from snapcli.stages import get
    from snapcli.stages.base import run as run_stage
    from snapcli.stages.train import TrainSpec

    flt, _ = register_data(ws)
    args = ["--max-steps", "3", "--lambda", "50", "--reg", "euclidean"]
    out = _train(run_snap, flt.ref, "zero3", 1, *args)
    z3 = ws.resolve(out["ref"]).read_df("metrics")
    spec = TrainSpec.build({"from": [flt.ref], "model": "tiny", "max_steps": 3, "lr": 3e-3, "batch_size": 1,
                            "grad_accum": 2, "max_length": 32, "reg": "euclidean", "lambda": 50})
    # force: the same params and inputs are the same run to the cache, whichever preset trained it
    single = run_stage(ws, get("train"), spec, force=True)[0].read_df("metrics")
    cols = ["loss_f", "loss_r", "reg", "lr"]
    pd.testing.assert_frame_equal(z3[cols], single[cols], rtol=1e-3)
    assert ws.resolve(out["ref"]).manifest["extra"]["train"]["final_reg"] == pytest.approx(
        reference_reg(ws, out["ref"]), rel=1e-5)


def test_killed_zero2_run_resumes_identically(tiny_model_dir, tmp_path, snap_bin):
    """kill -9 of the whole process tree (launcher and both ranks), then the same command: it continues from the
    last checkpoint with the same weights, metrics and LR schedule (warm-up + linear decay) as a run never
    interrupted."""
    runs = {}
    for name in ("kill", "fresh"):
        ws = Workspace(tmp_path / f"ws-{name}")
        runs[name] = (ws, register_data(ws)[0].ref)
    args = ["train", "--accelerate-config", "zero2", "--num-processes", "2", *TINY, "--max-steps", "4",
            "--save-every", "1", "--warmup-ratio", "0.25", *REG_ARGS["wasserstein"]]
    env = {**os.environ, **ENV}
    ws_kill, ref = runs["kill"]
    proc = subprocess.Popen([snap_bin, "-w", str(ws_kill.root), "-q", *args, "--from", ref], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    scratch = Path(ws_kill.root) / ".scratch" / "train"
    deadline = time.monotonic() + 500
    while time.monotonic() < deadline and not list(scratch.glob("*/step-*/trainer.json")):
        assert proc.poll() is None, "the run ended before its first checkpoint"
        time.sleep(0.05)
    # the whole tree: torch's launcher starts the ranks in sessions of their own, so a process-group kill
    # would leave them training (and publishing) as orphans
    parent = psutil.Process(proc.pid)
    tree = [parent, *parent.children(recursive=True)]
    assert len(tree) >= 4, tree  # snap, the launcher, 2 ranks
    for p in tree:
        p.send_signal(signal.SIGKILL)
    proc.wait()
    psutil.wait_procs(tree, timeout=30)
    assert not list((Path(ws_kill.root) / "train").glob("v*")), "nothing may be published"
    killed_at = max(int(p.name.split("-")[1]) for p in scratch.glob("*/step-*") if (p / "trainer.json").exists())
    assert killed_at < 4

    outs = {}
    for name, (ws, ref) in runs.items():
        r = subprocess.run([snap_bin, "-w", str(ws.root), "--json", *args, "--from", ref], env=env,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        outs[name] = json.loads(r.stdout)
    assert outs["kill"]["resumed_from_step"] == killed_at and outs["fresh"]["resumed_from_step"] == 0
    a = load_file(Path(outs["kill"]["model_dir"]) / "model.safetensors")
    b = load_file(Path(outs["fresh"]["model_dir"]) / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=0, atol=1e-6), k
    ma = runs["kill"][0].resolve("train@latest").read_df("metrics")
    mb = runs["fresh"][0].resolve("train@latest").read_df("metrics")
    cols = ["step", "loss_f", "loss_r", "reg", "lr"]
    pd.testing.assert_frame_equal(ma[cols], mb[cols], rtol=1e-5)
    assert list(mb["lr"]) == pytest.approx([0.0, 3e-3, 2e-3, 1e-3])  # 1 warm-up step from 0, then linear decay
    assert not list(scratch.glob("*/step-*")), "checkpoints are removed once the run is published"
