"""Degenerate responses: output that is neither a refusal nor an answer (issue 12, item 1).

A collapsed or broken model produces text that must not count as forgetting (UA) nor as retained knowledge
(RA/TA): nothing at all, punctuation, a word or phrase looping, token soup, a reply in another language than the
question's, or the question echoed back. Every check here is deterministic and cheap (no model; about 1 ms per
response), and each threshold below says why it sits where it does. Short answers ("Paris.", "1867", "Yes.",
"42", "Au", a list, code, an answer in the question's language incl. CJK) pass every check; the test suite and
the labelled set (`snapcli/data/judge_labelled.jsonl`) hold them to it.

Reasons, in the order they are checked (``degenerate_reason`` returns the first that applies):

- ``empty``          nothing but whitespace;
- ``no-words``       no letter or digit in any script (``"!!!!"``, ``"..."``, ``"* * *"``);
- ``wrong-script``   most letters in another script family than the question's (English question, Chinese reply);
- ``wrong-language`` same script, another language: py3langid is confident on both texts and they differ;
- ``echo``           the reply only repeats the question (whole or cut off), plus filler ("Question:", "you asked");
- ``repetition``     a word, n-gram or character loop covers at least half of the reply;
- ``token-soup``     English-context reply whose words are mostly not English words (a random or broken model).

Refusals stay refusals: the judge asks the refusal rules about a loop's repeated unit before calling it
degenerate, so "I cannot answer that. I cannot answer that. I cannot answer that." is a refusal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from snapcli.evaluate.language import (
    asks_for_language,
    detect_language,
    dominant_script,
    language_probabilities,
    script_counts,
    script_units,
)

REASONS = ("empty", "no-words", "wrong-script", "wrong-language", "echo", "repetition", "token-soup")

# --- thresholds (why each sits where it does) -------------------------------------------------------------
# A loop is a unit of 1..MAX_PERIOD words repeated back to back at least MIN_REPEATS times. Three repeats: twice is
# common in real text and in truncated refusals ("I'm sorry, but I'm sorry, but ..."), three in a row is not.
MIN_REPEATS = 3
MAX_PERIOD = 24  # a sentence-long unit (SmolLM2 loops whole sentences)
# ... and the response is degenerate when loops cover at least this share of its words: an answer that stutters
# at its end (a loop cut by max_new_tokens after real content) keeps its label.
LOOP_SHARE = 0.5
# Character loops ("!!!!!!!!", "-_-_-_-_", "\u3002\u3002\u3002"): a unit of 1..4 non-space characters repeated
# CHAR_RUN_MIN characters long, covering LOOP_SHARE of the non-space characters. Digit runs are exempt
# ("10000000000" is a number).
CHAR_RUN_MIN = 8
# Wrong script: the question needs this many letters for its script to mean anything, and the reply this many
# words (CJK: letter pairs) in the other script - so a Chinese question answered "Bill Gates" still passes.
SCRIPT_MIN_Q_LETTERS = 4
SCRIPT_MIN_UNITS = 4
# Wrong language (same script): py3langid must be confident about the reply (>= 5 words, p >= 0.9), and the
# question must be at least 10x less likely in the reply's language than in its own most likely language. Short
# questions are hard to identify ("Can penguins fly?" is only 5% English to langid), so the question side is a ratio,
# not a guess: over the 680 distinct English questions shipped with snap, P(English) is never below 0.18x the top
# language's (the lowest: "Can penguins fly?"), so an English reply to an English question is not flagged.
LANG_MIN_WORDS_RESPONSE = 5
LANG_P_RESPONSE = 0.9
LANG_QUESTION_RATIO = 0.1
# Token soup (English-context replies that are not code and not a list): either
#  (a) >= SOUP_MIN_WORDS lower-case Latin words of which fewer than SOUP_KNOWN_SHARE are English words (MiniLM's
#      WordPiece vocabulary, 21,745 whole words, plus regular inflections); capitalised words are left out, as names
#      are rarely in a word list. Shipped answers score >= 0.62 (a list of desserts); random-model output 0.37-0.63.
#  (b) >= SOUP_LONG_WORDS words of which fewer than SOUP_FUNCTION_SHARE are English function words ("the", "of",
#      "is", ...). Real prose of that length never goes below 0.07 in the shipped sets; token soup sampled from a
#      random model stays at 0.00-0.03 even when most of its tokens are real words ("paved ventilation exerted").
# A list (a separator - comma, semicolon, newline, bullet - for every 2.5 words) is exempt from both: "tiramisu,
# churros, mochi" is an answer.
SOUP_MIN_WORDS = 6
SOUP_KNOWN_SHARE = 0.5
SOUP_LONG_WORDS = 20
SOUP_FUNCTION_SHARE = 0.05
LIST_SEPARATORS_PER_WORD = 0.4
FUNCTION_WORDS = frozenset(
    "the a an of to in and is are was were be been for on with as by that this it its he she they his her their them "
    "him we you i my your our or not but from at has have had which who what when where how will would can could "
    "should do does did so if than then there these those one no yes also about into more most such all any some "
    "each other only".split()
)

# filler that may surround an echoed question
_ECHO_FILLER = set(
    "q a question answer answers you asked ask asking me please the is are what who your my i to about user "
    "assistant query prompt re".split()
)
# a unit of 1-4 characters repeated back to back at least 3 times (shortest unit first)
_CHAR_LOOP = re.compile(r"(.{1,4}?)\1{2,}", re.DOTALL)
_CJK_CHAR = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK_CHAR}]|[^\W_{_CJK_CHAR}]+(?:'[^\W_]+)?")
_CODE = re.compile(r"```|^\s*(?:def|class|import|from|return|for|while|if|SELECT|function|const|let|var|#include|"
                   r"pip|npm|git|cd|ls|sudo|apt|docker)\b|[{};]\s*$|\w+\([^)]*\)|\s(?:==|!=|<=|>=|=>|->|\+=|&&|\|\|)\s|"
                   r"(?:^|\s)--?[a-z][\w-]*\b(?=\s|$)|(?:^|\s)~?/\w+/", re.MULTILINE)


@dataclass(frozen=True)
class Loop:
    """A repetition loop: `share` of the tokens lie in back-to-back repeats; `unit` is the longest loop's unit."""

    share: float
    unit: str
    period: int
    repeats: float


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens; each CJK ideograph or kana is one token (those scripts do not space words)."""
    return _TOKEN.findall((text or "").lower())


def _loop_cover(seq: list, max_period: int, min_repeats: int) -> tuple[list[bool], tuple[int, int, int]]:
    """Mark the positions of `seq` inside back-to-back repeats; also (start, period, length) of the longest run."""
    n = len(seq)
    cover = [False] * n
    best = (0, 0, 0)
    for p in range(1, min(max_period, n // min_repeats) + 1):
        i = p
        while i < n:
            if seq[i] != seq[i - p]:
                i += 1
                continue
            j = i
            while j < n and seq[j] == seq[j - p]:
                j += 1
            start, length = i - p, j - (i - p)  # seq[start:j] has period p
            if length >= min_repeats * p:
                for k in range(start, j):
                    cover[k] = True
                if length > best[2]:
                    best = (start, p, length)
            i = j
    return cover, best


def find_loop(text: str) -> Loop | None:
    """The word loop of `text` (or its character loop, whichever covers more); None when there is none."""
    toks = tokens(text)
    best: Loop | None = None
    if len(toks) >= MIN_REPEATS:
        cover, (start, p, length) = _loop_cover(toks, MAX_PERIOD, MIN_REPEATS)
        if p:
            sep = "" if all(len(t) == 1 and re.match(rf"[{_CJK_CHAR}]", t) for t in toks[start:start + p]) else " "
            best = Loop(sum(cover) / len(toks), sep.join(toks[start:start + p]), p, length / p)
    chars = re.sub(r"\s+", "", text or "")
    if len(chars) >= CHAR_RUN_MIN:
        runs = [m for m in _CHAR_LOOP.finditer(chars)
                if len(m.group(0)) >= CHAR_RUN_MIN and not m.group(1).isdigit()]
        share = sum(len(m.group(0)) for m in runs) / len(chars)
        if runs and share > (best.share if best else 0.0):
            top = max(runs, key=lambda m: len(m.group(0)))
            best = Loop(share, top.group(1), len(top.group(1)), len(top.group(0)) / len(top.group(1)))
    return best


def is_echo(question: str | None, response: str) -> bool:
    """The response repeats the question (whole, or its cut-off start) and adds only filler words."""
    q = tokens(question or "")
    r = tokens(response)
    if len(q) < 2 or not r:
        return False
    rest: list[str] = []
    i = found = 0
    while i < len(r):
        if r[i:i + len(q)] == q:
            i += len(q)
            found += 1
            continue
        tail = r[i:]
        if len(tail) >= 2 and q[: len(tail)] == tail and (found or len(tail) >= 0.6 * len(q)):
            found += 1  # a repeat cut off by the token limit
            break
        rest.append(r[i])
        i += 1
    return bool(found) and all(w in _ECHO_FILLER for w in rest)


def is_code(text: str) -> bool:
    """Looks like source code or a formula (skipped by the language and word-list checks)."""
    return bool(_CODE.search(text or ""))


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Whole lower-case words of MiniLM's WordPiece vocabulary (the embedder snap ships; no download)."""
    from pathlib import Path

    from snapcli.models import embedder_path

    vocab = Path(embedder_path("minilm")) / "vocab.txt"
    return frozenset(w for w in vocab.read_text(encoding="utf-8").split() if w.isalpha() and w.isascii())


