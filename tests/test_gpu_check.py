"""benchmarks/gpu_check.sh can be run blindly: without CUDA it says so in one line and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a CUDA machine the script runs the whole GPU check")
def test_gpu_check_without_cuda_exits_0_with_one_line(tmp_path):
    env = {**os.environ, "SNAP_PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}
    r = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "work")], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines() == [
        "gpu_check: no CUDA device (torch.cuda.is_available() is False): nothing to check, exiting 0"]
    assert not (tmp_path / "work").exists()  # nothing was written


def test_gpu_check_is_strict_bash():
    text = SCRIPT.read_text()
    assert text.startswith("#!/usr/bin/env bash") and "set -u -o pipefail" in text
    assert os.access(SCRIPT, os.X_OK)
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
