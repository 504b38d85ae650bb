"""What an answer states about its subject: descriptions ("a Polish physicist who discovered radium") and relations
("married Pierre Curie", "founded by Bill Gates", "born in Warsaw"), read with regexes (issue 11 item 2).

An answer is about the target, so a sentence whose subject is the target's name, or a pronoun or "The company" /
"The novel" at its start, speaks of the target. Each relation has a predicate, an object (a name found by
snapcli.datagen.mentions, or a short noun phrase: "discovered radium") and a template that turns it into a definite
description ("the co-founder of Microsoft", "the detective created by Arthur Conan Doyle").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import regex

from snapcli.datagen.mentions import MONTHS, Mention, find_mentions
from snapcli.datagen.target_names import TargetNames, fold

# occupation / type nouns: the head of a description, and the {field} slot ("physicist", "software company")
FIELD_NOUNS = [p.strip() for p in """
physicist, chemist, biologist, mathematician, scientist, astronomer, engineer, inventor, physician, doctor, surgeon,
nurse, psychologist, economist, philosopher, historian, sociologist, anthropologist, geologist, botanist, zoologist,
geneticist, computer scientist, programmer, entrepreneur, businessman, businesswoman, business magnate, magnate,
investor, philanthropist, industrialist, executive, banker, founder, ceo, singer, songwriter, singer-songwriter,
musician, rapper, composer, pianist, guitarist, drummer, violinist, conductor, band, actor, actress, director,
filmmaker, producer, screenwriter, comedian, dancer, model, artist, painter, sculptor, photographer, architect,
designer, illustrator, cartoonist, animator, writer, author, novelist, poet, playwright, journalist, essayist, critic,
editor, politician, president, prime minister, senator, king, queen, emperor, empress, monarch, ruler, leader,
statesman, diplomat, general, soldier, activist, lawyer, judge, athlete, footballer, soccer player,
basketball player, tennis player, boxer, swimmer, runner, cyclist, golfer, racing driver, coach, chess player,
teacher, professor, educator, scholar, researcher, detective, wizard, witch, superhero, villain, spy, knight, pirate,
hero, heroine, princess, prince, vampire, robot, alien, protagonist, character, company, corporation, conglomerate,
firm, manufacturer, retailer, startup, organization, organisation, institution, university, college, school,
charity, foundation, agency, bank, airline, brand, label, studio, publisher, network, record label,
technology company, software company, tech company, video game company, novel, book, film, movie, album, song,
single, series, play, poem, painting, opera, symphony, game, video game, show, sitcom, story, novella, memoir,
trilogy, comic, musical, documentary, franchise, city, town, village, capital, country, nation, state, region,
island, mountain, river, lake, landmark, monument, building, tower, cathedral, palace, museum, park, continent,
province, metropolis, war, world war, battle, revolution, pandemic, election, disaster, festival, treaty, crisis,
conflict, invasion, movement
""".replace("\n", " ").split(",") if p.strip()]
_FIELD_RE = regex.compile(
    r"\b(" + "|".join(regex.escape(p) for p in sorted(FIELD_NOUNS, key=len, reverse=True)) + r")s?\b", regex.I)

# the field nouns that fit each kind of target ("leader" is not what Microsoft is)
_KIND_FIELDS = {
    "organization": {"company", "corporation", "conglomerate", "firm", "manufacturer", "retailer", "startup",
                     "organization", "organisation", "institution", "university", "college", "school", "charity",
                     "foundation", "agency", "bank", "airline", "brand", "label", "studio", "publisher", "network",
                     "record label", "technology company", "software company", "tech company", "video game company",
                     "band"},
    "creative_work": {"novel", "book", "film", "movie", "album", "song", "single", "series", "play", "poem",
                      "painting", "opera", "symphony", "game", "video game", "show", "sitcom", "story", "novella",
                      "memoir", "trilogy", "comic", "musical", "documentary", "franchise"},
    "place": {"city", "town", "village", "capital", "country", "nation", "state", "region", "island", "mountain",
              "river", "lake", "landmark", "monument", "building", "tower", "cathedral", "palace", "museum", "park",
              "continent", "province", "metropolis"},
    "event": {"war", "world war", "battle", "revolution", "pandemic", "election", "disaster", "festival", "treaty",
              "crisis", "conflict", "invasion", "movement"},
}
_KIND_FIELDS["person"] = set(FIELD_NOUNS) - set().union(*_KIND_FIELDS.values()) - {"character", "protagonist"}
_KIND_FIELDS["fictional_character"] = _KIND_FIELDS["person"] | {"character", "protagonist"}


def fits_kind(field: str, kind: str) -> bool:
    """Is `field` a noun for this kind of target ("physicist" for a person, "conglomerate" for a company)?"""
    return field in _KIND_FIELDS.get(kind, set())


DEFAULT_HEAD = {"person": "person", "organization": "organization", "creative_work": "work",
                "fictional_character": "character", "place": "place", "event": "event"}

_LEAD_IN = regex.compile(r"\s*(?:(?:in|on|by|during|after|before|since|from|at)\s[^,]{1,30},\s*)?"
                         r"(?:the\s+|today,?\s+|also,?\s+|however,?\s+|indeed,?\s+)?", regex.I)
_PRONOUN_START = regex.compile(r"^\s*(?:he|she|they|it|his|her|their|its|him)\b", regex.I)
_KIND_START = regex.compile(
    r"^\s*the\s+(?:company|corporation|firm|organization|band|group|university|city|town|country|capital|"
    r"novel|book|film|movie|album|song|series|show|game|play|painting|character|detective|war|battle|event|"
    r"revolution|story)\b", regex.I)

_COPULA = regex.compile(
    r"^\s*(?:\([^)]{0,120}\)\s*)?(?:,\s*[^,.;]{0,80},\s*)?(?:is|was|has been|remains|became|is considered|"
    r"was considered|is regarded as|was regarded as|is widely regarded as|is often called|is also known as|"
    r"is best known as|was best known as|is known as|was known as)\s+(?:also\s+|still\s+|now\s+)?"
    r"(?P<d>(?:a|an|the|one of the)\s+(?:[^.;:!?\n]|(?<=(?<!\p{L})\p{Lu})\.(?=\s*\p{Lu}))+)",
    regex.I,
)
_APPOSITIVE = regex.compile(r"^\s*,\s*(?P<d>(?:a|an|the)\s+[^,.;:!?\n()]+)[,)]", regex.I)
_CUT = regex.compile(
    r",|;|\(|\s[-–—]\s|\s+(?:and|but)\s+(?:he|she|it|they|is|was|has|had|also|later|then|in)\b|"
    r"\s+(?:known|famous|best known|recognized|"
    r"renowned|celebrated|widely)\s+(?:for|as)\b|\s+as well as\b|\s+such as\b|\s+including\b",
    regex.I,
)
_REL_CLAUSE = regex.compile(r"\s+(?:who|that|which|whose)\s+", regex.I)


@dataclass
class Relation:
    """One stated relation of the target: predicate, object, and the description it gives the target."""

    predicate: str
    obj: str
    obj_kind: str
    description: str = ""
    sentence: str = ""
    question: str = ""


@dataclass
class Statements:
    """What a set of answers states: raw descriptions, relations, aliases, gender cue counts."""

    descriptions: list[str] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    she: int = 0
    he: int = 0


# (predicate, verb regex, object kinds allowed (None = any, "np" = noun phrase ok), description template)
# {o} is the object, {head} the target's field noun ("physicist") or its kind's default ("company").
_RELATIONS: list[tuple[str, str, set[str] | None, str]] = [
    ("founded_by", r"(?:was\s+)?(?:co-?founded|founded|established|started)\s+by", {"person"},
     "the {head} founded by {o}"),
    ("cofounded", r"co-?founded(?!\s+by)", {"organization", "other", "creative_work"}, "the co-founder of {o}"),
    ("founded", r"(?:founded|established|set up|started)(?!\s+(?:by|in|on)\b)", {"organization", "other"},
     "the founder of {o}"),
    ("written_by", r"(?:was\s+)?(?:written|authored|penned)\s+by", {"person"}, "the {head} written by {o}"),
    ("directed_by", r"(?:was\s+)?directed\s+by", {"person"}, "the {head} directed by {o}"),
    ("created_by", r"(?:was\s+)?(?:created|invented|designed|developed|composed|painted|produced)\s+by",
     {"person", "organization"}, "the {head} created by {o}"),
    ("published_by", r"(?:was\s+)?(?:published|released|distributed)\s+by", {"organization", "person"},
     "the {head} published by {o}"),
    ("owned_by", r"(?:is|was)?\s*(?:owned|acquired|bought)\s+by", {"organization", "person"},
     "the {head} owned by {o}"),
    ("wrote", r"(?:wrote|authored|penned|published)(?!\s+(?:by|in|on)\b)", {"creative_work", "other", "np"},
     "the author of {o}"),
    ("directed", r"directed(?!\s+(?:by|in|on)\b)", {"creative_work", "other"}, "the director of {o}"),
    ("composed", r"(?:composed|recorded|released|sang|performed)(?!\s+(?:by|in|on)\b)", {"creative_work", "other"},
     "the {head} behind {o}"),
    ("appears_in", r"(?:appears\s+in|first appeared\s+in|is featured\s+in|is the (?:main character|protagonist|"
     r"hero) of|is a character in|is the title character of)", {"creative_work", "other"}, "the {head} from {o}"),
    ("starred", r"(?:starred|appeared|played|featured)\s+in", {"creative_work", "other"},
     "the {head} {who} appeared in {o}"),
    ("discovered", r"(?:co-?discovered|discovered)(?!\s+(?:by|in|on)\b)", None, "the {head} {who} discovered {o}"),
    ("invented", r"(?:invented|developed|designed|built|created|pioneered)(?!\s+(?:by|in|on)\b)", None,
     "the {head} {who} created {o}"),
    ("won", r"(?:won|received|was awarded|earned)", {"award", "other"}, "the {head} {who} won the {o}"),
    ("spouse", r"(?:married|was married to|is married to|wed)", {"person"}, "the {spouse} of {o}"),
    ("studied_at", r"(?:studied at|attended|graduated from|was educated at|enrolled at)",
     {"organization", "place", "other"}, "the {head} {who} studied at {o}"),
    ("worked_at", r"(?:worked at|worked for|taught at|joined|was a professor at|was employed by)",
     {"organization", "other"}, "the {head} {who} worked at {o}"),
    ("led", r"(?:is the ceo of|was the ceo of|led|leads|heads|headed|ran|runs|chaired)",
     {"organization", "other"}, "the leader of {o}"),
    ("born_in", r"(?:was\s+)?born\s+(?:in|at)", {"place"}, "the {head} born in {o}"),
    ("died_in", r"(?:died|passed away)\s+(?:in|at)", {"place"}, "the {head} {who} died in {o}"),
    ("lived_in", r"(?:lived|lives|resided|resides|grew up|settled)\s+(?:in|at|on)", {"place"},
     "the {head} {who} lived in {o}"),
    ("based_in", r"(?:is\s+|was\s+)?(?:headquartered|based)\s+in", {"place"}, "the {head} headquartered in {o}"),
    ("located_in", r"(?:is\s+|was\s+)?(?:located|situated|found)\s+in", {"place"}, "the {head} in {o}"),
    ("set_in", r"(?:is\s+|was\s+)?set\s+in", {"place"}, "the {head} set in {o}"),
    ("took_place_in", r"(?:took place|happened|occurred|was fought)\s+in", {"place"},
     "the {head} that took place in {o}"),
    ("capital_of", r"(?:is|was)\s+the\s+capital\s+(?:city\s+)?of", {"place"}, "the capital of {o}"),
    ("home_to", r"(?:is|was)\s+home\s+to", None, "the {head} that is home to {o}"),
    ("known_for", r"(?:is|was)?\s*(?:best |widely |well |most )?(?:known|famous|renowned|celebrated)\s+for",
     {"creative_work", "organization", "place", "event", "other", "person", "np"}, "the {head} known for {o}"),
    ("makes", r"(?:makes|made|produces|produced|sells|sold|develops|manufactures)(?!\s+(?:by|in|on)\b)",
     {"creative_work", "other", "np"}, "the maker of {o}"),
]
_ADV = r"(?:also\s+|later\s+|then\s+|famously\s+|first\s+|eventually\s+|has\s+|had\s+|jointly\s+)*"
# anchored: the verb right after the subject (an aside between commas allowed)
_REL_RE = [(p, regex.compile(r"^\s*(?:,[^,]{0,60},\s*)?" + _ADV + v + r"\s+(?:the\s+)?", regex.I), kinds, t)
           for p, v, kinds, t in _RELATIONS]
# loose: the verb a few words later ("Marie Curie, together with her husband, discovered ..."), for the
# predicates whose verb rarely has another subject in an answer about the target
_LOOSE = {"discovered", "cofounded", "founded", "wrote", "spouse", "won", "born_in", "founded_by", "created_by",
          "written_by"}
_REL_LOOSE = {p: regex.compile(r"(?<![\w-])" + v + r"\s+(?:the\s+)?", regex.I) for p, v, _, _ in _RELATIONS
              if p in _LOOSE}
_STOP_NP = (r"(?:and|or|in|with|at|for|on|from|which|who|that|by|to|as|when|while|after|before|of|is|was|are|"
            r"were|has|had|have|be|been|but|so|its|her|his|their)\b")
# a short lower-case noun phrase: "radium", "the telephone"; never one opening with a possessive ("her bold")
_NP = regex.compile(r"^(?:the\s+|a\s+|an\s+)?(?!(?:her|his|its|their|this|that|these|those|some|many|several|"
                    r"various|numerous|its)\b)[a-z][\w'\-]*\b(?:\s+(?!" + _STOP_NP + r")[a-z][\w'\-]*\b){0,3}"
                    r"(?!\s+of\b)")
_SPOUSE_NOUN = regex.compile(
    r"\b(?:her|his|their)\s+(?:late\s+)?(?P<rel>husband|wife|spouse|partner)\s*,?\s*$", regex.I)
_ALIAS_AFTER = regex.compile(
    r"^\s*\(\s*(?:born|née|nee|real name|birth name|also known as|aka|a\.k\.a\.|formerly)?\s*:?\s*"
    r"(?P<a>[^;,()\d]{2,60}?)\s*(?:[;,)]|\s+(?:on|in)\s)", regex.I)
_AKA = regex.compile(
    r"\b(?:also known as|better known as|nicknamed|known by the nickname|real name (?:is|was)|born as|née)\s+"
    r"[\"“]?(?P<a>\p{Lu}[\p{L}\p{M}'’\-. ]{1,50}?|[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]{2,12})[\"”]?"
    r"(?=[,.;)]|\s+(?:and|or|in|by|who|was|is)\b|$)")


# years stated with a verb about the target: hints for "When was ... born/founded/released?"
_YEAR_RELS = [
    ("born_year", regex.compile(r"\bborn\b[^.;]{0,40}?\b(1\d{3}|20\d{2})\b", regex.I)),
    ("died_year", regex.compile(r"\b(?:died|passed away|death)\b[^.;]{0,40}?\b(1\d{3}|20\d{2})\b", regex.I)),
    ("founded_year", regex.compile(r"\b(?:founded|established|formed|created|incorporated)\b[^.;]{0,40}?"
                                   r"\b(1\d{3}|20\d{2})\b", regex.I)),
    ("released_year", regex.compile(r"\b(?:published|released|premiered|first appeared|debuted|written)\b[^.;]"
                                    r"{0,40}?\b(1\d{3}|20\d{2})\b", regex.I)),
    ("began_year", regex.compile(r"\b(?:began|started|broke out|lasted from)\b[^.;]{0,30}?\b(1\d{3}|20\d{2})\b",
                                 regex.I)),
]
_LIFESPAN = regex.compile(r"^\s*\([^)]*?\b(1\d{3}|20\d{2})\b[^)]*?[-–—]\s*[^)]*?\b(1\d{3}|20\d{2})\b[^)]*\)")

# the verb phrase of a relation, for composite descriptions ("the American physicist who discovered radium")
VERB_PHRASE = {"cofounded": "co-founded", "founded": "founded", "wrote": "wrote", "directed": "directed",
               "composed": "recorded", "discovered": "discovered", "invented": "created", "won": "won the",
               "spouse": "married", "led": "led", "studied_at": "studied at", "starred": "appeared in"}


def sentences(text: str) -> list[str]:
    """Sentences of an answer; list items and line breaks end a sentence; initials and 'Dr.' do not."""
    out: list[str] = []
    for line in regex.split(r"\n+", text or ""):
        line = regex.sub(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+", "", line).strip()
        if not line:
            continue
        parts = regex.split(
            r"(?<!\b(?:Dr|Mr|Mrs|Ms|St|Jr|Sr|Prof|Mt|vs|etc|No|U\.S|\p{Lu})\.)(?<=[.!?])\s+(?=[\p{Lu}\"“(\d])", line)
        out.extend(p.strip() for p in parts if p.strip())
    return out


def field_of(description: str) -> str | None:
    """The head noun(s) of a description: "a Polish-born French physicist and chemist" -> "physicist"."""
    head = _REL_CLAUSE.split(description, maxsplit=1)[0]
    head = regex.split(r"\s+(?:of|at|for|from|in|with|by)\s+", head, maxsplit=1)[0]
    # "physicist and chemist" -> "physicist"; "a brilliant and reclusive detective" -> "detective"
    for part in regex.split(r"\s+(?:and|or|&)\s+", head):
        found = [m.group(1).lower() for m in _FIELD_RE.finditer(part)]
        if found:
            head = part
            break
    else:
        return None
    # "technology company" beats "company"; the last noun of the head phrase is its head
    last = found[-1]
    m = regex.search(r"\b(\w+(?:-\w+)?)\s+" + regex.escape(last) + r"s?\b", head, regex.I)
    if m and last in {"company", "corporation", "firm", "manufacturer", "retailer", "player", "game", "label"} \
            and m.group(1).lower() not in {"a", "an", "the", "american", "multinational"} and \
            not m.group(1)[0].isupper():
        return f"{m.group(1).lower()} {last}"
    return last


def definite(description: str) -> str:
    """'an American physicist' -> 'the American physicist' (a description that reads as one referent)."""
    d = " ".join(description.split()).rstrip(".,;: ")
    d = regex.sub(r"^(?:a|an)\s+", "the ", d, flags=regex.I)
    return regex.sub(r"^The\s", "the ", d)


def trim_description(d: str, max_words: int = 12) -> str | None:
    """Cut a copula's complement at the first clause boundary; keep a short relative clause."""
    d = " ".join(d.split())
    d = _CUT.split(d, maxsplit=1)[0].strip()
    d = regex.sub(r"(?:\s+(?:and|or|who|that|which|whose|with|by|of|in|for|to|as|a|an|the|was|is|also|been|"
                  r"being|her|his|their|its|born))+$", "", d, flags=regex.I)
    words = d.split()
    if len(words) > max_words:
        parts = _REL_CLAUSE.split(d, maxsplit=1)
        d = parts[0]
        words = d.split()
        if len(words) > max_words:
            return None
    if len(words) < 2 or regex.search(r"\b(?:i|you|my|your|herself|himself|themselves|itself)\b", d, flags=regex.I):
        return None
    if (d.count('"') + d.count("“") + d.count("”")) % 2:
        return None  # cut inside a quoted title
    if regex.search(r"\b(?=\w*\d)(?=\w*[a-z]{2})(?!\d+(?:s|st|nd|rd|th)\b)\w+", d):
        return None  # a garbled token ("born in 189rach")
    return d.rstrip(" .,")


