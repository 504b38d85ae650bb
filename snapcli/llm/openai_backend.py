"""OpenAI-compatible HTTP backend: the official API or any server that speaks /v1/chat/completions.

Requests run in a bounded thread pool; 429, 5xx, timeouts and dropped connections are retried with
exponential backoff (honouring Retry-After); anything else (bad key, unknown model, bad request) stops the
run with a one-line message, because retrying cannot fix it.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

from snapcli.errors import RunFailed, SnapError
from snapcli.llm.base import Completion, LLMBackend, Messages, Sampling
from snapcli.llm.cache import LLMCache

OFFICIAL_BASE_URL = "https://api.openai.com/v1"
# Paper: GPT-4 writes the questions, the cheaper GPT-3.5 writes the responses.
DEFAULT_MODELS = {"question": "gpt-4-turbo", "response": "gpt-3.5-turbo"}
KEYLESS_PLACEHOLDER = "snap-no-key"  # for local servers that ignore the key; never the user's key


class OpenAIBackend(LLMBackend):
    name = "openai"

    def __init__(
        self,
        cache: LLMCache | None = None,
        *,
        base_url: str | None = None,
        concurrency: int = 8,
        max_retries: int = 6,
        timeout: float = 120.0,
        backoff: float = 1.0,
        refresh_cache: bool = False,
    ):
        super().__init__(cache, refresh_cache=refresh_cache)
        try:
            import openai
        except ImportError:  # pragma: no cover - a declared dependency
            raise SnapError("the openai backend needs the openai package: pip install openai") from None
        if concurrency < 1:
            raise SnapError(f"--concurrency must be >= 1 (got {concurrency})")
        where = "--base-url" if base_url else "OPENAI_BASE_URL" if os.environ.get("OPENAI_BASE_URL") else "base URL"
        self.base_url = check_base_url(base_url or os.environ.get("OPENAI_BASE_URL") or OFFICIAL_BASE_URL, where)
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            if self.base_url == OFFICIAL_BASE_URL:
                raise SnapError(
                    "the openai backend needs OPENAI_API_KEY in the environment for the official API "
                    "(or --base-url for a local OpenAI-compatible server, or --backend local)"
                )
            key = KEYLESS_PLACEHOLDER
        self._openai = openai
        # retries are ours (counted, with Retry-After); the SDK's own would hide them
        self.client = openai.OpenAI(api_key=key, base_url=self.base_url, max_retries=0, timeout=timeout)
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff = backoff
        self._listed: list[str] | None = None

    def identity(self) -> dict[str, Any]:
        return {"base_url": self.base_url}

    def describe(self, model: str) -> str:
        return f"openai:{model} @ {self.base_url}"

    def served_models(self) -> list[str]:
        """Model ids the endpoint lists (empty if it does not implement /v1/models)."""
        if self._listed is None:
            try:
                page = self.client.models.list()
            except self._openai.AuthenticationError as e:
                raise SnapError(self._auth_message(e)) from None
            except self._openai.APIConnectionError as e:
                raise RunFailed(f"cannot reach {self.base_url}: {e}") from None
            except self._openai.APIError:
                page = None
            except AttributeError:  # the SDK got a body that is not JSON (an HTML page) and could not wrap it
                raise SnapError(self._not_openai("/models", "a non-JSON body")) from None
            except json.JSONDecodeError:  # declared JSON, but not parseable
                raise SnapError(self._not_openai("/models", "a body that is not valid JSON")) from None
            data = getattr(page, "data", None)
            self._listed = [m.id for m in data if isinstance(getattr(m, "id", None), str)] \
                if isinstance(data, list) else []
        return self._listed

    def default_model(self, role: str) -> str:
        """The paper's models on the official API; on another server, its only model if it serves one."""
        want = DEFAULT_MODELS[role]
        if self.base_url == OFFICIAL_BASE_URL:
            return want
        listed = self.served_models()
        if want in listed or not listed:
            return want
        return listed[0]

    def _not_openai(self, path: str, got: str) -> str:
        what = "models list" if path == "/models" else "chat-completions response"
        return (f"{self.base_url}{path} replied with {got}, not an OpenAI {what}; "
                "check --base-url (it should end in /v1 of an OpenAI-compatible server)")

    def _auth_message(self, e: Exception) -> str:
        return f"{self.base_url} refused the API key (HTTP {getattr(e, 'status_code', 401)}); check OPENAI_API_KEY"

    def _retryable(self, e: Exception) -> bool:
        o = self._openai
        if isinstance(e, (o.RateLimitError, o.APITimeoutError, o.APIConnectionError, o.InternalServerError)):
            return True
        return isinstance(e, o.APIStatusError) and (e.status_code == 429 or e.status_code >= 500)

    def _delay(self, attempt: int, e: Exception) -> float:
        resp = getattr(e, "response", None)
        header = resp.headers.get("retry-after") if resp is not None else None
        if header:
            try:
                return min(60.0, max(0.0, float(header)))
            except ValueError:
                pass
        return min(60.0, self.backoff * (2**attempt)) * (0.5 + random.random() / 2)

    def _one(self, model: str, messages: Messages, sampling: Sampling) -> tuple[Completion, int]:
        o = self._openai
        kwargs: dict[str, Any] = dict(model=model, messages=messages, temperature=sampling.temperature,
                                      top_p=sampling.top_p, max_tokens=sampling.max_tokens)
        if sampling.seed is not None:
            kwargs["seed"] = sampling.seed
        attempt = 0
        while True:
            try:
                r = self.client.chat.completions.create(**kwargs)
                break
            except o.AuthenticationError as e:
                raise SnapError(self._auth_message(e)) from None
            except o.PermissionDeniedError as e:
                raise SnapError(f"{self.base_url} denied access to model '{model}' (HTTP 403): {_msg(e)}") from None
            except o.NotFoundError as e:
                raise SnapError(f"{self.base_url} has no model '{model}' (HTTP 404): {_msg(e)}") from None
            except json.JSONDecodeError:  # the SDK's json.loads on a body declared as JSON
                raise SnapError(self._not_openai("/chat/completions", "a body that is not valid JSON")) from None
            except Exception as e:  # noqa: BLE001 - sorted into retryable and not below
                if not isinstance(e, o.OpenAIError):
                    raise
                if not self._retryable(e):
                    raise RunFailed(f"{self.base_url} rejected a request for '{model}': {_msg(e)}") from None
                if attempt >= self.max_retries:
                    raise RunFailed(
                        f"{self.base_url} still failing after {attempt} retries for '{model}': {_msg(e)}"
                    ) from None
                time.sleep(self._delay(attempt, e))
                attempt += 1
        text, finish = self._reply_text(r)
        u = getattr(r, "usage", None)
        return Completion(text.strip(), _count(u, "prompt_tokens"), _count(u, "completion_tokens"),
                          finish_reason=finish), attempt

    def _reply_text(self, r: Any) -> tuple[str, str | None]:
        """(text, finish_reason) of the first choice; SnapError if `r` is not a chat-completions response at all.

        A response with `content: null` (a refusal or a tool call) or an empty choice list is a valid but empty
        reply: it comes back as "" and the cache refuses it (snapcli.llm.base), so a rerun asks again.
        """
        if isinstance(r, (str, bytes)):
            raise SnapError(self._not_openai("/chat/completions", f"a non-JSON body ({_preview(r)})"))
        choices = getattr(r, "choices", None)
        if not isinstance(choices, list):
            raise SnapError(self._not_openai("/chat/completions", "JSON without a 'choices' list"))
        if not choices:
            return "", "empty"
        first = choices[0]
        message = getattr(first, "message", None)
        content = getattr(message, "content", None) if message is not None else None
        if message is None or not (content is None or isinstance(content, str)):
            raise SnapError(self._not_openai("/chat/completions", "a choice without a text message"))
        return content or "", getattr(first, "finish_reason", None) or "stop"  # some servers omit it

    def _complete(
        self, model: str, conversations: Sequence[Messages], sampling: Sampling,
        on_result: Callable[[int, Completion], None],
    ) -> None:
        lock = threading.Lock()

        def task(i: int) -> None:
            c, retries = self._one(model, conversations[i], sampling)
            self.usage.add(model, retries=retries)
            with lock:
                on_result(i, c)

        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(conversations))) as pool:
            futures = [pool.submit(task, i) for i in range(len(conversations))]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for f in pending:
                f.cancel()
            for f in futures:
                if f.done() and not f.cancelled() and f.exception() is not None:
                    raise f.exception()  # type: ignore[misc]


def check_base_url(url: str, where: str = "--base-url") -> str:
    """`url` without a trailing slash if it is an http(s) URL with a host (and a valid port); else SnapError.

    Checked before anything runs: `--base-url notaurl` used to go on to a connection error after retries.
    """
    from urllib.parse import urlsplit

    text = url.strip()
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise SnapError(f"{where} {url!r} is not a URL (expected http(s)://HOST[:PORT]/v1)")
    return text.rstrip("/")


def _preview(body: str | bytes) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return repr(text[:60] + ("..." if len(text) > 60 else ""))


def _count(usage: Any, name: str) -> int:
    v = getattr(usage, name, 0) if usage is not None else 0
    return v if isinstance(v, int) else 0


def _msg(e: Exception) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
        if isinstance(err, str):
            return err[:300]
    return " ".join(str(e).split())[:300]
