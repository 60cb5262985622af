"""An event whose transaction loses a conflict with a concurrent one (PostgreSQL: a deadlock,
SQLSTATE 40P01, or a serialization failure, 40001) runs once more from its start, in a new
transaction: its effect is stored once and its answer sent once. Losing twice gives the generic
error, logged without the message's text; any other database error is not run again.

The deadlocks are real: a test command locks the network's row and then Cem's member row, while a
rival transaction (another replica, say) holds Cem's row and then asks for the network's. The
rival waits with a long ``deadlock_timeout`` and the command with a short one (setting it needs
the tests' superuser), and the command asks last, once the rival waits: PostgreSQL looks for a
cycle once, when a wait has lasted ``deadlock_timeout``, so the command's check finds it and its
transaction is the one rolled back, however slow the machine (had the command waited first, its
check could run before the rival asked, and the rival's would come only after 30 s)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from adapters.console.harness import Harness
from bamboe.features import FEATURES
from bot import directory, i18n
from bot.clock import VirtualClock
from bot.core import Ctx, run_command
from bot.database import Database, create_engine, is_conflict
from bot.events import MessageIn
from bot.markup import plain
from bot.models import LogEntry, Member, OutboxMessage
from bot.registry import Command, Feature
from tests.conftest import MEMBERS, NETWORK, drop_postgres_database, local, migrated_postgres_database, texts
from tests.conftest import waiting_for_a_lock as someone_waits

IDEA = "een ouderpanel met sleutelfiguren"
GENERIC = plain(i18n.t("nl", "errors.internal"))
_LOCK_NETWORK = text("SELECT id FROM networks WHERE id = :id FOR UPDATE")
_LOCK_CEM = text("SELECT id FROM members WHERE user_id = 'cem' FOR UPDATE")


class Collision:
    """``/botsing <idee>``: records the idea as ``/idee`` does, after locking the network's row and
    then Cem's. In each of its first ``rounds`` attempts it first waits until :meth:`rival` holds
    Cem's row; the rival then asks for the network's row: a deadlock."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.attempts = 0
        self.db: Database | None = None  # the rival's, to see it wait (set by :meth:`rival`)
        self.rival_holds_cem = [asyncio.Event() for _ in range(rounds)]
        self.command_holds_network = [asyncio.Event() for _ in range(rounds)]

    @property
    def feature(self) -> Feature:
        return Feature("botsing", commands=(Command("botsing", self.command),))

    async def command(self, ctx: Ctx, args: str) -> None:
        n, self.attempts = self.attempts, self.attempts + 1
        if n < self.rounds:
            await asyncio.wait_for(self.rival_holds_cem[n].wait(), 10)
            await ctx.session.execute(text("SET LOCAL deadlock_timeout = '50ms'"))
        await ctx.session.execute(_LOCK_NETWORK, {"id": ctx.network.id})
        if n < self.rounds:
            self.command_holds_network[n].set()
            await someone_waits(self.db)  # the rival, for the network's row
        await ctx.session.execute(_LOCK_CEM)  # the cycle: this transaction loses
        await run_command(ctx, "idee", args)

    async def rival(self, db: Database, network_id: int) -> None:
        """Each round one transaction: Cem's row, then (once the command holds it) the network's."""
        self.db = db
        for n in range(self.rounds):
            async with db.engine.begin() as conn:
                await conn.execute(text("SET LOCAL deadlock_timeout = '30s'"))
                await conn.execute(_LOCK_CEM)
                self.rival_holds_cem[n].set()
                await asyncio.wait_for(self.command_holds_network[n].wait(), 10)
                await conn.execute(_LOCK_NETWORK, {"id": network_id})  # waits until the command's transaction lost


@asynccontextmanager
async def network_with(feature: Feature) -> AsyncIterator[tuple[Harness, Database, int]]:
    """A harness on a new PostgreSQL database with the usual network and ``feature``; yields it,
    a second engine on the same database (the rival's) and the network's id."""
    pg = await migrated_postgres_database()
    h = Harness(Database(create_engine(pg)), VirtualClock(local(2026, 1, 5, 8, 0)), features=(*FEATURES, feature))
    rival = Database(create_engine(pg))
    try:
        await h.setup(dict(NETWORK), [dict(m) for m in MEMBERS])
        async with h.db.transaction() as s:
            network_id = await s.scalar(text("SELECT id FROM networks"))
        yield h, rival, network_id
    finally:
        await rival.close()
        await h.close()
        await drop_postgres_database(pg)


