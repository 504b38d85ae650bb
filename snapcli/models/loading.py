"""Loading a resolved model with a sensible dtype/device, and honest offline errors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from snapcli.errors import SnapError
from snapcli.models.registry import ResolvedModel, resolve_model

_DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
           "float16": "float16", "fp16": "float16"}


_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


def pick_device(device: str | None = None) -> str:
    """None/"auto" -> "cuda" when a GPU is there, else "cpu"; any other value is checked and returned as given.

    SnapError (exit 2) for a string that is not a device ("tpu9") and for a device this machine lacks ("cuda"
    without CUDA, "cuda:3" with two GPUs, "mps" off Apple silicon), instead of a torch error mid-run (issue 14).
    """
    import torch

    if not device or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = device.strip()
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        dev = None
    if dev is None or dev.type not in _DEVICE_TYPES:
        raise SnapError(f"--device {device!r} is not a device (use auto, cpu, cuda, cuda:N, mps or xpu)")
    backend = getattr(torch, dev.type, None) if dev.type in ("cuda", "xpu") else getattr(torch.backends, "mps", None)
    if dev.type != "cpu":
        if backend is None or not backend.is_available():
            raise SnapError(f"--device {device}: no {dev.type} device on this machine (use cpu or auto)")
        count = backend.device_count() if hasattr(backend, "device_count") else 1
        if dev.index is not None and dev.index >= count:
            raise SnapError(f"--device {device}: this machine has {count} {dev.type} device(s) "
                            f"({dev.type}:0..{dev.type}:{count - 1})")
    return device


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


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "spiece.model", "vocab.txt",
                   "sentencepiece.bpe.model")
_POSITIVE_INTS = ("hidden_size", "num_attention_heads", "num_hidden_layers", "vocab_size", "intermediate_size",
                  "num_key_value_heads", "head_dim", "max_position_embeddings")


def check_model_dir(path: str | Path) -> None:
    """A local model directory that transformers can load, or SnapError naming the directory and what is wrong.

    Checks, without loading anything: config.json is a JSON object whose sizes are positive integers and agree
    (hidden_size divisible by num_attention_heads unless head_dim is given; heads divisible by
    num_key_value_heads), weights are present (*.safetensors or pytorch_model*.bin; a PEFT adapter dir is left
    to its own loader), and tokenizer files are present (issue 14: these failed with two-line transformers
    errors and exit 1).
    """
    import json

    d = Path(path)
    try:
        cfg = json.loads((d / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SnapError(f"model directory {d} has no config.json") from None
    except (OSError, ValueError) as e:
        raise SnapError(f"model directory {d}: config.json is not readable JSON ({' '.join(str(e).split())})") \
            from None
    if not isinstance(cfg, dict):
        raise SnapError(f"model directory {d}: config.json must hold a JSON object")
    for key in _POSITIVE_INTS:
        v = cfg.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
            raise SnapError(f"model directory {d}: config.json {key} must be a positive integer (got {v!r})")
    h, n, kv = cfg.get("hidden_size"), cfg.get("num_attention_heads"), cfg.get("num_key_value_heads")
    if h and n and not cfg.get("head_dim") and h % n:
        raise SnapError(f"model directory {d}: config.json is inconsistent: hidden_size {h} is not divisible by "
                        f"num_attention_heads {n}")
    if n and kv and n % kv:
        raise SnapError(f"model directory {d}: config.json is inconsistent: num_attention_heads {n} is not "
                        f"divisible by num_key_value_heads {kv}")
    names = {p.name for p in d.iterdir()}
    if "adapter_config.json" not in names and not (
        names & set(WEIGHT_FILES) or any(x.endswith(".safetensors") for x in names)
    ):
        raise SnapError(f"model directory {d} has config.json but no weights (model.safetensors or "
                        "pytorch_model.bin)")
    if not names & set(TOKENIZER_FILES):
        raise SnapError(f"model directory {d} has no tokenizer files ({', '.join(TOKENIZER_FILES[:3])})")


def _local_load_error(rm: ResolvedModel, what: str, e: Exception) -> SnapError:
    text = str(e)
    if "ignore_mismatched_sizes" in text or "size mismatch" in text:  # transformers points at a report it hid
        return SnapError(f"model directory {rm.path_or_id}: the weights do not fit its config.json (tensor shapes "
                         "differ: hidden_size, layers or vocab_size were edited, or the weights are another model's)")
    return SnapError(f"cannot load {what} from model directory {rm.path_or_id}: {type(e).__name__}: "
                     f"{' '.join(str(e).split())[:300]}")


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
    if rm.kind in ("local", "artifact") and not rm.adapters:
        check_model_dir(rm.path_or_id)
    trust_remote_code = trust_remote_code_requested(trust_remote_code)
    try:
        tok = AutoTokenizer.from_pretrained(rm.path_or_id, trust_remote_code=trust_remote_code, **_hub_kwargs(rm))
    except OSError as e:
        if rm.kind == "hub":
            raise _offline_error(rm, e) from None
        raise _local_load_error(rm, "the tokenizer", e) from None
    except (ValueError, KeyError, TypeError) as e:  # a corrupt tokenizer.json or config in a local dir
        if rm.kind == "hub":
            raise
        raise _local_load_error(rm, "the tokenizer", e) from None
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
    try:
        model = load_weights(rm.weights_path, rm.adapters, dtype=torch_dtype, trust_remote_code=trust_remote_code,
                             **kwargs)
    except OSError as e:
        if rm.kind == "hub":
            raise _offline_error(rm, e) from None
        raise _local_load_error(rm, "the model", e) from None
    except (ValueError, KeyError, TypeError, RuntimeError) as e:  # weights that do not fit the config, bad JSON
        import torch

        if rm.kind == "hub" or isinstance(e, torch.OutOfMemoryError):
            raise
        raise _local_load_error(rm, "the model", e) from None
    model.to(dev)
    model.eval()
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok
