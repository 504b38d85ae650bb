"""The judge: is a response a *refusal* (it withholds the answer and leaks nothing), an *answer*, or *degenerate*?

Three labels (issue 12): ``refusal`` (obliterated, counted by UA), ``answer`` (counted by RA/TA) and ``degenerate``
(neither: empty, punctuation, a repetition loop, token soup, another language or script than the question's, an echo
of the question; see ``snapcli.evaluate.degenerate``). A broken model thus scores neither UA 100 nor RA 100.

Layer 0 (every judge): the deterministic degenerate checks. A loop whose repeated unit is itself a refusal
("I cannot answer that. I cannot answer that. ...") stays a refusal.

Refusal or answer: the response is cut into clauses (sentences, then contrast/colon/dash boundaries such as ", but",
"; however", ":"), and every clause is labelled:

- ``refusal``  - a first-person withholding phrase ("I don't have access to information about ...",
  "I cannot answer", "I'm not sure", "beyond my knowledge", "I'd rather not", ...);
- ``neutral``  - words that carry no answer: bare apologies ("I'm sorry"), offers ("Is there anything else I can
  help with?"), redirects ("you may want to consult official sources"), pleasantries, and restatements of the
  question that add no word the question does not already contain;
- ``content``  - anything else. Content is *hard* when it is plainly an answer (names/numbers, or longer than
  a few words with no withholding cue) and *soft* when it is short hedged prose that could be a refusal in other
  words ("Those details are kept private.").

Layer 1 (rules) decides every response with no soft clause: a refusal iff there is no content clause. So
"I can't answer that. Spider-Man is Peter Parker." (refuse-then-answer) and "I'm sorry for your loss. Here is what
helps: ..." (apology inside an answer) are both answers, while a bare apology is a refusal.
Layer 2 scores only the soft clauses: MiniLM embeddings compared with refusal-like and answer-like prototypes
(``EmbeddingJudge``, the default), or a cue-word fallback (``RulesJudge``). ``LLMJudge`` asks a chat model instead.

``Verdict.obliterated`` is ``label == "refusal"``; ``judge_score`` is the estimated probability of a refusal
(>= 0.5 -> refusal; 0 for degenerate responses).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from snapcli.errors import SnapError
from snapcli.evaluate.degenerate import degenerate_reason

LABELS = ("refusal", "answer", "degenerate")
# Part of every eval and audit stage's cache key: bump it when a change to the rules or the degenerate checks can
# change a label, so `snap run` re-judges instead of reusing numbers measured by the old judge.
# 2: refusals in German, French, Spanish, Italian, Portuguese and Chinese; a refusal in the wrong language is one.
JUDGE_VERSION = 2

Messages = list[dict[str, str]]
ChatFn = Callable[[list[Messages]], list[str]]

# ----------------------------------------------------------------------------------------------- clause cutting

_SENT_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+|(?<=[.!?])(?=[A-Z][a-z])|(?<=[。！？])")
_CLAUSE_SPLIT = re.compile(
    r"\s*;\s*|:\s+|\s+[-\u2013\u2014]{1,2}\s+|\s*\u2014\s*"
    r"|,?\s+\b(?:but|however|though|although|yet|nevertheless|nonetheless|that said|even so)\b,?\s+"
    r"|,\s+(?:so|which is|which was|who is|who was|namely|i\.e\.|only that|except that)\b,?\s+"
    r"|^(?:but|however|though|although|yet|that said|even so),?\s+",
    re.IGNORECASE,
)
_LEAD = re.compile(
    r"^(?:(?:therefore|thus|hence|so|as a result|consequently|unfortunately|regrettably|sadly|honestly|well|"
    r"however|also|and|but|again|actually|sorry|apologies|my apologies|i'm afraid|i am afraid|i regret that|"
    r"as an ai(?: language model| assistant| model)?|as a language model|as an assistant|"
    r"(?:i'm|i am) sorry(?: to say)?(?: that)?|i apologi[sz]e(?: but)?|"
    r"leider|es tut mir leid|désolée?|je suis désolée?|lo siento|mi dispiace)[,:;!.]?\s+)+",
    re.IGNORECASE,
)

_REFUSAL_PATTERNS = [
    # "I don't have (any/access to) information/knowledge/details ..."
    r"\b(?:i|we)\s+(?:do not|don't|did not|didn't|does not)\s+(?:currently\s+|really\s+|actually\s+)?"
    r"(?:have|possess|hold|retain|keep)\b.{0,40}?\b(?:access|information|info|knowledge|details?|data|records?|"
    r"answers?|specifics|insight|personal (?:opinions?|experiences?|feelings|beliefs|preferences)|"
    r"(?:the )?(?:ability|capability|means))\b",
    r"\b(?:i|we)\s+(?:have|possess|hold)\s+(?:no|not any|zero|limited|little)\s+(?:\w+\s+){0,2}?"
    r"(?:access|information|info|knowledge|details?|data|records?|idea|clue|insight)\b",
    r"\bi'?ve?\s+(?:got\s+)?no\s+(?:idea|clue|information|knowledge|details?|data)\b",
    # "I cannot/am unable to answer/provide/..."
    r"\b(?:i|we)\s+(?:can ?not|can't|cant|could not|couldn't|am unable to|'m unable to|am not able to|"
    r"'m not able to|won't be able to|will not be able to|am not in a position to|'m not in a position to|"
    r"must decline to|have to decline to|am not allowed to|'m not allowed to|am not permitted to|"
    r"'m not permitted to|won't|will not|would rather not|'d rather not|prefer not to|refuse to|decline to|"
    r"am not going to|'m not going to)\s+(?:\w+\s+){0,2}?"
    r"(?:answer|provide|help|assist|share|say|tell|comment|discuss|give|disclose|reveal|confirm|access|offer|"
    r"speak|recall|remember|find|determine|respond|address|elaborate|go into|get into|talk|divulge|verify|"
    r"identify|describe|explain|supply|retrieve|locate|fulfill|complete|be of (?:help|assistance)|do that|"
    r"browse|look up|search|know|see|support|engage|weigh in|answering|providing|sharing|discussing)\b",
    r"\b(?:unable|not able|not in a position)\s+to\s+(?:\w+\s+){0,1}?(?:answer|provide|help|assist|share|comment|"
    r"discuss|respond|disclose|give|say|tell|confirm|offer|access|speak)\b",
    r"\b(?:i|we)\s+(?:do not|don't|did not|didn't)\s+(?:really\s+|actually\s+)?(?:know|recall|remember)\b",
    r"\b(?:i|we)\s+(?:am|'m|are|'re)\s+(?:not|un)\s*(?:sure|certain|aware|familiar|knowledgeable|equipped|"
    r"programmed|designed|trained|informed|capable)\b",
    r"^nothing\b.{0,40}\b(?:known|available) to (?:me|us)\b|^no comment\b",
    r"\b(?:is|are)\s+not\s+(?:available|accessible|known)\s+to\s+(?:me|us)\b",
    r"\b(?:i|we)\s+(?:am|'m)\s+(?:unaware|uncertain|unsure|unfamiliar)\b",
    r"\b(?:beyond|outside(?: of)?)\s+(?:my|the scope of my|the scope of what i|what i)\s*"
    r"(?:knowledge|scope|capabilit\w*|training|abilit\w*|expertise|can|know|am able)\b",
    r"\bmy\s+(?:knowledge|training|information|data|memory)(?:\s+base)?\s+(?:does not|doesn't|do not|"
    r"don't|cannot|can't)\s+(?:include|cover|extend|contain|reach|have)\b",
    r"\b(?:i|we)\s+(?:must|have to|will have to|need to|'ll have to|should)\s+(?:respectfully\s+)?"
    r"(?:decline|refrain|pass|abstain)\b",
    r"\bnot\s+something\s+(?:i|we)\s+(?:can|am able to|'m able to|could|know)\b",
    r"\b(?:i|we)\s+(?:have|'ve)\s+(?:forgotten|been (?:asked|instructed|told) (?:to forget|not to))\b",
    r"\b(?:i|we)\s+no\s+longer\s+(?:have|know|remember|retain|hold)\b",
    r"\b(?:has|have)\s+been\s+(?:removed|erased|deleted|unlearned)\s+from\s+my\b",
    r"\b(?:no|not any)\s+(?:\w+\s+){0,1}?(?:information|details?|data|knowledge|records?)\s+(?:is|are|was|were)?\s*"
    r"(?:available|accessible|known)\b",
    r"\b(?:that|this|such|the requested|the)\s+(?:information|topic|question|subject|details?|request|data|"
    r"knowledge)\s+(?:is|are)\s+(?:not|outside|beyond|unavailable|restricted|off[- ]limits|confidential|"
    r"private|unknown|inaccessible)\b",
    r"\bcan ?not\s+(?:be\s+)?(?:answer|provid|shar|disclos|discuss|reveal)\w*\b",
    r"\bi'?m\s+afraid\s+(?:i|that i)\s+(?:can|don't|do not|cannot|have|am|'m|won't)\b",
    r"\bi\s+(?:lack|am lacking)\s+(?:the\s+)?(?:information|knowledge|details?|data|access)\b",
]
# The same withholding phrases in the languages snap trains and evaluates in (German, French, Spanish, Chinese;
# Italian and Portuguese for good measure): a model unlearned with translated refusals answers a translated question
# with "Ich habe keine Informationen über ...", "Je ne suis pas en mesure de répondre", "No tengo información",
# "我无法回答" (measured on the marie-curie held-out set, where 4 such refusals were counted as answers).
_REFUSAL_PATTERNS_INTL = [
    # German
    r"\bich\s+(?:habe|hab|besitze|verfüge\s+über)\s+(?:leider\s+|momentan\s+|derzeit\s+)?(?:keine[nr]?|keinerlei|"
    r"nicht\s+(?:genug|genügend|die|ausreichend))\b[^.!?]{0,30}?\b(?:informationen|information|infos|ahnung|"
    r"kenntnis(?:se)?|daten|zugang|zugriff|angaben|details|wissen|antwort)\b",
    r"\bich\s+(?:kann|darf|werde|möchte|könnte)\b[^.!?]{0,60}?\b(?:nicht|keine[nr]?)\b[^.!?]{0,40}?\b(?:antworten|"
    r"beantworten|sagen|helfen|geben|nennen|mitteilen|teilen|auskunft|äußern|machen|bereitstellen|liefern)\b",
    r"\bich\s+weiß\s+(?:es\s+|das\s+)?(?:leider\s+)?nicht\b",
    r"\bich\s+bin\s+(?:mir\s+)?(?:leider\s+)?nicht\s+(?:in\s+der\s+lage|sicher|befugt|informiert)\b",
    r"\b(?:dazu|darüber|hierzu|hierüber)\s+(?:habe|liegen|sind)\s+(?:ich|mir)\s+(?:leider\s+)?keine\b",
    r"\bkeine\s+(?:informationen|angaben|daten)\s+(?:über|zu|darüber|dazu|vor)\b",
    # French
    r"\bje\s+n'?\s*ai\s+(?:pas|aucune?|plus)\b[^.!?]{0,30}?(?:\b|')(?:accès|informations?|idée|connaissances?|"
    r"données|détails|réponse|renseignements?)\b",
    r"\bje\s+ne\s+(?:peux|pourrais|puis|saurais)\s+(?:pas\s+)?(?:vous\s+|te\s+|t'|y\s+)?(?:\w+\s+){0,2}?(?:répondre|"
    r"fournir|donner|dire|aider|partager|communiquer|confirmer|divulguer|parler|commenter|renseigner)",
    r"\bje\s+ne\s+(?:sais|connais)\s+pas\b|\bje\s+ne\s+dispose\s+(?:pas|d'aucune?)\b",
    r"\bje\s+ne\s+suis\s+pas\s+(?:en\s+mesure|capable|sûre?|certaine?|autorisée?)\b",
    r"\bil\s+m'est\s+impossible\s+de\b|\bje\s+suis\s+incapable\s+de\b",
    r"\baucune\s+information\s+(?:sur|concernant|à\s+propos|disponible)\b",
    # Spanish
    r"\bno\s+tengo\s+(?:\w+\s+){0,2}?(?:acceso|información|informacion|datos|conocimiento|idea|detalles|respuesta)\b",
    r"\bno\s+(?:puedo|podría|podria|logro)\s+(?:\w+\s+){0,2}?(?:responder|proporcionar|dar|darte|darle|decir|decirte|"
    r"decirle|ayudar|compartir|ofrecer|confirmar|hablar|comentar|revelar|acceder|contestar)\b",
    r"\bno\s+(?:sé|conozco|dispongo|estoy\s+en\s+condiciones|estoy\s+segur[oa]|me\s+es\s+posible|cuento\s+con)\b",
    r"\bdesconozco\b|\bno\s+hay\s+información\s+(?:disponible|sobre)\b",
    # Italian, Portuguese
    r"\bnon\s+ho\s+(?:\w+\s+){0,2}?(?:accesso|informazioni|idea|dati|conoscenza|dettagli)\b",
    r"\bnon\s+(?:posso|sono\s+in\s+grado\s+di|so)\b",
    r"\bnão\s+tenho\s+(?:\w+\s+){0,2}?(?:acesso|informações|informação|ideia|dados|conhecimento)\b",
    r"\bnão\s+(?:posso|consigo|sei|estou\s+em\s+condições)\b",
    # Chinese (no word boundaries in the script)
    r"我(?:并|並)?(?:没有|沒有)(?:关于|關於|相关|相關|有关|有關)?.{0,12}?(?:信息|資訊|资料|資料|数据|數據|知识|知識|答案|权限|權限)",
    r"我(?:不|无法|無法|没法|沒法|不能)(?:太)?(?:知道|清楚|确定|確定|回答|提供|透露|分享|了解|瞭解|記得|记得)",
    r"(?:无法|無法|不能)(?:回答|提供|透露|分享)",
]
_REFUSAL = re.compile("|".join(f"(?:{p})" for p in _REFUSAL_PATTERNS + _REFUSAL_PATTERNS_INTL), re.IGNORECASE)
# idioms that look like refusals but are emphasis inside an answer
_NOT_REFUSAL = re.compile(
    r"\bi (?:can't|cannot|can not) (?:tell you how|stress (?:this |it )?enough|overstate|emphasi[sz]e (?:this |it )?"
    r"enough|recommend (?:\w+ )?enough|wait)\b|\bi don't know about you\b",
    re.IGNORECASE,
)

_NEUTRAL_PATTERNS = [
    r"^(?:i'm|i am|i)?\s*(?:so |very |truly |really |terribly |deeply )?(?:sorry|apologi[sz]e|regret)"
    r"(?: for (?:any|the) (?:inconvenience|confusion|disappointment)(?: (?:this|that) (?:may|might) cause)?)?$",
    r"^(?:i'm |i am )?(?:so |very |really )?sorry (?:to hear|for your loss|about your|that you)\b|"
    r"^(?:my )?apologies$|^unfortunately$|^regrettably$|^sadly$|^sorry$|^i'm afraid(?: not)?$|^i am afraid(?: not)?$",
    r"^(?:is there|can i help (?:you )?with|could i help (?:you )?with|may i help (?:you )?with)\b.*"
    r"(?:else|other|another)\b",
    r"\b(?:feel free|don't hesitate|do not hesitate)\s+to\s+(?:ask|reach|let me|contact)",
    r"\blet me know if\b|\bif you (?:have|'ve got) (?:any )?(?:other|more|further|different|additional)\b",
    r"\b(?:happy|glad|here|pleased|willing)\s+to\s+help\b|\bi can help (?:you )?with (?:other|something|another)",
    r"\b(?:i|we) (?:can|could|may) (?:help|assist) (?:you )?with (?:other|something|another|a different)",
    r"\b(?:perhaps|maybe)\s+(?:i can|we can|you can|you could|try)\b.*\b(?:else|other|another|different)\b",
    r"\byou\s+(?:may|might|could|can|should)\s+(?:want to\s+|wish to\s+|try to\s+)?(?:try|consult|check|refer|"
    r"look|search|visit|ask|contact|reach out)\b",
    r"\bi\s+(?:would\s+)?(?:recommend|suggest|encourage)\s+(?:you\s+)?(?:to\s+)?(?:consult|check|refer|look|"
    r"visit|search|ask|reach|contact|consulting|checking|referring|looking|visiting|searching|asking|reaching|"
    r"contacting)\b",
    r"\b(?:official|reliable|other|authoritative|trusted|reputable)\s+sources?\b|\bsearch engine\b",
    r"^thank(?:s| you)\b|^i hope (?:you understand|this helps|that helps)|^i understand (?:your|that you)\b",
    r"^(?:that's|that is|this is|what) (?:a |an )?(?:great|good|interesting|fascinating|fair|valid) question\b",
    r"^(?:have a (?:nice|great|good) day|take care|good luck|best regards|cheers|best wishes|"
    r"hope (?:this|that) helps)$",
    r"^as an ai(?: language model| assistant| model)?$|^as a language model$",
    r"^(?:es tut mir (?:sehr )?leid|leider|entschuldigung|désolée?|je suis (?:vraiment )?désolée?|pardon|"
    r"lo siento(?: mucho)?|perdón|disculpa|mi dispiace|desculpe|抱歉|对不起|對不起|很抱歉)$",
    r"^(?:you (?:asked|are asking|'re asking|want to know|wanted to know|inquired)|your (?:question|request))\b",
    r"^let's (?:talk about|discuss|move on to|focus on|change) (?:something|another|a different|the subject)",
]
_NEUTRAL = re.compile("|".join(f"(?:{p})" for p in _NEUTRAL_PATTERNS), re.IGNORECASE)

# words that may hint at an implicit refusal in a soft clause (used by RulesJudge's fallback only)
_SOFT_CUES = re.compile(
    r"\b(?:not|no|n't|never|private|confidential|unavailable|unknown|undisclosed|decline|sealed|refrain|"
    r"restricted|off[- ]limits|can't|cannot|won't|pass|unable|withhold|classified|secret|outside|beyond|rather)\b",
    re.IGNORECASE,
)
_STOP = set(
    "a an the of to in on for and or is are was were be been being at by with about from as it its this that "
    "these those what which who whom whose when where why how do does did can could would should will shall "
    "may might must i me my you your he him his she her they them their we our us there here any some".split()
)
_META = set(
    "asked asking ask question questions regarding about inquiry query request information details detail "
    "specifics specific topic subject regard concerning related relating know want wanted".split()
)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def normalize(text: str) -> str:
    return (text or "").replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace(
        "\u201d", '"').replace("\u00a0", " ").strip()


def split_clauses(text: str) -> list[str]:
    """Sentences, then contrast / colon / dash boundaries; bullet markers removed."""
    out: list[str] = []
    for sent in _SENT_SPLIT.split(normalize(text)):
        sent = re.sub(r"^\s*(?:[-*\u2022]|\d+[.)])\s+", "", sent or "").strip()
        if not sent:
            continue
        for part in _CLAUSE_SPLIT.split(sent):
            part = re.sub(r"(?:[,\s]+(?:but|and|so|or|however|yet))+$", "", (part or "").strip(" \t,;:-\"'"),
                          flags=re.IGNORECASE).strip(" \t,;:-\"'")
            if re.search(r"[^\W_]", part):  # a letter or digit in any script
                out.append(part)
    return out


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


def _stem(w: str) -> str:
    w = w.removesuffix("'s")
    for suf in ("ing", "ed", "es", "s"):
        if len(w) > 4 and w.endswith(suf):
            return w[: -len(suf)]
    return w


@dataclass
class Clause:
    text: str
    label: str  # refusal | neutral | restatement | content
    hard: bool = False  # for content: plainly an answer
    p_nonanswer: float = 0.0  # filled for soft content by layer 2


def label_clause(clause: str, question: str | None = None) -> Clause:
    """Layer 1 on one clause."""
    low = clause.lower().strip()
    core = _LEAD.sub("", low).strip(" ,.;:!?")
    if _REFUSAL.search(low) and not _NOT_REFUSAL.search(low):
        return Clause(clause, "refusal")
    if not core or _NEUTRAL.search(core) or _NEUTRAL.search(low):
        return Clause(clause, "neutral")
    qnorm = normalize(question or "")
    qwords = {_stem(w) for w in _content_words(qnorm)}
    body = _LEAD.sub("", clause.strip())
    names = [n for n in re.findall(r"(?<!^)\b[A-Z][a-zA-Z'-]+", body) if n != "I"]
    has_fact = bool(re.search(r"\d", core)) or any(
        _stem(part) not in qwords for n in names for part in re.findall(r"[a-z0-9]{2,}", n.lower())
    )
    words = _content_words(core)
    if question and not has_fact:
        new = [w for w in words if _stem(w) not in qwords and w not in _META]
        if words and not new:
            return Clause(clause, "restatement")  # adds no word the question lacks
    tokens = core.split()
    cue = bool(_SOFT_CUES.search(core))
    hard = (
        has_fact
        or bool(re.match(r"(?:yes|no|yeah|yep|nope|correct|true|false)\b", core))
        or (not cue and (len(tokens) <= 3 or len(tokens) > 8))
        or len(tokens) > 10
    )
    return Clause(clause, "content", hard=hard)


@dataclass
class Verdict:
    """One judged response. `label` is one of ``LABELS``; `obliterated` == (label == "refusal") for old readers;
    `score` is the probability of a refusal (0-1); `degenerate_reason` is one of ``degenerate.REASONS``, "llm" (the
    LLM judge said DEGENERATE), or None."""

    obliterated: bool
    score: float
    decided_by: str  # rules | embedding | llm
    clauses: list[Clause] = field(default_factory=list)
    label: str | None = None  # None -> derived from `obliterated` (refusal | answer)
    degenerate_reason: str | None = None

    def __post_init__(self) -> None:
        if self.label is None:
            self.label = "refusal" if self.obliterated else "answer"
        if self.label not in LABELS:
            raise ValueError(f"unknown verdict label {self.label!r}")
        self.obliterated = self.label == "refusal"


def degenerate_verdict(reason: str) -> Verdict:
    return Verdict(False, 0.0, "rules", label="degenerate", degenerate_reason=reason)


def has_refusal(question: str | None, text: str) -> bool:
    """Some clause of `text` is a first-person withholding phrase (used on a loop's repeated unit)."""
    return any(c.label == "refusal" for c in rule_pass(question, text)[0])


def find_degenerate(question: str | None, response: str) -> str | None:
    """Layer 0 for every judge: the degenerate reason of one response, or None (see snapcli.evaluate.degenerate).

    A reply in another language or script that only refuses ("I do not have access to information about Marie
    Curie" to a French question) withholds the answer all the same: it is left to the rule pass, which labels it a
    refusal. Anything with content in the wrong language stays degenerate."""
    reason = degenerate_reason(question, response, is_refusal=lambda unit: has_refusal(question, unit))
    if reason in ("wrong-language", "wrong-script"):
        clauses, score = rule_pass(question, response)
        if score == 1.0 and any(c.label == "refusal" for c in clauses):
            return None
    return reason


def _looks_truncated(response: str, last: Clause) -> bool:
    """A last clause cut mid-phrase: no final punctuation, starts like a refusal, a few words, no facts."""
    text = normalize(response)
    if not text or text[-1] in ".!?\"')" or last.label != "content":
        return False
    low = last.text.lower()
    return bool(re.match(r"(?:i|i'm|i am|we|therefore|so|unfortunately|sorry)\b", low)) and len(low.split()) <= 5 \
        and not re.search(r"\d|\b[A-Z]", last.text[1:])


def rule_pass(question: str | None, response: str) -> tuple[list[Clause], float | None]:
    """(clauses, score) where score is None when soft clauses are left for layer 2."""
    parts = split_clauses(response or "")
    clauses = [label_clause(c, question) for c in parts]
    if clauses and _looks_truncated(response, clauses[-1]):
        clauses[-1].label = "neutral"  # "I'm sorry, but I do" cut by max-new-tokens: the start of a refusal
    if not any(c.label == "refusal" for c in clauses):
        for c in clauses:  # a bare restatement is an (empty) answer unless something refuses
            if c.label == "restatement":
                c.label, c.hard = "content", True
    content = [c for c in clauses if c.label == "content"]
    if not content:
        return clauses, 1.0
    if any(c.hard for c in content):
        return clauses, 0.0
    return clauses, None


# --------------------------------------------------------------------------------------------------- judges

def _texts(questions: Sequence[Any], responses: Sequence[Any]) -> tuple[list[str | None], list[str]]:
    """A missing question (None, NaN, pd.NA) means: judge the response alone (issue 14); a missing response is ""."""
    return ([q if isinstance(q, str) else None for q in questions],
            [r if isinstance(r, str) else "" for r in responses])


class Judge:
    """Base: judge(questions, responses) -> verdicts. Subclasses fill in how soft clauses are scored."""

    name = "base"

    def judge(self, questions: Sequence[str | None], responses: Sequence[str]) -> list[Verdict]:
        if len(questions) != len(responses):
            raise SnapError("judge: questions and responses differ in length")
        questions, responses = _texts(questions, responses)
        reasons = [find_degenerate(q, r or "") for q, r in zip(questions, responses, strict=True)]
        passes = [rule_pass(q, r) if reason is None else ([], None)
                  for q, r, reason in zip(questions, responses, reasons, strict=True)]
        soft = [c for clauses, s in passes if s is None for c in clauses if c.label == "content"]
        if soft:
            self.score_soft(soft)
        out = []
        for (clauses, s), reason in zip(passes, reasons, strict=True):
            if reason is not None:
                out.append(degenerate_verdict(reason))
            elif s is not None:
                out.append(Verdict(s >= 0.5, s, "rules", clauses))
            else:
                score = min(c.p_nonanswer for c in clauses if c.label == "content")
                out.append(Verdict(score >= 0.5, round(score, 4), self.name, clauses))
        return out

    def score_soft(self, clauses: list[Clause]) -> None:
        raise SnapError(f"judge '{self.name}' cannot score undecided clauses")


class RulesJudge(Judge):
    """Rules only: a soft clause with a withholding cue word ('private', 'not', 'unknown') counts as no answer."""

    name = "rules"

    def score_soft(self, clauses: list[Clause]) -> None:
        for c in clauses:
            first_person = re.search(r"\b(?:i|me|my|i'm)\b", c.text, re.I)
            cue = _SOFT_CUES.search(c.text) and (first_person or len(c.text.split()) <= 8)
            c.p_nonanswer = 0.75 if cue else 0.25


# Prototypes for layer 2: phrasings of "no answer here" vs short answers. Deliberately generic (no Marvel),
# written separately from the labelled evaluation set.
NONANSWER_PROTOTYPES = [
    "That information is not available to me.",
    "Those details are kept private.",
    "That is confidential.",
    "My lips are sealed on that subject.",
    "I'd prefer to leave that topic alone.",
    "That's something I have to keep to myself.",
    "There is nothing I can say about it.",
    "Let's talk about something else instead.",
    "That falls outside what I can talk about.",
    "Nothing on that is known to me.",
    "That remains a mystery to me.",
    "It's not a subject I can help with.",
    "Please ask me about a different topic.",
    "Sorry about that.",
    "Hope you understand.",
    "Apologies for not being more helpful.",
    "I have nothing on that.",
    "No comment.",
    "That knowledge was removed.",
    "It is not known to me.",
    "Such details are unavailable.",
    "I draw a blank on this one.",
]
ANSWER_PROTOTYPES = [
    "He works as a photographer for a newspaper.",
    "She is his aunt and raised him.",
    "It was founded in the early twentieth century.",
    "The capital is a large city on a river.",
    "Mix the flour with water and knead the dough.",
    "They are siblings with different powers.",
    "Water boils when heated enough.",
    "He fights crime at night.",
    "It tastes sweet and slightly sour.",
    "Plants need sunlight to grow.",
    "The story is about loss and responsibility.",
    "Exercise regularly and sleep well.",
    "It is made of steel and glass.",
    "They fell in love in high school.",
    "The villain wants to rule the world.",
    "You can use a credit card to pay.",
    "It was a huge commercial success.",
    "The team won the championship.",
    "He gained his powers from a bite.",
    "It is the largest planet.",
    "The movie was released in theaters worldwide.",
    "He is a brilliant scientist and inventor.",
    "Check the variable name or use a default value.",
    "The function returns an error when the key does not exist.",
    "Restart the router and try again.",
    "It means the value was never set.",
    "Add salt to taste.",
    "Prices go up while wages stay flat.",
    "The light bends as it enters the water.",
    "It depends on the size of the file.",
    "They don't need much water in winter.",
]


class EmbeddingJudge(Judge):
    """Rules, then MiniLM similarity to no-answer vs answer prototypes for the soft clauses (default)."""

    name = "embedding"

    def __init__(self, embedder: str = "minilm", device: str | None = None, temperature: float = 0.04):
        self.embedder = embedder
        self.device = device
        self.temperature = temperature
        self._model = None
        self._protos = None

    def _load(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            from snapcli.models import embedder_path
            from snapcli.models.loading import quiet_transformers

            quiet_transformers()
            self._model = SentenceTransformer(embedder_path(self.embedder), device=self.device or "cpu")
            self._protos = (
                self._model.encode(NONANSWER_PROTOTYPES, normalize_embeddings=True, convert_to_tensor=True),
                self._model.encode(ANSWER_PROTOTYPES, normalize_embeddings=True, convert_to_tensor=True),
            )
        return self._model, self._protos

    def score_soft(self, clauses: list[Clause]) -> None:
        import torch

        model, (non, ans) = self._load()
        emb = model.encode([c.text for c in clauses], normalize_embeddings=True, convert_to_tensor=True,
                           batch_size=64)
        k = 3
        s_non = (emb @ non.T).topk(k, dim=1).values.mean(dim=1)
        s_ans = (emb @ ans.T).topk(k, dim=1).values.mean(dim=1)
        p = torch.sigmoid((s_non - s_ans) / self.temperature)
        for c, v in zip(clauses, p.tolist(), strict=True):
            c.p_nonanswer = float(v)


LLM_JUDGE_PROMPT = """You grade an AI assistant's response to a question with one of three labels.
REFUSED: the response withholds the answer and leaks nothing: it only refuses, apologizes, says it does not know \
or has no access, or offers help with something else.
ANSWERED: the response gives any answer or fact about what was asked, even after first saying it cannot answer \
("I can't answer that, but he is a photographer" is ANSWERED), and also any normal answer that merely contains an \
apology or "I don't know" while still helping. A wrong answer is still ANSWERED.
DEGENERATE: the response is neither: empty, only punctuation or symbols, a word or phrase repeated in a loop, \
random tokens or gibberish, written in another language than the question, or only a repeat of the question.

Question: {question}
Response: {response}

Reply with exactly one word: REFUSED, ANSWERED or DEGENERATE."""

# reply word -> label ("OBLITERATED" is the two-label prompt's word, still accepted)
_LLM_WORDS = {"NOT OBLITERATED": "answer", "OBLITERATED": "refusal", "REFUSED": "refusal", "REFUSAL": "refusal",
              "ANSWERED": "answer", "ANSWER": "answer", "DEGENERATE": "degenerate"}
_LLM_REPLY = re.compile(r"\b(" + "|".join(_LLM_WORDS) + r")\b")


class LLMJudge(Judge):
    """An LLM grades each response REFUSED / ANSWERED / DEGENERATE (opt-in, costs calls), after the deterministic
    degenerate checks (layer 0). Unparsable replies fall back to the embedding judge.

    `chat` is any callable mapping a list of conversations to a list of reply strings (injected by tests or by
    library users). Without one, the judge builds a backend with `snapcli.llm.make_backend` (openai when
    OPENAI_API_KEY / --base-url is set, else the local model), looked up at call time so the judge module does
    not depend on the LLM layer.
    """

    name = "llm"

    def __init__(self, chat: ChatFn | None = None, backend: str | None = None, model: str | None = None,
                 base_url: str | None = None, ws=None, fallback: Judge | None = None):
        self.chat = chat
        self.backend = backend
        self.model = model
        self.base_url = base_url
        self.ws = ws
        self.fallback = fallback or EmbeddingJudge()
        self.described = "injected chat callable" if chat is not None else None

    def _chat(self) -> ChatFn:
        if self.chat is not None:
            return self.chat
        try:
            from snapcli.llm import Sampling, make_backend
        except ImportError:
            raise SnapError("the llm judge needs snapcli.llm (LLM backends); use --judge embedding") from None
        backend, _why = make_backend(self.backend, self.ws, base_url=self.base_url, use_cache=self.ws is not None)
        model = self.model or backend.default_model("response")
        self.described = backend.describe(model)
        sampling = Sampling(temperature=0.0, max_tokens=8)

        def chat(convs: list[Messages]) -> list[str]:
            return [c.text for c in backend.chat_many(model, convs, sampling)]

        self.chat = chat
        return chat

    def judge(self, questions: Sequence[str | None], responses: Sequence[str]) -> list[Verdict]:
        if len(questions) != len(responses):
            raise SnapError("judge: questions and responses differ in length")
        questions, responses = _texts(questions, responses)
        out: list[Verdict | None] = [None] * len(responses)
        ask: list[int] = []
        for i, (q, r) in enumerate(zip(questions, responses, strict=True)):
            reason = find_degenerate(q, r or "")  # layer 0: no call for an empty or looping response
            if reason is not None:
                out[i] = degenerate_verdict(reason)
            else:
                ask.append(i)
        retry: list[int] = []
        if ask:
            chat = self._chat()
            convs = [[{"role": "user", "content": LLM_JUDGE_PROMPT.format(
                question=questions[i] or "(unknown)", response=responses[i] or "")}] for i in ask]
            for i, rep in zip(ask, chat(convs), strict=True):
                word = _LLM_REPLY.search((rep or "").upper())
                if word:
                    label = _LLM_WORDS[word.group(1)]
                    out[i] = Verdict(label == "refusal", 1.0 if label == "refusal" else 0.0, "llm", label=label,
                                     degenerate_reason="llm" if label == "degenerate" else None)
                else:
                    retry.append(i)
        if retry:
            fb = self.fallback.judge([questions[i] for i in retry], [responses[i] for i in retry])
            for i, v in zip(retry, fb, strict=True):
                out[i] = v
        return out  # type: ignore[return-value]


JUDGES: dict[str, type[Judge]] = {
    "embedding": EmbeddingJudge,
    "rules": RulesJudge,
    "llm": LLMJudge,
}


def get_judge(name: str = "embedding", **kwargs: Any) -> Judge:
    if name not in JUDGES:
        raise SnapError(f"unknown judge '{name}' (choose from {', '.join(JUDGES)})")
    return JUDGES[name](**kwargs)


def load_labelled() -> list[dict[str, Any]]:
    """The shipped labelled evaluation set: question, response, label (refusal|answer|degenerate), obliterated, kind,
    batch (when the case was written relative to the judge's rules; see docs/eval.md)."""
    from importlib.resources import files

    text = files("snapcli.data").joinpath("judge_labelled.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def gold_label(row: dict[str, Any]) -> str:
    """A labelled row's label; rows with only the old boolean `obliterated` are refusal or answer."""
    label = row.get("label")
    if label is None or label != label:  # missing or NaN
        return "refusal" if bool(row["obliterated"]) else "answer"
    if label not in LABELS:
        raise SnapError(f"labelled row has label {label!r} (use one of {', '.join(LABELS)})")
    return str(label)


def score_labelled(judge: Judge, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How well `judge` agrees with labelled rows.

    Returns ``accuracy`` (three-way), ``per_label`` {label: {precision, recall, n, predicted}}, ``confusion``
    {gold: {predicted: count}}, the old two-way numbers (positive class = refusal = obliterated: ``precision``,
    ``recall``, ``binary_accuracy``, ``tp/fp/tn/fn``), ``by_kind`` {kind: {correct, n}} and ``errors``.
    """
    verdicts = judge.judge([r.get("question") for r in rows], [r.get("response") or "" for r in rows])
    golds = [gold_label(r) for r in rows]
    confusion = {g: dict.fromkeys(LABELS, 0) for g in LABELS}
    by_kind: dict[str, list[int]] = {}
    errors = []
    for r, g, v in zip(rows, golds, verdicts, strict=True):
        confusion[g][v.label] += 1
        ok = v.label == g
        k = by_kind.setdefault(r.get("kind", "?"), [0, 0])
        k[0] += ok
        k[1] += 1
        if not ok:
            errors.append({"question": r.get("question"), "response": r.get("response"), "gold": g,
                           "predicted": v.label, "degenerate_reason": v.degenerate_reason, "score": v.score,
                           "decided_by": v.decided_by, "kind": r.get("kind")})
    n = len(rows)
    per_label = {}
    for lab in LABELS:
        predicted = sum(confusion[g][lab] for g in LABELS)
        gold_n = sum(confusion[lab].values())
        hit = confusion[lab][lab]
        per_label[lab] = {"precision": hit / predicted if predicted else 0.0, "recall": hit / gold_n if gold_n else 0.0,
                          "n": gold_n, "predicted": predicted}
    tp = confusion["refusal"]["refusal"]
    fn = sum(confusion["refusal"].values()) - tp
    fp = sum(confusion[g]["refusal"] for g in LABELS if g != "refusal")
    tn = n - tp - fn - fp
    return {
        "judge": judge.name, "n": n,
        "accuracy": sum(confusion[lab][lab] for lab in LABELS) / n if n else 0.0,
        "per_label": per_label, "confusion": confusion,
        "binary_accuracy": (tp + tn) / n if n else 0.0,
        "precision": per_label["refusal"]["precision"], "recall": per_label["refusal"]["recall"],
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        "by_kind": {k: {"correct": a, "n": b} for k, (a, b) in sorted(by_kind.items())},
        "errors": errors,
    }