async def stored(h: Harness) -> tuple[list[str], list[str]]:
    """The ideas stored, and the kinds of the outbox rows to the group since the set-up."""
    async with h.db.transaction() as s:
        ideas = list(await s.scalars(select(LogEntry.text).where(LogEntry.kind == "idea")))
        kinds = list(await s.scalars(select(OutboxMessage.kind).where(
            OutboxMessage.kind.in_(("idea", "error"))).order_by(OutboxMessage.id)))
    return ideas, kinds


def logged(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level and r.name.startswith("bot")]


@pytest.mark.postgres
async def test_an_event_that_loses_a_deadlock_runs_again_and_stores_and_answers_once(
        caplog: pytest.LogCaptureFixture) -> None:
    collision = Collision(rounds=1)
    async with network_with(collision.feature) as (h, rival, network_id):
        caplog.set_level(logging.INFO, logger="bot")
        racing = asyncio.create_task(collision.rival(rival, network_id))
        try:
            await asyncio.wait_for(h.say("dewi", f"/botsing {IDEA}"), 20)
        finally:
            await asyncio.gather(racing, return_exceptions=True)
        await racing  # the rival got its locks and committed
        assert collision.attempts == 2
        assert await stored(h) == ([IDEA], ["idea"])
        (idea,) = texts(h, "idea")
        assert IDEA in idea
        assert texts(h, "error") == []
        assert logged(caplog, logging.WARNING) == []
        (retry,) = [m for m in logged(caplog, logging.INFO) if "conflict" in m]
        assert "SQLSTATE 40P01" in retry and "run once more" in retry and IDEA not in retry


@pytest.mark.postgres
async def test_an_event_that_loses_twice_gets_the_generic_error_once_logged_without_its_text(
        caplog: pytest.LogCaptureFixture) -> None:
    collision = Collision(rounds=2)
    async with network_with(collision.feature) as (h, rival, network_id):
        caplog.set_level(logging.INFO)
        racing = asyncio.create_task(collision.rival(rival, network_id))
        try:
            await asyncio.wait_for(h.say("dewi", f"/botsing {IDEA}"), 20)
        finally:
            await asyncio.gather(racing, return_exceptions=True)
        await racing
        assert collision.attempts == 2  # not a third time
        assert await stored(h) == ([], ["error"])
        assert texts(h, "idea") == []
        assert texts(h, "error") == [GENERIC]
        (error,) = logged(caplog, logging.WARNING)
        assert "lost a conflict with another transaction in its last attempt (SQLSTATE 40P01)" in error
        assert all(IDEA not in r.getMessage() and IDEA not in (r.exc_text or "") for r in caplog.records)


@pytest.mark.postgres
async def test_another_database_error_is_not_run_again() -> None:
    """A lock wait that runs out (``lock_timeout``, SQLSTATE 55P03) is no conflict: the generic
    error at once, the command ran once, nothing stored."""
    attempts: list[int] = []

    async def impatient(ctx: Ctx, args: str) -> None:
        attempts.append(1)
        await ctx.session.execute(text("SET LOCAL lock_timeout = '50ms'"))
        await ctx.session.execute(_LOCK_CEM)
        await run_command(ctx, "idee", args)

    async with network_with(Feature("botsing", commands=(Command("botsing", impatient),))) as (h, rival, _):
        async with rival.engine.begin() as conn:
            await conn.execute(_LOCK_CEM)  # held until the command is done
            await asyncio.wait_for(h.say("dewi", f"/botsing {IDEA}"), 20)
        assert attempts == [1]
        assert await stored(h) == ([], ["error"])
        assert texts(h, "error") == [GENERIC]


class _Orig(Exception):
    def __init__(self, sqlstate: str | None = None, pgcode: str | None = None) -> None:
        super().__init__("driver error")
        if sqlstate is not None:
            self.sqlstate = sqlstate
        if pgcode is not None:
            self.pgcode = pgcode


