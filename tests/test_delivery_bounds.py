"""How many rows a crash can leave in doubt: for a platform that cannot confirm whether a row in
doubt arrived (Telegram), a process has one send in flight at a time, and the next send starts only
once the previous outcome is recorded; a platform that can confirm keeps sending side by side."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.clock import VirtualClock
from bot.core import store_outgoing
from bot.database import Database
from bot.delivery import Delivery
from bot.events import Address, Outgoing
from bot.models import OutboxMessage
from bot.platform import Capabilities
from tests.conftest import local


class Recorder:
    """A sender that takes a moment per send, and notes what was unrecorded when each send began."""

    capabilities = Capabilities(confirms=False)

    def __init__(self, db: Database) -> None:
        self.db = db
        self.in_flight = 0
        self.most_in_flight = 0
        self.started: list[int] = []
        #: per send: how many earlier sends were not yet recorded as sent when it began
        self.unrecorded_at_start: list[int] = []

    async def send(self, message: Outgoing) -> str:
        async with self.db.sessions() as session:
            recorded = set(await session.scalars(select(OutboxMessage.id).where(OutboxMessage.state == "sent")))
        self.unrecorded_at_start.append(len(set(self.started) - recorded))
        self.started.append(message.outbox_id)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.02)
        self.in_flight -= 1
        return f"p{message.outbox_id}"


class Confirming(Recorder):
    """The same, for a platform that can tell whether a row in doubt arrived (Slack)."""

    capabilities = Capabilities(confirms=True)

    async def confirm(self, message: Outgoing) -> str | None:
        return None


async def deliver_to_twenty_chats(db: Database, sender: Recorder) -> None:
    clock = VirtualClock(local(2026, 1, 5, 9, 0))
    async with db.transaction() as s:
        await store_outgoing(s, None, [Outgoing(Address("x", f"c{n}"), "nudge", f"m{n}") for n in range(20)],
                             clock.now())
    assert await Delivery(db, clock, {"x": sender}).flush() == 20


async def test_one_send_in_flight_where_the_platform_cannot_confirm(db: Database) -> None:
    sender = Recorder(db)
    await deliver_to_twenty_chats(db, sender)
    assert sender.most_in_flight == 1
    assert sender.unrecorded_at_start == [0] * 20  # a crash at any moment leaves at most one row in doubt


async def test_sends_go_side_by_side_where_the_platform_can_confirm(db: Database) -> None:
    sender = Confirming(db)
    await deliver_to_twenty_chats(db, sender)
    assert sender.most_in_flight > 1


async def test_a_row_in_doubt_is_sent_again_only_a_gap_after_its_claim_ran_out(db: Database) -> None:
    """The interrupted attempt may have reached the platform as late as its claim ran out, and no
    turn was recorded for it: sent again, the row waits the conversation's gap from then (a kill
    test on a loaded machine once saw a 429 there)."""
    from datetime import timedelta

    from bot.delivery import MARGIN, Limits

    clock = VirtualClock(local(2026, 1, 5, 9, 0))
    sender = Recorder(db)
    sender.limits = Limits(per_person=1.0)
    async with db.transaction() as s:
        await store_outgoing(s, None, [Outgoing(Address("x", None, "u1"), "reminder", "hoi")], clock.now())
    async with db.transaction() as s:  # the dead process's claim: still sending, its lease ran out just now
        row = await s.scalar(select(OutboxMessage))
        row.state, row.attempts, row.lease_until = "sending", 1, clock.now() - timedelta(seconds=0.1)
    delivery = Delivery(db, clock, {"x": sender})
    assert await delivery.flush() == 0 and sender.started == []
    clock.advance(timedelta(seconds=MARGIN - 0.2))
    assert await delivery.flush() == 0 and sender.started == []
    clock.advance(timedelta(seconds=0.2))
    assert await delivery.flush() == 1 and len(sender.started) == 1
