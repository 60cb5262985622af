"""Slack for the conformance suite: ``bamboe run``'s stack with the real adapter (slack-bolt in HTTP
mode) receiving signed requests on ``/slack/events``, and the Web API stand-in
(``tests/slack_standin.py``) receiving what it sends.

The driver plays Slack: members' commands are slash commands (``/bamboe status``, or a shortcut
of the manifest), their messages Events API ``message`` events, button presses ``block_actions``
payloads; a request not answered 2xx is sent again with ``X-Slack-Retry-Num`` as Slack does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp

from adapters.slack.adapter import CAPABILITIES, MAIN_COMMAND, PLATFORM, SHORTCUTS
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
)
from tests.slack_standin import BOT_USER, TEAM, Call, SlackStandin

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C0NETWERK"
USERS = {key: "U" + key.upper() for key in PEOPLE}
#: what notifies people in Slack text: special mentions, user groups and user mentions
PINGS = re.compile(r"<(!channel|!here|!everyone|!subteam\^[^>|]+|@[UW][A-Z0-9]+)(?:\|[^>]*)?>")
#: Slack's styling: a marker pair around non-space text, the opening one not inside a word
STYLE = re.compile(r"(?<![\w*_~`])([*_~])(?=\S)(.+?)(?<=\S)\1(?![\w*_~`])")
CODE = re.compile(r"`([^`\n]+)`")
#: Slack sends an event it got no 2xx for again: at once, after a minute, after five minutes
RETRY_DELAYS = (timedelta(0), timedelta(minutes=1), timedelta(minutes=5))
_ids = itertools.count(1)


def signature(body: str, timestamp: str) -> str:
    """Slack's v0 request signature."""
    return "v0=" + hmac.new(SECRET.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()


def entities(text: str) -> str:
    """Text as Slack puts what a member typed into a payload: ``&``, ``<`` and ``>`` as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def readable_mrkdwn(text: str) -> str:
    """What a member reads of mrkdwn: styling markers gone, ``<…>`` references shown by their
    label, entities decoded."""
    text = CODE.sub(r"\1", text)
    previous = None
    while previous != text:
        previous, text = text, STYLE.sub(r"\2", text)

    def reference(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        return label or ("@" + target.lstrip("!@") if target[:1] in "!@" else target)

    text = re.sub(r"<([^<>]*)>", reference, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class SlackDriver(Driver):
    """A Slack workspace with one channel, around the running stack."""

    platform = PLATFORM
    capabilities = CAPABILITIES

    def __init__(self, app: App, slack: SlackStandin, http: aiohttp.ClientSession, port: int,
                 clock: VirtualClock, url: str) -> None:
        self.app = app
        self.slack = slack
        self.http = http
        self.port = port
        self.db = app.db
        self.clock = clock
        self.url = url
        self.chat_id = CHANNEL
        #: the members' messages so far, as their events carried them: ts → event
        self._said: dict[str, dict[str, Any]] = {}
        #: events Slack still has to send again (no 2xx yet): body, retries so far, when next
        self.again: list[tuple[str, int, datetime]] = []
        #: events the adapter finished handing to the core (its work runs after Slack's ack)
        self.handed_over = 0
        inbound = self.adapter.inbound

        async def counted(event: Any) -> Any:
            try:
                return await inbound(event)
            finally:
                self.handed_over += 1

        self.adapter.inbound = counted

    def user_id(self, user: str) -> str:
        """Slack's user id of ``user``."""
        return USERS[user]

    @property
    def adapter(self) -> Any:
        """The running Slack adapter."""
        return next(a for a in self.app.adapters if a.platform == PLATFORM)

    # ------------------------------------------------------------------ requests
    async def _post(self, body: str, content_type: str, retry: int = 0, reaches_core: bool = True) -> int:
        """Send a signed request; when it reaches the core, wait until the core has it."""
        before = self.handed_over
        ts = str(int(time.time()))
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
                   "X-Slack-Signature": signature(body, ts)}
        if retry:
            headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_error"})
        async with self.http.post(f"http://127.0.0.1:{self.port}/slack/events", data=body.encode(),
                                  headers=headers) as resp:
            await resp.read()
        if resp.status // 100 == 2 and reaches_core:
            await self.until(lambda: self.handed_over > before, "the request handed to the core")
        return resp.status

    async def _event(self, event: dict[str, Any], reaches_core: bool = True) -> None:
        """An Events API request; if not answered 2xx, Slack will send it again (see :meth:`tick`)."""
        body = json.dumps({"token": "x", "team_id": TEAM, "api_app_id": "A1", "type": "event_callback",
                           "event": event, "event_id": f"Ev{next(_ids):08d}", "event_time": int(time.time()),
                           "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}]})
        if await self._post(body, "application/json", reaches_core=reaches_core) // 100 != 2:
            self.again.append((body, 0, self.clock.now() + RETRY_DELAYS[0]))

    async def _command(self, user: str, text: str, channel: str) -> None:
        """A slash command the way a member types ``text`` (core form ``/name args``) in Slack."""
        name, _, args = text[1:].partition(" ")
        command = f"/{name}" if f"/{name}" in SHORTCUTS else MAIN_COMMAND
        typed = args if command != MAIN_COMMAND else text[1:]
        body = urlencode({"token": "x", "team_id": TEAM, "team_domain": "test", "channel_id": channel,
                          "channel_name": "directmessage" if channel.startswith("D") else "lerend-netwerk",
                          "user_id": USERS[user], "user_name": user, "command": command, "text": entities(typed),
                          "api_app_id": "A1", "trigger_id": "1.2.3",
                          "response_url": f"http://127.0.0.1:{self.slack.port}/response/1"})
        await self._post(body, "application/x-www-form-urlencoded")

    # ------------------------------------------------------------------ what members do
    async def add_bot(self, by: str = "anna") -> None:
        """``by`` invites the bot: member_joined_channel for the bot user, with the inviter."""
        self.slack.channels[CHANNEL] = {"name": "lerend-netwerk", "is_member": True}
        self.slack.admit_posts(CHANNEL)  # the channel takes posts again
        await self._event({"type": "member_joined_channel", "user": BOT_USER, "channel": CHANNEL,
                           "channel_type": "C", "team": TEAM, "inviter": USERS[by]})

    async def remove_bot(self, by: str = "anna") -> None:
        """``by`` removes the bot: member_left_channel for the bot user and channel_left for the
        app's own user (Slack may send either or both for one removal); the channel refuses it
        after (private chats with the bot still take its messages)."""
        self.slack.refuse_posts(CHANNEL)
        self.slack.channels[CHANNEL] = {"name": "lerend-netwerk", "is_member": False}
        await self._event({"type": "member_left_channel", "user": BOT_USER, "channel": CHANNEL,
                           "channel_type": "C", "team": TEAM}, reaches_core=False)
        await self._event({"type": "channel_left", "channel": CHANNEL, "actor_id": USERS[by],
                           "event_ts": f"{time.time():.6f}"}, reaches_core=False)

    async def rename(self, title: str, by: str = "anna") -> None:
        """``channel_rename``: the channel's id and new name (Slack also posts a ``channel_name``
        message in the channel, which the bot leaves alone)."""
        self.slack.channels[CHANNEL] = {**self.slack.channels.get(CHANNEL, {}), "name": title}
        await self._event({"type": "channel_rename", "channel": {"id": CHANNEL, "name": title,
                                                                 "created": 1767000000}})
        await self._event({"type": "message", "subtype": "channel_name", "channel": CHANNEL, "channel_type": "C",
                           "user": USERS[by], "old_name": "lerend-netwerk", "name": title,
                           "ts": f"1767700000.{next(_ids):06d}", "text": f"<@{USERS[by]}> renamed the channel"},
                          reaches_core=False)

    async def join(self, user: str) -> None:
        """member_joined_channel."""
        await self._event({"type": "member_joined_channel", "user": USERS[user], "channel": CHANNEL,
                           "channel_type": "C", "team": TEAM})

    async def leave(self, user: str) -> None:
        """member_left_channel."""
        await self._event({"type": "member_left_channel", "user": USERS[user], "channel": CHANNEL,
                           "channel_type": "C", "team": TEAM})

    async def _message(self, user: str, text: str, channel: str, channel_type: str,
                       thread: str | None = None) -> str:
        ts = f"1767700000.{next(_ids):06d}"
        event = {"type": "message", "user": USERS[user], "text": entities(text), "ts": ts, "channel": channel,
                 "channel_type": channel_type}
        if thread:
            event["thread_ts"] = thread
        self._said[ts] = dict(event)
        await self._event(event)
        return ts

    async def edit(self, user: str, message_id: str, text: str) -> None:
        """A ``message_changed`` event: the message as it is now, with ``edited``, and as it was."""
        before = self._said[message_id]
        now = {**before, "text": entities(text), "edited": {"user": USERS[user], "ts": f"1767700100.{next(_ids):06d}"}}
        now.pop("channel", None), now.pop("channel_type", None)
        self._said[message_id] = {**before, "text": now["text"]}
        previous = {k: v for k, v in before.items() if k not in ("channel", "channel_type")}
        await self._event({"type": "message", "subtype": "message_changed", "hidden": True,
                           "channel": before["channel"], "channel_type": before["channel_type"],
                           "ts": now["edited"]["ts"], "event_ts": now["edited"]["ts"], "message": now,
                           "previous_message": previous})

    async def delete(self, user: str, message_id: str) -> None:
        """A ``message_deleted`` event (Slack says nothing of who deleted it)."""
        before = self._said.pop(message_id)
        ts = f"1767700200.{next(_ids):06d}"
        previous = {k: v for k, v in before.items() if k not in ("channel", "channel_type")}
        await self._event({"type": "message", "subtype": "message_deleted", "hidden": True,
                           "channel": before["channel"], "channel_type": before["channel_type"], "ts": ts,
                           "event_ts": ts, "deleted_ts": message_id, "previous_message": previous})

    async def group_message(self, user: str, text: str, reply_to: Sent | None = None) -> str:
        """A command as a slash command; other text as a message (in ``reply_to``'s thread)."""
        if text.startswith("/"):
            await self._command(user, text, CHANNEL)
            return ""
        return await self._message(user, text, CHANNEL, "channel", reply_to.id if reply_to else None)

    async def private_message(self, user: str, text: str) -> str:
        """In the member's DM with the bot."""
        channel = "D" + USERS[user].lstrip("U")
        if text.startswith("/"):
            await self._command(user, text, channel)
            return ""
        return await self._message(user, text, channel, "im")

    async def press(self, user: str, message: Sent, choice: str) -> None:
        """A block_actions payload for the button labelled ``choice``."""
        call = next(c for c in self._posts() if self._ts(c) == message.id)
        buttons = [e for b in call.params.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]
        button = next(b for b in buttons if b["text"]["text"] == choice)
        payload = {"type": "block_actions", "team": {"id": TEAM}, "user": {"id": USERS[user], "name": user},
                   "api_app_id": "A1", "trigger_id": "1.2.3",
                   "container": {"type": "message", "message_ts": message.id, "channel_id": CHANNEL,
                                 "is_ephemeral": False},
                   "channel": {"id": CHANNEL, "name": "lerend-netwerk"}, "message": {"ts": message.id, "text": "x"},
                   "actions": [{"type": "button", "action_id": button["action_id"], "block_id": "b",
                                "value": button["value"], "action_ts": "1"}]}
        await self._post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    def not_started(self, user: str) -> None:
        """Never needed: the bot opens DMs itself (conversations.open)."""
        raise AssertionError("Slack lets the bot open a DM")

    # ------------------------------------------------------------------ what the platform saw
    def _posts(self) -> list[Call]:
        return [c for c in self.slack.posts() if c.result is not None]

    @staticmethod
    def _ts(call: Call) -> str | None:
        assert call.result is not None
        return call.result.get("ts") or call.result.get("message_ts")

    def _to(self, channel: str | None) -> str:
        if channel == CHANNEL:
            return GROUP
        return private(self.user_key("U" + str(channel).removeprefix("D")))

    def sent(self) -> list[Sent]:
        """The accepted posts (the blocks as shown, else the text) and the shared files."""
        out = []
        for call in self._posts():
            params = call.params
            blocks = params.get("blocks") or []
            sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
            rich = [e for b in blocks if b["type"] == "rich_text" for part in b["elements"] for e in part["elements"]]
            wire = "\n".join(sections) if sections else params.get("text", "")
            text = "".join(e.get("text", "") for e in rich) if rich else readable_mrkdwn(wire)
            buttons = tuple(e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"])
            ephemeral = call.method == "chat.postEphemeral"
            pings = PINGS.findall(("" if rich else wire) + "\n" + params.get("text", ""))
            pings += [e["type"] for e in rich if e["type"] in ("broadcast", "user", "usergroup")]
            if params.get("link_names"):
                pings += re.findall(r"@(?!\u2060)\w+", wire)
            out.append(Sent(
                id=self._ts(call), to=self._to(params.get("channel")), text=text, buttons=buttons,
                thread=params.get("thread_ts"), visible_to=self.user_key(params["user"]) if ephemeral else None,
                pings=tuple(pings), at=call.at, wire=json.dumps(blocks, ensure_ascii=False) if rich else wire))
        for shared in self.slack.shared:
            out.append(Sent(id=None, to=self._to(shared.channel_id), text="",
                            files=tuple(File(u.filename, u.data or b"") for u in shared.files),
                            thread=shared.thread_ts))
        return out

    def throttled(self) -> list[datetime]:
        """When a post was answered 429."""
        return [c.at for c in self.slack.posts() if c.status == 429 and c.at is not None]

    # ------------------------------------------------------------------ faults
    def fail_next_with_429(self, retry_after: int) -> None:
        """The next chat.postMessage gets HTTP 429 with ``Retry-After``."""
        self.slack.throttle_next(1, retry_after=retry_after, method="chat.postMessage")

    def engines(self) -> tuple[Any, ...]:
        """The core's engine and the adapter's own (event dedupe)."""
        return self.db.engine, self.adapter.engine

    # ------------------------------------------------------------------ time
    async def tick(self) -> None:
        """Five virtual seconds pass; Slack sends again what was not answered 2xx; the dispatcher wakes."""
        self.clock.advance(timedelta(seconds=5))
        now = self.clock.now()
        due, self.again = [a for a in self.again if a[2] <= now], [a for a in self.again if a[2] > now]
        for body, tried, _ in due:
            tried += 1
            if await self._post(body, "application/json", tried) // 100 != 2 and tried < len(RETRY_DELAYS):
                self.again.append((body, tried, now + RETRY_DELAYS[tried]))
        self.app.wake.set()
        await asyncio.sleep(0.05)

    async def advance(self, to: datetime) -> None:
        """Set the clock to ``to`` and wake the dispatcher."""
        self.clock.set(to)
        self.app.wake.set()
        await asyncio.sleep(0.05)


@asynccontextmanager
async def open_driver(url: str) -> AsyncIterator[Any]:
    """The stack in HTTP mode against the stand-in, on the migrated database at ``url``."""
    clock = VirtualClock(START)
    names = {USERS[key]: {"real_name": name} for key, name in PEOPLE.items()}
    async with SlackStandin(users=names, channels={CHANNEL: {"name": "lerend-netwerk"}}, clock=clock.now) as slack:
        port = free_port()
        settings = Settings(_env_file=None, database_url=url, slack_bot_token="xoxb-test", slack_app_token=None,
                            slack_signing_secret=SECRET, slack_api_url=slack.url, bamboe_http_host="127.0.0.1",
                            bamboe_http_port=port)
        async with running(settings, clock=clock) as app, aiohttp.ClientSession() as http:
            yield SlackDriver(app, slack, http, port, clock, url)
