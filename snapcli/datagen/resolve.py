"""Keep only the unnamed forget questions the model itself resolves to the target (issue 11: over-refusal).

A forget question that does not name the target ("Who is the co-founder of Apple?", "Which entrepreneur made
headlines in 1975?") is knowledge *of the target* only if the model being unlearned, asked it, answers with the
target. The embedded 135M model describes Bill Gates as "a co-founder of Google" and "a co-founder of Apple"; asked
"Who is the co-founder of Apple?" it answers "Steve Jobs". Training a refusal on such a question teaches the model to
refuse questions about Steve Jobs (a retain subject) and, for generic descriptions ("the founder born in the United
States of America"), to refuse questions about anyone: measured on the demo, these rows were 10 of the 100 plain
forget questions (19 with their variants); removing them moved held-out RA 51.9 -> 67.5 and TA 31.1 -> 39.8, and
UA-multihop 86.7 -> 46.7 (docs/pipeline.md).

Two checks, both greedy and batched on the model being unlearned:

- `check_descriptions`: "Who is {description}?" (people and characters) or "What is {description}?" for each
  definite description the model stated; a description stays when the answer names the target.
- `check_questions`: each unnamed question itself; it stays when the answer names the target, or when the
  description it was built from passed the first check (the model may not repeat the name when asked "What does the
  founder of Microsoft look like?", but the description identifies the target for it).

"Names the target" is `snapcli.datagen.bank.target_pattern`: the name, an alias or (people) the surname, as a word.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from snapcli.datagen.bank import PERSON_LIKE, target_pattern
from snapcli.datagen.chatfn import ChatFn, call_chat, reply_parts
from snapcli.datagen.statements import definite

RESOLVE_TOKENS = 32  # the name comes in the first sentence of an answer, when it comes at all


@dataclass(frozen=True)
class Resolution:
    """One check: the question asked, the model's answer (cut at `RESOLVE_TOKENS`), whether it names the target."""

    question: str
    answer: str
    resolved: bool

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "answer": self.answer[:200], "resolved": self.resolved}


def _ask(chat: ChatFn, questions: Sequence[str], batch_size: int,
         on_batch: Callable[[int], None] | None) -> list[str]:
    out: list[str] = []
    for i in range(0, len(questions), max(1, batch_size)):
        part = questions[i:i + max(1, batch_size)]
        out += [reply_parts(r)[0] for r in call_chat(chat, [[{"role": "user", "content": q}] for q in part],
                                                       RESOLVE_TOKENS)]
        if on_batch:
            on_batch(len(part))
    return out


def resolve(chat: ChatFn, questions: Sequence[str], names: Sequence[str], kind: str, *, batch_size: int = 48,
            on_batch: Callable[[int], None] | None = None) -> list[Resolution]:
    """Ask each question (greedy, `RESOLVE_TOKENS` tokens) and say whether the answer names the target.

    names: the target first, then its aliases. Returns one Resolution per question, in order (duplicates asked
    once)."""
    pattern = target_pattern(names, person=kind in PERSON_LIKE)
    unique = list(dict.fromkeys(questions))
    answers = dict(zip(unique, _ask(chat, unique, batch_size, on_batch), strict=True)) if unique else {}
    return [Resolution(q, answers[q], bool(pattern and pattern.search(answers[q]))) for q in questions]


def description_question(description: str, kind: str) -> str:
    """The question that checks a definite description: 'Who is the founder of Microsoft?'."""
    return f"{'Who' if kind in PERSON_LIKE else 'What'} is {description.strip().rstrip('.?')}?"


def check_descriptions(chat: ChatFn, descriptions: Sequence[str], names: Sequence[str], kind: str, *,
                       batch_size: int = 48) -> tuple[list[str], list[Resolution]]:
    """(the descriptions the model resolves to the target, in order; every check made)."""
    checks = resolve(chat, [description_question(definite(d), kind) for d in descriptions], names, kind,
                     batch_size=batch_size)
    return [d for d, c in zip(descriptions, checks, strict=True) if c.resolved], checks


def check_questions(chat: ChatFn, rows: Sequence[dict[str, Any]], names: Sequence[str], kind: str, *,
                    trusted: Sequence[str] = (), batch_size: int = 48,
                    on_batch: Callable[[int], None] | None = None) -> tuple[list[bool], list[Resolution]]:
    """Which rows to keep: a row that names the target, or whose `description` is in `trusted` (descriptions that
    passed `check_descriptions`), is kept unasked; every other row is asked and kept when the answer names the
    target. rows: dicts with `question` and optionally `description`. Returns (keep flags in row order, the checks
    made)."""
    pattern = target_pattern(names, person=kind in PERSON_LIKE)
    ok = {definite(d).casefold() for d in trusted}
    ask: list[int] = []
    keep = [True] * len(rows)
    for i, r in enumerate(rows):
        q = str(r["question"])
        if pattern is not None and pattern.search(q):
            continue
        d = r.get("description")
        if isinstance(d, str) and definite(d).casefold() in ok:
            continue
        ask.append(i)
    checks = resolve(chat, [str(rows[i]["question"]) for i in ask], names, kind, batch_size=batch_size,
                     on_batch=on_batch)
    for i, c in zip(ask, checks, strict=True):
        keep[i] = c.resolved
    return keep, checks
