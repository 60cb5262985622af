"""Telegram answers quote the member's message whichever replica sends them, after a restart too.

Two ``bamboe run`` stacks in webhook mode share one database and the Bot API stand-in. Updates
arrive at either replica's webhook; the replica that received a member's command cannot send (as
if it died right after committing), so the other one delivers the answer, knowing nothing of
the message but what the outbox row holds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import aiohttp
from sqlalchemy import select

from bamboe.runtime import App, running
from bamboe.settings import Settings
from bot.clock import VirtualClock
from bot.models import OutboxMessage
from tests.conftest import free_port, local
from tests.telegram_standin import StandIn, chat_member, group, message, user

SECRET = "replica-Secret_1"
GROUP_CHAT = group(-1001234567890, "Lerend netwerk Venlo")
MEMBERS = [user(2000 + n, f"Lid{n}", "Test") for n in range(6)]


@asynccontextmanager
async def replica(url: str, api: StandIn, clock: VirtualClock, *, sends: bool = True) -> AsyncIterator[tuple[App, int]]:
    """One ``bamboe run`` in webhook mode; ``sends=False``: it takes updates but never delivers."""
    port = free_port()
    settings = Settings(_env_file=None, database_url=url, telegram_bot_token=api.token,
                        telegram_api_url=api.url + "/bot", telegram_webhook_url="https://bamboe.example/telegram/webhook",
                        telegram_webhook_secret=SECRET, bamboe_http_host="127.0.0.1", bamboe_http_port=port)
    async with running(settings, clock=clock) as app:
        if not sends:
            app.delivery.senders.clear()
        yield app, port


async def post(http: aiohttp.ClientSession, port: int, update: dict[str, Any]) -> None:
    async with http.post(f"http://127.0.0.1:{port}/telegram/webhook", json=update,
                         headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as resp:
        assert resp.status == 200


async def until(check: Callable[[], Any], what: str, clock: VirtualClock, *apps: App) -> Any:
    deadline = time.monotonic() + 60
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        clock.advance(timedelta(seconds=5))
        for app in apps:
            app.wake.set()
        await asyncio.sleep(0.05)


def replies(api: StandIn) -> dict[int, list[int]]:
    """Per message id quoted, the chat ids of the bot's messages quoting it."""
    out: dict[int, list[int]] = {}
    for params in api.sent():
        quoted = (params.get("reply_parameters") or {}).get("message_id")
        if quoted is not None:
            out.setdefault(quoted, []).append(int(params["chat_id"]))
    return out


async def test_the_other_replica_and_a_restarted_one_quote_the_askers_message(database_url: str) -> None:
    api = StandIn()
    await api.start()
    clock = VirtualClock(local(2026, 1, 5, 8, 0))
    ids = iter(range(1, 10_000))
    try:
        async with aiohttp.ClientSession() as http:
            async with replica(database_url, api, clock, sends=False) as (deaf, deaf_port), \
                    replica(database_url, api, clock) as (sender, sender_port):
                await post(http, deaf_port, {"update_id": next(ids), **chat_member(GROUP_CHAT, MEMBERS[0], api.me(),
                                                                                   "left", "member")})
                for person in MEMBERS[1:]:
                    await post(http, sender_port, {"update_id": next(ids), "message": message(
                        GROUP_CHAT, person, new_chat_members=[person])})
                asked = []
                for round_ in range(3):  # every member asks twice in a row, at both replicas by turns
                    for n, person in enumerate(MEMBERS):
                        for text in ("/status", "/netwerk"):
                            m = message(GROUP_CHAT, person, text)
                            asked.append(m["message_id"])
                            await post(http, (deaf_port, sender_port)[(n + round_) % 2],
                                       {"update_id": next(ids), "message": m})
                await until(lambda: all(i in replies(api) for i in asked), "every answer", clock, sender)
                quoted = replies(api)
                assert all(quoted[i] == [GROUP_CHAT["id"]] for i in asked), quoted  # each answered once, quoted
                assert len(quoted) == len(asked)  # and no answer quotes any other message
            # the replica that received the next question dies before sending; a new one sends it
            last = message(GROUP_CHAT, MEMBERS[3], "/status")
            async with replica(database_url, api, clock, sends=False) as (deaf, deaf_port):
                await post(http, deaf_port, {"update_id": next(ids), "message": last})
            async with replica(database_url, api, clock) as (restarted, _):
                await until(lambda: last["message_id"] in replies(api), "the answer after the restart", clock,
                            restarted)
                async with restarted.db.transaction() as session:
                    rows = list(await session.scalars(select(OutboxMessage).where(
                        OutboxMessage.reply_to == str(last["message_id"]))))
                assert len(rows) == 1 and rows[0].user_id == str(MEMBERS[3]["id"])
    finally:
        await api.close()
