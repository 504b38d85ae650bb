"""The one chat-backend registry (issue 10): every stage and command that asks a model something -- generate,
filter, augment, eval, judge, chat, audit -- goes through `make_backend`, so `--backend` means the same everywhere.

| name | what | where |
|---|---|---|
| `hf` (alias `local`) | transformers in this process, batched; any alias, hub id, dir, train artifact | everywhere |
| `vllm` | vLLM's offline engine in this process | GPUs, when vllm is installed |
| `openai` | any OpenAI-compatible /v1/chat/completions endpoint, concurrent, retried | anywhere with a URL |

A new backend is one `LLMBackend` subclass plus one line in `BACKENDS`. Every backend shares the workspace
request cache (`<ws>/cache/llm`), so a killed run replays finished calls for free.
"""

from __future__ import annotations

import os
from pathlib import Path

from snapcli.errors import SnapError
from snapcli.llm.base import Completion, LLMBackend, Messages, Sampling, Usage
from snapcli.llm.cache import LLMCache
from snapcli.llm.hf_backend import HFBackend, release_models
from snapcli.llm.openai_backend import OpenAIBackend
from snapcli.llm.vllm_backend import VLLMBackend

BACKENDS: dict[str, type[LLMBackend]] = {"hf": HFBackend, "vllm": VLLMBackend, "openai": OpenAIBackend}
ALIASES = {"local": "hf", "auto": "auto"}
BACKEND_CHOICES = ("auto", *BACKENDS, "local")


def cache_dir(ws) -> Path:
    """<workspace>/cache/llm: shared by every stage, outside the versioned stage dirs."""
    return Path(ws.root) / "cache" / "llm"


def canonical(name: str | None) -> str | None:
    """'local' -> 'hf'; None/'auto' stay as they are; unknown names are a one-line SnapError."""
    if name is None:
        return None
    name = ALIASES.get(name, name)
    if name != "auto" and name not in BACKENDS:
        raise SnapError(f"unknown backend '{name}' (choose from auto, {', '.join(BACKENDS)}, local)")
    return name


def choose_backend(name: str | None, base_url: str | None, default: str = "hf") -> tuple[str, str]:
    """(backend, why): an explicit choice wins; otherwise openai when a key or endpoint is given, else `default`."""
    name = canonical(name)
    if name and name != "auto":
        return name, f"--backend {name}"
    if base_url:
        return "openai", "--base-url is set"
    if os.environ.get("OPENAI_API_KEY"):
        return "openai", "OPENAI_API_KEY is set"
    return default, "no OPENAI_API_KEY and no --base-url"


def make_backend(
    name: str | None,
    ws,
    *,
    base_url: str | None = None,
    concurrency: int = 8,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int = 8,
    use_cache: bool = True,
    refresh_cache: bool = False,
    default: str = "hf",
) -> tuple[LLMBackend, str]:
    """Build the chosen backend with the workspace cache; returns (backend, why it was chosen).
    `refresh_cache`: ask again instead of replaying cached replies (they are still written to the cache)."""
    chosen, why = choose_backend(name, base_url, default)
    cache = LLMCache(cache_dir(ws)) if use_cache and ws is not None else None
    if chosen == "openai":
        return OpenAIBackend(cache, base_url=base_url, concurrency=concurrency, refresh_cache=refresh_cache), why
    if base_url:
        raise SnapError("--base-url only applies to the openai backend (drop --backend or --base-url)")
    if device is not None:
        from snapcli.models.loading import pick_device

        pick_device(device)  # cuda on a machine without it: exit 2 now, not after the data is prepared
    return BACKENDS[chosen](cache, ws=ws, device=device, dtype=dtype, batch_size=batch_size,
                            refresh_cache=refresh_cache), why


__all__ = [
    "ALIASES", "BACKENDS", "BACKEND_CHOICES", "Completion", "HFBackend", "LLMBackend", "LLMCache", "Messages",
    "OpenAIBackend", "Sampling", "Usage", "VLLMBackend", "cache_dir", "canonical", "choose_backend",
    "make_backend", "release_models",
]
