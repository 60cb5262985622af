"""Reports (/rapport and the monthly report): what was sent to whom, the three files (PNG, HTML,
PDF), the figures in them against the scenario, what may never be in them (names, quotes without
consent, action-learning cases), the role gate, periods, and the monthly job on the fake clock.
"""

from __future__ import annotations

import io
import re
import zlib
from datetime import UTC, date, datetime
from html.parser import HTMLParser

import pytest
from sqlalchemy import delete, text

from adapters.console.harness import Harness, Sent
from bot.database import create_engine, sqlite_url_for, upgrade
from bot.features.report import report_due
from bot.features.report.data import gather
from bot.features.report.period import Period, parse_period
from bot.features.report.render import render
from bot.models import Job, Network, RoundEntry
from bot.parsing import UserError
from tests.conftest import MEMBERS, local, texts
from tests.test_rhythm import at_local, command, network, only_error_for, rows, sent

#: every test renders real charts and PDFs: scheduled first so parallel workers finish together
pytestmark = pytest.mark.slow

PNG, PDF = b"\x89PNG\r\n\x1a\n", b"%PDF-"
NAMES = [m["name"] for m in MEMBERS] + [m["name"].split()[0] for m in MEMBERS]
#: texts of members who did not consent to be quoted, and the action-learning case
SECRETS = ("CEMGEHEIM", "VIERGEHEIM", "VERTROUWELIJKE CASUS")
CONSENTED = "Ik voelde me gehoord toen de school eerst vroeg wat wij nodig hadden."


# ---------------------------------------------------------------------------- reading the files
class _Text(HTMLParser):
    """The visible text of a page, its table rows, and its images."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.rows: list[list[str]] = []
        self.images: list[dict[str, str]] = []
        self.scripts = 0
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._skip = False

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        if tag in ("style", "script"):
            self._skip = True
            self.scripts += tag == "script"
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(dict(attrs))

    def handle_endtag(self, tag):  # noqa: ANN001
        if tag in ("style", "script"):
            self._skip = False
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):  # noqa: ANN001
        if not self._skip:
            self.parts.append(data)
            if self._cell is not None:
                self._cell.append(data)


def page(html: bytes) -> _Text:
    parser = _Text()
    parser.feed(html.decode("utf-8"))
    return parser


def page_text(html: bytes) -> str:
    return " ".join(" ".join(page(html).parts).split())


def pdf_text(data: bytes) -> str:
    """The text of a PDF made by fpdf2 (TrueType fonts as Identity-H with a ToUnicode map)."""
    objects = {}
    at = 0
    while m := re.compile(rb"(\d+) 0 obj\s*").search(data, at):
        end = data.index(b"endobj", m.end())
        head, stream = data[m.end() : end], None
        if (s := re.search(rb"stream\r?\n", head)) and (n := re.search(rb"/Length (\d+)", head[: s.start()])):
            # the stream's bytes by its /Length: compressed data may itself hold "endobj"
            start = m.end() + s.end()
            stream, head = data[start : start + int(n[1])], head[: s.start()]
            end = data.index(b"endobj", start + int(n[1]))
            if b"/FlateDecode" in head:
                stream = zlib.decompress(stream)
        objects[int(m[1])] = (head, stream)
        at = end + len(b"endobj")

    def cmap(stream: bytes) -> dict[int, str]:
        found = {}
        for block in re.findall(rb"beginbfchar(.*?)endbfchar", stream, re.S):
            for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                found[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
        return found

    fonts = {}
    for head, _ in objects.values():
        for font_dict in re.findall(rb"/Font\s*<<(.*?)>>", head, re.S):
            for name, ref in re.findall(rb"/(F\d+)\s+(\d+) 0 R", font_dict):
                to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", objects[int(ref)][0])
                fonts[name] = cmap(objects[int(to_unicode[1])][1]) if to_unicode else {}

    def literal(raw: bytes) -> bytes:
        out, i = bytearray(), 0
        escapes = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("f"): 12}
        while i < len(raw):
            if raw[i] == 0x5C:
                i += 1
                if raw[i] in escapes:
                    out.append(escapes[raw[i]])
                elif 0x30 <= raw[i] <= 0x37:
                    digits = re.match(rb"[0-7]{1,3}", raw[i : i + 3])[0]
                    out.append(int(digits, 8))
                    i += len(digits) - 1
                else:
                    out.append(raw[i])
            else:
                out.append(raw[i])
            i += 1
        return bytes(out)

    words = []
    token = re.compile(rb"/(F\d+)\s+[\d.]+\s+Tf|\(((?:\\.|[^\\)])*)\)\s*Tj")
    for _, stream in objects.values():
        if stream is None or b"BT" not in stream:
            continue
        font: dict[int, str] = {}
        for m in token.finditer(stream):
            if m[1]:
                font = fonts.get(m[1], {})
            else:
                raw = literal(m[2])
                words.append(
                    "".join(font.get(int.from_bytes(raw[i : i + 2], "big"), "") for i in range(0, len(raw), 2))
                )
    return " ".join(" ".join(words).split())


def files(s: Sent) -> dict[str, bytes]:
    """A report message's files by extension."""
    return {name.rsplit(".", 1)[1]: data for name, _, data in s.files}


def summary_table(html: bytes) -> dict[str, str]:
    """The "In het kort" table: label → value."""
    return {row[0]: row[1] for row in page(html).rows if len(row) == 2}


def assert_private(report: Sent) -> None:
    """No member's name, no quote without consent, no case, in any of the report's files."""
    f = files(report)
    readable = {"html": page_text(f["html"]), "pdf": pdf_text(f["pdf"]), "png": f["png"].decode("latin-1")}
    for kind, content in readable.items():
        for secret in SECRETS:
            assert secret not in content, (kind, secret)
        for name in NAMES:
            assert not re.search(rf"\b{re.escape(name)}\b", content), (kind, name)


