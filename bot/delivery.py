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
  (its row is put back until then) while the other conversations go on. A platform's
  messages-per-second limit is kept exactly, by measured send times: each process that sends to it
  holds a share of its rate window, published in the platform's ``pacing`` row, and the shares
  never add up to more than the limit (:meth:`Delivery._platform_slot`). A burst is queued, never
  dropped.
* **Every call.** An adapter that sends one row as several API calls (Telegram: text parts, then
  files) awaits :func:`next_call` before each call after the first: it waits the conversation's gap
  and a permit of the process's share of the rate window, so the limits hold for every call, not only per row (the
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
import bisect
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
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
#: a conversation's next message waits this much more than the platform's gap. The gap is counted
#: from when the previous message was delivered (the platform had it by then, however long the send
#: took), so only clock granularity needs covering (and Teams' 1,800 an hour at a 2 s gap).
MARGIN = 1.01
#: the window over which a platform counts its messages-per-second limit
RATE_WINDOW = 1.0
#: a process holds its share of a platform's rate window (see ``Delivery._platform_slot``) this many
#: seconds, renewed every :data:`RENEW` seconds while it sends to the platform
HOLD = 2.0
RENEW = 0.25
#: no call starts with less than this left of the process's hold on its share (seconds)
GUARD = 0.5
#: while its share is not complete yet (others still give up theirs), a process looks again at the
#: moment another's permit comes back, but not sooner than this (seconds)
MIN_POLL = 0.05
#: replicas' clocks may differ a little (NTP keeps them closer): the times other processes publish
#: count this much longer (seconds)
CLOCK_SKEW = 0.02
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class Undeliverable(Exception):
    """The platform refused for good (unknown chat, bot removed, user blocked the bot)."""


class NotStarted(Undeliverable):
    """A private message the platform refuses until the person starts a chat with the bot.

    ``link`` is where they can do that (``https://t.me/<bot>?start=…``), if the platform has one.
    ``prompt`` is the key of the platform's own note for the group (with ``{name}`` and ``{link}``),
    where the general one (``delivery.start_private_link``) would not be right there.
    ``quiet``: the group is told nothing (the person turned the bot away themselves, so a note
    in the group would only point at them); the message still waits until they write the bot.
    """

    def __init__(self, link: str | None = None, prompt: str | None = None, *, quiet: bool = False) -> None:
        super().__init__(link)
        self.link = link
        self.prompt = prompt
        self.quiet = quiet


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

    A sender that keeps something of its own about a person (how to reach them, a direct room,
    a cached name) offers ``async forget(user_id) -> None``: that person was erased
    (``/vergeetmij``, or silently once they had left the network longer than its retention
    period); it is called once the notice saying so was delivered (or given up), or, for a silent
    erasure, once its row (``meta["silent"]``, never sent) comes up in the outbox.
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
    platform's limits (the conversation's gap after the previous call, and a permit of the
    platform's rate window). Call it before every call but the first. Returns at once outside a delivery."""
    pace = _next_call.get()
    if pace is not None:
        await pace()


#: called with the row that could not be delivered privately, the link to start a chat and the
#: platform's own note (a prompt key; None: the general one)
OnNotStarted = Callable[[OutboxMessage, str | None, str | None], Awaitable[None]]


