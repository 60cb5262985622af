"""The step-2 guard of an actieleren round: is this message an open question?

In step 2 ("Open vragen") of action learning (actieleren) participants may only ask *open*
questions that help to understand the case-bringer's situation; the well-known trap is to give
advice too soon, often dressed up as a question ("Heb je al met de school gebeld?"). This
module sorts a chat message, Dutch or English, into one of four :class:`Label` values so the
bot can hint privately when it is not an open question.

It is a small rule-based classifier: standard library only, no model, no network, and it never
raises on odd input (empty text, emoji only, very long or right-to-left text).

How a message is read:

1. :func:`normalise` lowercases it, removes emoji and invisible characters and collapses spaces.
2. It is split into sentences (on ``. ! ? …`` and newlines) and each sentence into clauses
   (on ``, ; :``), with fillers such as "en", "dus", "maar", "so" dropped from clause starts.
3. Each sentence is classified: advice patterns first (advice with a question mark or a
   question opener is :attr:`Label.ADVICE_QUESTION`, without it :attr:`Label.STATEMENT`), then
   open-question openers, then closed-question openers (an inverted verb: "Heb je…", "Is
   het…", "Do you…"); a sentence with "?" but no known opener counts as closed ("Dus de school
   weet het nog niet?"), one without "?" and no opener is a statement.
4. A message of several sentences gets the label of its most "dangerous" sentence: advice
   beats a closed question, which beats an open question, which beats a plain statement.
"""

from __future__ import annotations

import re
import unicodedata
from enum import Enum
from typing import Any, cast


class Label(str, Enum):  # noqa: UP042 - the agreed interface; compares equal to its value
    """What a message is, seen from step 2 of an actieleren round."""

    OPEN = "open"
    CLOSED = "closed"
    ADVICE_QUESTION = "advice_question"
    STATEMENT = "statement"


# --------------------------------------------------------------------------------------------
# Word lists
# --------------------------------------------------------------------------------------------

