"""What falls under no network's retention period is still removed after a bounded time: the
outbox rows of no network (private answers to someone who is a member nowhere) and the turns of
conversations (``pacing``, whose key names a person's platform id) by the hourly housekeeping of
``bamboe run``; link codes, used or not, by the network's nightly retention run, the period after
they expired. Each is kept one day before its time and gone one day after (on the virtual clock)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from adapters.console.harness import PLATFORM, Harness
from bamboe.runtime import App
from bot.core import NETWORKLESS_KEPT, PACING_KEPT
from bot.events import ChatRef, MessageIn, Person
from bot.models import LinkCode, Network, OutboxMessage, Pacing
from tests.conftest import MEMBERS, NETWORK, local
from tests.test_rhythm import rows

DAY = timedelta(days=1)


@pytest.fixture
async def both(database_url: str) -> AsyncIterator[Harness]:
    """The virtual chat with six members, on SQLite and on PostgreSQL."""
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [dict(m) for m in MEMBERS])
    yield h
    await h.close()


async def a_stranger_writes_privately(h: Harness) -> list[OutboxMessage]:
    """Zoë, a member of no network, writes the bot privately; returns the rows of its answer."""
    await h._handle(MessageIn(ChatRef(PLATFORM, "dm-zoe", "", private=True), Person("zoe", "Zoë Visser"),
                              "/help", "z1"))
    answers = await rows(h, OutboxMessage, OutboxMessage.user_id == "zoe")
    assert answers and {(r.network_id, r.state) for r in answers} == {(None, "sent")}
    return answers


async def test_a_message_of_no_network_is_kept_30_days_then_removed_by_the_hourly_housekeeping(
        both: Harness) -> None:
    """Zoë's answer is there 29 days later and gone 31 days later; the network's own messages of
    that day stay (its retention period, 12 months, governs them), and so does one of no network
    that a replica is sending right now (it goes once it is sent). ``bamboe run``'s hourly
    housekeeping is what removes it (``App.housekeeping`` runs the core's)."""
    assert NETWORKLESS_KEPT == 30 * DAY  # as docs/privacy.md says
    await both.say("anna", "/status")
    answers = await a_stranger_writes_privately(both)
    made = answers[0].created_at
    network_rows = {r.id for r in await rows(both, OutboxMessage, OutboxMessage.network_id.is_not(None))}
    assert network_rows
    app = App(settings=None, db=both.db, clock=both.clock, core=both.core, delivery=both.delivery)

    await both.advance(made + NETWORKLESS_KEPT - DAY)
    await app.housekeeping()
    assert {r.id for r in await rows(both, OutboxMessage, OutboxMessage.user_id == "zoe")} == {r.id for r in answers}

    await both.advance(made + NETWORKLESS_KEPT + DAY)
    async with both.db.transaction() as s:  # one still being sent (a replica's claim) waits until it is sent
        s.add(OutboxMessage(platform=PLATFORM, user_id="zoe", kind="help", text="…", state="sending",
                            lease_until=both.clock.now() + timedelta(minutes=1), created_at=made))
    app.housekeeping_due = None  # an hour has passed many times over
    await app.housekeeping()
    assert [r.state for r in await rows(both, OutboxMessage, OutboxMessage.network_id.is_(None))] == ["sending"]
    assert network_rows <= {r.id for r in await rows(both, OutboxMessage)}


async def test_a_conversations_turn_is_forgotten_a_day_after_it_passed_a_platforms_own_row_stays(
        both: Harness) -> None:
    """The turn of Zoë's private conversation (its key holds her platform id) is there a day after it
    passed, and gone two days after; the platform's own row (its rate window, no person in it) stays."""
    assert PACING_KEPT == DAY
    turn = both.clock.now() + timedelta(seconds=3)
    async with both.db.transaction() as s:
        s.add_all([Pacing(key=f"{PLATFORM}|u:zoe", next_at=turn), Pacing(key=f"{PLATFORM}|c:group", next_at=turn),
                   Pacing(key=PLATFORM, next_at=turn, shares={})])

    await both.advance(turn + PACING_KEPT)  # one day before it goes
    await both.core.housekeeping()
    assert {p.key for p in await rows(both, Pacing)} == {f"{PLATFORM}|u:zoe", f"{PLATFORM}|c:group", PLATFORM}

    await both.advance(turn + PACING_KEPT + 2 * DAY)  # one day after
    await both.core.housekeeping()
    assert [p.key for p in await rows(both, Pacing)] == [PLATFORM]


async def test_a_link_code_goes_the_retention_period_after_it_expired(harness: Harness) -> None:
    """With a retention period of 1 month (30 days), Anna's ``/koppel`` code (valid 24 hours) is
    still kept 29 days after it expired (typing it says it expired) and gone by the nightly run
    after its 30 days; a code of another network is not this network's to remove."""
    await harness.say("anna", "/privacy bewaartermijn 1")
    await harness.say("anna", "/koppel")
    (code,) = await rows(harness, LinkCode)
    async with harness.db.transaction() as s:  # another network's code, made at the same moment
        other = Network(name="Ander netwerk", created_at=harness.clock.now())
        s.add(other)
        await s.flush()
        member_id = code.member_id
        s.add(LinkCode(code_hash="0" * 64, kind="chat", network_id=other.id, member_id=member_id,
                       created_at=code.created_at, expires_at=code.expires_at))

    await harness.advance(code.expires_at + 30 * DAY - DAY)
    assert {c.network_id for c in await rows(harness, LinkCode)} == {code.network_id, other.id}

    await harness.advance(code.expires_at + 30 * DAY + DAY)
    assert await rows(harness, LinkCode, LinkCode.network_id == code.network_id) == []
    assert [c.code_hash for c in await rows(harness, LinkCode, LinkCode.network_id == other.id)] == ["0" * 64]
    async with harness.db.transaction() as s:
        assert await s.scalar(select(LinkCode.id).where(LinkCode.id == code.id)) is None
