"""A chat session over any chat backend (snapcli/llm: hf, vllm, openai): the history, trimming it to the context
budget, and one turn.

Kept apart from the CLI so `snap chat` stays a thin loop and the session can be driven from Python (e.g. to compare
a base and an unlearned model on the same questions).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from snapcli.llm import LLMBackend, Sampling

Messages = list[dict[str, str]]


def token_counter(backend: LLMBackend, model: str) -> Callable[[Messages], int]:
    """Prompt length in tokens: the model's own chat template in-process, else ~4 characters per token."""
    if backend.name == "hf":
        from snapcli.models.generation import render_chat

        _model, tok = backend.loaded(model)  # type: ignore[attr-defined]
        return lambda msgs: len(tok(render_chat(tok, msgs), add_special_tokens=False)["input_ids"])
    return lambda msgs: sum(len(m["content"]) for m in msgs) // 4 + 4 * len(msgs)


@dataclass
class ChatSession:
    backend: LLMBackend
    model: str
    system: str | None = None
    max_new_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = None
    max_input_tokens: int = 1024
    history: Messages = field(default_factory=list)
    count_tokens: Callable[[Messages], int] | None = None

    def __post_init__(self) -> None:
        if self.count_tokens is None:
            self.count_tokens = token_counter(self.backend, self.model)

    @property
    def sampling(self) -> Sampling:
        return Sampling(self.temperature, 1.0, self.max_new_tokens, self.seed)

    def reset(self) -> None:
        self.history.clear()

    def messages(self, user: str | None = None) -> Messages:
        msgs: Messages = [{"role": "system", "content": self.system}] if self.system else []
        msgs += self.history
        if user is not None:
            msgs.append({"role": "user", "content": user})
        return msgs

    def _trim(self, user: str) -> int:
        """Drop the oldest exchanges until the prompt fits; cutting tokens off the front instead would mangle
        the chat template (and the system prompt) the model relies on. Returns how many messages were dropped."""
        dropped = 0
        while self.history and self.count_tokens(self.messages(user)) > self.max_input_tokens:  # type: ignore[misc]
            del self.history[:2]
            dropped += 2
        return dropped

    def ask(self, user: str) -> dict[str, Any]:
        """One turn: the reply is added to the history so the next question sees the conversation."""
        dropped = self._trim(user)
        t0 = time.monotonic()
        [res] = self.backend.chat_many(self.model, [self.messages(user)], self.sampling)
        self.history += [{"role": "user", "content": user}, {"role": "assistant", "content": res.text}]
        return {"prompt": user, "reply": res.text, "prompt_tokens": res.prompt_tokens,
                "completion_tokens": res.completion_tokens, "seconds": round(time.monotonic() - t0, 3),
                "history_dropped": dropped}

    def ask_each(self, prompts: list[str], on_done: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
        """Independent single-turn questions, batched in one pass; the history is not used."""
        t0 = time.monotonic()
        convs = [[*([{"role": "system", "content": self.system}] if self.system else []),
                  {"role": "user", "content": p}] for p in prompts]
        res = self.backend.chat_many(self.model, convs, self.sampling, on_done=on_done)
        total = round(time.monotonic() - t0, 3)
        return [{"prompt": p, "reply": r.text, "prompt_tokens": r.prompt_tokens,
                 "completion_tokens": r.completion_tokens, "batch_seconds": total}
                for p, r in zip(prompts, res, strict=True)]
