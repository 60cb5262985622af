"""Two erasures of one member at the same moment, on PostgreSQL (SQLite serialises writers): the
nightly retention run erasing a former member while she asks ``/vergeetmij ja``, in either order,
and two presses of the ``/vergeetmij`` button handled by two replicas at once. One erasure does the
work; the other finds her gone and does nothing more. Nobody sees the generic error, nothing fails,
nothing of her is left half-erased."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from adapters.console.harness import Harness
from bamboe.features import FEATURES
from bot import directory, i18n
from bot.core import Core
from bot.database import Database, create_engine
from bot.events import ButtonPress, ChatRef, MessageIn
from bot.markup import plain
from bot.models import Answer, Job, LogEntry, Member, OutboxMessage
from tests.conftest import (
    MEMBERS,
    NETWORK,
    drop_postgres_database,
    local,
    migrated_postgres_database,
    waiting_for_a_lock,
)

pytestmark = pytest.mark.postgres

FORGOTTEN = plain(i18n.t("nl", "privacy.forgotten"))


@asynccontextmanager
async def replicas(*, dewi_leaves: bool) -> AsyncIterator[tuple[Harness, Core, Core]]:
    """A network on a new PostgreSQL database (retention period 1 month) in which Dewi had an
    idea; with ``dewi_leaves`` she left on
    5 January 09:00 (her 30 days end 4 February 09:00, the run that erases her is due 5 February
    03:00). Yields the set-up harness (closed; its clock stands on 4 February) and two replicas."""
    pg = await migrated_postgres_database()
    cores: list[Core] = []
    try:
        h = await Harness.open(pg, local(2026, 1, 5, 8, 0))
        await h.setup(dict(NETWORK), [dict(m) for m in MEMBERS])
        await h.say("anna", "/privacy bewaartermijn 1")
        await h.say("dewi", "/idee een ouderpanel met sleutelfiguren")
        if dewi_leaves:
            await h.advance(local(2026, 1, 5, 9, 0))
            await h.leave("dewi")
        await h.advance(local(2026, 2, 4, 8, 0))
        await h.close()
        cores += (Core(Database(create_engine(pg)), h.clock, FEATURES) for _ in range(2))
        yield h, cores[0], cores[1]
    finally:
        for core in cores:
            await core.db.close()
        await drop_postgres_database(pg)


@asynccontextmanager
async def first_erasure_held(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[asyncio.Event, asyncio.Event]]:
    """The first erasure to get that far waits, inside its transaction (her rows erased, not
    committed), until released: yields (inside, release)."""
    inside, release = asyncio.Event(), asyncio.Event()
    original = directory.forget_presence

    async def held(*args: Any, **kw: Any) -> Any:
        result = await original(*args, **kw)
        if not inside.is_set():
            inside.set()
            await release.wait()
        return result

    monkeypatch.setattr(directory, "forget_presence", held)
    try:
        yield inside, release
    finally:
        release.set()


def private(h: Harness, who: str) -> ChatRef:
    return ChatRef(h.chat.platform, f"dm-{who}", "", private=True)


async def dewi_is_erased(core: Core) -> None:
    """Nothing of Dewi is left: no member row, her answer and idea anonymous, no message to her
    but the erasure's own (the silent run's row that has the adapters forget her)."""
    async with core.db.transaction() as s:
        assert list(await s.scalars(select(Member).where(Member.user_id == "dewi"))) == []
        assert [(e.text, e.author_id) for e in await s.scalars(select(LogEntry))] == [("—", None)]
        assert all(a.member_id is None or a.text == "" for a in await s.scalars(select(Answer)))
        to_her = [(r.kind, r.meta.get("scrub")) for r in await s.scalars(
            select(OutboxMessage).where(OutboxMessage.user_id == "dewi"))]
        assert all(scrub == "all" for _, scrub in to_her), to_her


def no_errors(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def retention_done(core: Core, at: datetime) -> list[str]:
    async with core.db.transaction() as s:
        return [j.state for j in await s.scalars(select(Job).where(Job.kind == "retention", Job.due_at <= at))]


async def test_forgetme_while_the_nightly_run_erases_her_answers_done_not_an_error(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The night after her period, the retention run (first replica) is erasing Dewi, not yet
    committed, when she writes ``/vergeetmij ja`` privately (second replica). The second waits for the first, then
    finds her gone: she hears that her data is removed, not the generic error; the run is done."""
    async with replicas(dewi_leaves=True) as (h, first, second), first_erasure_held(monkeypatch) as (inside, release):
        h.clock.set(local(2026, 2, 5, 3, 30))
        nightly = asyncio.create_task(first.run_due())
        try:
            await asyncio.wait_for(inside.wait(), 10)
            asking = asyncio.create_task(second.handle(MessageIn(private(h, "dewi"), h.person("dewi"),
                                                                 "/vergeetmij ja", "m1")))
            await waiting_for_a_lock(second.db)
            release.set()
            _, answer = await asyncio.wait_for(asyncio.gather(nightly, asking), 15)
        finally:
            release.set()
            await asyncio.gather(nightly, return_exceptions=True)
        assert [(o.address.user_id, o.kind, plain(o.text)) for o in answer] == [("dewi", "privacy", FORGOTTEN)]
        assert set(await retention_done(first, h.clock.now())) == {"done"}
        await dewi_is_erased(first)
        no_errors(caplog)


