"""Typing a bare name with sentence embeddings, for names whose words and context say nothing.

"Moulin Rouge", "Hugging Face", "Allied Powers" are two capitalized words like "Alicia Keys"; the regex typing in
snapcli.datagen.mentions calls such a name a person by default. With an embedder (the embedded all-MiniLM-L6-v2,
snapcli.stages.filter.embed), the name is compared with short descriptions of each kind; it stops being a person
only when another kind beats the person prototypes by MARGIN, because a plain argmax turned real people
("Winston Churchill": 0.32 vs 0.32) into events. On 57 names seen in SmolLM2 answers (27 people, 30 other; the
list and the margin were chosen while looking at them, so read it as an upper bound) the margin rule keeps all 27
people and retypes 27 of the 30 others; plain argmax: 24/27 and 27/30 (docs/data-stages.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

EmbedFn = Callable[[Sequence[str]], np.ndarray]

PROTOTYPES: dict[str, list[str]] = {
    "person": ["the name of a person", "a man's full name", "a woman's full name",
               "first name and surname of a person"],
    "place": ["the name of a place or landmark", "a country, city or region"],
    "organization": ["the name of a company or organization", "a group of people or a band",
                     "an alliance of countries"],
    "creative_work": ["the title of a book, film or song", "a product or brand"],
    "event": ["a historical event or period"],
    "other": ["an idea or concept"],
}


MARGIN = 0.05


def type_by_embedding(names: Sequence[str], embed: EmbedFn, margin: float = MARGIN) -> dict[str, str]:
    """{name: kind} for each distinct name: "person" unless the best other kind's closest prototype is more
    similar (cosine) than the closest person prototype by more than `margin`; then that kind.

    `embed(texts) -> (n, d)` L2-normalized vectors. Empty input -> {}.
    """
    uniq = list(dict.fromkeys(n for n in names if n and n.strip()))
    if not uniq:
        return {}
    kinds = [k for k, protos in PROTOTYPES.items() for _ in protos]
    protos = [p for ps in PROTOTYPES.values() for p in ps]
    vecs = np.asarray(embed([*protos, *uniq]), dtype=np.float32)
    sims = vecs[len(protos):] @ vecs[:len(protos)].T
    out: dict[str, str] = {}
    for i, name in enumerate(uniq):
        best: dict[str, float] = {}
        for j, k in enumerate(kinds):
            best[k] = max(best.get(k, -1.0), float(sims[i, j]))
        other = max((k for k in best if k != "person"), key=best.get)
        out[name] = other if best[other] - best["person"] > margin else "person"
    return out
