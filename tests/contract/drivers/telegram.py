"""Telegram for the conformance suite: ``bamboe run``'s stack with the real adapter
(python-telegram-bot, long polling) against the Bot API stand-in (``tests/telegram_standin.py``).

The driver plays Telegram: it queues updates as the Bot API hands them out and reads back the
sendMessage / sendDocument / sendPhoto calls the stand-in accepted.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.translate import PLATFORM
from bamboe.runtime import App, running
from bamboe.settings import Settings
from bot.clock import VirtualClock
from tests.conftest import free_port
from tests.contract.driver import (
    GROUP,
    PEOPLE,
    START,
    Driver,
    File,
    Sent,
    private,
    quick_pacing,
)
from tests.telegram_standin import FILE_FIELDS, Call, Refusal, StandIn, callback, chat_member, group, message, user

USERS = {key: user(1001 + n, *PEOPLE[key].split(" ", 1)) for n, key in enumerate(PEOPLE)}
GROUP_CHAT = group(-1001234567890, "Lerend netwerk Venlo")
#: an ``@name`` (without the word joiner the core adds to echoed text) mentions that user
MENTION = re.compile(r"@(?!\u2060)(\w+)")
#: send methods whose accepted calls are messages in the chat
SENDS = ("sendMessage", *FILE_FIELDS)


class _Text(HTMLParser):
    """What a member reads of a Telegram HTML text (tags dropped, entities decoded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.extend(value or "" for name, value in attrs if name == "href")


def readable_html(text: str) -> tuple[str, list[str]]:
    """The visible text of Telegram HTML and the links in it."""
    parser = _Text()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts), parser.links