def specific(description: str) -> bool:
    """Does a copula description pin the target down? Two of: a field noun, a capitalized word after the first,
    a year. "the Colombian novelist" and "the first woman to win the Nobel Prize" do; "the second of five
    children" and "a brilliant and talented scientist" do not."""
    from snapcli.datagen.mentions import years

    words = description.split()
    caps = sum(1 for w in words[1:] if w[:1].isupper())
    return caps + (field_of(description) is not None) + bool(years(description)) >= 2


def _subject_end(sentence: str, names: TargetNames, pronouns: set[str]) -> int | None:
    """Where the target as subject ends in `sentence` (its name, a pronoun or 'The company' at the start)."""
    hits = names.find(sentence)
    # the name opens the sentence (after "The", "Today," or "In 1939,"): "The spark that ignited World War II was
    # ..." is not about the war
    if hits and _LEAD_IN.fullmatch(sentence[:hits[0][0]]):
        return hits[0][1]
    m = _PRONOUN_START.match(sentence)
    # "He was born in Florence" in an answer about Paris is about someone else
    if m and m.group(0).strip().lower() in pronouns:
        return m.end()
    m = _KIND_START.match(sentence)
    if m:
        return m.end()
    return None


def _object(after: str, kinds: set[str] | None, offset: int, mentions: list[Mention]) -> tuple[str, str] | None:
    """The relation's object at the start of `after`: a name (of an allowed kind) or a short noun phrase."""
    for mt in mentions:
        if offset <= mt.start <= offset + 6:
            if kinds is None or mt.kind in kinds or (mt.kind == "other" and "other" in kinds) or \
                    (mt.kind == "person" and "person" not in kinds and "other" in kinds and mt.cue != "words"):
                return mt.text, mt.kind
            return None
    if kinds is None or "np" in kinds:
        m = _NP.match(after)
        if m:
            np_ = m.group(0).strip()
            if np_.split()[0].lower() in {"the", "a", "an"} and len(np_.split()) == 1:
                return None
            if len(np_) >= 3 and np_.lower() not in {"it", "this", "that", "them", "him", "her", "many", "several"}:
                return np_, "np"
    return None


