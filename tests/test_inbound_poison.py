"""Inbound input the database cannot store, and database errors that are not outages.

A ``\\u0000`` in a Telegram name or chat title once raised a PostgreSQL error outside the handler's
savepoint; the core called that an outage, and long polling asked for the same update about once a
second for ever while no later update was handled. Now the core cleans every inbound string, and a
deterministic database error drops the one event instead of holding the queue.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from adapters.telegram import adapter as telegram
from bamboe.features import FEATURES
from bamboe.settings import Settings
from bot.cleaning import clean, is_outage
from bot.events import ChatRef, MessageIn, Person, Unavailable
from tests.telegram_standin import StandIn, chat_member, group, message, user
from tests.test_telegram import BRAM, stack

EVE = user(1009, "E\x00ve", "Jan\ud800sen")
POISONED = group(-1007770000000, "Netwerk\x00 Venlo")


@pytest.fixture
async def api() -> Any:
    standin = StandIn()
    await standin.start()
    yield standin
    await standin.close()


async def _poisoned_then_normal(env: Any, chat: dict[str, Any]) -> None:
    """The bot is added to ``chat`` by a person whose name holds a NUL, then ordinary updates
    follow; the ordinary ones are all handled."""
    await env.push(chat_member(chat, EVE, env.api.me(), "left", "member"))
    await env.push({"message": message(chat, EVE, new_chat_members=[env.api.me()])})
    await env.push({"message": message(chat, BRAM, new_chat_members=[BRAM])})
    status = message(chat, BRAM, "/status")
    await env.push({"message": status})
    await env.replies_to(status["message_id"])


@pytest.mark.postgres
async def test_a_nul_in_a_name_or_title_is_cleaned_and_blocks_nothing(postgres_url: str, api: StandIn) -> None:
    from bot.models import Chat, Member, Network

    async with stack(postgres_url, api) as env:
        await _poisoned_then_normal(env, POISONED)
        await env.push({"message": message(POISONED, EVE, "/netwerk naam Venlo\x00 Noord")})
        await env.until(lambda: len(api.sent(POISONED["id"])) >= 3, "the rename's answer")
        (chat,) = await env.rows(Chat)
        (network,) = await env.rows(Network)
        names = sorted(m.name for m in await env.rows(Member))
    assert chat.title == "Netwerk Venlo"  # only the NUL is gone
    assert network.name == "Venlo Noord"
    assert names == ["Bram Peters", "Eve Jansen"]


@pytest.mark.postgres
async def test_a_deterministic_database_error_drops_the_event_and_polling_goes_on(
        postgres_url: str, api: StandIn, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Without the cleaning, PostgreSQL refuses the poisoned updates: those events are dropped
    (logged without their text), and the updates after them are handled."""
    from bot.models import Member

    monkeypatch.setattr("bot.core.clean", lambda event: event)
    caplog.set_level(logging.INFO)
    async with stack(postgres_url, api) as env:
        await _poisoned_then_normal(env, group(-1007770000001, "Netwerk Venlo"))
        names = [m.name for m in await env.rows(Member)]
    assert names == ["Bram Peters"]  # Eve's events were refused by PostgreSQL, Bram's handled
    dropped = [r for r in caplog.records if "dropped: the database refused it" in r.getMessage()]
    assert dropped and all("E\x00ve" not in r.getMessage() and "Eve" not in r.getMessage() for r in dropped)
    assert "SQLSTATE 22" in dropped[0].getMessage()  # a data exception
    assert not [r for r in caplog.records if "kept for later" in r.getMessage()]


def test_clean_strips_only_what_the_database_cannot_hold() -> None:
    event = MessageIn(ChatRef("telegram", "-1", "Ti\x00tel"), Person("1", "A\ud83dnna", "Europe/Amsterdam"),
                      "/gelezen\x00 3 🎉 ok", "m1")
    cleaned = clean(event)
    assert cleaned == MessageIn(ChatRef("telegram", "-1", "Titel"), Person("1", "Anna", "Europe/Amsterdam"),
                                "/gelezen 3 🎉 ok", "m1")
    untouched = MessageIn(ChatRef("telegram", "-1", "Titel"), Person("1", "Anna"), "hoi 🎉")
    assert clean(untouched) is untouched


class _DriverError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("driver error")
        self.sqlstate = sqlstate


def _dbapi(orig: Exception, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("INSERT …", {}, orig, connection_invalidated=invalidated)


def test_outages_are_told_apart_from_deterministic_errors() -> None:
    import sqlite3

    assert is_outage(ConnectionRefusedError()) and is_outage(TimeoutError())
    assert is_outage(_dbapi(_DriverError("08006")))  # connection failure
    assert is_outage(_dbapi(_DriverError("57014")))  # statement timeout
    assert is_outage(_dbapi(_DriverError("40001")))  # serialization failure: try again
    assert is_outage(_dbapi(_DriverError("22021"), invalidated=True))
    assert is_outage(_dbapi(sqlite3.OperationalError("database is locked")))
    assert not is_outage(_dbapi(_DriverError("22021")))  # character not in repertoire (a NUL)
    assert not is_outage(_dbapi(_DriverError("23505")))  # unique violation
    assert not is_outage(_dbapi(sqlite3.IntegrityError("NOT NULL constraint failed")))


async def test_core_drops_a_deterministic_error_and_reports_an_outage(sqlite_url: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.clock import VirtualClock
    from bot.core import Core
    from bot.database import Database, create_engine
    from tests.conftest import local

    core = Core(Database(create_engine(sqlite_url)), VirtualClock(local(2026, 1, 5, 9, 0)), FEATURES)
    event = MessageIn(ChatRef("telegram", "-1", "Groep"), Person("1", "Anna"), "/status")
    tries: list[int] = []

    async def refused(_: Any, **_kw: Any) -> Any:
        tries.append(1)
        raise _dbapi(_DriverError("23505"))

    monkeypatch.setattr(core, "_handle", refused)
    assert await core.handle(event) == []
    assert len(tries) == 2  # once more (a race with another replica passes then), then dropped

    async def gone(_: Any, **_kw: Any) -> Any:
        raise _dbapi(_DriverError("08006"))

    monkeypatch.setattr(core, "_handle", gone)
    with pytest.raises(Unavailable):
        await core.handle(event)
    await core.db.close()


async def test_polling_backs_off_while_the_core_is_unavailable(api: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pause after an update the core could not take grows (1, 2, 4 … s) over successful
    getUpdates calls, and starts again at 1 s once the core took an update."""
    pauses: list[float] = []
    taken: list[Any] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)
        await asyncio.sleep(0)

    async def inbound(event: Any) -> list[Any]:
        if len(pauses) < 4 or 5 <= len(pauses) < 7:
            raise Unavailable
        taken.append(event)
        return []

    monkeypatch.setattr(telegram, "pause", pause)
    adapter = telegram.build(Settings(_env_file=None, telegram_bot_token=api.token,
                                      telegram_api_url=api.url + "/bot"), inbound)
    try:
        await adapter.start()
        api.push({"message": message(group(), BRAM, "/status")})
        for _ in range(200):
            if taken:
                break
            await asyncio.sleep(0.05)
        assert taken and pauses == [1.0, 2.0, 4.0, 8.0]
        pauses.append(0.0)  # from here the core refuses two more updates
        api.push({"message": message(group(), BRAM, "/status")})
        for _ in range(200):
            if len(taken) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(taken) == 2 and pauses[5:] == [1.0, 2.0]  # the back-off started again
    finally:
        await adapter.stop()