#: words addressing the case-bringer (Dutch and English, with chat spellings)
YOU = r"(?:je|jij|u|jullie|jou|you|ya)"
#: subjects that may follow an inverted verb in a yes/no question
SUBJECTS = (
    r"(?:je|jij|u|jullie|ik|we|wij|ze|zij|hij|het|t|'t|er|de|die|dat|dit|deze|een|mijn|jouw|"
    r"zijn|haar|hun|ons|onze|meneer|mevrouw|iemand|iedereen|niemand|men|"
    r"you|i|we|they|he|she|it|there|the|this|that|these|those|a|an|your|his|her|their|our|my|"
    r"anyone|anybody|someone|somebody|everyone|any)"
)
#: a verb followed by one of these is a question ("Bel je…?"), not an imperative ("Bel de huisarts.")
PERSONAL_PRONOUNS = r"(?:je|jij|u|jullie|ik|we|wij|ze|zij|hij|you|i|they|he|she)"
#: Dutch verbs that open a yes/no question when followed by a subject ("Heb je…", "Is de…")
NL_CLOSED_VERBS = (
    "heb", "hebt", "heeft", "hebben", "had", "hadden", "ben", "bent", "is", "zijn", "was", "waren",
    "kun", "kunt", "kan", "kunnen", "kon", "konden", "wil", "wilt", "willen", "wou", "wilde",
    "zou", "zoudt", "zouden", "zal", "zullen", "mag", "mogen", "mocht", "moet", "moeten", "moest",
    "doe", "doet", "doen", "deed", "gaat", "ga", "gaan", "ging", "weet", "weten", "wist",
    "vind", "vindt", "vinden", "vond", "denk", "denkt", "denken", "dacht", "klopt", "begrijp",
    "snap", "zie", "ziet", "zag", "krijgt", "krijg", "krijgen", "kreeg", "woont", "wonen",
    "speelt", "spelen", "zit", "zitten", "staat", "staan", "hoort", "horen", "werkt", "werken",
    "spreekt", "spreken", "kent", "ken", "kennen", "voel", "voelt", "merk", "merkt", "herken",
    "herkent", "gebeurt", "bestaat", "lukt", "helpt", "houdt", "heet", "blijft", "komt", "komen",
)
#: English auxiliaries that open a yes/no question when followed by a subject
EN_CLOSED_VERBS = (
    "do", "does", "did", "is", "are", "was", "were", "can", "could", "would", "will", "have", "has",
    "had", "should", "shall", "may", "might", "must", "am", "don't", "doesn't", "didn't",
    "isn't", "aren't", "wasn't", "weren't", "hasn't", "haven't",
)
#: openers of an open question
OPEN_OPENERS = (
    r"wat", r"wat's", r"hoe", r"wie", r"wiens", r"waar", r"waarom", r"wanneer", r"welke", r"welk",
    r"waardoor", r"waarvoor", r"waartoe", r"waarmee", r"waarover", r"waarop", r"waaraan", r"waarin",
    r"waarbij", r"waarheen", r"waarvan", r"waaruit", r"vanwaar", r"hoeveel", r"hoelang", r"hoezo",
    r"in hoeverre", r"in welke", r"op welke", r"om welke", r"met welke", r"voor welke",
    r"vanuit welke", r"(?:met|aan|van|voor|bij|tegen|over|naar|door) wie",
    r"(?:sinds|vanaf|tot) wanneer", r"vertel", r"beschrijf", r"schets", r"leg (?:eens )?uit",
    r"what", r"what's", r"whats", r"how", r"how's", r"who", r"who's", r"whom", r"whose", r"where",
    r"where's", r"when", r"which", r"why", r"tell (?:me|us)", r"describe", r"explain",
    r"in what", r"to what extent", r"in which",
)
#: verbs of telling: "Kun je vertellen…", "Could you describe…" are open invitations
TELLING_VERBS = (
    "vertellen", "beschrijven", "uitleggen", "toelichten", "schetsen", "verduidelijken",
    "delen", "verwoorden", "omschrijven", "uitweiden", "vertelen",
    "tell", "describe", "explain", "share", "elaborate", "clarify", "walk us", "walk me",
    "telling", "describing", "explaining", "sharing", "elaborating",
    "say more", "talk about", "expand",
)
#: what usually follows "Kun je … zeggen/aangeven": a yes/no check ("of…")
CHECKING_VERBS = ("zeggen", "aangeven", "bevestigen", "say", "confirm")
#: actions a peer tends to propose ("… bellen?", "Heb je al … gebeld?")
NL_ACTION_INFINITIVES = (
    "bellen", "mailen", "appen", "inschakelen", "vragen", "regelen", "organiseren", "plannen",
    "langsgaan", "langs gaan", "aanmelden", "betrekken", "melden", "uitnodigen", "doorverwijzen",
    "verwijzen", "bespreken", "overleggen", "voorstellen", "inzetten", "aanbieden", "sturen",
    "opnemen", "zoeken", "proberen", "benaderen", "aanspreken", "afspreken", "bezoeken",
    "informeren", "inlichten", "doen", "maken", "aanvragen", "aankaarten", "escaleren",
    "opschalen", "erbij halen", "confronteren", "helpen",
)
NL_ACTION_PARTICIPLES = (
    "gebeld", "gebelt", "gemaild", "geappt", "ingeschakeld", "gevraagd", "geregeld",
    "georganiseerd", "gepland", "langsgegaan", "langs geweest", "aangemeld", "gemeld",
    "uitgenodigd", "doorverwezen", "verwezen", "besproken", "overlegd", "voorgesteld", "ingezet",
    "aangeboden", "gestuurd", "opgenomen", "gezocht", "geprobeerd", "benaderd", "aangesproken",
    "afgesproken", "bezocht", "geïnformeerd", "geinformeerd", "ingelicht", "overwogen",
    "gedacht", "nagedacht", "aangevraagd", "aangekaart", "geconfronteerd", "bekeken",
    "uitgeprobeerd", "gepolst", "erbij gehaald",
)
#: Dutch imperatives that open plain advice ("Bel de huisarts.")
NL_IMPERATIVES = (
    "bel", "schakel", "laat", "betrek", "probeer", "neem", "ga", "meld", "zoek", "regel", "maak",
    "zorg", "stuur", "plan", "organiseer", "check", "bespreek", "nodig", "verwijs", "geef",
    "start", "begin", "informeer", "overleg", "mail", "app", "vraag", "stel", "zet", "doe",
    "kijk", "leg contact", "trek", "spreek", "benader", "wacht", "blijf", "houd", "hou",
)
#: English imperatives that open plain advice ("Just call the GP.")
EN_IMPERATIVES = (
    "just", "try", "call", "report", "ask", "contact", "involve", "talk", "let", "go", "make sure",
    "get", "invite", "check", "set", "bring", "refer", "take", "give", "email", "phone", "visit",
    "reach out", "consider", "don't", "do not", "stop", "start", "keep", "put",
)
#: fillers dropped from the start of a clause ("En hoe…", "Dus wat…", "Sorry, maar…")
FILLERS = (
    "en", "dus", "maar", "ok", "oke", "oké", "okay", "okee", "nou", "ja", "nee", "hmm", "hm", "eh",
    "ehm", "oh", "o", "goh", "sorry", "tja", "ah", "hoi", "hey", "hi", "oja", "trouwens",
    "and", "so", "but", "well", "also", "um", "uh", "right", "anyway", "btw",
)

# --------------------------------------------------------------------------------------------
# Patterns (matched against one normalised clause, or a whole sentence where noted)
# --------------------------------------------------------------------------------------------

_NEG = r"(?:niet|geen|nooit|not|n't)"
_ACTION_INF = "|".join(re.escape(w) for w in NL_ACTION_INFINITIVES)
_ACTION_PART = "|".join(re.escape(w) for w in NL_ACTION_PARTICIPLES)

#: advice dressed as a question, checked at the start of a clause
ADVICE_QUESTION_PATTERNS = (
    # "Heb je al met de school gebeld?", "Heb je overwogen om…", "Had je er al aan gedacht…"
    rf"^(?:heb|hebt|had|hebben|hadden) {YOU}\b[^?]{{0,80}}?\b(?:{_ACTION_PART})\b",
    r"^(?:ben|bent) (?:je|jij|u|jullie) (?:al |nog |ook )*(?:eens )?(?:langs|op huisbezoek)\b",
    # "Zou je niet…", "Kun je niet gewoon…", "Moet je niet…", "Had je niet beter…"
    rf"^(?:zou|zoudt|zouden|kun|kunt|kan|kunnen|moet|moeten|wil|wilt|had|mag|ga|ben|is|doe) "
    rf"(?:je|jij|u|jullie|we|wij|ze) (?:dan |toch |nou |nu |eigenlijk |misschien |ook )*{_NEG}\b",
    # "Zou je de wijkagent niet eens inschakelen?", "Moet er niet een melding komen?" (main clause only)
    rf"^(?:zou|zoudt|zouden|kun|kunt|kan|kunnen|moet|moeten|had|ga|gaan|wil|wilt) (?:je|jij|u|jullie|we|wij|er)\b"
    rf"(?:(?! (?:dat|of|omdat|als|wanneer|zodat|terwijl)\b)[^,]){{0,60}}? {_NEG}\b",
    # "… niet iets?", "… niet de beste optie?", "… niet gewoon …?"
    r"\b(?:niet|geen) (?:de beste|een (?:goed |beter )?(?:idee|optie|plan)|een goede (?:optie|stap|oplossing)|"
    r"iets (?:voor|zijn)|iets$|handiger|slimmer|verstandiger|makkelijker)\b",
    r"\bniet (?:even |eens |nou )?gewoon\b",
    # "Is het geen idee om…", "Is het niet slimmer…", "Lijkt het je niet verstandig…"
    rf"^(?:is|was|zou|wordt|werkt) (?:het|dat|t|'t)(?: je| jou| u| jullie)?(?: dan| toch| misschien)? {_NEG}\b",
    r"^lijkt (?:het|dat|t|'t|me|mij)\b",
    r"^zou (?:het|dat|t|'t) (?:niet )?(?:helpen|werken|schelen|een idee zijn|handig zijn)\b",
    # "Waarom bel je niet…", "Waarom schakel je het wijkteam niet in?" (main clause only)
    rf"^waarom (?:\w+ )?{YOU}\b(?:(?! (?:dat|of|omdat|als|wanneer|zodat|terwijl)\b)[^,])*? {_NEG}\b",
    r"^waarom (?:niet|geen) \w",
    # "Wat als je eens…", "Hoe zou het zijn als je…", "Wat houdt je tegen om…"
    rf"^wat als {YOU}\b",
    rf"^wat (?:nou|nu|dan) als {YOU}\b",
    r"^hoe (?:zou|zal) (?:het|dat) (?:zijn|gaan|uitpakken|werken) (?:als|om) ",
    rf"^wat (?:houdt|weerhoudt) {YOU} (?:tegen|ervan)\b",
    rf"^wat (?:vind|vindt|denk|denkt|zeg|zegt) {YOU} (?:ervan|er van|daarvan|van het idee|van het plan)? ?(?:om|als)\b",
    r"^wat denk (?:je|jij|u|jullie) van (?:een|het|de)\b",
    rf"^(?:misschien|wellicht|mogelijk|anders) [^?]{{0,60}}\b{YOU}\b",
    rf"^(?:kun|kunt|kan) (?:je|jij|u|jullie) [^?]{{0,80}}\b(?:{_ACTION_INF})\b",
    rf"^(?:zou|zoudt|zouden) (?:je|jij|u|jullie|we|wij) [^?]{{0,80}}\bkunnen (?:\w+ )?(?:{_ACTION_INF})\b",
    # English
    r"^(?:have|had) you (?:already |ever |not |yet |also )*(?:tried|considered|thought|looked into|asked|"
    r"called|contacted|talked|spoken|reached out|involved|checked|suggested|offered|phoned|emailed|"
    r"referred|visited|invited)\b",
    r"^did you (?:already |ever |not |also )*(?:try|consider|think about|think of|look into)\b",
    r"^did you already\b",
    r"^why (?:don't|didn't|won't|wouldn't|haven't|hadn't|can't|couldn't|shouldn't|aren't) (?:you|we|u)\b",
    r"^why (?:not|do you not|did you not) \w",
    r"^(?:shouldn't|couldn't|wouldn't|mustn't|oughtn't) \w",
    r"^(?:can't|won't|don't) (?:you|we|u)\b",
    r"^(?:isn't|wouldn't|won't|aren't|wasn't) [^?]{0,60}\b(?:a good idea|an idea|an option|"
    r"the best (?:option|thing|way)|better|wiser|easier|smarter)\b",
    r"^(?:isn't|wasn't|wouldn't) (?:it|that|there) (?:\w+ ){0,2}(?:idea|option|better|wiser|easier|smarter|good)\b",
    r"^(?:is|would|wouldn't) (?:it|that) (?:not )?(?:be )?(?:an idea|a good idea|better|wiser|easier|smarter)\b",
    r"^(?:would|could|might|will) (?:it|that) (?:not )?(?:help|work|be (?:better|wise|wiser|smart|smarter|"
    r"useful|helpful|easier|an idea|a good idea))\b",
    rf"^what if {YOU}\b",
    r"^what(?:'s| is) (?:stopping|keeping|holding) you\b",
    r"^what (?:stops|keeps|holds) you\b",
    r"^(?:what|how) about (?:you |we )?\w+ing\b",
    r"^how about\b",
    r"^(?:maybe|perhaps) [^?]{0,60}\byou\b",
    r"^(?:can|could) you (?:just |maybe |not |simply )*(?:call|ask|contact|report|invite|involve|refer|visit|"
    r"try|talk|email|phone|organise|organize|arrange|set up|bring|get)\b",
)
#: plain advice, anywhere in a clause ("Je moet…", "Ik zou…", "You should…")
ADVICE_PATTERNS = (
    r"\b(?:ik zou|zou ik|ik zal|ik had|ik ga|als ik jou was|als ik jou ben|in jouw plaats|in jouw schoenen|"
    r"mijn (?:tip|advies|voorstel|suggestie)|ik raad|ik adviseer|ik stel voor|ik zou zeggen)\b",
    r"\b(?:je|jij|u|jullie) (?:moet|moeten|zou|zoudt|zouden|kunt|kan|kun|kunnen|mag|hoeft|hoeven|zal)\b",
    r"\bdat (?:je|jij|u|jullie)\b[^.?!]{0,60}\b(?:moet|moeten|zou|zouden|kunt|kan|kunnen|mag|beter)\b",
    r"\blijkt (?:me|mij|ons)\b",
    r"\b(?:beste|slimste|verstandigste) (?:optie|oplossing|aanpak|keuze|stap)\b",
    r"\bhet (?:is|lijkt) (?:verstandig|beter|slim|slimmer|handig|goed) om\b",
    r"\bgewoon (?:\w+en|even|eens)\b$",
    r"^(?:gewoon|misschien|wellicht) \w",
    r"\b(?:i would|i'd|i'll|i will|if i were you|if i was you|my advice|my tip|my suggestion|i suggest|"
    r"i recommend|i'd suggest|i advise|i'd recommend)\b",
    r"\byou (?:should|must|need to|have to|could|can|might want to|ought to|better|'d better)\b",
    r"\b(?:we|wij) (?:should|must|need to|have to|ought to|moeten|zouden moeten)\b",
    r"\b(?:best|wisest|smartest) (?:option|thing|approach|step|solution)\b",
    r"^(?:maybe|perhaps) \w",
)
#: not advice after all: "Ik zou graag willen weten…", "I'd like to hear…"
ADVICE_EXCEPTIONS = (
    r"\b(?:ik zou|zou ik|i would|i'd)\b[^.?!]{0,30}\b(?:weten|horen|begrijpen|snappen|know|hear|understand|learn)\b",
    r"\bik zou (?:het )?(?:fijn|mooi|interessant) vinden (?:als|om)\b",
)
#: indirect questions: "Ik ben benieuwd wat…", "Mag ik vragen of…", "I wonder whether…"
INDIRECT_OPENERS = (
    r"ik ben (?:wel |erg |heel |ook |nog )*(?:benieuwd|nieuwsgierig)",
    r"ik vraag me (?:wel |ook |nog )*af", r"ik vraag mij (?:wel |ook |nog )*af",
    r"mag ik (?:je |jou |u )?(?:vragen|weten)", r"ik wil (?:graag |wel |nog )*(?:weten|horen|begrijpen)",
    r"ik zou (?:graag |wel |nog )*(?:willen )?(?:weten|horen|begrijpen)",
    r"i(?:'m| am) (?:really |very |also |just )*(?:curious|wondering|interested)(?: to (?:know|hear))?",
    r"i wonder", r"i'd (?:like|love) to (?:know|hear|understand)", r"i would (?:like|love) to (?:know|hear)",
    r"may i ask", r"can i ask", r"could i ask",
)
#: how an indirect question continues when it is a yes/no question
INDIRECT_CLOSED = r"(?:of|whether|if|naar of)\b"
#: exclamations that start like a question: "Wat een lastige situatie!", "Hoe mooi dat…"
EXCLAMATIONS = (
    r"^wat (?:een|'n)\b",
    r"^(?:wat|hoe) (?:goed|fijn|mooi|leuk|knap|sterk|lastig|naar|heftig|rot|vervelend|bijzonder|interessant|"
    r"herkenbaar|tof|gaaf|moedig|pittig|zwaar|verdrietig|stom|jammer|dapper|triest|ingewikkeld)\b"
    r"(?: (?:dat|zeg|zo|hoor)\b.*)?$",
    r"^what an?\b",
    r"^how (?:nice|great|good|sad|interesting|lovely|awful|brave|wonderful|tough|hard|difficult|"
    r"recognisable|recognizable|cool|kind)\b(?: (?:that|of)\b.*)?$",
)


def _words(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(w) for w in words)


class _Lazy:
    """A regular expression compiled at its first use: compiling all of this module's takes about
    0.03 s, which a start need not pay (they serve action-learning rounds and reports)."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __getattr__(self, name: str) -> Any:  # not for the methods once compiled: they are set then
        pattern = self.__dict__.get("pattern_")
        if pattern is None:
            pattern = self.pattern_ = re.compile(self.source)
            for method in ("search", "match", "fullmatch", "sub", "split", "finditer", "findall"):
                setattr(self, method, getattr(pattern, method))
        return getattr(pattern, name)


def _compile(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return _lazy("|".join(f"(?:{p})" for p in patterns))


def _lazy(source: str) -> re.Pattern[str]:
    return cast("re.Pattern[str]", _Lazy(source))


_ADVICE_QUESTION_RE = _compile(ADVICE_QUESTION_PATTERNS)
_ADVICE_RE = _compile(ADVICE_PATTERNS)
_ADVICE_EXCEPTION_RE = _compile(ADVICE_EXCEPTIONS)
_EXCLAMATION_RE = _compile(EXCLAMATIONS)
_INDIRECT_RE = _lazy(rf"^(?:{'|'.join(INDIRECT_OPENERS)})\b[ ,:]*(?:(?P<closed>{INDIRECT_CLOSED})|(?P<rest>\w))")
_OPEN_RE = _lazy(rf"^(?:{'|'.join(OPEN_OPENERS)})\b")
_CLOSED_RE = _lazy(
    rf"^(?:(?:{_words(NL_CLOSED_VERBS)}) {SUBJECTS}\b|(?:{_words(EN_CLOSED_VERBS)}) {SUBJECTS}\b|"
    rf"(?:klopt het|klopt dat|begrijp ik|snap ik|zie ik|hoor ik|lees ik)\b|(?:of|whether) \w)"
)
_TELLING_RE = _lazy(
    rf"^(?:kun|kunt|kan|zou|zoudt|wil|wilt|mag ik|can|could|would|will|might) "
    rf"(?:je|jij|u|jullie|you|ik je|ik u)\b(?: \w+){{0,6}}? (?:{_words(TELLING_VERBS)})\b"
)
_CHECKING_RE = _lazy(
    rf"^(?:kun|kunt|kan|zou|can|could) (?:je|jij|u|you)\b(?: \w+){{0,4}}? (?:{_words(CHECKING_VERBS)})\b"
)
_IMPERATIVE_RE = _lazy(rf"^(?:{_words(NL_IMPERATIVES)}|{_words(EN_IMPERATIVES)}) (?!{PERSONAL_PRONOUNS}\b)\w")
_FILLER_RE = _lazy(rf"^(?:(?:{_words(FILLERS)})\b[ ,!.]*)+")

_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?…])\s+|\n+|(?<=\?)(?=[^?\s])")
_CLAUSE_SPLIT_RE = re.compile(r"\s*[,;:]\s*|\s+[-–—]\s+")
_ABBREVIATIONS = {"bijv.": "bijv", "bv.": "bv", "o.a.": "oa", "e.g.": "eg", "i.e.": "ie", "z.s.m.": "zsm",
                  "ca.": "ca", "evt.": "evt", "mr.": "mr", "mrs.": "mrs", "dr.": "dr", "etc.": "etc"}
_NEGATION_TYPOS_RE = re.compile(r"\b(do|does|did|is|are|was|were|could|would|should|have|has|had|ca|wo|must)nt\b")
_DROP_CATEGORIES = {"So", "Sk", "Cf", "Cs", "Co", "Cn"}
_QUESTION_MARKS = {"?", "¿", "؟", "⸮", "？", "﹖"}

#: how "dangerous" each sentence reading is; the message gets the most dangerous one
_ADVICE_STATEMENT, _ADVICE_QUESTION, _CLOSED, _OPEN, _PLAIN = 4, 3, 2, 1, 0
_LABEL_BY_RANK = {
    _ADVICE_STATEMENT: Label.STATEMENT,
    _ADVICE_QUESTION: Label.ADVICE_QUESTION,
    _CLOSED: Label.CLOSED,
    _OPEN: Label.OPEN,
    _PLAIN: Label.STATEMENT,
}


# --------------------------------------------------------------------------------------------
# Normalising and splitting
# --------------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Lowercase ``text``, drop emoji and invisible characters, unify quotes and collapse spaces."""
    text = unicodedata.normalize("NFKC", str(text or ""))
    chars = []
    for ch in text:
        if ch in _QUESTION_MARKS:
            chars.append("?")
        elif unicodedata.category(ch) in _DROP_CATEGORIES or "\ufe00" <= ch <= "\ufe0f":
            chars.append(" ")
        elif ch in "’‘`´":
            chars.append("'")
        elif ch in "“”„«»":
            chars.append('"')
        else:
            chars.append(ch)
    text = "".join(chars).lower()
    for abbreviation, plain in _ABBREVIATIONS.items():
        text = text.replace(abbreviation, plain)
    text = _NEGATION_TYPOS_RE.sub(r"\1n't", text)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


