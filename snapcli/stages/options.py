"""Option groups several stage specs share, declared once (issue 10): the LLM backend a stage talks to."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator

from snapcli.stages.spec import DTYPES, Device, Dtype, StageSpec, option


def check_backend(v: str | None) -> str | None:
    """'local' -> 'hf'; unknown names are rejected with the choices."""
    from snapcli.errors import SnapError
    from snapcli.llm import canonical

    if v is None:
        return v
    try:
        return canonical(v)
    except SnapError as e:
        raise ValueError(str(e).replace(f"unknown backend '{v}' ", "must be one of ").replace(
            "(choose from ", "").rstrip(")") + f" (got {v!r})") from None


Backend = Annotated[str | None, AfterValidator(check_backend)]


class BackendOptions(StageSpec):
    """Which chat backend a stage uses (snapcli/llm: hf = transformers in-process, vllm, openai = any
    OpenAI-compatible endpoint). The default is openai when OPENAI_API_KEY or --base-url is set, else hf."""

    panel: ClassVar[str | None] = "LLM backend"

    backend: Backend = option(None, "Chat backend: hf (transformers in this process; alias local), vllm, or "
                                 "openai (any OpenAI-compatible endpoint). Default: openai when OPENAI_API_KEY or "
                                 "--base-url is set, else hf.", metavar="auto|hf|vllm|openai")
    base_url: str | None = option(None, "OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (the key comes "
                                  "from OPENAI_API_KEY only; none is needed for a local server).", metavar="URL")
    concurrency: int = option(8, "Parallel requests (openai backend).", ge=1, key=False)
    batch_size: int = option(8, "Prompts per generation batch (hf backend).", ge=1)
    device: Device = option(None, "Device for in-process backends: cpu, cuda, cuda:N, mps (default: auto).")
    refresh_llm_cache: bool = option(False, "Ask the model again instead of replaying replies cached in the "
                                     "workspace (failed or empty replies are never cached anyway).", key=False,
                                     negatable=False)
    dtype: Dtype = option(None, "Weights dtype for in-process backends: auto, float32, bfloat16, float16.",
                               choices=DTYPES)

    def chosen_backend(self) -> tuple[str, str]:
        """(backend name, why) without building it (cheap; for plans)."""
        from snapcli.llm import choose_backend

        return choose_backend(self.backend, self.base_url)

    def make_backend(self, ws) -> tuple[Any, str]:
        from snapcli.llm import make_backend

        return make_backend(self.backend, ws, base_url=self.base_url, concurrency=self.concurrency,
                            device=self.device, dtype=self.dtype, batch_size=self.batch_size,
                            refresh_cache=self.refresh_llm_cache)