@dataclass
class Claimed:
    """A row this process holds, and whether an earlier attempt may have delivered it."""

    #: the outbox row as read (its columns as attributes, like an ``OutboxMessage``)
    row: Any
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
        #: results that could not be recorded (database gone): row id → values to write
        self._unrecorded: dict[int, dict[str, Any]] = {}
        #: platform → the lock that keeps one send in flight, for platforms that cannot confirm
        self._serial: dict[str, asyncio.Lock] = {}
        #: this process's name in the platforms' shares of their rate windows (:class:`bot.models.Pacing`)
        self.name = uuid.uuid4().hex
        #: platform → this process's share of its rate window (see :meth:`_platform_slot`); row id →
        #: the share whose permit its current API call holds
        self._shares: dict[str, _Share] = {}
        self._permits: dict[int, _Share] = {}

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

        try:
            while True:
                claimed, more = await self._claim(platform)
                sent += sum(await _all(deliver(item) for item in claimed))
                if not more:  # sending a row makes its conversation's next row claimable: go on while there is one
                    return sent
        finally:
            await self._leave(platform)  # nothing more to send for now: the others may grow their shares

    async def _claim(self, platform: str) -> tuple[list[Claimed], bool]:
        """Claim the sendable heads of this platform's conversations; also whether more rows wait
        behind them (or beyond the batch). When nothing is sendable, remember when a lease runs out."""
        now = self.clock.now()
        limit = self.batch if self.confirms(platform) else min(self.batch, SERIAL_BATCH)
        lease_until = now + self.lease
        async with self.db.begin() as connection:  # plain rows (Core): nothing here needs the ORM
            rows = list(await connection.execute(_CLAIM_LOCKED if self.db.is_postgres else _CLAIM,
                                                 {"platform": platform, "now": now, "limit": limit}))
            if not rows:
                self._remember_due(await connection.scalar(_LEASE_ENDS, {"platform": platform, "now": now}))
                return [], False
            # read before the update below changes them: a row still sending is in doubt since its lease ran out
            doubt = {r.id: r.lease_until or now for r in rows if r.state == "sending"}
            await connection.execute(_TAKE, {"ids": [r.id for r in rows], "until": lease_until})
        self._claimed.update(r.id for r in rows)
        more = len(rows) == limit or any(r.queued > 1 for r in rows)
        return [Claimed(r, lease_until, doubt.get(r.id)) for r in rows], more

    async def _deliver(self, item: Claimed) -> int:
        """Send one claimed row (or put it back); 1 when it was sent."""
        row = item.row
        if (row.meta or {}).get("silent"):  # a silent erasure's row: nothing to send, only forget the person
            await self._finish(row, "cancelled", None)
            return 0
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
        """Wait for a permit of the platform's rate window, then send, unless the claim got too short meanwhile."""
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
        it, then return holding a permit of this process's share of the rate window, which the caller
        gives back with :meth:`_call_done` once the call returned (also when it failed).

        The limit is kept exactly, by measured send times, over all replicas together (in real time,
        also under a virtual clock: the limit is the platform's, not the story's):

        * **Within this process**, a call holds a permit from before it starts until
          :data:`RATE_WINDOW` after it returned. The platform received the message between those two
          moments, so any window of that length holds at most as many of the process's messages as
          it holds permits at the window's end, however late a busy process woke or how the
          requests bunched up: no margin needed.
        * **Across processes**, each one that sends to the platform holds a *share* of the
          ``per_second`` permits (:meth:`_renew`, the ``pacing`` row of the platform): it publishes
          its share with the times its permits come back, and takes more only where the others'
          published shares and permits leave room, so the permits held by all processes together
          never exceed ``per_second``. A process that joins starts with what is free and grows to its
          part (``per_second`` / the number of processes with work) as the others' permits come back;
          theirs shrink at their next renewal. A share is held :data:`HOLD` seconds, renewed every
          :data:`RENEW` while the process sends; it is given back (with its permits' times) when the
          process has nothing more to send, and counts one window beyond its end when it ran out
          (a killed or stalled process)."""
        platform = row.platform
        if not window_size(self._limits(platform)):
            return
        share = self._shares.setdefault(platform, _Share())
        while True:
            if share.keeper is None:  # join: the share is taken, and then kept, by a task of its own
                share.stop = asyncio.Event()
                share.keeper = asyncio.create_task(self._keep(platform, share, share.stop))
            now = time.time()
            changed = share.changed
            if now < share.until - GUARD:
                if share.held(now) < share.cap:
                    share.flight += 1
                    self._permits[row.id] = share
                    return
                timeout = share.back[0] - now if share.back and share.cap else None
            elif share.error is not None:  # the share could not be renewed (the database is gone)
                raise share.error
            else:
                timeout = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout)

    def _call_done(self, row: OutboxMessage) -> None:
        """An API call for ``row`` returned (or was not made): its permit comes back
        :data:`RATE_WINDOW` from now."""
        share = self._permits.pop(row.id, None)
        if share is not None:
            share.flight -= 1
            bisect.insort(share.back, time.time() + RATE_WINDOW)
            share.notify()

    async def _keep(self, platform: str, share: _Share, stop: asyncio.Event) -> None:
        """Take this process's share of ``platform``'s rate window and renew it until ``stop`` (:meth:`_leave`)."""
        while not stop.is_set():
            try:
                delay = await self._renew(platform, share, want=True)
            except Exception as exc:  # the database is gone: the share runs out, calls wait (or fail)
                log.warning("could not renew the share of %s's rate (%s)", platform, type(exc).__name__)
                share.error = exc
                share.notify()
                delay = RENEW
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _leave(self, platform: str) -> None:
        """Give this process's share of ``platform``'s rate window back (with the times its permits
        come back), so the others may grow theirs once those permits are free."""
        share = self._shares.get(platform)
        if share is None or share.keeper is None:
            return
        keeper, share.keeper = share.keeper, None
        share.stop.set()
        await asyncio.wait([keeper])  # ends after its current renewal
        share.cap, share.until, share.error = 0, 0.0, None
        share.notify()
        try:
            await self._renew(platform, share, want=False)
        except Exception as exc:  # the share runs out by itself
            log.warning("could not give back the share of %s's rate (%s)", platform, type(exc).__name__)

    async def _renew(self, platform: str, share: _Share, *, want: bool) -> float:
        """Publish this process's share of ``platform``'s rate window (in its ``pacing`` row, under
        the row's lock) and return when to renew it.

        The share aimed at is ``per_second`` divided among the processes whose shares are held
        (the first ones, by name, get one more when it does not divide). A smaller share is taken
        at once (the process's own permits above it are still counted, until they come back); a
        larger one only as far as the others' published shares and permits leave room now.
        Invariant: for every process, its published share, or the permits it held when it published
        that are not back yet, whichever is more, is an upper bound of the permits it holds; and the
        sum of these bounds never exceeds ``per_second``. Without ``want``, the share is given back."""
        size = window_size(self._limits(platform))
        async with share.renewing:  # one renewal at a time: the local share follows the published one
            async with self.db.transaction() as session:
                pace = await session.get(Pacing, platform, with_for_update=self.db.is_postgres)
                if pace is None:
                    await session.execute(self.db.insert(Pacing).values(key=platform, next_at=EPOCH)
                                          .on_conflict_do_nothing(index_elements=["key"]))
                    pace = await session.get(Pacing, platform, with_for_update=self.db.is_postgres)
                now = time.time()
                stored = dict(pace.shares or {})
                mine = stored.pop(self.name, None)
                others = {name: entry for name, entry in stored.items() if _counts(entry, now)}
                published = mine["cap"] if mine is not None and _counts(mine, now) else 0
                target = _part(size, others, self.name, now) if want else 0
                if target <= published:
                    cap = target
                else:
                    room = size - sum(_bound(entry, now) for entry in others.values())
                    cap = max(published, min(target, room))
                share.cap = min(share.cap, cap)  # a smaller share holds before it is published
                until = now + HOLD if want or share.flight else now
                share.held(now)
                others[self.name] = {"cap": cap, "until": _up(until), "want": want, "flight": share.flight,
                                     "back": [_up(t) for t in share.back]}
                pace.shares = others
            if want:  # a larger share holds once it is published
                share.cap, share.until, share.error = cap, until, None
                share.notify()
        if not want or cap >= target:
            return RENEW
        return _next_look(size, others, self.name, now)

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
        conversation's gap (real time: the limit is the platform's) and a permit of the platform's
        rate window; the claim is renewed when less than the safety margin of it is left."""
        row = item.row
        self._call_done(row)  # the previous call returned
        gap = self._gap(row)
        if gap:
            await asyncio.sleep(gap * MARGIN)
        await self._platform_slot(row)
        now = self.clock.now()
        if now > item.lease_until - self.safety:
            item.lease_until = now + self.lease
            async with self.db.begin() as connection:
                await connection.execute(update(OutboxMessage).where(OutboxMessage.id == row.id)
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
            if self.on_not_started is not None and not exc.quiet:
                await self.on_not_started(row, exc.link, exc.prompt)
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
        await self._write(row_id, {"state": "pending", "lease_until": until}, undo_attempt=True)
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
            await self._forget(row)

    async def _forget(self, row: OutboxMessage) -> None:
        """The notice that a person's data was erased is done: each adapter that keeps something
        of its own about them (how to reach them, a direct room, caches) drops it now, for the
        account the notice went to and every account linked to it: those in ``meta["forget"]``
        (not an account another network's member also has), or, for a row from before that list
        was kept, the account it went to."""
        meta = row.meta or {}
        people = {(p, u) for p, u in meta.get("forget", ()) if u}
        if row.user_id and "forget" not in meta:
            people.add((row.platform, row.user_id))
        for platform, user_id in sorted(people):
            forget = getattr(self.senders.get(platform), "forget", None)
            if forget is None:
                continue
            try:
                await forget(user_id)
            except Exception as exc:  # noqa: BLE001 - the erasure itself stands; say so without the id
                log.warning("an erased person's data on %s could not be dropped (%s)", platform, type(exc).__name__)

    async def _write(self, row_id: int, values: dict[str, Any], also: Any = None, *,
                     undo_attempt: bool = False) -> None:
        """Record an outcome (with ``also``, a statement that belongs to it, in the same transaction;
        ``undo_attempt``: the claim's attempt does not count); if the database is gone, keep the
        outcome to record later (never send twice)."""
        try:
            async with self.db.begin() as connection:
                if also is not None:
                    await connection.execute(also)
                await connection.execute(_set(tuple(values), undo_attempt), _row_values(row_id, values))
        except Exception:
            if values.get("state") in ("sent", "waiting", "failed"):
                self._unrecorded[row_id] = values
                self._claimed.discard(row_id)
            raise
        self._claimed.discard(row_id)

    async def _record_unrecorded(self) -> None:
        for row_id, values in list(self._unrecorded.items()):
            async with self.db.begin() as connection:
                await connection.execute(_set(tuple(values)), _row_values(row_id, values))
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
            async with self.db.begin() as connection:
                await connection.execute(update(OutboxMessage)
                                         .where(OutboxMessage.id.in_(ids), OutboxMessage.state == "sending")
                                         .values(state="pending", lease_until=None,
                                                 attempts=OutboxMessage.attempts - 1))
        self._claimed.clear()
        return len(ids)


def window_size(limits: Limits) -> int:
    """How many calls a platform's messages-per-second limit allows in one :data:`RATE_WINDOW`."""
    return int(limits.per_second * RATE_WINDOW)


@dataclass
class _Share:
    """This process's share of one platform's rate window: how many permits it may hold, and until when."""

    #: permits this process may hold (never more than the share it published)
    cap: int = 0
    #: until when (POSIX seconds) it holds that share; no call starts less than :data:`GUARD` before it
    until: float = 0.0
    #: permits held by calls in flight, and when the others come back (their calls returned), in order
    flight: int = 0
    back: list[float] = field(default_factory=list)
    #: set (and replaced) whenever a permit comes back or the share changes
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    #: the task that takes and renews the share while this process sends to the platform
    keeper: asyncio.Task[None] | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    #: held while the share is published (one renewal at a time)
    renewing: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: why the last renewal failed, if it did
    error: Exception | None = None

    def held(self, now: float) -> int:
        """How many permits this process holds now (calls in flight, and returned ones less than a window ago)."""
        while self.back and self.back[0] <= now:
            self.back.pop(0)
        return self.flight + len(self.back)

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


# A process's share as published in the platform's ``pacing`` row (``Pacing.shares``, by process name):
# ``cap`` the share, ``until`` when it runs out, ``want`` whether the process is sending (False: given
# back), ``flight`` its calls in flight and ``back`` when its other permits come back, when it published.

def _counts(entry: dict[str, Any], now: float) -> bool:
    """Whether a published share still counts: until one window after it ran out (a process that
    died, or stalled, may have sent up to then)."""
    return now < entry["until"] + RATE_WINDOW + CLOCK_SKEW


def _bound(entry: dict[str, Any], at: float) -> int:
    """The most permits the process of a published share may hold at ``at`` (after it published)."""
    if not _counts(entry, at):
        return 0
    back = sum(1 for t in entry["back"] if t + CLOCK_SKEW > at)
    return max(entry["cap"], back + entry["flight"])


def _part(size: int, others: dict[str, dict[str, Any]], name: str, now: float) -> int:
    """The share process ``name`` aims at: ``size`` permits divided among the processes sending now."""
    sending = sorted([other for other, entry in others.items() if entry["want"] and entry["until"] > now] + [name])
    base, extra = divmod(size, len(sending))
    return base + (1 if sending.index(name) < extra else 0)


def _next_look(size: int, others: dict[str, dict[str, Any]], name: str, now: float) -> float:
    """For a process below its part: when the others' bounds shrink next (a permit comes back, a share
    stops counting), or soon if one of them still has to shrink its share; within :data:`MIN_POLL`..:data:`RENEW`."""
    at = now + RENEW
    for other, entry in others.items():
        if other == name or not _counts(entry, now):
            continue
        if entry["want"] and entry["until"] > now and entry["cap"] > _part(size, {
                n: e for n, e in others.items() if n != other}, other, now):
            return MIN_POLL
        at = min([at, entry["until"] + RATE_WINDOW + CLOCK_SKEW] +
                 [t + CLOCK_SKEW for t in entry["back"] if t + CLOCK_SKEW > now])
    return min(RENEW, max(MIN_POLL, at - now))


def _up(t: float) -> float:
    """A time as published: to the millisecond, rounded up."""
    return math.ceil(t * 1000) / 1000


def _claim_query() -> Any:
    """The sendable heads of one platform's conversations (``:platform``, ``:now``, ``:limit``):
    the oldest unsent row of each (only those may go now, so per-chat order holds), whose lease is
    free, with the number of unsent rows in its conversation. Built once: building the statement
    (the outbox aliased for the subquery) costs more than running it."""
    queued = aliased(OutboxMessage)
    heads = (select(func.min(queued.id).label("head"), func.count().label("queued"))
             .where(queued.platform == bindparam("platform"), queued.state.in_(("pending", "sending")))
             .group_by(queued.chat_key).subquery())
    return (select(*OutboxMessage.__table__.c, heads.c.queued)
            .join(heads, OutboxMessage.id == heads.c.head)
            .where(or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until <= bindparam("now")))
            .order_by(OutboxMessage.id)
            .limit(bindparam("limit")))


_CLAIM = _claim_query()
_CLAIM_LOCKED = _CLAIM.with_for_update(of=OutboxMessage.__table__, skip_locked=True)
#: when the first lease of an unsent row runs out (a row put back until then, or another process's claim)
_LEASE_ENDS = select(func.min(OutboxMessage.lease_until)).where(
    OutboxMessage.platform == bindparam("platform"), OutboxMessage.state.in_(("pending", "sending")),
    OutboxMessage.lease_until > bindparam("now"))


#: the claim of rows ``:ids``: sending, leased ``:until``, one attempt more
_TAKE = (update(OutboxMessage).where(OutboxMessage.id.in_(bindparam("ids", expanding=True)))
         .values(state="sending", lease_until=bindparam("until"), attempts=OutboxMessage.attempts + 1))


@cache
def _set(names: tuple[str, ...], undo_attempt: bool = False) -> Any:
    """``UPDATE outbox SET <names> WHERE id = :row_id`` (with ``undo_attempt``, also one attempt
    less), built once per set of names: building a statement costs as much as running it."""
    values: dict[str, Any] = {name: bindparam(f"new_{name}") for name in names}
    if undo_attempt:
        values["attempts"] = OutboxMessage.attempts - 1
    return update(OutboxMessage).where(OutboxMessage.id == bindparam("row_id")).values(values)


def _row_values(row_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """The parameters of :func:`_set` for ``values``."""
    return {"row_id": row_id, **{f"new_{name}": value for name, value in values.items()}}


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