# ---------------------------------------------------------------------------- a month of network life
async def a_month(h: Harness) -> None:
    """Four weekly questions, a session with an action-learning round, celebrations, the log."""
    await h.say("els", "/privacy citeren ja")
    await command(h, "anna", "/bijeenkomst 2026-01-14 14:00-16:00 Buurthuis De Linde")
    await h.advance(local(2026, 1, 6, 11, 0))
    await h.say("cem", "CEMGEHEIM Ik merk dat ouders de weg naar hulp niet vinden.", reply_to="nudge")
    await h.say("els", CONSENTED, reply_to="nudge")
    await h.say("dewi", "Ouders en de school praten te weinig samen.", reply_to="nudge")
    await h.advance(local(2026, 1, 13, 11, 0))
    await h.say("els", "Samen met ouders zoeken werkt beter dan voor ouders.", reply_to="nudge")
    await h.advance(local(2026, 1, 14, 14, 5))
    await h.say("bram", "/actieleren Cem")
    await h.say("cem", "VERTROUWELIJKE CASUS: een moeder met drie kinderen durft niet naar school te bellen.")
    await h.say("bram", "/volgende")
    await h.say("dewi", "Hoe reageerde de school toen de moeder belde?")
    await h.say("els", "Wat maakt het voor jou lastig in deze situatie?")
    await h.say("bram", "/volgende")
    await h.say("fleur", "Misschien samen met de school een gesprek plannen.")
    await h.say("bram", "/volgende")
    await h.say("bram", "/actie Cem plant een gesprek met school en wijkteam voor 2026-01-28")
    await h.say("bram", "/volgende")
    await h.say("cem", "/vier VIERGEHEIM de school belde zelf terug")
    await h.say("els", "/vier we hebben voor het eerst samen met ouders gepraat")
    await h.say("anna", "/besluit we bezoeken twee scholen omdat ouders daar om vroegen")
    await h.say("dewi", "/idee een ouderavond in de bibliotheek")
    await h.say("anna", "/idee 1 niet gekozen te weinig tijd voor de zomer")
    await h.advance(local(2026, 1, 20, 11, 0))
    await h.say("cem", "/actie 1 klaar Het gesprek was goed; de moeder weet nu waar ze terechtkan.")


# ---------------------------------------------------------------------------- /rapport
async def test_rapport_sends_chart_page_and_pdf_privately_with_the_scenarios_figures(harness: Harness) -> None:
    await a_month(harness)
    await harness.advance(local(2026, 1, 30, 12, 0))
    replies = await command(harness, "anna", "/rapport")
    assert [(s.kind, s.to, s.visible_to) for s in replies] == [("report", "dm:anna", None), ("status", "group", "anna")]
    report = replies[0]
    assert [(name, mime) for name, mime, _ in report.files] == [
        ("bamboe-rapport-lerend-netwerk-test-2026-01-05-2026-01-30.png", "image/png"),
        ("bamboe-rapport-lerend-netwerk-test-2026-01-05-2026-01-30.html", "text/html"),
        ("bamboe-rapport-lerend-netwerk-test-2026-01-05-2026-01-30.pdf", "application/pdf"),
    ]
    f = files(report)
    assert f["png"].startswith(PNG) and f["pdf"].startswith(PDF) and f["html"].startswith(b"<!DOCTYPE html>")
    assert "5 jan 2026 t/m 30 jan 2026" in report.text and "wethouder" in report.text
    assert "Weekvragen: 4 · antwoorden: 4" in report.text and "acties afgerond: 1" in report.text
    assert "Vragen na een bijeenkomst: 1 · antwoorden: 0" in report.text

    # four weekly questions, four answers by three of six members; the question after the session apart
    expected = {
        "Bijeenkomsten gehouden": "1",
        "Weekvragen gesteld": "4",
        "Antwoorden op de weekvragen": "4",
        "Leden die minstens één keer een weekvraag beantwoordden (van de leden die meetelden)": "3 van 6",
        "Gemiddeld meedoen per week (weken met een weekvraag)": "17%",  # (3/6 + 1/6 + 0 + 0) / 4
        "Vragen na een bijeenkomst": "1",
        "Antwoorden op de vragen na een bijeenkomst": "0",
        "Rondes actieleren": "1",
        "Acties: nieuw / klaar / open aan het eind": "1 / 1 / 0",
        "Vieringen en mijlpalen": "3",
        "Besluiten": "1",
        "Ideeën": "1",
        "Leden aan het eind van de periode": "6 (goed: 5 tot 20)",
    }
    table = summary_table(f["html"])
    assert {k: table[k] for k in expected} == expected
    html = page(f["html"])
    weeks = [r for r in html.rows if r[0].endswith("jan 2026") and all(v.isdigit() for v in r[1:])]
    assert weeks == [
        ["5 jan 2026", "1", "3", "3", "6"],
        ["12 jan 2026", "1", "1", "1", "6"],
        ["19 jan 2026", "1", "0", "0", "6"],
        ["26 jan 2026", "1", "0", "0", "6"],
    ]
    coverage = {
        r[0]: r[2:] for r in html.rows if len(r) == 4 and r[1] in ("aspect van het kader", "stap van de leercyclus")
    }
    assert len(coverage) == 11
    assert coverage["Bedoeling"] == ["1", "3"] and coverage["Ervaren"] == ["1", "1"]
    assert coverage["Wat we doen"] == ["1", "0"] and coverage["Omgeving"] == ["0", "0"]
    open_questions = len(await rows(harness, RoundEntry, RoundEntry.step == 2, RoundEntry.label == "open"))
    words = page_text(f["html"])
    for part in (
        "Ronde 1 (14 jan 2026)",
        f"Open vragen: {open_questions} · ideeën: 1 · stand: rond",
        "plant een gesprek met school en wijkteam",
        "28 jan 2026",
        "Het gesprek was goed",
        "we bezoeken twee scholen",
        "ouders daar om vroegen",
        "een ouderavond in de bibliotheek",
        "niet gekozen",
        "te weinig tijd voor de zomer",
        "“we hebben voor het eerst samen met ouders gepraat”",
        "Mijlpaal: een actie is klaar",
        "1 daarvan staat hier niet bij",
        f"“{CONSENTED}”",
        "Buurthuis De Linde",
        "Alle vijf perspectieven zijn er",
        "Nieuwe leden in deze periode: 0",
        "Eén aanpak.",
    ):
        assert part in words, part
    # the PDF says the same
    pdf = pdf_text(f["pdf"])
    for part in (
        "Rapport Lerend netwerk Test",
        "Weekvragen gesteld 4",
        "Antwoorden op de weekvragen 4",
        "Leden die minstens één keer een weekvraag beantwoordden (van de leden die meetelden) 3 van 6",
        "Vragen na een bijeenkomst 1",
        "17%",
        f"“{CONSENTED}”",
        "we bezoeken twee scholen",
        "Het gesprek was goed",
        "Buurthuis De Linde",
    ):
        assert part in pdf, part
    # the chart is not the only carrier: alt text and tables
    (image,) = html.images
    assert image["src"].startswith("data:image/png;base64,") and "Antwoorden in totaal: 4; weekvragen: 4." in image["alt"]
    assert_private(report)


