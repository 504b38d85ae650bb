"""Answer generation backends for `snap eval`: transformers (default, everywhere) and vLLM (GPUs, optional).

Both take chat conversations and return {"text", "prompt_tokens", "completion_tokens"} per conversation in input
order, greedy unless a temperature is given, so the eval tables look the same whichever backend produced them.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import Any

from snapcli.errors import SnapError

Messages = list[dict[str, str]]


class Generator:
    name = "base"

    def __init__(self, model: str, ws=None, *, device: str | None = None, dtype: str | None = None):
        self.model_name = model
        self.ws = ws
        self.device = device
        self.dtype = dtype

    def generate(self, conversations: Sequence[Messages], *, max_new_tokens: int, batch_size: int,
                 temperature: float, seed: int | None,
                 on_batch: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
        raise SnapError(f"generator '{self.name}' cannot generate")

    def close(self) -> None:
        """Free the model before the next one loads (several runs in one eval)."""


class HFGenerator(Generator):
    """transformers + `snapcli.models.generation.generate_chat` (length-bucketed, left-padded, KV cache)."""

    name = "hf"

    def __init__(self, model: str, ws=None, **kw: Any):
        super().__init__(model, ws, **kw)
        from snapcli.models import load_causal_lm

        self.model, self.tok = load_causal_lm(model, ws, dtype=self.dtype, device=self.device)

    def generate(self, conversations, *, max_new_tokens, batch_size, temperature, seed, on_batch=None):
        from snapcli.models.generation import generate_chat

        return generate_chat(self.model, self.tok, conversations, max_new_tokens=max_new_tokens,
                             batch_size=batch_size, temperature=temperature, seed=seed, on_batch=on_batch)

    def close(self) -> None:
        del self.model
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover - torch is a dependency
            pass


class VLLMGenerator(Generator):
    """vLLM's offline engine: continuous batching on GPUs; the same chat template via `LLM.chat`."""

    name = "vllm"

    def __init__(self, model: str, ws=None, **kw: Any):
        super().__init__(model, ws, **kw)
        try:
            from vllm import LLM
        except ImportError:
            raise SnapError("--backend vllm needs the vllm package (pip install vllm); the default hf backend "
                            "works everywhere") from None
        from snapcli.models import resolve_model

        path = resolve_model(model, ws).path_or_id
        dtype = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}.get(self.dtype or "auto", self.dtype)
        self.llm = LLM(model=path, dtype=dtype or "auto", trust_remote_code=False)

    def generate(self, conversations, *, max_new_tokens, batch_size, temperature, seed, on_batch=None):
        from vllm import SamplingParams

        sp = SamplingParams(max_tokens=max_new_tokens, temperature=temperature, seed=seed)
        outs = self.llm.chat([list(c) for c in conversations], sp, use_tqdm=False)
        res = [{"text": o.outputs[0].text.strip(), "prompt_tokens": len(o.prompt_token_ids or []),
                "completion_tokens": len(o.outputs[0].token_ids)} for o in outs]
        if on_batch:
            on_batch(len(res))
        return res

    def close(self) -> None:
        del self.llm
        gc.collect()


GENERATORS: dict[str, type[Generator]] = {"hf": HFGenerator, "vllm": VLLMGenerator}


def make_generator(backend: str, model: str, ws=None, **kw: Any) -> Generator:
    if backend not in GENERATORS:
        raise SnapError(f"unknown generation backend '{backend}' (choose from {', '.join(GENERATORS)})")
    return GENERATORS[backend](model, ws, **kw)
