"""A real 2-process `accelerate launch` with DeepSpeed ZeRO-2 + CPU optimizer offload, on CPU (gloo)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from traindata import write_pair  # noqa: E402

pytestmark = pytest.mark.slow


def test_zero2_cpu_offload_two_processes(tiny_model_dir, tmp_path, run_snap, ws):
    forget, retain = write_pair(tmp_path / "data", 8, 8)
    r = run_snap(
        "--json", "train", "--accelerate-config", "zero2", "--num-processes", "2",
        "--model", "tiny", "--from", str(forget), "--retain", str(retain), "--batch-size", "2", "--grad-accum", "2",
        "--max-length", "48", "--max-steps", "3", "--projections", "8", "--lr", "3e-3",
        env={"DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "1"}, timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)  # exactly one JSON document: only the main process prints
    art = ws.resolve(out["ref"])
    tr = art.manifest["extra"]["train"]
    assert tr["processes"] == 2 and tr["deepspeed_zero_stage"] == 2
    assert art.manifest["params"]["processes"] == 2
    m = art.read_df("metrics")
    assert list(m["step"]) == [1, 2, 3] and (m["reg"].iloc[1:] > 0).all()
    assert m["loss_f"].iloc[-1] < m["loss_f"].iloc[0]
    from snapcli.models import load_causal_lm

    model, _ = load_causal_lm(art.ref, ws)
    assert sum(p.numel() for p in model.parameters()) > 0


def test_zero3_refuses_regularizers_that_need_whole_tensors(run_snap, tmp_path):
    forget, retain = write_pair(tmp_path / "data", 4, 4)
    r = run_snap("train", "--accelerate-config", "zero3", "--num-processes", "2", "--model", "tiny",
                 "--from", str(forget), "--retain", str(retain), env={"DS_ACCELERATOR": "cpu"})
    assert r.returncode == 2 and "ZeRO-3" in r.stderr
    assert os.path.exists(tmp_path)