async def test_rapport_groep_posts_the_same_files_in_the_group(harness: Harness) -> None:
    await a_month(harness)
    await harness.advance(local(2026, 2, 3, 12, 0))
    replies = await command(harness, "bram", "/rapport groep 2026-01-01 tot 2026-01-31")
    assert [(s.kind, s.to, s.visible_to) for s in replies] == [("report", "group", None)]
    (report,) = replies
    assert "gedeeld door Bram Peters" in report.text and "5 jan 2026 t/m 31 jan 2026" in report.text
    assert sorted(files(report)) == ["html", "pdf", "png"]
    assert "Het netwerk begon op 5 jan 2026" in page_text(files(report)["html"])
    assert_private(report)


async def report_data(h: Harness, start: date, end: date):  # noqa: ANN201
    """The figures of a report over ``start``..``end``, as /rapport would gather them now."""
    async with h.db.transaction() as s:
        net = await s.get(Network, (await network(h)).id)
        return await gather(s, net, Period(start, end), h.clock.now())


def week_rows(html: bytes) -> list[list[str]]:
    """The "Meedoen per week" table: week, questions, answers, members who answered, members who counted."""
    return [r for r in page(html).rows if len(r) == 5 and r[0].endswith("2026") and all(v.isdigit() for v in r[1:])]


ANSWERED = "Leden die minstens één keer een weekvraag beantwoordden (van de leden die meetelden)"


async def test_who_answered_is_counted_over_the_same_members_with_a_leaver_and_a_silent_member(
    harness: Harness,
) -> None:
    await command(harness, "anna", "/bijeenkomst 2026-01-14 14:00-16:00 Buurthuis De Linde")
    await harness.advance(local(2026, 1, 6, 11, 0))
    for who in ("anna", "bram", "cem", "els", "fleur"):  # everyone but dewi, who never answers
        await harness.say(who, "Ouders vinden de weg naar hulp niet.", reply_to="nudge")
    await harness.leave("fleur")
    await harness.advance(local(2026, 1, 14, 17, 30))
    await harness.say("cem", "Dat ouders vaker zelf met oplossingen komen.", reply_to="after_session_question")
    await harness.advance(local(2026, 1, 30, 12, 0))

    data = await report_data(harness, date(2026, 1, 5), date(2026, 1, 30))
    # fleur answered and left, dewi stayed and never answered: five of the six who got a weekly question
    assert (data.answered, data.counted, data.composition.size) == (5, 6, 5)
    assert (data.questions, data.answers, data.session_questions, data.session_answers) == (4, 5, 1, 1)
    (report, _) = await command(harness, "anna", "/rapport")
    assert "Weekvragen: 4 · antwoorden: 5" in report.text
    assert "Vragen na een bijeenkomst: 1 · antwoorden: 1" in report.text
    f = files(report)
    table = summary_table(f["html"])
    assert table[ANSWERED] == "5 van 6" and table["Leden aan het eind van de periode"] == "5 (goed: 5 tot 20)"
    assert (table["Antwoorden op de weekvragen"], table["Antwoorden op de vragen na een bijeenkomst"]) == ("5", "1")
    assert f"{ANSWERED} 5 van 6" in pdf_text(f["pdf"])
    # fleur counts in the week she was there, not in the weeks after she left
    assert week_rows(f["html"]) == [
        ["5 jan 2026", "1", "5", "5", "6"],
        ["12 jan 2026", "1", "0", "0", "5"],
        ["19 jan 2026", "1", "0", "0", "5"],
        ["26 jan 2026", "1", "0", "0", "5"],
    ]
    assert "Na een bijeenkomst stelt Bamboe nog een vraag" in page_text(f["html"])