class TelegramDriver(Driver):
    """Telegram's Bot API as a platform around the running stack."""

    platform = PLATFORM
    capabilities = TelegramAdapter.capabilities
    sees_deletions = False

    def __init__(self, app: App, api: StandIn, clock: VirtualClock, url: str) -> None:
        self.app = app
        #: the members' messages so far, as Telegram sent them: message id → Message
        self._said: dict[str, dict[str, Any]] = {}
        self.api = api
        self.db = app.db
        self.clock = clock
        self.url = url
        self.chat_id = str(GROUP_CHAT["id"])
        self._kicked: Refusal | None = None
        self._not_started: dict[str, Refusal] = {}

    def user_id(self, user: str) -> str:
        """Telegram's numeric user id of ``user``."""
        return str(USERS[user]["id"])

    # ------------------------------------------------------------------ what members do
    async def push(self, update: dict[str, Any]) -> None:
        """Queue an update; unless the database is down, wait until the adapter confirmed it
        (asked for the updates after it)."""
        update_id = self.api.push(update)
        if self.down:
            return
        await self.until(lambda: any((c.params.get("offset") or 0) > update_id for c in self.api.of("getUpdates")),
                         f"update {update_id} confirmed")

    async def add_bot(self, by: str = "anna") -> None:
        """Telegram sends both: my_chat_member (left → member) and a new_chat_members message."""
        if self._kicked is not None:
            self._kicked.times = 0
        await self.push(chat_member(GROUP_CHAT, USERS[by], self.api.me(), "left", "member"))
        await self.push({"message": message(GROUP_CHAT, USERS[by], new_chat_members=[self.api.me()])})

    async def remove_bot(self, by: str = "anna") -> None:
        """my_chat_member (member → kicked) and the left_chat_member message; then the group refuses."""
        await self.push(chat_member(GROUP_CHAT, USERS[by], self.api.me(), "member", "kicked"))
        await self.push({"message": message(GROUP_CHAT, USERS[by], left_chat_member=self.api.me())})
        self._kicked = self.api.refuse("sendMessage", 403, "Forbidden: bot was kicked from the supergroup chat",
                                       times=10_000, chat_id=GROUP_CHAT["id"])

    async def rename(self, title: str, by: str = "anna") -> None:
        """A service message with ``new_chat_title`` (its chat already carries the new title)."""
        await self.push({"message": message({**GROUP_CHAT, "title": title}, USERS[by], new_chat_title=title)})

    async def join(self, user: str) -> None:
        """``user`` joins by the group's invite link (a new_chat_members message from themselves)."""
        await self.push({"message": message(GROUP_CHAT, USERS[user], new_chat_members=[USERS[user]])})

    async def leave(self, user: str) -> None:
        """``user`` leaves (a left_chat_member message)."""
        await self.push({"message": message(GROUP_CHAT, USERS[user], left_chat_member=USERS[user])})

    def _bot_message(self, sent: Sent) -> dict[str, Any]:
        """The Message object Telegram returned for the bot's message ``sent``."""
        return next(c.result for c in self._accepted() if str(c.result["message_id"]) == sent.id)

    async def group_message(self, user: str, text: str, reply_to: Sent | None = None) -> str:
        """A text message in the group (a reply to ``reply_to``, as members answer the bot there)."""
        sent = message(GROUP_CHAT, USERS[user], text, reply_to=self._bot_message(reply_to) if reply_to else None)
        self._said[str(sent["message_id"])] = sent
        await self.push({"message": sent})
        return str(sent["message_id"])

    async def edit(self, user: str, message_id: str, text: str) -> None:
        """An ``edited_message`` update: the message's new version, with its ``edit_date``."""
        edited = {**self._said[message_id], "text": text, "edit_date": int(time.time())}
        assert edited["from"] == USERS[user]
        self._said[message_id] = edited
        await self.push({"edited_message": edited})

    async def delete(self, user: str, message_id: str) -> None:
        """Never called: the Bot API tells a bot of no deleted messages (``sees_deletions``)."""
        raise AssertionError("Telegram sends bots no update for a deleted message")

    async def private_message(self, user: str, text: str) -> str:
        """A message in the private chat with the bot; from then on the bot may write ``user``."""
        refusal = self._not_started.pop(user, None)
        if refusal is not None:
            refusal.times = 0  # the person started the bot
        sent = message({"id": USERS[user]["id"], "type": "private", "first_name": USERS[user]["first_name"]},
                       USERS[user], text)
        self._said[str(sent["message_id"])] = sent
        await self.push({"message": sent})
        return str(sent["message_id"])

    async def press(self, user: str, message: Sent, choice: str) -> None:
        """A callback_query with the pressed button's callback_data."""
        on = next(c for c in self._accepted() if str(c.result["message_id"]) == message.id)
        rows = (on.params.get("reply_markup") or {}).get("inline_keyboard") or []
        data = next(b["callback_data"] for row in rows for b in row if b["text"] == choice)
        await self.push(callback(USERS[user], on.result, data))

    def not_started(self, user: str) -> None:
        """Telegram refuses private messages until the person started the bot."""
        self._not_started[user] = self.api.refuse(
            "sendMessage", 403, "Forbidden: bot can't initiate conversation with a user", times=10_000,
            chat_id=USERS[user]["id"])

    # ------------------------------------------------------------------ what the platform saw
    def _accepted(self) -> list[Call]:
        return [c for c in self.api.calls if c.method in SENDS and c.status == 200]

    def _to(self, chat_id: Any) -> str:
        if str(chat_id) == self.chat_id:
            return GROUP
        return private(self.user_key(str(chat_id)))

    def sent(self) -> list[Sent]:
        """The accepted sends, as members see them."""
        out = []
        for call in self._accepted():
            params = call.params
            wire = params.get("text") or params.get("caption") or ""
            text, links = readable_html(wire) if params.get("parse_mode") == "HTML" else (wire, [])
            rows = (params.get("reply_markup") or {}).get("inline_keyboard") or []
            field = FILE_FIELDS.get(call.method)
            upload = params.get(field) if field else None
            reply = (params.get("reply_parameters") or {}).get("message_id")
            thread = params.get("message_thread_id")
            pings = [*MENTION.findall(text), *(link for link in links if link.startswith("tg://user"))]
            out.append(Sent(
                id=str(call.result["message_id"]), to=self._to(params["chat_id"]), text=text,
                buttons=tuple(b["text"] for row in rows for b in row),
                files=(File(upload.filename, upload.data),) if upload is not None else (),
                thread=str(thread) if thread else None, reply_to=str(reply) if reply else None,
                pings=tuple(pings), at=call.at, wire=wire))
        return out

    def throttled(self) -> list[datetime]:
        """When a send was answered 429."""
        return [c.at for c in self.api.calls if c.method in SENDS and c.status == 429 and c.at is not None]

    # ------------------------------------------------------------------ faults
    def fail_next_with_429(self, retry_after: int) -> None:
        """The next sendMessage gets 429 with ``retry_after``."""
        self.api.refuse("sendMessage", 429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)

    # ------------------------------------------------------------------ time
    async def tick(self) -> None:
        """Five virtual seconds pass; the dispatcher wakes."""
        self.clock.advance(timedelta(seconds=5))
        self.app.wake.set()
        await asyncio.sleep(0.05)

    async def advance(self, to: datetime) -> None:
        """Set the clock to ``to`` and wake the dispatcher."""
        self.clock.set(to)
        self.app.wake.set()
        await asyncio.sleep(0.05)


def settings_for(url: str, api: StandIn, **extra: Any) -> Settings:
    """``bamboe run``'s settings for Telegram against ``api`` (polling unless a webhook is given)."""
    return Settings(_env_file=None, database_url=url, telegram_bot_token=api.token, telegram_api_url=api.url + "/bot",
                    bamboe_http_host="127.0.0.1", bamboe_http_port=free_port(), **extra)


@asynccontextmanager
async def open_driver(url: str) -> AsyncIterator[Any]:
    """The stack polling the stand-in, on the migrated database at ``url``; the bot not yet in a group."""
    clock = VirtualClock(START)
    api = StandIn(clock=clock.now)
    await api.start()
    try:
        async with running(settings_for(url, api), clock=clock) as app:
            quick_pacing(app.delivery.senders[PLATFORM])
            yield TelegramDriver(app, api, clock, url)
    finally:
        await api.close()