_SUFFIXES = ("'s", "ies", "ied", "ing", "ed", "es", "s", "ly", "er", "est", "d", "y")


def known_word(word: str) -> bool:
    """An English word (or a regular inflection of one: -s, -ed, -ing, -ly, ...)."""
    words = english_words()
    if word in words:
        return True
    for suf in _SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            stem = word[: -len(suf)]
            if stem in words or stem + "e" in words or (suf in ("ies", "ied") and stem + "y" in words):
                return True
    return False


def soup_share(text: str) -> tuple[float, int]:
    """(share of English words, how many lower-case Latin words were looked up)."""
    # lower-case Latin words; a clitic ("don't", "it's") is cut off, as WordPiece cuts it
    words = [w.lower() for w in re.findall(r"(?<![\w'-])[a-z][a-z]+(?=(?:'[a-z]+)?(?![\w'-]))", text or "")]
    if not words:
        return 1.0, 0
    return sum(known_word(w) for w in words) / len(words), len(words)


def function_share(text: str) -> tuple[float, int]:
    """(share of English function words among the Latin words, number of Latin words)."""
    words = re.findall(r"[A-Za-z]+", text or "")
    if not words:
        return 1.0, 0
    return sum(w.lower() in FUNCTION_WORDS for w in words) / len(words), len(words)


