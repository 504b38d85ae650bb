"""Model registry: aliases, embedded offline defaults, loading."""

from snapcli.models.embedded import ensure_smollm2, ensure_tiny
from snapcli.models.loading import load_causal_lm, load_tokenizer, pick_device, pick_dtype
from snapcli.models.registry import (
    ALIASES,
    ResolvedModel,
    embedder_path,
    model_defaults,
    resolve_model,
    snap_home,
)

__all__ = [
    "ALIASES", "ResolvedModel", "embedder_path", "ensure_smollm2", "ensure_tiny", "load_causal_lm",
    "load_tokenizer", "model_defaults", "pick_device", "pick_dtype", "resolve_model", "snap_home",
]
