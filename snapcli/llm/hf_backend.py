"""In-process transformers backend (`hf`, alias `local`): any registry model (alias, hub id, local dir, train
artifact, adapter), batched with snapcli.models.generation.generate_chat.

Replies are produced in chunks of a few batches so each finished chunk is cached right away; a killed run loses at
most one chunk of work. The loaded model is kept process-wide for the next backend that asks for the same model
(generate -> filter -> augment in one `snap run` load SmolLM2 once); only one model is kept, so evaluating a base
and an unlearned 7B model one after the other never holds both.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import Any

from snapcli.errors import SnapError
from snapcli.llm.base import Completion, LLMBackend, Messages, Sampling
from snapcli.llm.cache import LLMCache

DEFAULT_LOCAL_MODEL = "smollm2"
_LOADED: dict[tuple[str, str | None, str | None], Any] = {}


def loaded_model(name: str, ws, dtype: str | None, device: str | None):
    """(model, tokenizer) for a model name, shared by every in-process backend of this process (one at a time)."""
    from snapcli.models import load_causal_lm, resolve_model

    key = (resolve_model(name, ws).path_or_id, dtype, device)
    if key not in _LOADED:
        release_models()
        _LOADED[key] = load_causal_lm(name, ws, dtype=dtype, device=device)
    return _LOADED[key]


def release_models() -> None:
    """Free the process-wide model (before a different model loads, or when a stage is done with it)."""
    _LOADED.clear()
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


class HFBackend(LLMBackend):
    name = "hf"
    in_process = True

    def __init__(
        self,
        cache: LLMCache | None = None,
        *,
        ws=None,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int = 8,
        chunk_batches: int = 2,
        refresh_cache: bool = False,
        **_: Any,
    ):
        super().__init__(cache, refresh_cache=refresh_cache)
        if batch_size < 1:
            raise SnapError(f"--batch-size must be >= 1 (got {batch_size})")
        self.ws = ws
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.chunk = batch_size * max(1, chunk_batches)

    def identity(self) -> dict[str, Any]:
        return {}

    def default_model(self, role: str) -> str:
        return DEFAULT_LOCAL_MODEL

    def describe(self, model: str) -> str:
        return f"hf:{model}"

    def cache_model_id(self, model: str) -> str:
        """The resolved location: `train@latest` must not replay replies of an older trained version."""
        from snapcli.models import resolve_model

        return resolve_model(model, self.ws).path_or_id

    def loaded(self, model: str):
        return loaded_model(model, self.ws, self.dtype, self.device)

    def _complete(
        self, model: str, conversations: Sequence[Messages], sampling: Sampling,
        on_result: Callable[[int, Completion], None],
    ) -> None:
        from snapcli.models.generation import generate_chat

        m, tok = self.loaded(model)
        # similar lengths together, so each chunk's batches carry little padding
        order = sorted(range(len(conversations)), key=lambda i: sum(len(x["content"]) for x in conversations[i]))
        for start in range(0, len(order), self.chunk):
            idx = order[start : start + self.chunk]
            outs = generate_chat(
                m, tok, [conversations[i] for i in idx], max_new_tokens=sampling.max_tokens,
                batch_size=self.batch_size, temperature=sampling.temperature, top_p=sampling.top_p,
                seed=sampling.seed, max_input_tokens=4096,
            )
            for i, o in zip(idx, outs, strict=True):
                on_result(i, Completion(o["text"], o["prompt_tokens"], o["completion_tokens"]))

    def close(self) -> None:
        release_models()