def sentences(text: str) -> list[str]:
    """Split normalised ``text`` into sentences, each keeping its closing punctuation."""
    return [part.strip() for part in _SENTENCE_SPLIT_RE.split(text) if part and part.strip()]


def _clean(fragment: str) -> str:
    """Strip quotes, brackets and other non-word characters from both ends, and leading fillers."""
    fragment = re.sub(r"^[\W_]+|[\W_]+$", "", fragment)
    return _FILLER_RE.sub("", fragment).strip()


def clauses(sentence: str) -> list[str]:
    """The clauses of one sentence (split on ``, ; :`` and dashes), cleaned, empty ones dropped."""
    parts = [_clean(part) for part in _CLAUSE_SPLIT_RE.split(sentence)]
    return [part for part in parts if part]


# --------------------------------------------------------------------------------------------
# Reading one clause
# --------------------------------------------------------------------------------------------


def is_advice(clause: str) -> bool:
    """Whether ``clause`` proposes what the case-bringer should do (in statement form)."""
    if _ADVICE_EXCEPTION_RE.search(clause):
        return False
    return bool(_ADVICE_RE.search(clause) or _IMPERATIVE_RE.match(clause))


def is_advice_question(clause: str) -> bool:
    """Whether ``clause`` starts like advice dressed up as a question."""
    if _ADVICE_EXCEPTION_RE.search(clause) or _TELLING_RE.match(clause):
        return False
    return bool(_ADVICE_QUESTION_RE.search(clause))


