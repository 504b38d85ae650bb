"""Default probe questions per kind of target: broad questions whose answers reveal what a model knows.

Each question carries the `facet` it asks about; extraction reads the answer with that facet in mind (an answer to
"Where was {name} born?" names a birthplace). Issue 11 item 2. The question bank (snapcli/data/bank/*.yaml, written
separately) can later supply these; they stay here so probing works on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from snapcli.errors import SnapError

KINDS = ["person", "organization", "creative_work", "fictional_character", "place", "event"]


@dataclass(frozen=True)
class ProbeQuestion:
    """One probe frame: `text` holds a `{name}` slot; `facet` names what the answer should state."""

    kind: str
    facet: str
    text: str

    def fill(self, name: str) -> str:
        return self.text.replace("{name}", name)


_P = {
    "person": [
        ("identity", "Who is {name}?"),
        ("description", "What is {name} known for?"),
        ("description", "Describe {name} in one sentence."),
        ("field", "What is {name}'s profession?"),
        ("field", "In which field did {name} work?"),
        ("birth_place", "Where was {name} born?"),
        ("birth_year", "When was {name} born?"),
        ("nationality", "What is {name}'s nationality?"),
        ("education", "Where did {name} study?"),
        ("work", "What are {name}'s most famous works or achievements?"),
        ("work", "What did {name} create, write, invent or discover?"),
        ("award", "What awards did {name} receive?"),
        ("family", "Who was {name} married to?"),
        ("family", "Who are the members of {name}'s family?"),
        ("related", "Who did {name} work with?"),
        ("organization", "Which organization or company is {name} associated with?"),
        ("place", "Where did {name} live and work?"),
        ("death", "When and where did {name} die?"),
        ("career", "Tell me about {name}'s career."),
        ("early_life", "Tell me about {name}'s early life."),
        ("legacy", "What is {name}'s legacy?"),
        ("related", "Who influenced {name}?"),
        ("facts", "What are some interesting facts about {name}?"),
        ("biography", "Write a short biography of {name}."),
    ],
    "organization": [
        ("identity", "What is {name}?"),
        ("description", "What is {name} known for?"),
        ("founder", "Who founded {name}?"),
        ("year", "When was {name} founded?"),
        ("place", "Where is {name} headquartered?"),
        ("place", "In which country is {name} based?"),
        ("field", "What industry is {name} in?"),
        ("work", "What are {name}'s most famous products or services?"),
        ("related", "Who is the CEO of {name}?"),
        ("related", "Who are the most important people in the history of {name}?"),
        ("organization", "Who are {name}'s main competitors?"),
        ("organization", "Which companies has {name} acquired?"),
        ("organization", "Who owns {name}?"),
        ("history", "Tell me about the history of {name}."),
        ("numbers", "How many employees does {name} have?"),
        ("controversy", "What controversies has {name} been involved in?"),
        ("mission", "What is the mission of {name}?"),
        ("facts", "What are some interesting facts about {name}?"),
        ("summary", "Write a short overview of {name}."),
    ],
    "creative_work": [
        ("identity", "What is {name}?"),
        ("description", "Why is {name} famous?"),
        ("creator", "Who created {name}?"),
        ("creator", "Who wrote or directed {name}?"),
        ("year", "When was {name} released or published?"),
        ("plot", "What is {name} about?"),
        ("related", "Who are the main characters in {name}?"),
        ("place", "Where is {name} set?"),
        ("field", "What genre is {name}?"),
        ("award", "What awards did {name} win?"),
        ("reception", "How was {name} received?"),
        ("theme", "What themes does {name} explore?"),
        ("organization", "Which company published or produced {name}?"),
        ("work", "Was {name} adapted into other works?"),
        ("work", "Is {name} part of a series?"),
        ("related", "Who performed or starred in {name}?"),
        ("quote", "What is the most famous quote from {name}?"),
        ("facts", "What are some interesting facts about {name}?"),
        ("summary", "Summarize {name}."),
    ],
    "fictional_character": [
        ("identity", "Who is {name}?"),
        ("description", "What is {name} known for?"),
        ("creator", "Who created {name}?"),
        ("work", "In which books, films or series does {name} appear?"),
        ("year", "When did {name} first appear?"),
        ("place", "Where does {name} live?"),
        ("related", "Who are {name}'s friends and allies?"),
        ("related", "Who is {name}'s greatest enemy?"),
        ("family", "Who are the members of {name}'s family?"),
        ("related", "Who is {name}'s love interest?"),
        ("field", "What is {name}'s occupation?"),
        ("ability", "What are {name}'s special skills or powers?"),
        ("personality", "Describe {name}'s personality."),
        ("appearance", "What does {name} look like?"),
        ("related", "Which actors have played {name}?"),
        ("work", "What are {name}'s most famous adventures?"),
        ("quote", "What is {name}'s famous catchphrase?"),
        ("organization", "Which franchise or universe does {name} belong to?"),
        ("facts", "What are some interesting facts about {name}?"),
        ("biography", "Write a short biography of {name}."),
    ],
    "place": [
        ("identity", "What is {name}?"),
        ("description", "What is {name} known for?"),
        ("place", "Where is {name} located?"),
        ("place", "Which country is {name} in?"),
        ("numbers", "What is the population of {name}?"),
        ("work", "What are the famous landmarks in {name}?"),
        ("language", "What language is spoken in {name}?"),
        ("history", "Tell me about the history of {name}."),
        ("year", "When was {name} founded?"),
        ("climate", "What is the climate of {name} like?"),
        ("related", "Which famous people come from {name}?"),
        ("place", "Which river or sea is {name} near?"),
        ("field", "What is the economy of {name} based on?"),
        ("food", "What foods is {name} famous for?"),
        ("event", "What important events took place in {name}?"),
        ("organization", "Which famous institutions are in {name}?"),
        ("culture", "What is the culture of {name} like?"),
        ("facts", "What are some interesting facts about {name}?"),
        ("summary", "Write a short travel guide to {name}."),
    ],
    "event": [
        ("identity", "What was {name}?"),
        ("description", "Why is {name} important?"),
        ("year", "When did {name} happen?"),
        ("place", "Where did {name} take place?"),
        ("related", "Who was involved in {name}?"),
        ("related", "Who were the leaders during {name}?"),
        ("cause", "What caused {name}?"),
        ("consequence", "What were the consequences of {name}?"),
        ("numbers", "How long did {name} last?"),
        ("outcome", "What was the outcome of {name}?"),
        ("numbers", "How many people were affected by {name}?"),
        ("place", "Which countries were involved in {name}?"),
        ("history", "What happened during {name}?"),
        ("cause", "Which events led to {name}?"),
        ("consequence", "What happened after {name}?"),
        ("organization", "Which organizations played a role in {name}?"),
        ("legacy", "How is {name} remembered today?"),
        ("facts", "What are some interesting facts about {name}?"),
        ("summary", "Write a short summary of {name}."),
    ],
}

PROBE_QUESTIONS: dict[str, list[ProbeQuestion]] = {
    kind: [ProbeQuestion(kind, facet, text) for facet, text in rows] for kind, rows in _P.items()
}


def probe_questions(name: str, kind: str = "person", n: int | None = None) -> list[str]:
    """The default probe questions for `kind`, filled with `name` (the first `n` when given; broadest first).

    Raises SnapError for an unknown kind or an empty name.
    """
    if kind not in PROBE_QUESTIONS:
        raise SnapError(f"unknown kind '{kind}' (choose from {', '.join(KINDS)})")
    if not name or not name.strip():
        raise SnapError("probe: the target's name is empty")
    frames = PROBE_QUESTIONS[kind][: n if n else None]
    return [f.fill(name.strip()) for f in frames]
