"""An English-speaking network's season, read the way its members read it.

``examples/season-english.yaml`` runs ten weeks of a network with ``language: en`` through
``bamboe simulate``'s runner: weekly questions, two sessions, an action-learning round, an
announcement, a celebration, a newcomer, a break, ``/status`` and two monthly reports. The tests
read what the bot sent: English command names only, English buttons, no Dutch words, and the
message budget kept as in the Dutch season (tests/test_budget.py).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from functools import cache
from pathlib import Path

from adapters.console import simulate
from bamboe.features import FEATURES
from bot import budget
from tests.conftest import local, texts
from tests.test_budget import measure

SEASON = Path(__file__).parent.parent / "examples" / "season-english.yaml"
SESSIONS = [("2026-09-30T14:00", "2026-09-30T16:00"), ("2026-11-04T19:00", "2026-11-04T21:00")]
#: Dutch words for the things the bot talks about (docs/voice.md's word list), none of which an
#: English network should read
DUTCH = ("trekker", "procesbegeleider", "deelnemer", "bijeenkomst", "weekvraag", "oogst", "inbreng",
         "mededeling", "casus", "actieleren", "penvoerder", "vieren", "leerdoel", "gelezen", "klaar")


@cache
def transcript(path: Path = SEASON) -> tuple[dict, ...]:
    out = io.StringIO()
    asyncio.run(simulate.run(simulate.load(path.read_text(encoding="utf-8")), database_url=None, out=out))
    return tuple(json.loads(line) for line in out.getvalue().splitlines())


def dutch_command_names() -> set[str]:
    """The Dutch names of the commands that have an English one."""
    return {c.name for f in FEATURES for c in f.commands if c.shown("en") != c.name}


def test_the_season_runs_to_its_end_with_every_part():
    lines = transcript()
    kinds = {k for x in lines for k in (x["kind"], *x.get("merged", []))}
    assert {"session", "nudge", "harvest", "reminder", "actieleren", "action_followup", "announcement",
            "celebrate", "newcomer_briefing", "report", "status", "digest", "after_session_question"} <= kinds
    assert [x["to"] for x in lines if x["kind"] == "report"] == ["dm:maya", "dm:maya"]
    assert sorted({x["step"] for x in lines if x["kind"] == "actieleren" and "step" in x}) == [1, 2, 3, 4, 5]
    assert lines[-1]["text"].startswith("📊 Status of Learning network Youth and Debt Eindhoven")


def test_an_english_network_reads_english_command_names_and_buttons_only():
    dutch = dutch_command_names()
    for line in transcript():
        for name in re.findall(r"(?<![\w/])/([a-z]+)", line["text"]):
            assert name not in dutch, (name, line["text"])
        low = line["text"].lower()
        for word in DUTCH:
            assert not re.search(rf"\b{word}\b", low), (word, line["text"])
    buttons = {b for x in transcript() for b in x["buttons"]}
    assert buttons == {"I'll bring a case", "Read", "Done", "Still going"}


def test_the_english_season_keeps_the_message_budget():
    lines = transcript()
    fig = measure(list(lines), members=9, weeks=10, session_times=SESSIONS)
    for key, count in fig.posts_per_week.items():
        assert count <= (budget.SESSION_WEEK if key in fig.session_weeks else budget.ORDINARY_WEEK), (key, count)
    assert fig.close_pairs == 0 and fig.before_session == 0
    assert fig.private_per_member_week <= budget.PRIVATE_PER_MEMBER


# ---------------------------------------------------------------------------- dates
async def test_dates_in_lines_and_lists_are_written_the_english_way(harness):
    await harness.say("anna", "/netwerk taal en")
    await harness.say("anna", "/idea we invite the police officer")
    await harness.say("cem", "/celebrate we got a room")
    await harness.say("anna", "/action Cem calls the school by 2026-02-17")
    await harness.say("anna", "/action Cem calls the school by 2026-01-02")
    await harness.say("anna", "/log")
    await harness.say("cem", "/celebrate")
    await harness.advance(local(2026, 1, 7, 14, 0))
    await harness.say("bram", "/actionlearning Cem")
    await harness.say("bram", "/stop")
    await harness.say("bram", "/rounds")
    await harness.say("bram", "/round 1")
    await harness.advance(local(2026, 1, 14, 9, 0))
    await harness.say("anna", "/status")
    sent = texts(harness)
    assert any("Action 1: Cem Yilmaz: calls the school, by 17 Feb 2026 (open)" in t for t in sent)
    assert "2 Jan 2026 has already passed. Choose a moment still to come." in sent
    assert any("💡 1. 5 Jan idea from Anna de Vries" in t for t in sent)
    assert any("• 5 Jan Cem Yilmaz: we got a room" in t for t in sent)
    assert any("1. 7 Jan 2026 · Cem Yilmaz" in t for t in sent)
    assert any(t.startswith("🔄 Round 1 · 7 Jan 2026 · Cem Yilmaz's case") for t in sent)
    assert any("• Participation in the weekly question: 6 Jan: 0 of 6, 13 Jan: 0 of 6." in t for t in sent)
    assert not [t for t in sent if re.search(r"(?<![:\d])\d\d?-\d\d(?![:\d])", t)]


async def test_dutch_dates_stay_in_figures(harness):
    await harness.say("anna", "/actie Cem belt de school voor 2026-02-17")
    await harness.say("cem", "/vier we hebben een zaal")
    await harness.say("cem", "/vier")
    sent = texts(harness)
    assert any("Actie 1: Cem Yilmaz: belt de school, uiterlijk 17-02-2026 (loopt)" in t for t in sent)
    assert any("• 05-01 Cem Yilmaz: we hebben een zaal" in t for t in sent)


# ---------------------------------------------------------------------------- the report
async def test_the_report_reads_naturally_in_english(harness):
    from tests.test_report import files, page_text
    from tests.test_rhythm import command

    await command(harness, "anna", "/netwerk taal en")
    await harness.say("bram", "/question add What did you learn from a student this month?")
    await harness.advance(local(2026, 1, 6, 11, 0))
    for who in ("cem", "dewi", "els"):
        await harness.say(who, "Students ask for help late.", reply_to="nudge")
    await harness.say("cem", "/celebrate the school called back")
    await harness.advance(local(2026, 1, 13, 11, 0))
    await harness.say("dewi", "Parents help each other.", reply_to="nudge")
    (report, _) = await command(harness, "anna", "/report")
    assert "· average participation per week: " in report.text and "taking part" not in report.text
    words = page_text(files(report)["html"])
    assert "There was also 1 other weekly question: about learning together as a team, or an own question" in words
    assert "1 of these is not shown here, because the writer did not agree to be quoted. It does count." in words
    assert "Part Type Questions Answers" in words


# ---------------------------------------------------------------------------- what I keep about you
async def test_the_export_file_has_an_english_name(harness):
    await harness.say("anna", "/netwerk taal en")
    await harness.say("cem", "/mydata", private=True)
    (export,) = [s for s in harness.recorder.sent if s.kind == "privacy" and s.to == "dm:cem"]
    assert [name for name, _, _ in export.files] == ["bamboe-my-data-2026-01-05.json"]
    await harness.say("anna", "/network language nl")
    await harness.say("cem", "/mijngegevens", private=True)
    assert harness.recorder.sent[-1].files[0][0] == "bamboe-mijn-gegevens-2026-01-05.json"


# ---------------------------------------------------------------------------- wording
async def test_roles_and_the_rhythm_read_naturally_in_english(harness):
    await harness.say("anna", "/netwerk taal en")
    await harness.say("anna", "/role Cem facilitator")
    await harness.say("anna", "/role Cem member")
    await harness.say("anna", "/rhythm celebrate fri 15:00 2")
    await harness.say("anna", "/rhythm")
    sent = texts(harness)
    assert "Cem Yilmaz's role is now: facilitator." in sent and "Cem Yilmaz's role is now: member." in sent
    assert any(t.startswith("Anna de Vries changed the invitation to celebrate: every 2 weeks on Friday") for t in sent)
    rhythm = sent[-1]
    assert "• Next question about the intention: " in rhythm and "Next back to" not in rhythm


def test_texts_that_read_stiffly_were_rewritten():
    from bot import i18n
    from bot.markup import plain

    def en(key, **params):
        return plain(i18n.t("en", key, **params))

    assert en("rounds.next_too_soon", step=3) == ("Time was just up, so step 3 has already started: that way no step "
                                                 "is skipped. Still want to move on? Then type /next again in a moment.")
    assert "falls at the weekend" in en("toolkit.announcement_planned_weekend", nr=1, date="Mon 7 Sep 2026",
                                        time="09:00", asked="Sat 5 Sep 2026 10:00")
    assert "meetings" not in en("teams.app.short") + en("teams.app.full")
    assert plain(i18n.vary("en", "rhythm.goal_private", 1, goal="Listen")).count("noticed about it") == 1
    assert en("budget.kinds.intention_prompt") == "the question about the intention"
    assert "Too busy right now?" in plain(i18n.vary("en", "rhythm.reminder", 0, name="Cem"))
    assert en("rounds.record_questions", count=0, themes=en("rounds.no_themes")) == (
        "Questions: 0 open questions. What came up: nothing that several questions shared.")
    assert en("warm.ms_action_ask", name="Cem") == "That is worth celebrating! Cem, what came of it?"
    assert "A few points are enough." in en("help.commands.inbreng.usage")  # was "A few points is enough"


def test_the_season_writes_no_date_in_figures():
    for line in transcript():
        assert not re.search(r"(?<![:\d])\d\d?-\d\d(?![:\d])", line["text"]), line["text"]


# ---------------------------------------------------------------------------- counts
async def test_one_month_and_one_member_are_singular_in_both_languages(harness):
    from bot.features.report.document import text

    await harness.say("anna", "/privacy bewaartermijn 1")
    await harness.say("anna", "/privacy")
    await harness.say("anna", "/netwerk taal en")
    await harness.say("anna", "/privacy retention 1")
    await harness.say("anna", "/privacy")
    sent = texts(harness)
    assert "🔒 Anna de Vries heeft de bewaartermijn op 1 maand gezet." in sent[0]
    assert "Antwoorden en berichten bewaar ik 1 maand." in sent[1]
    assert "🔒 Anna de Vries set the retention period to 1 month." in sent[3]
    assert "I keep answers and messages for 1 month." in sent[4]
    assert text("en", "doc.size_small", size=1, count=1, min=5).startswith(
        "At the end of the period the network had 1 member.")
    assert text("nl", "doc.size_small", size=1, count=1, min=5).startswith(
        "Aan het eind van de periode had het netwerk 1 lid.")
    assert "Answers in total: 1; weekly questions: 1." in text("en", "doc.chart_alt", answers=1, questions=1)


# ---------------------------------------------------------------------------- the other language's commands
async def test_a_command_in_the_other_language_works_and_is_answered_in_the_networks_language(harness):
    await harness.say("cem", "/pause 1w")  # English in a Dutch network
    await harness.say("cem", "/help session")
    await harness.say("anna", "/network language en")
    await harness.say("dewi", "/pauze 1w")  # Dutch in an English network
    await harness.say("dewi", "/help bijeenkomst")
    await harness.say("dewi", "/privacy citeren ja")
    sent = texts(harness)
    assert sent[0].startswith("Je hebt pauze tot ma 12 jan 2026 08:00.") and sent[0].endswith("Eerder terug? /pauze uit.")
    assert sent[1].startswith("/bijeenkomst laat de geplande bijeenkomsten zien.")
    assert sent[3].startswith("You are on a break until Mon 12 Jan 2026 08:00.") and sent[3].endswith("/pause off.")
    assert sent[4].startswith("/session shows the planned sessions.")
    assert sent[5].startswith("🔒 Noted: I may quote your answers")


async def test_a_held_announcement_says_on_which_day_it_goes_out(harness):
    await harness.say("anna", "/netwerk taal en")
    await harness.advance(local(2026, 1, 6, 23, 10))
    await harness.say("anna", "/announce Don't forget your input for next week!")
    await harness.say("anna", "/announce at 2026-01-10 09:00 Weekend news")
    sent = texts(harness)
    assert "📣 These are quiet hours. I will post announcement 1 on Wed 7 Jan 2026 at 07:00." in sent
    assert any(t.startswith("📣 Announcement 2 goes to the group on Mon 12 Jan 2026 at 07:00, because Sat 10 Jan 2026 "
                            "09:00 falls at the weekend") for t in sent)
