"""Bad input in numbered subcommands, due dates and empty-looking text (review 1): a specific answer
in the member's language, and nothing stored."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from adapters.console.harness import Harness, Sent
from bot.cleaning import clean_text
from bot.core import split_command
from bot.events import ButtonPress
from bot.markup import plain
from bot.models import (
    Action,
    Announcement,
    Celebration,
    CustomQuestion,
    Job,
    LogEntry,
    Meeting,
    Member,
    Network,
    Round,
)
from bot.parsing import number, take_date
from bot.privacy import mask
from tests.conftest import AMS
from tests.test_rhythm import command, network, only_error_for, rows

# the harness starts on Monday 5 January 2026
TODAY = date(2026, 1, 5)
ZWSP, ZWNJ, ZWJ = "\u200b", "\u200c", "\u200d"


async def english(h: Harness) -> None:
    await h.say("anna", "/network language en")


async def followups(h: Harness) -> list[Job]:
    return await rows(h, Job, Job.kind == "action_followup")


def error_text(replies: list, who: str) -> str:
    only_error_for(replies, who)
    return plain(replies[0].text)


# ---------------------------------------------------------------------------- 1. due dates
@pytest.mark.parametrize("line, answer", [
    ("/actie iets doen voor 2026-02-30", 'De datum "2026-02-30" klopt niet.'),
    ("/actie iets doen voor 30 februari", 'De datum "30 februari" klopt niet.'),
    ("/actie iets doen voor gisteren", "04-01-2026 is al voorbij."),
    ("/actie iets doen voor 2025-01-01", "01-01-2025 is al voorbij."),
    ("/actie iets doen over 500 dagen", 'De datum "over 500 dagen" klopt niet.'),
])
async def test_a_wrong_due_date_is_refused_and_nothing_stored(harness: Harness, line: str, answer: str) -> None:
    assert answer in error_text(await command(harness, "cem", line), "cem")
    assert await rows(harness, Action) == [] and await followups(harness) == []


@pytest.mark.parametrize("line, answer", [
    ("/action call the school by 2026-02-30", 'The date "2026-02-30" isn\'t right.'),
    ("/action call the school by yesterday", "4 Jan 2026 has already passed."),
])
async def test_a_wrong_due_date_is_refused_in_english(harness: Harness, line: str, answer: str) -> None:
    await english(harness)
    assert answer in error_text(await command(harness, "cem", line), "cem")
    assert await rows(harness, Action) == [] and await followups(harness) == []


@pytest.mark.parametrize("line, text, due", [
    ("/actie Cem belt de school voor 17 februari", "belt de school", date(2026, 2, 17)),
    ("/actie Cem belt de school voor vrijdag", "belt de school", date(2026, 1, 9)),
    ("/actie Cem belt de school voor maandag", "belt de school", date(2026, 1, 12)),  # today is Monday
    ("/actie Cem belt de school binnen 2 weken", "belt de school", date(2026, 1, 19)),
    ("/actie Cem belt de school over 2 weken", "belt de school", date(2026, 1, 19)),
    ("/actie Cem belt de school voor over 2 weken", "belt de school", date(2026, 1, 19)),
    ("/actie Cem belt de school voor ２０-１-２０２６", "belt de school", date(2026, 1, 20)),
    ("/action Cem calls the school in 2 weeks", "calls the school", date(2026, 1, 19)),
    ("/action Cem calls the school by Friday", "calls the school", date(2026, 1, 9)),
    ("/action Cem calls the school within a week", "calls the school", date(2026, 1, 12)),
    ("/action Cem calls the school by 2026-02-03", "calls the school", date(2026, 2, 3)),
])
async def test_natural_due_dates(harness: Harness, line: str, text: str, due: date) -> None:
    (reply,) = await command(harness, "anna", line)
    (action,) = await rows(harness, Action)
    assert (action.text, action.due_date) == (text, due)
    assert "Op de afgesproken dag vraag ik hoe het ging." in plain(reply.text)
    (job,) = await followups(harness)
    assert job.due_at.astimezone(AMS).date() == due


async def test_voor_without_a_date_stays_text(harness: Harness) -> None:
    """``voor`` is an ordinary word too: "voor de kinderen", "voor 3 kinderen" are no date."""
    await command(harness, "cem", "/actie Ik zoek een school voor 3 kinderen")
    (action,) = await rows(harness, Action)
    assert (action.text, action.due_date) == ("Ik zoek een school voor 3 kinderen", None)


async def test_an_action_without_a_date_promises_no_agreed_day(harness: Harness) -> None:
    (reply,) = await command(harness, "cem", "/actie Ik bel de school")
    text = plain(reply.text)
    assert "afgesproken dag" not in text
    # no session planned: the follow-up comes after two weeks, and the answer says so
    assert "Er staat geen datum bij. Op ma 19 jan 2026 vraag ik hoe het ging." in text
    (action,) = await rows(harness, Action)
    assert action.due_date is None
    (job,) = await followups(harness)
    assert job.due_at.astimezone(AMS).date() == date(2026, 1, 19)


async def test_an_action_without_a_date_in_english(harness: Harness) -> None:
    await english(harness)
    (reply,) = await command(harness, "cem", "/action call the school")
    text = plain(reply.text)
    assert "agreed day" not in text
    assert "There is no date with it. On Mon 19 Jan 2026 I'll ask how it went." in text


def test_the_example_texts_are_natural() -> None:
    from bot import i18n

    en = i18n.t("en", "help.commands.actie.usage") + i18n.t("en", "rounds.step4", bringer="Cem", first="Cem", timebox="")
    nl = i18n.t("nl", "help.commands.actie.usage") + i18n.t("nl", "rounds.step4", bringer="Cem", first="Cem", timebox="")
    assert "by in" not in en and "in 2 weeks" in en and "by Friday" in en
    assert "voor over" not in nl and "binnen 2 weken" in nl and "voor vrijdag" in nl


def test_take_date_relative_words() -> None:
    assert take_date(["binnen", "een", "week"], TODAY) == (date(2026, 1, 12), 3)
    assert take_date(["gisteren"], TODAY) == (date(2026, 1, 4), 1)


# ---------------------------------------------------------------------------- 2. empty content
@pytest.mark.parametrize("invisible", [ZWSP, ZWJ + ZWNJ + ZWSP, "\u2060", "\ufeff", " \u00ad ", "\u3164"])
def test_invisible_only_text_is_empty(invisible: str) -> None:
    assert clean_text(f"/vier {invisible}").strip() == "/vier"
    assert clean_text(invisible).strip() == ""


def test_joiners_between_visible_characters_stay() -> None:
    family = "👩" + ZWJ + "👧"
    persian = "می" + ZWNJ + "خواهم"
    assert clean_text(f"/vier {family} {persian}") == f"/vier {family} {persian}"


async def test_invisible_celebration_idea_and_goal_store_nothing(harness: Harness) -> None:
    (reply,) = await command(harness, "cem", f"/vier {ZWSP}")
    assert "Er is nog niets gevierd." in plain(reply.text)  # as /vier without text
    (reply,) = await command(harness, "cem", f"/idee {ZWJ}{ZWNJ}{ZWSP}")
    assert "Het logboek is nog leeg." in plain(reply.text)
    (reply,) = await command(harness, "cem", f"/leerdoel {ZWSP}")
    assert "(nog niet ingevuld)" in plain(reply.text) and "genoteerd" not in plain(reply.text)
    assert not [s for s in harness.recorder.sent if s.kind in ("celebration", "idea")]
    assert await rows(harness, Celebration) == [] and await rows(harness, LogEntry) == []
    (cem,) = await rows(harness, Member, Member.user_id == "cem")
    assert not cem.goal


async def test_invisible_celebration_in_english(harness: Harness) -> None:
    await english(harness)
    (reply,) = await command(harness, "cem", f"/celebrate {ZWSP}")
    assert "Nothing has been celebrated yet" in plain(reply.text)
    assert await rows(harness, Celebration) == []


@pytest.mark.parametrize("line", ["/besluit omdat", "/besluit omdat ouders het vroegen", "/besluit want het moet"])
async def test_a_reason_without_a_decision(harness: Harness, line: str) -> None:
    text = error_text(await command(harness, "anna", line), "anna")
    assert text.startswith("Ik zie een reden, maar nog geen besluit.")
    assert await rows(harness, LogEntry) == []


async def test_a_reason_without_a_decision_in_english(harness: Harness) -> None:
    await english(harness)
    text = error_text(await command(harness, "anna", "/decision because parents asked"), "anna")
    assert text.startswith("I see a reason, but no decision yet.")
    assert await rows(harness, LogEntry) == []


async def test_a_decision_with_its_reason_still_works(harness: Harness) -> None:
    await command(harness, "anna", "/besluit We bezoeken twee scholen omdat ouders daarom vroegen")
    (entry,) = await rows(harness, LogEntry)
    assert (entry.text, entry.reason) == ("We bezoeken twee scholen", "omdat ouders daarom vroegen")


# ---------------------------------------------------------------------------- 3. digits of any script
@pytest.mark.parametrize("token, value", [("٦", 6), ("６", 6), ("١٢", 12), ("12", 12), ("²", None), ("①", None)])
def test_number_takes_decimal_digits_of_any_script(token: str, value: int | None) -> None:
    assert number(token) == value


async def test_idea_and_action_by_non_ascii_number(harness: Harness) -> None:
    await command(harness, "cem", "/idee We nodigen de wijkagent uit")
    (reply,) = await command(harness, "anna", "/idee ١ gekozen")
    assert "Idee 1 is gekozen" in plain(reply.text)
    (idea,) = await rows(harness, LogEntry)
    assert (idea.nr, idea.status) == (1, "chosen")
    await command(harness, "cem", "/actie Ik bel de school")
    await command(harness, "cem", "/actie Ik mail de wijkagent")
    (reply,) = await command(harness, "cem", "/actie ２ klaar")
    assert "Ik mail de wijkagent" in plain(reply.text)
    actions = await rows(harness, Action, order=Action.nr)
    assert [(a.nr, a.text, a.state) for a in actions] == [
        (1, "Ik bel de school", "open"), (2, "Ik mail de wijkagent", "done")]


async def test_retention_by_non_ascii_number(harness: Harness) -> None:
    (reply,) = await command(harness, "anna", "/privacy bewaartermijn ٦")
    assert "6 maanden" in plain(reply.text)
    async with harness.db.transaction() as s:
        assert (await s.scalar(select(Network.retention_months))) == 6


async def test_action_by_non_ascii_number_in_english(harness: Harness) -> None:
    await english(harness)
    await command(harness, "cem", "/action call the school")
    await command(harness, "cem", "/action ١ done")
    (action,) = await rows(harness, Action)
    assert (action.text, action.state) == ("call the school", "done")


# ---------------------------------------------------------------------------- 4. timebox
@pytest.mark.parametrize("timebox", ["99999999m", "0m", "121", "٩٩٩٩m"])
async def test_a_timebox_out_of_range(harness: Harness, timebox: str) -> None:
    text = error_text(await command(harness, "anna", f"/actieleren Cem {timebox}"), "anna")
    assert text.startswith("Een stap duurt 1 tot 120 minuten.")
    assert await rows(harness, Round) == []


async def test_a_timebox_out_of_range_in_english(harness: Harness) -> None:
    await english(harness)
    text = error_text(await command(harness, "anna", "/actionlearning Cem 99999999m"), "anna")
    assert text.startswith("A step takes 1 to 120 minutes.")
    assert await rows(harness, Round) == []


@pytest.mark.parametrize("timebox", ["-5m", "1,5m", "1.5 minuten", "500 minuten", "+10"])
async def test_a_timebox_with_a_sign_a_decimal_or_in_words_out_of_range(harness: Harness, timebox: str) -> None:
    """It was "Ik vind niemand met de naam "Cem 1,5m" in dit netwerk"."""
    text = error_text(await command(harness, "anna", f"/actieleren Cem {timebox}"), "anna")
    assert text.startswith("Een stap duurt 1 tot 120 minuten.")
    assert await rows(harness, Round) == []


@pytest.mark.parametrize("line, minutes", [
    ("/actieleren Cem 10 minuten", 10), ("/actieleren Cem Yilmaz 10 min", 10), ("/actieleren Cem 1 minuut", 1),
    ("/actionlearning Cem 15 minutes", 15), ("/actieleren Cem ١٠ minuten", 10),
])
async def test_a_timebox_in_words(harness: Harness, line: str, minutes: int) -> None:
    """Minutes written out, as the step says them ("Deze stap duurt 10 minuten"), were read as part
    of the name: "Ik vind niemand met de naam "Cem 10 minuten" in dit netwerk"."""
    (reply,) = await command(harness, "anna", line)
    assert reply.kind == "actieleren"
    (rnd,) = await rows(harness, Round)
    cem = (await rows(harness, Member, Member.user_id == "cem"))[0]
    assert (rnd.timebox_minutes, rnd.bringer_id) == (minutes, cem.id)


async def test_a_timebox_in_words_in_english(harness: Harness) -> None:
    await english(harness)
    text = error_text(await command(harness, "anna", "/actionlearning Cem 1.5 minutes"), "anna")
    assert text.startswith("A step takes 1 to 120 minutes.")
    assert await rows(harness, Round) == []


async def test_a_timebox_in_arabic_digits(harness: Harness) -> None:
    await command(harness, "anna", "/actieleren Cem ١٠m")
    (rnd,) = await rows(harness, Round)
    assert rnd.timebox_minutes == 10


# ---------------------------------------------------------------------------- 5. marking an idea
async def test_a_participant_cannot_mark_an_idea(harness: Harness) -> None:
    await command(harness, "cem", "/idee We nodigen de wijkagent uit")
    text = error_text(await command(harness, "cem", "/idee 1 gekozen"), "cem")
    assert text.startswith("Een idee op gekozen of niet gekozen zetten doen de trekker of de penvoerder.")
    assert "besluit" not in text.lower()
    (idea,) = await rows(harness, LogEntry)
    assert idea.status != "chosen"
    await command(harness, "anna", "/penvoerder Cem")  # the penvoerder may
    await command(harness, "cem", "/idee 1 niet gekozen We doen eerst de scholen")
    (idea,) = await rows(harness, LogEntry)
    assert idea.status == "not_chosen"


async def test_a_participant_cannot_mark_an_idea_in_english(harness: Harness) -> None:
    await english(harness)
    await command(harness, "cem", "/idea We invite the police officer")
    text = error_text(await command(harness, "cem", "/idea 1 chosen"), "cem")
    assert text.startswith("Marking an idea as chosen or not chosen is for the lead or the decision-maker.")
    (idea,) = await rows(harness, LogEntry)
    assert idea.status != "chosen"


async def test_pause_with_full_width_digits(harness: Harness) -> None:
    (reply,) = await command(harness, "cem", "/pauze ２w")
    assert plain(reply.text).startswith("Je hebt pauze tot ma 19 jan 2026 08:00.")
    (cem,) = await rows(harness, Member, Member.user_id == "cem")
    assert cem.paused_until is not None


# ---------------------------------------------------------------------------- 6. the command's end (review 2)
@pytest.mark.parametrize("line", ["/vier\nWe hadden een goed gesprek met de school",
                                  "/vier\u00a0We hadden een goed gesprek met de school",
                                  "/vier\tWe hadden een goed gesprek met de school"])
async def test_a_command_ends_at_a_new_line_or_any_space(harness: Harness, line: str) -> None:
    """A phone puts the text of ``/vier`` on the next line, or after a no-break space: it is still
    ``/vier`` (it was "Het commando ⟦vier\\nwe⟧ ken ik niet", the reference's markers showing)."""
    (reply,) = await command(harness, "cem", line)
    assert reply.kind == "celebrate"
    assert plain(reply.text) == "🎉 Cem Yilmaz viert: We hadden een goed gesprek met de school"
    (row,) = await rows(harness, Celebration)
    assert row.text == "We hadden een goed gesprek met de school"


async def test_an_announcement_of_several_lines_keeps_them(harness: Harness) -> None:
    (reply,) = await command(harness, "anna", "/mededeling\nDe zaal is veranderd.\nWe zitten nu in zaal 2.")
    assert reply.kind == "announcement"
    assert "De zaal is veranderd.\nWe zitten nu in zaal 2." in plain(reply.text)
    (ann,) = await rows(harness, Announcement)
    assert (ann.text, ann.state) == ("De zaal is veranderd.\nWe zitten nu in zaal 2.", "posted")


async def test_a_pause_after_a_no_break_space(harness: Harness) -> None:
    (reply,) = await command(harness, "cem", "/pauze\u00a02w")
    assert plain(reply.text).startswith("Je hebt pauze tot ma 19 jan 2026 08:00.")
    (cem,) = await rows(harness, Member, Member.user_id == "cem")
    assert cem.paused_until is not None


async def test_settings_and_questions_on_the_next_line(harness: Harness) -> None:
    await command(harness, "anna", "/netwerk ambitie\nOver een jaar werken we in twee wijken samen.")
    await command(harness, "bram", "/vraag toevoegen\nWat heb je deze maand van een ouder geleerd?")
    await command(harness, "bram", "/leerdoel groep\nBeter luisteren naar ouders")
    net = (await rows(harness, Network))[0]
    assert (net.ambition, net.group_goal) == ("Over een jaar werken we in twee wijken samen.",
                                              "Beter luisteren naar ouders")
    (question,) = await rows(harness, CustomQuestion)
    assert question.text == "Wat heb je deze maand van een ouder geleerd?"


def test_split_command_at_any_whitespace() -> None:
    assert split_command("/vier\nWe hadden\neen goed gesprek") == ("vier", "We hadden\neen goed gesprek")
    assert split_command("/Status@bamboe_bot\u00a0 x") == ("status", "x")
    assert split_command("/ pauze") is None and split_command("/") is None


async def test_an_unknown_command_before_a_new_line_shows_only_its_name(harness: Harness) -> None:
    text = error_text(await command(harness, "cem", "/viering\nWe hadden een goed gesprek"), "cem")
    assert text == "Het commando /viering ken ik niet. Typ /help om alle commando's te zien."


# ---------------------------------------------------------------------------- 7. a planned announcement's time (review 2)
@pytest.mark.parametrize("line, answer", [
    ("/mededeling om morgen 25:00 De zaal is veranderd", 'De tijd "25:00" klopt niet.'),
    ("/mededeling op 20 januari om 9:75 De zaal is veranderd", 'De tijd "9:75" klopt niet.'),
    ("/mededeling om morgen 24:00 De zaal is veranderd", 'De tijd "24:00" klopt niet.'),
    ("/mededeling om 2026-02-30 25:00 De zaal is veranderd", 'De datum "2026-02-30" klopt niet.'),
])
async def test_a_plan_with_a_wrong_time_is_refused_not_posted(harness: Harness, line: str, answer: str) -> None:
    """A date and then a clock time that cannot be: the trekker meant to plan, so the text does not go
    out to everyone at once (it did, as "om morgen 25:00 De zaal is veranderd")."""
    assert answer in error_text(await command(harness, "anna", line), "anna")
    assert await rows(harness, Announcement) == []
    assert await rows(harness, Job, Job.kind == "announcement") == []


async def test_a_plan_with_a_wrong_time_in_english(harness: Harness) -> None:
    await english(harness)
    text = error_text(await command(harness, "anna", "/announce at tomorrow 24:30 The room has changed"), "anna")
    assert 'The time "24:30"' in text
    assert await rows(harness, Announcement) == []


@pytest.mark.parametrize("line", ["Op 5 februari 3.000 euro voor de pot.", "Op 5 februari om 10 uur is er markt."])
async def test_a_sentence_with_a_number_after_the_date_still_goes_out(harness: Harness, line: str) -> None:
    (post,) = await command(harness, "anna", f"/mededeling {line}")
    assert post.kind == "announcement"
    (ann,) = await rows(harness, Announcement)
    assert (ann.text, ann.state) == (line, "posted")


# ---------------------------------------------------------------------------- 8. a forged follow-up button (review 2)
async def forged_press(h: Harness, who: str, action: str) -> list[Sent]:
    """``who`` sends a button press the bot never gave them (a forged callback)."""
    before = len(h.recorder.sent)
    await h._handle(ButtonPress(h.chat, h.person(who), action, "forged"))
    return h.recorder.sent[before:]


async def test_someone_elses_still_busy_button_is_refused(harness: Harness) -> None:
    """The "nog bezig" button goes to the action's owner privately; pressed by another participant
    (a forged press) it moved the owner's follow-up and said so."""
    await command(harness, "cem", "/actie Ik bel de school")
    (action,) = await rows(harness, Action)
    (job,) = await followups(harness)
    text = error_text(await forged_press(harness, "dewi", f"action:busy:{action.id}"), "dewi")
    assert text == "Alleen wie de actie doet, of de trekker of procesbegeleider, kan zeggen dat hij nog loopt."
    assert [(j.id, j.due_at) for j in await followups(harness)] == [(job.id, job.due_at)]
    # the owner may, and so may a lead
    (reply,) = await forged_press(harness, "cem", f"action:busy:{action.id}")
    assert reply.kind == "status"
    (reply,) = await forged_press(harness, "bram", f"action:busy:{action.id}")
    assert reply.kind == "status"


async def test_someone_elses_still_busy_button_in_english(harness: Harness) -> None:
    await english(harness)
    await command(harness, "cem", "/action I call the school")
    (action,) = await rows(harness, Action)
    text = error_text(await forged_press(harness, "dewi", f"action:busy:{action.id}"), "dewi")
    assert text.startswith("Only the person doing the action, or the lead or facilitator, can say")


# ---------------------------------------------------------------------------- 9. the perspectives as the bot names them (review 2)
@pytest.mark.parametrize("word, stored", [("gezinnen/inwoners", "gezin"), ("Gezinnen/Inwoners", "gezin"),
                                          ("families/residents", "gezin"), ("professionals", "professional")])
async def test_a_perspective_as_the_bot_lists_it(harness: Harness, word: str, stored: str) -> None:
    """The refusal lists "gezinnen/inwoners" as an option; typing that option was refused."""
    (reply,) = await command(harness, "cem", f"/perspectief {word}")
    assert reply.kind == "status"
    assert (await rows(harness, Member, Member.user_id == "cem"))[0].perspective == stored


async def test_every_option_the_refusal_lists_is_taken(harness: Harness) -> None:
    for language, name in (("nl", "perspectief"), ("en", "perspective")):
        await command(harness, "anna", f"/network language {language}")
        text = error_text(await command(harness, "cem", f"/{name} koning"), "cem")
        options = text.split(": ", 1)[1].split(" (")[0].rstrip(".").split(", ")
        assert len(options) == 5
        for option in options:
            (reply,) = await command(harness, "cem", f"/{name} {option}")
            assert reply.kind == "status", option


# ---------------------------------------------------------------------------- 10. ending a pause there is not (review 2)
async def test_pause_off_without_a_pause_says_so(harness: Harness) -> None:
    """It said "Welkom terug! Je pauze is voorbij." to someone who had no pause."""
    (reply,) = await command(harness, "cem", "/pauze uit")
    assert (reply.kind, reply.visible_to) == ("status", "cem")
    assert plain(reply.text) == "Je had geen pauze, dus er verandert niets. Even pauze nodig? Typ bijvoorbeeld /pauze 2w."
    cem = (await rows(harness, Member, Member.user_id == "cem"))[0]
    assert (cem.paused_from, cem.paused_until) == (None, None)
    await command(harness, "cem", "/pauze 2w")
    (reply,) = await command(harness, "cem", "/pauze uit")
    assert plain(reply.text) == "Welkom terug! Je pauze is voorbij."
    (reply,) = await command(harness, "cem", "/pauze uit")  # twice: the second has nothing to end
    assert plain(reply.text).startswith("Je had geen pauze")


async def test_pause_off_without_a_pause_in_english(harness: Harness) -> None:
    await english(harness)
    (reply,) = await command(harness, "cem", "/pause off")
    assert plain(reply.text) == "You weren't on a break, so nothing changes. Need one? Type for example /pause 2w."


# ---------------------------------------------------------------------------- 11. a time before a date is no phone number (review 2)
@pytest.mark.parametrize("when", ["14:00 12-02-2026", "14:00 2026-02-12"])
async def test_a_time_before_a_date_is_not_masked(harness: Harness, when: str) -> None:
    """"00 12-02-2026" has a phone number's digits: the announcement went out as "om 14:[telefoonnummer]"
    and its author was asked to take personal data out."""
    (post,) = await command(harness, "anna", f"/mededeling De bijeenkomst is om {when} in zaal 2.")
    assert post.kind == "announcement" and f"om {when} in zaal 2." in plain(post.text)
    (ann,) = await rows(harness, Announcement)
    assert ann.text == f"De bijeenkomst is om {when} in zaal 2."


@pytest.mark.parametrize("text", ["Bel 14:00 of 06-12345678", "tel:0612345678", "om 9:00 020 123 4567"])
def test_a_phone_number_after_a_time_or_a_colon_is_still_masked(text: str) -> None:
    assert "[phone]" in mask(text)


# ---------------------------------------------------------------------------- 12. a rhythm number out of range (review 2)
@pytest.mark.parametrize("line, answer", [
    ("/ritme stil 1", "Kies een aantal weekvragen van 2 tot en met 10"),
    ("/ritme stil 1000", "Kies een aantal weekvragen van 2 tot en met 10"),
    ("/ritme stil -3", "Kies een aantal weekvragen van 2 tot en met 10"),
    ("/ritme bijeenkomst 20 10:00", "Kies een aantal werkdagen van 0 tot en met 14"),
    ("/ritme bijeenkomst -1", "Kies een aantal werkdagen van 0 tot en met 14"),
])
async def test_a_rhythm_number_out_of_range_names_the_range(harness: Harness, line: str, answer: str) -> None:
    """They got the whole /ritme usage, which names neither range."""
    before = await network(harness)
    assert error_text(await command(harness, "bram", line), "bram").startswith(answer)
    after = await network(harness)
    assert (after.quiet_after, after.pre_session_days, after.digest_time) == (
        before.quiet_after, before.pre_session_days, before.digest_time)


async def test_a_rhythm_number_out_of_range_in_english(harness: Harness) -> None:
    await english(harness)
    text = error_text(await command(harness, "bram", "/rhythm quiet 1"), "bram")
    assert text.startswith("Choose a number of weekly questions from 2 to 10, for example /rhythm quiet 3")
    text = error_text(await command(harness, "bram", "/rhythm session 15"), "bram")
    assert text.startswith("Choose a number of working days from 0 to 14")


# ---------------------------------------------------------------------------- 13. a retention in months (review 2)
@pytest.mark.parametrize("line, months", [("/privacy bewaartermijn 12 maanden", 12), ("/privacy bewaartermijn 3 mnd", 3),
                                          ("/privacy retention 24 months", 24)])
async def test_a_retention_written_with_its_unit(harness: Harness, line: str, months: int) -> None:
    """"12 maanden" got the whole /privacy usage."""
    (reply,) = await command(harness, "anna", line)
    assert reply.kind == "status"
    assert f"heeft de bewaartermijn op {months} maanden gezet" in plain(reply.text)
    assert (await network(harness)).retention_months == months


async def test_a_retention_of_one_month_is_counted_as_one(harness: Harness) -> None:
    """Not "1 maanden": the answer and /privacy count the period."""
    (reply,) = await command(harness, "anna", "/privacy bewaartermijn 1")
    assert "heeft de bewaartermijn op 1 maand gezet." in plain(reply.text)
    (shown,) = await command(harness, "anna", "/privacy")
    assert "Antwoorden en berichten bewaar ik 1 maand." in plain(shown.text)
    (reply,) = await command(harness, "anna", "/privacy bewaartermijn 2")
    assert "heeft de bewaartermijn op 2 maanden gezet." in plain(reply.text)


async def test_a_retention_with_another_word_is_still_refused(harness: Harness) -> None:
    before = (await network(harness)).retention_months
    error_text(await command(harness, "anna", "/privacy bewaartermijn 12 jaar"), "anna")
    assert (await network(harness)).retention_months == before


# ---------------------------------------------------------------------------- 14. a year too far ahead (review 2)
@pytest.mark.parametrize("line, who, answer", [
    ("/bijeenkomst 19-1-2062 14:00 Buurthuis De Linde", "anna", "do 19 jan 2062 14:00 ligt meer dan twee jaar vooruit."),
    ("/bijeenkomst 2200-01-01 14:00 Buurthuis De Linde", "anna", "wo 1 jan 2200 14:00 ligt meer dan twee jaar vooruit."),
    ("/mededeling om 2062-01-19 09:00 De zaal is veranderd", "anna", "do 19 jan 2062 09:00 ligt meer dan twee jaar"),
    ("/actie Ik bel de school voor 19-1-2062", "cem", "19-01-2062 ligt meer dan twee jaar vooruit. Klopt het jaar?"),
])
async def test_a_moment_years_ahead_is_refused(harness: Harness, line: str, who: str, answer: str) -> None:
    """A swapped year (2062 for 2026) planned a session, an announcement or a follow-up decades ahead,
    and told the group so."""
    assert answer in error_text(await command(harness, who, line), who)
    assert await rows(harness, Meeting) == [] and await rows(harness, Announcement) == []
    assert await rows(harness, Action) == []
    assert not [j for j in await rows(harness, Job) if j.due_at.year > 2030]


async def test_within_two_years_is_fine(harness: Harness) -> None:
    (post,) = await command(harness, "anna", "/bijeenkomst 2027-12-31 14:00 Buurthuis De Linde")
    assert post.kind == "session"
    await command(harness, "cem", "/actie Ik bel de school voor 2027-06-01")
    (action,) = await rows(harness, Action)
    assert action.due_date == date(2027, 6, 1)


async def test_a_moment_years_ahead_in_english(harness: Harness) -> None:
    await english(harness)
    text = error_text(await command(harness, "anna", "/meeting 2062-01-19 14:00 Library"), "anna")
    assert text == "Thu 19 Jan 2062 14:00 is more than two years ahead. Is the year right? Choose a moment within two years."


# ---------------------------------------------------------------------------- 15. a session's times as people write them (review 2)
@pytest.mark.parametrize("times, start, end", [
    ("14:00 - 17:00", (14, 0), (17, 0)), ("14:00 tot 17:00", (14, 0), (17, 0)),
    ("van 14:00 tot 17:00", (14, 0), (17, 0)), ("om 14:00", (14, 0), (16, 0)), ("om 14 uur", (14, 0), (16, 0)),
    ("14:00\u201317:00", (14, 0), (17, 0)), ("14:00- 17:00", (14, 0), (17, 0)), ("14:00-17:00,", (14, 0), (17, 0)),
    ("van 14 tot 17 uur", (14, 0), (17, 0)),
])
async def test_a_session_time_as_people_write_it(harness: Harness, times: str, start: tuple, end: tuple) -> None:
    """"14:00 - 17:00 Buurthuis" planned 14:00-16:00 at the place "- 17:00 Buurthuis"; an en dash
    (which phones put in) or "om 14:00" was refused."""
    (post,) = await command(harness, "anna", f"/bijeenkomst 2026-02-10 {times} Buurthuis De Linde")
    assert post.kind == "session"
    (meeting,) = await rows(harness, Meeting)
    assert meeting.place == "Buurthuis De Linde"
    assert (meeting.starts_at.astimezone(AMS).hour, meeting.starts_at.astimezone(AMS).minute) == start
    assert (meeting.ends_at.astimezone(AMS).hour, meeting.ends_at.astimezone(AMS).minute) == end


@pytest.mark.parametrize("times, answer", [("14:00 tot 25:00", 'De tijd "25:00" klopt niet.'),
                                           ("14:00 - 13:00", "De eindtijd ligt voor de begintijd.")])
async def test_a_wrong_end_written_out_is_refused(harness: Harness, times: str, answer: str) -> None:
    text = error_text(await command(harness, "anna", f"/bijeenkomst 2026-02-10 {times} Buurthuis"), "anna")
    assert text.startswith(answer)
    assert await rows(harness, Meeting) == []


async def test_a_session_time_written_out_in_english(harness: Harness) -> None:
    await english(harness)
    await command(harness, "anna", "/meeting 2026-02-10 from 14:00 to 16:30 Library")
    (meeting,) = await rows(harness, Meeting)
    assert (meeting.place, meeting.ends_at.astimezone(AMS).minute) == ("Library", 30)


async def test_a_dash_in_the_place_stays_in_the_place(harness: Harness) -> None:
    await command(harness, "anna", "/bijeenkomst 2026-02-10 14:00 Zaal 2 - 3")
    (meeting,) = await rows(harness, Meeting)
    assert meeting.place == "Zaal 2 - 3"


# ---------------------------------------------------------------------------- 16. a weekday before a session's date (review 2)
@pytest.mark.parametrize("when", ["dinsdag 10 februari", "di 10-2", "di, 10 februari", "Dinsdag 2026-02-10"])
async def test_a_weekday_before_the_date(harness: Harness, when: str) -> None:
    """"dinsdag 10 februari" got 'De datum "dinsdag" klopt niet'."""
    (post,) = await command(harness, "anna", f"/bijeenkomst {when} 14:00 Buurthuis De Linde")
    assert post.kind == "session"
    (meeting,) = await rows(harness, Meeting)
    assert (meeting.starts_at.astimezone(AMS).date(), meeting.place) == (date(2026, 2, 10), "Buurthuis De Linde")


async def test_a_weekday_that_is_not_the_dates_is_refused(harness: Harness) -> None:
    text = error_text(await command(harness, "anna", "/bijeenkomst wo 19 februari 14:00 Buurthuis"), "anna")
    assert text.startswith('do 19 feb 2026 is een donderdag, geen "wo". Welke dag bedoel je?')
    assert await rows(harness, Meeting) == []


async def test_a_weekday_that_is_not_the_dates_in_english(harness: Harness) -> None:
    await english(harness)
    text = error_text(await command(harness, "anna", "/meeting Tuesday 23 February 14:00 Library"), "anna")
    assert text.startswith('Mon 23 Feb 2026 is a Monday, not "Tuesday".')
    assert await rows(harness, Meeting) == []


@pytest.mark.parametrize("line, day", [("/bijeenkomst vrijdag 14:00 Buurthuis", date(2026, 1, 9)),
                                       ("/bijeenkomst Maandag, 14:00 Buurthuis", date(2026, 1, 12)),
                                       ("/meeting friday 14:00 Library", date(2026, 1, 9))])
async def test_a_weekday_alone_is_the_coming_one(harness: Harness, line: str, day: date) -> None:
    """"/bijeenkomst vrijdag 14:00" got 'De datum "vrijdag" klopt niet'; an action's "voor vrijdag"
    already worked. On Monday 5 January the coming Monday is the 12th."""
    if line.startswith("/meeting"):
        await english(harness)
    (post,) = await command(harness, "anna", line)
    assert post.kind == "session"
    (meeting,) = await rows(harness, Meeting)
    assert meeting.starts_at.astimezone(AMS).date() == day


async def test_a_two_letter_weekday_alone_is_still_refused(harness: Harness) -> None:
    """"vr" and "do" are also Dutch words: alone they are no date, as for an action's date."""
    text = error_text(await command(harness, "anna", "/bijeenkomst vr 14:00 Buurthuis"), "anna")
    assert text.startswith('De datum "vr" klopt niet')
    assert await rows(harness, Meeting) == []


# ---------------------------------------------------------------------------- 17. a name as typed on a phone (review 2)
@pytest.mark.parametrize("line", ["/rol cem  yilmaz   procesbegeleider", "/rol Cem Yilmaz, procesbegeleider",
                                  "/rol Cem Yilmaz procesbegeleider.", "/rol Cem Yilmaz: Procesbegeleider!"])
async def test_a_role_with_extra_spaces_or_punctuation(harness: Harness, line: str) -> None:
    """'Ik vind niemand met de naam "cem  yilmaz"' (two spaces), 'De rol "procesbegeleider." ken ik niet'."""
    (reply,) = await command(harness, "anna", line)
    assert plain(reply.text) == "Cem Yilmaz is nu procesbegeleider."
    assert (await rows(harness, Member, Member.user_id == "cem"))[0].role == "procesbegeleider"


async def test_a_perspective_with_a_full_stop(harness: Harness) -> None:
    await command(harness, "anna", "/perspectief Dewi  Santoso gezin.")  # Dewi was onderwijs
    assert (await rows(harness, Member, Member.user_id == "dewi"))[0].perspective == "gezin"


# ---------------------------------------------------------------------------- 18. /help about one command, as written (review 2)
@pytest.mark.parametrize("topic", ["bijeenkomst plannen", "Bijeenkomst.", "/bijeenkomst", "!bijeenkomst",
                                   "@Bamboe bijeenkomst", "/bamboe bijeenkomst", "session?"])
async def test_help_about_one_command_as_members_write_it(harness: Harness, topic: str) -> None:
    """"/help bijeenkomst plannen" answered 'Het commando /bijeenkomst plannen ken ik niet'; a Matrix
    member's "!bijeenkomst" or a trailing full stop likewise."""
    (reply,) = await command(harness, "cem", f"/help {topic}")
    assert reply.kind == "help"
    assert plain(reply.text).startswith("/bijeenkomst laat de geplande bijeenkomsten zien.")


async def test_help_with_only_a_question_mark_is_the_whole_help(harness: Harness) -> None:
    (reply,) = await command(harness, "cem", "/help ?")
    assert reply.kind == "help" and "Dit kun je doen:" in plain(reply.text)


async def test_help_about_an_unknown_command_names_only_that_word(harness: Harness) -> None:
    text = error_text(await command(harness, "cem", "/help onzin met meer woorden"), "cem")
    assert text == "Het commando /onzin ken ik niet. Typ /help om alle commando's te zien."


# ---------------------------------------------------------------------------- 19. an idea that begins with a number, a mark with punctuation (review 2)
async def test_an_idea_that_begins_with_a_number_is_recorded(harness: Harness) -> None:
    """"/idee 2 keer per jaar een markt" was read as marking idea 2: a participant heard that only the
    trekker marks ideas, and the idea was lost."""
    (post,) = await command(harness, "cem", "/idee 2 keer per jaar een markt")
    assert post.kind == "idea" and "Idee 1 van Cem Yilmaz: 2 keer per jaar een markt" in plain(post.text)
    (idea,) = await rows(harness, LogEntry)
    assert (idea.nr, idea.text, idea.status) == (1, "2 keer per jaar een markt", "open")


@pytest.mark.parametrize("line, status, reason", [
    ("/idee 1 gekozen!", "chosen", ""), ("/idee 1 Gekozen.", "chosen", ""),
    ("/idee 1 niet gekozen. We doen eerst de scholen", "not_chosen", "We doen eerst de scholen"),
])
async def test_an_idea_marked_with_punctuation(harness: Harness, line: str, status: str, reason: str) -> None:
    await command(harness, "cem", "/idee We nodigen de wijkagent uit")
    (post,) = await command(harness, "anna", line)
    assert post.kind == "idea"
    (idea,) = await rows(harness, LogEntry)
    assert (idea.status, idea.status_reason) == (status, reason)


@pytest.mark.parametrize("line", ["/idee 1 misschien", "/idee 1 niet gekzen want te duur"])
async def test_a_misspelt_mark_is_still_a_mark(harness: Harness, line: str) -> None:
    await command(harness, "cem", "/idee We nodigen de wijkagent uit")
    assert error_text(await command(harness, "anna", line), "anna").startswith("Dat begrijp ik niet helemaal.")
    (idea,) = await rows(harness, LogEntry)
    assert idea.status == "open"


@pytest.mark.parametrize("line", ["/actie 1 klaar!", "/actie 1 Klaar.", "/action 1 done!"])
async def test_an_action_finished_with_punctuation(harness: Harness, line: str) -> None:
    """"/actie 1 klaar!" recorded a new action "1 klaar!" with its own follow-up."""
    await command(harness, "cem", "/actie Ik bel de school")
    (reply,) = await command(harness, "cem", line)
    assert reply.kind == "action_followup"
    (action,) = await rows(harness, Action)
    assert (action.nr, action.state) == (1, "done")
    assert len(await followups(harness)) == 1  # the action's own (it finds the action done); no second one


@pytest.mark.parametrize("line, consent", [("/privacy citeren ja!", True), ("/privacy citeren Ja.", True),
                                           ("/privacy quote no.", False)])
async def test_quote_consent_with_punctuation(harness: Harness, line: str, consent: bool) -> None:
    """"/privacy citeren ja!" got the whole /privacy usage."""
    await command(harness, "cem", "/privacy citeren ja" if not consent else "/privacy citeren nee")
    (reply,) = await command(harness, "cem", line)
    assert reply.kind == "status"
    assert (await rows(harness, Member, Member.user_id == "cem"))[0].quote_consent is consent
