"""A chat session over any loadable model: the history, trimming it to the context budget, and one turn.

Kept apart from the CLI so `snap chat` stays a thin loop and the session can be driven from Python (e.g. to
compare a base and an unlearned model on the same questions).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from snapcli.models.generation import Messages, generate_chat, render_chat


@dataclass
class ChatSession:
    model: Any
    tok: Any
    system: str | None = None
    max_new_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = None
    max_input_tokens: int = 1024
    history: Messages = field(default_factory=list)

    def reset(self) -> None:
        self.history.clear()

    def messages(self, user: str | None = None) -> Messages:
        msgs: Messages = [{"role": "system", "content": self.system}] if self.system else []
        msgs += self.history
        if user is not None:
            msgs.append({"role": "user", "content": user})
        return msgs

    def _n_tokens(self, msgs: Messages) -> int:
        return len(self.tok(render_chat(self.tok, msgs), add_special_tokens=False)["input_ids"])

    def _trim(self, user: str) -> int:
        """Drop the oldest exchanges until the prompt fits; cutting tokens off the front instead would mangle
        the chat template (and the system prompt) the model relies on. Returns how many messages were dropped."""
        dropped = 0
        while self.history and self._n_tokens(self.messages(user)) > self.max_input_tokens:
            del self.history[:2]
            dropped += 2
        return dropped

    def ask(self, user: str) -> dict[str, Any]:
        """One turn: the reply is added to the history so the next question sees the conversation."""
        dropped = self._trim(user)
        t0 = time.monotonic()
        [res] = generate_chat(
            self.model, self.tok, [self.messages(user)], max_new_tokens=self.max_new_tokens, batch_size=1,
            temperature=self.temperature, seed=self.seed, max_input_tokens=self.max_input_tokens,
        )
        self.history += [{"role": "user", "content": user}, {"role": "assistant", "content": res["text"]}]
        return {"prompt": user, "reply": res["text"], "prompt_tokens": res["prompt_tokens"],
                "completion_tokens": res["completion_tokens"], "seconds": round(time.monotonic() - t0, 3),
                "history_dropped": dropped}

    def ask_each(self, prompts: list[str], batch_size: int = 8, on_batch=None) -> list[dict[str, Any]]:
        """Independent single-turn questions, batched (length-bucketed) in one pass; the history is not used."""
        t0 = time.monotonic()
        convs = [[*([{"role": "system", "content": self.system}] if self.system else []),
                  {"role": "user", "content": p}] for p in prompts]
        res = generate_chat(
            self.model, self.tok, convs, max_new_tokens=self.max_new_tokens, batch_size=batch_size,
            temperature=self.temperature, seed=self.seed, max_input_tokens=self.max_input_tokens, on_batch=on_batch,
        )
        total = round(time.monotonic() - t0, 3)
        return [{"prompt": p, "reply": r["text"], "prompt_tokens": r["prompt_tokens"],
                 "completion_tokens": r["completion_tokens"], "batch_seconds": total}
                for p, r in zip(prompts, res, strict=True)]
