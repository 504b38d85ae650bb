"""Related-entity candidates for hard retaining data (paper 3.2; issue 11 item 2).

Merges three sources: the user's `--related "A; B"` (always kept, first), the people, organizations and places the
model itself names in its answers (`Knowledge.entities`, ranked by mentions, position and type), and names an LLM
suggested (the appendix C prompt). A name found by both the model and the LLM ranks above either alone. The target
and its aliases (surname, initials, possessive, diacritics or script variants: "Márquez" is García Márquez) are
never candidates; neither is anything named after a non-person target ("Microsoft Windows" for Microsoft).
"""

from __future__ import annotations

from collections.abc import Sequence

from snapcli.datagen.knowledge import Knowledge, RankedEntity
from snapcli.datagen.mentions import _type_words
from snapcli.datagen.target_names import TargetNames, fold, strip_possessive, tokens
from snapcli.errors import SnapError

RELATED_KINDS = ("person", "organization", "place", "creative_work")
# the generate stage's `related` table calls people "individual"
TABLE_KIND = {"person": "individual", "organization": "organization", "place": "place",
              "creative_work": "creative_work"}


def _key(name: str) -> str:
    """Same entity, other spelling: case, diacritics, titles, middle names and corporate suffixes ignored."""
    toks = [t for t in tokens(strip_possessive(name)) if t not in {"the", "dr", "sir", "mr", "mrs", "ms", "prof",
                                                                   "inc", "corp", "corporation", "ltd", "llc",
                                                                   "co", "company", "plc"}]
    toks = [t for t in toks if len(t) > 1] or toks
    if len(toks) >= 3:
        toks = [toks[0], toks[-1]]
    return " ".join(toks)


def split_user_list(text: str | Sequence[str] | None) -> list[str]:
    """`--related "A; B"` (or a list of such strings) -> ["A", "B"]; semicolons or newlines separate names."""
    if not text:
        return []
    parts = [text] if isinstance(text, str) else list(text)
    out: list[str] = []
    for p in parts:
        for s in str(p).replace("\n", ";").split(";"):
            s = " ".join(s.split()).strip(" ,")
            if s:
                out.append(s)
    return out


def guess_kind(name: str) -> str:
    """A bare name's kind from its words alone (gazetteer, suffixes); two to four words -> person; else other."""
    k = _type_words(name.split()) if name.split() else None
    if k in RELATED_KINDS:
        return k
    words = name.split()
    if k is None and 2 <= len(words) <= 4 and all(w[:1].isupper() for w in words):
        return "person"
    return k or "other"


def rank_related(
    knowledge: Knowledge,
    llm_suggested: Sequence[str | tuple[str, str]] = (),
    user: Sequence[str] | str = (),
    k: int = 10,
    names: Sequence[str] = (),
) -> list[dict]:
    """Up to `k` related entities (plus every user-given one), best first.

    llm_suggested: names, or (name, kind) pairs with kind individual/person/organization/place; user: names or
    a "A; B" string; names: extra aliases of the target. Returns dicts {name, kind (person | organization |
    place | creative_work), rank (1-based), source (user | model | llm | model+llm), score}. Model entities of
    other kinds (awards, events, unknown) are not offered. Ordering: user first (in the given order), then by
    score, where a model entity scores its Knowledge score (+ 50% when the LLM named it too) and an LLM-only name
    scores like a model entity named once in a late answer; the non-user list is then taken in rounds over kinds
    (person, organization, place, creative_work), the best of each kind per round. Raises SnapError for k < 0.
    """
    if k < 0:
        raise SnapError(f"rank_related: k must be >= 0, got {k}")
    kind = knowledge.kind_guess
    target = TargetNames(knowledge.name, [*names, *knowledge.aliases], person=kind in ("person",
                                                                                      "fictional_character"))

    def excluded(name: str) -> bool:
        if not name or target.is_alias(name) or target.named_after(name) or target.spelling_variant(name):
            return True
        # named after a non-person target ("Microsoft Windows"); a person's relatives share only the surname
        return not target.person and target.mentioned_in(name)

    out: dict[str, dict] = {}
    for name in split_user_list(user):
        if excluded(name):
            continue
        # the user vouches that it is related: a name whose words say nothing of its kind (one word: "Microsoft",
        # "Avatar") is kept as an organization rather than dropped or failing the related table's kinds
        kd = guess_kind(name)
        out.setdefault(_key(name), {"name": name, "kind": kd if kd in RELATED_KINDS else "organization",
                                    "source": "user", "score": float("inf")})
    model: dict[str, RankedEntity] = {}
    for e in knowledge.entities:
        if e.kind in RELATED_KINDS and not excluded(e.name):
            model.setdefault(_key(e.name), e)
    llm: dict[str, tuple[str, str]] = {}
    for item in llm_suggested:
        name, lk = (item, "") if isinstance(item, str) else (item[0], item[1])
        name = " ".join(str(name).split())
        if not name or excluded(name):
            continue
        lk = {"individual": "person"}.get(lk, lk) if lk else guess_kind(name)
        llm.setdefault(_key(name), (name, lk if lk in RELATED_KINDS else guess_kind(name)))
    # an LLM-only name scores like a person named once in the last answer
    late = 1.0 * (1 + 1 / (1 + max(knowledge.answers_used, 1)))
    for key, e in model.items():
        if key in out:
            continue
        both = key in llm or _fuzzy_in(key, llm)
        out[key] = {"name": e.name, "kind": e.kind, "source": "model+llm" if both else "model",
                    "score": e.score * (1.5 if both else 1.0)}
    for key, (name, lk) in llm.items():
        if key in out or _fuzzy_in(key, out):
            continue
        out[key] = {"name": name, "kind": lk if lk in RELATED_KINDS else "person", "source": "llm",
                    "score": late * (0.9 if lk == "organization" else 1.0)}
    users = [v for v in out.values() if v["source"] == "user"]
    others = sorted((v for v in out.values() if v["source"] != "user"), key=lambda v: (-v["score"], fold(v["name"])))
    chosen = users + _diversify(others)[: max(0, k - len(users))]
    return [{"name": v["name"], "kind": v["kind"], "rank": i + 1, "source": v["source"],
             "score": None if v["score"] == float("inf") else round(v["score"], 4)} for i, v in enumerate(chosen)]


def _diversify(ranked: list[dict]) -> list[dict]:
    """Rounds over kinds in the order person, organization, place, creative_work, best of each per round.

    Hard retaining data needs people and organizations first (paper 3.2); a country the model names in every
    answer would otherwise outrank the spouse it names twice.
    """
    by_kind: dict[str, list[dict]] = {kd: [v for v in ranked if v["kind"] == kd] for kd in RELATED_KINDS}
    rest = [v for v in ranked if v["kind"] not in RELATED_KINDS]
    out: list[dict] = []
    while any(by_kind.values()):
        for kd in RELATED_KINDS:
            if by_kind[kd]:
                out.append(by_kind[kd].pop(0))
    return out + rest


def _fuzzy_in(key: str, keys) -> bool:
    """"paul allen" matches "paul g allen" / "allen" only as a full first+last pair or the same single word."""
    parts = key.split()
    for other in keys:
        op = other.split()
        if parts and op and parts[-1] == op[-1] and (parts[0] == op[0] or len(parts) == 1 or len(op) == 1) and \
                (len(parts) > 1 or len(op) > 1):
            return True
    return False
