"""Every text in both languages, rendered with realistic values (issue 18, docs/voice.md).

Checks per text: plural forms (``1 lid``, ``2 leden``; never ``(en)``/``(s)``), no doubled
punctuation, a capital at the start of a sentence, no programmer notation (``<naam>``, ``[…]``),
one word per thing (the word list in docs/voice.md), lengths per kind (a reminder under 160
characters), and at least three phrasings for every recurring text.
"""

from __future__ import annotations

import re
from functools import cache

import pytest
import yaml

from bot import i18n
from bot.markup import plain
from tests.test_prompts import ROOT

#: realistic values for every placeholder name the prompts use
VALUES = {
    "name": "Anna de Vries", "who": "Bram Peters", "author": "Anna de Vries", "owner": "Cem Yilmaz",
    "bringer": "Cem Yilmaz", "facilitator": "Bram Peters", "network": "Lerend netwerk Armoede Venlo",
    "names": "Cem Yilmaz en Dewi Santoso", "first": "Cem, Dewi", "last": "Els", "text": "De zaal is veranderd",
    "question": "Wat ging er deze week goed?", "goal": "Beter leren luisteren", "intention": "Samen leren",
    "ambition": "Over een jaar werken we samen", "theme": "Schulden en schaamte", "themes": "school, ouders",
    "when": "di 19 jan 2026 14:00", "end": "16:00", "place": "Buurthuis De Linde", "next": "di 19 jan 2026 10:00",
    "to": "wo 20 jan 2026 10:30", "until": "ma 2 feb 2026 08:00", "date": "19-01", "day": "dinsdag",
    "time": "10:00", "start": "22:00", "see": "Tot dinsdag", "reason": "Omdat ouders daarom vroegen", "value": "Morgen",
    "field": "ambitie", "command": "/onbekend", "usage": "/ritme", "limit": 500, "length": 612, "max": 120,
    "min": 5, "low": 1, "high": 60, "months": 12, "nr": 3, "total": 10, "quiet": 6, "answered": 4,
    "sessions": 2, "questions": 6, "answers": 16, "share": "67%", "rounds": 1, "done": 1, "open": 2,
    "celebrations": 3, "decisions": 2, "ideas": 4, "size": 10, "reflections": 5, "missing": "onderwijs",
    "line": "Actie 3: Cem Yilmaz: belt de school", "how": "", "due": "", "state": "loopt", "status": "gekozen",
    "period": "januari 2026", "summary": "• Bijeenkomsten: 2", "link": "https://t.me/bamboe_bot?start=x",
    "kinds": "telefoonnummer", "consent": "je antwoorden tellen alleen mee.", "role": "procesbegeleider",
    "perspective": "beleid", "joined": "ma 5 jan 2026 09:00", "own": "Beter leren luisteren",
    "group": "Samen een aanpak maken", "group_goal": "De groep heeft nog geen leerdoel.", "average": "0,4",
    "cap": 3, "ordinary": 3, "readers": 2, "session": 5, "what": "de oogst", "other": "de weekvraag",
    "why": "Waarom? Omdat ouders daarom vroegen.",
    "example": "\"Wat maakt dit lastig?\"", "outcome": "Het ging goed", "case": "Een moeder met huurachterstand",
    "category": "Bedoeling", "footer": "Reageer op dit bericht.", "minutes": 10, "suggest": "", "timebox": "",
    "language": "Nederlands", "timezone": "Europe/Amsterdam", "read": "Cem", "unread": "Dewi", "mark": "",
    "days": 3, "weeks": 2, "x": 3, "y": 10, "month": "januari", "year": 2026, "made": "1 feb 2026",
    "opened": 2, "roles": "procesbegeleider", "options": "beleid, onderwijs", "weekends": " en in het weekend",
    "items": "06-01: 4 van 10", "parts": "Omgeving", "left": 1, "label": "Gelezen", "goal_weeks": 4, "intention_weeks": 6, "hours": 48, "count": 2, "step": 2,
}
#: the word list of docs/voice.md: words that must not come back (a different word for the same thing)
AVOID = {
    "nl": ("vraag van de week", "reflectievraag", "wekelijkse vraag", "sessie", "(en)", "ons netwerk", "privébericht",
           "overzicht komt", "secretary"),
    "en": ("question of the week", "reflection question", "secretary", "(s)", "trekker", "participant"),
}
PROGRAMMER = re.compile(r"<[a-z][a-z ]*>|\[<|\[(?!naam\]|name\])[a-z]+\]")  # [naam] marks a redacted name
DOUBLED = re.compile(r"(?<!\.)\.\.(?!\.)|\?\?|!!|,,|\s[.,!?]|\.\s*\.|…\.")
#: a space at the end of a text or a line, or two in a row (an empty part left its space behind)
LOOSE_SPACE = re.compile(r" $| \n|\S  ")
#: recurring texts that must vary
RECURRING = ("rhythm.nudge_footer", "rhythm.reminder", "rhythm.harvest_outro", "warm.celebrate_prompt", "rhythm.goal_private",
             "toolkit.digest_outro", "toolkit.pre_session", "toolkit.after_session",
             "warm.quiet_member_again", "warm.quiet_members_again")
