"""Numbers members see and type are per network: every network's first meeting, action, round,
announcement, idea and decision is number 1, whatever other networks did. Commands resolve a
number within the member's network; buttons carry database ids and only work in their network.
Numbers stay unique when two replicas insert at the same moment, and the migration numbers
existing rows per network."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from adapters.console.harness import Harness
from bamboe.features import FEATURES
from bot.core import Core
from bot.database import Database, create_engine, sqlite_url_for, upgrade
from bot.events import ButtonPress, MessageIn, Person
from bot.markup import plain
from bot.models import Action, Announcement, LogEntry, Meeting, Round
from bot.numbers import next_nr
from tests.conftest import MEMBERS, NETWORK, drop_postgres_database, local, new_postgres_database


async def two_networks(url: str) -> tuple[Harness, Harness]:
    a = await Harness.open(url, local(2026, 1, 5, 8, 0), chat_id="group-a")
    await a.setup({**NETWORK, "name": "Netwerk A"}, [dict(m) for m in MEMBERS])
    b = await Harness.open(url, local(2026, 1, 5, 8, 0), chat_id="group-b")
    await b.setup({**NETWORK, "name": "Netwerk B"}, [dict(m) for m in MEMBERS])
    return a, b


async def say(h: Harness, who: str, words: str) -> str:
    """``who`` writes ``words`` in the harness's group; the plain text of everything answered."""
    out = await h.core.handle(MessageIn(h.chat, h.person(who), words, "m1"))
    return "\n".join(plain(o.text) for o in out)


async def make_one_of_each(h: Harness) -> dict[str, str]:
    return {
        "meeting": await say(h, "anna", "/bijeenkomst 2026-01-15 14:00-16:00 Buurthuis De Linde"),
        "action": await say(h, "cem", "/actie Cem belt de school voor 2026-01-20"),
        "announcement": await say(h, "anna", "/mededeling De zaal is veranderd"),
        "idea": await say(h, "dewi", "/idee een ouderavond in de bibliotheek"),
        "decision": await say(h, "anna", "/besluit we bezoeken twee scholen omdat ouders erom vroegen"),
        "round": await say(h, "bram", "/actieleren Cem"),
    }


async def test_each_network_numbers_from_one_and_commands_resolve_in_it(database_url: str) -> None:
    a, b = await two_networks(database_url)
    try:
        await make_one_of_each(a)
        said = await make_one_of_each(b)
        assert "1. " in said["meeting"]
        assert "Actie 1:" in said["action"]
        assert "Mededeling 1" in said["announcement"]
        assert "Idee 1" in said["idea"] and "Besluit 1" in said["decision"]
        async with b.db.transaction() as s:
            for model in (Meeting, Action, Round, Announcement):
                rows = list(await s.scalars(select(model).order_by(model.id)))
                assert [(r.nr, r.id) for r in rows] == [(1, 1), (1, 2)], model  # ids differ, numbers do not
            assert sorted((e.kind, e.nr) for e in await s.scalars(select(LogEntry))) == [
                ("decision", 1), ("decision", 1), ("idea", 1), ("idea", 1)]
        assert "Ronde 1 " in await say(b, "bram", "/ronde 1")
        assert "Actie 1:" in await say(b, "cem", "/actie")
        await say(b, "bram", "/stop")
        assert "Idee 1 is gekozen" in await say(b, "anna", "/idee 1 gekozen want het past")
        assert "mededeling 1" in await say(b, "cem", "/gelezen 1")
        assert "Mededeling 1:" in await say(b, "anna", "/mededeling 1")
        assert "gaat niet door: 1." in await say(b, "anna", "/bijeenkomst annuleer 1")
        assert "belt de school" in await say(b, "cem", "/actie 1 klaar Het ging goed")
        assert "geen actie met nummer 2" in await say(b, "cem", "/actie 2 klaar")  # though an action has id 2
        async with b.db.transaction() as s:
            meetings = {m.network_id: m.cancelled for m in await s.scalars(select(Meeting))}
            actions = {x.network_id: x.state for x in await s.scalars(select(Action))}
            ideas = {x.network_id: x.status for x in await s.scalars(select(LogEntry).where(LogEntry.kind == "idea"))}
        assert sorted(meetings.values()) == [False, True] and sorted(actions.values()) == ["done", "open"]
        assert sorted(ideas.values()) == ["chosen", "open"]
        a_open = await say(a, "cem", "/actie")
        assert "Actie 1:" in a_open and "(loopt)" in a_open  # network A's action 1 is untouched
    finally:
        await a.close()
        await b.close()


