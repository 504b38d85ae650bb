"""In-process transformers backend: any registry model (alias, hub id, local dir, train artifact), batched.

Replies are produced in chunks of a few batches so each finished chunk is cached right away; a killed run
loses at most one chunk of work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from snapcli.llm.base import Completion, LLMBackend, Messages, Sampling
from snapcli.llm.cache import LLMCache

DEFAULT_LOCAL_MODEL = "smollm2"


class LocalBackend(LLMBackend):
    name = "local"

    def __init__(
        self,
        cache: LLMCache | None = None,
        *,
        ws=None,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int = 8,
        chunk_batches: int = 2,
    ):
        super().__init__(cache)
        from snapcli.errors import SnapError

        if batch_size < 1:
            raise SnapError(f"--batch-size must be >= 1 (got {batch_size})")
        self.ws = ws
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.chunk = batch_size * max(1, chunk_batches)
        self._models: dict[str, Any] = {}

    def identity(self) -> dict[str, Any]:
        return {}

    def default_model(self, role: str) -> str:
        return DEFAULT_LOCAL_MODEL

    def describe(self, model: str) -> str:
        return f"local:{model}"

    def cache_model_id(self, model: str) -> str:
        """The resolved location: `train@latest` must not replay replies of an older trained version."""
        from snapcli.models import resolve_model

        return resolve_model(model, self.ws).path_or_id

    def loaded(self, model: str):
        """(model, tokenizer), loaded once per process and shared by the question and response roles."""
        if model not in self._models:
            from snapcli.models import load_causal_lm

            self._models[model] = load_causal_lm(model, self.ws, dtype=self.dtype, device=self.device)
        return self._models[model]

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
