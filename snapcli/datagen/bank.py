"""The question bank: hand-written question frames per kind of target, shipped as YAML (issue 11, item 1).

A weak writer (the embedded 135M model) produces a few dozen narrow questions; the bank gives every target broad
coverage whatever the writer's strength: the facets a person, an organization, a work, a character, a place or an
event is asked about, in five categories (factual, relational, open-ended, implicit, multi-hop; the paper's
Table 7 categories, section 3.1, with multi-hop as in its evaluation).

Layout of `snapcli/data/bank/<kind>.yaml` (English) and `<kind>.<lang>.yaml` (translations)::

    kind: person
    lang: en
    frames:
      - {id: birth-year, category: factual, facet: birth, text: "In what year was {name} born?"}

A frame may override `kind` and `lang` itself, so one user file (`--bank FILE`) can hold several kinds and
languages. A translated frame reuses the id of the English frame it translates. Slots (`SLOTS`):

- `{name}`: the target or one of its aliases.
- `{description}`: a definite description of the target ("the founder of Microsoft").
- `{related}`, `{work}`, `{place}`, `{year}`, `{organization}`: an entity, work, place, year or organization
  associated with the target (the `facts` dict of `snapcli.datagen.knowledge`; frames do not assume which
  relation, beyond what the kind makes obvious).
- `{field}`: what the target is, as a singular noun without article ("physicist", "software company", "novel").

Implicit frames describe the target without naming it and must not use `{name}`.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from snapcli.datagen.statements import definite
from snapcli.errors import SnapError
from snapcli.stages.textutil import CATEGORIES

KINDS: tuple[str, ...] = ("person", "organization", "creative_work", "fictional_character", "place", "event")
SLOTS: tuple[str, ...] = ("name", "description", "related", "work", "place", "year", "field", "organization")
SHIPPED_LANGS: tuple[str, ...] = ("en", "de", "fr", "es", "zh")
FRAME_KEYS = {"id", "category", "facet", "text", "kind", "lang"}
PERSON_LIKE = {"person", "fictional_character"}  # kinds whose surname alone names them ("Curie", "Holmes")

_SLOT = re.compile(r"\{([^{}]*)\}")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_FACET = re.compile(r"^[a-z][a-z0-9\-]*$")
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]+)?$")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_NAME_PARTICLES = {"de", "van", "von", "der", "den", "da", "di", "du", "del", "della", "le", "la", "y", "bin", "ibn",
                   "al", "el", "the", "of", "jr", "sr", "ii", "iii", "mr", "mrs", "ms", "dr", "sir", "st"}


def target_terms(names: Sequence[str], person: bool = True) -> list[str]:
    """The strings that name the target: each name, and for a person the surname alone (>= 4 letters), longest first.

    Words are Unicode words, so "Gabriel García Márquez" gives "Márquez" and "Марія Кюрі" gives "Кюрі" (the
    ASCII-only `textutil.name_terms` would cut "Márquez" to "rquez"). CJK names get no surname: they have no spaces.
    """
    out: set[str] = set()
    for n in names:
        n = " ".join(str(n).split())
        if not n:
            continue
        out.add(n)
        words = [w for w in re.findall(r"[^\W\d_][\w'\-]*", n) if w.lower() not in _NAME_PARTICLES]
        if person and n == " ".join(str(names[0]).split()) and len(words) >= 2 and len(words[-1]) >= 4 \
                and not _CJK.search(words[-1]):
            out.add(words[-1])
    return sorted(out, key=len, reverse=True)


def target_pattern(names: Sequence[str], person: bool = True) -> re.Pattern | None:
    """One case-insensitive regex for `target_terms`: whole words with an optional possessive; CJK without borders."""
    terms = target_terms(names, person)
    if not terms:
        return None
    cjk = _CJK.pattern
    # a name ends at a non-word character or where CJK text starts ("Marie Curie是谁"): CJK has no spaces
    before, after = rf"(?:(?<={cjk})|(?<!\w))", rf"(?:(?={cjk})|(?!\w))"
    alts = [re.escape(t) if _CJK.search(t) else rf"{before}{re.escape(t)}(?:'s|’s|')?{after}" for t in terms]
    return re.compile("|".join(alts), re.IGNORECASE)


@dataclass(frozen=True)
class Frame:
    """One question frame. `slots` are the slot names its text uses, in order of first use."""

    id: str
    kind: str
    category: str
    facet: str
    text: str
    slots: tuple[str, ...]
    lang: str = "en"


def _frame_slots(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for s in _SLOT.findall(text):
        if s not in out:
            out.append(s)
    return tuple(out)


def parse_frames(doc: Any, source: str) -> list[Frame]:
    """Frames from one parsed YAML document; SnapError naming `source` and the frame id for anything invalid."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("frames"), list):
        raise SnapError(f"bank file {source}: expected a mapping with a 'frames' list (see docs/data-stages.md)")
    unknown_top = sorted(set(doc) - {"kind", "lang", "frames"})
    if unknown_top:
        raise SnapError(f"bank file {source}: unknown key(s) {', '.join(unknown_top)} (known: kind, lang, frames)")
    head_kind, head_lang = doc.get("kind"), doc.get("lang", "en")
    frames: list[Frame] = []
    seen: set[tuple[str, str, str]] = set()
    for i, raw in enumerate(doc["frames"]):
        if not isinstance(raw, Mapping):
            raise SnapError(f"bank file {source}: frame #{i + 1} is not a mapping")
        fid = str(raw.get("id", "")).strip()
        where = f"bank file {source}, frame {fid or '#' + str(i + 1)}"
        if not fid or not _ID.match(fid):
            raise SnapError(f"{where}: missing or malformed id (letters, digits, '.', '-', '_')")
        extra = sorted(set(raw) - FRAME_KEYS)
        if extra:
            raise SnapError(f"{where}: unknown key(s) {', '.join(extra)} (known: {', '.join(sorted(FRAME_KEYS))})")
        kind = raw.get("kind", head_kind)
        if kind not in KINDS:
            raise SnapError(f"{where}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
        lang = str(raw.get("lang", head_lang))
        if not _LANG.match(lang):
            raise SnapError(f"{where}: malformed lang {lang!r} (an ISO 639 code such as en, de, zh)")
        category = raw.get("category")
        if category not in CATEGORIES:
            raise SnapError(f"{where}: unknown category {category!r} (known: {', '.join(CATEGORIES)})")
        facet = str(raw.get("facet", "")).strip()
        if not _FACET.match(facet):
            raise SnapError(f"{where}: missing or malformed facet {facet!r} (lower-case word, e.g. birth)")
        text = raw.get("text")
        if not isinstance(text, str) or not text.strip():
            raise SnapError(f"{where}: missing text")
        text = " ".join(text.split())
        slots = _frame_slots(text)
        bad = [s for s in slots if s not in SLOTS]
        if bad:
            raise SnapError(f"{where}: unknown slot(s) {', '.join('{' + s + '}' for s in bad)} "
                            f"(known: {', '.join('{' + s + '}' for s in SLOTS)})")
        if not slots:
            raise SnapError(f"{where}: the text has no slot, so it cannot be about the target")
        if category == "implicit" and "name" in slots:
            raise SnapError(f"{where}: an implicit frame must describe the target without {{name}}")
        key = (kind, lang, fid)
        if key in seen:
            raise SnapError(f"{where}: duplicate id for kind {kind}, lang {lang}")
        seen.add(key)
        frames.append(Frame(fid, kind, category, facet, text, slots, lang))
    return frames


def _read_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SnapError(f"bank file {source} is not valid YAML: {' '.join(str(e).split())[:200]}") from None


def _shipped_file(kind: str, lang: str) -> tuple[str, str] | None:
    name = f"{kind}.yaml" if lang == "en" else f"{kind}.{lang}.yaml"
    res = resources.files("snapcli.data").joinpath("bank").joinpath(name)
    if not res.is_file():
        return None
    return res.read_text(encoding="utf-8"), f"snapcli/data/bank/{name}"


@lru_cache(maxsize=64)
def _shipped_frames(kind: str, lang: str) -> tuple[Frame, ...]:
    shipped = _shipped_file(kind, lang)
    if not shipped:
        return ()
    text, source = shipped
    frames = parse_frames(_read_yaml(text, source), source)
    for f in frames:
        if f.kind != kind or f.lang != lang:
            raise SnapError(f"bank file {source}, frame {f.id}: kind/lang {f.kind}/{f.lang} "
                            f"does not belong in this file")
    return tuple(frames)


def bank_file(path: str | Path) -> Path:
    """The user bank file `path` (`--bank`), or SnapError when it is a directory or missing."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise SnapError(f"--bank {p}: a directory; give the YAML file(s) themselves")
    if not p.is_file():
        raise SnapError(f"--bank {p}: no such file")
    return p


def read_bank_file(path: str | Path) -> list[Frame]:
    """All frames of a user bank file (any kinds and languages), validated."""
    from snapcli.store.text import read_user_text

    p = bank_file(path)
    return parse_frames(_read_yaml(read_user_text(p, "--bank"), str(p)), str(p))


def load_bank(kind: str, lang: str = "en", extra: Sequence[str | Path] = ()) -> list[Frame]:
    """The shipped frames of `kind` in `lang`, merged with user bank files `extra` (`--bank FILE`).

    A user frame with the id of a shipped frame (same kind and language) replaces it; others are added. Returns
    frames in file order. Raises SnapError for an unknown kind, a language with no frames at all, or any invalid
    frame (naming the file and the frame id).
    """
    if kind not in KINDS:
        raise SnapError(f"unknown kind {kind!r} for the question bank (known: {', '.join(KINDS)})")
    frames: dict[str, Frame] = {f.id: f for f in _shipped_frames(kind, lang)}
    for path in extra:
        for f in read_bank_file(path):
            if f.kind == kind and f.lang == lang:
                frames[f.id] = f
    if not frames:
        langs = ", ".join(bank_langs(kind))
        raise SnapError(f"the question bank has no {kind} frames in language {lang!r} (shipped: {langs})")
    return list(frames.values())


def bank_langs(kind: str) -> list[str]:
    """Languages with shipped frames for `kind`."""
    return [lang for lang in SHIPPED_LANGS if _shipped_file(kind, lang)]


# ------------------------------------------------------------------ filling


class FilledRows(list):
    """The rows of `fill_frames` (a plain list of dicts) plus what could not be filled.

    `skipped`: frame id -> the slots that had no usable value; `skipped_by_slot`: slot -> number of frames skipped
    because of it (a frame missing two slots counts for both).
    """

    def __init__(self, rows: Iterable[dict[str, Any]] = (), skipped: dict[str, list[str]] | None = None):
        super().__init__(rows)
        self.skipped: dict[str, list[str]] = dict(skipped or {})

    @property
    def skipped_by_slot(self) -> Counter:
        return Counter(s for slots in self.skipped.values() for s in slots)


_VOWEL = "AEIOUYÀÂÄÉÈÊËÎÏÔÖÙÛÜŸaeiouyàâäéèêëîïôöùûüÿ"
_FR_ELIDE = re.compile(rf"\b([Dd]e|[Qq]ue)\s+(?=[{_VOWEL}])")


def _elide_fr(text: str) -> str:
    """French elision before a vowel ("de Einstein" -> "d'Einstein", "que Ada" -> "qu'Ada")."""
    return _FR_ELIDE.sub(lambda m: m.group(1)[:-1] + "'", text)


def _render(frame: Frame, values: Mapping[str, str]) -> str:
    text = frame.text
    for slot, v in values.items():
        text = text.replace("{" + slot + "}", v)
    if frame.lang == "fr":
        text = _elide_fr(text)
    return text[:1].upper() + text[1:] if text else text


def _usable_values(frame: Frame, facts: Mapping[str, Sequence[str]], target: re.Pattern | None) -> dict[str, list]:
    """Fact values per slot; for a frame that does not name the target, values that name it are unusable."""
    out: dict[str, list[str]] = {}
    for slot in frame.slots:
        if slot == "name":
            continue
        vals = [" ".join(str(v).split()) for v in facts.get(slot, ()) or () if str(v).strip()]
        if slot == "description":
            vals = [definite(v) for v in vals]
        if "name" not in frame.slots and target is not None:
            vals = [v for v in vals if not target.search(v)]
        out[slot] = list(dict.fromkeys(vals))
    return out


def aliases_for(lang: str, names: Sequence[str]) -> list[str]:
    """The aliases (`names[1:]`) a frame in `lang` may use: a CJK-script alias (居里夫人) only in a zh frame, unless
    the target's own name is CJK. "Where was 居里夫人 born?" is not how anyone asks; the zh translations use it
    (snapcli.datagen.variants.native_name)."""
    if lang == "zh" or (names and _CJK.search(names[0])):
        return list(names[1:])
    return [a for a in names[1:] if not _CJK.search(a)]


def fill_frames(
    frames: Sequence[Frame],
    names: Sequence[str],
    facts: Mapping[str, Sequence[str]] | None = None,
    n: int | None = None,
    seed: int = 0,
) -> FilledRows:
    """Questions from frames: `{name}` from `names` (the target first, then aliases), other slots from `facts`.

    `facts` maps slot names to candidate values (`{"description": ["the founder of Microsoft"], "year": ["1975"]}`).
    Frames with a slot that has no usable value are skipped and recorded in `.skipped`; in a frame that does not
    name the target, a value that names it (e.g. a description containing the surname) is not usable.

    Selection is seeded and spread: frames are taken round-robin over (category, facet) so that any prefix of the
    result covers as many facets as possible. `n=None` fills every fillable frame once; a larger `n` fills frames
    again with other names and slot values until `n` distinct questions exist or nothing new can be made.
    `{name}` is the first name 60% of the time, an alias otherwise (`aliases_for`: not a CJK one in another language).

    Returns `FilledRows` of dicts: entity (names[0]), question, category, facet, frame_id, lang, kind, name (the name
    used, None for frames without `{name}`), slots (dict of the values used), source ("bank").
    Raises SnapError when `names` is empty.
    """
    names = [" ".join(str(x).split()) for x in names if str(x).strip()]
    if not names:
        raise SnapError("fill_frames needs the target's name")
    if n is not None and n < 0:
        raise SnapError(f"fill_frames: n must be >= 0, got {n}")
    facts = facts or {}
    kinds = {f.kind for f in frames}
    target = target_pattern(names, person=bool(kinds & PERSON_LIKE))
    rng = random.Random(f"bank:{seed}")

    fillable: list[tuple[Frame, dict[str, list[str]]]] = []
    skipped: dict[str, list[str]] = {}
    for f in frames:
        vals = _usable_values(f, facts, target)
        missing = [s for s, v in vals.items() if not v]
        if missing:
            skipped[f.id] = missing
        else:
            fillable.append((f, vals))

    buckets: dict[tuple[str, str], list[tuple[Frame, dict]]] = defaultdict(list)
    shuffled = fillable[:]
    rng.shuffle(shuffled)
    for item in shuffled:
        buckets[(item[0].category, item[0].facet)].append(item)
    order: list[tuple[Frame, dict]] = []
    depth = 0
    while len(order) < len(shuffled):
        for b in buckets.values():
            if depth < len(b):
                order.append(b[depth])
        depth += 1

    want = len(order) if n is None else n
    pools = {lang: aliases_for(lang, names) for lang in {f.lang for f, _ in order}}
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    passes = 0
    while len(rows) < want and order:
        added = 0
        for frame, vals in order:
            if len(rows) >= want:
                break
            pool = pools[frame.lang]
            name = names[0] if (not pool or rng.random() < 0.6) else rng.choice(pool)
            picked = {s: rng.choice(v) for s, v in vals.items()}
            values = {**picked, "name": name} if "name" in frame.slots else picked
            q = _render(frame, values)
            key = " ".join(re.findall(r"\w+", q.casefold())) or q  # any script: CJK has no a-z
            if key in seen:
                continue
            seen.add(key)
            added += 1
            rows.append({
                "entity": names[0], "question": q, "category": frame.category, "facet": frame.facet,
                "frame_id": frame.id, "lang": frame.lang, "kind": frame.kind,
                "name": name if "name" in frame.slots else None, "slots": picked, "source": "bank",
            })
        passes += 1
        # a later pass can only add questions with other names or slot values; stop once it no longer does
        if n is None or added == 0 or passes >= 50:
            break
    return FilledRows(rows, skipped)


def bank_rows(
    kind: str,
    names: Sequence[str],
    facts: Mapping[str, Sequence[str]] | None = None,
    n: int | None = None,
    seed: int = 0,
    lang: str = "en",
    extra: Sequence[str | Path] = (),
) -> FilledRows:
    """`fill_frames(load_bank(kind, lang, extra), names, facts, n, seed)`: the one call `snap generate` needs."""
    return fill_frames(load_bank(kind, lang, extra), names, facts, n=n, seed=seed)
