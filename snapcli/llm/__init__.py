"""LLM backends behind one interface (`LLMBackend.chat_many`), a registry, and the workspace request cache."""

from __future__ import annotations

import os
from pathlib import Path

from snapcli.errors import SnapError
from snapcli.llm.base import Completion, LLMBackend, Messages, Sampling, Usage
from snapcli.llm.cache import LLMCache
from snapcli.llm.local_backend import LocalBackend
from snapcli.llm.openai_backend import OpenAIBackend

BACKENDS: dict[str, type[LLMBackend]] = {"openai": OpenAIBackend, "local": LocalBackend}


def cache_dir(ws) -> Path:
    """<workspace>/cache/llm: shared by every stage, outside the versioned stage dirs."""
    return Path(ws.root) / "cache" / "llm"


def choose_backend(name: str | None, base_url: str | None) -> tuple[str, str]:
    """(backend, why): an explicit choice wins; otherwise openai when a key or endpoint is given, else local."""
    if name and name != "auto":
        if name not in BACKENDS:
            raise SnapError(f"unknown backend '{name}' (choose from auto, {', '.join(BACKENDS)})")
        return name, f"--backend {name}"
    if base_url:
        return "openai", "--base-url is set"
    if os.environ.get("OPENAI_API_KEY"):
        return "openai", "OPENAI_API_KEY is set"
    return "local", "no OPENAI_API_KEY and no --base-url"


def make_backend(
    name: str | None,
    ws,
    *,
    base_url: str | None = None,
    concurrency: int = 8,
    device: str | None = None,
    batch_size: int = 8,
    use_cache: bool = True,
) -> tuple[LLMBackend, str]:
    """Build the chosen backend with the workspace cache; returns (backend, why it was chosen)."""
    chosen, why = choose_backend(name, base_url)
    cache = LLMCache(cache_dir(ws)) if use_cache else None
    if chosen == "openai":
        return OpenAIBackend(cache, base_url=base_url, concurrency=concurrency), why
    if base_url:
        raise SnapError("--base-url only applies to the openai backend (drop --backend local or --base-url)")
    return LocalBackend(cache, ws=ws, device=device, batch_size=batch_size), why


__all__ = [
    "BACKENDS", "Completion", "LLMBackend", "LLMCache", "LocalBackend", "Messages", "OpenAIBackend", "Sampling",
    "Usage", "cache_dir", "choose_backend", "make_backend",
]
