"""What the model being unlearned knows about the target: probe it, read its answers, reuse what they state.

The knowledge to remove is the model's own (issue 11 item 2). Four steps, each a plain function:

1. `probe(chat, questions)`: ask the model broad questions (greedy, batched) -> the `knowledge` table
   (question, base_answer, prompt_tokens, completion_tokens); kept as the reference for leakage (issue 12 item 2).
2. `extract(name, answers)`: what the answers state, read with regexes and word lists (no network, no NLP model):
   descriptions ("a Polish-born French physicist"), relations ("married Pierre Curie", "founded Microsoft"),
   named people / organizations / places / works ranked by how the model mentions them, years, numbers, the
   target's aliases -> `Knowledge`, whose `facts` dict fills the question bank's slots.
3. `derived_questions(knowledge, names)` (snapcli.datagen.derive): implicit and multi-hop questions that
   describe the target instead of naming it.
4. `rank_related(knowledge, llm_suggested, user, k)` (snapcli.datagen.related): related-entity candidates for hard
   retaining data.

Kind detection (`detect_kind`, snapcli.datagen.kind) picks the probe set when the user gives no `--kind`.
`probe_target` runs the chain for one target. A 135M model states wrong things too; they are still what the model
would say, so they are still worth forgetting (docs/data-stages.md, "What the model knows").
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from snapcli.datagen.chatfn import ChatFn, backend_chat, call_chat, local_chat, reply_parts
from snapcli.datagen.entity_types import EmbedFn, type_by_embedding
from snapcli.datagen.mentions import PERSON_TITLES, find_mentions, gazetteer, nationalities, numbers, years
from snapcli.datagen.probe_questions import KINDS, PROBE_QUESTIONS, ProbeQuestion, probe_questions
from snapcli.datagen.statements import (
    DEFAULT_HEAD,
    Relation,
    composite,
    definite,
    describe,
    field_of,
    fits_kind,
    read_statements,
    sentences,
    specific,
)
from snapcli.datagen.target_names import TargetNames, fold, tokens
from snapcli.errors import SnapError

SLOTS = ("description", "related", "work", "place", "year", "field", "organization")
KNOWLEDGE_COLUMNS = ["question", "base_answer", "prompt_tokens", "completion_tokens"]
SOURCE = "model_knowledge"

# ------------------------------------------------------------------ 1. probe


def probe(
    chat: ChatFn,
    questions: Sequence[str],
    max_new_tokens: int = 96,
    batch_size: int = 16,
    on_batch: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Ask the model each question once (greedy; `chat` should decode greedily) -> the `knowledge` table.

    `chat(conversations[, max_new_tokens=N])` gets lists of single user-turn conversations, `batch_size` at a time
    (questions of similar length together), and returns one reply per conversation: a str, or a dict with
    "text", "prompt_tokens", "completion_tokens". Returns a DataFrame with columns question, base_answer,
    prompt_tokens, completion_tokens (Int64, <NA> when the chat returns plain strings), in the order of
    `questions`; duplicate questions are asked once. Raises SnapError on no questions or a bad `batch_size`,
    RuntimeError when the chat returns the wrong number of replies.
    """
    qs = [" ".join(str(q).split()) for q in questions if str(q).strip()]
    if not qs:
        raise SnapError("probe: no questions to ask")
    if batch_size < 1 or max_new_tokens < 1:
        raise SnapError("probe: batch_size and max_new_tokens must be >= 1")
    uniq = list(dict.fromkeys(qs))
    order = sorted(range(len(uniq)), key=lambda i: len(uniq[i]))
    answers: dict[str, tuple[str, Any, Any]] = {}
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        outs = call_chat(chat, [[{"role": "user", "content": uniq[i]}] for i in idx], max_new_tokens)
        for i, o in zip(idx, outs, strict=True):
            text, pt, ct = reply_parts(o)
            answers[uniq[i]] = (text, pd.NA if pt is None else pt, pd.NA if ct is None else ct)
        if on_batch:
            on_batch(len(idx))
    rows = [(q, *answers[q]) for q in qs]
    df = pd.DataFrame(rows, columns=KNOWLEDGE_COLUMNS)
    df["prompt_tokens"] = df["prompt_tokens"].astype("Int64")
    df["completion_tokens"] = df["completion_tokens"].astype("Int64")
    return df


