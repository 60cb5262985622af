"""The Slack adapter in HTTP mode, end to end: signed requests to ``/slack/events`` on the shared
server, the real core and database, and a stand-in Slack Web API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from sqlalchemy import select

from bamboe.runtime import App, running
from bamboe.settings import Settings
from bot.clock import VirtualClock
from bot.events import BotRemoved, ChatRef
from bot.models import Answer, Chat, Job, Member, Network, OutboxMessage, Round
from tests.conftest import free_port, local
from tests.slack_standin import BOT_USER, TEAM, Call, SlackStandin

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C0NETWERK"
ANNA, BRAM, DEWI = "UANNA", "UBRAM", "UDEWI"
_ids = itertools.count(1)


def signature(body: str, timestamp: str, secret: str = SECRET) -> str:
    """Slack's v0 request signature."""
    return "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()


@dataclass
class Bot:
    """The running app, the Slack stand-in and an HTTP client to talk to ``/slack/events``."""

    app: App
    slack: SlackStandin
    http: aiohttp.ClientSession
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    async def post(self, body: str, content_type: str, *, timestamp: int | None = None, secret: str = SECRET,
                   headers: dict[str, str] | None = None) -> tuple[int, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        all_headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
                       "X-Slack-Signature": signature(body, ts, secret), **(headers or {})}
        async with self.http.post(self.url, data=body.encode(), headers=all_headers) as resp:
            return resp.status, await resp.text()

    async def command(self, user: str, text: str, *, command: str = "/bamboe", channel: str = CHANNEL,
                      channel_name: str = "netwerk", **kw: Any) -> tuple[int, str]:
        body = urlencode({"token": "x", "team_id": TEAM, "team_domain": "test", "channel_id": channel,
                          "channel_name": channel_name, "user_id": user, "user_name": user.lower(),
                          "command": command, "text": text, "api_app_id": "A1", "trigger_id": "1.2.3",
                          "response_url": f"http://127.0.0.1:{self.slack.port}/response/1"})
        return await self.post(body, "application/x-www-form-urlencoded", **kw)

    async def event(self, event: dict[str, Any], *, event_id: str | None = None,
                    headers: dict[str, str] | None = None) -> tuple[int, str]:
        body = json.dumps({"token": "x", "team_id": TEAM, "api_app_id": "A1", "type": "event_callback",
                           "event": event, "event_id": event_id or f"Ev{next(_ids):08d}",
                           "event_time": int(time.time()),
                           "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}]})
        return await self.post(body, "application/json", headers=headers)

    async def message(self, user: str, text: str, *, channel: str = CHANNEL, channel_type: str = "channel",
                      thread_ts: str | None = None, **extra: Any) -> tuple[int, str]:
        event = {"type": "message", "user": user, "text": text, "ts": f"1767700000.{next(_ids):06d}",
                 "channel": channel, "channel_type": channel_type, **extra}
        if thread_ts:
            event["thread_ts"] = thread_ts
        return await self.event(event)

    async def press(self, user: str, value: str, message_ts: str, *, channel: str = CHANNEL) -> tuple[int, str]:
        payload = {"type": "block_actions", "team": {"id": TEAM}, "user": {"id": user, "name": user.lower()},
                   "api_app_id": "A1", "trigger_id": "1.2.3",
                   "container": {"type": "message", "message_ts": message_ts, "channel_id": channel,
                                 "is_ephemeral": False},
                   "channel": {"id": channel, "name": "netwerk"}, "message": {"ts": message_ts, "text": "x"},
                   "actions": [{"type": "button", "action_id": "bamboe_0", "block_id": "b", "value": value,
                                "action_ts": "1"}]}
        return await self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    async def add_bot(self, inviter: str = ANNA, channel: str = CHANNEL) -> None:
        """The bot is invited to ``channel``; wait for the welcome message."""
        before = len(self.slack.posts())
        status, _ = await self.event({"type": "member_joined_channel", "user": BOT_USER, "channel": channel,
                                      "channel_type": "C", "team": TEAM, "inviter": inviter})
        assert status == 200
        await wait_for(lambda: len(self.slack.posts()) > before)

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        async with self.app.db.transaction() as session:
            return list(await session.scalars(select(model).where(*where).order_by(model.id)))


async def wait_for(check: Callable[[], Any], timeout: float = 12.0) -> Any:
    """Poll ``check`` until it is truthy (async delivery), failing after ``timeout`` seconds.

    Generous: sends to one channel are 1 s apart, and the dispatcher may sleep up to its poll
    interval (5 s) when it wakes a moment before a deferred message falls due."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


async def wait_for_rows(bot: Bot, n: int, model: Any, *where: Any, timeout: float = 12.0) -> list[Any]:
    """Wait until exactly ``n`` rows of ``model`` match ``where``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await bot.rows(model, *where)
        if len(found) == n:
            return found
        assert asyncio.get_running_loop().time() < deadline, f"{len(found)} {model.__name__} rows, not {n}"
        await asyncio.sleep(0.05)


async def wait_rows(bot: Bot, model: Any, *where: Any, timeout: float = 12.0) -> list[Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await bot.rows(model, *where)
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, f"no {model.__name__} row"
        await asyncio.sleep(0.05)


def all_text(call: Call) -> str:
    return call.params.get("text", "") + json.dumps(call.params.get("blocks", []), ensure_ascii=False)


@asynccontextmanager
async def slack_bot(sqlite_url: str, clock: VirtualClock | None = None) -> AsyncIterator[Bot]:
    async with SlackStandin(users={ANNA: {"real_name": "Anna de Vries"}, BRAM: {"real_name": "Bram Peters"},
                                   DEWI: {"real_name": "Dewi Santoso", "tz": "Asia/Jakarta"}},
                            channels={CHANNEL: {"name": "lerend-netwerk"}}) as slack:
        port = free_port()
        settings = Settings(_env_file=None, database_url=sqlite_url, slack_bot_token="xoxb-test",
                            slack_app_token=None, slack_signing_secret=SECRET, slack_api_url=slack.url,
                            bamboe_http_host="127.0.0.1", bamboe_http_port=port)
        async with running(settings, clock=clock) as app, aiohttp.ClientSession() as http:
            yield Bot(app, slack, http, port)


# ---------------------------------------------------------------------------- requests
async def test_slash_command_answers_ephemerally_and_readiness(sqlite_url):
    async with slack_bot(sqlite_url) as bot:
        async with bot.http.get(f"http://127.0.0.1:{bot.port}/readyz") as resp:
            assert (await resp.json())["checks"] == {"database": True, "slack": True}
        started = time.monotonic()
        status, body = await bot.command(ANNA, "status")
        assert status == 200 and body == ""
        assert time.monotonic() - started < 3
        answer = await wait_for(lambda: bot.slack.of("chat.postEphemeral"))
        assert answer[0].params["channel"] == CHANNEL and answer[0].params["user"] == ANNA
        (network,) = await bot.rows(Network)
        assert network.name == "lerend-netwerk"
        (member,) = await bot.rows(Member)
        assert (member.user_id, member.name, member.role) == (ANNA, "Anna de Vries", "trekker")
        for call in bot.slack.of("chat.postMessage"):
            assert call.params["unfurl_links"] is False and call.params["unfurl_media"] is False
            assert "link_names" not in call.params


async def test_forged_and_stale_requests_are_refused(sqlite_url):
    async with slack_bot(sqlite_url) as bot:
        status, _ = await bot.command(ANNA, "status", secret="wrong-secret")
        assert status == 401
        status, _ = await bot.command(ANNA, "status", timestamp=int(time.time()) - 6 * 60)
        assert status == 401
        async with bot.http.post(bot.url, data="command=%2Fbamboe&text=status",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"}) as resp:
            assert resp.status == 401
        await asyncio.sleep(0.2)
        assert bot.slack.posts() == [] and await bot.rows(Network) == []


async def test_url_verification(sqlite_url):
    async with slack_bot(sqlite_url) as bot:
        body = json.dumps({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                           "type": "url_verification"})
        status, text = await bot.post(body, "application/json")
        assert status == 200 and "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in text


async def test_bot_invited_makes_a_network_with_the_inviter_as_trekker(sqlite_url):
    async with slack_bot(sqlite_url) as bot:
        await bot.add_bot(ANNA)
        (chat,) = await bot.rows(Chat)
        assert (chat.platform, chat.chat_id, chat.title) == ("slack", CHANNEL, "lerend-netwerk")
        (member,) = await bot.rows(Member)
        assert (member.user_id, member.role) == (ANNA, "trekker")
        (welcome,) = bot.slack.posts()
        assert welcome.method == "chat.postMessage" and welcome.params["channel"] == CHANNEL
        # someone else joins, then leaves
        await bot.event({"type": "member_joined_channel", "user": BRAM, "channel": CHANNEL, "channel_type": "C",
                         "team": TEAM})
        (bram,) = await wait_rows(bot, Member, Member.user_id == BRAM)
        assert bram.name == "Bram Peters" and bram.active
        await bot.event({"type": "member_left_channel", "user": BRAM, "channel": CHANNEL, "channel_type": "C",
                         "team": TEAM})
        await wait_rows(bot, Member, Member.user_id == BRAM, Member.active.is_(False))
        # the bot is removed from the channel: it leaves its network (the network's only chat: it goes quiet)
        await bot.event({"type": "member_left_channel", "user": BOT_USER, "channel": CHANNEL, "channel_type": "C",
                         "team": TEAM})
        for _ in range(50):
            if not await bot.rows(Chat):
                break
            await asyncio.sleep(0.05)
        assert await bot.rows(Chat) == []
        assert [m.active for m in await bot.rows(Member)] == [False, False]


def to_channel(bot: Bot, channel: str) -> list[Call]:
    """The bot's posts (tried, refused or not) to ``channel``."""
    return [c for c in bot.slack.posts() if c.params.get("channel") == channel]


async def drained(bot: Bot, clock: VirtualClock, timeout: float = 20.0) -> None:
    """Let virtual time pass (two seconds a step: sends are paced) until the outbox has nothing
    left to send."""
    deadline = asyncio.get_running_loop().time() + timeout
    while await bot.rows(OutboxMessage, OutboxMessage.state.in_(("pending", "sending"))):
        assert asyncio.get_running_loop().time() < deadline, "the outbox did not drain"
        clock.advance(timedelta(seconds=2))
        bot.app.wake.set()
        await asyncio.sleep(0.05)


async def test_channel_left_for_the_bot_takes_the_channel_out_of_its_network(sqlite_url):
    """Slack may tell the bot it was removed from a public channel with ``channel_left`` alone
    (sent to the app's own user: channel, actor_id, event_ts, no user). The channel leaves its
    network; who was only there leaves too, who is in the network's other channel stays; the
    trekker hears it privately, once; nothing more goes to the channel. Slack's other event for
    the same removal (``member_left_channel`` for the bot) changes nothing more."""
    clock = VirtualClock(local(2026, 1, 5, 8, 0))
    other = "C0TWEEDE"
    async with slack_bot(sqlite_url, clock) as bot:
        bot.slack.channels[other] = {"name": "tweede-kanaal"}
        await bot.add_bot(ANNA)
        await bot.add_bot(ANNA, channel=other)
        await bot.command(ANNA, "koppel")  # the trekker's code arrives in her DM; she types it in the other channel
        note = await wait_for(lambda: [c for c in to_channel(bot, "DANNA") if "koppelcode" in c.params["text"]])
        code = re.search(r"koppel ([A-Z0-9]{4}-[A-Z0-9]{4})", note[0].params["text"])[1]
        await bot.command(ANNA, f"koppel {code}", channel=other, channel_name="tweede-kanaal")
        (chat,) = await bot.rows(Chat, Chat.chat_id == CHANNEL)
        await wait_for_rows(bot, 2, Chat, Chat.network_id == chat.network_id)
        for user, channel in ((BRAM, CHANNEL), (DEWI, CHANNEL), (DEWI, other)):
            await bot.event({"type": "member_joined_channel", "user": user, "channel": channel,
                             "channel_type": "C", "team": TEAM})
        await wait_for_rows(bot, 3, Member, Member.network_id == chat.network_id)
        await drained(bot, clock)
        posts, dms = len(to_channel(bot, CHANNEL)), len(to_channel(bot, "DANNA"))

        bot.slack.refuse_posts(CHANNEL)  # as Slack does once the bot is out
        status, _ = await bot.event({"type": "channel_left", "channel": CHANNEL, "actor_id": ANNA,
                                     "event_ts": "1767700000.000100"})
        assert status == 200
        await wait_for_rows(bot, 1, Chat)
        await drained(bot, clock)
        (told,) = to_channel(bot, "DANNA")[dms:]
        assert "Ik ben uit de chat lerend-netwerk gehaald" in told.params["text"]
        assert [(c.chat_id, c.network_id) for c in await bot.rows(Chat)] == [(other, chat.network_id)]
        active = {m.user_id: m.active for m in await bot.rows(Member)}
        assert active == {ANNA: True, BRAM: False, DEWI: True}  # Bram was only in the channel that left

        # the same removal as member_left_channel, and the core's answer to another BotRemoved: nothing
        status, _ = await bot.event({"type": "member_left_channel", "user": BOT_USER, "channel": CHANNEL,
                                     "channel_type": "C", "team": TEAM})
        assert status == 200
        assert await bot.app.receive(BotRemoved(ChatRef("slack", CHANNEL))) == []

        clock.set(local(2026, 1, 6, 10, 0))  # the weekly question goes to the channel that stayed
        bot.app.wake.set()
        await wait_for(lambda: [c for c in to_channel(bot, other) if "Weekvraag" in c.params["text"]])
        await drained(bot, clock)
        assert to_channel(bot, CHANNEL)[posts:] == []
        assert len(to_channel(bot, "DANNA")) == dms + 1
        assert {m.user_id: m.active for m in await bot.rows(Member)} == active
        assert [c.chat_id for c in await bot.rows(Chat)] == [other]


async def test_both_events_for_one_removal_act_once(database_url):
    """Slack may send ``member_left_channel`` and ``channel_left`` for one removal, even at the
    same moment: one BotRemoved takes effect, so the trekker (only in that channel) gets one
    private note, not two (on SQLite and on PostgreSQL)."""
    async with slack_bot(database_url) as bot:
        await bot.add_bot(ANNA)
        await bot.event({"type": "member_joined_channel", "user": BRAM, "channel": CHANNEL, "channel_type": "C",
                         "team": TEAM})
        await wait_rows(bot, Member, Member.user_id == BRAM)
        dms = len(to_channel(bot, "DANNA"))
        bot.slack.refuse_posts(CHANNEL)
        statuses = await asyncio.gather(
            bot.event({"type": "member_left_channel", "user": BOT_USER, "channel": CHANNEL, "channel_type": "C",
                       "team": TEAM}),
            bot.event({"type": "channel_left", "channel": CHANNEL, "actor_id": ANNA, "event_ts": "1767700000.000200"}))
        assert [s for s, _ in statuses] == [200, 200]
        told = await wait_for(lambda: to_channel(bot, "DANNA")[dms:])
        assert "Je zat alleen in die chat" in told[0].params["text"]
        await asyncio.sleep(0.5)
        assert len(to_channel(bot, "DANNA")) == dms + 1
        assert len(await bot.rows(OutboxMessage, OutboxMessage.kind == "link")) == 1
        assert await bot.rows(Chat) == []
        assert [m.active for m in await bot.rows(Member)] == [False, False]


PRIVATE = "G0PRIVE"


def come_back_code(call: Call) -> str:
    """The code in a lead's note, from ``/bamboe koppel XXXX-XXXX``."""
    return re.search(r"koppel ([A-Z0-9]{4}-[A-Z0-9]{4})", call.params["text"])[1]


async def test_an_archived_public_channel_leaves_its_network_and_comes_back_once_the_bot_is_added_again(sqlite_url,
                                                                                                      caplog):
    """``channel_archive`` (channel, user who archived it): as with the bot's removal the channel
    leaves its network and its members leave with it; the trekker hears privately, once, that it was
    archived and how to bring it back (out of the archive, add the bot, type the code there);
    nothing goes to the channel, not even the week's question. ``channel_unarchive`` of a public
    channel does not bring the bot back (Slack restores no former members): conversations.info says
    it is no member, and nothing happens. Once Anna adds the bot again and types the code (within
    its 24 hours), the channel is back in its network, with her as its trekker."""
    caplog.set_level("DEBUG")
    clock = VirtualClock(local(2026, 1, 5, 12, 0))
    async with slack_bot(sqlite_url, clock) as bot:
        await bot.add_bot(ANNA)
        await bot.event({"type": "member_joined_channel", "user": BRAM, "channel": CHANNEL, "channel_type": "C",
                         "team": TEAM})
        await wait_rows(bot, Member, Member.user_id == BRAM)
        await drained(bot, clock)
        (chat,) = await bot.rows(Chat)
        posts, dms = len(to_channel(bot, CHANNEL)), len(to_channel(bot, "DANNA"))

        bot.slack.archive(CHANNEL)
        status, _ = await bot.event({"type": "channel_archive", "channel": CHANNEL, "user": ANNA,
                                     "event_ts": "1767700000.000300"})
        assert status == 200
        await wait_for_rows(bot, 0, Chat)
        await drained(bot, clock)
        (told,) = to_channel(bot, "DANNA")[dms:]
        assert "De chat lerend-netwerk is gearchiveerd" in told.params["text"]
        assert "Haal de chat dan uit het archief" in told.params["text"]
        code = come_back_code(told)
        assert f"`/bamboe koppel {code}`" in told.params["text"]  # as it is typed in Slack
        assert [(m.user_id, m.active) for m in await bot.rows(Member)] == [(ANNA, False), (BRAM, False)]
        clock.set(local(2026, 1, 6, 10, 0))  # the week's question: the network has no channel to ask in
        bot.app.wake.set()
        await wait_rows(bot, Job, Job.network_id == chat.network_id, Job.kind == "nudge", Job.state == "done")
        await drained(bot, clock)
        assert to_channel(bot, CHANNEL)[posts:] == []

        bot.slack.unarchive(CHANNEL, bot_stays=False)
        status, _ = await bot.event({"type": "channel_unarchive", "channel": CHANNEL, "user": ANNA,
                                     "event_ts": "1767700000.000400"})
        assert status == 200
        await asyncio.sleep(0.3)
        assert await bot.rows(Chat) == [] and to_channel(bot, CHANNEL)[posts:] == []
        assert len(to_channel(bot, "DANNA")) == dms + 1

        bot.slack.bot_added(CHANNEL)
        await bot.add_bot(ANNA)  # a fresh network, Anna its trekker
        await bot.command(ANNA, f"koppel {code}")
        await wait_for_rows(bot, 1, Chat, Chat.network_id == chat.network_id)
        assert {m.user_id: m.active for m in await bot.rows(Member, Member.network_id == chat.network_id)} == {
            ANNA: True, BRAM: False}  # Bram is back as soon as he writes there
        (anna,) = await bot.rows(Member, Member.user_id == ANNA)
        assert anna.role == "trekker"
        assert len(await bot.rows(Network)) == 1
    # the archive, the note with its code and the way back: no code, name, user id or text in the log
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert [n for n in (code, ANNA, BRAM, "lerend-netwerk", "gearchiveerd") if n in logged] == []


async def test_an_archived_private_channel_comes_back_when_unarchived_as_the_bot_stayed_in_it(sqlite_url):
    """``group_archive`` (only the channel): the private channel leaves its network, the trekker
    hears how to bring it back. ``group_unarchive`` (channel, actor_id): Slack keeps a private
    channel's members, the bot too (conversations.info: a member), so the channel is a network
    again as if the bot was added by who unarchived it (its trekker, welcomed in the channel); the
    code from the note then brings it back into its old network."""
    async with slack_bot(sqlite_url) as bot:
        bot.slack.channels[PRIVATE] = {"name": "prive-kanaal"}
        await bot.add_bot(ANNA, channel=PRIVATE)
        (chat,) = await bot.rows(Chat)
        await wait_for(lambda: to_channel(bot, PRIVATE))
        dms = len(to_channel(bot, "DANNA"))

        bot.slack.archive(PRIVATE)
        status, _ = await bot.event({"type": "group_archive", "channel": PRIVATE})
        assert status == 200
        told = await wait_for(lambda: to_channel(bot, "DANNA")[dms:])
        assert "De chat prive-kanaal is gearchiveerd" in told[0].params["text"]
        assert await bot.rows(Chat) == []
        code = come_back_code(told[0])
        posts = len(to_channel(bot, PRIVATE))

        bot.slack.unarchive(PRIVATE, bot_stays=True)
        status, _ = await bot.event({"type": "group_unarchive", "channel": PRIVATE, "actor_id": ANNA,
                                     "event_ts": "1767700000.000500"})
        assert status == 200
        welcome = await wait_for(lambda: to_channel(bot, PRIVATE)[posts:])
        assert "Bamboe" in all_text(welcome[0])
        (fresh,) = await bot.rows(Chat)
        assert fresh.network_id != chat.network_id and fresh.title == "prive-kanaal"
        (trekker,) = await bot.rows(Member, Member.network_id == fresh.network_id)
        assert (trekker.user_id, trekker.role) == (ANNA, "trekker")

        await bot.command(ANNA, f"koppel {code}", channel=PRIVATE, channel_name="prive-kanaal")
        await wait_for_rows(bot, 1, Chat, Chat.network_id == chat.network_id)
        assert [(m.user_id, m.active, m.role) for m in await bot.rows(Member)] == [(ANNA, True, "trekker")]


async def test_a_renamed_private_channel_renames_its_network_and_other_channels_change_nothing(sqlite_url):
    """``group_rename`` (the channel's id and new name): the network named after the private
    channel follows, once for a retried event, and nothing is posted; a ``channel_rename`` of a
    public channel that is no network (Slack sends those for every channel) makes nothing."""
    async with slack_bot(sqlite_url) as bot:
        bot.slack.channels[PRIVATE] = {"name": "prive-kanaal"}
        await bot.add_bot(ANNA, channel=PRIVATE)
        await wait_for(lambda: to_channel(bot, PRIVATE))
        posts = len(bot.slack.posts())
        renamed = {"type": "group_rename", "channel": {"id": PRIVATE, "name": "armoede-noord", "created": 1767000000,
                                                       "is_channel": False, "is_mpim": False}}
        for _ in range(2):  # Slack retries an event it thinks was not taken: handled once
            status, _ = await bot.event(renamed, event_id="EvRENAME0001")
            assert status == 200
        status, _ = await bot.event({"type": "channel_rename", "channel": {"id": "C0ANDERS", "name": "random-2",
                                                                           "created": 1767000000}})
        assert status == 200
        assert [(c.chat_id, c.title) for c in await bot.rows(Chat)] == [(PRIVATE, "armoede-noord")]
        assert [n.name for n in await bot.rows(Network)] == ["armoede-noord"]
        await asyncio.sleep(0.3)
        assert len(bot.slack.posts()) == posts
        await bot.command(BRAM, "netwerk", channel=PRIVATE, channel_name="armoede-noord")
        shown = await wait_for(lambda: [c for c in bot.slack.posts()[posts:] if "armoede-noord" in all_text(c)])
        assert shown


async def test_the_bot_reported_gone_from_an_archived_channel_gets_the_archive_note_once(sqlite_url):
    """Slack may also report the bot as gone from the channel it archived (``member_left_channel``),
    before or after ``channel_archive``: conversations.info says the channel is archived, so the
    trekker's note says so whichever comes first, and the other event changes nothing."""
    async with slack_bot(sqlite_url) as bot:
        await bot.add_bot(ANNA)
        dms = len(to_channel(bot, "DANNA"))
        bot.slack.archive(CHANNEL)
        status, _ = await bot.event({"type": "member_left_channel", "user": BOT_USER, "channel": CHANNEL,
                                     "channel_type": "C", "team": TEAM})
        assert status == 200
        told = await wait_for(lambda: to_channel(bot, "DANNA")[dms:])
        assert "De chat lerend-netwerk is gearchiveerd" in told[0].params["text"]
        status, _ = await bot.event({"type": "channel_archive", "channel": CHANNEL, "user": ANNA,
                                     "event_ts": "1767700000.000600"})
        assert status == 200
        await asyncio.sleep(0.5)
        assert len(to_channel(bot, "DANNA")) == dms + 1
        assert len(await bot.rows(OutboxMessage, OutboxMessage.kind == "link")) == 1
        assert await bot.rows(Chat) == []


async def test_retried_event_is_handled_once(sqlite_url):
    async with slack_bot(sqlite_url) as bot:
        await bot.add_bot(ANNA)
        joined = {"type": "member_joined_channel", "user": BRAM, "channel": CHANNEL, "channel_type": "C",
                  "team": TEAM}
        assert (await bot.event(joined, event_id="Ev0RETRY"))[0] == 200
        assert (await bot.event(joined, event_id="Ev0RETRY",
                                headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}))[0] == 200
        # a DM from someone outside any network gets one hint; its retry gets none
        dm = {"type": "message", "user": DEWI, "text": "hallo", "ts": "1767700000.900001", "channel": "D0DEWI",
              "channel_type": "im"}
        await bot.event(dm, event_id="Ev0DM")
        await bot.event(dm, event_id="Ev0DM", headers={"X-Slack-Retry-Num": "2"})
        await bot.message(DEWI, "nog een keer", channel="D0DEWI", channel_type="im")
        await wait_for(lambda: len([c for c in bot.slack.posts() if c.params["channel"] == "D0DEWI"]) >= 2)
        await asyncio.sleep(0.3)
        assert len([c for c in bot.slack.posts() if c.params["channel"] == "D0DEWI"]) == 2
        # the IM channel was learnt from the DM itself
        assert [c for c in bot.slack.of("conversations.open") if c.params["users"] == DEWI] == []
        assert len(await bot.rows(Member, Member.user_id == BRAM)) == 1


async def test_bot_and_edited_messages_are_ignored(sqlite_url):
    async with slack_bot(sqlite_url) as bot:
        await bot.message(DEWI, "hallo", channel="D0DEWI", channel_type="im", bot_id="B999")
        await bot.message(DEWI, "hallo", channel="D0DEWI", channel_type="im", subtype="message_changed")
        await bot.message(BOT_USER, "hallo", channel="D0DEWI", channel_type="im")
        await bot.message(DEWI, "echt", channel="D0DEWI", channel_type="im")
        await wait_for(lambda: bot.slack.posts())
        await asyncio.sleep(0.3)
        assert len(bot.slack.posts()) == 1


# ---------------------------------------------------------------------------- conversation
async def test_answer_in_a_thread_under_the_nudge_is_stored(sqlite_url):
    clock = VirtualClock(local(2026, 1, 5, 8, 0))
    async with slack_bot(sqlite_url, clock) as bot:
        await bot.add_bot(ANNA)
        await bot.event({"type": "member_joined_channel", "user": BRAM, "channel": CHANNEL, "channel_type": "C",
                         "team": TEAM})
        await wait_rows(bot, Member, Member.user_id == BRAM)
        clock.set(local(2026, 1, 6, 10, 0))
        bot.app.wake.set()
        nudge = await wait_for(lambda: [c for c in bot.slack.of("chat.postMessage")
                                        if "Weekvraag" in c.params["text"]])
        # recorded as sent just after Slack answered
        (row,) = await wait_rows(bot, OutboxMessage, OutboxMessage.kind == "nudge", OutboxMessage.state == "sent")
        assert row.platform_message_id == nudge[0].result["ts"]
        await bot.message(BRAM, "Ik leerde dat luisteren &amp; wachten helpt", thread_ts=row.platform_message_id)
        (answer,) = await wait_rows(bot, Answer)
        (bram,) = await bot.rows(Member, Member.user_id == BRAM)
        assert answer.member_id == bram.id and answer.text == "Ik leerde dat luisteren & wachten helpt"
        assert nudge[0].params["channel"] == CHANNEL


async def test_volunteer_button_reaches_the_core(sqlite_url):
    async with slack_bot(sqlite_url) as bot:
        await bot.add_bot(ANNA)
        assert (await bot.command(ANNA, "", command="/actieleren"))[0] == 200
        invite = await wait_for(lambda: [c for c in bot.slack.posts() if "blocks" in c.params])
        params = invite[0].params
        actions = params["blocks"][-1]
        assert actions["type"] == "actions"
        button = actions["elements"][0]
        assert button["text"]["text"] == "Ik breng een casus in" and button["action_id"].startswith("bamboe_")
        assert params["text"]  # plain-text fallback for notifications
        (row,) = await bot.rows(OutboxMessage, OutboxMessage.kind == "actieleren")
        status, _ = await bot.press(DEWI, button["value"], row.platform_message_id)
        assert status == 200
        (dewi,) = await wait_rows(bot, Member, Member.user_id == DEWI)
        await wait_rows(bot, Round, Round.bringer_id == dewi.id)


async def test_private_answer_goes_to_a_dm(sqlite_url):
    async with slack_bot(sqlite_url) as bot:
        await bot.add_bot(ANNA)
        # a slash command inside a DM: the answer goes privately, via conversations.open
        status, _ = await bot.command(ANNA, "status", channel="D0ELSEWHERE", channel_name="directmessage")
        assert status == 200
        dm = await wait_for(lambda: [c for c in bot.slack.posts() if c.params["channel"].startswith("D")])
        assert dm[0].method == "chat.postMessage" and dm[0].params["channel"] == "D" + ANNA.lstrip("U")
        assert [c.params["users"] for c in bot.slack.of("conversations.open")] == [ANNA]


async def test_user_text_is_echoed_escaped(sqlite_url):
    async with slack_bot(sqlite_url) as bot:
        await bot.add_bot(ANNA)
        await bot.command(ANNA, "netwerk naam <!channel> <@U123> <https://x|y> &amp; <!subteam^S1>")
        await wait_rows(bot, Network, Network.name.contains("channel"))
        await bot.command(ANNA, "netwerk")
        shown = await wait_for(lambda: [c for c in bot.slack.of("chat.postEphemeral")
                                        if "&lt;!channel&gt;" in c.params["text"]])
        text = shown[-1].params["text"]
        assert "&lt;@\u2060U123&gt;" in text and "&lt;https://x|y&gt;" in text and "&lt;!subteam^S1&gt;" in text
        assert "&amp; " in text
        for call in bot.slack.posts():
            assert "<!" not in all_text(call) and "<@" not in all_text(call) and "<http" not in all_text(call)


# ---------------------------------------------------------------------------- delivery
async def test_rate_limited_then_delivered_once_in_order(sqlite_url):
    async with slack_bot(sqlite_url) as bot:
        await bot.add_bot(ANNA)
        bot.slack.throttle_next(1, retry_after=1)
        await bot.command(ANNA, "status")
        await wait_for(lambda: len(bot.slack.of("chat.postEphemeral")) == 1)
        await bot.command(ANNA, "help")
        await wait_for(lambda: len(bot.slack.of("chat.postEphemeral")) == 3)
        first, retried, second = bot.slack.of("chat.postEphemeral")
        assert first.params == retried.params and retried.params["text"] != second.params["text"]
        answers = (OutboxMessage.chat_id == CHANNEL, OutboxMessage.user_id == ANNA)
        await wait_rows(bot, OutboxMessage, *answers, OutboxMessage.state == "sent",
                        OutboxMessage.id == max(r.id for r in await bot.rows(OutboxMessage, *answers)))
        rows = await bot.rows(OutboxMessage, *answers)
        assert [r.state for r in rows] == ["sent", "sent"]
        assert rows[0].platform_message_id < rows[1].platform_message_id


@pytest.mark.parametrize("error", ["channel_not_found", "is_archived", "not_in_channel"])
async def test_a_post_slack_refuses_for_good_is_undeliverable(sqlite_url, error):
    """A deleted or archived channel, or one the bot is out of: the row fails and is not retried."""
    async with slack_bot(sqlite_url) as bot:
        bot.slack.fail_next("chat.postMessage", error)
        await bot.event({"type": "member_joined_channel", "user": BOT_USER, "channel": CHANNEL, "channel_type": "C",
                         "team": TEAM, "inviter": ANNA})
        (row,) = await wait_rows(bot, OutboxMessage, OutboxMessage.state == "failed")
        assert row.kind == "help"
        await asyncio.sleep(0.2)
        assert len(bot.slack.of("chat.postMessage")) == 1  # not retried


async def test_command_in_a_channel_without_the_bot_asks_for_an_invite(sqlite_url):
    async with slack_bot(sqlite_url) as bot:
        bot.slack.channels["C0RANDOM"] = {"name": "random", "is_member": False}
        status, _ = await bot.command(BRAM, "status", channel="C0RANDOM", channel_name="random")
        assert status == 200
        (response,) = await wait_for(lambda: bot.slack.responses)
        assert response["response_type"] == "ephemeral" and "/invite @Bamboe" in response["text"]
        assert await bot.rows(Network) == [] and bot.slack.posts() == []
        # once invited, the same command works (the cached membership follows the join)
        await bot.add_bot(BRAM, channel="C0RANDOM")
        await bot.command(BRAM, "status", channel="C0RANDOM", channel_name="random")
        await wait_for(lambda: bot.slack.of("chat.postEphemeral"))


async def test_a_command_while_the_database_is_down_asks_to_try_again(sqlite_url):
    """Slack never sends a slash command again, so the member is told (only they see it) to try
    once more; nothing is stored."""
    from bot import i18n
    from tests.contract.driver import sqlite_unreachable

    async with slack_bot(sqlite_url) as bot:
        await bot.add_bot(ANNA)
        adapter = bot.app.adapters[0]
        async with sqlite_unreachable(sqlite_url, bot.app.db.engine, adapter.engine):
            status, _ = await bot.command(ANNA, "status")
            assert status == 200
            (response,) = await wait_for(lambda: bot.slack.responses)
        assert response["response_type"] == "ephemeral"
        assert response["text"] == i18n.t("nl", "errors.internal")
        assert await bot.rows(OutboxMessage, OutboxMessage.kind == "status") == []
async def test_an_event_during_a_database_outage_is_not_acknowledged_and_its_retry_is_handled_once(sqlite_url):
    """Issue 17, item 10: the core is Unavailable, so the event gets 503 (Slack sends it again with
    X-Slack-Retry-Num); the retry after the outage is handled, a further retry is not."""
    from tests.contract.driver import sqlite_unreachable

    async with slack_bot(sqlite_url) as bot:
        await bot.add_bot(ANNA)
        adapter = bot.app.adapters[0]
        joined = {"type": "member_joined_channel", "user": DEWI, "channel": CHANNEL, "channel_type": "C",
                  "team": TEAM}
        before = len(bot.slack.posts())
        async with sqlite_unreachable(sqlite_url, bot.app.db.engine, adapter.engine):
            status, _ = await bot.event(joined, event_id="EvOUTAGE1")
            assert status == 503
        assert len(bot.slack.posts()) == before
        # the database is back (the stand-in outage moved its file: connections opened meanwhile are stale)
        await bot.app.db.engine.dispose()
        await adapter.engine.dispose()
        assert [m.user_id for m in await bot.rows(Member)] == [ANNA]  # nothing of the event was kept
        for retry in ("1", "2"):  # Slack's retries (the second one as if the first answer got lost)
            status, _ = await bot.event(joined, event_id="EvOUTAGE1",
                                        headers={"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_error"})
            assert status == 200
        await wait_rows(bot, Member, Member.user_id == DEWI)
        assert [m.user_id for m in await bot.rows(Member)] == [ANNA, DEWI]
        assert len(await bot.rows(Member, Member.user_id == DEWI)) == 1
        # a slash command is acknowledged at once as before (Slack does not send those again)
        started = time.monotonic()
        assert (await bot.command(ANNA, "status"))[0] == 200 and time.monotonic() - started < 3


async def test_handled_event_ids_are_pruned_hourly_also_when_no_event_comes(sqlite_url):
    """The register keeps Slack's event ids for an hour: the hourly housekeeping prunes them, not
    only the next event."""
    from datetime import UTC, datetime

    from bot.models import SlackEvent

    async with slack_bot(sqlite_url) as bot:
        async with bot.app.db.transaction() as s:
            s.add(SlackEvent(event_id="EvOLD", seen_at=datetime.now(UTC) - timedelta(hours=2)))
            s.add(SlackEvent(event_id="EvNEW", seen_at=datetime.now(UTC)))
        (slack,) = bot.app.adapters
        await slack.housekeeping()
        async with bot.app.db.transaction() as s:
            assert list(await s.scalars(select(SlackEvent.event_id))) == ["EvNEW"]