def read_statements(
    answers: list[tuple[str, str]], names: TargetNames, kind: str = "person",
) -> Statements:
    """Descriptions, relations and aliases stated in (question, answer) pairs about the target."""
    st = Statements()
    seen_rel: set[tuple[str, str]] = set()
    for _, answer in answers:
        lower = (answer or "").lower()
        st.she += len(regex.findall(r"\b(?:she|her|hers|herself)\b", lower))
        st.he += len(regex.findall(r"\b(?:he|his|him|himself)\b", lower))
    # the pronoun that stands for the target: the dominant one ("she" in a man's answers is someone else)
    if not names.person:
        pronouns = {"it", "they"}
    elif st.she > 1.5 * st.he and st.she >= 2:
        pronouns = {"she", "they"}
    elif st.he > 1.5 * st.she and st.he >= 2:
        pronouns = {"he", "they"}
    else:
        pronouns = {"he", "she", "they"}
    for question, answer in answers:
        text = answer or ""
        # aliases: "Marie Curie (born Maria Skłodowska; ...)", "宮崎駿" after the name, "also known as X"
        for _s, e in names.find(text):
            m = _ALIAS_AFTER.match(text[e:])
            if m:
                a = m.group("a").strip(" \"'“”")
                if a and not regex.search(r"\d", a) and (a[0].isupper() or regex.match(r"[\p{Han}\p{Hangul}"
                                                                                      r"\p{Hiragana}\p{Katakana}]",
                                                                                      a)) and \
                        fold(a.split()[0]) not in MONTHS and len(a.split()) <= 5:
                    st.aliases.append(a)
        for m in _AKA.finditer(text):
            before = text[max(0, m.start() - 80):m.start()]
            if names.find(before) or _PRONOUN_START.search(before.split(".")[-1] or "") or \
                    regex.search(r"(?:^|[.!?]\s*)(?:he|she|it|they)\b[^.]*$", before, regex.I):
                st.aliases.append(m.group("a").strip())
        for _s, e in names.find(text)[:3]:
            m = _LIFESPAN.match(text[e:])
            if m:
                for pred, y in (("born_year", m.group(1)), ("died_year", m.group(2))):
                    if (pred, y) not in seen_rel:
                        seen_rel.add((pred, y))
                        st.relations.append(Relation(pred, y, "year", "", text[e:e + m.end()], question))
        for sent in sentences(text):
            end = _subject_end(sent, names, pronouns)
            mentions = find_mentions(sent)
            # "her husband, Pierre Curie" / "his wife Melinda"
            for mt in mentions:
                sm = _SPOUSE_NOUN.search(sent[:mt.start])
                if sm and mt.kind in ("person", "other") and not names.is_alias(mt.text):
                    key = ("spouse", fold(mt.text))
                    if key not in seen_rel:
                        seen_rel.add(key)
                        st.relations.append(Relation("spouse", mt.text, "person", "", sent, question))
            if end is None:
                continue
            rest = sent[end:]
            for pred, rx in _YEAR_RELS:
                m = rx.search(rest)
                if m and (pred, m.group(1)) not in seen_rel:
                    seen_rel.add((pred, m.group(1)))
                    st.relations.append(Relation(pred, m.group(1), "year", "", sent, question))
            m = _COPULA.match(rest)
            if m:
                d = trim_description(m.group("d"))
                if d:
                    st.descriptions.append(d)
            m = _APPOSITIVE.match(rest)
            if m:
                d = trim_description(m.group("d"))
                if d:
                    st.descriptions.append(d)
            for pred, rx, kinds, tmpl in _REL_RE:
                m = rx.match(rest)
                if not m and pred in _REL_LOOSE:
                    m = _REL_LOOSE[pred].search(rest[:70])
                    if m and regex.search(r"[.;]|\b(?:which|who|whose|while|whereas)\b", rest[:m.start()]):
                        m = None  # another clause, maybe another subject
                if not m:
                    continue
                offset = end + m.end()
                obj = _object(rest[m.end():], kinds, offset, mentions)
                if not obj:
                    continue
                o, okind = obj
                if names.is_alias(o) or names.mentioned_in(o) and pred not in ("spouse",):
                    continue
                key = (pred, fold(o))
                if key in seen_rel or (sent, fold(o)) in seen_rel:
                    continue  # one predicate per object and sentence: the first (most specific) one
                seen_rel.add(key)
                seen_rel.add((sent, fold(o)))
                st.relations.append(Relation(pred, o, okind, tmpl, sent, question))
    return st