async def test_paused_members_do_not_count_in_the_report_just_as_in_status(harness: Harness) -> None:
    await command(harness, "cem", "/pauze 3w")  # until 26 January: the first three weekly questions
    await command(harness, "els", "/pauze 10d")  # until 15 January, but answers the first one anyway
    await harness.advance(local(2026, 1, 6, 11, 0))
    for who in ("anna", "bram", "els"):
        await harness.say(who, "Ouders vinden de weg naar hulp niet.", reply_to="nudge")
    await harness.advance(local(2026, 1, 13, 11, 0))
    await harness.say("anna", "Samen met ouders zoeken werkt beter.", reply_to="nudge")
    await harness.advance(local(2026, 1, 28, 12, 0))

    await command(harness, "anna", "/status")
    assert "Meedoen aan de weekvraag: 06-01: 3 van 5, 13-01: 1 van 4, 20-01: 0 van 5, 27-01: 0 van 6." in texts(
        harness
    )[-1]
    data = await report_data(harness, date(2026, 1, 5), date(2026, 1, 28))
    assert [(w.answered, w.members) for w in data.weeks] == [(3, 5), (1, 4), (0, 5), (0, 6)]
    from bot.features.report.chart import labels, spec

    chart = spec(data)  # the chart draws the same figures, with the same words
    assert (chart.answered, chart.members) == ((3, 1, 0, 0), (5, 4, 5, 6))
    assert labels("nl")["members"] == "Leden die meetelden"
    assert round(data.participation, 4) == round((3 / 5 + 1 / 4) / 4, 4)
    (report, _) = await command(harness, "anna", "/rapport")
    assert "gemiddeld meedoen per week: 21%" in report.text
    f = files(report)
    assert week_rows(f["html"]) == [
        ["5 jan 2026", "1", "3", "3", "5"],
        ["12 jan 2026", "1", "1", "1", "4"],
        ["19 jan 2026", "1", "0", "0", "5"],
        ["26 jan 2026", "1", "0", "0", "6"],
    ]
    table = summary_table(f["html"])
    assert table["Gemiddeld meedoen per week (weken met een weekvraag)"] == "21%"
    assert table[ANSWERED] == "3 van 6"
    assert "Mee telt wie toen lid was en geen pauze had" in page_text(f["html"])


async def test_every_pause_of_a_member_counts_in_the_report_not_only_the_latest(harness: Harness) -> None:
    """Two pauses each: the report (and /status) leaves the member out of the questions asked during
    either pause; Fleur was on a pause for every question of the period and counts for none."""
    await command(harness, "cem", "/pauze 1w")  # until 12 January: the question of 6 January
    await command(harness, "fleur", "/pauze 10d")  # until 15 January: 6 and 13 January
    await harness.advance(local(2026, 1, 6, 11, 0))
    await harness.say("anna", "Ouders vinden de weg naar hulp niet.", reply_to="nudge")
    await harness.advance(local(2026, 1, 13, 12, 0))
    await harness.say("bram", "Samen met ouders zoeken werkt beter.", reply_to="nudge")
    await command(harness, "cem", "/pauze 1w")  # until 20 January 12:00: the question of 20 January
    await harness.advance(local(2026, 1, 15, 12, 0))
    await command(harness, "fleur", "/pauze 2w")  # until 29 January: 20 and 27 January
    await harness.advance(local(2026, 1, 28, 12, 0))

    await command(harness, "anna", "/status")
    assert "Meedoen aan de weekvraag: 06-01: 1 van 4, 13-01: 1 van 5, 20-01: 0 van 4, 27-01: 0 van 5." in texts(
        harness
    )[-1]
    data = await report_data(harness, date(2026, 1, 5), date(2026, 1, 28))
    assert [(w.answered, w.members) for w in data.weeks] == [(1, 4), (1, 5), (0, 4), (0, 5)]
    assert (data.answered, data.counted) == (2, 5)  # Fleur counted for no question
    assert round(data.participation, 4) == round((1 / 4 + 1 / 5) / 4, 4)
    (report, _) = await command(harness, "anna", "/rapport")
    f = files(report)
    assert week_rows(f["html"]) == [
        ["5 jan 2026", "1", "1", "1", "4"],
        ["12 jan 2026", "1", "1", "1", "5"],
        ["19 jan 2026", "1", "0", "0", "4"],
        ["26 jan 2026", "1", "0", "0", "5"],
    ]
    assert summary_table(f["html"])[ANSWERED] == "2 van 5"


async def test_rapport_from_a_private_chat_answers_there(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 7, 12, 0))
    await harness.say("anna", "/rapport 1w", private=True)
    (report,) = [s for s in harness.recorder.sent if s.kind in ("report", "status", "error")]
    assert (report.kind, report.to) == ("report", "dm:anna")
    assert "31 dec 2025" not in report.text and "5 jan 2026 t/m 7 jan 2026" in report.text


async def test_only_trekker_and_procesbegeleider_get_reports(harness: Harness) -> None:
    for who in ("cem", "fleur"):
        only_error_for(await command(harness, who, "/rapport"), who)
        only_error_for(await command(harness, who, "/rapport groep"), who)
    assert "Dit mag alleen een trekker of procesbegeleider" in texts(harness)[-1]
    assert sent(harness, "report") == []
    assert [s.to for s in await command(harness, "bram", "/rapport")] == ["dm:bram", "group"]


async def test_a_bad_period_gets_a_clear_answer(harness: Harness) -> None:
    await harness.advance(local(2026, 3, 10, 12, 0))
    cases = {
        "/rapport morgenochtend": 'De periode "morgenochtend" begrijp ik niet. Schrijf bijvoorbeeld /rapport',
        "/rapport 2026-03-01 tot 2026-02-01": "De einddatum (1 feb 2026) ligt voor de begindatum (1 mrt 2026)",
        "/rapport 2027": "Die periode begint pas op 1 jan 2027",
        "/rapport 2025": "Toen was er nog geen netwerk: het begon op 5 jan 2026",
        "/rapport groep 12 apples": "begrijp ik niet",
    }
    for bad, message in cases.items():
        only_error_for(await command(harness, "anna", bad), "anna")
        assert message in texts(harness, "error")[-1], bad


