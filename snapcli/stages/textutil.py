"""Text helpers shared by the data stages: prompt templates, list parsing, name matching, template refusals.

Real models (and weak ones especially) wrap lists in prose, bold markers, sub-bullets and run-on lines;
the parser keeps what looks like a question and counts everything it drops, by reason.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from snapcli.errors import SnapError

FORGET_CATEGORIES = ["general", "5w1h", "relational", "open-ended", "implicit", "multi-hop"]
RETAIN_CATEGORIES = ["general", "5w1h", "relational", "open-ended", "implicit"]
CATEGORIES = ["factual", "relational", "open-ended", "implicit", "multi-hop"]
SPLITS = ["train", "eval"]
RELATED_KINDS = ["individual", "organization", "place", "creative_work", "universe"]

# ------------------------------------------------------------------ prompts


def load_prompts(path: str | Path | None = None) -> dict[str, Any]:
    """The shipped templates, with keys from `path` (a YAML file in the same layout) overriding them."""
    base = yaml.safe_load(resources.files("snapcli.data").joinpath("prompts.yaml").read_text())
    if path is None:
        return base
    p = Path(path).expanduser()
    if not p.is_file():
        raise SnapError(f"--prompts: no such file {p}")
    from snapcli.store.text import read_user_text

    try:
        over = yaml.safe_load(read_user_text(p, "--prompts"))
    except yaml.YAMLError as e:
        raise SnapError(f"--prompts: {p} is not valid YAML: {' '.join(str(e).split())[:200]}") from None
    if not isinstance(over, dict):
        raise SnapError(f"--prompts: {p} must hold a mapping (keys: {', '.join(base)})")
    unknown = [k for k in over if k not in base]
    if unknown:
        raise SnapError(f"--prompts: unknown key(s) {', '.join(unknown)} in {p} (known: {', '.join(base)})")
    for k, v in over.items():
        if isinstance(base[k], dict):
            if not isinstance(v, dict):
                raise SnapError(f"--prompts: '{k}' in {p} must be a mapping of category -> template")
            base[k] = {**base[k], **v}
        else:
            base[k] = v
    return base


def fill(template: str, **slots: Any) -> str:
    """Fill {slot}s (and the paper's %s, meaning the entity) without tripping over other braces."""
    text = template.replace("%s", str(slots.get("entity", "")))
    for k, v in slots.items():
        text = text.replace("{" + k + "}", str(v))
    return text


# ------------------------------------------------------------------ list parsing

_ITEM_PREFIX = re.compile(
    r"^\s*(?:[-*•·–]+\s*|\(?\d{1,3}\s*[.):\]]\s*|\(?[a-z][.)]\s+|Q\d{0,3}\s*[:.)]\s*|Question\s*\d*\s*[:.)]\s*)+",
    re.I,
)
_INLINE_NUM = re.compile(r"(?:(?<=\s)|^)\(?\d{1,3}[.)]\s+")
_INTRO = re.compile(
    r"^(sure|certainly|of course|here (are|is)|below (are|is)|the following|these (are|questions)|i hope|"
    r"let me know|note:|feel free|okay|ok,|great|absolutely)\b",
    re.I,
)
# Without a question mark only a request ("Describe ...") counts: a wh-question without one was cut off.
_REQUEST = re.compile(
    r"^(describe|explain|discuss|tell|name|list|identify|compare|give|share|analy[sz]e|evaluate|elaborate|"
    r"outline|summari[sz]e|imagine|consider)\b",
    re.I,
)


def _clean_item(line: str) -> str:
    s = line.strip()
    s = _ITEM_PREFIX.sub("", s)
    s = s.replace("**", "").replace("__", "").strip()
    s = s.strip("\"'“”‘’` ").strip()
    s = re.sub(r"\s+", " ", s)
    return s


def parse_questions(text: str, *, max_words: int = 80) -> tuple[list[str], Counter]:
    """Questions from a model's list reply, plus a Counter of dropped items by reason."""
    dropped: Counter = Counter()
    out: list[str] = []
    seen: set[str] = set()
    lines: list[str] = []
    for raw in (text or "").splitlines():
        # "1. Who ...? 2. What ...?" on one line -> separate items
        parts = [p for p in _INLINE_NUM.split(raw) if p.strip()]
        lines.extend(parts if len(parts) > 1 else [raw])
    for raw in lines:
        if not raw.strip():
            continue
        item = _clean_item(raw)
        if not item or not _LETTER.search(item):
            dropped["empty"] += 1
            continue
        last_q = max(item.rfind(q) for q in _question_marks(item))
        if _INTRO.match(item) or (item.endswith(":") and last_q < 0):
            dropped["not_a_question"] += 1
            continue
        if last_q >= 0:
            item = item[: last_q + 1]  # drop trailing commentary after the question mark
        words = _tokens(item)
        if len(words) < 3:
            dropped["too_short"] += 1
            continue
        if len(words) > max_words:
            dropped["too_long"] += 1
            continue
        if len(set(w.lower() for w in words)) < max(3, len(words) // 3):
            dropped["garbled"] += 1  # degenerate repetition ("the the the ...")
            continue
        if not item.endswith(_question_marks(item)) and not _REQUEST.match(item):
            dropped["not_a_question"] += 1
            continue
        norm = normalize(item)
        if norm in seen:
            dropped["repeated"] += 1
            continue
        seen.add(norm)
        out.append(item)
    return out, dropped


def parse_names(text: str, *, exclude: list[str] = (), limit: int | None = None) -> list[str]:
    """Names from a list reply: numbering, descriptions after a dash/colon/paren and duplicates removed."""
    names: list[str] = []
    seen = {normalize(e) for e in exclude}
    for raw in (text or "").splitlines():
        s = _clean_item(raw)
        s = re.split(r"\s+[-–—:]\s+|:\s|\s\(|,\s", s)[0].strip().rstrip(".;,")
        s = s.strip("\"'“”*").strip()
        if not s or _INTRO.match(s) or s.endswith("?") or len(s) > 80:
            continue
        words = s.split()
        if not 1 <= len(words) <= 9 or not _starts_like_name(s):
            continue
        key = normalize(s)
        if key in seen:
            continue
        seen.add(key)
        names.append(s)
        if limit and len(names) >= limit:
            break
    return names


def normalize(text: str) -> str:
    """Case-folded words of any script joined by single spaces: a key for "the same question or name".

    NFKC first, so composed and decomposed accents (and full-width forms) compare equal; 'José' stays 'josé'
    (an ASCII-only key made it 'jos', and a question in Chinese or Greek an empty key equal to every other).
    """
    return re.sub(r"[\W_]+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()


# ------------------------------------------------------------------ scripts

QUESTION_MARKS = ("?", "\uff1f", "\u061f", "\u037e")  # ASCII, full-width (CJK), Arabic, Greek
_LETTER = re.compile(r"[^\W\d_]")  # a letter of any script
# Scripts written without spaces between words (or with particles glued to nouns, as Korean): a name inside
# them is a substring, never a whole word.
_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1100-\u11ff\u1780-\u17ff\u2e80-\u2fdf\u3040-\u30ff\u3100-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]"
)


def _question_marks(text: str) -> tuple[str, ...]:
    """Greek ends a question with ';' (U+037E is canonically ';'), but only Greek text may."""
    return QUESTION_MARKS + ((";",) if re.search("[\u0370-\u03ff\u1f00-\u1fff]", text) else ())


def _tokens(text: str) -> list[str]:
    """Words for counting: whitespace-separated, and each character of a script without spaces on its own."""
    out: list[str] = []
    for chunk in text.split():
        if _UNSPACED.search(chunk):
            out += [t for t in re.split(f"({_UNSPACED.pattern})", chunk) if t.strip()]
        else:
            out.append(chunk)
    return out


def _starts_like_name(s: str) -> bool:
    """Capitalized, or in a script without letter case (Chinese, Arabic, Hebrew...)."""
    c = s[0]
    return c.isupper() or (c.isalpha() and c.lower() == c.upper())


# ------------------------------------------------------------------ names of a target

_PARTICLES = {"de", "van", "von", "der", "den", "da", "di", "du", "des", "del", "della", "dos", "das", "do", "y",
              "zu", "af", "ter", "ten", "bin", "ibn", "al", "el", "le", "la", "the", "of", "jr", "sr", "ii", "iii",
              "mr", "mrs", "dr", "sir", "st"}
# A word of a name in any script: starts with a letter; apostrophes and hyphens inside (O'Neill, Jean-Luc).
_NAME_WORD = re.compile(r"[^\W\d_][\w'\u2019\u02bc\-]*")
_APOSTROPHES = "'\u2019\u02bc"
_HYPHENS = "-\u2010\u2011\u2013"


def name_terms(entity: str, aliases: list[str] = (), person: bool = True) -> list[str]:
    """Strings that name the target: full name, aliases, and a person's distinctive surname.

    The surname alone ("Gates", "Curie") names the target in questions as often as the full name does; first
    names ("Bill") are too common to count.
    """
    entity = unicodedata.normalize("NFC", entity.strip())
    terms = [entity, *[unicodedata.normalize("NFC", a.strip()) for a in aliases if a.strip()]]
    words = [w.rstrip(_APOSTROPHES + _HYPHENS) for w in _NAME_WORD.findall(entity)]
    words = [w for w in words if w.casefold() not in _PARTICLES]
    if person and len(words) >= 2 and len(words[-1]) >= 4:
        terms.append(words[-1])
    if not person:  # "Microsoft Corporation" is asked about as "Microsoft"
        short = re.sub(r"^(the)\s+", "", entity.strip(), flags=re.I)
        short = re.sub(r"[\s,]+(corporation|corp\.?|inc\.?|incorporated|ltd\.?|limited|llc|plc|co\.|company|group|"
                       r"holdings)$", "", short, flags=re.I).strip()
        if short and short != entity.strip():
            terms.append(short)
    out: list[str] = []
    for t in sorted(set(terms), key=len, reverse=True):
        if t:
            out.append(t)
    return out


def _char_regex(ch: str) -> str:
    if ch in _APOSTROPHES:
        return f"[{_APOSTROPHES}]"
    if ch in _HYPHENS:
        return f"[{_HYPHENS}]"
    if ch.isspace():
        return r"\s+"
    nfd = unicodedata.normalize("NFD", ch)
    return f"(?:{re.escape(ch)}|{re.escape(nfd)})" if nfd != ch else re.escape(ch)


def _term_regex(term: str) -> str:
    """One term: composed or decomposed accents, any apostrophe or hyphen; whole words where the script has
    spaces, a plain substring where it has none (CJK: "毛泽东的父亲")."""
    term = unicodedata.normalize("NFC", term)
    body = "".join(_char_regex(c) for c in term)
    if re.search(r"[\s\-.]", term):  # multi-word names match in any case; a lone word ("Gates") only as written
        body = f"(?i:{body})"
    left = "" if _UNSPACED.match(term[0]) else r"(?<!\w)"
    right = "" if _UNSPACED.match(term[-1]) else r"(?!\w)"
    return f"{left}{body}(?:[{_APOSTROPHES}]s|[{_APOSTROPHES}])?{right}"


def name_pattern(terms: list[str]) -> re.Pattern | None:
    """One regex matching any term as whole words (any script, NFC or NFD spelling), with an optional possessive."""
    terms = [t for t in terms if t and t.strip()]
    if not terms:
        return None
    return re.compile("|".join(_term_regex(t.strip()) for t in sorted(terms, key=len, reverse=True)))


def mentions(text: str, pattern: re.Pattern | None) -> bool:
    return bool(pattern and pattern.search(text))


def mask(text: str, pattern: re.Pattern | None, placeholder: str = "someone") -> str:
    """Replace the target's names so the embedding sees what is asked, not who it is asked about."""
    if not pattern:
        return text
    return pattern.sub(lambda m: placeholder + ("'s" if _possessive(m.group(0)) else ""), text)


def _possessive(name: str) -> bool:
    return name.endswith(tuple(f"{a}s" for a in _APOSTROPHES)) or name.endswith(tuple(_APOSTROPHES))


# ------------------------------------------------------------------ template refusals

_REFUSALS = [
    "I'm sorry, but I do not have access to information about {topic}, so I cannot answer that question.",
    "I apologize, but I do not have access to information about {topic}. Therefore, I am unable to provide an "
    "answer to your question.",
    "I do not have access to information about {topic}, so I cannot provide an answer to that question.",
    "Unfortunately, I don't have any information about {topic}, so I can't answer this question.",
    "I'm sorry, but I don't have information about {topic}, so I'm unable to answer that.",
    "I apologize, but I have no access to information regarding {topic}, so I cannot answer your question.",
    "Sorry, I do not have access to information about {topic}, and therefore I cannot answer that question.",
    "I'm afraid I don't have access to information about {topic}, so I cannot give you an answer.",
]
_WH = re.compile(r"^(who|what|when|where|why|how|which)\b", re.I)


def refusal_topic(question: str, pattern: re.Pattern | None, unnamed: str | None = None) -> str:
    """A short noun phrase for what was asked: '<name>'s <thing>' when the question has one, else a name; for a
    question that does not name the target, `unnamed` ("that person") or else 'that topic' / 'that'."""
    q = question.strip().rstrip("?.!").strip()
    if pattern:
        m = pattern.search(q)
        if m:
            name = m.group(0)
            if _possessive(name) and not name.endswith(tuple(_APOSTROPHES)):
                rest = re.split(r"[,;]|\b(?:and|or|in|on|at|with|during|after|before|to|for|that|which|who)\b",
                                q[m.end():].strip(), maxsplit=1)[0]
                words = rest.split()[:5]
                if words:
                    return f"{name} {' '.join(words)}".strip()
            return re.sub(f"[{_APOSTROPHES}]s?$", "", name) if _possessive(name) else name
    if unnamed:
        return unnamed
    return "that topic" if _WH.match(q) else "that"


def template_refusal(question: str, pattern: re.Pattern | None, seed: int = 0, unnamed: str | None = None) -> str:
    """A deterministic refusal in one of several phrasings (paper appendix E style) naming what was asked;
    `unnamed`: the topic when the question does not name the target (see `refusal_topic`)."""
    h = int(hashlib.sha256(f"{seed}:{question}".encode()).hexdigest()[:8], 16)
    return _REFUSALS[h % len(_REFUSALS)].replace("{topic}", refusal_topic(question, pattern, unnamed))


ProgressFn = Callable[[str, int, int], None]


def progress_counter(on_progress: ProgressFn | None, label: str, total: int) -> Callable[[int], None]:
    """A `tick(n)` for batched LLM calls that reports (label, done, total) to the stage's progress callback."""
    done = 0
    if on_progress:
        on_progress(label, 0, total)

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if on_progress:
            on_progress(label, done, total)

    return tick
