"""Hands outbox rows to the adapters and records what was sent, once, across any number of replicas.

The outbox sits between "decided to send" (a row, written in the same transaction as the
decision) and "sent" (the row marked with the platform's message id, which later links replies
and threads back to it). Each platform has its own loop, so a slow platform never holds up
another.

* **Claims.** Rows are claimed with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL). Only the
  oldest unsent row of each conversation (``chat_key``) can be claimed, so per-chat order holds
  whichever replica sends. A process never sends a row whose lease is about to run out, and a
  lease that runs out (the process died) makes the row claimable again.
* **In doubt.** A row found still ``sending`` after its lease ran out may or may not have reached
  the platform (the process died between the request and the commit). If the adapter can check
  (``Sender.confirm``, Slack via message metadata), the row is marked sent without a second send;
  otherwise it is sent again (Telegram's Bot API cannot tell), which is the one case where a
  message can arrive twice. So that a crash can leave at most one such row, a process sends to a
  platform that cannot confirm one row at a time: the send and the recording of its outcome hold
  that platform's lock (other platforms, and other replicas, go on meanwhile). A row sent again
  there waits the conversation's gap counted from when the earlier claim ran out (it may have
  arrived as late as that, and no turn was recorded for it).
* **Limits.** Adapters state their platform's limits (:class:`Limits`). They are kept in the
  ``pacing`` table, so all replicas share them: a conversation that would exceed its limit waits
  (its row is put back until then) while the other conversations go on, and the platform-wide
  rate hands out send slots. A burst is queued, never dropped.
* **Every call.** An adapter that sends one row as several API calls (Telegram: text parts, then
  files) awaits :func:`next_call` before each call after the first: it waits the conversation's gap
  and takes a platform-wide send slot, so the limits hold for every call, not only per row (the
  lease is renewed meanwhile when a long row needs it).
* **Answers.** "Too many requests" (:class:`RetryAfter`) makes that conversation wait as told,
  without counting as a failure. A private message the platform will not deliver until the
  person has started a chat with the bot (:class:`NotStarted`, Telegram) waits (state
  ``waiting``); the group is told how to start that chat, and everything waiting goes out once
  the person writes the bot (:func:`bot.core.release_waiting`). Other failures are retried with
  back-off; a permanent one (:class:`Undeliverable`) is recorded and not retried.
* **Outages.** When the database is gone after a message was sent, the result is kept in memory
  and recorded as soon as the database is back (the lease is long enough for that).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.orm import aliased

from bot import metrics
from bot.clock import Clock
from bot.core import outgoing_from_row
from bot.database import Database, scrub_sqlite_wal
from bot.events import Outgoing
from bot.models import OutboxMessage, Pacing
from bot.platform import Capabilities

log = logging.getLogger(__name__)

#: how long a claim holds; a row is not sent once less than :data:`SAFETY` of it is left
LEASE = timedelta(seconds=90)
#: longer than any single send may take (the adapters' HTTP timeouts are shorter)
SAFETY = timedelta(seconds=30)
MAX_ATTEMPTS = 8
#: rows claimed at once per platform
BATCH = 50
#: sends in flight at once per platform (to different conversations), so a platform's request
#: round trip does not cap the rate its limits allow
CONCURRENCY = 8
#: rows claimed at once for a platform that cannot confirm a row in doubt (they are sent one by one)
SERIAL_BATCH = 8
#: platform-wide send slots reserved per database round trip
SLOTS = 4
#: a conversation's next message waits this much more than the platform's gap. The gap is counted
#: from when the previous message was delivered (the platform had it by then, however long the send
#: took), so only clock granularity needs covering (and Teams' 1,800 an hour at a 2 s gap).
MARGIN = 1.01
#: while several replicas send to a platform, their shared send slots are this much further apart
#: than its messages-per-second limit allows: a send may reach the platform a little after its slot
#: (a busy process wakes late, the request takes time), and another replica's message 30 slots later
#: must not catch up with it. Within one process the limit is kept exactly, by measured send times,
#: so a process alone needs no margin (see ``Delivery._next_slot``).
RATE_MARGIN = 1.08
#: the window over which a platform counts its messages-per-second limit
RATE_WINDOW = 1.0
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class Undeliverable(Exception):
    """The platform refused for good (unknown chat, bot removed, user blocked the bot)."""


class NotStarted(Undeliverable):
    """A private message the platform refuses until the person starts a chat with the bot.

    ``link`` is where they can do that (``https://t.me/<bot>?start=…``), if the platform has one.
    """

    def __init__(self, link: str | None = None) -> None:
        super().__init__(link)
        self.link = link


class RetryAfter(Exception):
    """The platform asked us to slow down: try this chat again after ``seconds``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = max(0.0, float(seconds))


@dataclass(frozen=True)
class Limits:
    """A platform's documented sending limits (0 means none)."""

    #: least seconds between two messages to the same group chat
    per_chat: float = 0.0
    #: least seconds between two private messages to the same person
    per_person: float = 0.0
    #: most messages per second over all chats
    per_second: float = 0.0


class Sender(Protocol):
    """What an adapter offers the core: deliver one message, return the platform's message id.

    A sender states ``capabilities`` (:class:`bot.platform.Capabilities`) and may set ``limits``
    (:class:`Limits`). When ``capabilities.confirms``, it offers
    ``async confirm(message, window) -> str | None``: the platform's id of ``message`` if an earlier,
    interrupted attempt did deliver it (used for rows found in doubt); ``window`` is when that attempt
    may have posted it (its claim's start and end), so a lookup can stay small.
    """

    capabilities: Capabilities

    async def send(self, message: Outgoing) -> str | None:
        """Deliver ``message``; raise :class:`Undeliverable` when it can never arrive,
        :class:`RetryAfter` when rate limited, any other exception for a transient failure."""


def capabilities_of(sender: Sender) -> Capabilities:
    """What the sender's platform can do (the defaults for a sender that does not say)."""
    return getattr(sender, "capabilities", None) or Capabilities()


#: while delivery hands a row to a sender: what :func:`next_call` waits on (None: not in a delivery)
_next_call: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar("bamboe_next_call", default=None)


async def next_call() -> None:
    """For a sender that sends one message as several API calls: wait until the next call keeps the
    platform's limits (the conversation's gap after the previous call, and a platform-wide send
    slot). Call it before every call but the first. Returns at once outside a delivery."""
    pace = _next_call.get()
    if pace is not None:
        await pace()


#: called with the row that could not be delivered privately and the link to start a chat
OnNotStarted = Callable[[OutboxMessage, str | None], Awaitable[None]]


@dataclass
class Claimed:
    """A row this process holds, and whether an earlier attempt may have delivered it."""

    row: OutboxMessage
    lease_until: datetime
    #: when an earlier attempt's claim ran out, if that attempt may have delivered it (in doubt)
    doubt_since: datetime | None = None

    @property
    def in_doubt(self) -> bool:
        """Whether an earlier, interrupted attempt may have delivered the row."""
        return self.doubt_since is not None


class Delivery:
    """Drains the outbox into the adapters' senders (one per platform)."""

    def __init__(self, db: Database, clock: Clock, senders: dict[str, Sender],
                 on_not_started: OnNotStarted | None = None, *, lease: timedelta = LEASE,
                 batch: int = BATCH, concurrency: int = CONCURRENCY) -> None:
        self.db = db
        self.clock = clock
        self.senders = senders
        self.on_not_started = on_not_started
        self.lease = lease
        self.safety = min(SAFETY, lease / 3)
        self.batch = batch
        self.concurrency = concurrency
        #: earliest time a row this process put back becomes sendable (for the caller's wake-up)
        self.next_due: datetime | None = None
        #: rows claimed and not yet finished or put back
        self._claimed: set[int] = set()
        #: the rows being sent right now (their outcome is unknown until the platform answers)
        self._sending: set[int] = set()
        #: platform → send slots reserved and not yet used; one reservation at a time per platform
        self._slots: dict[str, deque[datetime]] = {}
        self._slot_locks: dict[str, asyncio.Lock] = {}
        #: results that could not be recorded (database gone): row id → values to write
        self._unrecorded: dict[int, dict[str, Any]] = {}
        #: platform → the lock that keeps one send in flight, for platforms that cannot confirm
        self._serial: dict[str, asyncio.Lock] = {}
        #: platform → this process's sends in its rate window (see :meth:`_platform_slot`); row id →
        #: the permit its current API call holds
        self._window: dict[str, asyncio.Semaphore] = {}
        self._permits: dict[int, asyncio.Semaphore] = {}
        #: platform → the end of the slots this process reserved last, and whether it was alone then
        self._slots_end: dict[str, datetime] = {}
        self._alone: dict[str, bool] = {}

    # ------------------------------------------------------------------ the loop
    async def flush(self) -> int:
        """Send everything that may be sent now, all platforms side by side; return how many were sent."""
        if self._claimed or self._unrecorded:  # left over from a flush the database broke off
            await self.release_claims()
        if self.next_due is not None and self.next_due <= self.clock.now():
            self.next_due = None  # a row put back in an earlier flush stays known until it is due
        return sum(await _all(self._flush_platform(p) for p in list(self.senders)))

    async def _flush_platform(self, platform: str) -> int:
        sent = 0
        # each claimed row is the head of a different conversation, so they may go side by side
        gate = asyncio.Semaphore(self.concurrency)

        async def deliver(item: Claimed) -> int:
            async with gate:
                return await self._deliver(item)

        while True:
            claimed, more = await self._claim(platform)
            sent += sum(await _all(deliver(item) for item in claimed))
            if not more:  # sending a row makes its conversation's next row claimable: go on while there is one
                return sent

    async def _claim(self, platform: str) -> tuple[list[Claimed], bool]:
        """Claim the sendable heads of this platform's conversations; also whether more rows wait
        behind them (or beyond the batch). When nothing is sendable, remember when a lease runs out."""
        now = self.clock.now()
        limit = self.batch if self.confirms(platform) else min(self.batch, SERIAL_BATCH)
        lease_until = now + self.lease
        async with self.db.transaction() as session:
            found = list(await session.execute(_CLAIM_LOCKED if self.db.is_postgres else _CLAIM,
                                               {"platform": platform, "now": now, "limit": limit}))
            if not found:
                self._remember_due(await session.scalar(_LEASE_ENDS, {"platform": platform, "now": now}))
                return [], False
            rows = [row for row, _ in found]
            # read before the update below changes them: a row still sending is in doubt since its lease ran out
            doubt = {r.id: r.lease_until or now for r in rows if r.state == "sending"}
            await session.execute(update(OutboxMessage).where(OutboxMessage.id.in_([r.id for r in rows]))
                                  .values(state="sending", lease_until=lease_until,
                                          attempts=OutboxMessage.attempts + 1))
        self._claimed.update(r.id for r in rows)
        more = len(rows) == limit or any(queued > 1 for _, queued in found)
        return [Claimed(r, lease_until, doubt.get(r.id)) for r in rows], more

    async def _deliver(self, item: Claimed) -> int:
        """Send one claimed row (or put it back); 1 when it was sent."""
        row = item.row
        if await self._too_late(item):
            return 0
        if item.in_doubt and await self._confirmed(row, (item.doubt_since - self.lease, item.doubt_since)):
            return 1
        # a platform that confirms said the earlier attempt did not arrive; otherwise it may have
        wait = await self._chat_turn(row, None if self.confirms(row.platform) else item.doubt_since)
        if wait is not None:  # keep per-chat order: this conversation waits, the others go on
            await self._put_back(row.id, wait)
            return 0
        if self.confirms(row.platform):
            return await self._send_in_slot(item)
        async with self._serial.setdefault(row.platform, asyncio.Lock()):  # at most one row in doubt
            return await self._send_in_slot(item)

    async def _send_in_slot(self, item: Claimed) -> int:
        """Wait for a platform send slot, then send, unless the claim got too short meanwhile."""
        await self._platform_slot(item.row)
        try:
            if await self._too_late(item):
                return 0
            return await self._send(item)
        finally:
            self._call_done(item.row)

    async def _too_late(self, item: Claimed) -> bool:
        """Put the row back when its claim is about to run out (another replica may take it soon)."""
        if self.clock.now() <= item.lease_until - self.safety:
            return False
        await self._put_back(item.row.id, None)
        return True

    def confirms(self, platform: str) -> bool:
        """Whether ``platform``'s sender can tell if a row in doubt arrived (``capabilities.confirms``)."""
        return capabilities_of(self.senders[platform]).confirms

    # ------------------------------------------------------------------ limits, shared via the database
    def _limits(self, platform: str) -> Limits:
        return getattr(self.senders[platform], "limits", None) or Limits()

    def _gap(self, row: OutboxMessage) -> float:
        limits = self._limits(row.platform)
        return limits.per_chat if row.chat_id is not None else limits.per_person

    async def _chat_turn(self, row: OutboxMessage, doubt_since: datetime | None = None) -> datetime | None:
        """None when this conversation may get its next message now, else when it may.

        The turn is set when a message was *delivered* (:meth:`_next_turn`): the platform saw it no
        later than that, so however long a send took, two messages never arrive closer together
        than the limit. Only one row per conversation is sent at a time, so reading suffices.
        A row in doubt may have arrived as late as its earlier claim ran out (``doubt_since``; no
        send outlives its claim) without a turn being recorded: sent again, it waits the gap from then."""
        gap = self._gap(row)
        if not gap:
            return None
        async with self.db.sessions() as session:
            next_at = await session.scalar(select(Pacing.next_at).where(Pacing.key == _pace_key(row)))
        if doubt_since is not None:
            after_doubt = doubt_since + timedelta(seconds=gap * MARGIN)
            next_at = after_doubt if next_at is None else max(next_at, after_doubt)
        return next_at if next_at is not None and next_at > self.clock.now() else None

    def _next_turn(self, row: OutboxMessage) -> Any | None:
        """After a delivery: the statement that makes the conversation's next message wait the
        platform's gap (recorded together with the delivery)."""
        gap = self._gap(row)
        if not gap:
            return None
        turn = self.clock.now() + timedelta(seconds=gap * MARGIN)
        return (self.db.insert(Pacing).values(key=_pace_key(row), next_at=turn)
                .on_conflict_do_update(index_elements=["key"], set_={"next_at": turn}))

    async def _platform_slot(self, row: OutboxMessage) -> None:
        """Before an API call for ``row``: wait until the platform's messages-per-second limit allows
        it, then return holding a permit of this process's rate window, which the caller gives back
        with :meth:`_call_done` once the call returned (also when it failed).

        Two rules, both in real time (also under a virtual clock: the limit is the platform's, not the
        story's):

        * **Within this process, exactly, by measured send times.** A call holds one of
          ``per_second`` permits from before it starts until :data:`RATE_WINDOW` after it returned.
          The platform received the message between those two moments, so any window of that length
          holds at most ``per_second`` of this process's messages, however the sends were delayed
          or bunched: no margin needed.
        * **All replicas together, by shared slots.** Send slots are reserved from the database a
          few at a time and handed out here: :data:`RATE_MARGIN` / ``per_second`` apart while
          other replicas send to the platform too, and a slot woken up too late for is given up
          (sending then could bunch up with their next slots); ``1 / per_second`` apart while this
          process is alone (:meth:`_next_slot`)."""
        platform = row.platform
        per_second = self._limits(platform).per_second
        if not per_second:
            return
        window = self._window.setdefault(platform, asyncio.Semaphore(max(1, int(per_second))))
        await window.acquire()
        try:
            await self._shared_slot(platform, per_second)
        except BaseException:
            window.release()
            raise
        self._permits[row.id] = window

    def _call_done(self, row: OutboxMessage) -> None:
        """An API call for ``row`` returned (or was not made): its rate-window permit comes back
        :data:`RATE_WINDOW` from now."""
        window = self._permits.pop(row.id, None)
        if window is not None:
            asyncio.get_running_loop().call_later(RATE_WINDOW, window.release)

    async def _shared_slot(self, platform: str, per_second: float) -> None:
        """Wait for this platform's next free send slot of all replicas together."""
        # a send at most this late after its slot, with up to three times as much delay again before
        # it reaches the platform, never catches up with the message ``per_second`` slots later
        tolerance = timedelta(seconds=(RATE_MARGIN - 1) / 4)
        while True:
            slot, alone = await self._next_slot(platform, per_second)
            delay = (slot - datetime.now(UTC)).total_seconds()
            if delay > 0:
                await asyncio.sleep(delay)
            if alone or datetime.now(UTC) - slot <= tolerance:
                return
            # woke too late (a busy process): sending now could bunch up with the next slots'
            # messages of another replica and exceed the limit over some second, so this slot is given up

    async def _next_slot(self, platform: str, per_second: float) -> tuple[datetime, bool]:
        """The next send slot this process may use, and whether it was reserved while no other
        replica sent to the platform.

        Alone (no other process reserved slots since this one's previous reservation, or for a
        whole window), slots are ``1 / per_second`` apart and used however late: this process's
        rate window (:meth:`_platform_slot`) already keeps the limit exactly. Should another replica
        start meanwhile, its first slots follow the few reserved here, :data:`RATE_MARGIN` apart, and
        it sees that it is not alone. Otherwise slots are :data:`RATE_MARGIN` / ``per_second``
        apart, and a late one is given up (:meth:`_shared_slot`)."""
        slots = self._slots.setdefault(platform, deque())
        shared = timedelta(seconds=RATE_MARGIN / per_second)
        async with self._slot_locks.setdefault(platform, asyncio.Lock()):
            now = datetime.now(UTC)
            while slots and slots[0] < now - shared:  # a slot left unused too long is given up
                slots.popleft()
            if not slots:
                async with self.db.transaction() as session:
                    pace = await session.get(Pacing, platform, with_for_update=self.db.is_postgres)
                    if pace is None:
                        await session.execute(self.db.insert(Pacing).values(key=platform, next_at=EPOCH)
                                              .on_conflict_do_nothing(index_elements=["key"]))
                        pace = await session.get(Pacing, platform, with_for_update=self.db.is_postgres)
                    end = self._slots_end.get(platform)
                    # the stored end may differ from ours in the last microsecond
                    alone = (end is not None and pace.next_at < end + timedelta(milliseconds=1)) or (
                        pace.next_at < now - timedelta(seconds=RATE_WINDOW))
                    interval = timedelta(seconds=1 / per_second) if alone else shared
                    first = max(pace.next_at, now)
                    pace.next_at = first + SLOTS * interval
                slots.extend(first + n * interval for n in range(SLOTS))
                self._slots_end[platform] = first + SLOTS * interval
                self._alone[platform] = alone
            return slots.popleft(), self._alone[platform]

    # ------------------------------------------------------------------ sending
    async def _confirmed(self, row: OutboxMessage, window: tuple[datetime, datetime]) -> bool:
        """For a row in doubt: ask the platform whether the interrupted attempt (whose claim ran
        over ``window``) delivered it."""
        confirm = self.senders[row.platform].confirm if self.confirms(row.platform) else None
        log.info("outbox %s was in doubt on %s (%s)", row.id, row.platform,
                 "checking" if confirm else "sending again: the platform cannot tell")
        if confirm is None:
            return False
        try:
            platform_id = await confirm(outgoing_from_row(row), window)
        except Exception as exc:  # cannot tell now: try again later rather than risk a second copy
            log.warning("outbox %s: delivery check failed on %s (%s)", row.id, row.platform, type(exc).__name__)
            wait = exc.seconds if isinstance(exc, RetryAfter) else 10.0  # e.g. Slack's one lookup a minute
            await self._put_back(row.id, self.clock.now() + timedelta(seconds=max(wait, 1.0)))
            return True
        if platform_id is None:
            return False
        await self._finish(row, "sent", platform_id)
        return True

    async def _next_part(self, item: Claimed) -> None:
        """Before a further API call of the row being sent (see :func:`next_call`): the
        conversation's gap (real time: the limit is the platform's) and a platform send slot; the
        claim is renewed when less than the safety margin of it is left."""
        row = item.row
        self._call_done(row)  # the previous call returned
        gap = self._gap(row)
        if gap:
            await asyncio.sleep(gap * MARGIN)
        await self._platform_slot(row)
        now = self.clock.now()
        if now > item.lease_until - self.safety:
            item.lease_until = now + self.lease
            async with self.db.transaction() as session:
                await session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id)
                                      .values(lease_until=item.lease_until))

    async def _send(self, item: Claimed) -> int:
        """Send one row and record the outcome; 1 when sent."""
        row, in_doubt = item.row, item.in_doubt
        message = outgoing_from_row(row)
        self._sending.add(row.id)
        paced = _next_call.set(lambda: self._next_part(item))
        try:
            platform_id = await self.senders[row.platform].send(message)
        except RetryAfter as exc:  # rate limited: not a failure, this conversation waits as told
            metrics.MESSAGES_FAILED.labels(row.platform, "rate_limited").inc()
            await self._put_back(row.id, self.clock.now() + timedelta(seconds=exc.seconds))
            return 0
        except NotStarted as exc:
            metrics.MESSAGES_FAILED.labels(row.platform, "not_started").inc()
            log.info("outbox %s waits until the person starts a private chat on %s", row.id, row.platform)
            await self._finish(row, "waiting", None)
            if self.on_not_started is not None:
                await self.on_not_started(row, exc.link)
            return 0
        except Undeliverable as exc:
            metrics.MESSAGES_FAILED.labels(row.platform, "undeliverable").inc()
            log.warning("outbox %s undeliverable on %s: %s", row.id, row.platform, type(exc).__name__)
            await self._finish(row, "failed", None)
            return 0
        except Exception as exc:  # transient: retry with back-off
            metrics.MESSAGES_FAILED.labels(row.platform, "retry").inc()
            log.warning("outbox %s send failed on %s (%s), will retry", row.id, row.platform, type(exc).__name__)
            if row.attempts >= MAX_ATTEMPTS:
                await self._finish(row, "failed", None)
                return 0
            retry_at = self.clock.now() + timedelta(seconds=min(300, 2 ** row.attempts))
            await self._write(row.id, {"state": "pending", "lease_until": retry_at})
            self._remember_due(retry_at)
            return 0
        finally:
            _next_call.reset(paced)
            self._sending.discard(row.id)
        metrics.MESSAGES_SENT.labels(row.platform).inc()
        metrics.DISPATCH_LAG.labels(row.platform).observe(max(0.0, (self.clock.now() - row.created_at).total_seconds()))
        if in_doubt:
            log.info("outbox %s sent again after an interrupted attempt", row.id)
        await self._finish(row, "sent", platform_id, self._next_turn(row))
        return 1

    # ------------------------------------------------------------------ recording
    async def _put_back(self, row_id: int, until: datetime | None) -> None:
        """Return a claimed row to the queue, sendable from ``until`` (the attempt does not count)."""
        await self._write(row_id, {"state": "pending", "lease_until": until, "attempts": OutboxMessage.attempts - 1})
        if until is not None:
            self._remember_due(until)

    async def _finish(self, row: OutboxMessage, state: str, platform_id: str | None, also: Any = None) -> None:
        """Record a row's outcome. A row marked ``scrub`` keeps no personal content once it is done;
        ``scrub: all`` (the notice that a person's data was erased) keeps nothing that names the
        person either: no user id, no conversation key, no pacing row, nothing in SQLite's log."""
        scrub = (row.meta or {}).get("scrub")
        if scrub == "all" and state == "waiting":  # would keep the user id until they write: give it up
            state = "failed"
        values: dict[str, Any] = {"state": state, "sent_at": self.clock.now(), "platform_message_id": platform_id,
                                  "lease_until": None}
        if scrub and state != "waiting":  # personal content (an export, an erasure notice) is not kept once sent
            values.update(text="", files=[], buttons=[], meta={})
            if scrub == "all":
                values.update(user_id=None, chat_key=f"erased:{row.id}")
                also = delete(Pacing).where(Pacing.key == _pace_key(row))
        await self._write(row.id, values, also)
        if scrub == "all":
            await scrub_sqlite_wal(self.db.engine)  # the claim wrote the user id to the log again

    async def _write(self, row_id: int, values: dict[str, Any], also: Any = None) -> None:
        """Record an outcome (with ``also``, a statement that belongs to it, in the same transaction);
        if the database is gone, keep the outcome to record later (never send twice)."""
        try:
            async with self.db.transaction() as session:
                if also is not None:
                    await session.execute(also)
                await session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values))
        except Exception:
            if values.get("state") in ("sent", "waiting", "failed"):
                self._unrecorded[row_id] = values
                self._claimed.discard(row_id)
            raise
        self._claimed.discard(row_id)

    async def _record_unrecorded(self) -> None:
        for row_id, values in list(self._unrecorded.items()):
            async with self.db.transaction() as session:
                await session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values))
            del self._unrecorded[row_id]

    def _remember_due(self, when: datetime | None) -> None:
        if when is not None:
            self.next_due = when if self.next_due is None else min(self.next_due, when)

    async def release_claims(self) -> int:
        """On shutdown: record what was sent, and put back the rows claimed but not sent, so another
        replica takes them at once. A row whose send was interrupted keeps its lease (in doubt)."""
        await self._record_unrecorded()
        ids = sorted(self._claimed - self._sending)
        if ids:
            async with self.db.transaction() as session:
                await session.execute(update(OutboxMessage)
                                      .where(OutboxMessage.id.in_(ids), OutboxMessage.state == "sending")
                                      .values(state="pending", lease_until=None,
                                              attempts=OutboxMessage.attempts - 1))
        self._claimed.clear()
        return len(ids)