def test_periods_a_trekker_would_type() -> None:
    today, started = date(2026, 5, 14), date(2025, 6, 2)

    def p(words: str) -> tuple[date, date]:
        period = parse_period(words, today, started, "nl")
        return period.start, period.end

    assert p("") == (date(2026, 4, 15), today)  # the last month up to today
    assert p("3m") == p("3 maanden") == p("afgelopen 3 maanden") == (date(2026, 2, 15), today)
    assert p("6w") == (date(2026, 4, 3), today) and p("10d") == (date(2026, 5, 5), today)
    assert p("maand") == (date(2026, 5, 1), today)
    assert p("2026-01-01 2026-03-31") == (date(2026, 1, 1), date(2026, 3, 31))  # two ISO dates are no phone number
    assert p("vorige maand") == p("last month") == p("2026-04") == p("april") == (date(2026, 4, 1), date(2026, 4, 30))
    assert p("kwartaal") == (date(2026, 4, 1), today)
    assert p("vorig kwartaal") == p("q1") == p("Q1 2026") == (date(2026, 1, 1), date(2026, 3, 31))
    assert p("jaar") == p("2026") == (date(2026, 1, 1), today)
    assert p("februari") == (date(2026, 2, 1), date(2026, 2, 28))
    assert p("juli") == (date(2025, 7, 1), date(2025, 7, 31))  # the latest July that has begun
    assert (
        p("2026-01-01 2026-03-31")
        == p("1-1 tot 31-3")
        == p("van 1 januari t/m 31 maart")
        == (date(2026, 1, 1), date(2026, 3, 31))
    )
    assert p("sinds 19 december") == (date(2025, 12, 19), today)
    clipped = parse_period("vorig jaar", today, started, "nl")
    assert (clipped.start, clipped.end, clipped.clipped) == (started, date(2025, 12, 31), True)
    for bad, key in (
        ("blah", "errors.report_period"),
        ("2026-13", "errors.report_period"),
        ("2026-03-31 2026-01-01", "errors.report_period_order"),
        ("2027", "errors.report_period_future"),
        ("2024", "errors.report_before_start"),
    ):
        try:
            parse_period(bad, today, started, "nl")
        except UserError as err:
            assert err.key == key, bad
        else:
            raise AssertionError(bad)
    try:
        parse_period("3j", date(2030, 1, 1), date(2026, 1, 1), "nl")
    except UserError as err:
        assert err.key == "errors.report_period_long" and err.params == {"months": 24}
    else:
        raise AssertionError("three years")


# ---------------------------------------------------------------------------- the files themselves
async def test_rendering_is_deterministic_and_the_page_escapes_what_people_typed(harness: Harness) -> None:
    await command(harness, "anna", "/besluit <script>alert(1)</script> & *vet* _schuin_ omdat <b>het kan</b>")
    await harness.advance(local(2026, 1, 9, 12, 0))
    async with harness.db.transaction() as s:
        net = await s.get(Network, (await network(harness)).id)
        data = await gather(s, net, Period(date(2026, 1, 5), date(2026, 1, 9)), harness.clock.now())
    first, second = render(data), render(data)
    assert first.png == second.png and first.pdf == second.pdf and first.html == second.html
    assert b"Software" not in first.png and b"matplotlib" not in first.png.lower()
    parsed = page(first.html.encode())
    assert (
        parsed.scripts == 0 and "<script>" not in first.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in first.html
    )
    assert "<script>alert(1)</script> & *vet* _schuin_" in page_text(first.html.encode())
    assert "<script>alert(1)</script> & *vet* _schuin_" in pdf_text(first.pdf)
    assert "http" not in re.sub(r'content="[^"]*"', "", first.html)  # self-contained: nothing fetched
    assert "@media print" in first.html and '<html lang="nl">' in first.html