def question_kind(clause: str) -> int | None:
    """``_OPEN`` or ``_CLOSED`` when ``clause`` opens like a question, else ``None``."""
    indirect = _INDIRECT_RE.match(clause)
    if indirect:
        return _CLOSED if indirect.group("closed") else _OPEN
    if _TELLING_RE.match(clause):
        return _OPEN
    if _CHECKING_RE.match(clause):
        return _CLOSED
    if _OPEN_RE.match(clause):
        return _OPEN
    if _CLOSED_RE.match(clause):
        return _CLOSED
    return None


# --------------------------------------------------------------------------------------------
# Reading a sentence and a message
# --------------------------------------------------------------------------------------------


def _sentence_rank(sentence: str) -> int:
    """How dangerous one sentence is (see the ``_ADVICE_STATEMENT`` … ``_PLAIN`` ranks)."""
    asked = "?" in sentence
    parts = clauses(sentence)
    if not parts:
        return _PLAIN
    if not asked and _EXCLAMATION_RE.match(parts[0]):
        return _ADVICE_STATEMENT if any(is_advice(part) for part in parts[1:]) else _PLAIN
    kind = next((k for k in (question_kind(part) for part in parts) if k is not None), None)
    question = asked or kind is not None
    if any(is_advice_question(part) for part in parts):
        return _ADVICE_QUESTION if question else _ADVICE_STATEMENT
    # a clause that opens like a question ("Moet je…?", "Kun je…?") is read as a question, not as advice
    if any(is_advice(part) for part in parts if question_kind(part) is None):
        return _ADVICE_QUESTION if question else _ADVICE_STATEMENT
    if kind is not None:
        return kind
    return _CLOSED if asked else _PLAIN


def classify(text: str) -> Label:
    """Classify one chat message for step 2 ("Open vragen") of an actieleren round.

    Returns :attr:`Label.OPEN` for an open question, :attr:`Label.CLOSED` for a yes/no
    question, :attr:`Label.ADVICE_QUESTION` for advice dressed as a question and
    :attr:`Label.STATEMENT` for anything else (plain advice included). Never raises.
    """
    ranks = [_sentence_rank(sentence) for sentence in sentences(normalise(text))]
    return _LABEL_BY_RANK[max(ranks, default=_PLAIN)]
