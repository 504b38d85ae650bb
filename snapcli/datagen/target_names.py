"""The names of a target, in any script: is this span the target, and does this text name it?

A model answering about "Gabriel García Márquez" also calls him "García Márquez", "Márquez", "Marquez",
"Márquez's"; Marie Curie is "Curie", "Marie Skłodowska Curie", "M. Curie". Related-entity ranking must never offer
one of these as "another person", and questions derived from the model's answers must never contain one
(issue 11 item 2). Matching folds case and diacritics character by character, so offsets in the folded text are
offsets in the original.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

import regex

# letters that NFKD does not decompose into base + mark
_SPECIAL = {"ł": "l", "Ł": "l", "ø": "o", "Ø": "o", "đ": "d", "Đ": "d", "ð": "d", "þ": "t", "ß": "s", "æ": "a",
            "Æ": "a", "œ": "o", "Œ": "o", "ı": "i", "’": "'", "‘": "'", "ʼ": "'", "`": "'", "‐": "-", "‑": "-",
            "–": "-", "—": "-"}

_PARTICLES = {"de", "van", "von", "der", "den", "da", "di", "du", "del", "della", "le", "la", "y", "bin", "ibn",
              "al", "el", "the", "of", "jr", "sr", "ii", "iii", "iv", "mr", "mrs", "ms", "dr", "sir", "st", "lady",
              "lord", "prof"}
# a span with one of these besides the target's own words names someone else ("Bill Gates Sr.")
_OTHER_PERSON = {"sr", "senior", "father", "mother", "son", "daughter", "brother", "sister", "wife", "husband",
                 "family", "foundation", "institute", "prize", "award", "museum", "university", "house", "street"}
_ORG_SUFFIXES = {"corporation", "corp", "inc", "incorporated", "ltd", "limited", "llc", "plc", "co", "company",
                 "group", "holdings", "the"}
_CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]")
_WORD = regex.compile(r"[\p{L}\p{M}\p{N}]+(?:['\-][\p{L}\p{M}\p{N}]+)*")


@lru_cache(maxsize=4096)
def _fold_char(c: str) -> str:
    if c in _SPECIAL:
        return _SPECIAL[c]
    base = unicodedata.normalize("NFKD", c)
    base = "".join(ch for ch in base if not unicodedata.combining(ch))
    return (base[:1] or c).lower() if len(base) >= 1 else c.lower()


def fold(text: str) -> str:
    """Lower case without diacritics, one output character per input character ("Márquez" -> "marquez").

    Same length as `text`, so a match's offsets in fold(text) are offsets in text.
    """
    return "".join(_fold_char(c) for c in text)


def tokens(text: str) -> list[str]:
    """Folded words of a name: hyphenated and apostrophe words stay whole ("jean-paul", "o'brien")."""
    return [t.removesuffix("'s") for t in _WORD.findall(fold(text))]


def _near(a: str, b: str) -> bool:
    """Equal, or one edit (substitution, insertion, deletion) apart for words of 4+ letters."""
    if a == b:
        return True
    if min(len(a), len(b)) < 4 or abs(len(a) - len(b)) > 1:
        return False
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return a[i + 1:] == b[i + 1:] or a[i:] == b[i + 1:] or a[i + 1:] == b[i:]


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def strip_possessive(span: str) -> str:
    s = span.strip()
    for suf in ("'s", "’s", "'", "’"):
        if s.endswith(suf) and len(s) > len(suf) + 1:
            return s[: -len(suf)]
    return s


@dataclass
class TargetNames:
    """The target's name and aliases, with the variants that name it.

    `person=True` adds the surname alone (as snapcli.stages.textutil.name_terms does) and the initials form
    ("M. Curie"); for an organization the corporate suffix is optional ("Microsoft" = "Microsoft Corporation").
    """

    name: str
    aliases: list[str] = field(default_factory=list)
    person: bool = True

    def __post_init__(self) -> None:
        self.aliases = [a.strip() for a in self.aliases if a and a.strip() and a.strip() != self.name.strip()]
        self._forms = [self.name.strip(), *self.aliases]
        self._token_sets = [tuple(t for t in tokens(f) if t) for f in self._forms]
        main = [t for t in self._token_sets[0] if t not in _PARTICLES]
        self.first = main[0] if main else ""
        self.last = main[-1] if main else ""
        self._all_tokens = {t for ts in self._token_sets for t in ts}
        self._cjk = [fold(f) for f in self._forms if has_cjk(f)]
        self.terms = self._terms()
        alts = sorted({regex.escape(fold(t)) for t in self.terms if t}, key=len, reverse=True)
        # whole words only; an optional possessive; CJK names need no word boundary
        self._pattern = regex.compile(
            r"(?<![\p{L}\p{M}\p{N}])(?:" + "|".join(alts) + r")(?:'s|')?(?![\p{L}\p{M}\p{N}])"
        ) if alts else None
        self._cjk_pattern = regex.compile("|".join(regex.escape(c) for c in self._cjk)) if self._cjk else None

    def _terms(self) -> list[str]:
        """Strings that name the target on their own, longest first (surname: persons only, >= 4 letters)."""
        out: set[str] = set(self._forms)
        for ts in self._token_sets:
            words = [t for t in ts if t not in _PARTICLES]
            if self.person and len(words) >= 2:
                if len(words[-1]) >= 4:
                    out.add(words[-1])
                # "García Márquez": the last two words of a three-word Spanish-style name
                if len(words) >= 3:
                    out.add(" ".join(words[-2:]))
                out.add(f"{words[0][0]}. {words[-1]}")
            if not self.person:
                core = [t for t in ts if t not in _ORG_SUFFIXES]
                if core and len(core) < len(ts):
                    out.add(" ".join(core))
        return sorted((t for t in out if t), key=len, reverse=True)

    # -------------------------------------------------------------- spans

    def spelling_variant(self, span: str) -> bool:
        """A person's name that is the target's own under another spelling: the same surname and a given name one
        edit away or a shortened form ("Maria Curie", "Marie Curi" for Marie Curie; "Will Smith" for Willard
        Smith), never a relative with another given name ("Pierre Curie", "Eve Curie"). Persons only."""
        if not self.person or not self.first or self.first == self.last:
            return False
        toks = [t for t in tokens(span) if t not in _PARTICLES]
        if len(toks) < 2:
            return False
        first, last = toks[0], toks[-1]
        shortened = min(len(first), len(self.first)) >= 3 and (first.startswith(self.first)
                                                                or self.first.startswith(first))
        return _near(last, self.last) and (_near(first, self.first) or shortened)

    def is_alias(self, span: str) -> bool:
        """True when `span` names the target itself (not a relative or a thing named after it).

        Same words or a subset of them ("Curie", "García Márquez"), the full name with extra middle names or
        initials ("Marie Skłodowska Curie"), the initials form ("M. Curie"), an acronym of a multi-word name,
        a possessive, any case or diacritics; CJK names when one contains the other with at most two extra
        characters (an honorific).
        """
        s = strip_possessive(span)
        if not s:
            return False
        if self._cjk and has_cjk(s):
            f = fold(s)
            return any((f in c and len(f) >= 2) or (c in f and len(f) - len(c) <= 2) for c in self._cjk)
        st = [t for t in tokens(s) if t]
        if not st:
            return False
        core = [t for t in st if t not in _PARTICLES]
        if not core:
            return False
        for ts in self._token_sets:
            tset = set(ts)
            if set(st) <= tset or set(core) <= tset:
                if self.person and len(core) == 1 and core[0] == self.first and self.first != self.last:
                    # a lone first name is the target in its own answers ("Marie was born ..."); counts as alias
                    return True
                return True
            if not self.person and set(core) <= tset | _ORG_SUFFIXES:
                return True
        # a double-barrelled name made of the target's names: "Skłodowska-Curie" (alias + surname)
        if any("-" in t for t in core) and all(p in self._all_tokens for t in core for p in t.split("-") if p):
            return True
        if self.person and self.first and self.last and self.first != self.last:
            extra = set(core) - self._all_tokens
            if self.first in core and self.last in core and not (extra & _OTHER_PERSON) and core[-1] == self.last:
                return True  # "Marie Skłodowska Curie", "William Henry Gates"
            # "M. Curie", "M Curie"
            if len(core) == 2 and core[-1] == self.last and len(core[0]) == 1 and core[0] == self.first[0]:
                return True
        # acronym of a multi-word name: "JFK" for "John Fitzgerald Kennedy"
        letters = regex.sub(r"[^\p{L}]", "", s)
        for ts in self._token_sets:
            words = [t for t in ts if t not in _PARTICLES]
            if len(words) >= 2 and len(letters) == len(words) and letters.isupper() and \
                    fold(letters) == "".join(w[0] for w in words):
                return True
        return False

    def named_after(self, span: str) -> bool:
        """True when `span` contains the target's full name or a multi-word alias without being the target
        ("The Taylor Swift Blog", "Microsoft Windows"); a relative sharing a surname ("Pierre Curie") is not."""
        f = fold(span)
        for form in self.terms:
            ff = fold(form)
            if (len(ff.split()) >= 2 or not self.person) and regex.search(
                    r"(?<![\p{L}\p{M}\p{N}])" + regex.escape(ff) + r"(?![\p{L}\p{M}\p{N}])", f):
                return not self.is_alias(span)
        return False

    # -------------------------------------------------------------- texts

    def find(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of every mention of the target in `text` (any case, diacritics folded)."""
        f = fold(text)
        spans = [(m.start(), m.end()) for m in self._pattern.finditer(f)] if self._pattern else []
        if self._cjk_pattern:
            spans += [(m.start(), m.end()) for m in self._cjk_pattern.finditer(f)]
        return sorted(spans)

    def mentioned_in(self, text: str) -> bool:
        """Does `text` name the target (full name, alias, surname, initials form, any case or diacritics)?"""
        return bool(self.find(text))
