"""`snap export`: any model snap can load, as a directory that plain transformers (or peft) loads without snap.

- A full model (a train artifact without LoRA, a local dir, an alias): its files are copied (safetensors, config,
  tokenizer, generation config); a hub id is loaded and saved.
- A LoRA adapter with `merge=True`: the base model with the adapter chain merged in, saved as safetensors in the
  base model's dtype, plus the tokenizer and generation config: `AutoModelForCausalLM.from_pretrained(out)`.
- A LoRA adapter without merging: the adapter alone (adapter_model.safetensors + adapter_config.json, whose
  `base_model_name_or_path` names the base model's absolute directory or hub id) and the tokenizer:
  `AutoPeftModelForCausalLM.from_pretrained(out)`. An adapter trained on top of another adapter (sequential
  unlearning) only exists merged with that one, so it needs `merge=True`.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from snapcli.errors import SnapError
from snapcli.models.registry import ADAPTER_CONFIG, ResolvedModel, resolve_model

_DTYPES = {"auto": None, "float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
           "float16": "float16", "fp16": "float16"}
_SKIP = {"README.md"}  # peft's auto-generated model card says nothing about this model


@dataclass
class ExportResult:
    """What `export_model` wrote: `kind` is "full" (a full model copied or re-saved), "merged" (adapters merged
    into their base) or "adapter" (the adapter alone, on `base`)."""

    out: Path
    kind: str
    source: str
    base: str | None = None
    dtype: str | None = None
    files: list[str] = field(default_factory=list)


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SnapError(f"--out {out} already exists and is not an empty directory")
    if not out.parent.exists():
        raise SnapError(f"--out {out}: the parent directory {out.parent} does not exist")


def _copy_dir(src: Path, dst: Path) -> None:
    for p in sorted(src.iterdir()):
        if p.is_file() and p.name not in _SKIP:
            shutil.copy2(p, dst / p.name)


def _save_merged(rm: ResolvedModel, dst: Path, dtype: str | None) -> str:
    import torch
    from transformers import AutoConfig

    from snapcli.models.loading import load_weights, tokenizer_for

    if dtype is None:  # the base model's own storage dtype (bf16 for most 7B checkpoints)
        cfg = AutoConfig.from_pretrained(rm.weights_path)
        stored = getattr(cfg, "dtype", None) or getattr(cfg, "torch_dtype", None)
        dtype = str(stored).removeprefix("torch.") if stored else "float32"
    model = load_weights(rm.weights_path, rm.adapters, dtype=torch.float32)  # merge in fp32, then cast
    model = model.to(getattr(torch, dtype))
    model.config.use_cache = True
    model.save_pretrained(dst, safe_serialization=True)
    tokenizer_for(rm).save_pretrained(dst)
    if model.generation_config is not None:
        model.generation_config.save_pretrained(dst)
    return dtype


def export_model(name: str, out: Path | str, *, ws=None, merge: bool = False, dtype: str = "auto",
                 resolved: ResolvedModel | None = None) -> ExportResult:
    """Write model `name` (alias, train artifact ref, local dir or hub id) to the new directory `out`.

    Written into a hidden sibling directory and renamed, so a failed export leaves nothing at `out`. `dtype`
    (auto = the base model's) applies to merged exports and re-saved hub models. Errors are SnapErrors."""
    out = Path(out).expanduser().resolve()
    if dtype not in _DTYPES:
        raise SnapError(f"--dtype must be one of {', '.join(_DTYPES)} (got {dtype})")
    _check_out(out)
    rm = resolved or resolve_model(name, ws)
    tmp = out.parent / f".{out.name}.export-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    tmp.mkdir()
    try:
        if rm.is_adapter and not merge:
            if len(rm.adapters) > 1:
                raise SnapError(f"{name} is a LoRA adapter trained on top of another adapter "
                                f"({rm.adapters[-2]}): export it with --merge")
            src = Path(rm.path_or_id)
            _copy_dir(src, tmp)
            cfg = json.loads((src / ADAPTER_CONFIG).read_text())
            cfg["base_model_name_or_path"] = rm.base
            (tmp / ADAPTER_CONFIG).write_text(json.dumps(cfg, indent=2, sort_keys=True))
            res = ExportResult(out, "adapter", rm.path_or_id, base=rm.base)
        elif rm.is_adapter:
            used = _save_merged(rm, tmp, _DTYPES[dtype])
            res = ExportResult(out, "merged", rm.path_or_id, base=rm.base, dtype=used)
        elif Path(rm.path_or_id).is_dir() and _DTYPES[dtype] is None:
            _copy_dir(Path(rm.path_or_id), tmp)
            res = ExportResult(out, "full", rm.path_or_id)
        else:
            used = _save_merged(rm, tmp, _DTYPES[dtype])
            res = ExportResult(out, "full", rm.path_or_id, dtype=used)
        res.files = sorted(p.name for p in tmp.iterdir())
        if out.exists():
            out.rmdir()
        os.rename(tmp, out)
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def standalone_dir(rm: ResolvedModel) -> str:
    """A directory or hub id that any engine loads as a plain model (vLLM, `transformers serve`): the model
    itself, or for a LoRA adapter its merged export, made once and cached under SNAP_HOME/cache/merged/ by the
    content hashes of the base and the adapters."""
    from snapcli.models.registry import snap_home
    from snapcli.models.weights import weights_sha256
    from snapcli.store.hashing import json_sha256

    if not rm.is_adapter:
        return rm.path_or_id
    key = json_sha256([weights_sha256(rm.weights_path) or rm.weights_path,
                       *[weights_sha256(a) for a in rm.adapters]])[:24]
    out = snap_home() / "cache" / "merged" / key
    if not (out / "config.json").exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(out, ignore_errors=True)
        export_model(rm.name, out, merge=True, resolved=rm)
    return str(out)