#: the longest a text of a kind may be (plain characters, after rendering)
LIMITS = {"rhythm.reminder": 160, "rhythm.nudge_footer": 80, "budget.": 240, "errors.": 420, "help.commands.": 800}
#: keys whose text is a fragment inside another sentence (no capital, no full stop of their own)
FRAGMENT_PREFIXES = ("calendar.", "languages.", "roles.", "perspectives.", "common.", "rhythm.kinds.",
                     "budget.kinds.", "budget.why.", "privacy.kinds.", "privacy.parts.", "rounds.action_state.",
                     "rounds.state.", "toolkit.status.", "report.", "help.commands.", "console.",
                     "status.participation_item", "rounds.due", "rounds.someone", "rounds.nothing", "rounds.no_themes",
                     "rhythm.own_question", "network.quiet", "warm.the_network", "warm.no_session_yet",
                     "toolkit.nobody", "privacy.consent", "privacy.export_file", "help.not_for_you", "rounds.outcome", "rounds.timebox",
                     "rhythm.theme_line", "meetings.line", "budget.", "status.", "toolkit.digest_announcement", "toolkit.digest_day.",
                     "toolkit.announcement_line", "rounds.list_line", "rounds.action_line", "warm.log_line",
                     "warm.bullet", "rounds.record_idea", "toolkit.digest_private_line", "rhythm.question_line",
                     "help.line", "rhythm.harvest_quote", "privacy.export_answer", "privacy.export_count",
                     "link.platforms.", "link.history.", "link.unlink_word", "link.chat_label", "link.untitled", "link.list_line", "teams.app.")


@cache
def entries(lang: str) -> dict[str, object]:
    """Every entry: key → text, list of phrasings, or one/other forms."""
    def walk(node: object, prefix: str = ""):  # noqa: ANN202
        if isinstance(node, dict) and set(node) != set(i18n.PLURAL_FORMS):
            for key, value in node.items():
                yield from walk(value, f"{prefix}{key}.")
        else:
            yield prefix[:-1], node
    return dict(walk(yaml.safe_load((ROOT / "prompts" / f"{lang}.yaml").read_text(encoding="utf-8"))))


def renderings(lang: str, key: str, entry: object) -> list[str]:
    """Every way the entry can be rendered: each phrasing, each plural form (count 1 and 2)."""
    texts = entry if isinstance(entry, list) else list(entry.values()) if isinstance(entry, dict) else [entry]
    names = {n for t in texts if isinstance(t, str) for n in i18n.placeholders(t)}
    values = {**{n: "Anna" for n in names}, **VALUES}
    if isinstance(entry, list) and all(isinstance(e, str) for e in entry):
        return [plain(i18n.vary(lang, key, n, **values)) for n in range(len(entry))]
    if isinstance(entry, dict):
        return [plain(i18n.t(lang, key, **{**values, "count": n})) for n in (1, 2)]
    if isinstance(entry, str):
        return [plain(i18n.t(lang, key, **values))]
    return []


