"""Named things in free text, found and typed with regexes and small word lists (no NLP model, no network).

`find_mentions(text)` returns the capitalized name spans of an answer (Latin, Cyrillic, Greek, ... with
diacritics, hyphens, apostrophes, initials; runs of CJK characters), each typed person / organization / place /
creative_work / event / award / other from: a gazetteer (snapcli/data/gazetteer.yaml), suffix words ("University",
"Corporation", "River", "Prize"), the words just before it ("born in X", "married X", "the novel X", "founded by
X") and quotes or markdown emphasis around it (titles). Issue 11 item 2. The typing is a heuristic: it is measured
in docs/data-stages.md, not assumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import regex
import yaml

# ------------------------------------------------------------------ word lists


@lru_cache(maxsize=1)
def gazetteer() -> dict[str, object]:
    """{'places': folded place names, 'demonyms': {folded demonym: country}, 'countries': {folded: name},
    'same': {folded other name: folded main name} ("usa" -> "united states")}."""
    from snapcli.datagen.target_names import fold

    raw = yaml.safe_load(resources.files("snapcli.data").joinpath("gazetteer.yaml").read_text(encoding="utf-8"))
    countries = {fold(c): c for c in raw["countries"]}
    demonyms = {fold(d): c for c, ds in raw["countries"].items() for d in ds}
    places = set(countries) | {fold(p) for p in raw["regions"]} | {fold(p) for p in raw["us_states"]} | \
        {fold(p) for p in raw["cities"]}
    same = {fold(o): fold(main) for main, others in raw.get("same_place", {}).items() for o in others}
    return {"places": places, "demonyms": demonyms, "countries": countries, "same": same}


MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
          "dec"}
DAYS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}

# capitalized words that start sentences or headings but name nothing
STARTERS = set("""
a an the this that these those there here it its he she they we i you his her their our your my me him them us one
in on at by for from to of with without within into onto upon about above across after against along among around
before behind below beneath beside besides between beyond during except inside near off outside over since through
throughout till toward towards under underneath until unlike via as and or but nor so yet if when where while why how
what who whom whose which whether although though because unless once than also however therefore thus moreover
furthermore additionally overall today yesterday currently recently later earlier finally firstly secondly lastly
meanwhile instead indeed still even just only perhaps maybe sure yes no not certainly absolutely unfortunately
sadly notably interestingly importantly specifically generally typically often sometimes many some several few most
more other another each every both all any such much born known famous best based located considered regarded
widely known nicknamed called named titled according despite due following including like throughout please note
tell write describe explain give list summary summarize answer question here's there's it's he's she's they're
i'm i've let let's however, early late young during well today's hi hello dear thank thanks
yes, no, first second third last next previous following key main major famous notable important interesting
personal professional career education family life legacy death awards achievements works background biography
introduction conclusion overview history facts fact note notes source sources references example examples
""".split())

# capitalized words that are not names of things on their own
NOT_NAMES = set("""
god internet web english french spanish german latin greek arabic hebrew chinese japanese russian italian
physics chemistry biology medicine mathematics literature economics philosophy history science art music peace
engineering astronomy geology psychology sociology law theology computer computing technology
christmas easter ramadan halloween thanksgiving ceo cto cfo coo president vice king queen prince princess duke
sir dr mr mrs ms miss professor prof saint st lord lady emperor empress pope
phd ph.d bachelor master doctor degree ai tv dna rna usb pc os api faq ad bc bce ce am pm
""".split())

ORG_WORDS = set("""
university college institute institution school academy society foundation corporation corp inc incorporated
company co ltd llc plc group records studios studio pictures entertainment bank party association agency council
committee organization organisation church museum laboratory laboratories labs lab hospital club team band
orchestra ministry department army navy fund trust times post journal network systems technologies technology
motors airlines airways games software microsystems electronics media press publishing publishers gallery
federation union league commission bureau service services industries enterprises ventures partners capital
holdings conservatory seminary observatory senate congress parliament government court fc nations powers
alliance allies forces coalition axis reich
""".split())

PLACE_WORDS = set("""
city town village river mountain mountains mount lake island islands ocean sea street avenue road square bridge
tower cathedral palace castle county province state republic kingdom empire valley bay coast desert forest canal
district region peninsula gulf harbor harbour strait falls park arc basilica abbey temple boulevard wall gate
site market quarter
""".split())

EVENT_WORDS = set("""
war battle revolution olympics olympic games cup festival election crisis treaty pandemic epidemic massacre
conference summit expo exposition championship championships world-series siege rebellion uprising movement
depression crusade crusades invasion occupation landing landings protest protests
""".split())

AWARD_WORDS = set("prize award awards medal medals grammy grammys oscar oscars emmy emmys tony honor honour".split())

WORK_NOUNS = set("""
novel novels book books film films movie movies album albums song songs single singles series play plays poem poems
painting paintings sculpture opera symphony game games show shows sitcom story stories novella collection essay
essays memoir autobiography biography trilogy saga franchise comic comics manga anime musical ballet track tracks
record records concerto sonata documentary episode episodes article paper papers treatise
""".split())

PERSON_TITLES = set("""
dr mr mrs ms miss sir lady lord king queen prince princess president senator governor general captain professor
prof pope saint st emperor empress duke duchess count countess judge justice reverend rev
""".split())

PERSON_CUES = set("""
husband wife son daughter father mother brother sister sibling siblings parents parent grandfather grandmother
uncle aunt cousin nephew niece partner spouse fiancé fiancée friend friends colleague colleagues mentor student
teacher rival boyfriend girlfriend
""".split())

# the verb or noun just before a name, and the type it points to
_BEFORE = [
    (r"(?:born|raised|grew up|lived|lives|died|moved|settled|emigrated|located|situated|based|headquartered|set|"
     r"held|hosted|took place|happened|fought|live|living|stay|stayed|resides|resided)"
     r"\s+(?:in|at|near|to|from|on)\s*(?:the\s+)?$", "place"),
    (r"\b(?:capital of|city of|country of|citizen of|native of|located|situated|headquartered|based|set)"
     r"\s*(?:in\s+)?(?:the\s+)?$", "place"),
    (r"\b(?:city|town|village|country|state|region|province|capital|island|port|county|district)\s+of\s+$",
     "place"),
    (r"\b(?:married|wed|divorced|dated|met|meeting|husband|wife|son|daughter|father|mother|brother|sister|"
     r"partner|spouse|friend|colleague|mentor|student|rival|boyfriend|girlfriend|widow|widower|sons|daughters|"
     r"children|child|parents)(?:,)?\s+(?:of\s+)?$", "person"),
    (r"\b(?:written|directed|composed|painted|sung|performed|played|portrayed|created|invented|discovered|"
     r"co-founded|founded|led|coached|produced|illustrated|designed)\s+by\s+$", "person"),
    (r"\b(?:studied|worked|taught|employed|educated|graduated|enrolled|professor|researcher|student|degree|"
     r"position|job|role|career)\s+(?:at|from|for|with)\s+(?:the\s+)?$", "organization"),
    (r"\b(?:founded|co-founded|cofounded|established|started|launched|joined|acquired|bought|ceo of|chairman of|"
     r"president of|director of|member of|head of|owner of|owned by|acquired by|published by|released by|"
     r"produced by|signed (?:with|to))\s+(?:the\s+)?$", "organization"),
    (r"\b(?:the\s+)?(?:novel|book|film|movie|album|song|single|series|play|poem|painting|opera|symphony|game|"
     r"show|sitcom|story|novella|memoir|trilogy|comic|musical|documentary|episode)s?,?\s+$", "creative_work"),
    (r"\b(?:wrote|write|writes|author of|writer of|authored|published|directed|starred in|stars in|appeared in|"
     r"appears in|featured in|released|recorded|composed|painted|sang|sung|adapted from|based on|sequel to)"
     r"\s+(?:the\s+)?$", "creative_work"),
    (r"\b(?:products?|brands?|software|devices?|games|services|platforms?|apps?|applications?|consoles?|"
     r"inventions?|works|hits|songs|albums|novels|films|books)\s+(?:include|including|includes|such as|like|are|"
     r"were)?\s*(?:the\s+)?$", "creative_work"),
    (r"\b(?:award|prize|medal|grammy|oscar|emmy|nomination|nominated)s?\s+(?:for|as)\s+$", "award"),
    (r"\b(?:band|group|company|firm|label|team|club|organization|charity|startup)\s+$", "organization"),
    (r"\b(?:won|win|wins|awarded|received|receive|earned|nominated for|recipient of)\s+(?:the\s+|a\s+|an\s+|two\s+|"
     r"three\s+|several\s+|multiple\s+|numerous\s+)?$", "award"),
    (r"\b(?:during|after|before|in|since)\s+the\s+$", "event"),
]
_BEFORE_RE = [(regex.compile(p, regex.I), kind) for p, kind in _BEFORE]

# one word of a name: capitalized (any script), a hyphen/apostrophe word, an initial, a roman numeral
# a period ends a name unless it closes an initial ("J."), an abbreviation ("Dr.") or "U.S."
_W = (r"(?:(?:\p{Lu}\.){2,}|(?:Dr|Mr|Mrs|Ms|St|Jr|Sr|Prof|Gen|Sen|Rev|Mt|Ft)\.|\p{Lu}\.(?=[ \t]+\p{Lu})|"
      r"\p{Lu}[\p{L}\p{M}]*(?:['’\-]\p{L}[\p{L}\p{M}]*)*)")
_CONNECT = r"(?:of|the|de|da|di|du|del|della|der|den|van|von|la|le|y|bin|ibn|al|el|&)"
_NAME = regex.compile(
    rf"(?<![\p{{L}}\p{{N}}]){_W}(?:[ \t]+(?:{_CONNECT}[ \t]+)?{_W}|[ \t]+(?:[IVX]{{1,4}}|\d{{1,3}})(?![\p{{L}}\d]))*"
)
_CJK_RUN = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}ー・]{2,12}")
_QUOTED = regex.compile(r"[\"“«„]([^\"”»“\n]{2,80})[\"”»]|\*{1,2}([^*\n]{2,80})\*{1,2}|_([^_\n]{2,80})_")


@dataclass
class Mention:
    """One name in a text: `text` as written (possessive removed), `kind`, where it is and why it got its kind."""

    text: str
    kind: str  # person | organization | place | creative_work | event | award | other
    start: int
    end: int
    cue: str = ""
    quoted: bool = False


_DIRECTIONS = {"north", "south", "east", "west", "northern", "southern", "eastern", "western", "central", "upper",
               "lower", "greater", "new", "old", "nazi", "imperial", "occupied", "modern", "ancient"}


def _type_words(words: list[str]) -> str | None:
    from snapcli.datagen.target_names import fold

    low = [fold(w).strip(".'") for w in words]
    name = " ".join(low)
    g = gazetteer()
    if name in g["places"] or name.removeprefix("the ") in g["places"]:
        return "place"
    # "Northern Ireland", "Nazi Germany", "Western Europe": a qualifier before a known place
    if len(low) >= 2 and low[0] in _DIRECTIONS and " ".join(low[1:]) in g["places"]:
        return "place"
    if any(w in AWARD_WORDS for w in low):
        return "award"
    if any(w in EVENT_WORDS for w in low) and len(low) >= 2:
        return "event"
    if any(w in ORG_WORDS for w in low):
        return "organization"
    if low[-1] in PLACE_WORDS or (low[0] in {"mount", "lake", "river", "saint", "st"} and len(low) >= 2) or \
            (len(low) >= 3 and low[0] in PLACE_WORDS and low[1] == "of"):
        return "place"
    if low[0] in PERSON_TITLES and len(low) >= 2:
        return "person"
    if len(low) >= 2 and low[0] in g["demonyms"]:
        return "other"  # "American Dream", "French Revolution" is caught above: no person starts with a demonym
    if len(words) == 1 and regex.fullmatch(r"\p{Lu}{2,6}", words[0]) and low[0] not in NOT_NAMES:
        return "organization"  # an acronym: IBM, NASA, MIT
    return None


def _type_context(before: str) -> tuple[str | None, str]:
    for rx, kind in _BEFORE_RE:
        m = rx.search(before)
        if m:
            return kind, m.group(0).strip()
    return None, ""


def _clean_span(words: list[str], at_sentence_start: bool) -> tuple[list[str], int]:
    """Drop leading starter words ("In Paris" -> "Paris") and trailing connectors; returns (words, dropped)."""
    from snapcli.datagen.target_names import fold

    drop = 0
    while words:
        w = fold(words[0]).strip(".'")
        lead_the = w == "the" and not at_sentence_start and drop == 0 and len(words) > 1
        if lead_the:
            break  # "The Great Gatsby" mid-sentence keeps its article
        if w in STARTERS or w in MONTHS or w in DAYS or (drop == 0 and at_sentence_start and w in NOT_NAMES
                                                          and len(words) > 1):
            words = words[1:]
            drop += 1
            at_sentence_start = True  # "In The ..." -> treat what follows like a sentence start
            continue
        break
    # a title before "of" is not part of the name: "CEO of Microsoft", "President of the United States"
    low = [fold(w).strip(".") for w in words]
    for i in range(len(low) - 1):
        if low[i] == "of" and i > 0 and all(w in NOT_NAMES or w in STARTERS for w in low[:i]):
            cut = i + 1 + (i + 1 < len(low) - 1 and low[i + 1] == "the")
            words, drop = words[cut:], drop + cut
            break
    while words and fold(words[-1]).strip(".") in {"of", "the", "de", "and", "for", "on", "&", "and the"}:
        words = words[:-1]
    return words, drop


def _is_demonym_phrase(low: list[str]) -> bool:
    """"Polish-born French", "Anglo-Irish": nationality words, not a name."""
    dem = gazetteer()["demonyms"]
    parts = [p for w in low for p in w.split("-") if p]
    return bool(parts) and all(p in dem or p in _ETHNIC for p in parts)


_ETHNIC = {"born", "latin", "anglo", "based", "jewish", "catholic", "christian", "muslim", "hindu", "buddhist",
           "protestant",
           "orthodox", "arab", "latino", "latina", "hispanic", "african", "asian", "european", "caucasian", "native",
           "indigenous", "franco", "austro", "sino", "afro", "euro", "slavic", "celtic", "germanic", "nordic"}


_LIST_GAP = regex.compile(r"^(?:\s*,\s*(?:and\s+|or\s+)?(?:the\s+)?|\s+(?:and|or|&)\s+(?:the\s+)?)$")


def _mention(text: str, start: int, span: str, quoted: bool) -> Mention | None:
    from snapcli.datagen.target_names import fold, strip_possessive

    span = regex.sub(r"['’]s$", "", strip_possessive(span)).strip().rstrip(",;:")
    low = [fold(w).strip(".'") for w in span.split()]
    if len(span) < 2 or not low or span[0].isdigit():
        return None
    if all(w in NOT_NAMES or w in STARTERS or w in MONTHS or w in DAYS for w in low):
        return None
    if _is_demonym_phrase(low):
        return None  # collected as a nationality instead
    before = text[max(0, start - 48):start]
    kind = _type_words(span.split())
    cue = "words" if kind else ""
    if quoted and kind in ("person", "other"):
        kind = None  # "Lady in White" in quotes is a title, not a lady
    if kind is None:
        kind, cue = _type_context(before)
        if quoted and kind in (None, "creative_work", "person"):
            kind, cue = "creative_work", cue or "quoted"
    if kind is None and len(low) >= 2 and len(low) <= 4 and all(w[:1].isalpha() for w in low):
        kind, cue = "person", "capitalized words"
    return Mention(span, kind or "other", start, start + len(span), cue, quoted)


def find_mentions(text: str) -> list[Mention]:
    """Names in `text` in order of appearance, typed; months, days, nationality words and starters excluded.

    A quoted or emphasized title ("A Study in Scarlet", *One Hundred Years of Solitude*) is one mention; a name
    with no cue of its own takes the kind of the name it is listed with ("Windows, Office and the Xbox").
    """
    from snapcli.datagen.target_names import fold

    text = text or ""
    out: list[Mention] = []
    taken: list[tuple[int, int]] = []
    for m in _QUOTED.finditer(text):
        g = next(i for i in (1, 2, 3) if m.group(i))
        inner = m.group(g).strip().rstrip(".,;:")
        # a title: capitalized, short, not a sentence or a list ("Singer, Actor, and Actress")
        if inner and (inner[0].isupper() or inner[0].isdigit()) and len(inner.split()) <= 10 and \
                not inner.endswith(("?", "!")) and inner.count(",") == 0:
            mt = _mention(text, m.start(g), inner, True)
            if mt:
                out.append(mt)
                taken.append((m.start(), m.end()))
    for m in _NAME.finditer(text):
        if any(s <= m.start() < e for s, e in taken):
            continue
        raw_words = m.group(0).split()
        before = text[max(0, m.start() - 40):m.start()]
        at_start = m.start() == 0 or not before.strip() or \
            bool(regex.search(r"(?:[.!?:;\n]\s*|^\s*[-*•\d.)]+\s+|[\"“(]\s*|\n\s*[-*•\d.)]*\s*)$", before))
        words, dropped = _clean_span(raw_words, at_start)
        if not words:
            continue
        start = m.start()
        if dropped:
            start = text.index(words[0], start)
        mt = _mention(text, start, " ".join(words), False)
        if mt:
            out.append(mt)
    covered = [(x.start, x.end) for x in out]
    for m in _CJK_RUN.finditer(text):
        if any(s <= m.start() < e for s, e in covered):
            continue
        kind, cue = _type_context(text[max(0, m.start() - 40):m.start()])
        out.append(Mention(m.group(0), kind or "other", m.start(), m.end(), cue or "cjk"))
    out.sort(key=lambda x: x.start)
    # "International Union of Pure and Applied Chemistry": an "X of Y and Z" organization is one name
    merged: list[Mention] = []
    for cur in out:
        prev = merged[-1] if merged else None
        if prev and prev.kind == "organization" and " of " in prev.text and text[prev.end:cur.start] == " and " \
                and len(cur.text.split()) <= 3 and cur.kind in ("organization", "other", "person"):
            prev.text, prev.end = text[prev.start:cur.end], cur.end
            continue
        merged.append(cur)
    out = merged
    # list members share a kind: "products include Windows, Office and the Xbox"
    for prev, cur in zip(out, out[1:], strict=False):
        gap = text[prev.end:cur.start]
        if cur.cue in ("", "capitalized words") and prev.kind != "other" and prev.cue not in ("", "capitalized words") \
                and _LIST_GAP.match(gap) and not (prev.kind == "place" and cur.cue == "capitalized words"):
            cur.kind, cur.cue = prev.kind, "listed with " + fold(prev.text)
    return out


def nationalities(text: str) -> list[str]:
    """Demonyms in `text` as written ("Polish-born French physicist" -> ["Polish", "French"])."""
    from snapcli.datagen.target_names import fold

    found = []
    for m in regex.finditer(r"\p{Lu}[\p{L}]+(?: [A-Z][a-z]+)?", text):
        for cand in (m.group(0), m.group(0).split()[0]):
            if fold(cand) in gazetteer()["demonyms"]:
                found.append(cand)
                break
    return found


YEAR = regex.compile(r"(?<!\d)(?<!\d[,.])(1[0-9]{3}|20[0-9]{2})(?!\d|[,.]\d)(?:s)?")
NUMBER = regex.compile(
    r"(?<![\p{L}\d,.])(?:\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?:\s*(?:million|billion|thousand|percent|%))?"
    r"(?![\p{L}\d])"
)
_DATE_NUM = regex.compile(
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december)\s+$", regex.I)


def years(text: str) -> list[str]:
    """Four-digit years 1000-2099 as written (a decade keeps its 's': "1890s")."""
    return [m.group(0) for m in YEAR.finditer(text)]


def numbers(text: str) -> list[str]:
    """Quantities other than years: "2.1 million", "two", "1,500", "45%"."""
    out = []
    for m in NUMBER.finditer(text):
        s = m.group(0).strip()
        if YEAR.fullmatch(s) or not s or _DATE_NUM.search(text[max(0, m.start() - 12):m.start()]) or \
                regex.match(r"\s+(?:january|february|march|april|may|june|july|august|september|october|"
                            r"november|december)\b", text[m.end():], regex.I):
            continue  # the day of a date
        out.append(s)
    return out
