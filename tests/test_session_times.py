"""Sessions and local time: the digest says when the session is counted from the day it goes out,
overlapping sessions are refused (also when two replicas plan them at the same moment), a clock time the DST change skips is refused and one it repeats is
read one way, an end equal to the start gets its own answer, the question after a Friday-evening
session comes on the next working morning, and a pause ends at the same local time across DST.
Everything runs through the console harness on the fake clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from adapters.console.harness import Harness
from bot.events import MessageIn
from bot.markup import plain
from bot.models import Announcement, Job, Meeting
from bot.registry import Feature
from tests.conftest import MEMBERS, local, texts, two_replicas, waiting_for_a_lock
from tests.test_rhythm import at_local, command, member, only_error_for, open_harness, rows, sent


def group_digests(h: Harness) -> list[str]:
    return texts(h, "digest", to="group")


# ---------------------------------------------------------------------------- the digest's day
async def test_digest_on_friday_for_a_monday_session_says_monday(harness: Harness) -> None:
    await command(harness, "anna", "/bijeenkomst 2026-01-19 14:00-16:00 Buurthuis")  # a Monday
    await harness.advance(local(2026, 1, 6, 9, 0))
    await harness.join("gijs", "Gijs de Vries")
    await harness.advance(local(2026, 1, 19, 12, 0))
    (digest,) = sent(harness, "digest", to="group")
    assert at_local(digest) == local(2026, 1, 16, 10, 0)  # the Friday before
    (text,) = group_digests(harness)
    assert text.startswith("📋 Vooruitblik: maandag bijeenkomst 19 jan 2026 14:00-16:00, Buurthuis")
    assert "De trekker vertelt maandag wie er is aangeschoven." in text
    assert text.endswith("Tot maandag!") or "Tot maandag! Mededelingen" in text
    assert "morgen" not in text


async def test_digest_the_day_before_still_says_tomorrow(harness: Harness) -> None:
    await command(harness, "anna", "/bijeenkomst 2026-01-15 14:00-16:00 Buurthuis")  # a Thursday
    await harness.advance(local(2026, 1, 15, 12, 0))
    (text,) = group_digests(harness)
    assert text.startswith("📋 Vooruitblik: morgen bijeenkomst do 15 jan 2026")
    assert "Tot morgen!" in text


async def test_digest_sent_on_the_day_itself_says_today(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 7, 9, 0))
    await command(harness, "anna", "/bijeenkomst 2026-01-07 14:00-16:00 Buurthuis")  # planned at short notice
    await harness.advance(local(2026, 1, 7, 9, 5))
    (digest,) = sent(harness, "digest", to="group")
    assert at_local(digest) == local(2026, 1, 7, 9, 0)
    (text,) = group_digests(harness)
    assert text.startswith("📋 Vooruitblik: vandaag bijeenkomst wo 7 jan 2026") and "Tot straks!" in text
    assert "morgen" not in text


async def test_digest_before_kings_day_names_the_day(sqlite_url: str) -> None:
    h = await open_harness(sqlite_url, local(2026, 4, 20, 8, 0))
    try:
        await command(h, "anna", "/bijeenkomst 2026-04-28 14:00-16:00 Na Koningsdag")  # Mon 27 Apr is King's Day
        await h.advance(local(2026, 4, 28, 12, 0))
        (digest,) = sent(h, "digest", to="group")
        assert at_local(digest) == local(2026, 4, 24, 10, 0)  # Friday: not the weekend, not King's Day
        (text,) = group_digests(h)
        assert text.startswith("📋 Vooruitblik: dinsdag bijeenkomst 28 apr 2026") and "Tot dinsdag!" in text
        assert "morgen" not in text
    finally:
        await h.close()


async def test_english_digest_on_friday_says_on_monday(harness: Harness) -> None:
    await command(harness, "anna", "/netwerk taal en")
    await command(harness, "anna", "/session 2026-01-12 14:00-16:00 Library")
    await harness.advance(local(2026, 1, 12, 12, 0))
    (text,) = group_digests(harness)
    assert text.startswith("📋 Preview: session on Monday 12 Jan 2026 14:00-16:00, Library")
    assert "See you on Monday!" in text and "tomorrow" not in text


# ---------------------------------------------------------------------------- overlapping sessions
async def test_overlapping_or_duplicate_session_is_refused_and_nothing_stored(harness: Harness) -> None:
    await command(harness, "anna", "/bijeenkomst 19 januari 14:00 Bieb")
    jobs_before = len(await rows(harness, Job))
    for text in ("/bijeenkomst 19 januari 14:00 Bieb", "/bijeenkomst 2026-01-19 15:30-17:00 Stadhuis",
                 "/bijeenkomst 2026-01-19 13:00-14:30 Stadhuis"):
        replies = await command(harness, "anna", text)
        only_error_for(replies, "anna")
        answer = texts(harness)[-1]
        assert "Op dat moment is er al een bijeenkomst: 1. ma 19 jan 2026 14:00-16:00, Bieb." in answer, text
        assert "/bijeenkomst annuleer 1" in answer
    assert [m.place for m in await rows(harness, Meeting)] == ["Bieb"]
    assert len(await rows(harness, Job)) == jobs_before  # no second digest, input or after-session question
    await command(harness, "anna", "/bijeenkomst 2026-01-19 16:00-17:00 Aansluitend")  # right after: fine
    await command(harness, "anna", "/bijeenkomst annuleer 1")
    await command(harness, "anna", "/bijeenkomst 2026-01-19 14:00-15:30 Bieb")  # a cancelled one does not block
    assert [(m.nr, m.cancelled) for m in await rows(harness, Meeting, order=Meeting.nr)] == [
        (1, True), (2, False), (3, False)]


async def test_overlap_is_refused_in_english_too(harness: Harness) -> None:
    await command(harness, "anna", "/netwerk taal en")
    await command(harness, "anna", "/session 19 January 14:00 Library")
    only_error_for(await command(harness, "anna", "/session 19 januari 14:00 Bieb"), "anna")
    assert ("There is already a session at that time: 1. Mon 19 Jan 2026 14:00-16:00, Library."
            in texts(harness)[-1]) and "/session cancel 1" in texts(harness)[-1]
    assert len(await rows(harness, Meeting)) == 1


@pytest.mark.postgres
async def test_two_replicas_planning_overlapping_sessions_at_once_store_only_one() -> None:
    """Two replicas (each its own engine and core) plan overlapping sessions in one network at the
    same moment. The first is held inside its transaction, its session stored but not committed,
    until the second is waiting on the database; then it commits. The second then sees the first's
    session and gets the usual overlap answer: one session stored, not two."""
    release, stored = asyncio.Event(), asyncio.Event()

    async def hold(_ctx: object, _meeting: Meeting) -> None:  # after the insert, before the commit
        stored.set()
        await release.wait()

    trekkers = [{**m, "role": "trekker"} if m["id"] == "fleur" else m for m in MEMBERS]
    async with two_replicas(trekkers, Feature("hold", listens={"meeting_planned": (hold,)}), release) as (
            setup, first, second, tasks):
        planning = asyncio.create_task(first.handle(MessageIn(
            setup.chat, setup.person("anna"), "/bijeenkomst 2026-01-19 14:00-16:00 Bieb", "m1")))
        tasks.append(planning)
        await asyncio.wait_for(stored.wait(), 10)
        clashing = asyncio.create_task(second.handle(MessageIn(
            setup.chat, setup.person("fleur"), "/bijeenkomst 2026-01-19 15:00-17:00 Stadhuis", "m2")))
        tasks.append(clashing)
        await waiting_for_a_lock(second.db)
        release.set()
        planned, refused = await asyncio.wait_for(asyncio.gather(planning, clashing), 10)
        assert [o.kind for o in planned] == ["session"]
        assert [(o.kind, o.address.user_id) for o in refused] == [("error", "fleur")]
        assert "Op dat moment is er al een bijeenkomst: 1. ma 19 jan 2026 14:00-16:00, Bieb." in plain(refused[0].text)
        async with first.db.transaction() as s:
            assert list(await s.scalars(sa.select(Meeting.place))) == ["Bieb"]


# ---------------------------------------------------------------------------- DST and odd times
async def test_a_time_the_clocks_skip_is_refused(harness: Harness) -> None:
    for text in ("/bijeenkomst 2026-03-29 02:30 Nachtbijeenkomst", "/bijeenkomst 2026-03-29 01:30-02:15 Nacht"):
        only_error_for(await command(harness, "anna", text), "anna")
        answer = texts(harness)[-1]
        assert "bestaat niet op zo 29 mrt 2026: de klok gaat die nacht een uur vooruit" in answer, text
    assert "02:15 bestaat niet" in texts(harness)[-1]
    only_error_for(await command(harness, "anna", "/mededeling om 2026-03-29 02:00 Zomertijd!"), "anna")
    assert "02:00 bestaat niet op zo 29 mrt 2026" in texts(harness)[-1]
    assert await rows(harness, Meeting) == [] and await rows(harness, Announcement) == []
    await command(harness, "anna", "/bijeenkomst 2026-03-29 03:00 Na de wissel")
    assert "zo 29 mrt 2026 03:00-05:00, Na de wissel" in texts(harness, "session")[-1]
    (meeting,) = await rows(harness, Meeting)
    assert meeting.starts_at == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


async def test_the_repeated_hour_is_its_first_occurrence_and_shown_the_same(harness: Harness) -> None:
    await command(harness, "anna", "/bijeenkomst 2026-10-25 02:30 Nacht van de wintertijd")
    (meeting,) = await rows(harness, Meeting)
    assert meeting.starts_at == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 summer time
    assert meeting.ends_at == datetime(2026, 10, 25, 3, 30, tzinfo=UTC)  # 04:30 winter time
    planned = texts(harness, "session")[-1]
    await command(harness, "cem", "/bijeenkomst")
    listed = texts(harness)[-1]
    for shown in (planned, listed):
        assert "zo 25 okt 2026 02:30-04:30, Nacht van de wintertijd" in shown


async def test_end_equal_to_start_gets_its_own_answer(harness: Harness) -> None:
    only_error_for(await command(harness, "anna", "/bijeenkomst 2026-01-19 14:00-14:00 X"), "anna")
    answer = texts(harness)[-1]
    assert "De eindtijd is gelijk aan de begintijd" in answer and "voor de begintijd" not in answer
    only_error_for(await command(harness, "anna", "/bijeenkomst 2026-01-19 16:00-14:00 X"), "anna")
    assert "De eindtijd ligt voor de begintijd" in texts(harness)[-1]
    assert await rows(harness, Meeting) == []


# ---------------------------------------------------------------------------- after a Friday evening
async def test_after_a_friday_evening_session_the_question_comes_monday_at_nine(harness: Harness) -> None:
    await command(harness, "anna", "/bijeenkomst 2026-01-16 19:00-21:00 Vrijdagavond")
    await harness.advance(local(2026, 1, 20, 12, 0))
    assert [at_local(s) for s in sent(harness, "after_session_question")] == [local(2026, 1, 19, 9, 0)]


async def test_after_a_friday_session_before_kings_day_the_question_comes_tuesday(sqlite_url: str) -> None:
    h = await open_harness(sqlite_url, local(2026, 4, 20, 8, 0))
    try:
        await command(h, "anna", "/bijeenkomst 2026-04-24 19:00-21:00 Vrijdagavond")
        await h.advance(local(2026, 4, 29, 12, 0))
        assert [at_local(s) for s in sent(h, "after_session_question")] == [local(2026, 4, 28, 9, 0)]
    finally:
        await h.close()


# ---------------------------------------------------------------------------- pause across DST
async def test_pause_ends_at_the_same_local_time_across_summer_time(sqlite_url: str) -> None:
    h = await open_harness(sqlite_url, local(2026, 3, 20, 9, 1))  # Friday before 29 March
    try:
        await command(h, "cem", "/pauze 10d")
        assert "pauze tot ma 30 mrt 2026 09:01" in texts(h)[-1]
        assert (await member(h, "cem")).paused_until == local(2026, 3, 30, 9, 1)
    finally:
        await h.close()


async def test_pause_of_months_and_weeks_keeps_the_local_time(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 5, 9, 1))
    await command(harness, "cem", "/pauze 3m")  # months count as 30 days
    assert "pauze tot zo 5 apr 2026 09:01" in texts(harness)[-1]
    assert (await member(harness, "cem")).paused_until == local(2026, 4, 5, 9, 1)


async def test_pause_ends_at_the_same_local_time_across_the_fall_back(sqlite_url: str) -> None:
    h = await open_harness(sqlite_url, local(2026, 10, 20, 9, 1))
    try:
        await command(h, "dewi", "/pauze 1w")  # across the fall-back of 25 October
        assert "pauze tot di 27 okt 2026 09:01" in texts(h)[-1]
        assert (await member(h, "dewi")).paused_until == local(2026, 10, 27, 9, 1)
    finally:
        await h.close()
