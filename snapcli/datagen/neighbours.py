"""Neighbours of a target for retain data: well-known entities of the same kind and field (issue 11, item 4).

Forgetting a physicist must not make the model refuse every physicist; the paper's hard retaining data (section
3.2) asks about related entities, and when few are found (a weak writer found 1 for a scientist in issue 11),
neighbours from `snapcli/data/neighbours.yaml` fill in: other scientists, other Marvel heroes, other carmakers.
`field_of` places a description in a group; `neighbours` samples names from it.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from snapcli.datagen.bank import KINDS
from snapcli.errors import SnapError


@lru_cache(maxsize=1)
def neighbour_groups() -> dict[str, dict[str, dict[str, Any]]]:
    """kind -> group -> {keywords, names, via}: the parsed `snapcli/data/neighbours.yaml`."""
    return yaml.safe_load(resources.files("snapcli.data").joinpath("neighbours.yaml").read_text(encoding="utf-8"))


def groups_of(kind: str) -> list[str]:
    """The group names of a kind, in file order. Raises SnapError for an unknown kind."""
    if kind not in KINDS:
        raise SnapError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    return list(neighbour_groups().get(kind, {}))


def _fold(text: str, case: bool = False) -> str:
    """Accents removed, words joined by single spaces; lower-cased unless `case`."""
    t = unicodedata.normalize("NFKD", text)
    t = "".join(c for c in t if not unicodedata.combining(c))
    t = t if case else t.casefold()
    return " ".join(re.findall(r"[^\W_]+(?:['’\-.][^\W_]+)*", t))


@lru_cache(maxsize=1)
def _matchers() -> list[tuple[str, str, re.Pattern, int, bool]]:
    """(kind, group, pattern, weight, is_keyword) for every keyword and every usable `via` name.

    Keywords match in any case; `via` names only as written (capitalized: "Queen" the band, not "queen"), and only
    names of two or more words or of one word of 4+ letters ("The Who" would match every "who").
    """
    out: list[tuple[str, str, re.Pattern, int, bool]] = []
    data = neighbour_groups()
    names_of = {g: spec["names"] for groups in data.values() for g, spec in groups.items()}
    for kind, groups in data.items():
        for group, spec in groups.items():
            for k in spec.get("keywords", []):
                f = _fold(str(k))
                if f:
                    pat = re.compile(rf"(?<!\w){re.escape(f)}(?:s|es)?(?!\w)", re.IGNORECASE)
                    out.append((kind, group, pat, len(f.split()), True))
            for via in spec.get("via", []):
                for n in names_of.get(via, []):
                    f = _fold(re.sub(r"^the\s+", "", str(n), flags=re.I), case=True)
                    words = f.split()
                    if not words or (len(words) == 1 and (len(f) < 4 or not f[0].isupper())):
                        continue
                    pat = re.compile(rf"(?<!\w){re.escape(f)}(?!\w)")
                    # a named entity is strong evidence, but a keyword on the same words wins
                    out.append((kind, group, pat, len(words) + 1, False))
    return out


def field_of(text: str, kind: str | None = None) -> str | None:
    """The neighbour group a description places the target in, or None ("American physicist" -> "scientists").

    Keywords match as whole words in any case and without accents, plural "s" allowed; names from a group's `via`
    groups match as written ("the founder of Microsoft" -> tech_founders). Where matches overlap the longest wins,
    a keyword before a name on the same words ("Queen Elizabeth II" is royalty, not the band); the group with the
    highest total weight (words per match, +1 for a name) wins, ties in file order. `kind` restricts the answer to
    that kind's groups. Raises SnapError for an unknown kind.
    """
    if kind is not None and kind not in KINDS:
        raise SnapError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    folded = _fold(text or "", case=True)
    if not folded:
        return None
    hits: list[tuple[int, int, int, bool, str]] = []  # (weight, start, end, is_keyword, group)
    order: dict[str, int] = {}
    for i, (k, group, pat, weight, is_kw) in enumerate(_matchers()):
        order.setdefault(group, i)
        if kind is not None and k != kind:
            continue
        hits += [(weight, m.start(), m.end(), is_kw, group) for m in pat.finditer(folded)]
    taken: list[tuple[int, int]] = []
    score: Counter = Counter()
    for weight, a, b, _, group in sorted(hits, key=lambda h: (-(h[2] - h[1]), not h[3], -h[0])):
        if any(a < y and x < b for x, y in taken):
            continue
        taken.append((a, b))
        score[group] += weight
    if not score:
        return None
    return max(score, key=lambda g: (score[g], -order[g]))


def _key_tokens(name: str) -> set[str]:
    return {t for t in _fold(re.sub(r"^the\s+", "", name, flags=re.I)).split() if t not in {"the", "of"}}


def _same(a: str, b: str) -> bool:
    """One names the other: equal after folding, or all of one's words are among the other's ("Curie")."""
    ta, tb = _key_tokens(a), _key_tokens(b)
    return bool(ta and tb) and (ta <= tb or tb <= ta)


def neighbours(
    kind: str,
    field: str | None = None,
    exclude: Sequence[str] = (),
    n: int = 10,
    seed: int = 0,
) -> list[str]:
    """Up to `n` well-known entities of `kind`, from group `field` first (then the kind's other groups).

    exclude: names never to return (the target, its aliases, the related entities already used); an entry is also
    excluded when all its words are among an excluded name's or the reverse ("Curie" excludes "Marie Curie", but
    "Marie Curie" does not exclude "Pierre Curie"). field None: spread over all groups of the kind, round-robin.
    Seeded. Raises SnapError for an unknown kind, a field that is not a group of that kind, or n < 0.
    """
    groups = groups_of(kind)
    if field is not None and field not in groups:
        raise SnapError(f"unknown field {field!r} for kind {kind} (known: {', '.join(groups)})")
    if n < 0:
        raise SnapError(f"neighbours: n must be >= 0, got {n}")
    data = neighbour_groups()[kind]
    rng = random.Random(f"neighbours:{seed}:{kind}:{field}")
    pools = {g: [x for x in data[g]["names"] if not any(_same(x, e) for e in exclude if e)] for g in groups}
    for p in pools.values():
        rng.shuffle(p)
    out: list[str] = []
    seen: set[str] = set()

    def take(name: str) -> None:
        k = _fold(name)
        if k not in seen and len(out) < n:
            seen.add(k)
            out.append(name)

    if field is not None:
        for x in pools[field]:
            take(x)
    rest = [g for g in groups if g != field]
    rng.shuffle(rest)
    depth = 0
    while len(out) < n and any(depth < len(pools[g]) for g in rest):
        for g in rest:
            if depth < len(pools[g]):
                take(pools[g][depth])
        depth += 1
    return out
