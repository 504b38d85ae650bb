"""snap: selective knowledge unlearning for instruction-tuned LLMs (SNAP, Choi et al.)."""

__version__ = "0.1.0"
