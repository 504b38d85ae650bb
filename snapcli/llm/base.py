"""The backend interface every LLM backend implements, with the request cache and usage accounting built in.

A backend only knows how to turn conversations into replies (`_complete`); looking requests up in the cache,
writing each finished reply back as soon as it exists (so a killed run replays it), and counting tokens is
shared here so every backend behaves the same way.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from snapcli.llm.cache import LLMCache
from snapcli.store.text import fix_surrogates

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Sampling:
    """Decoding parameters; part of the cache key, so two runs with different settings never share replies."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int | None = None


# A reply that ended for one of these reasons is a finished answer; None = in-process generation, which has no
# failure mode of its own (its empty reply is the model's real answer, and asking again gives the same).
FINISHED = (None, "stop", "length")


@dataclass
class Completion:
    """One reply. finish_reason: a server's (stop, length, content_filter...); None for in-process generation."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    finish_reason: str | None = None

    @property
    def usable(self) -> bool:
        """Worth caching: a reply that ended normally, with text when it came from a server (`content: null` or
        "" is a failed reply there). Anything else is returned but asked again on the next run (issue 14)."""
        return self.finish_reason in FINISHED and (bool(self.text.strip()) or self.finish_reason is None)


@dataclass
class ModelUsage:
    requests: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    unusable: int = 0  # empty or cut-off replies (content null, content_filter...): returned, never cached


@dataclass
class Usage:
    """Per-model token and request counts, written to the manifest so a run's cost is auditable."""

    models: dict[str, ModelUsage] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, model: str, c: Completion | None = None, retries: int = 0) -> None:
        with self._lock:
            u = self.models.setdefault(model, ModelUsage())
            u.retries += retries
            if c is None:
                return
            if c.cached:
                u.cached += 1
            else:
                u.requests += 1
                u.prompt_tokens += c.prompt_tokens
                u.completion_tokens += c.completion_tokens
                u.unusable += int(not c.usable)

    def to_dict(self) -> dict[str, Any]:
        return {m: asdict(u) for m, u in sorted(self.models.items())}


class LLMBackend(ABC):
    """Chat completion for many conversations at once; subclasses implement `_complete` only."""

    name: str = ""
    in_process: bool = False  # runs the model in this process (slow on CPU: stages pick smaller defaults)

    def __init__(self, cache: LLMCache | None = None, *, refresh_cache: bool = False):
        """refresh_cache: ask every request again (replies are still written to the cache); for replies that
        were cached but are wrong, e.g. from a misconfigured server. Failed or empty replies are never cached."""
        self.cache = cache
        self.refresh_cache = refresh_cache
        self.usage = Usage()

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """What besides the model and messages decides a reply (e.g. the endpoint); part of the cache key."""

    @abstractmethod
    def _complete(
        self, model: str, conversations: Sequence[Messages], sampling: Sampling,
        on_result: Callable[[int, Completion], None],
    ) -> None:
        """Produce a reply for each conversation, calling on_result(index, completion) as each one finishes."""

    @abstractmethod
    def default_model(self, role: str) -> str:
        """The model used when the user names none; role is "question" or "response" (paper: strong vs cheap)."""

    def describe(self, model: str) -> str:
        return f"{self.name}:{model}"

    def close(self) -> None:  # noqa: B027 - optional hook: remote backends hold nothing to free
        """Free what the backend holds (a loaded model); a no-op for remote backends."""

    def cache_model_id(self, model: str) -> str:
        """What names the model in the cache key (the local backend resolves refs like train@latest)."""
        return model

    def chat_many(
        self,
        model: str,
        conversations: Sequence[Messages],
        sampling: Sampling,
        on_done: Callable[[int], None] | None = None,
    ) -> list[Completion]:
        """Replies in input order; cached ones are free, new usable ones are cached the moment they arrive.

        Texts come back with lone UTF-16 surrogates replaced by U+FFFD; empty or unfinished replies are
        returned (the stage decides what an empty reply means) but not cached, so a rerun asks again.
        """
        results: list[Completion | None] = [None] * len(conversations)
        keys: list[str] = []
        todo: list[int] = []
        ident = {"backend": self.name, **self.identity()}
        model_id = self.cache_model_id(model)
        for i, conv in enumerate(conversations):
            key = LLMCache.key(ident, model_id, conv, sampling)
            keys.append(key)
            hit = self.cache.get(key) if self.cache is not None and not self.refresh_cache else None
            if hit is not None and not _replayable(hit):
                hit = None
            if hit is not None:
                c = Completion(hit["text"], hit.get("prompt_tokens", 0), hit.get("completion_tokens", 0), cached=True)
                results[i] = c
                self.usage.add(model, c)
            else:
                todo.append(i)
        if on_done and len(conversations) - len(todo):
            on_done(len(conversations) - len(todo))
        if todo:
            def record(j: int, c: Completion) -> None:
                i = todo[j]
                c.text = fix_surrogates(c.text)  # before it reaches the JSON cache or a Parquet table
                results[i] = c
                self.usage.add(model, c)
                if self.cache is not None and c.usable:
                    self.cache.put(keys[i], {"text": c.text, "prompt_tokens": c.prompt_tokens,
                                             "completion_tokens": c.completion_tokens, "model": model,
                                             "backend": self.name, "finish_reason": c.finish_reason})
                if on_done:
                    on_done(1)

            self._complete(model, [conversations[i] for i in todo], sampling, record)
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:  # a backend bug, never user input
            raise RuntimeError(f"{self.name} backend returned no reply for {len(missing)} request(s)")
        return results  # type: ignore[return-value]


def _replayable(entry: dict[str, Any]) -> bool:
    """A cache entry worth replaying: text, or an empty in-process reply recorded as such (finish_reason None).
    An empty entry without that mark (an older snap cached a failed server reply) is asked again."""
    return bool(entry["text"].strip()) or ("finish_reason" in entry and entry["finish_reason"] is None)