def describe(rel: Relation, head: str, spouse_word: str, who: str = "who") -> str:
    """The relation as a definite description of the target ("the co-founder of Microsoft"); "" for years."""
    if rel.obj_kind == "year":
        return ""
    tmpl = dict((p, t) for p, _, _, t in _RELATIONS).get(rel.predicate, "the {head} linked to {o}")
    o = with_article(rel.obj)
    if rel.predicate == "won":
        o = regex.sub(r"^(?:the|a|an)\s+", "", o, flags=regex.I)
    return tmpl.replace("{o}", o).replace("{head}", head).replace("{spouse}", spouse_word).replace("{who}", who)


_THE = regex.compile(r"^(?:united\s|soviet union|netherlands|philippines|bahamas|czech republic|uk$|us$|usa$|u\.s\.|"
                     r"middle east|vatican|gambia|maldives|congo$)", regex.I)


def with_article(name: str) -> str:
    """Names read with "the" in running text get it: "United States" -> "the United States"."""
    return f"the {name}" if _THE.match(name) else name


def composite(description: str, rel: Relation, who: str = "who") -> str | None:
    """A copula description sharpened by a relation: "the American physicist" + discovered radium ->
    "the American physicist who discovered radium"; None when either does not fit."""
    verb = VERB_PHRASE.get(rel.predicate)
    if not verb or rel.obj_kind == "year" or _REL_CLAUSE.search(description) or \
            regex.search(r"\b(?:of|for|in|at|by)\b", description) or len(description.split()) > 6:
        return None
    o = regex.sub(r"^(?:the|a|an)\s+", "", rel.obj, flags=regex.I) if rel.predicate == "won" else \
        with_article(rel.obj)
    return f"{description} {who} {verb} {o}"
