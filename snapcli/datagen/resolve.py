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

A small model often answers a description with an invented name yet still prefers the right one: asked "Who is the
Polish-French chemist?", SmolLM2-135M answers "Eugene Apollinaire", but among Marie Curie and 32 other scientists it
gives "Marie Curie" the highest probability as the reply. So `check_descriptions` can also take a `scorer` (the
log-likelihood of each candidate reply, snapcli.models.scoring) and `contrast` names (the target's neighbours and the
people its answers mention): a description the answer does not resolve is kept when one of the target's names scores
above every contrast name. Measured on what the model said about four targets (issue 11): it keeps 7 of 11 Marie
Curie descriptions ("the first woman to win the Nobel Prize in Chemistry", margin +1.9 nats) and drops the wrong
("the Hungarian-American physicist": Albert Einstein ranks first) and the generic ("the scientist who won the Nobel
Prize"); none of the invented Taylor Swift or Sherlock Holmes descriptions ("the Jamaican-American rapper") and no
Bill Gates description the answer did not already resolve (Elon Musk outscores him on every one: a prior, not
knowledge, so the answer check stays first). It is opt-in (`snap generate --likelihood-check`): on held-out
marie-curie it raised UA 76.9 -> 84.6 and UA-multihop 0 -> 25 but lowered RA 86.7 -> 70.0 (docs/data-stages.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from snapcli.datagen.bank import PERSON_LIKE, target_pattern
from snapcli.datagen.chatfn import ChatFn, call_chat, reply_parts
from snapcli.datagen.statements import definite

RESOLVE_TOKENS = 32  # the name comes in the first sentence of an answer, when it comes at all
CONTRAST_NAMES = 24  # neighbours scored against the target: enough to hold the field's best-known names

# (messages, candidate replies) -> log P(reply | messages) per reply (snapcli.models.scoring.reply_logprobs)
Scorer = Callable[[list[dict[str, str]], Sequence[str]], list[float]]


@dataclass(frozen=True)
class Resolution:
    """One check: the question asked, the model's answer (cut at `RESOLVE_TOKENS`), whether it names the target."""

    question: str
    answer: str
    resolved: bool
    by: str = "answer"  # what decided: "answer" (it names the target) or "likelihood" (ranked above the contrast)
    margin: float | None = None  # nats: best target name minus best contrast name (likelihood checks only)
    rival: str | None = None  # the best-scoring contrast name (likelihood checks only)

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "answer": self.answer[:200], "resolved": self.resolved, "by": self.by,
                "margin": None if self.margin is None else round(self.margin, 3), "rival": self.rival}


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


def rank_by_likelihood(scorer: Scorer, question: str, names: Sequence[str],
                       contrast: Sequence[str]) -> tuple[float, str | None]:
    """(margin in nats, best contrast name): the best of `names` (the target and its aliases) minus the best of
    `contrast`, each scored as the whole reply to `question`. (inf, None) without contrast names."""
    if not contrast:
        return float("inf"), None
    scores = scorer([{"role": "user", "content": question}], [*names, *contrast])
    mine, theirs = scores[: len(names)], scores[len(names):]
    best = max(range(len(theirs)), key=theirs.__getitem__)
    return max(mine) - theirs[best], contrast[best]


def check_descriptions(chat: ChatFn, descriptions: Sequence[str], names: Sequence[str], kind: str, *,
                       batch_size: int = 48, scorer: Scorer | None = None,
                       contrast: Sequence[str] = ()) -> tuple[list[str], list[Resolution]]:
    """(the descriptions the model resolves to the target, in order; every check made).

    A description is kept when the model's answer to "Who/What is {description}?" names the target, or, given a
    `scorer` and `contrast` names, when one of `names` is a likelier reply than every contrast name (margin > 0)."""
    checks = resolve(chat, [description_question(definite(d), kind) for d in descriptions], names, kind,
                     batch_size=batch_size)
    mine = {n.casefold() for n in names}
    rivals = [c for c in dict.fromkeys(contrast) if c.casefold() not in mine]
    if scorer is not None and rivals:  # nobody to rank against: the answer alone decides
        for i, c in enumerate(checks):
            if c.resolved:
                continue
            margin, rival = rank_by_likelihood(scorer, c.question, names, rivals)
            checks[i] = Resolution(c.question, c.answer, margin > 0, "likelihood", margin, rival)
    return [d for d, c in zip(descriptions, checks, strict=True) if c.resolved], checks


def contrast_names(kind: str, group: str | None, names: Sequence[str], mentioned: Sequence[str] = (), *,
                   n: int = CONTRAST_NAMES) -> list[str]:
    """Who else a description of the target could denote: the `mentioned` names (people its answers name), then
    every name of its field's group (snapcli/data/neighbours.yaml, best known first), or `n` neighbours from the
    kind's groups round-robin when `group` is unknown; none of them the target ("Curie" is the target, "Pierre
    Curie" is not). Raises SnapError for an unknown kind."""
    from snapcli.datagen.neighbours import _same, groups_of, neighbour_groups, neighbours

    out = [m for m in dict.fromkeys(mentioned) if m and not any(_same(m, x) for x in names)]
    if group in groups_of(kind):
        pool = list(neighbour_groups()[kind][group]["names"])
    else:
        pool = neighbours(kind, None, exclude=names, n=n, seed=0)
    out += [x for x in pool if not any(_same(x, y) for y in [*names, *out])]
    return out


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