KEYS = [(lang, key) for lang in i18n.LANGUAGES for key in entries(lang) if not key.startswith("calendar.")]


#: texts that landed from other branches after this rewrite (linking chats, Teams, Matrix): they must
#: render, but are not yet held to the word list and the style rules
PENDING = ("help.commands.koppel.", "help.commands.ikben.", "teams.", "matrix.")


@pytest.mark.parametrize(("lang", "key"), KEYS)
def test_every_text_renders_cleanly(lang, key):
    entry = entries(lang)[key]
    for text in renderings(lang, key, entry):
        assert "{" not in text and "}" not in text, (key, text)
        if key.startswith(PENDING):
            continue
        assert not DOUBLED.search(text), (key, text)
        if not key.startswith("console."):  # the console's help lines up its columns with spaces
            assert not LOOSE_SPACE.search(text), (key, text)
        assert key.startswith("console.") or not PROGRAMMER.search(text), (key, text)
        low = text.lower()
        for word in AVOID[lang]:
            assert word not in low or key.startswith(("console.", "roles.")), (key, word, text)
        for prefix, limit in LIMITS.items():
            if key.startswith(prefix):
                assert len(text) <= limit, (key, len(text))
        if not key.startswith(FRAGMENT_PREFIXES) and text[:1].isalpha():
            assert text[:1].isupper(), (key, text)


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_plurals_agree_with_their_count(lang):
    one, two = (re.compile(p) for p in ((r"\b1 (leden|members|antwoorden|answers|bijeenkomsten|sessions|dagen|days|"
                                          r"weken|weeks|ideeën|ideas|vragen|weekvragen)\b"),
                                         r"\b2 (lid|member|antwoord|answer|bijeenkomst|session|dag|day|week|idee|idea)\b"))
    for key, entry in entries(lang).items():
        if isinstance(entry, dict):
            singular, plural = renderings(lang, key, entry)
            assert not one.search(singular), (key, singular)
            assert not two.search(plural), (key, plural)


#: counted texts whose other number is the count itself: (key, placeholder) → why
SAME_AS_COUNT = {("report.doc.size_small", "size"): "the count is the size"}


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_a_counted_text_reads_right_when_its_other_number_is_one(lang):
    # "1 van de 1 leden las hem": the form follows {count}, but a second number ({total}) names the
    # members too; with a network of one member it must not read "1 leden" / "1 members"
    wrong = []
    for key, entry in entries(lang).items():
        if not (isinstance(entry, dict) and set(entry) == set(i18n.PLURAL_FORMS)):
            continue
        names = {n for text in entry.values() for n in i18n.placeholders(text)}
        for name in sorted(n for n in names if n != "count" and isinstance(VALUES.get(n), int)):
            if name in NEVER_ONE or (key, name) in NEVER_ONE or (key, name) in SAME_AS_COUNT:
                continue
            for count in (0, 1):  # a part of one is none or all of it
                text = plain(i18n.t(lang, key, **{**{n: "Anna" for n in names}, **VALUES, name: 1, "count": count}))
                if found := COUNTED.search(text):
                    wrong.append((key, name, count, found.group(0)))
    assert wrong == []


#: placeholders for a person or a network: a text names them once ("Ik heb Gijs de Vries persoonlijk
#: bijgepraat" after "Gijs de Vries is nieuw" read stiff); a command example may repeat them
NAMED = ("name", "names", "who", "network", "owner")
COMMAND_REF = re.compile(r"\{/(?:[^{}\n]|\{[a-z_]+\})+\}")


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_a_text_names_a_person_or_network_once(lang):
    twice = []
    for key, entry in entries(lang).items():
        if key.startswith(("console.", *PENDING)):  # the console's label; texts not yet held to the rules
            continue
        texts = entry if isinstance(entry, list) else list(entry.values()) if isinstance(entry, dict) else [entry]
        for text in (t for t in texts if isinstance(t, str)):
            bare = COMMAND_REF.sub("", text)
            twice += [(key, name) for name in NAMED if bare.count("{" + name + "}") > 1]
    assert twice == []


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_recurring_texts_have_three_phrasings(lang):
    for key in RECURRING:
        options = i18n.raw(lang, key)
        assert isinstance(options, list) and len(set(options)) >= 3, key
        rendered = [plain(i18n.vary(lang, key, n, **VALUES)) for n in range(6)]
        assert all(a != b for a, b in zip(rendered, rendered[1:], strict=False)), key


