"""The chat callable the knowledge helpers take, and adapters that build one.

A chat callable maps conversations (lists of {"role", "content"} messages) to one reply each: a str, a dict with
"text" (+ "prompt_tokens", "completion_tokens", as snapcli.models.generation.generate_chat returns), or an object
with a `.text` (snapcli.llm Completion). It may accept a `max_new_tokens` keyword; probing passes it when it does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

Messages = list[dict[str, str]]
ChatFn = Callable[..., Sequence[Any]]


def takes_max_new_tokens(chat: ChatFn) -> bool:
    try:
        params = inspect.signature(chat).parameters
    except (TypeError, ValueError):
        return False
    return "max_new_tokens" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def call_chat(chat: ChatFn, conversations: Sequence[Messages], max_new_tokens: int) -> list[Any]:
    """chat(conversations[, max_new_tokens=...]) as a list; RuntimeError when the reply count is wrong."""
    kw = {"max_new_tokens": max_new_tokens} if takes_max_new_tokens(chat) else {}
    outs = list(chat(list(conversations), **kw))
    if len(outs) != len(conversations):
        raise RuntimeError(f"the chat returned {len(outs)} replies for {len(conversations)} conversations")
    return outs


def reply_parts(reply: Any) -> tuple[str, int | None, int | None]:
    """(text, prompt_tokens, completion_tokens) of one reply in any of the accepted shapes."""
    if isinstance(reply, str):
        return reply.strip(), None, None
    if isinstance(reply, dict):
        return str(reply.get("text", "") or "").strip(), reply.get("prompt_tokens"), reply.get("completion_tokens")
    return (str(getattr(reply, "text", "") or "").strip(), getattr(reply, "prompt_tokens", None),
            getattr(reply, "completion_tokens", None))


def local_chat(model: Any, tok: Any, *, batch_size: int = 8) -> ChatFn:
    """A greedy chat callable over an in-process model (snapcli.models.generation.generate_chat)."""
    from snapcli.models.generation import generate_chat

    def chat(conversations: Sequence[Messages], max_new_tokens: int = 128) -> list[dict[str, Any]]:
        return generate_chat(model, tok, conversations, max_new_tokens=max_new_tokens, batch_size=batch_size,
                             temperature=0.0)

    return chat


def backend_chat(backend: Any, model: str) -> ChatFn:
    """A greedy chat callable over an `LLMBackend` (requests cached and counted by the backend)."""
    from snapcli.llm import Sampling

    def chat(conversations: Sequence[Messages], max_new_tokens: int = 128) -> list[Any]:
        return backend.chat_many(model, list(conversations), Sampling(temperature=0.0, max_tokens=max_new_tokens))

    return chat
