"""Writing system (script) and language of a text, for the judge's wrong-language check (issue 12, item 1).

A response is only judged against the question it answers: an English question answered in Chinese characters,
or a German question answered in Spanish, is degenerate; a German question answered in German is fine.

- ``dominant_script(text)``: letters are grouped into script families by their Unicode names (Latin, Cyrillic,
  Greek, Arabic, Hebrew, Devanagari, Han+kana for Chinese/Japanese, Hangul, Thai, ...); digits, punctuation and
  symbols do not count. Cheap and exact.
- ``detect_language(text)``: py3langid (langid.py's byte n-gram naive Bayes, Lui & Baldwin 2012; the model ships
  in the wheel as npz, no pickle), restricted to ``LANGUAGES`` so short texts are not spread over 140 rare
  languages. Only used when the scripts agree.
- ``asks_for_language(question)``: questions that ask for another language or script ("translate", "in French",
  "how do you say") switch the check off.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

# Unicode name prefix -> family. Han and kana are one family (Japanese mixes them); py3langid separates zh/ja.
_FAMILY = {
    "CJK": "han", "HIRAGANA": "han", "KATAKANA": "han", "HALFWIDTH KATAKANA": "han", "BOPOMOFO": "han",
    "HANGUL": "hangul", "LATIN": "latin", "CYRILLIC": "cyrillic", "GREEK": "greek", "ARABIC": "arabic",
    "HEBREW": "hebrew", "DEVANAGARI": "devanagari", "BENGALI": "bengali", "THAI": "thai", "ARMENIAN": "armenian",
    "GEORGIAN": "georgian", "TAMIL": "tamil", "TELUGU": "telugu", "GUJARATI": "gujarati", "GURMUKHI": "gurmukhi",
    "KANNADA": "kannada", "MALAYALAM": "malayalam", "ETHIOPIC": "ethiopic", "KHMER": "khmer", "LAO": "lao",
    "MYANMAR": "myanmar", "SINHALA": "sinhala", "TIBETAN": "tibetan",
}
_UNIT_SCRIPTS = {"han", "thai", "lao", "khmer", "myanmar", "tibetan"}  # written without spaces between words

# Languages py3langid may answer with: the widely used ones, so a 5-word English sentence is not "Tagalog".
LANGUAGES = (
    "en de fr es it pt nl sv da no pl cs sk sl hr sr ro hu fi et lt lv tr ru uk bg el ar he fa hi bn ur zh ja ko "
    "vi id ms th tl sw ca"
).split()

# Language names and translation requests (English and a few native names): the reply may legitimately be in
# another language or script.
_ASKS_LANGUAGE = re.compile(
    r"translat|\bin (?:another|a different|other) language|\bhow (?:do|would|can) (?:you|i|one) (?:say|write|"
    r"spell|pronounce)\b|\bscript\b|\balphabet\b|\bcharacters? for\b|\b(?:english|chinese|mandarin|cantonese|"
    r"japanese|korean|german|french|spanish|italian|portuguese|dutch|swedish|danish|norwegian|polish|czech|"
    r"russian|ukrainian|greek|arabic|hebrew|persian|farsi|hindi|bengali|urdu|turkish|vietnamese|thai|"
    r"indonesian|malay|swahili|latin|finnish|hungarian|romanian|bulgarian|catalan|tagalog|kanji|hiragana|"
    r"katakana|hangul|cyrillic|pinyin)\b|\b(?:deutsch|englisch|fran[cç]ais|anglais|espa[nñ]ol|ingl[eé]s|"
    r"italiano|portugu[eê]s|nederlands|polski|русск|английск)\w*|中文|汉语|漢語|英文|英语|日本語|日语|英語|한국어|영어",
    re.IGNORECASE,
)


@lru_cache(maxsize=8192)
def script_family(ch: str) -> str | None:
    """The script family of one letter ('latin', 'han', 'cyrillic', ...); None for non-letters and unknowns."""
    if not ch.isalpha():
        return None
    if ch.isascii():
        return "latin"
    name = unicodedata.name(ch, "")
    for prefix, fam in _FAMILY.items():
        if name.startswith(prefix) or f" {prefix} " in name:  # e.g. "FULLWIDTH LATIN CAPITAL LETTER A"
            return fam
    return None


def script_counts(text: str) -> Counter[str]:
    """Letters per script family (digits, punctuation, symbols and unknown scripts are not counted)."""
    text = text or ""
    if text.isascii():  # the common case, without a per-character lookup
        n = sum(map(str.isalpha, text))
        return Counter({"latin": n}) if n else Counter()
    return Counter(f for f in map(script_family, text) if f)


def dominant_script(text: str) -> tuple[str | None, float, int]:
    """(family, share of letters in it, number of letters); (None, 0.0, 0) for a text without letters."""
    counts = script_counts(text)
    total = sum(counts.values())
    if not total:
        return None, 0.0, 0
    fam, n = counts.most_common(1)[0]
    return fam, n / total, total


def script_units(text: str, family: str) -> int:
    """How many words of `family` the text holds; for scripts written without spaces, letters / 2."""
    if family in _UNIT_SCRIPTS:
        return sum(script_family(c) == family for c in text) // 2
    return sum(1 for w in re.findall(r"[^\W\d_]+", text) if script_family(w[0]) == family)


def asks_for_language(question: str | None) -> bool:
    """True when the question names a language or asks for a translation (then any script may be right)."""
    return bool(question and _ASKS_LANGUAGE.search(question))


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages([lang for lang in LANGUAGES if lang in ident.nb_classes])
    return ident


@lru_cache(maxsize=4096)
def language_probabilities(text: str) -> dict[str, float]:
    """{language: probability} over ``LANGUAGES`` (sums to 1); deterministic."""
    return {str(lang): float(p) for lang, p in _identifier().rank(text or "")}


@lru_cache(maxsize=4096)
def detect_language(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, probability in 0-1) among ``LANGUAGES``; deterministic. Short texts get low probabilities.

    Source: py3langid (a maintained fork of langid.py); about 1 ms per sentence on one CPU core.
    """
    lang, p = _identifier().classify(text or "")
    return str(lang), float(p)