def _claim_query() -> Any:
    """The sendable heads of one platform's conversations (``:platform``, ``:now``, ``:limit``):
    the oldest unsent row of each (only those may go now, so per-chat order holds), whose lease is
    free, with the number of unsent rows in its conversation. Built once: building the statement
    (the outbox aliased for the subquery) costs more than running it."""
    queued = aliased(OutboxMessage)
    heads = (select(func.min(queued.id).label("head"), func.count().label("queued"))
             .where(queued.platform == bindparam("platform"), queued.state.in_(("pending", "sending")))
             .group_by(queued.chat_key).subquery())
    return (select(OutboxMessage, heads.c.queued)
            .join(heads, OutboxMessage.id == heads.c.head)
            .where(or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until <= bindparam("now")))
            .order_by(OutboxMessage.id)
            .limit(bindparam("limit")))


_CLAIM = _claim_query()
_CLAIM_LOCKED = _CLAIM.with_for_update(of=OutboxMessage, skip_locked=True)
#: when the first lease of an unsent row runs out (a row put back until then, or another process's claim)
_LEASE_ENDS = select(func.min(OutboxMessage.lease_until)).where(
    OutboxMessage.platform == bindparam("platform"), OutboxMessage.state.in_(("pending", "sending")),
    OutboxMessage.lease_until > bindparam("now"))


def _pace_key(row: OutboxMessage) -> str:
    """The ``pacing`` key of a row's conversation."""
    return f"{row.platform}|{row.chat_key}"


async def _all(tasks: Iterable[Awaitable[int]]) -> list[int]:
    """Run ``tasks`` side by side to the end (none is cut off by another's failure), then raise the
    first failure, if any."""
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results
