"""snap: selective knowledge unlearning for instruction-tuned LLMs (SNAP, Choi et al.)."""

import os as _os

__version__ = "0.1.0"

# DeepSpeed (imported by transformers and accelerate) prints a warning to *stdout* when it probes a machine without
# an accelerator; stdout carries `--json` documents and the benchmarks' results, so name the CPU up front. Here, not
# in the CLI, so that library use (benchmarks/, notebooks) gets the same clean stdout.
if not _os.environ.get("CUDA_VISIBLE_DEVICES") and not _os.path.exists("/dev/nvidia0"):
    _os.environ.setdefault("DS_ACCELERATOR", "cpu")