# ------------------------------------------------------------------ 2. extract


@dataclass
class RankedEntity:
    """A named thing the model mentions in its answers about the target.

    kind: person | organization | place | creative_work | event | award | other; score: higher = more central
    (see `extract`); mentions: how many times it is named (surname-only mentions included); answers: in how many
    answers; first_answer: index of the first answer naming it; cues: why it got its kind.
    """

    name: str
    kind: str
    score: float
    mentions: int
    answers: int = 0
    first_answer: int = 0
    cues: list[str] = field(default_factory=list)


@dataclass
class Knowledge:
    """What the model's answers state about one target (issue 11 item 2).

    facts: slot name -> values, best first, for the question bank (snapcli.datagen.bank.fill_frames): description
    (definite descriptions that do not name the target: "the co-founder of Microsoft"), related (people),
    work (titles, products, creations), place, year, field (a singular noun: "physicist", "software company"),
    organization. entities: every named thing, ranked. kind_guess / field_guess: what the target is.
    descriptions: the descriptions as the model wrote them ("an American business magnate").
    aliases: other names the answers give the target ("Maria Skłodowska"). relations: stated relations with the
    description each gives. answers_used / answers_refused: answers read vs answers that were refusals or empty.
    """

    name: str
    facts: dict[str, list[str]]
    entities: list[RankedEntity]
    kind_guess: str
    field_guess: str | None
    descriptions: list[str]
    aliases: list[str] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    nationalities: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    gender: str | None = None
    answers_used: int = 0
    answers_refused: int = 0
    kind_why: str = ""
    basis: dict[str, str] = field(default_factory=dict)

    def described(self) -> list[tuple[str, str]]:
        """(definite description, basis) pairs, best first: basis is the relation predicate the description
        comes from ("cofounded", "spouse", ...) or "description" for what the model said the target is."""
        return [(d, self.basis.get(d, "description")) for d in self.facts.get("description", [])]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (for a manifest or the `knowledge` artifact's extra)."""
        return {
            "name": self.name, "facts": self.facts, "kind_guess": self.kind_guess, "kind_why": self.kind_why,
            "field_guess": self.field_guess, "descriptions": self.descriptions, "aliases": self.aliases,
            "gender": self.gender, "nationalities": self.nationalities, "numbers": self.numbers,
            "answers_used": self.answers_used, "answers_refused": self.answers_refused,
            "entities": [vars(e) for e in self.entities],
            "relations": [vars(r) for r in self.relations],
        }


# type weights for ranking: what hard retaining data is made of (people, organizations, places) first
KIND_WEIGHT = {"person": 1.0, "organization": 0.8, "place": 0.4, "creative_work": 0.5, "event": 0.3,
               "award": 0.1, "other": 0.1}
_REFUSAL_HINT = ("i don't have", "i do not have", "i'm not able", "i am not able", "i cannot", "i can't",
                 "i'm sorry", "i am sorry", "i apologize", "not aware of", "no information")


def _content_sentences(question: str, answer: str) -> tuple[list[str], bool]:
    """The answer's sentences minus refusals, repeats and the echoed question; (sentences, was_refusal)."""
    from snapcli.evaluate.judge import label_clause

    out: list[str] = []
    seen: set[str] = set()
    refused = 0
    qn = fold(question).strip(" ?")
    for s in sentences(answer):
        key = " ".join(tokens(s))
        if not key or key in seen:
            continue  # a 135M model loops: count each sentence once
        seen.add(key)
        if fold(s).strip(" ?") == qn:
            continue  # the answer repeats the question
        low = s.lower()
        label = label_clause(s).label if any(h in low for h in _REFUSAL_HINT) else "content"
        if label == "refusal":
            refused += 1
            continue
        out.append(s)
    return out, bool(refused) and not out


def _pairs(answers: pd.DataFrame | Sequence[Any]) -> list[tuple[str, str]]:
    if isinstance(answers, pd.DataFrame):
        col = "base_answer" if "base_answer" in answers.columns else "answer"
        if col not in answers.columns:
            raise SnapError("extract: the answers table needs a base_answer (or answer) column")
        qs = answers["question"] if "question" in answers.columns else [""] * len(answers)
        return [(str(q or ""), str(a or "")) for q, a in zip(qs, answers[col], strict=True)]
    out = []
    for a in answers:
        if isinstance(a, str):
            out.append(("", a))
        else:
            q, ans = a
            out.append((str(q or ""), str(ans or "")))
    return out


def _entity_key(name: str, kind: str) -> str:
    """Same entity, other spelling: titles, articles, middle names and corporate suffixes ignored."""
    toks = [t for t in tokens(name) if t and t != "the"]
    if kind == "person":
        toks = [t for t in toks if t not in PERSON_TITLES and len(t) > 1] or toks
        if len(toks) >= 2:
            return f"{toks[0]} {toks[-1]}"
    if kind == "organization":
        core = [t for t in toks if t not in {"the", "inc", "corp", "corporation", "ltd", "llc", "plc", "co",
                                             "company"}]
        toks = core or toks
    key = " ".join(toks) or name.lower()
    return gazetteer()["same"].get(key, key)  # "USA" and "the United States" are one entity


def _display(name: str) -> str:
    words = name.split()
    while len(words) > 2 and fold(words[0]).strip(".") in PERSON_TITLES and words[1][:1].isupper():
        words = words[1:]  # "Sir Arthur Conan Doyle" -> "Arthur Conan Doyle"; "Dr. Watson" stays
    return " ".join(words)


def extract(
    name: str,
    answers: pd.DataFrame | Sequence[str | tuple[str, str]],
    aliases: Sequence[str] = (),
    kind: str | None = None,
    embed: EmbedFn | None = None,
) -> Knowledge:
    """Read the model's answers about `name` -> Knowledge.

    `answers`: the `probe` table (question, base_answer), or (question, answer) pairs, or answer strings.
    `kind`: the target's kind if known; otherwise guessed from the answers (snapcli.datagen.kind.detect_kind).
    Refusals, empty answers, repeated sentences and echoed questions add nothing. Entities that name the target
    (its name, aliases, surname, initials, possessive, any diacritics or script) or are named after it are left
    out; a surname alone counts as a mention of the person already named in full ("Allen" -> "Paul Allen").

    Entity score = KIND_WEIGHT[kind] x (1 + log2(answers naming it + 0.25 x further mentions)) x (1 + 1/(1 +
    index of the first answer naming it)) x (1.5 if a stated relation has it as object). Copula descriptions are
    kept when specific (statements.specific). `embed` (texts -> normalized vectors, e.g.
    snapcli.stages.filter.embed) types the names that only capitalization calls people
    (snapcli.datagen.entity_types). Raises SnapError on an empty name or an unknown kind.
    """
    from snapcli.datagen.kind import detect_kind

    if not name or not name.strip():
        raise SnapError("extract: the target's name is empty")
    name = name.strip()
    cleaned: list[tuple[str, str]] = []
    refused = 0
    for q, a in _pairs(answers):
        sents, was_refusal = _content_sentences(q, a)
        if was_refusal or not sents:
            refused += 1
            continue
        cleaned.append((q, " ".join(sents)))
    kind_why = "given"
    if kind is None:
        kind, kind_why = detect_kind(name, [a for _, a in cleaned])
    elif kind not in KINDS:
        raise SnapError(f"unknown kind '{kind}' (choose from {', '.join(KINDS)})")
    names = TargetNames(name, list(aliases), person=kind in ("person", "fictional_character"))
    st = read_statements(cleaned, names, kind)
    # aliases the answers reveal ("Marie Curie (born Maria Skłodowska)") join the target's names first
    new_aliases = list(dict.fromkeys(a for a in st.aliases if not names.is_alias(a)))
    if new_aliases:
        names = TargetNames(name, [*aliases, *new_aliases], person=names.person)
    ranked = _rank_entities(cleaned, names, {fold(r.obj) for r in st.relations}, embed)
    gender = None
    if names.person:  # "he" in an answer about Paris is someone else
        gender = "female" if st.she > st.he * 1.5 and st.she >= 2 else (
            "male" if st.he > st.she * 1.5 and st.he >= 2 else None)
    raw_descs = list(dict.fromkeys(st.descriptions))
    fields = Counter(f for f in (field_of(d) for d in raw_descs) if f)
    # the most frequent field noun that fits the kind ("conglomerate", not "leader", for a company)
    # generic nouns ("character") only when nothing more telling ("detective") was said
    fitting = sorted((f for f, _ in fields.most_common() if fits_kind(f, kind)),
                     key=lambda f: f in ("character", "protagonist", "organization", "place", "event"))
    field_guess = fitting[0] if fitting else None
    fields = Counter({f: c for f, c in fields.items() if fits_kind(f, kind)})
    described, basis = _descriptions(raw_descs, st.relations, names, field_guess or DEFAULT_HEAD.get(kind, "one"),
                                     {"female": "wife", "male": "husband"}.get(gender or "", "spouse"),
                                     "who" if names.person else "that")
    all_text = " ".join(a for _, a in cleaned)
    facts = _facts(described, ranked, st.relations, fields, all_text, names)
    return Knowledge(
        name=name, facts=facts, entities=ranked, kind_guess=kind, field_guess=field_guess, descriptions=raw_descs,
        aliases=new_aliases, relations=st.relations,
        nationalities=list(dict.fromkeys(n for d in raw_descs for n in nationalities(d))),
        numbers=list(dict.fromkeys(numbers(all_text)))[:20], gender=gender, answers_used=len(cleaned),
        answers_refused=refused, kind_why=kind_why, basis=basis,
    )


def _new_entity(first: int) -> dict[str, Any]:
    return {"names": Counter(), "kinds": Counter(), "answers": set(), "mentions": 0, "first": first,
            "cues": Counter()}


def _rank_entities(
    cleaned: list[tuple[str, str]], names: TargetNames, rel_objects: set[str], embed: EmbedFn | None = None,
) -> list[RankedEntity]:
    """Every named thing in the answers but the target, merged across spellings, scored (see `extract`)."""
    ents: dict[str, dict[str, Any]] = {}
    lone: list[tuple[str, str, int]] = []
    found = [find_mentions(a) for _, a in cleaned]
    if embed is not None:  # names typed by capitalization alone get the embedder's opinion
        guesses = type_by_embedding([m.text for ms in found for m in ms if m.cue == "capitalized words"], embed)
        for ms in found:
            for m in ms:
                if m.text in guesses:
                    m.kind, m.cue = guesses[m.text], "embedding"
    for ai, mentions in enumerate(found):
        for mt in mentions:
            if names.is_alias(mt.text):
                continue
            if names.named_after(mt.text) or (not names.person and names.mentioned_in(mt.text)):
                continue  # "Microsoft Windows", "The Taylor Swift Blog": named after the target
            if len(mt.text.split()) == 1 and mt.kind in ("other", "person") and not mt.quoted:
                lone.append((mt.text, mt.kind, ai))
                continue
            if mt.kind == "other" and len(tokens(mt.text)) > 5:
                continue
            e = ents.setdefault(_entity_key(mt.text, mt.kind), _new_entity(ai))
            e["names"][_display(mt.text)] += 1
            # the kind seen with the strongest evidence wins: own words > context > capitalization alone
            e["kinds"][mt.kind] += 3 if mt.cue == "words" else (1 if mt.cue in ("", "capitalized words") else 2)
            if mt.cue:
                e["cues"][mt.cue] += 1
            e["answers"].add(ai)
            e["mentions"] += 1
    # a lone capitalized word: the surname (or the unique first name) of a person already named, else its own
    persons = [k for k, e in ents.items() if e["kinds"].most_common(1)[0][0] == "person" and " " in k]
    for word, mkind, ai in lone:
        f = fold(word).removesuffix("'s")
        owner = next((k for k in persons if k.split()[-1] == f), None)
        if owner is None:
            firsts = [k for k in persons if k.split()[0] == f]
            owner = firsts[0] if len(firsts) == 1 else None
        if owner is None:
            owner = _entity_key(word, "other")
            if owner not in ents:
                ents[owner] = _new_entity(ai)
                guess = mkind if mkind != "other" else "place" if f in _places() else \
                    "organization" if word.isupper() and len(word) >= 2 else "other"
                ents[owner]["kinds"][guess] += 1
            ents[owner]["names"][word] += 1
        e = ents[owner]
        e["answers"].add(ai)
        e["mentions"] += 1
        e["first"] = min(e["first"], ai)
    ranked: list[RankedEntity] = []
    for e in ents.values():
        display = e["names"].most_common(1)[0][0]
        longest = max(e["names"], key=lambda n: (len(n.split()), e["names"][n]))
        if len(longest.split()) > len(display.split()):
            display = longest  # "Paul Allen" reads better than "Allen"
        ek = e["kinds"].most_common(1)[0][0]
        n_ans = len(e["answers"])
        # log-scaled counts: a country named in every answer must not bury the spouse named twice
        score = KIND_WEIGHT.get(ek, 0.1) * (1 + math.log2(n_ans + 0.25 * (e["mentions"] - n_ans))) * \
            (1 + 1 / (1 + e["first"]))
        if any(fold(n) in rel_objects for n in [display, *e["names"]]):
            score *= 1.5
        ranked.append(RankedEntity(display, ek, round(score, 4), e["mentions"], n_ans, e["first"],
                                   [c for c, _ in e["cues"].most_common(3)]))
    ranked.sort(key=lambda r: (-r.score, r.first_answer, r.name))
    return ranked


def _descriptions(
    raw: list[str], relations: list[Relation], names: TargetNames, head: str, spouse_word: str, who: str,
) -> tuple[list[str], dict[str, str]]:
    """Definite descriptions that do not name the target, best first, and the basis of each."""
    descs = [dd for dd in (definite(d) for d in raw)
             if dd.lower().startswith("the ") and not dd.lower().startswith("the one of") and specific(dd)]
    for r in relations:
        r.description = describe(r, head, spouse_word, who)
    basis: dict[str, str] = {d: "description" for d in descs}
    rel_descs: list[str] = []
    for d in descs[:2]:  # the best copula description sharpened by the first verb relation that fits it
        for r in relations:
            c = composite(d, r, who)
            if c:
                rel_descs.append(c)
                basis[c] = r.predicate
                break
    for r in sorted((r for r in relations if r.description),
                    key=lambda r: _DESC_ORDER.index(r.predicate) if r.predicate in _DESC_ORDER else 99):
        rel_descs.append(r.description)
        basis.setdefault(r.description, r.predicate)
    # "the co-founder of Microsoft" identifies the target better than "the American business magnate": relational
    # descriptions lead, the strongest copula description comes third
    merged: list[str] = []
    for d in [*rel_descs[:2], *descs[:1], *rel_descs[2:], *descs[1:]]:
        if d and d not in merged and not names.mentioned_in(d) and len(d.split()) <= 16 and \
                not any(_similar(d, m) for m in merged):
            merged.append(d)
    return merged, {d: basis.get(d, "description") for d in merged}


def _facts(
    described: list[str], ranked: list[RankedEntity], relations: list[Relation], fields: Counter, text: str,
    names: TargetNames,
) -> dict[str, list[str]]:
    """The bank's slots filled from what the answers state, best first, never naming the target."""
    facts: dict[str, list[str]] = {s: [] for s in SLOTS}
    facts["description"] = described
    facts["related"] = [r.name for r in ranked if r.kind == "person"]
    works = [r.name for r in ranked if r.kind == "creative_work"]
    works += [r.obj for r in relations if r.predicate in ("wrote", "directed", "composed", "invented", "makes",
                                                         "appears_in", "starred")]
    facts["work"] = [w for w in works if not names.mentioned_in(w)]
    stated = [r.obj for r in relations if r.predicate in ("born_in", "based_in", "located_in", "set_in",
                                                         "took_place_in", "capital_of")]
    facts["place"] = [*stated, *(r.name for r in ranked if r.kind == "place")]
    counts = Counter(y.rstrip("s") for y in years(text))
    facts["year"] = [y for y, _ in sorted(counts.items(), key=lambda kv: (-kv[1], text.find(kv[0])))]
    facts["field"] = [f for f, _ in fields.most_common()]
    facts["organization"] = [r.name for r in ranked if r.kind == "organization"]
    return {s: [v for v in dict.fromkeys(vals) if v and not names.is_alias(v)] for s, vals in facts.items()}


_DESC_ORDER = ["cofounded", "founded", "written_by", "created_by", "wrote", "discovered", "invented", "directed",
               "composed", "founded_by", "appears_in", "capital_of", "spouse", "won", "led", "starred", "makes",
               "published_by", "owned_by", "home_to", "set_in", "based_in", "known_for", "studied_at", "worked_at",
               "born_in", "located_in", "took_place_in", "lived_in", "died_in"]


def _similar(a: str, b: str) -> bool:
    """Near-duplicate descriptions ("the fictional detective created by X" vs "the detective created by X")."""
    ta, tb = set(tokens(a)) - {"the", "a", "an", "who", "of"}, set(tokens(b)) - {"the", "a", "an", "who", "of"}
    return bool(ta and tb) and len(ta & tb) / len(ta | tb) >= 0.75


def _places() -> set[str]:
    return gazetteer()["places"]  # type: ignore[return-value]


# ------------------------------------------------------------------ the chain for one target


def neutral_questions(name: str) -> list[str]:
    """Kind-neutral questions asked first when the kind is unknown (their answers decide it)."""
    return [f"Who or what is {name}?", f"What is {name} known for?", f"Tell me about {name}."]


def probe_target(
    chat: ChatFn,
    name: str,
    kind: str | None = None,
    aliases: Sequence[str] = (),
    n_questions: int | None = None,
    max_new_tokens: int = 96,
    batch_size: int = 16,
    kind_chat: ChatFn | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, Knowledge]:
    """Probe, detect the kind when not given, probe with that kind's questions, extract.

    Returns (knowledge table with an extra `facet` column, Knowledge). `kind_chat` (e.g. the question writer)
    answers the strict-format kind question; without it the kind comes from the answers' wording.
    """
    from snapcli.datagen.kind import detect_kind

    first = probe(chat, neutral_questions(name), max_new_tokens, batch_size, on_batch)
    why = "given"
    if kind is None:
        kind, why = detect_kind(name, first["base_answer"].tolist(), chat=kind_chat)
    elif kind not in KINDS:
        raise SnapError(f"unknown kind '{kind}' (choose from {', '.join(KINDS)})")
    frames: list[ProbeQuestion] = PROBE_QUESTIONS[kind][: n_questions or None]
    qs = probe_questions(name, kind, n_questions)
    rest = probe(chat, [q for q in qs if q not in set(first["question"])], max_new_tokens, batch_size, on_batch)
    table = pd.concat([first, rest], ignore_index=True)
    facet = {f.fill(name): f.facet for f in frames}
    table["facet"] = [facet.get(q, "identity") for q in table["question"]]
    know = extract(name, table, aliases=aliases, kind=kind)
    know.kind_why = why
    return table, know


def facts_by_facet(knowledge: Knowledge) -> dict[str, list[str]]:
    """What the model stated per facet (birth place, spouse, founded, ...), for answer hints and gold facts."""
    out: dict[str, list[str]] = defaultdict(list)
    for r in knowledge.relations:
        out[r.predicate].append(r.obj)
    if knowledge.facts.get("year"):
        out["year"] = list(knowledge.facts["year"])
    if knowledge.nationalities:
        out["nationality"] = list(knowledge.nationalities)
    if knowledge.field_guess:
        out["field"] = [knowledge.field_guess]
    return dict(out)


__all__ = [
    "SLOTS", "SOURCE", "KNOWLEDGE_COLUMNS", "ChatFn", "Knowledge", "RankedEntity", "Relation", "backend_chat",
    "extract", "facts_by_facet", "local_chat", "neutral_questions", "probe", "probe_questions", "probe_target",
]