async def test_the_nightly_run_while_forgetme_erases_her_leaves_her_to_it(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The other order: Dewi's ``/vergeetmij ja`` (first replica) is erasing her, not yet committed,
    when the retention run starts (second replica). The run leaves her to the erasure in progress
    (it waits at most for the rows that erasure deletes) and does the rest of its work; she hears
    once that her data is removed; nothing fails."""
    async with replicas(dewi_leaves=True) as (h, first, second), first_erasure_held(monkeypatch) as (inside, release):
        h.clock.set(local(2026, 2, 5, 3, 30))
        asking = asyncio.create_task(first.handle(MessageIn(private(h, "dewi"), h.person("dewi"),
                                                            "/vergeetmij ja", "m1")))
        tasks = [asking]
        try:
            await asyncio.wait_for(inside.wait(), 10)
            nightly = asyncio.create_task(second.run_due())
            tasks.append(nightly)
            lock = asyncio.create_task(waiting_for_a_lock(second.db))  # it may wait for rows the erasure deletes
            await asyncio.wait([nightly, lock], return_when=asyncio.FIRST_COMPLETED)
            lock.cancel()
            release.set()
            answer, _ = await asyncio.wait_for(asyncio.gather(asking, nightly), 15)
        finally:
            release.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        assert [(o.address.user_id, o.kind, plain(o.text)) for o in answer] == [("dewi", "privacy", FORGOTTEN)]
        assert set(await retention_done(first, h.clock.now())) == {"done"}
        await dewi_is_erased(first)
        no_errors(caplog)


async def test_the_forgetme_button_pressed_twice_on_two_replicas_erases_once_and_answers_both(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Dewi (still a member) presses "Ja, verwijder alles" twice; each press reaches another
    replica. The first erases her; the second waits for it, then finds her gone and answers the
    same, specific text: no generic error, nothing fails."""
    async with replicas(dewi_leaves=False) as (h, first, second), first_erasure_held(monkeypatch) as (inside, release):
        presses = [ButtonPress(private(h, "dewi"), h.person("dewi"), "forget:yes", f"b{i}") for i in (1, 2)]
        pressing = asyncio.create_task(first.handle(presses[0]))
        tasks = [pressing]
        try:
            await asyncio.wait_for(inside.wait(), 10)
            tasks.append(asyncio.create_task(second.handle(presses[1])))
            await waiting_for_a_lock(second.db)
            release.set()
            answers = await asyncio.wait_for(asyncio.gather(*tasks), 15)
        finally:
            release.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        assert [[(o.address.user_id, o.kind, plain(o.text)) for o in a] for a in answers] == [
            [("dewi", "privacy", FORGOTTEN)]] * 2
        await dewi_is_erased(first)
        no_errors(caplog)
