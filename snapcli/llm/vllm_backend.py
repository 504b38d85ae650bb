"""vLLM backend (`vllm`): continuous batching on GPUs, the model's own chat template via `LLM.chat`.

Optional: needs the vllm package (GPU machines). Same inputs and outputs as every backend, so eval tables look the
same whichever backend produced them.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import Any

from snapcli.errors import SnapError
from snapcli.llm.base import Completion, LLMBackend, Messages, Sampling
from snapcli.llm.cache import LLMCache

_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


class VLLMBackend(LLMBackend):
    name = "vllm"
    in_process = True

    def __init__(self, cache: LLMCache | None = None, *, ws=None, dtype: str | None = None,
                 refresh_cache: bool = False, **_: Any):
        super().__init__(cache, refresh_cache=refresh_cache)
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise SnapError("--backend vllm needs the vllm package (pip install vllm, on a GPU machine); the hf "
                            "backend works everywhere") from None
        self.ws = ws
        self.dtype = _DTYPES.get(dtype or "auto", dtype or "auto")
        self._llm: tuple[str, Any] | None = None

    def identity(self) -> dict[str, Any]:
        return {}

    def default_model(self, role: str) -> str:
        return "smollm2"

    def cache_model_id(self, model: str) -> str:
        from snapcli.models import resolve_model

        return resolve_model(model, self.ws).path_or_id

    def _engine(self, model: str):
        from vllm import LLM

        from snapcli.models import resolve_model
        from snapcli.models.export import standalone_dir

        path = standalone_dir(resolve_model(model, self.ws))  # vLLM cannot apply a LoRA chain: a merged copy
        if self._llm is None or self._llm[0] != path:
            self.close()
            self._llm = (path, LLM(model=path, dtype=self.dtype, trust_remote_code=False))
        return self._llm[1]

    def _complete(self, model: str, conversations: Sequence[Messages], sampling: Sampling,
                  on_result: Callable[[int, Completion], None]) -> None:
        from vllm import SamplingParams

        sp = SamplingParams(max_tokens=sampling.max_tokens, temperature=sampling.temperature, top_p=sampling.top_p,
                            seed=sampling.seed)
        outs = self._engine(model).chat([list(c) for c in conversations], sp, use_tqdm=False)
        for i, o in enumerate(outs):
            on_result(i, Completion(o.outputs[0].text.strip(), len(o.prompt_token_ids or []),
                                    len(o.outputs[0].token_ids)))

    def close(self) -> None:
        self._llm = None
        gc.collect()