def test_the_chart_fits_long_names_and_many_categories_the_same_every_time() -> None:
    """A long network name wraps, a long category name is cut with …, twenty categories get a
    smaller font: nothing is drawn in the image's outer edge, and the same input gives the same bytes."""
    import dataclasses

    from PIL import Image

    from bot.features.report.chart import ChartSpec, labels, render_png

    weeks = 30
    chart = ChartSpec(
        title="Lerend netwerk Armoede en Schulden in de regio Noord-Limburg en omstreken, met een lange naam",
        subtitle="5 jan 2026 t/m 27 jul 2026",
        week_labels=tuple(f"{i + 1} jan" for i in range(weeks)),
        questions=tuple(int(i % 5 != 2) for i in range(weeks)),
        answers=tuple((i * 3) % 9 for i in range(weeks)),
        answered=tuple((i * 2) % 7 for i in range(weeks)),
        members=tuple(8 + i // 6 for i in range(weeks)),
        categories=tuple(
            f"Onderdeel {i} met een heel erg lange naam die nooit naast de grafiek past" if i % 3 == 0 else f"Stap {i}"
            for i in range(20)
        ),
        families=tuple("aspect" if i < 12 else "kolb" for i in range(20)),
        category_answers=tuple((i * 7) % 23 for i in range(20)),
        category_questions=tuple(int(i % 4 != 1) for i in range(20)),
        labels=labels("nl"),
    )
    png = render_png(chart)
    assert png.startswith(PNG) and png == render_png(chart)
    assert b"Software" not in png and b"tEXt" not in png and b"tIME" not in png
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == (1000, 1000)
    for edge in ((0, 0, 1000, 4), (0, 996, 1000, 1000), (0, 0, 4, 1000), (996, 0, 1000, 1000)):
        assert image.crop(edge).getcolors() == [(4000, (255, 255, 255))], edge
    # a period without questions: the same canvas, with the note instead of bars
    empty = render_png(dataclasses.replace(chart, questions=(0,) * weeks, answers=(0,) * weeks))
    assert empty.startswith(PNG) and empty != png


def test_the_png_holds_exactly_the_drawn_pixels() -> None:
    """The chart's PNG (written by :mod:`bot.png`): Pillow reads every pixel back as drawn, and an
    image that is not RGB is refused rather than written wrongly."""
    from PIL import Image

    from bot.features.report.chart import encode

    image = Image.new("RGB", (7, 3), "white")
    image.putpixel((0, 0), (1, 2, 3))
    image.putpixel((6, 2), (250, 128, 0))
    png = encode(image)
    assert png.startswith(PNG) and png.endswith(b"IEND\xaeB`\x82")  # IEND's CRC is fixed
    back = Image.open(io.BytesIO(png))
    assert back.mode == "RGB" and back.size == (7, 3) and back.tobytes() == image.tobytes()
    with pytest.raises(ValueError):
        encode(Image.new("RGBA", (2, 2)))


def test_pdf_tables_and_paragraphs_keep_every_word_across_pages() -> None:
    """The PDF breaks paragraphs and one-line tables itself (fpdf2's multi_cell for the rest): a
    long table repeats its heading on every page, a cell too long for one line still shows whole."""
    from bot.features.report.document import Document, Para, Table
    from bot.features.report.pdf import render_pdf

    long_cell = " ".join(f"woord{i}" for i in range(60))
    rows = tuple((f"Rij {i}", str(i)) for i in range(80))
    doc = Document(
        "nl",
        "Titel",
        "Ondertitel",
        (
            Para(" ".join(f"zin{i}" for i in range(400))),
            Table(("Naam", "Aantal"), rows, (False, True), (3, 1)),
            Table(("Wat", "Aantal"), (("kort", "1"), (long_cell, "2")), (False, True), (3, 1)),
        ),
        "Voet",
    )
    png = render_png_for_test()
    words = pdf_text(render_pdf(doc, png, datetime(2026, 1, 1, tzinfo=UTC))).split()
    assert [w for w in words if w.startswith("zin")] == [f"zin{i}" for i in range(400)]
    assert [w for w in words if w.startswith("woord")] == [f"woord{i}" for i in range(60)]
    assert all(f"Rij {i} {i}" in " ".join(words) for i in range(80))
    assert words.count("Naam") >= 2  # the heading again at the top of the next page


def test_pdf_tables_with_cells_on_several_lines_look_as_fpdf2_draws_them(monkeypatch) -> None:  # noqa: ANN001
    """A table whose cells need more than one line (a long heading in a narrow column, long texts)
    is drawn by the report itself, line by line: every text at the same place as ``FPDF.table``
    puts it (the rows as high as their tallest cell, the other cells centred), across pages."""
    from bot.features.report import pdf
    from bot.features.report.document import Document, Para, Table

    def placed(data: bytes) -> list[tuple[str, str, bytes]]:
        found = []
        for m in re.finditer(rb"(?<!end)stream\r?\n", data):
            try:
                raw = zlib.decompressobj().decompress(data[m.end() : data.index(b"endstream", m.end())])
            except zlib.error:  # not compressed (metadata)
                continue
            if b"BT" in raw:
                text = rb"BT (\S+) (\S+) Td(?: \S+ g)? \(((?:\\.|[^\\)])*)\) Tj ET"
                found += [(f"{float(x):.1f}", f"{float(y):.1f}", t) for x, y, t in re.findall(text, raw)]
        return sorted(found)

    rows = tuple(
        (f"7 jan {i}", " ".join([f"een langere omschrijving van week {i}"] * (i % 3)), str(i), f"{i} van 12 leden")
        for i in range(40)
    )
    doc = Document(
        "nl",
        "Titel",
        "Ondertitel",
        (
            Para("Inleiding " * 200),
            Table(
                ("Week van", "Wat er gebeurde", "Leden die antwoordden", "Leden"),
                rows,
                (False, False, True, True),
                (3, 6, 2, 2),
            ),
        ),
        "Voet",
    )
    drawn = []
    real = pdf.simple_table
    monkeypatch.setattr(pdf, "simple_table", lambda *a: drawn.append(real(*a)) or drawn[-1])
    made = datetime(2026, 1, 1, tzinfo=UTC)
    ours = pdf.render_pdf(doc, render_png_for_test(), made)
    assert drawn == [True]
    monkeypatch.setattr(pdf, "simple_table", lambda *a: False)
    theirs = pdf.render_pdf(doc, render_png_for_test(), made)
    assert len(placed(ours)) > 150 and placed(ours) == placed(theirs)
    assert pdf_text(ours).count("Leden die") >= 2  # the heading (on two lines) again on the next page


def render_png_for_test() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (10, 10), "white").save(buf, format="PNG")
    return buf.getvalue()


def prepared_fonts_test_doc(extra: str = ""):  # noqa: ANN201
    from bot.features.report.document import Bullets, Document, Heading, Para, Table

    return Document(
        "nl",
        "Netwerk Café Zoë " + extra,
        "Ondertitel – ĳverig “Ελλάδα” Київ € 5 … № ™ → ≤ ✓",
        (
            Heading("Ça va, Łódź, Śląsk, Ærø, Ørsted, Şişli, Cluj-Napoca (ș ț)"),
            Para("Een alinea met ‘aanhalingstekens’ en een • opsomming · en e\u0301 (combinerend)"),
            Bullets(("één", "twee ½ × 3", "drie ♥ ★")),
            Table(("Wat", "Aantal"), (("Zoë’s idee", "1"), ("Ψυχή en душа", "2")), (False, True), (3, 1)),
            Para("Een citaat van een lid dat instemde.", "quote"),
        ),
        "Voet",
    )


