"""Microsoft Teams for the conformance suite: ``bamboe run``'s stack with the real adapter (the
Agents SDK's CloudAdapter behind ``POST /api/messages``) against the stand-ins of
``tests/teams_standin.py`` (OpenID metadata and keys, the Entra token endpoint, the Bot Connector).

The driver plays Teams: it POSTs signed activities as the Bot Connector does (the group is a team
channel; commands typed as ``@Bamboe status``), and reads back the activities the Bot Connector
stand-in accepted. A post in the thread of a message is, in a channel, the reply to it, so it
counts as both ``thread`` and ``reply_to``. A file is a download link: the driver opens it over
HTTP as a member would, and the file is what that gives. Teams carries typed text HTML-encoded in
``text``; the driver encodes what a member types the same way. When the endpoint answers 503 (the
database is unavailable), the driver posts the activity again once it is back, as a redelivery.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote

import aiohttp

from adapters.teams.adapter import TeamsAdapter
from adapters.teams.translate import PLATFORM
from bamboe.runtime import App, running
from bamboe.settings import Settings
from bot.clock import VirtualClock
from tests.conftest import free_port
from tests.contract.driver import (
    GROUP,
    PEOPLE,
    START,
    Capabilities,
    Driver,
    File,
    Sent,
    private,
    quick_pacing,
    sqlite_unreachable,
)
from tests.teams_standin import (
    APP_ID,
    BOT,
    SECRET,
    TENANT,
    Call,
    Refusal,
    StandIn,
    channel,
    conversation_update,
    installation_update,
    member_details,
    message,
    personal,
    user,
)

CAPABILITIES = Capabilities(**asdict(TeamsAdapter.capabilities))
USERS = {key: user(n + 1, PEOPLE[key]) for n, key in enumerate(PEOPLE)}
CHANNEL = channel()
CHANNEL_ID = CHANNEL["conversation"]["id"]
LINK = re.compile(r"https?://\S+/teams/files/\S+")


class _Text(HTMLParser):
    """What a member reads of Teams xml text (tags dropped, ``<br>`` a new line, references decoded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.mentions: list[str] = []
        self._in_at = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        self._in_at = self._in_at or tag == "at"

    def handle_endtag(self, tag: str) -> None:
        self._in_at = self._in_at and tag != "at"

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        if self._in_at:
            self.mentions.append(data)


def readable_xml(text: str) -> tuple[str, list[str]]:
    """The visible text of a Teams xml message and the ``<at>`` mentions in it."""
    parser = _Text()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts), parser.mentions