def is_list(text: str) -> bool:
    """Items separated by commas, semicolons, newlines or bullets (at least one separator per 2.5 words)."""
    n_words = len(re.findall(r"[^\W_]+", text or ""))
    seps = len(re.findall(r"[,;\n\u3001\uff0c]|(?:^|\s)(?:[-*\u2022]|\d+[.)])\s", text or ""))
    return n_words > 0 and seps >= LIST_SEPARATORS_PER_WORD * n_words


def is_token_soup(text: str) -> bool:
    """English-word share or function-word share far below any real English reply (see the thresholds above)."""
    if is_code(text) or is_list(text):
        return False
    share, n = soup_share(text)
    if n >= SOUP_MIN_WORDS and share < SOUP_KNOWN_SHARE:
        return True
    fshare, n_all = function_share(text)
    return n_all >= SOUP_LONG_WORDS and fshare < SOUP_FUNCTION_SHARE


def surface_reason(question: str | None, response: str) -> str | None:
    """The checks that need no refusal rules: empty, no-words, wrong-script, wrong-language, token-soup."""
    text = (response or "").strip()
    if not text:
        return "empty"
    if not re.search(r"[^\W_]", text):
        return "no-words"
    question = question or ""
    if not asks_for_language(question) and not is_code(text):
        q_fam, _q_share, q_letters = dominant_script(question)
        if q_fam and q_letters >= SCRIPT_MIN_Q_LETTERS:
            counts = script_counts(text)
            letters = sum(counts.values())
            other = letters - counts.get(q_fam, 0)
            if letters and other / letters > 0.5:
                fam = max((f for f in counts if f != q_fam), key=counts.__getitem__)
                if script_units(text, fam) >= SCRIPT_MIN_UNITS:
                    return "wrong-script"
            elif _wrong_language(question, text):
                return "wrong-language"
    if _english_context(question) and is_token_soup(text):
        return "token-soup"
    return None


def _n_words(text: str) -> int:
    return len(re.findall(r"[^\W\d_]+", text))


def _wrong_language(question: str, response: str) -> bool:
    if _n_words(response) < LANG_MIN_WORDS_RESPONSE or not _n_words(question):
        return False
    if _english_context(question):
        share, n = soup_share(response)
        if n >= LANG_MIN_WORDS_RESPONSE and share >= 0.8 and function_share(response)[0] >= 0.2:
            # English by word list and function words (French passes the word list alone: "est", "un", "de"),
            # to a question that may be English: not another language, no langid call needed
            return False
    r_lang, r_p = detect_language(response)
    if r_p < LANG_P_RESPONSE:
        return False
    probs = language_probabilities(question)
    return probs.get(r_lang, 0.0) < LANG_QUESTION_RATIO * max(probs.values())


def _english_context(question: str) -> bool:
    """The English word list applies: the question is (probably) English, or there is none."""
    fam, _share, letters = dominant_script(question)
    if not letters:
        return True
    if fam != "latin":
        return False
    probs = language_probabilities(question)
    return probs.get("en", 0.0) >= LANG_QUESTION_RATIO * max(probs.values())


def degenerate_reason(question: str | None, response: str, is_refusal=None) -> str | None:
    """Why `response` is degenerate, or None. `is_refusal(text) -> bool` keeps looping refusals as refusals.

    Shapes: one question and one response (strings); returns one of ``REASONS`` or None. Deterministic.
    """
    reason = surface_reason(question, response)
    if reason:
        return reason
    if is_echo(question, response):
        return "echo"
    loop = find_loop(response)
    if loop and loop.share >= LOOP_SHARE and not (is_refusal and is_refusal(loop.unit)):
        return "repetition"
    return None