def test_pdf_fonts_come_prepared_from_a_cache_and_give_the_same_pdf(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """fpdf2 reads a prepared copy of each DejaVu Sans file (its Latin, Greek and Cyrillic glyphs),
    made once and kept in the cache directory, instead of the whole file: the PDF is byte for byte
    the same. A document with a character outside the copies gets the whole files (and still shows
    it); a damaged copy in the cache is not used."""
    from bot.features.report import pdf

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(pdf, "_ready", {})
    made = datetime(2026, 1, 1, tzinfo=UTC)
    png = render_png_for_test()
    doc = prepared_fonts_test_doc()
    prepared = pdf.render_pdf(doc, png, made)
    cache = tmp_path / "bamboe" / "fonts"
    copies = sorted(cache.iterdir())
    assert sorted("-".join(c.name.split("-")[:-2]) for c in copies) == [
        "DejaVuSans",
        "DejaVuSans-Bold",
        "DejaVuSans-Oblique",
    ]
    assert all(c.stat().st_size < 200_000 for c in copies)  # the whole files: 630-760 kB
    assert "Ψυχή en душа" in pdf_text(prepared) and "Київ" in pdf_text(prepared)

    # a new process finds the copies and does not make them again
    monkeypatch.setattr(pdf, "_ready", {})
    monkeypatch.setattr(pdf, "_make", lambda source: pytest.fail(f"made {source} again"))
    assert pdf.render_pdf(doc, png, made) == prepared
    assert sorted(cache.iterdir()) == copies

    # the whole files give the same bytes
    monkeypatch.setattr(pdf, "_ready", {})
    monkeypatch.setattr(pdf, "_prepared", lambda: frozenset())
    assert pdf.render_pdf(doc, png, made) == prepared
    monkeypatch.undo()

    # a character the copies lack (an aeroplane): the whole files, the same as before this cache
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(pdf, "_ready", {})
    other = prepared_fonts_test_doc("✈")
    assert pdf.font_file("DejaVuSans.ttf", [ord("✈")]) == pdf.font_dir() / "DejaVuSans.ttf"
    assert "Netwerk Café Zoë ✈" in pdf_text(pdf.render_pdf(other, png, made))

    # a damaged copy is passed over: a good one is made again
    damaged = next(c for c in copies if c.name.split("-")[1] not in ("Bold", "Oblique"))
    damaged.write_bytes(damaged.read_bytes()[:1000])
    monkeypatch.setattr(pdf, "_ready", {})
    assert pdf.render_pdf(doc, png, made) == prepared
    assert damaged.stat().st_size > 1000


def test_pdf_fonts_without_a_writable_cache_directory(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """When the cache directory cannot be made, the prepared fonts go to a temporary directory of
    the process (removed at exit); the PDF is the same."""
    from bot.features.report import pdf

    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    monkeypatch.setattr(pdf, "_ready", {})
    made = datetime(2026, 1, 1, tzinfo=UTC)
    doc = prepared_fonts_test_doc()
    first = pdf.render_pdf(doc, render_png_for_test(), made)
    assert pdf._ready["DejaVuSans.ttf"].parent == pdf._private_dir()  # noqa: SLF001
    monkeypatch.setattr(pdf, "_ready", {})
    monkeypatch.setattr(pdf, "_prepared", lambda: frozenset())
    assert pdf.render_pdf(doc, render_png_for_test(), made) == first


async def test_names_people_wrote_in_the_networks_records_are_left_out(harness: Harness) -> None:
    await command(harness, "anna", "/besluit Cem en Dewi Santoso bezoeken de school omdat Els het voorstelde")
    await command(harness, "fleur", "/idee Anna nodigt de wethouder uit; Elske en cement blijven staan")
    (report, _) = await command(harness, "anna", "/rapport")
    f = files(report)
    for content in (page_text(f["html"]), pdf_text(f["pdf"])):
        assert "[naam] en [naam] bezoeken de school" in content and "[naam] het voorstelde" in content
        assert "[naam] nodigt de wethouder uit; Elske en cement blijven staan" in content  # whole words only
    assert_private(report)


async def test_a_network_in_english_gets_an_english_report(harness: Harness) -> None:
    await command(harness, "anna", "/netwerk taal en")
    await harness.advance(local(2026, 1, 7, 12, 0))
    await harness.say("cem", "Parents do not find their way to help.", reply_to="nudge")
    (report, _) = await command(harness, "anna", "/report")
    f = files(report)
    assert report.files[0][0] == "bamboe-report-lerend-netwerk-test-2026-01-05-2026-01-07.png"
    words = page_text(f["html"])
    assert '<html lang="en">' in f["html"].decode() and "Participation per week" in words
    assert "5 Jan 2026 to 7 Jan 2026" in words and "Weekly questions asked 1" in pdf_text(f["pdf"])
    assert "There are no quotes in this report" in words  # cem did not consent
    assert "Report Lerend netwerk Test" in report.text and "Answers" in words


# ---------------------------------------------------------------------------- the monthly report
async def test_monthly_report_on_the_first_working_day_to_the_trekker_until_switched_off(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 11, 0))
    await harness.say("dewi", "Ouders en school praten te weinig samen.", reply_to="nudge")
    await harness.advance(local(2026, 3, 3, 12, 0))
    reports = sent(harness, "report")
    # 2 February and 2 March 2026 are Mondays; only the trekker gets it, privately
    assert [(at_local(s), s.to) for s in reports] == [
        (local(2026, 2, 2, 9, 0), "dm:anna"),
        (local(2026, 3, 2, 9, 0), "dm:anna"),
    ]
    january, february = reports
    assert "Maandrapport Lerend netwerk Test" in january.text and "5 jan 2026 t/m 31 jan 2026" in january.text
    assert "februari 2026" in february.text and "/ritme rapport uit" in february.text
    assert summary_table(files(january)["html"])["Antwoorden op de weekvragen"] == "1"
    assert all(sorted(files(s)) == ["html", "pdf", "png"] for s in reports)

    await command(harness, "bram", "/ritme")
    assert "Maandrapport: privé naar de trekker, op de eerste werkdag van de maand om 09:00" in texts(harness)[-1]
    assert "Volgende maandrapport: wo 1 apr 2026 09:00" in texts(harness)[-1]
    only_error_for(await command(harness, "cem", "/ritme rapport uit"), "cem")
    replies = await command(harness, "bram", "/ritme rapport uit")
    assert [(s.kind, s.visible_to) for s in replies] == [("status", "bram")]
    assert (await network(harness)).report_day is None
    assert await rows(harness, Job, Job.kind == "report", Job.state == "pending") == []
    await harness.advance(local(2026, 5, 5, 12, 0))
    assert len(sent(harness, "report")) == 2
    await command(harness, "anna", "/ritme")
    assert "Het maandrapport staat uit" in texts(harness)[-1]
    await command(harness, "anna", "/ritme rapport aan")
    assert "Het volgende: ma 1 jun 2026 09:00" in texts(harness)[-1]  # May's report


async def test_monthly_report_day_and_time_can_change_and_weekends_are_skipped(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 11, 0))
    await harness.say("els", "Samen met ouders zoeken werkt beter.", reply_to="nudge")
    replies = await command(harness, "anna", "/ritme rapport 15 08:30")
    assert "vanaf dag 15 van de maand om 08:30" in texts(harness)[-1]
    assert "ma 16 feb 2026 08:30" in texts(harness)[-1] and replies[0].visible_to == "anna"
    for bad in ("/ritme rapport 31", "/ritme rapport 0", "/ritme rapport 15 23:30", "/ritme rapport vaak"):
        only_error_for(await command(harness, "anna", bad), "anna")
    await harness.advance(local(2026, 2, 17, 12, 0))
    (report,) = sent(harness, "report")
    assert at_local(report) == local(2026, 2, 16, 8, 30)  # 15 February 2026 is a Sunday
    assert "5 jan 2026 t/m 31 jan 2026" in report.text


async def test_a_quiet_month_sends_no_monthly_report(harness: Harness) -> None:
    await command(harness, "anna", "/ritme reflectie uit")
    await harness.advance(local(2026, 2, 3, 12, 0))
    assert sent(harness, "report") == []
    (job,) = await rows(harness, Job, Job.kind == "report", Job.state == "pending")
    assert job.payload == {"month": "2026-02"} and job.due_at == local(2026, 3, 2, 9, 0)


def test_report_day_skips_weekends_and_dutch_public_holidays() -> None:
    net = Network(
        timezone="Europe/Amsterdam",
        quiet_start="22:00",
        quiet_end="07:00",
        quiet_weekends=True,
        report_day=1,
        report_time="09:00",
    )
    assert report_due(net, date(2027, 1, 1)) == local(2027, 1, 4, 9, 0)  # New Year (Friday), the weekend
    assert report_due(net, date(2026, 8, 1)) == local(2026, 8, 3, 9, 0)  # Saturday
    net.report_day = 6
    assert report_due(net, date(2026, 4, 1)) == local(2026, 4, 7, 9, 0)  # Easter Monday 2026


async def test_networks_from_before_reports_get_their_monthly_report_planned(harness: Harness) -> None:
    async with harness.db.transaction() as s:
        await s.execute(delete(Job).where(Job.kind == "report"))
    await harness.advance(local(2026, 1, 13, 12, 0))  # the first harvest (with the second weekly question)
    (job,) = await rows(harness, Job, Job.kind == "report")
    assert job.due_at == local(2026, 2, 2, 9, 0) and job.key.endswith(":2026-01")


async def test_existing_networks_get_the_default_from_the_migration(tmp_path) -> None:
    engine = create_engine(sqlite_url_for(tmp_path / "old.sqlite3"))
    try:
        await upgrade(engine, "0006")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO networks (name, intention, ambition, language, timezone, quiet_start, quiet_end, "
                    "quiet_weekends, nudge_weekday, nudge_time, reminder_hours, goal_weeks, intention_weeks, theme, "
                    "theme_month, group_goal, nudge_count, created_at) VALUES ('Oud', '', '', 'nl', 'Europe/Amsterdam', "
                    "'22:00', '07:00', 1, 1, '10:00', 48, 4, 6, '', '', '', 0, :now)"
                ),
                {"now": datetime.now(UTC)},
            )
        await upgrade(engine)
        async with engine.begin() as conn:
            assert (await conn.execute(text("SELECT report_day, report_time FROM networks"))).one() == (1, "09:00")
    finally:
        await engine.dispose()


async def test_rendering_logs_no_text(harness: Harness, caplog) -> None:  # noqa: ANN001
    caplog.set_level("DEBUG")
    await command(harness, "anna", "/netwerk naam Netwerk Zwanenburg")
    await harness.say("els", "/privacy citeren ja")
    await harness.advance(local(2026, 1, 6, 11, 0))
    await harness.say("els", "Het gesprek met familie Zwanenburg 🎉 ging goed.", reply_to="nudge")
    await command(harness, "anna", "/besluit Zwanenburg 😀 wordt ons voorbeeld omdat het werkt")
    (report, _) = await command(harness, "anna", "/rapport")
    assert "Zwanenburg 🎉 ging goed" in page_text(files(report)["html"])
    assert "Zwanenburg ging goed" in pdf_text(files(report)["pdf"])  # the PDF's font has no emoji: left out
    leaks = [
        (r.name, r.getMessage()[:80])
        for r in caplog.records
        if "Zwanenburg" in r.getMessage() or "🎉" in r.getMessage() or "😀" in r.getMessage()
    ]
    assert leaks == []


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_files_texts_name_no_command(lang: str) -> None:
    """The chart, page and PDF are read outside any chat, perhaps by someone on another platform:
    their texts name no command (a chat message would render it the way its platform types it)."""
    from bot import i18n

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    for part in ("doc", "chart", "milestone"):
        found = [s for s in strings(i18n.raw(lang, f"report.{part}")) if "⟦" in s]
        assert found == [], f"report.{part} names a command: {found}"