class TeamsDriver(Driver):
    """Teams' Bot Connector as a platform around the running stack."""

    platform = PLATFORM
    capabilities = CAPABILITIES

    def __init__(self, app: App, api: StandIn, clock: VirtualClock, url: str, port: int) -> None:
        self.app = app
        #: the members' messages so far, as Teams sent them: activity id → activity
        self._said: dict[str, dict[str, Any]] = {}
        self.api = api
        self.db = app.db
        self.clock = clock
        self.url = url
        self.endpoint = f"http://127.0.0.1:{port}/api/messages"
        self.chat_id = CHANNEL_ID
        self.api.installed_for.update(u["id"] for u in USERS.values())  # the admin installed it for everyone
        self.api.members.update({u["id"]: member_details(u) for u in USERS.values()})
        self._removed: Refusal | None = None
        self._down = False
        self._redeliver: list[dict[str, Any]] = []
        #: download link → the file behind it (opened in :meth:`tick`)
        self._files: dict[str, File] = {}

    def user_id(self, user: str) -> str:
        """The core's id of ``user`` in Teams: their Entra object id."""
        return USERS[user]["aadObjectId"]

    # ------------------------------------------------------------------ what members do
    async def _post(self, activity: dict[str, Any]) -> None:
        """POST an activity as the Bot Connector does; a 503 is delivered again after the outage."""
        async with aiohttp.ClientSession() as http, http.post(
                self.endpoint, json=activity, headers={"Authorization": f"Bearer {self.api.token(activity)}"}) as resp:
            await resp.read()
            if resp.status == 503:
                self._redeliver.append(activity)
                return
            assert resp.status in (200, 202), f"/api/messages answered {resp.status}"

    async def add_bot(self, by: str = "anna") -> None:
        """Adding the app to a team: Teams sends installationUpdate and conversationUpdate."""
        if self._removed is not None:
            self._removed.times = 0
        await self._post(installation_update(CHANNEL, self.api.service_url, USERS[by]))
        await self._post(conversation_update(CHANNEL, self.api.service_url, added=[BOT], by=USERS[by],
                                             event="teamMemberAdded"))

    async def remove_bot(self, by: str = "anna") -> None:
        """The app removed from the team; the Bot Connector refuses the bot's posts there from then on."""
        await self._post(installation_update(CHANNEL, self.api.service_url, USERS[by], "remove"))
        await self._post(conversation_update(CHANNEL, self.api.service_url, removed=[BOT], by=USERS[by],
                                             event="teamMemberRemoved"))
        self._removed = self.api.refuse(403, times=10_000, path_contains=CHANNEL_ID)

    async def rename(self, title: str, by: str = "anna") -> None:
        """The team is renamed: a conversationUpdate with ``eventType`` ``teamRenamed`` and the
        team's new name (the bot is in the team's General channel, which has no name of its own)."""
        renamed = conversation_update(CHANNEL, self.api.service_url, by=USERS[by], event="teamRenamed")
        renamed["channelData"]["team"] = {**renamed["channelData"]["team"], "name": title}
        renamed["channelData"].pop("channel", None)
        await self._post(renamed)

    async def join(self, user: str) -> None:
        await self._post(conversation_update(CHANNEL, self.api.service_url, added=[USERS[user]], by=USERS["anna"],
                                             event="teamMemberAdded"))

    async def leave(self, user: str) -> None:
        await self._post(conversation_update(CHANNEL, self.api.service_url, removed=[USERS[user]], by=USERS["anna"],
                                             event="teamMemberRemoved"))

    async def group_message(self, user: str, text: str, reply_to: Sent | None = None) -> str:
        """A channel message; a command is typed with the @mention; an answer goes in the thread."""
        mention = text.startswith("/")
        typed = html.escape(text[1:] if mention else text, quote=False)
        activity = message(CHANNEL, USERS[user], typed, self.api.service_url, mention=mention,
                           thread=reply_to.id if reply_to else None)
        self._said[activity["id"]] = activity
        await self._post(activity)
        return activity["id"]

    async def edit(self, user: str, message_id: str, text: str) -> None:
        """Teams sends a ``messageUpdate`` with ``channelData.eventType: editMessage``: the whole
        revised message, under the edited message's id."""
        before = self._said[message_id]
        assert before["from"] == USERS[user]
        typed = html.escape(text, quote=False)
        activity = {**before, "type": "messageUpdate", "text": typed,
                    "channelData": {**(before.get("channelData") or {}), "eventType": "editMessage"}}
        self._said[message_id] = {**before, "text": typed}
        await self._post(activity)

    async def delete(self, user: str, message_id: str) -> None:
        """Teams sends a ``messageDelete`` with ``channelData.eventType: softDeleteMessage`` (no text)."""
        before = self._said.pop(message_id)
        activity = {k: v for k, v in before.items() if k not in ("text", "textFormat", "entities", "attachments")}
        activity.update(type="messageDelete",
                        channelData={**(before.get("channelData") or {}), "eventType": "softDeleteMessage"})
        await self._post(activity)

    async def private_message(self, user: str, text: str) -> str:
        activity = message(personal(USERS[user]), USERS[user], html.escape(text.removeprefix("/"), quote=False),
                           self.api.service_url)
        self._said[activity["id"]] = activity
        await self._post(activity)
        return activity["id"]

    async def press(self, user: str, message_: Sent, choice: str) -> None:
        """An ``Action.Submit`` on the card: a message activity with the button's data as ``value``."""
        call = next(c for c in self._accepted() if c.result["id"] == message_.id)
        actions = [a for card in call.body.get("attachments") or [] for a in card["content"].get("actions", [])]
        data = next(a["data"] for a in actions if a["title"] == choice)
        where = CHANNEL if self._to(call) == GROUP else personal(USERS[user])
        await self._post(message(where, USERS[user], "", self.api.service_url, value=data, reply_to=message_.id))

    def not_started(self, user: str) -> None:  # pragma: no cover - Teams opens a 1:1 itself
        raise AssertionError("Teams can open a 1:1 where the app is installed for the person")

    # ------------------------------------------------------------------ what the platform saw
    def _accepted(self) -> list[Call]:
        return self.api.sent()

    def _to(self, call: Call) -> str:
        conversation = call.conversation.split(";messageid=")[0]
        if conversation == CHANNEL_ID:
            return GROUP
        for key, account in USERS.items():
            if conversation == personal(account)["conversation"]["id"]:
                return private(key)
        for created in self.api.calls:
            if created.path == "/emea/v3/conversations" and created.result and created.result["id"] == conversation:
                return private(self.user_key(next(k for k, u in USERS.items()
                                                  if u["id"] == created.body["members"][0]["id"])))
        return conversation

    def sent(self) -> list[Sent]:
        out = []
        for call in self._accepted():
            body = call.body or {}
            wire = str(body.get("text") or "")
            text, at_tags = readable_xml(wire)
            actions = [a for card in body.get("attachments") or [] for a in card["content"].get("actions", [])]
            thread = call.conversation.partition(";messageid=")[2] or None
            quoted = next((e["quotedReply"]["messageId"] for e in body.get("entities") or []
                           if e.get("type") == "quotedReply"), None)
            pings = [*at_tags, *(e["mentioned"]["id"] for e in body.get("entities") or [] if e.get("type") == "mention")]
            files = tuple(self._files[a["url"]] for a in actions if a["type"] == "Action.OpenUrl" and a["url"] in self._files)
            out.append(Sent(
                id=call.result["id"], to=self._to(call), text=text,
                buttons=tuple(a["title"] for a in actions if a["type"] == "Action.Submit"), files=files,
                thread=thread, reply_to=quoted or thread, pings=tuple(pings), at=call.at, wire=wire))
        return out

    def throttled(self) -> list[datetime]:
        return [c.at for c in self.api.calls if c.status == 429 and c.at is not None]

    async def _open_links(self) -> None:
        """Open the download links the bot sent (as a member would) and keep what they give."""
        for call in self._accepted():
            for card in (call.body or {}).get("attachments") or []:
                for action in card["content"].get("actions", []):
                    url = action.get("url")
                    if action.get("type") != "Action.OpenUrl" or not url or url in self._files:
                        continue
                    async with aiohttp.ClientSession() as http, http.get(url) as resp:
                        assert resp.status == 200, f"download link answered {resp.status}"
                        name = unquote(resp.headers["Content-Disposition"].split("''", 1)[1])
                        self._files[url] = File(name, await resp.read())

    # ------------------------------------------------------------------ faults
    def fail_next_with_429(self, retry_after: int) -> None:
        self.api.refuse(429, retry_after=retry_after, path_contains="/activities")

    @asynccontextmanager
    async def database_down(self) -> AsyncIterator[None]:
        adapter = next(a for a in self.app.adapters if a.platform == PLATFORM)
        async with sqlite_unreachable(self.url, self.db.engine, adapter.db.engine):
            self._down = True
            try:
                yield
            finally:
                self._down = False
        for activity in self._redeliver:  # the Bot Connector delivers again
            await self._post(activity)
        self._redeliver.clear()

    # ------------------------------------------------------------------ time
    async def tick(self) -> None:
        self.clock.advance(timedelta(seconds=5))
        self.app.wake.set()
        await asyncio.sleep(0.05)
        if not self._down:
            await self._open_links()

    async def advance(self, to: datetime) -> None:
        self.clock.set(to)
        self.app.wake.set()
        await asyncio.sleep(0.05)


@asynccontextmanager
async def open_driver(url: str) -> AsyncIterator[Any]:
    """The stack with the Teams adapter against the stand-ins; the app not yet in a team."""
    clock = VirtualClock(START)
    api = StandIn(clock=clock.now)
    await api.start()
    port = free_port()
    settings = Settings(_env_file=None, database_url=url, teams_app_id=APP_ID, teams_app_password=SECRET,
                        teams_tenant_id=TENANT, teams_openid_metadata_url=api.metadata_url,
                        teams_token_url=api.token_url, bamboe_http_host="127.0.0.1", bamboe_http_port=port)
    try:
        async with running(settings, clock=clock) as app:
            quick_pacing(app.delivery.senders[PLATFORM])
            yield TeamsDriver(app, api, clock, url, port)
    finally:
        await api.close()
