"""Questions derived from what the model itself said: implicit and multi-hop, never naming the target.

Implicit: one of the target's descriptions in place of its name ("Where was the co-founder of Microsoft born?").
Multi-hop: the target must first be found through a relation and the answer is a second fact
("Who did the co-founder of Microsoft marry?" when the model named a spouse), or the question itself chains two
facts ("In which country was the author of The Old Man and the Sea born?"). Each row carries the model's own
answer facts when it stated them (`facts`), usable as gold facts for leakage (issue 12 item 2), and
source = "model_knowledge". Issue 11 item 2.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

import pandas as pd

from snapcli.datagen.knowledge import SOURCE, Knowledge, facts_by_facet
from snapcli.datagen.target_names import TargetNames, fold
from snapcli.errors import SnapError

DERIVED_COLUMNS = ["question", "category", "facet", "description", "basis", "facts", "frame_id", "source"]

# (frame id, facet, text with {d}, the facts_by_facet keys whose values answer it)
_IMPLICIT: dict[str, list[tuple[str, str, str, tuple[str, ...]]]] = {
    "person": [
        ("who", "identity", "Who is {d}?", ()),
        ("name", "identity", "What is the name of {d}?", ()),
        ("born-where", "birth", "Where was {d} born?", ("born_in",)),
        ("born-when", "birth", "In what year was {d} born?", ("born_year",)),
        ("nationality", "nationality", "What nationality is {d}?", ("nationality",)),
        ("known-for", "description", "What is {d} best known for?", ("known_for", "discovered", "invented")),
        ("married", "family", "Who was {d} married to?", ("spouse",)),
        ("study", "education", "Where did {d} study?", ("studied_at",)),
        ("created", "work", "What did {d} create or discover?", ("discovered", "invented", "wrote")),
        ("awards", "award", "Which awards did {d} receive?", ("won",)),
        ("died", "death", "When did {d} die?", ("died_year",)),
        ("career", "career", "Tell me about the career of {d}.", ()),
        ("childhood", "early_life", "What was the childhood of {d} like?", ()),
        ("works-for", "organization", "Which organization did {d} work for?", ("worked_at", "founded", "cofounded",
                                                                               "led")),
        ("legacy", "legacy", "Why is {d} important today?", ()),
        ("field", "field", "What was the profession of {d}?", ("field",)),
    ],
    "organization": [
        ("name", "identity", "What is the name of {d}?", ()),
        ("founder", "founder", "Who founded {d}?", ("founded_by",)),
        ("founded-when", "year", "When was {d} founded?", ("founded_year",)),
        ("hq", "place", "Where is {d} headquartered?", ("based_in", "located_in")),
        ("products", "work", "What products is {d} known for?", ("makes", "known_for")),
        ("leader", "related", "Who runs {d} today?", ("led",)),
        ("industry", "field", "Which industry is {d} in?", ("field",)),
        ("history", "history", "Tell me about the history of {d}.", ()),
        ("employees", "numbers", "How many people work for {d}?", ()),
        ("owner", "organization", "Who owns {d}?", ("owned_by",)),
    ],
    "creative_work": [
        ("title", "identity", "What is the title of {d}?", ()),
        ("creator", "creator", "Who created {d}?", ("written_by", "created_by", "directed_by")),
        ("released", "year", "When was {d} first released?", ("released_year",)),
        ("about", "plot", "What is {d} about?", ()),
        ("setting", "place", "Where is {d} set?", ("set_in",)),
        ("characters", "related", "Who are the main characters of {d}?", ()),
        ("reception", "reception", "How was {d} received?", ()),
        ("publisher", "organization", "Which company published {d}?", ("published_by",)),
        ("genre", "field", "What genre is {d}?", ("field",)),
    ],
    "fictional_character": [
        ("name", "identity", "What is the name of {d}?", ()),
        ("creator", "creator", "Who created {d}?", ("created_by", "written_by")),
        ("appears", "work", "In which stories does {d} appear?", ("appears_in",)),
        ("home", "place", "Where does {d} live?", ("lived_in",)),
        ("friend", "related", "Who is the closest friend of {d}?", ()),
        ("skills", "ability", "What are the special skills of {d}?", ()),
        ("personality", "personality", "Describe the personality of {d}.", ()),
        ("first", "year", "When did {d} first appear?", ("released_year",)),
        ("job", "field", "What does {d} do for a living?", ("field",)),
    ],
    "place": [
        ("name", "identity", "What is the name of {d}?", ()),
        ("country", "place", "Which country is {d} in?", ("located_in", "capital_of")),
        ("famous", "description", "What is {d} famous for?", ("known_for", "home_to")),
        ("population", "numbers", "How many people live in {d}?", ()),
        ("language", "language", "What language is spoken in {d}?", ()),
        ("landmarks", "work", "What are the main landmarks of {d}?", ("home_to",)),
        ("history", "history", "Tell me about the history of {d}.", ()),
        ("founded", "year", "When was {d} founded?", ("founded_year",)),
    ],
    "event": [
        ("name", "identity", "What is {d} called?", ()),
        ("when", "year", "When did {d} begin?", ("began_year",)),
        ("where", "place", "Where did {d} take place?", ("took_place_in",)),
        ("who", "related", "Who was involved in {d}?", ()),
        ("cause", "cause", "What caused {d}?", ()),
        ("end", "outcome", "How did {d} end?", ()),
        ("after", "consequence", "What happened after {d}?", ()),
    ],
}

# (frame id, facet, text, the facts_by_facet keys the frame needs, the keys whose values answer it)
_MULTIHOP: dict[str, list[tuple[str, str, str, tuple[str, ...], tuple[str, ...]]]] = {
    "person": [
        ("mh-born-country", "birth", "In which country was {d} born?", ("born_in",), ("born_in",)),
        ("mh-born-capital", "birth", "What is the capital of the country where {d} was born?", ("born_in",), ()),
        ("mh-spouse-job", "family", "What was the profession of the person {d} married?", ("spouse",), ("spouse",)),
        ("mh-company-hq", "organization", "Where is the company founded by {d} headquartered?",
         ("founded", "cofounded"), ()),
        ("mh-cofounders", "organization", "Who else founded the company that {d} started?", ("founded", "cofounded"),
         ()),
        ("mh-school-city", "education", "In which city is the school where {d} studied?", ("studied_at",),
         ("studied_at",)),
        ("mh-award-year", "award", "In which year did {d} first win a major award?", ("won",), ("won",)),
    ],
    "organization": [
        ("mh-founder-born", "founder", "Where was the founder of {d} born?", ("founded_by",), ()),
        ("mh-founder-else", "founder", "What else is the founder of {d} known for?", ("founded_by",), ()),
        ("mh-hq-country", "place", "In which country is the city where {d} has its headquarters?",
         ("based_in", "located_in"), ("based_in", "located_in")),
        ("mh-product-year", "work", "When was the best-known product of {d} first released?", ("makes",), ()),
    ],
    "creative_work": [
        ("mh-author-born", "creator", "Where was the creator of {d} born?", ("written_by", "created_by",
                                                                            "directed_by"), ()),
        ("mh-author-other", "creator", "What other works did the creator of {d} make?", ("written_by", "created_by",
                                                                                        "directed_by"), ()),
        ("mh-setting-country", "place", "In which country is the place where {d} is set?", ("set_in",), ("set_in",)),
    ],
    "fictional_character": [
        ("mh-creator-born", "creator", "Where was the author who created {d} born?", ("created_by", "written_by"),
         ()),
        ("mh-creator-other", "creator", "What other books did the creator of {d} write?", ("created_by",
                                                                                          "written_by"), ()),
        ("mh-first-year", "work", "When was the first story featuring {d} published?", ("appears_in",), ()),
        ("mh-home-country", "place", "In which country is the place where {d} lives?", ("lived_in",), ("lived_in",)),
    ],
    "place": [
        ("mh-country-capital", "place", "What is the capital of the country where {d} lies?", ("located_in",), ()),
        ("mh-landmark-designer", "work", "Who designed the most famous landmark of {d}?", (), ()),
        ("mh-person-work", "related", "What is the most famous work of an artist born in {d}?", (), ()),
    ],
    "event": [
        ("mh-place-capital", "place", "What is the capital of the country where {d} took place?",
         ("took_place_in",), ()),
        ("mh-leader-fate", "related", "What happened to the leaders who lost {d}?", (), ()),
        ("mh-after-year", "year", "What major event happened ten years after {d} began?", ("began_year",), ()),
    ],
}
# predicates whose description identifies the target through another named entity (hop one)
_RELATIONAL = {"cofounded", "founded", "founded_by", "written_by", "directed_by", "created_by", "published_by",
               "owned_by", "wrote", "directed", "composed", "starred", "appears_in", "spouse", "won", "studied_at",
               "worked_at", "led", "capital_of", "home_to", "makes", "set_in", "based_in"}
# facets a description already answers (do not ask "Who did the husband of X marry?")
_BASIS_FACETS = {"spouse": {"family"}, "cofounded": {"organization"}, "founded": {"organization"},
                 "founded_by": {"founder"}, "written_by": {"creator"}, "directed_by": {"creator"},
                 "created_by": {"creator"}, "wrote": {"work"}, "discovered": {"work", "description"},
                 "invented": {"work", "description"}, "won": {"award"}, "studied_at": {"education"},
                 "worked_at": {"organization"}, "led": {"organization", "related"}, "born_in": {"birth"},
                 "based_in": {"place"}, "located_in": {"place"}, "set_in": {"place"}, "appears_in": {"work"},
                 "took_place_in": {"place"}, "capital_of": {"place"}, "makes": {"work"}, "known_for": {"description"},
                 "description": {"identity"}}
_ENTITY_ANSWER = {"spouse", "founded", "cofounded", "founded_by", "written_by", "created_by", "directed_by",
                  "studied_at", "worked_at", "led", "born_in", "based_in", "located_in", "set_in", "appears_in",
                  "won", "makes", "owned_by", "published_by", "took_place_in", "lived_in"}


def _capitalize(q: str) -> str:
    return q[:1].upper() + q[1:]


def derived_questions(
    knowledge: Knowledge,
    names: Sequence[str],
    n: int | None = 40,
    seed: int = 0,
    max_descriptions: int = 6,
) -> pd.DataFrame:
    """Implicit and multi-hop questions from `knowledge`, none naming the target.

    names: the target's name first, then aliases (the knowledge's own aliases are added); a question that names
    the target in any form (snapcli.datagen.target_names) is dropped. n: at most this many rows (None = all),
    chosen seeded and spread round-robin over (category, facet) so a short list still covers many facets.
    max_descriptions: use the best this many descriptions (Knowledge.described() order).
    Returns a DataFrame with DERIVED_COLUMNS: question, category (implicit | multi-hop), facet, description (the
    one used), basis (the relation it comes from, or "description"), facts (list[str]: what the model itself
    stated that answers the question; empty when it stated nothing), frame_id, source ("model_knowledge").
    Empty when the model stated no usable description. Raises SnapError on no names or n < 0.
    """
    names = [str(x).strip() for x in names if str(x).strip()]
    if not names:
        raise SnapError("derived_questions needs the target's name")
    if n is not None and n < 0:
        raise SnapError(f"derived_questions: n must be >= 0, got {n}")
    kind = knowledge.kind_guess if knowledge.kind_guess in _IMPLICIT else "person"
    target = TargetNames(names[0], [*names[1:], *knowledge.aliases],
                         person=kind in ("person", "fictional_character"))
    answers = facts_by_facet(knowledge)
    rows: list[dict] = []
    described = [(d, b) for d, b in knowledge.described() if not target.mentioned_in(d)][:max_descriptions]
    for d, basis in described:
        skip = _BASIS_FACETS.get(basis, set())
        relational = basis in _RELATIONAL
        for fid, facet, text, keys in _IMPLICIT[kind]:
            if facet in skip:
                continue
            hint = [v for k in keys for v in answers.get(k, [])]
            if any(fold(v) in fold(d) for v in hint):
                continue  # the description gives the answer away ("Who created the detective created by X?")
            # hop one resolves the relation, hop two is a stated entity: a multi-hop question
            two_hops = relational and any(k in _ENTITY_ANSWER for k in keys) and bool(hint)
            rows.append({"question": _capitalize(text.replace("{d}", d)),
                         "category": "multi-hop" if two_hops else "implicit", "facet": facet, "description": d,
                         "basis": basis, "facts": list(dict.fromkeys(hint)), "frame_id": f"{kind}/{fid}"})
        for fid, facet, text, needs, ans in _MULTIHOP[kind]:
            if needs and not any(answers.get(k) for k in needs):
                continue
            if facet in skip and basis != "description":
                continue
            hint = [v for k in ans for v in answers.get(k, [])]
            if any(fold(v) in fold(d) for v in hint):
                continue
            rows.append({"question": _capitalize(text.replace("{d}", d)), "category": "multi-hop", "facet": facet,
                         "description": d, "basis": basis, "facts": list(dict.fromkeys(hint)),
                         "frame_id": f"{kind}/{fid}"})
    seen: set[str] = set()
    kept: list[dict] = []
    for r in rows:
        key = fold(r["question"])
        if key in seen or target.mentioned_in(r["question"]):
            continue
        seen.add(key)
        r["source"] = SOURCE
        kept.append(r)
    # spread: round-robin over (category, facet) groups in a seeded order; within a group, best description first
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in kept:
        groups[(r["category"], r["facet"])].append(r)
    rng = random.Random(seed)
    order = sorted(groups)
    rng.shuffle(order)
    for j, g in enumerate(order):  # different groups open with different descriptions
        lst = groups[g]
        if lst:
            k = j % len(lst)
            groups[g] = lst[k:] + lst[:k]
    out: list[dict] = []
    while any(groups[g] for g in order) and (n is None or len(out) < n):
        for g in order:
            if groups[g] and (n is None or len(out) < n):
                out.append(groups[g].pop(0))
    return pd.DataFrame(out, columns=DERIVED_COLUMNS)
