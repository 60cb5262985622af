"""Matrix for the conformance suite: ``bamboe run``'s stack with the real adapter (matrix-nio)
against a **real Synapse** (``tests/matrix_server.py``); the members are accounts on it that call
the client-server API as Element does.

Between the adapter and Synapse sits a small recording proxy on 127.0.0.1: it passes every request
through and notes what Synapse accepted from the bot (sends, uploads, created rooms), at the
virtual time, so :meth:`MatrixDriver.sent` can answer without a network call; it also plays the
one fault a real server will not produce on demand, a single ``429 M_LIMIT_EXCEEDED``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

import aiohttp
from aiohttp import web
from sqlalchemy import select

from adapters.matrix import render
from adapters.matrix.adapter import MatrixAdapter
from adapters.matrix.translate import PLATFORM
from bamboe.runtime import App, running
from bamboe.settings import Settings
from bot.clock import VirtualClock
from bot.models import MatrixEvent, Member
from tests.conftest import free_port
from tests.contract.driver import GROUP, PEOPLE, START, Driver, File, Sent, private, sqlite_unreachable
from tests.matrix_server import Synapse, User, shared_server

#: the long text's parts are checked joined; Matrix's numbered choices are lines of the last part
KNOWN_GAPS = {
    "test_a_long_text_is_split_within_the_platforms_limit":
        "Matrix has no buttons: the numbered choice (1️⃣ Klaar) is a line of the last part's text",
}
SEND = re.compile(r"/_matrix/client/v3/rooms/([^/]+)/send/([^/]+)/([^/?]+)$")
#: an ``@user:server`` written in a body (not the ``@`` + word joiner of echoed text)
MXID = re.compile(r"@(?!\u2060)[a-z0-9._=/-]+:[a-z0-9.-]+")


@dataclass
class Accepted:
    """An event Synapse accepted from the bot."""

    room: str
    event_type: str
    content: dict[str, Any]
    event_id: str
    at: datetime


class Proxy:
    """Passes the bot's requests to Synapse and records what it accepted."""

    def __init__(self, upstream: str, clock: VirtualClock) -> None:
        self.upstream = upstream
        self.clock = clock
        self.accepted: list[Accepted] = []
        self.throttled: list[datetime] = []
        self.uploads: dict[str, bytes] = {}
        self.created: dict[str, str] = {}  # room → the user invited into it (direct rooms)
        self.refuse_next: int | None = None
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._pass)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        self._http = aiohttp.ClientSession()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _pass(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        send = SEND.match(request.path)
        if send and request.method == "PUT" and unquote(send.group(2)) == "m.room.message" \
                and self.refuse_next is not None:
            seconds, self.refuse_next = self.refuse_next, None
            self.throttled.append(self.clock.now())
            return web.json_response({"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests",
                                      "retry_after_ms": seconds * 1000}, status=429)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        assert self._http is not None
        async with self._http.request(request.method, self.upstream + request.path_qs, data=body,
                                      headers=headers) as resp:
            data = await resp.read()
            status, kind = resp.status, resp.headers.get("Content-Type", "application/json")
        if status == 200:
            self._record(request, body, send, json.loads(data) if data[:1] == b"{" else {})
        return web.Response(body=data, status=status, headers={"Content-Type": kind})

    def _record(self, request: web.Request, body: bytes, send: re.Match[str] | None, result: dict[str, Any]) -> None:
        if send and request.method == "PUT":
            event_id = result.get("event_id", "")
            if not any(a.event_id == event_id for a in self.accepted):  # a retried txn: the same event
                self.accepted.append(Accepted(unquote(send.group(1)), unquote(send.group(2)), json.loads(body),
                                              event_id, self.clock.now()))
        elif request.path.endswith("/createRoom"):
            invite = (json.loads(body).get("invite") or [None])[0]
            if invite:
                self.created[result["room_id"]] = invite
        elif request.path.startswith("/_matrix/media/") and "upload" in request.path:
            self.uploads[result.get("content_uri", "")] = body


class MatrixDriver(Driver):
    """A Synapse room with Anna, Bram and Cem, around the running stack."""

    platform = PLATFORM
    capabilities = MatrixAdapter.capabilities

    def __init__(self, app: App, proxy: Proxy, clock: VirtualClock, url: str, server: Synapse,
                 users: dict[str, User], bot: User, room: str) -> None:
        self.app = app
        self.proxy = proxy
        self.db = app.db
        self.clock = clock
        self.url = url
        self.server = server
        self.users = users
        self.bot = bot
        self.chat_id = room
        self.direct: dict[str, str] = {}  # user key → direct room a member opened with the bot
        self._rooms: dict[str, str] = {}  # a member's message (event id) → the room it is in

    def user_id(self, user: str) -> str:
        """The Matrix user id of ``user``."""
        return self.users[user].user_id

    # ------------------------------------------------------------------ what members do
    async def _bot_in(self, room: str, membership: str) -> None:
        async def there() -> bool:
            state = await self.users["anna"].call(
                "GET", f"/_matrix/client/v3/rooms/{room}/state/m.room.member/{self.bot.user_id}", ok=False)
            return state.get("membership") == membership
        await self.until(there, f"the bot's membership {membership}")

    async def add_bot(self, by: str = "anna") -> None:
        """``by`` invites the bot (it accepts by itself)."""
        await self.users[by].invite(self.chat_id, self.bot.user_id)
        await self._bot_in(self.chat_id, "join")

    async def remove_bot(self, by: str = "anna") -> None:
        """``by`` kicks the bot; Synapse then refuses its sends there (M_FORBIDDEN)."""
        await self.users[by].kick(self.chat_id, self.bot.user_id)
        await self.settle()

    async def rename(self, title: str, by: str = "anna") -> None:
        """``by`` sets the room's ``m.room.name`` (as Element does); back once the bot handled it."""
        path = f"/_matrix/client/v3/rooms/{quote(self.chat_id)}/state/m.room.name"
        event_id = (await self.users[by].call("PUT", path, {"name": title}))["event_id"]

        async def handled() -> bool:
            async with self.db.transaction() as session:
                return bool(await session.scalar(select(MatrixEvent.done).where(MatrixEvent.event_id == event_id)))

        await self.until(handled, "the rename handled")

    async def join(self, user: str) -> None:
        """Anna invites ``user``, who joins; back once the bot has seen it (its sync brings the
        join whenever Synapse sends it: a fixed wait is too short on a busy machine)."""
        await self.users["anna"].invite(self.chat_id, self.user_id(user))
        await self.users[user].join(self.chat_id)
        await self._member_is(user, active=True)

    async def leave(self, user: str) -> None:
        await self.users[user].leave(self.chat_id)
        await self._member_is(user, active=False)

    async def _member_is(self, user: str, *, active: bool) -> None:
        await self.until_rows(Member, Member.user_id == self.user_id(user), Member.active.is_(active),
                              what=f"{user} {'in' if active else 'out of'} the network")

    @staticmethod
    def _typed(text: str) -> str:
        """A command as typed in Element: ``/status`` → ``!status``."""
        return "!" + text[1:] if text.startswith("/") else text

    async def group_message(self, user: str, text: str, reply_to: Sent | None = None) -> str:
        """A message in the room; an answer to ``reply_to`` is a reply to it (as Element makes one)."""
        event_id = await self.users[user].say(self.chat_id, self._typed(text), reply_to=reply_to.id if reply_to else None)
        self._rooms[event_id] = self.chat_id
        return event_id

    async def edit(self, user: str, message_id: str, text: str) -> None:
        """``user`` edits their message in Element: an ``m.replace`` event with ``m.new_content``."""
        await self.users[user].edit(self._rooms[message_id], message_id, self._typed(text))

    async def delete(self, user: str, message_id: str) -> None:
        """``user`` removes their message: Synapse redacts it (an ``m.room.redaction`` event)."""
        await self.users[user].redact(self._rooms[message_id], message_id)

    async def private_message(self, user: str, text: str) -> str:
        """``user`` opens a direct chat with the bot (once) and writes there."""
        member = self.users[user]
        if user not in self.direct:
            known = next((room for room, who in self.proxy.created.items() if who == member.user_id), None)
            if known is not None:  # the bot opened one already: accept it
                await member.join(known)
                self.direct[user] = known
            else:
                room = await member.create_room("", [self.bot.user_id], direct=True)
                await self._bot_in(room, "join")
                self.direct[user] = room
        event_id = await member.say(self.direct[user], self._typed(text))
        self._rooms[event_id] = self.direct[user]
        return event_id

    async def press(self, user: str, message: Sent, choice: str) -> None:
        """``user`` clicks the number reaction of ``choice`` under ``message``."""
        for line in message.text.split("\n"):
            for cap in render.KEYCAPS:
                if line == f"{cap} {choice}":
                    room = self.chat_id if message.to == GROUP else self.direct[message.to.removeprefix("private:")]
                    await self.users[user].react(room, message.id or "", cap)
                    return
        raise AssertionError(f"no numbered choice {choice!r} in {message.text!r}")

    def not_started(self, user: str) -> None:
        """Never called: the bot opens direct rooms itself."""
        raise AssertionError("Matrix lets the bot open a direct room")

    # ------------------------------------------------------------------ what the platform saw
    def _to(self, room: str) -> str:
        if room == self.chat_id:
            return GROUP
        who = self.proxy.created.get(room) or next((self.users[k].user_id for k, r in self.direct.items()
                                                    if r == room), None)
        return private(self.user_key(who))

    def sent(self) -> list[Sent]:
        """The messages Synapse accepted from the bot (reactions are not messages)."""
        out = []
        for a in self.proxy.accepted:
            if a.event_type != "m.room.message":
                continue
            content = a.content
            rel = content.get("m.relates_to") or {}
            thread = rel.get("event_id") if rel.get("rel_type") == "m.thread" else None
            reply = (rel.get("m.in_reply_to") or {}).get("event_id")
            if thread and rel.get("is_falling_back"):
                reply = None
            files = ()
            if content.get("msgtype") in ("m.file", "m.image"):
                files = (File(content.get("body", ""), self.proxy.uploads.get(content.get("url", ""), b"")),)
            out.append(Sent(id=a.event_id, to=self._to(a.room), text=content.get("body", ""), files=files,
                            thread=thread, reply_to=reply, pings=_pings(content), at=a.at,
                            wire=json.dumps(content, ensure_ascii=False)))
        return out

    def throttled(self) -> list[datetime]:
        return list(self.proxy.throttled)

    # ------------------------------------------------------------------ faults
    def fail_next_with_429(self, retry_after: int) -> None:
        self.proxy.refuse_next = retry_after

    @asynccontextmanager
    async def database_down(self) -> AsyncIterator[None]:
        """The database is unreachable inside: the adapter does not move its sync position on, so
        Synapse hands the same events over again once it is back."""
        adapter = self.app.adapters[0]
        async with sqlite_unreachable(self.url, self.db.engine, adapter.db.engine):
            yield

    # ------------------------------------------------------------------ time
    async def tick(self) -> None:
        """Five virtual seconds pass; the dispatcher wakes; the adapter's sync gets a moment."""
        self.clock.advance(timedelta(seconds=5))
        self.app.wake.set()
        await asyncio.sleep(0.1)

    async def advance(self, to: datetime) -> None:
        self.clock.set(to)
        self.app.wake.set()
        await asyncio.sleep(0.1)


def _pings(content: dict[str, Any]) -> tuple[str, ...]:
    """Whom Element and Synapse's push rules notify for ``content``: with ``m.mentions`` only whom
    it names; without it, ``@room`` and user ids written in the body (the legacy rules)."""
    mentions = content.get("m.mentions")
    if isinstance(mentions, dict):
        return (*mentions.get("user_ids", []), *(["@room"] if mentions.get("room") else []))
    body = content.get("body", "")
    return (*(["@room"] if "@room" in body else []), *MXID.findall(body))


@asynccontextmanager
async def open_driver(url: str) -> AsyncIterator[Any]:
    """The stack syncing with Synapse through the proxy; the room exists, the bot not yet in it."""
    server = shared_server()
    clock = VirtualClock(START)
    proxy = Proxy(server.url, clock)
    await proxy.start()
    try:
        users = {key: await server.register(displayname=name) for key, name in PEOPLE.items()}
        bot = await server.register(displayname="Bamboe")
        room = await users["anna"].create_room("Lerend netwerk Venlo")
        settings = Settings(_env_file=None, database_url=url, matrix_homeserver_url=proxy.url,
                            matrix_user_id=bot.user_id, matrix_access_token=bot.token,
                            bamboe_http_host="127.0.0.1", bamboe_http_port=free_port())
        async with running(settings, clock=clock) as app:
            app.adapters[0].sync_timeout_ms = 500
            driver = MatrixDriver(app, proxy, clock, url, server, users, bot, room)
            await driver.until(lambda: app.adapters[0].ready(), "the adapter syncing")
            yield driver
    finally:
        await proxy.close()