async def test_a_button_works_only_in_its_own_network(database_url: str) -> None:
    a, b = await two_networks(database_url)
    try:
        await say(a, "cem", "/actie Cem belt de school")
        await say(b, "cem", "/actie Cem belt het wijkteam")
        async with a.db.transaction() as s:
            a_action = await s.scalar(select(Action).where(Action.text.contains("school")))
        forged = ButtonPress(b.chat, b.person("cem"), f"action:done:{a_action.id}", "m2")
        answer = "\n".join(plain(o.text) for o in await b.core.handle(forged))
        assert "Deze knop werkt niet meer" in answer
        own = ButtonPress(a.chat, a.person("cem"), f"action:done:{a_action.id}", "m3")  # the button as sent
        assert "belt de school" in "\n".join(plain(o.text) for o in await a.core.handle(own))
    finally:
        await a.close()
        await b.close()


@pytest.mark.postgres
async def test_two_replicas_inserting_at_once_get_different_numbers() -> None:
    """Two processes (each its own engine and core) record ideas, actions and announcements in
    the same network at the same moment: every one is stored, numbered 1 … n without a gap."""
    pg = await new_postgres_database()
    try:
        setup = await Harness.open(pg, local(2026, 1, 5, 8, 0), chat_id="group-a")
        await setup.setup(dict(NETWORK), [dict(m) for m in MEMBERS])
        await setup.close()
        replicas = [Core(Database(create_engine(pg)), setup.clock, FEATURES) for _ in range(2)]
        chat = setup.chat
        people = [Person(m["id"], m["name"]) for m in MEMBERS]

        async def write(n: int) -> list:
            core, who = replicas[n % 2], people[n % len(people)]
            words = [f"/idee plan nummer {n}", f"/actie Anna regelt ding {n}", f"/mededeling bericht {n}"][n % 3]
            if words.startswith("/mededeling"):
                who = people[0]  # the trekker
            return await core.handle(MessageIn(chat, who, words, f"m{n}"))

        answers = await asyncio.gather(*(write(n) for n in range(24)))
        assert all(o.kind != "error" for out in answers for o in out), [
            plain(o.text) for out in answers for o in out if o.kind == "error"]
        db = replicas[0].db
        async with db.transaction() as s:
            for model, where in ((LogEntry, LogEntry.kind == "idea"), (Action, True), (Announcement, True)):
                numbers = sorted(await s.scalars(select(model.nr).where(where)))
                assert numbers == list(range(1, 9)), model
        for core in replicas:
            await core.db.close()
    finally:
        await drop_postgres_database(pg)


async def test_the_migration_numbers_existing_rows_per_network_in_id_order(tmp_path) -> None:
    engine = create_engine(sqlite_url_for(tmp_path / "old.sqlite3"))
    now = datetime(2026, 1, 5, 9, tzinfo=UTC)
    try:
        await upgrade(engine, "0007")
        async with engine.begin() as conn:
            for name in ("A", "B"):
                await conn.execute(text(
                    "INSERT INTO networks (name, intention, ambition, language, timezone, quiet_start, quiet_end, "
                    "quiet_weekends, nudge_weekday, nudge_time, reminder_hours, goal_weeks, intention_weeks, theme, "
                    "theme_month, group_goal, nudge_count, created_at) VALUES (:name, '', '', 'nl', "
                    "'Europe/Amsterdam', '22:00', '07:00', 1, 1, '10:00', 48, 4, 6, '', '', '', 0, :now)"),
                    {"name": name, "now": now})
            for network_id in (1, 2, 1, 1, 2):  # ids 1-5
                await conn.execute(text(
                    "INSERT INTO actions (network_id, text, state, outcome, created_at) "
                    "VALUES (:n, 'x', 'open', '', :now)"), {"n": network_id, "now": now})
                await conn.execute(text(
                    "INSERT INTO meetings (network_id, starts_at, ends_at, place, cancelled) "
                    "VALUES (:n, :now, :now, 'p', 0)"), {"n": network_id, "now": now})
            await conn.execute(text(
                "INSERT INTO log_entries (network_id, nr, kind, text, reason, status, status_reason, created_at) "
                "VALUES (2, 4, 'idea', 'x', '', 'open', '', :now)"), {"now": now})
        await upgrade(engine)
        async with engine.begin() as conn:
            for table in ("actions", "meetings"):
                rows = (await conn.execute(text(f"SELECT id, network_id, nr FROM {table} ORDER BY id"))).all()
                assert [tuple(r) for r in rows] == [(1, 1, 1), (2, 2, 1), (3, 1, 2), (4, 1, 3), (5, 2, 2)], table
        db = Database(engine)
        async with db.transaction() as s:  # the counters go on after the highest number
            assert await next_nr(s, 1, "action") == 4
            assert await next_nr(s, 2, "meeting") == 3
            assert await next_nr(s, 2, "idea") == 5
            assert await next_nr(s, 1, "round") == 1
    finally:
        await engine.dispose()
