"""Loading a resolved model with a sensible dtype/device, and honest offline errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from snapcli.errors import SnapError
from snapcli.models.registry import ResolvedModel, resolve_model

_DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
           "float16": "float16", "fp16": "float16"}


def pick_device(device: str | None = None) -> str:
    import torch

    if device and device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(dtype: str | None, device: str):
    """bf16 on GPUs that support it, fp32 on CPU (bf16 matmuls are slow on most CPUs)."""
    import torch

    if dtype and dtype != "auto":
        if dtype not in _DTYPES:
            raise SnapError(f"unknown dtype '{dtype}' (use auto, float32, bfloat16, float16)")
        return getattr(torch, _DTYPES[dtype])
    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def _offline_error(rm: ResolvedModel, err: Exception) -> SnapError:
    return SnapError(
        f"model '{rm.path_or_id}' is not available offline (not in the local Hugging Face cache and the hub is "
        f"unreachable: {type(err).__name__}); download it where the hub is reachable and pass its local directory "
        "(--model /path/to/model), or use the embedded 'smollm2'"
    )


def quiet_transformers() -> None:
    """transformers' own progress bars and warnings would interleave with snap's rich display."""
    import os

    if os.environ.get("SNAP_VERBOSE"):
        return
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _hub_kwargs(rm: ResolvedModel) -> dict[str, Any]:
    """Offline machines read the local HF cache only, instead of retrying the network for a minute."""
    from snapcli.models.hub import hub_reachable

    return {"local_files_only": True} if rm.kind == "hub" and not hub_reachable() else {}


def trust_remote_code_requested(explicit: bool = False) -> bool:
    """Off unless asked: a flag, or SNAP_TRUST_REMOTE_CODE=1 for commands that load models."""
    import os

    return explicit or os.environ.get("SNAP_TRUST_REMOTE_CODE", "").lower() in ("1", "true", "yes")


def hf_load_kwargs(path_or_id: str, trust_remote_code: bool = False) -> dict[str, Any]:
    """kwargs for from_pretrained on a resolved path or id (offline-aware, remote code off unless asked)."""
    from pathlib import Path

    kind = "local" if Path(path_or_id).exists() else "hub"
    return {**_hub_kwargs(ResolvedModel(path_or_id, path_or_id, kind)),
            "trust_remote_code": trust_remote_code_requested(trust_remote_code)}


def _tokenizer_source(rm: ResolvedModel) -> ResolvedModel:
    """An adapter dir written by snap holds the tokenizer; a bare PEFT adapter dir may not: use its base then."""
    from pathlib import Path

    if rm.adapters and rm.base and not (Path(rm.path_or_id) / "tokenizer_config.json").exists():
        return ResolvedModel(rm.base, rm.base, "local" if Path(rm.base).exists() else "hub")
    return rm


def load_tokenizer(name: str, ws=None, trust_remote_code: bool = False):
    return tokenizer_for(resolve_model(name, ws), trust_remote_code)


def tokenizer_for(rm: ResolvedModel, trust_remote_code: bool = False):
    """The tokenizer of a resolved model (an adapter's own copy, else its base's); pad token set."""
    from transformers import AutoTokenizer

    quiet_transformers()
    rm = _tokenizer_source(rm)
    trust_remote_code = trust_remote_code_requested(trust_remote_code)
    try:
        tok = AutoTokenizer.from_pretrained(rm.path_or_id, trust_remote_code=trust_remote_code, **_hub_kwargs(rm))
    except OSError as e:
        if rm.kind == "hub":
            raise _offline_error(rm, e) from None
        raise SnapError(f"cannot load tokenizer from {rm.path_or_id}: {e}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_weights(
    path_or_id: str,
    adapters: Sequence[str] = (),
    *,
    dtype: Any = None,
    trust_remote_code: bool = False,
    **kwargs: Any,
):
    """AutoModelForCausalLM from a directory or hub id, then each PEFT adapter of `adapters` applied and merged
    in order (peft's PeftModel.from_pretrained + merge_and_unload), so the result is a plain transformers model
    whatever the chain. `dtype` is a torch dtype (None: transformers' default). Offline hub ids read the local
    cache only; a missing or unreadable model is a SnapError."""
    from pathlib import Path

    from transformers import AutoModelForCausalLM

    quiet_transformers()
    rm = ResolvedModel(path_or_id, path_or_id, "local" if Path(path_or_id).exists() else "hub")
    trust_remote_code = trust_remote_code_requested(trust_remote_code)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path_or_id, dtype=dtype, trust_remote_code=trust_remote_code, **_hub_kwargs(rm), **kwargs
        )
    except OSError as e:
        if rm.kind == "hub":
            raise _offline_error(rm, e) from None
        raise SnapError(f"cannot load model from {path_or_id}: {' '.join(str(e).split())[:300]}") from None
    for adapter in adapters:
        import warnings

        from peft import PeftModel

        try:
            with warnings.catch_warnings():  # peft calls transformers' deprecated is_gradient_checkpointing
                warnings.simplefilter("ignore", FutureWarning)
                model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise SnapError(f"cannot apply the LoRA adapter {adapter} to {path_or_id}: "
                            f"{' '.join(str(e).split())[:300]}") from None
    if adapters:  # peft froze the base weights; a merged model is a model like any other (trainable)
        model.requires_grad_(True)
    return model


def load_causal_lm(
    name: str,
    ws=None,
    dtype: str | None = None,
    device: str | None = None,
    trust_remote_code: bool = False,
    **kwargs: Any,
):
    """(model, tokenizer) for an alias, hub id, local dir or train artifact ref (a full model, or a LoRA adapter
    loaded on its recorded base and merged); eval mode, on `device`."""
    rm = resolve_model(name, ws)
    dev = pick_device(device)
    torch_dtype = pick_dtype(dtype, dev)
    tok = tokenizer_for(rm, trust_remote_code)
    model = load_weights(rm.weights_path, rm.adapters, dtype=torch_dtype, trust_remote_code=trust_remote_code,
                         **kwargs)
    model.to(dev)
    model.eval()
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok
