"""The reflection rhythm, end to end in the virtual chat: weekly nudge, answers, one reminder,
pause, harvest, catch-up after downtime, restarts, question rotation, theme of the month and the
goal / intention prompts. Every assertion is about what the bot sent or stored; time only moves
on the virtual clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from adapters.console.harness import Harness, Sent
from bot.features import rhythm
from bot.markup import plain
from bot.models import Answer, CustomQuestion, Job, Member, Network, Nudge
from bot.timeutil import in_quiet_hours
from tests.conftest import AMS, MEMBERS, NETWORK, local, texts

EVERYONE = [m["id"] for m in MEMBERS]


# ---------------------------------------------------------------------------- helpers
def sent(h: Harness, kind: str, to: str | None = None) -> list[Sent]:
    """What the bot sent of ``kind`` (optionally to one address), in order."""
    return [s for s in h.recorder.sent if s.has(kind) and (to is None or s.to == to)]


def at_local(s: Sent) -> datetime:
    """When a message went out, on the Amsterdam wall clock."""
    return s.at.astimezone(AMS)


def weeks(dts: list[datetime]) -> list[tuple[int, int]]:
    """ISO (year, week) of each instant, in Amsterdam."""
    return [tuple(d.astimezone(AMS).isocalendar())[:2] for d in dts]


def between(items: list[Sent], start: datetime, end: datetime) -> list[Sent]:
    return [s for s in items if start <= s.at < end]


async def rows(h: Harness, model, *where, order=None) -> list:  # noqa: ANN001
    """All rows of ``model`` matching ``where`` (a fresh session, so what is really stored)."""
    async with h.db.transaction() as s:
        query = select(model).where(*where)
        if order is not None:
            query = query.order_by(order)
        return list(await s.scalars(query))


async def network(h: Harness) -> Network:
    (net,) = await rows(h, Network)
    return net


async def member(h: Harness, user_id: str) -> Member:
    (m,) = await rows(h, Member, Member.user_id == user_id)
    return m


async def nudges(h: Harness) -> list[Nudge]:
    return await rows(h, Nudge, order=Nudge.sent_at)


async def command(h: Harness, who: str, text: str) -> list[Sent]:
    """``who`` types ``text`` in the group; returns what the bot sent in response."""
    before = len(h.recorder.sent)
    await h.say(who, text)
    return h.recorder.sent[before:]


def only_error_for(replies: list[Sent], who: str) -> None:
    """The bot answered with exactly one error, in the group, visible only to ``who``."""
    assert [(s.kind, s.to, s.visible_to) for s in replies] == [("error", "group", who)]


async def open_harness(sqlite_url: str, start: datetime) -> Harness:
    """A harness like the fixture's, but starting at ``start``."""
    h = await Harness.open(sqlite_url, start)
    await h.setup(dict(NETWORK), [dict(m) for m in MEMBERS])
    return h


# ---------------------------------------------------------------------------- 1. default nudge
async def test_first_nudge_is_tuesday_10_in_the_group(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 9, 59))
    assert sent(harness, "nudge") == []
    await harness.advance(local(2026, 1, 6, 10, 0))
    (nudge,) = sent(harness, "nudge")
    assert nudge.to == "group"
    assert at_local(nudge) == local(2026, 1, 6, 10, 0)
    assert "Weekvraag" in plain(nudge.text)
    (row,) = await nudges(harness)
    assert row.sent_at == nudge.at
    assert nudge.meta["nudge"] == row.id


async def test_exactly_one_nudge_per_week_for_five_weeks(harness: Harness) -> None:
    await harness.advance(local(2026, 2, 9, 12, 0))
    out = sent(harness, "nudge")
    expected = [local(2026, 1, 6, 10, 0) + timedelta(weeks=i) for i in range(5)]
    assert [s.at for s in out] == expected
    assert all(s.to == "group" for s in out)
    assert len(set(weeks([s.at for s in out]))) == 5
    stored = await nudges(harness)
    assert [n.sent_at for n in stored] == expected
    jobs = await rows(harness, Job, Job.kind == "nudge", Job.state == "done")
    assert len(jobs) == 5 and len({j.key for j in jobs}) == 5


# ---------------------------------------------------------------------------- 2. DST
async def test_nudge_keeps_10_local_across_daylight_saving(harness: Harness) -> None:
    await harness.advance(local(2026, 4, 1, 12, 0))
    by_day = {at_local(s).date(): s for s in sent(harness, "nudge")}
    before, after = by_day[local(2026, 3, 24, 0, 0).date()], by_day[local(2026, 3, 31, 0, 0).date()]
    assert before.at == datetime(2026, 3, 24, 9, 0, tzinfo=UTC)
    assert after.at == datetime(2026, 3, 31, 8, 0, tzinfo=UTC)
    assert all(at_local(s).hour == 10 and at_local(s).minute == 0 for s in by_day.values())


async def test_nudge_keeps_10_local_when_summer_time_ends(sqlite_url: str) -> None:
    h = await open_harness(sqlite_url, local(2026, 10, 19, 8, 0))
    try:
        await h.advance(local(2026, 10, 28, 12, 0))
        assert [s.at for s in sent(h, "nudge")] == [datetime(2026, 10, 20, 8, 0, tzinfo=UTC),
                                                    datetime(2026, 10, 27, 9, 0, tzinfo=UTC)]
    finally:
        await h.close()


# ---------------------------------------------------------------------------- 3. public holidays
async def test_monday_nudge_moves_to_tuesday_on_dutch_holidays(harness: Harness) -> None:
    replies = await command(harness, "anna", "/ritme reflectie ma 10:00")
    assert [s.kind for s in replies] == ["status"]
    assert (await network(harness)).nudge_weekday == 0
    await harness.advance(local(2026, 5, 1, 12, 0))
    days = [at_local(s) for s in sent(harness, "nudge")]
    mondays = [local(2026, 1, 5, 10, 0) + timedelta(weeks=i) for i in range(17)]  # 5 Jan … 27 Apr
    moved = {local(2026, 4, 6, 10, 0): local(2026, 4, 7, 10, 0),  # Easter Monday
             local(2026, 4, 27, 10, 0): local(2026, 4, 28, 10, 0)}  # King's Day
    assert days == [moved.get(d, d) for d in mondays]
    assert len(set(weeks(days))) == len(days)  # still one per week


async def test_christmas_friday_moves_to_the_next_working_day(sqlite_url: str) -> None:
    h = await open_harness(sqlite_url, local(2026, 12, 14, 8, 0))
    try:
        await command(h, "anna", "/ritme reflectie vr 10:00")
        await h.advance(local(2026, 12, 31, 12, 0))
        days = [at_local(s) for s in sent(h, "nudge")]
        # Fri 18 Dec as usual; Christmas Friday (and Boxing Day Saturday) → Monday 28 Dec
        assert days == [local(2026, 12, 18, 10, 0), local(2026, 12, 28, 10, 0)]
    finally:
        await h.close()


# ---------------------------------------------------------------------------- 4. changing the rhythm
async def test_rhythm_in_quiet_hours_is_refused_and_nothing_changes(harness: Harness) -> None:
    jobs_before = [(j.key, j.due_at) for j in await rows(harness, Job, Job.kind == "nudge")]
    for text in ("/ritme reflectie di 23:00", "/ritme reflectie di 06:30", "/ritme reflectie za 10:00"):
        replies = await command(harness, "anna", text)
        only_error_for(replies, "anna")
        assert "rusttijd" in plain(replies[0].text)
    net = await network(harness)
    assert (net.nudge_weekday, net.nudge_time) == (1, "10:00")
    assert [(j.key, j.due_at) for j in await rows(harness, Job, Job.kind == "nudge")] == jobs_before
    await harness.advance(local(2026, 1, 7, 12, 0))
    assert [at_local(s) for s in sent(harness, "nudge")] == [local(2026, 1, 6, 10, 0)]


async def test_deelnemer_cannot_change_the_rhythm(harness: Harness) -> None:
    replies = await command(harness, "cem", "/ritme reflectie do 10:00")
    only_error_for(replies, "cem")
    net = await network(harness)
    assert (net.nudge_weekday, net.nudge_time) == (1, "10:00")
    replies = await command(harness, "cem", "/ritme reflectie uit")
    only_error_for(replies, "cem")
    assert (await network(harness)).nudge_weekday == 1
    await harness.advance(local(2026, 1, 9, 12, 0))
    assert [at_local(s) for s in sent(harness, "nudge")] == [local(2026, 1, 6, 10, 0)]


async def test_facilitator_moves_the_nudge(harness: Harness) -> None:
    replies = await command(harness, "bram", "/ritme reflectie do 09:30")
    assert [(s.kind, s.to) for s in replies] == [("status", "group")]
    assert "donderdag" in plain(replies[0].text) and "09:30" in plain(replies[0].text)
    net = await network(harness)
    assert (net.nudge_weekday, net.nudge_time) == (3, "09:30")
    (job,) = await rows(harness, Job, Job.kind == "nudge", Job.state == "pending")
    assert job.due_at == local(2026, 1, 8, 9, 30)
    await harness.advance(local(2026, 1, 16, 12, 0))
    assert [at_local(s) for s in sent(harness, "nudge")] == [local(2026, 1, 8, 9, 30), local(2026, 1, 15, 9, 30)]


async def test_moving_the_nudge_after_this_weeks_went_out_continues_next_week(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 7, 12, 0))  # Tuesday's nudge is out
    replies = await command(harness, "anna", "/ritme reflectie vr 10:00")
    assert "16 jan" in plain(replies[0].text)  # the announced next nudge: not this week again
    (job,) = await rows(harness, Job, Job.kind == "nudge", Job.state == "pending")
    assert job.due_at == local(2026, 1, 16, 10, 0)
    await harness.advance(local(2026, 1, 31, 12, 0))
    days = [at_local(s) for s in sent(harness, "nudge")]
    assert days == [local(2026, 1, 6, 10, 0), local(2026, 1, 16, 10, 0), local(2026, 1, 23, 10, 0),
                    local(2026, 1, 30, 10, 0)]


async def test_nudge_off_stops_and_on_restarts(harness: Harness) -> None:
    replies = await command(harness, "anna", "/ritme reflectie uit")
    assert [(s.kind, s.to) for s in replies] == [("status", "group")]
    assert (await network(harness)).nudge_weekday is None
    assert await rows(harness, Job, Job.kind == "nudge", Job.state == "pending") == []
    await harness.advance(local(2026, 1, 26, 12, 0))  # three Tuesdays pass
    assert sent(harness, "nudge") == []
    assert await nudges(harness) == []

    replies = await command(harness, "anna", "/ritme reflectie aan")
    assert [(s.kind, s.to) for s in replies] == [("status", "group")]
    net = await network(harness)
    assert (net.nudge_weekday, net.nudge_time) == (1, "10:00")
    await harness.advance(local(2026, 2, 4, 12, 0))
    assert [at_local(s) for s in sent(harness, "nudge")] == [local(2026, 1, 27, 10, 0), local(2026, 2, 3, 10, 0)]


# ---------------------------------------------------------------------------- 5. answers
async def test_replies_to_the_nudge_are_stored_as_answers(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 11, 0))
    await harness.say("cem", "Ik kwam voor de ouders in de wijk.", reply_to="nudge")
    await harness.say("dewi", "Uit nieuwsgierigheid.", reply_to="nudge")
    await harness.say("anna", "Goedemorgen allemaal!")  # not a reply: just chat
    await command(harness, "els", "/ritme")
    await harness.say("fleur", "Dit is geen antwoord.", reply_to="status")  # reply to another message
    (nudge,) = await nudges(harness)
    answers = await rows(harness, Answer, order=Answer.id)
    cem, dewi = await member(harness, "cem"), await member(harness, "dewi")
    assert [(a.nudge_id, a.member_id, a.text) for a in answers] == [
        (nudge.id, cem.id, "Ik kwam voor de ouders in de wijk."),
        (nudge.id, dewi.id, "Uit nieuwsgierigheid."),
    ]
    assert all(a.created_at == local(2026, 1, 6, 11, 0) for a in answers)


async def test_answer_goes_to_the_nudge_replied_to(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 11, 0))
    first = sent(harness, "nudge")[0]
    await harness.advance(local(2026, 1, 13, 11, 0))
    await harness.say("cem", "Te laat maar toch.", reply_to="nudge")  # the latest: week 2
    n1, n2 = await nudges(harness)
    (answer,) = await rows(harness, Answer)
    assert answer.nudge_id == n2.id != n1.id
    assert first.meta["nudge"] == n1.id


# ---------------------------------------------------------------------------- 6. one reminder
async def test_one_private_reminder_48h_later_to_who_did_not_answer(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 11, 0))
    await harness.say("cem", "Samen leren over armoede in de wijk.", reply_to="nudge")
    await harness.say("dewi", "Armoede raakt veel gezinnen in de wijk.", reply_to="nudge")
    await harness.advance(local(2026, 1, 8, 9, 59))
    assert sent(harness, "reminder") == []
    await harness.advance(local(2026, 1, 8, 10, 0))
    reminders = sent(harness, "reminder")
    assert sorted(s.to for s in reminders) == ["dm:anna", "dm:bram", "dm:els", "dm:fleur"]
    assert all(at_local(s) == local(2026, 1, 8, 10, 0) for s in reminders)
    assert all(len(plain(s.text)) < 160 and "/pauze 2w" in plain(s.text) for s in reminders)  # short, no pressure
    assert all(s.visible_to is None for s in reminders)
    assert sent(harness, "reminder", to="group") == []
    # a week later: still exactly one reminder per member for that first nudge
    await harness.advance(local(2026, 1, 13, 9, 0))
    assert len(sent(harness, "reminder")) == 4
    (n1,) = await nudges(harness)
    (job,) = await rows(harness, Job, Job.kind == "reminder")
    assert (job.key, job.state) == (f"reminder:{n1.id}", "done")


async def test_a_private_reply_to_a_reminder_after_its_harvest_answers_the_new_question(harness: Harness) -> None:
    """Els replies privately to last week's reminder the day after its harvest, when a new question
    is in the group: that harvest is done, so it is her answer to the new question (named in the
    thanks), and she gets no reminder for it. Before, it was stored for the harvested question,
    the thanks said "In de oogst komt het…", and Thursday's reminder asked her again."""
    await harness.advance(local(2026, 1, 8, 10, 0))  # the first reminder, to Els among others
    await harness.advance(local(2026, 1, 13, 10, 0))  # the harvest and the second question
    first, second = await nudges(harness)
    assert first.harvested
    await harness.advance(local(2026, 1, 14, 12, 0))
    before = len(harness.recorder.sent)
    await harness.say("els", "Druk gehad! In de wijk zien we het vaker.", private=True)
    (thanks,) = harness.recorder.sent[before:]
    assert thanks.to == "dm:els" and "Ik heb dit bewaard als je antwoord op de weekvraag" in plain(thanks.text)
    els = await member(harness, "els")
    assert [a.nudge_id for a in await rows(harness, Answer, Answer.member_id == els.id)] == [second.id]
    await harness.advance(local(2026, 1, 15, 12, 0))
    assert [at_local(s) for s in sent(harness, "reminder", to="dm:els")] == [local(2026, 1, 8, 10, 0)]


async def test_reminders_stop_after_two_unanswered_questions_in_a_row(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 11, 0))
    await harness.say("cem", "Mijn antwoord.", reply_to="nudge")
    await harness.advance(local(2026, 1, 27, 9, 0))  # three nudges
    starts = [s.at for s in sent(harness, "nudge")] + [local(2026, 1, 27, 9, 0)]
    rounds_ = [sorted(s.to for s in between(sent(harness, "reminder"), a, b))
               for a, b in zip(starts, starts[1:], strict=False)]
    others = [f"dm:{m}" for m in EVERYONE if m != "cem"]
    assert rounds_ == [sorted(others), sorted(others + ["dm:cem"]), ["dm:cem"]]
    # the same member never gets the same phrasing twice in a row
    dewi = [plain(s.text) for s in sent(harness, "reminder", to="dm:dewi")]
    assert dewi[0] != dewi[1]
    # a member who answers again is reminded again
    await harness.say("dewi", "Toch nog een antwoord.", reply_to="nudge")
    await harness.advance(local(2026, 2, 6, 9, 0))
    assert [at_local(s) for s in sent(harness, "reminder", to="dm:dewi")][-1] == local(2026, 2, 5, 10, 0)
    assert sent(harness, "reminder", to="group") == []


async def test_reminder_never_falls_in_quiet_hours(harness: Harness) -> None:
    await command(harness, "anna", "/ritme reflectie vr 10:00")
    await harness.advance(local(2026, 1, 31, 12, 0))
    assert [at_local(s) for s in sent(harness, "nudge")] == [local(2026, 1, 9, 10, 0), local(2026, 1, 16, 10, 0),
                                                             local(2026, 1, 23, 10, 0), local(2026, 1, 30, 10, 0)]
    reminders = sent(harness, "reminder")
    assert reminders, "48 h after Friday is Sunday: the reminder should come on Monday morning"
    net = await network(harness)
    assert not any(in_quiet_hours(net, s.at) for s in reminders)
    # two rounds: after two questions without an answer the reminders stop
    assert {at_local(s) for s in reminders} == {local(2026, 1, 12, 7, 0), local(2026, 1, 19, 7, 0)}


async def test_reminder_on_ascension_day_moves_to_the_next_working_day(sqlite_url: str) -> None:
    h = await open_harness(sqlite_url, local(2026, 5, 11, 8, 0))
    try:
        await h.advance(local(2026, 5, 12, 11, 0))
        await h.say("cem", "Mijn antwoord.", reply_to="nudge")
        # 48 h after Tuesday 12 May 10:00 is Ascension Day (Thursday 14 May): nothing private then
        await h.advance(local(2026, 5, 14, 23, 0))
        assert sent(h, "reminder") == []
        await h.advance(local(2026, 5, 15, 12, 0))
        reminders = sent(h, "reminder")
        assert sorted(s.to for s in reminders) == sorted(f"dm:{m}" for m in EVERYONE if m != "cem")
        assert {at_local(s) for s in reminders} == {local(2026, 5, 15, 10, 0)}
    finally:
        await h.close()


async def test_reminder_after_good_friday_and_easter_waits_for_tuesday(sqlite_url: str) -> None:
    h = await open_harness(sqlite_url, local(2026, 3, 30, 8, 0))
    try:
        await command(h, "anna", "/ritme reflectie wo 10:00")
        # Wednesday 1 April + 48 h = Good Friday; the weekend and Easter Monday follow
        await h.advance(local(2026, 4, 7, 12, 0))
        (nudge,) = sent(h, "nudge")
        assert at_local(nudge) == local(2026, 4, 1, 10, 0)
        assert {at_local(s) for s in sent(h, "reminder")} == {local(2026, 4, 7, 7, 0)}
    finally:
        await h.close()


async def test_late_evening_nudge_reminder_waits_for_the_morning(harness: Harness) -> None:
    await command(harness, "anna", "/ritme reflectie wo 21:30")
    await harness.advance(local(2026, 1, 10, 12, 0))
    (nudge,) = sent(harness, "nudge")
    assert at_local(nudge) == local(2026, 1, 7, 21, 30)
    reminders = sent(harness, "reminder")
    assert len(reminders) == 6
    assert {at_local(s) for s in reminders} == {local(2026, 1, 9, 21, 30)}  # Friday 21:30: still open
    await harness.advance(local(2026, 1, 17, 12, 0))
    net = await network(harness)
    assert not any(in_quiet_hours(net, s.at) for s in sent(harness, "reminder"))


async def test_reminder_only_for_members_who_were_there_when_asked(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 11, 0))
    await harness.join("gijs", "Gijs de Boer")  # joins after the question
    await harness.leave("fleur")
    await harness.advance(local(2026, 1, 8, 12, 0))
    # Anna (trekker) already had a message from me this week (the newcomer notice): no reminder on top
    assert sorted(s.to for s in sent(harness, "reminder")) == ["dm:bram", "dm:cem", "dm:dewi", "dm:els"]
    await harness.advance(local(2026, 1, 15, 12, 0))
    week2 = between(sent(harness, "reminder"), local(2026, 1, 13, 0, 0), local(2026, 1, 16, 0, 0))
    assert "dm:gijs" in {s.to for s in week2} and "dm:fleur" not in {s.to for s in week2}


# ---------------------------------------------------------------------------- 7. pause
async def test_pause_skips_reminders_until_ended(harness: Harness) -> None:
    replies = await command(harness, "cem", "/pauze 2w")
    assert [(s.kind, s.to, s.visible_to) for s in replies] == [("status", "group", "cem")]
    assert (await member(harness, "cem")).paused_until == local(2026, 1, 19, 8, 0)
    await harness.advance(local(2026, 1, 16, 12, 0))
    assert len(sent(harness, "reminder")) == 10  # two rounds of five
    assert sent(harness, "reminder", to="dm:cem") == []

    replies = await command(harness, "cem", "/pauze uit")
    assert [(s.kind, s.visible_to) for s in replies] == [("status", "cem")]
    cem = await member(harness, "cem")  # ended now: the questions asked meanwhile stay uncounted
    assert (cem.paused_from, cem.paused_until) == (local(2026, 1, 5, 8, 0), local(2026, 1, 16, 12, 0))
    await harness.advance(local(2026, 1, 23, 12, 0))
    assert [at_local(s) for s in sent(harness, "reminder", to="dm:cem")] == [local(2026, 1, 22, 10, 0)]


async def test_a_pause_counts_only_for_the_questions_asked_while_it_lasted(harness: Harness) -> None:
    """/status (and the report, by the same rule) leaves a member out of a question only when it was
    asked during their pause: not before it began, and not after /pauze uit ended it."""
    await harness.advance(local(2026, 1, 6, 12, 0))  # the first weekly question, before the pause
    await command(harness, "dewi", "/pauze 3w")
    await harness.advance(local(2026, 1, 13, 12, 0))  # the second, during it
    await command(harness, "dewi", "/pauze 3w")  # longer: the pause keeps its start
    await command(harness, "dewi", "/pauze uit")
    dewi = await member(harness, "dewi")
    assert (dewi.paused_from, dewi.paused_until) == (local(2026, 1, 6, 12, 0), local(2026, 1, 13, 12, 0))
    await harness.advance(local(2026, 1, 20, 12, 0))  # the third, after it
    await command(harness, "anna", "/status")
    assert "06-01: 0 van 6, 13-01: 0 van 5, 20-01: 0 van 6" in texts(harness)[-1]


async def test_every_pause_counts_for_the_questions_asked_while_it_lasted_not_only_the_latest(
    harness: Harness,
) -> None:
    """A second pause keeps the first: the questions asked during either do not count for the member
    (before, the second overwrote the first and the first pause's question counted as unanswered),
    the question between them does."""
    await command(harness, "dewi", "/pauze 1w")  # 5 January 08:00 until 12 January: the first question
    await harness.advance(local(2026, 1, 13, 12, 0))  # the second question, between the pauses
    await command(harness, "dewi", "/pauze 1w")  # until 20 January 12:00: the third question
    dewi = await member(harness, "dewi")
    assert (dewi.paused_from, dewi.paused_until) == (local(2026, 1, 13, 12, 0), local(2026, 1, 20, 12, 0))
    assert [[datetime.fromisoformat(a), datetime.fromisoformat(b)] for a, b in dewi.earlier_pauses] == [
        [local(2026, 1, 5, 8, 0), local(2026, 1, 12, 8, 0)]]
    await harness.advance(local(2026, 1, 27, 12, 0))  # the fourth, after both
    await command(harness, "anna", "/status")
    assert "06-01: 0 van 5, 13-01: 0 van 6, 20-01: 0 van 5, 27-01: 0 van 6" in texts(harness)[-1]
    # a third pause, ended early with /pauze uit, then a fourth: all of them still count
    await command(harness, "dewi", "/pauze 2w")
    await harness.advance(local(2026, 1, 28, 12, 0))
    await command(harness, "dewi", "/pauze uit")  # 27-28 January: no question asked meanwhile
    await harness.advance(local(2026, 2, 2, 12, 0))
    await command(harness, "dewi", "/pauze 1w")  # until 9 February: the question of 3 February
    await harness.advance(local(2026, 2, 10, 12, 0))
    await command(harness, "anna", "/status")
    assert "20-01: 0 van 5, 27-01: 0 van 6, 03-02: 0 van 5, 10-02: 0 van 6" in texts(harness)[-1]
    dewi = await member(harness, "dewi")
    assert len(dewi.earlier_pauses) == 3
    assert [rhythm.paused(dewi, n.sent_at) for n in await nudges(harness)] == [True, False, True, False, True, False]


async def test_a_pause_ended_at_once_is_not_kept_and_pauses_that_touch_are_one(harness: Harness) -> None:
    await command(harness, "cem", "/pauze 2w")
    await command(harness, "cem", "/pauze uit")  # lasted no time: nothing to keep
    await harness.advance(local(2026, 1, 7, 12, 0))
    await command(harness, "cem", "/pauze 1w")
    cem = await member(harness, "cem")
    assert (cem.paused_from, cem.paused_until, cem.earlier_pauses) == (
        local(2026, 1, 7, 12, 0), local(2026, 1, 14, 12, 0), None)
    await harness.advance(local(2026, 1, 8, 12, 0))
    await command(harness, "cem", "/pauze uit")
    await command(harness, "cem", "/pauze 3d")  # again at once: one pause, from its first start
    cem = await member(harness, "cem")
    assert (cem.paused_from, cem.paused_until, cem.earlier_pauses) == (
        local(2026, 1, 7, 12, 0), local(2026, 1, 11, 12, 0), None)


async def test_pause_during_the_week_blocks_the_pending_reminder(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 12, 0))
    await command(harness, "els", "/pauze 10d")
    await harness.advance(local(2026, 1, 9, 12, 0))
    assert sorted(s.to for s in sent(harness, "reminder")) == ["dm:anna", "dm:bram", "dm:cem", "dm:dewi", "dm:fleur"]


async def test_bad_pause_duration_is_an_error(harness: Harness) -> None:
    for text in ("/pauze lang", "/pauze 0d", "/pauze 2j"):
        only_error_for(await command(harness, "cem", text), "cem")
    assert (await member(harness, "cem")).paused_until is None


# ---------------------------------------------------------------------------- 8. harvest
async def test_harvest_counts_answers_without_quoting_them(harness: Harness) -> None:
    answers = ["Ik leerde veel over armoede in de buurt vandaag.",
               "Armoede in de buurt is groter dan ik dacht.",
               "De school ziet het ook."]
    await harness.advance(local(2026, 1, 6, 11, 0))
    await harness.say("cem", answers[0], reply_to="nudge")
    await harness.say("dewi", answers[1], reply_to="nudge")
    await harness.say("els", answers[2], reply_to="nudge")
    await harness.advance(local(2026, 1, 13, 11, 0))
    (harvest,) = sent(harness, "harvest")
    second_nudge = sent(harness, "nudge")[1]
    # the harvest rides along with the next weekly question: one post, the question last
    assert harvest is second_nudge and harvest.to == "group" and harvest.meta["merged"] == ["harvest"]
    assert not in_quiet_hours(await network(harness), harvest.at)
    text = plain(harvest.text)
    assert text.index("Oogst") < text.index("Weekvraag")
    assert "3 antwoorden" in text and "van de 6" not in text  # thanks, without counting who did not
    assert "armoede" in text.lower() and "buurt" in text.lower()  # the shared themes
    for answer in answers:
        assert answer not in text and answer.rstrip(".") not in text
    n1, n2 = await nudges(harness)
    assert harvest.meta["nudge"] == n2.id  # a reply answers the new question
    assert n1.harvested


# answers from the example scenarios, where function words came up as "themes"
TWEE_CHATS = ["Ik merk dat ouders pas komen als de schulden al groot zijn.",
              "Op school zien we het aan kinderen zonder ontbijt, lang voordat de ouders komen.",
              "Ik durfde niet te vragen; de schulden waren al groot voordat iemand het wist.",
              "Wat ik hoor: de schulden zijn groot voordat wij het zien."]
WARM_SEIZOEN = ["Ik wilde dat gezinnen niet meer van loket naar loket hoeven.",
                "Als moeder wilde ik laten zien hoe het voelt om steeds opnieuw je verhaal te doen.",
                "Ik wil dat beleid aansluit bij wat gezinnen echt nodig hebben.",
                "Ik wil begrijpen hoe samen leren in de wijk werkt.",
                "Ik zie gezinnen die de weg naar hulp niet vinden.",
                "Een vader vertelde over ongeopende post; we lazen samen de brieven.",
                "Ik voelde me gehoord toen de school eerst vroeg wat wij nodig hadden.",
                "Een leerkracht belde over een kind zonder ontbijt.",
                "Ik merk dat we vaak over gezinnen praten in plaats van met ze.",
                "Ik heb een moeder naar de schuldhulp gebracht.",
                "Ik durf nu eerder te zeggen wat ik nodig heb."]
SEIZOEN_WEEK_10 = ["Een vader liet me een stapel ongeopende post zien.", "De juf belde me op tijd, dat hielp echt.",
                   "Een leerkracht belde over een kind zonder ontbijt.",
                   "Ik merk dat we vaak over gezinnen praten in plaats van met ze.",
                   "Op mijn stage zag ik een gezin dat alle hulp afhield.",
                   "Als jongerenwerker zie ik dat tieners zich schamen voor schulden thuis."]


def test_themes_leave_out_function_words_and_keep_real_themes() -> None:
    assert rhythm.themes(TWEE_CHATS) == ["schulden", "ouders"]  # not "voordat"
    assert rhythm.themes(WARM_SEIZOEN) == ["gezinnen", "moeder"]  # not "nodig"
    assert rhythm.themes(SEIZOEN_WEEK_10) == []  # not "belde"


def test_themes_leave_out_conjunctions_auxiliaries_and_adverbs_in_both_languages() -> None:
    dutch = ["Omdat de schulden groot waren, moesten ouders eigenlijk gewoon wachten terwijl niemand belde.",
             "Nadat ouders hadden gebeld, werden de schulden eigenlijk gewoon groter, terwijl het nodig was.",
             "Omdat de schulden bleven, konden ouders nadat ze hadden gewacht gewoon niets, terwijl het nodig was."]
    assert rhythm.themes(dutch) == ["ouders", "schulden"]
    english = ["Because debts were growing, parents actually couldn't wait although they needed help.",
               "Although parents had called, debts became bigger because nobody actually needed them.",
               "Parents would have waited, although the debts seemed small, because they probably needed time."]
    assert rhythm.themes(english) == ["debts", "parents"]


async def test_harvest_shows_the_real_themes_of_the_answers(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 11, 0))
    for who, text in zip(("cem", "dewi", "els", "fleur"), TWEE_CHATS, strict=True):
        await harness.say(who, text, reply_to="nudge")
    await harness.advance(local(2026, 1, 13, 12, 0))
    (harvest,) = sent(harness, "harvest")
    assert "Wat vaker terugkwam: schulden, ouders." in plain(harvest.text)


async def test_no_harvest_when_nobody_answered(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 20, 11, 0))
    assert sent(harness, "harvest") == []
    stored = await nudges(harness)
    assert len(stored) == 3
    assert stored[0].harvested and stored[1].harvested  # looked at, silently
    assert {j.state for j in await rows(harness, Job, Job.kind == "harvest", Job.due_at < local(2026, 1, 20, 0, 0))} \
        == {"done"}


# ---------------------------------------------------------------------------- 9. catch-up
async def test_nudge_two_hours_late_is_sent_once(harness: Harness) -> None:
    harness.clock.set(local(2026, 1, 6, 12, 0))  # the bot was down from Monday until noon
    await harness.advance(local(2026, 1, 6, 12, 0))
    (late,) = sent(harness, "nudge")
    assert at_local(late) == local(2026, 1, 6, 12, 0)
    await harness.advance(local(2026, 1, 21, 12, 0))
    assert [at_local(s) for s in sent(harness, "nudge")] == [local(2026, 1, 6, 12, 0), local(2026, 1, 13, 10, 0),
                                                             local(2026, 1, 20, 10, 0)]
    assert len(await nudges(harness)) == 3


async def test_nudge_two_days_late_is_skipped_and_next_week_still_comes(harness: Harness) -> None:
    harness.clock.set(local(2026, 1, 8, 10, 0))
    await harness.advance(local(2026, 1, 8, 10, 1))
    assert sent(harness, "nudge") == []
    assert await nudges(harness) == []
    (skipped,) = await rows(harness, Job, Job.kind == "nudge", Job.state == "skipped")
    assert skipped.key.endswith("2026-W02")
    await harness.advance(local(2026, 1, 21, 12, 0))
    assert [at_local(s) for s in sent(harness, "nudge")] == [local(2026, 1, 13, 10, 0), local(2026, 1, 20, 10, 0)]


async def test_outage_over_several_weeks_never_doubles_up(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 11, 0))
    harness.clock.set(local(2026, 1, 27, 11, 30))  # three weeks down, back 1.5 h after a due time
    await harness.advance(local(2026, 2, 18, 12, 0))
    days = [at_local(s) for s in sent(harness, "nudge")]
    assert len(set(weeks(days))) == len(days)
    assert days[0] == local(2026, 1, 6, 10, 0)
    assert local(2026, 2, 3, 10, 0) in days and local(2026, 2, 17, 10, 0) in days
    assert len(await nudges(harness)) == len(days)


async def test_after_a_long_outage_this_weeks_nudge_is_still_sent_when_only_a_bit_late(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 11, 0))
    harness.clock.set(local(2026, 1, 27, 11, 30))  # down three weeks; this week's nudge is 1.5 h overdue
    await harness.advance(local(2026, 1, 27, 11, 31))
    assert [at_local(s) for s in sent(harness, "nudge")] == [local(2026, 1, 6, 10, 0), local(2026, 1, 27, 11, 30)]
    await harness.advance(local(2026, 2, 4, 12, 0))
    days = [at_local(s) for s in sent(harness, "nudge")]
    assert days[-1] == local(2026, 2, 3, 10, 0)
    assert len(set(weeks(days))) == len(days) == 3


# ---------------------------------------------------------------------------- 10. restart
async def test_restart_neither_loses_nor_duplicates_the_nudge(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 9, 0))
    restarted = Harness(harness.db, harness.clock, harness.chat.chat_id)
    async with harness.db.transaction() as s:  # a starting process may plan again: a no-op
        await harness.core.features.plan_network(s, await s.get(Network, (await network(harness)).id),
                                                 harness.clock.now())
    assert len(await rows(harness, Job, Job.kind == "nudge")) == 1
    await restarted.advance(local(2026, 1, 6, 11, 0))
    await harness.advance(local(2026, 1, 6, 11, 0))  # the old process, if it still ran
    assert len(sent(restarted, "nudge")) + len(sent(harness, "nudge")) == 1
    assert len(await nudges(harness)) == 1


async def test_restart_between_deciding_and_sending(harness: Harness) -> None:
    harness.clock.set(local(2026, 1, 6, 10, 0))
    await harness.core.run_due()  # the nudge is decided and in the outbox … then the process dies
    assert sent(harness, "nudge") == []
    restarted = Harness(harness.db, harness.clock, harness.chat.chat_id)
    await restarted.advance(local(2026, 1, 6, 10, 5))
    (nudge,) = sent(restarted, "nudge")  # delivered by the new process (at 10:05) …
    (row,) = await nudges(harness)
    assert row.sent_at == local(2026, 1, 6, 10, 0) and nudge.meta["nudge"] == row.id  # … decided once
    await restarted.advance(local(2026, 1, 12, 12, 0))
    assert len(sent(restarted, "nudge")) == 1 and len(await nudges(harness)) == 1


async def test_restart_after_claiming_but_before_running(harness: Harness) -> None:
    harness.clock.set(local(2026, 1, 6, 10, 0))
    async with harness.db.transaction() as s:  # claimed with a lease by an older version … which died
        await s.execute(update(Job).where(Job.kind == "nudge", Job.due_at <= harness.clock.now())
                        .values(state="claimed", lease_until=harness.clock.now() + timedelta(minutes=5)))
    restarted = Harness(harness.db, harness.clock, harness.chat.chat_id)
    await restarted.advance(local(2026, 1, 6, 10, 1))
    assert sent(restarted, "nudge") == []  # still leased to the dead process
    await restarted.advance(local(2026, 1, 6, 10, 10))  # the lease has run out: taken over
    (nudge,) = sent(restarted, "nudge")
    await restarted.advance(local(2026, 1, 12, 12, 0))
    assert len(sent(restarted, "nudge")) == 1 and len(await nudges(harness)) == 1
    assert [j.state for j in await rows(harness, Job, Job.kind == "nudge", order=Job.due_at)] == ["done", "pending"]


# ---------------------------------------------------------------------------- 11. rotation
def test_library_walks_every_category_before_repeating() -> None:
    lib = rhythm.library()
    assert len(lib.categories) == 15
    first = [lib.pick(n).category for n in range(15)]
    assert sorted(first) == sorted(lib.categories)
    assert lib.season_length == 90
    ids = [lib.pick(n, power=True).id for n in range(90)]
    assert len(set(ids)) == 90
    # questions about power and money only when the trekker turned them on (/ritme macht aan)
    assert not any(lib.by_id[lib.pick(n).id].power for n in range(90))
    assert {q.id for q in lib.by_id.values() if q.power} >= {"context-2", "context-6"}
    for start in range(0, 90, 15):  # each block of 15 is a full round of categories
        assert {lib.pick(n).category for n in range(start, start + 15)} == set(lib.categories)


@pytest.mark.slow
async def test_sixteen_real_weeks_rotate_through_all_categories(harness: Harness) -> None:
    await harness.advance(local(2026, 4, 22, 12, 0))  # Tuesdays 6 Jan … 21 Apr
    stored = await nudges(harness)
    assert len(stored) == 16
    assert len({n.category for n in stored[:15]}) == 15
    assert stored[15].category == stored[0].category
    assert len({n.question_id for n in stored}) == 16
    lib = rhythm.library()
    for n, s in zip(stored, sent(harness, "nudge"), strict=True):
        assert lib.by_id.get(n.question_id).texts["nl"] in plain(s.text)
    assert (await network(harness)).nudge_count == 16


async def test_facilitator_question_comes_next(harness: Harness) -> None:
    replies = await command(harness, "bram", "/vraag toevoegen Wat wil je deze week uitproberen?")
    assert [(s.kind, s.visible_to) for s in replies] == [("status", "bram")]
    await harness.advance(local(2026, 1, 13, 11, 0))
    first, second = sent(harness, "nudge")
    assert "Wat wil je deze week uitproberen?" in plain(first.text)
    assert "Eigen vraag" in plain(first.text)
    n1, n2 = await nudges(harness)
    (custom,) = await rows(harness, CustomQuestion)
    assert (n1.question_id, n1.category) == (f"custom-{custom.id}", "eigen")
    assert custom.asked_at == local(2026, 1, 6, 10, 0)
    # the library carries on where it was: its first question comes the week after
    assert n2.question_id == rhythm.library().pick(0).id
    assert "Wat wil je deze week uitproberen?" not in plain(second.text)
    assert "weekvraag" in plain(sent(harness, "reminder")[0].text)


async def test_deelnemer_cannot_add_a_question(harness: Harness) -> None:
    only_error_for(await command(harness, "cem", "/vraag toevoegen Wat maakt jou blij in je werk?"), "cem")
    assert await rows(harness, CustomQuestion) == []
    await harness.advance(local(2026, 1, 6, 11, 0))
    (n1,) = await nudges(harness)
    assert n1.question_id == rhythm.library().pick(0).id


# ---------------------------------------------------------------------------- 12. theme of the month
async def test_theme_of_the_month_only_in_that_month(harness: Harness) -> None:
    replies = await command(harness, "bram", "/thema Eenzaamheid")
    assert [(s.kind, s.to) for s in replies] == [("status", "group")]
    (post,) = await command(harness, "bram", "/thema Eenzaamheid.")  # a typed full stop ends it, not "… (gekozen door …)."
    assert plain(post.text) == "💡 Bram Peters koos het thema van de maand: Eenzaamheid.\nHet staat deze maand bij de weekvraag."
    await command(harness, "bram", "/thema Eenzaamheid")
    net = await network(harness)
    assert (net.theme, net.theme_month) == ("Eenzaamheid", "2026-01")
    await harness.advance(local(2026, 2, 11, 12, 0))
    out = sent(harness, "nudge")
    january = [s for s in out if at_local(s).month == 1]
    february = [s for s in out if at_local(s).month == 2]
    assert len(january) == 4 and len(february) == 2
    assert all("Thema van de maand: Eenzaamheid" in plain(s.text) for s in january)
    assert not any("Eenzaamheid" in plain(s.text) for s in february)


async def test_deelnemer_cannot_set_the_theme(harness: Harness) -> None:
    only_error_for(await command(harness, "cem", "/thema Geld"), "cem")
    assert (await network(harness)).theme == ""


# ---------------------------------------------------------------------------- 13. learning goals
async def test_own_goal_is_stored_and_answered_privately(harness: Harness) -> None:
    replies = await command(harness, "cem", "/leerdoel Beter luisteren naar ouders")
    assert [(s.kind, s.to) for s in replies] == [("status", "dm:cem")]
    assert "Beter luisteren naar ouders" in plain(replies[0].text)
    assert (await member(harness, "cem")).goal == "Beter luisteren naar ouders"


async def test_deelnemer_cannot_set_the_group_goal(harness: Harness) -> None:
    only_error_for(await command(harness, "cem", "/leerdoel groep Samen een aanpak maken"), "cem")
    assert (await network(harness)).group_goal == ""
    assert (await member(harness, "cem")).goal == ""
    replies = await command(harness, "bram", "/leerdoel groep Samen een aanpak maken.")
    assert [(s.kind, s.to) for s in replies] == [("status", "group")]
    # the goal's own full stop ends it: not "… maken. (opgeschreven door Bram Peters)."
    assert plain(replies[0].text) == "🎯 Bram Peters heeft het leerdoel van de groep opgeschreven: Samen een aanpak maken."
    assert (await network(harness)).group_goal == "Samen een aanpak maken."


async def test_goal_and_intention_prompts_every_four_and_six_weeks(harness: Harness) -> None:
    await command(harness, "anna", "/ritme stil uit")  # nobody answers here: no member counts as quiet
    await command(harness, "cem", "/leerdoel Beter luisteren naar ouders")
    await command(harness, "bram", "/leerdoel groep Samen een aanpak maken")
    await harness.advance(local(2026, 4, 6, 8, 0))  # 13 weeks
    goal = [at_local(s) for s in sent(harness, "goal_prompt", to="group")]
    intention = [at_local(s) for s in sent(harness, "intention_prompt", to="group")]
    assert len(goal) == 3 and len(intention) == 2, (goal, intention)
    # every four and six weeks; the message budget may move one a bit (half an hour, or a week when
    # the week is full), never earlier
    assert all(timedelta(weeks=4) <= b - a <= timedelta(weeks=5, hours=2)
               for a, b in zip(goal, goal[1:], strict=False))
    assert timedelta(weeks=6) <= intention[1] - intention[0] <= timedelta(weeks=7, hours=2)
    net = await network(harness)
    assert not any(in_quiet_hours(net, d) for d in goal + intention)
    assert all("Samen een aanpak maken" in plain(s.text) for s in sent(harness, "goal_prompt", to="group"))
    for s in sent(harness, "intention_prompt"):
        assert s.to == "group"
        assert NETWORK["intention"] in plain(s.text) and NETWORK["ambition"] in plain(s.text)
    private = [s for s in sent(harness, "goal_prompt") if s.to != "group"]
    assert [s.to for s in private] == ["dm:cem"] * 3
    assert all("Beter luisteren naar ouders" in plain(s.text) for s in private)


async def test_goal_prompt_asks_each_thing_once_and_names_the_missing_group_goal_once(harness: Harness) -> None:
    await command(harness, "anna", "/ritme stil uit")  # nobody answers here: no member counts as quiet
    await harness.advance(local(2026, 2, 1, 8, 0))
    # nobody has a goal of their own: the group post asks about them, and says once that the group has none
    (first,) = sent(harness, "goal_prompt")
    assert first.to == "group" and "Hoe staat het met je eigen leerdoel?" in plain(first.text)
    assert "nog geen gezamenlijk leerdoel" in plain(first.text)
    await command(harness, "cem", "/leerdoel Beter luisteren naar ouders")
    await harness.advance(local(2026, 4, 27, 8, 0))
    group = sent(harness, "goal_prompt", to="group")
    assert len(group) == 4
    for post in group[1:]:
        text = plain(post.text)
        # not again, every four weeks, in public; and cem is asked privately, so not twice
        assert "nog geen gezamenlijk leerdoel" not in text and "Hoe staat het met je eigen leerdoel?" not in text
        assert text == ("🎯 Even stilstaan bij jullie leerdoelen\nWat hebben jullie de laatste weken samen geleerd? "
                        "Reageer op dit bericht. Naar je eigen leerdoel vraag ik je af en toe persoonlijk. Nog geen "
                        "leerdoel? Schrijf het op, bijvoorbeeld: /leerdoel Ik wil beter leren luisteren.")
    private = [s for s in sent(harness, "goal_prompt") if s.to != "group"]
    assert [s.to for s in private] == ["dm:cem"] * 3
    assert all(plain(s.text).count("Beter luisteren naar ouders") == 1 for s in private)
    assert len({s.text.split("\n")[1] for s in private}) == 3  # three phrasings, not the same every month
    for person in ("anna", "bram", "dewi", "els", "fleur"):
        await command(harness, person, "/leerdoel Eerst vragen, dan pas helpen")
    await harness.advance(local(2026, 5, 26, 8, 0))
    last_post = plain(sent(harness, "goal_prompt", to="group")[-1].text)
    assert len(sent(harness, "goal_prompt", to="group")) == 5
    assert "Nog geen leerdoel?" not in last_post  # everyone has one: nobody to invite


def test_a_word_and_its_plural_are_one_theme() -> None:
    english = ["Students ask late.", "One student told me the letter scared her.",
               "The letters are hard for students.", "My son hid the letters."]
    assert rhythm.themes(english) == ["letters", "students"]  # not "students, student, letter, letters"
    dutch = ["Een ouder belde.", "Ouders vragen laat om hulp.", "De ouders van de school kwamen."]
    assert rhythm.themes(dutch) == ["ouders"]