def test_the_harvest_thanks_without_counting_who_did_not_answer():
    for lang in i18n.LANGUAGES:
        for n in (1, 4):
            text = plain(i18n.t(lang, "rhythm.harvest", question="Wat ging goed?", count=n))
            assert " van de " not in text.split("\n", 1)[1] and " of the " not in text.split("\n", 1)[1], text
    assert "1 antwoord." in plain(i18n.t("nl", "rhythm.harvest", question="?", count=1))
    assert "2 antwoorden." in plain(i18n.t("nl", "rhythm.harvest", question="?", count=2))


def test_the_seven_aspects_have_plain_labels():
    from bot.features.rhythm import library

    names = {k: v for k, v in library().names.items() if v["family"] == "aspect"}
    assert [v["nl"] for v in names.values()] == ["Bedoeling", "Wat we doen", "Waarden en normen", "Omgeving",
                                                  "Plek en sfeer", "Wie en wat invloed heeft", "Wat het oplevert"]
    assert all(v["en"] and "/" not in v["en"] for v in names.values())


def test_questions_fit_residents_and_students_too():
    from bot.features.rhythm import library

    for q in library().by_id.values():
        nl = q.texts["nl"].lower()
        if "je werk" in nl or "collega" in nl or "je organisatie" in nl:
            assert "studie" in nl or "buurt" in nl or "thuis" in nl or "school" in nl, q.id


#: plain texts whose number is never 1, so they need no one/other forms: (key, placeholder) → why
NEVER_ONE = {
    "max": "a fixed limit", "high": "a fixed limit", "min": "a fixed limit", "hours": "a fixed delay",
    "goal_weeks": "a fixed rhythm", "intention_weeks": "a fixed rhythm", "weeks": "a fixed limit",
    ("errors.report_period_long", "months"): "a fixed limit",
    ("warm.ms_answers", "count"): "milestones start at 10 answers",
    ("warm.quiet_members", "count"): "quiet after 2 to 10 questions", ("warm.quiet_many", "count"): "idem",
    ("warm.quiet_all", "count"): "idem", ("warm.quiet_many", "total"): "many of a group",
    ("report.doc.size_ok", "size"): "5 to 20 members", ("report.doc.size_large", "size"): "more than 20",
    ("link.linked", "count"): "a link makes at least two chats",
}
COUNTED = re.compile(r"\b1 (leden|members|antwoorden|answers|bijeenkomsten|sessions|dagen|days|weken|weeks|ideeën|"
                     r"ideas|vragen|questions|weekvragen|weekly questions|maanden|months|minuten|minutes|uur|hours|"
                     r"keer|times|acties|actions|chats|people|mensen)\b")


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_a_number_that_can_be_one_comes_with_plural_forms(lang):
    # "1 months", "1 leden": a plain text with a number in it reads wrong when the number is 1
    wrong = []
    for key, entry in entries(lang).items():
        if not isinstance(entry, str) or key.startswith("calendar."):
            continue
        names = i18n.placeholders(entry)
        for name in (n for n in names if isinstance(VALUES.get(n), int)):
            if name in NEVER_ONE or (key, name) in NEVER_ONE:
                continue
            text = plain(i18n.t(lang, key, **{**{n: "Anna" for n in names}, **VALUES, name: 1}))
            if found := COUNTED.search(text):
                wrong.append((key, name, found.group(0)))
    assert wrong == []


def test_english_questions_call_a_session_a_session():
    from bot.features.rhythm import library

    # the word list (docs/voice.md): a meeting of the network is a *session* in English
    found = [q.id for q in library().by_id.values() if re.search(r"\bmeetings?\b", q.texts["en"].lower())]
    assert found == []
