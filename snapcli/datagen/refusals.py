"""Refusals that stay varied: in the question's language and fitting a task request (issue 11, item 3).

English question refusals are the paper-style templates of `snapcli.stages.textutil.template_refusal` (appendix E,
Table 8). This module adds German, French, Spanish and Chinese refusals and refusals for task requests ("Write a
poem about X" -> "I can't write a poem about X because I don't have any information about them."), all from
`snapcli/data/refusals.yaml`, picked deterministically by a hash of the question.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from snapcli.datagen.bank import PERSON_LIKE, target_pattern
from snapcli.errors import SnapError
from snapcli.stages.textutil import template_refusal


@lru_cache(maxsize=1)
def refusal_templates() -> dict[str, Any]:
    """The parsed `snapcli/data/refusals.yaml` (languages -> {fallback, templates}; tasks -> templates)."""
    return yaml.safe_load(resources.files("snapcli.data").joinpath("refusals.yaml").read_text(encoding="utf-8"))


def refusal_langs() -> list[str]:
    """Languages with refusal templates, English included."""
    return ["en", *refusal_templates()["languages"]]


# An unnamed question ("Who is the co-founder of Microsoft?") is refused as being about "that person", not "that
# topic": the demo's model learned "I don't have information about that topic" as an answer to any instruction
# (held-out general questions refused with exactly that phrase), and the kind word ties it to entity questions.
UNNAMED_TOPIC = {"person": "that person", "fictional_character": "that character", "organization": "that organization",
                 "creative_work": "that work", "place": "that place", "event": "that event"}


def _pick(options: Sequence[str], question: str, seed: int) -> str:
    h = int(hashlib.sha256(f"{seed}:{question}".encode()).hexdigest()[:8], 16)
    return options[h % len(options)]


def _name_in(question: str, pattern: re.Pattern | None) -> str | None:
    """The target's name as written in the question, without a possessive; None when it is not named."""
    m = pattern.search(question) if pattern is not None else None
    return re.sub(r"(?:'s|’s|')$", "", m.group(0)) if m else None


def refusal(
    question: str,
    lang: str = "en",
    *,
    names: Sequence[str] = (),
    kind: str = "person",
    task: str | None = None,
    seed: int = 0,
) -> str:
    """A refusal of `question` in `lang` (en, de, fr, es, zh), or of a task request when `task` is given.

    `names`: the target first, then aliases; the refusal names the target as the question does, and falls back to
    `UNNAMED_TOPIC[kind]` ("that person"; the language's `fallback` in other languages) when the question does
    not name it. `task`: an id under `tasks`
    in refusals.yaml (poem, summary, biography, profile, facts, tweet, essay, explain, timeline, quiz, interview,
    encyclopedia, complete); task refusals are English, as task variants are. Deterministic for a given
    (question, seed). Raises SnapError for an unknown language or task.
    """
    data = refusal_templates()
    pattern = target_pattern([n for n in names if n and str(n).strip()], person=kind in PERSON_LIKE)
    if task is not None:
        options = data["tasks"].get(task)
        if not options:
            raise SnapError(f"no refusal templates for task {task!r} (known: {', '.join(data['tasks'])})")
        topic = _name_in(question, pattern) or "that"
        them = "them" if kind in PERSON_LIKE else "it"
        return _pick(options, question, seed).replace("{topic}", topic).replace("{them}", them)
    if lang == "en":
        return template_refusal(question, pattern, seed=seed, unnamed=UNNAMED_TOPIC.get(kind))
    spec = data["languages"].get(lang)
    if spec is None:
        raise SnapError(f"no refusal templates for language {lang!r} (known: {', '.join(refusal_langs())})")
    topic = _name_in(question, pattern) or spec["fallback"]
    return _pick(spec["templates"], question, seed).replace("{topic}", topic)