@pytest.mark.parametrize(("orig", "conflict"), [
    (_Orig("40P01"), True), (_Orig("40001"), True), (_Orig(pgcode="40P01"), True), (_Orig(pgcode="40001"), True),
    (_Orig("40002"), False), (_Orig("40003"), False), (_Orig("55P03"), False), (_Orig("23505"), False),
    (_Orig("57014"), False), (_Orig(), False),
])
def test_only_deadlocks_and_serialization_failures_are_conflicts(orig: Exception, conflict: bool) -> None:
    assert is_conflict(DBAPIError("UPDATE …", {}, orig)) is conflict


def test_a_plain_exception_is_no_conflict() -> None:
    assert not is_conflict(RuntimeError("40P01"))
    assert not is_conflict(TimeoutError())


@pytest.mark.postgres
async def test_forgetme_that_deadlocks_with_the_nightly_run_runs_again_not_an_error(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The known case. A private message to Dewi (who left) waits for her to start a chat with the
    bot. The nightly retention run has locked her member row to erase her when she writes
    ``/vergeetmij ja`` privately: handling it first queues her waiting message again (locking its
    outbox row), then waits for her member row. The run then deletes her outbox rows and waits for
    that one: a deadlock, which the message loses. Run again once the run committed, it finds
    nothing of her and says so; the run is done, nothing of her is left, nobody sees the error."""
    from tests.test_erase_race import private, replicas, retention_done

    inside, release = asyncio.Event(), asyncio.Event()
    original = directory.held_elsewhere

    async def held(session: Any, *args: Any, **kw: Any) -> Any:  # the run, her row locked, before the deletes
        if not inside.is_set():
            await session.execute(text("SET LOCAL deadlock_timeout = '30s'"))  # the message loses, not the run
            inside.set()
            await release.wait()
        return await original(session, *args, **kw)

    monkeypatch.setattr(directory, "held_elsewhere", held)
    async with replicas(dewi_leaves=True) as (h, first, second):
        async with first.db.transaction() as s:
            dewi = await s.scalar(select(Member).where(Member.user_id == "dewi"))
            s.add(OutboxMessage(network_id=dewi.network_id, platform=h.chat.platform, chat_id=None, user_id="dewi",
                                member_id=dewi.id, kind="privacy", text="Je gegevens", state="waiting",
                                created_at=h.clock.now()))
        caplog.set_level(logging.INFO, logger="bot")
        h.clock.set(local(2026, 2, 5, 3, 30))
        nightly = asyncio.create_task(first.run_due())
        tasks = [nightly]
        try:
            await asyncio.wait_for(inside.wait(), 10)
            asking = asyncio.create_task(second.handle(MessageIn(private(h, "dewi"), h.person("dewi"),
                                                                 "/vergeetmij ja", "m1")))
            tasks.append(asking)
            await someone_waits(second.db)  # the message, for her member row
            release.set()
            _, answer = await asyncio.wait_for(asyncio.gather(nightly, asking), 20)
        finally:
            release.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        assert [(o.address.user_id, o.kind, plain(o.text)) for o in answer] == [
            ("dewi", "privacy", plain(i18n.t("nl", "privacy.nothing_kept")))]
        assert set(await retention_done(first, h.clock.now())) == {"done"}
        async with first.db.transaction() as s:
            assert list(await s.scalars(select(Member).where(Member.user_id == "dewi"))) == []
            to_her = [(r.kind, r.text, r.state) for r in await s.scalars(
                select(OutboxMessage).where(OutboxMessage.user_id == "dewi").order_by(OutboxMessage.id))]
        nothing_kept = plain(i18n.t("nl", "privacy.nothing_kept"))
        assert to_her == [("forget", "", "pending"), ("privacy", nothing_kept, "pending")]  # the waiting one gone
        assert logged(caplog, logging.WARNING) == []
        (retry,) = [m for m in logged(caplog, logging.INFO) if "conflict" in m]
        assert "MessageIn lost a conflict with another transaction (SQLSTATE 40P01)" in retry
