"""The Microsoft Teams adapter, on the Microsoft 365 Agents SDK (``microsoft-agents-hosting-aiohttp``).

Inbound: ``POST /api/messages`` on the shared HTTP server. The bearer token is checked first
(:mod:`adapters.teams.auth`, PyJWT against the configured OpenID metadata) and the tenant must be
``TEAMS_TENANT_ID``; only then does the request go through the SDK's entry point
(``CloudAdapter.process``), which parses the activity and runs the turn. The turn records the
conversation reference (:mod:`adapters.teams.store`) and hands the core its events
(:mod:`adapters.teams.translate`). Invokes (card actions) are answered in the HTTP response. When
the core's database is unavailable the request gets 503, so the Bot Connector delivers it again.

Outbound: the adapter is its own :class:`~bot.delivery.Sender`. It posts through the SDK's
``ConnectorClient`` to the conversation's stored ``serviceUrl`` with a client-credentials token:
a channel thread via the ``;messageid=<root>`` conversation id, a group chat reply as a quoted
reply, a private message to the 1:1 conversation, which it creates (``POST /v3/conversations``)
when none is known yet. Buttons are an Adaptive Card with ``Action.Submit``; files are signed,
expiring download links served by this server (``GET /teams/files/{id}``).

The SDK is imported where it is first used (the first activity or send), not at import: a start
only checks the credentials with the token endpoint and reads the signing keys.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import random
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from adapters.common import Bounded
from adapters.teams import translate
from adapters.teams.auth import AuthError, InboundAuth, TokenClient
from adapters.teams.render import MAX_TEXT, render_parts
from adapters.teams.store import PERSON_KEEP, Store
from bamboe.settings import Settings
from bot import i18n
from bot.clock import Clock, SystemClock
from bot.database import Database, create_engine
from bot.delivery import Limits, NotStarted, RetryAfter, Undeliverable, next_call
from bot.events import Attachment as CoreAttachment
from bot.events import BotAdded, BotRemoved, ChatRef, ChatRenamed, Outgoing, Unavailable
from bot.markup import plain
from bot.models import Chat, Member, Network
from bot.platform import Capabilities
from bot.registry import Command

if TYPE_CHECKING:  # the SDK itself is imported where first used: a start needs none of it
    from microsoft_agents.activity import Activity, Attachment
    from microsoft_agents.hosting.aiohttp import CloudAdapter
    from microsoft_agents.hosting.core import TurnContext
    from microsoft_agents.hosting.core.connector.client import ConnectorClient, UserTokenClient

log = logging.getLogger(__name__)
# the SDK logs request details at INFO (conversation ids, activity types), and its connector logs
# every refusal (a 429, a 403 for a 1:1 not possible yet) as an error although delivery handles it:
# delivery logs the outcome of each send itself
logging.getLogger("microsoft_agents").setLevel(logging.WARNING)
logging.getLogger("microsoft_agents.hosting.core.connector").setLevel(logging.CRITICAL)

MESSAGES_PATH = "/api/messages"
FILES_PATH = "/teams/files/{file_id}"
#: statuses Teams documents as transient besides 429: retried here with back-off and jitter
TRANSIENT = (412, 502, 504)
#: the Bot Connector's 403 code for a person who blocked the bot: stop posting to them until they
#: write it (the status codes table of Microsoft's conversational bot documentation)
BLOCKED = "ConversationBlockedByUser"
#: tries of one call on a transient status before the send counts as failed (delivery retries later)
TRANSIENT_TRIES = 3
#: the first back-off on a transient status or a 429 without Retry-After (doubles, with jitter)
BACKOFF = 0.5
BACKOFF_MAX = 60.0
#: how long a download link works
FILE_HOURS = 24
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=20)
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.5"
INVOKE_CARD_ACTION = "adaptiveCard/action"


class TeamsConfigError(ValueError):
    """The Teams settings are incomplete."""


class _ClientFactory:
    """The SDK's channel-service client factory, with our token: the turn's connector client (we
    do not send within a turn; delivery sends) and an unused user-token client (no user sign-in)."""

    def __init__(self, adapter: TeamsAdapter) -> None:
        self.adapter = adapter

    async def create_connector_client(self, context: Any, claims_identity: Any, service_url: str, audience: str,
                                      scopes: Any = None, use_anonymous: bool = False) -> ConnectorClient:
        tokens = self.adapter.tokens
        return self.adapter.connector(service_url, (tokens.cached() if tokens else None) or "")

    async def create_user_token_client(self, context: Any, claims_identity: Any,
                                       use_anonymous: bool = False) -> UserTokenClient:
        from microsoft_agents.hosting.core.connector.client import UserTokenClient

        return UserTokenClient(self.adapter.token_service_url, "", app_id=self.adapter.app_id)


class _Agent:
    """The SDK's agent: every turn goes to :meth:`TeamsAdapter.on_turn`."""

    def __init__(self, adapter: TeamsAdapter) -> None:
        self.adapter = adapter

    async def on_turn(self, context: TurnContext) -> None:
        await self.adapter.on_turn(context)


class TeamsAdapter:
    """One Teams bot (one Entra app registration in one tenant); its own sender."""

    platform = translate.PLATFORM
    #: per bot per conversation Teams allows 7 per second, 8 per 2 s, 60 per 30 s and 1,800 an
    #: hour: one message every 2 s keeps all four (the hourly one binds); 50 a second per tenant
    limits = Limits(per_chat=2.0, per_person=2.0, per_second=50)

    #: replies in channel threads and quoted replies in group chats, Adaptive Card buttons, a 1:1
    #: the bot can create (where the app is installed for the person), files as download links; no
    #: "only you see this" for bots in a channel, and Teams cannot tell whether an interrupted send arrived
    capabilities = Capabilities(ephemeral=False, threads=True, replies=True, buttons=True, edits=False,
                                opens_private=True, max_text=MAX_TEXT, files=True, confirms=False)

    def __init__(self, settings: Settings, inbound: Any, commands: Sequence[Command] = ()) -> None:
        missing = [name for name, value in (("TEAMS_APP_ID", settings.teams_app_id),
                                            ("TEAMS_APP_PASSWORD", settings.teams_app_password),
                                            ("TEAMS_TENANT_ID", settings.teams_tenant_id)) if not value]
        if missing:
            raise TeamsConfigError(f"Teams needs {', '.join(missing)}")
        del commands  # Teams' command menu is in the app package (bamboe teams package)
        self.inbound = inbound
        self.app_id = str(settings.teams_app_id)
        self.tenant_id = str(settings.teams_tenant_id).lower()
        self._secret = settings.teams_app_password.get_secret_value()
        self.metadata_url = settings.teams_openid_metadata_url
        self.token_url = settings.resolved_teams_token_url()
        self.token_service_url = "https://token.botframework.com/"
        self.public_url = (settings.teams_public_url or "").rstrip("/") or None
        self.db = Database(create_engine(settings.resolved_database_url()))
        self.store = Store(self.db)
        #: the time of the download links (``bamboe run`` hands in the app's clock)
        self.clock: Clock = SystemClock()
        self.sender = self
        self._cloud: CloudAdapter | None = None  # made at the first activity (see :attr:`cloud`)
        self.agent = _Agent(self)
        self.session: aiohttp.ClientSession | None = None
        self.auth: InboundAuth | None = None
        self.tokens: TokenClient | None = None
        self._pool: aiohttp.TCPConnector | None = None
        self._ready = False
        #: without TEAMS_PUBLIC_URL: the address the Bot Connector reached this server at
        self._learned: str | None = None
        self._file_key = hmac.new(self._secret.encode(), b"bamboe-teams-files", hashlib.sha256).digest()
        #: outbox id → ids of the parts already sent (a retry goes on where it stopped)
        self._partial = Bounded(1000)
        #: conversation → consecutive 429s without Retry-After (for the back-off)
        self._throttled = Bounded(10_000)

    @property
    def cloud(self) -> CloudAdapter:
        """The SDK's entry point for inbound activities, made when the first one arrives: the
        Agents SDK takes a fifth of a second of CPU to import, which a start does not need."""
        if self._cloud is None:
            from microsoft_agents.hosting.aiohttp import CloudAdapter

            self._cloud = CloudAdapter(channel_service_client_factory=_ClientFactory(self))
            self._cloud.on_turn_error = None  # errors reach our route (the SDK's handler would post them to the chat)
        return self._cloud

    # ------------------------------------------------------------------ lifecycle
    def routes(self) -> list[web.RouteDef]:
        """``POST /api/messages`` (the messaging endpoint) and the file download links."""
        return [web.post(MESSAGES_PATH, self._messages), web.get(FILES_PATH, self._download)]

    def ready(self) -> bool:
        """True once the app's credentials were accepted by the token endpoint."""
        return self._ready

    async def start(self) -> None:
        """Open the HTTP client, check the credentials (one token) and read the signing keys."""
        self._pool = aiohttp.TCPConnector(limit=32)
        self.session = aiohttp.ClientSession(connector=self._pool, connector_owner=False, timeout=HTTP_TIMEOUT)
        self.auth = InboundAuth(self.app_id, self.metadata_url, self.session)
        self.tokens = TokenClient(self.app_id, self._secret, self.token_url, self.session)
        try:
            await self.tokens.token()
        except PermissionError as exc:
            raise RuntimeError(f"Teams: {exc}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RuntimeError(f"Teams: the token endpoint {self.token_url} cannot be reached "
                               f"({type(exc).__name__}); check the network or TEAMS_TOKEN_URL") from None
        try:
            await self.auth.load()
        except AuthError:
            log.warning("teams: the signing keys could not be read yet from %s; retrying on the first request",
                        self.metadata_url)
        self._ready = True
        log.info("teams app %s connected (tenant %s)", self.app_id, self.tenant_id)

    async def stop(self) -> None:
        """Close the HTTP connections and the adapter's database engine."""
        self._ready = False
        if self.session is not None:
            await self.session.close()
        if self._pool is not None:
            await self._pool.close()
        await self.db.close()

    async def housekeeping(self) -> None:
        """Delete the files whose download links have expired (``bamboe run`` calls this hourly,
        so an export does not stay in the database when no new file follows it), where people
        last wrote once that is a week old (also when nobody writes any more), that someone
        blocked the bot once they are in no network any more, and how to reach a person (their
        reference and 1:1's, as :meth:`forget` drops them) once they have been an active member of
        no network on Teams for :data:`~adapters.teams.store.PERSON_KEEP` and have not written the
        bot for as long (someone who comes back is met again as the first time)."""
        await self.store.delete_old_askers(datetime.now(UTC))  # the time seen_at is written in
        await self.store.delete_stale_blocks()
        seen_before = datetime.now(UTC) - PERSON_KEEP  # the time remember() writes in
        forgotten = 0
        for user_id in await self.store.stale_users(self.clock.now() - PERSON_KEEP, seen_before):
            forgotten += await self.store.forget_user(user_id, seen_before=seen_before)
        unused = await self.store.delete_stale_personal(seen_before)
        if forgotten or unused:
            log.info("teams: forgot how to reach %s person(s) in no network for %s days and %s unused 1:1(s)",
                     forgotten, PERSON_KEEP.days, unused)
        deleted = await self.store.delete_expired_files(self.clock.now())
        if deleted:
            log.info("teams: deleted %s expired download file(s)", deleted)

    # ------------------------------------------------------------------ inbound
    async def _messages(self, request: web.Request) -> web.StreamResponse:
        """The messaging endpoint: authenticate, then the SDK's entry point runs the turn."""
        if self.auth is None:
            return web.Response(status=503)
        if not request.headers.get("Authorization", "").lower().startswith("bearer "):
            log.warning("teams: request refused (no bearer token)")  # the body is not even read
            return web.Response(status=401)
        try:
            activity = json.loads(await request.read())
            if not isinstance(activity, dict):
                raise ValueError("not an object")
        except ValueError:
            log.warning("teams: a request to %s was not a JSON activity", MESSAGES_PATH)
            return web.Response(status=400)
        try:
            claims = await self.auth.validate(request.headers.get("Authorization"), activity)
        except AuthError as exc:  # nothing of the body is logged
            log.warning("teams: request refused (%s)", exc)
            return web.Response(status=401)
        tenant = translate.tenant_of(activity)
        if tenant != self.tenant_id:
            log.warning("teams: an activity from another tenant was refused")
            return web.Response(status=403)
        if self.public_url is None:
            self._learn_address(request)
        from microsoft_agents.hosting.core.authorization import ClaimsIdentity

        with warnings.catch_warnings():  # the SDK reads the identity under this plain string key
            warnings.simplefilter("ignore", web.NotAppKeyWarning)
            request["claims_identity"] = ClaimsIdentity(claims, authentication_type="Bearer")
        try:
            return await self.cloud.process(request, self.agent)
        except (Unavailable, DBAPIError, OSError, TimeoutError) as exc:  # the database: nothing was taken
            log.warning("teams: an activity was not taken, the database is unavailable (%s)", type(exc).__name__)
            return web.Response(status=503)
        except Exception as exc:
            log.error("teams: an activity could not be handled (%s)", type(exc).__name__)
            return web.Response(status=500)

    def _learn_address(self, request: web.Request) -> None:
        """Without ``TEAMS_PUBLIC_URL``: the address the Bot Connector reached us at (behind a proxy,
        its ``X-Forwarded-*`` headers), for download links."""
        host = request.headers.get("X-Forwarded-Host") or request.host
        scheme = request.headers.get("X-Forwarded-Proto") or request.scheme
        self._learned = f"{scheme}://{host}"

    async def on_turn(self, context: TurnContext) -> None:
        """One authenticated activity: remember where it came from, hand the core its events."""
        activity = context.activity.model_dump(mode="json", by_alias=True, exclude_none=True)
        kind = activity.get("type")
        now = datetime.now(UTC)
        if kind == "message":
            if not await self._for_us(activity):
                return
            await self.store.remember(activity, now)
            for event in translate.message_events(activity):
                await self.inbound(event)
        elif kind in ("messageUpdate", "messageDelete"):  # found by the message's id, or nothing happens
            for event in translate.change_events(activity):
                await self.inbound(event)
        elif kind == "conversationUpdate":
            await self._conversation_update(activity, now)
        elif kind == "installationUpdate":
            await self._installation_update(activity, now)
        elif kind == "invoke":
            await self._invoke(context, activity, now)

    async def _for_us(self, activity: dict[str, Any]) -> bool:
        """With the RSC permission the bot receives every message of every channel of a team; only a
        channel it knows and is in (it was added there, or someone @mentioned it there) is a
        network. A channel message that does not @mention the bot in another channel is left alone."""
        if translate.kind_of(activity) != "channel" or translate.read_text(activity).addressed:
            return True
        return await self._installed(translate.chat_ref(activity).chat_id)

    async def _conversation_update(self, activity: dict[str, Any], now: datetime) -> None:
        event_type = str((activity.get("channelData") or {}).get("eventType") or "").lower()
        if event_type in translate.TEAM_LIFECYCLE:
            await self._team_lifecycle(activity, event_type)
            return
        bot_id = (activity.get("recipient") or {}).get("id")
        adds_bot = any(a.get("id") == bot_id for a in activity.get("membersAdded") or [])
        # only the app's own addition records a conversation: the others (a member added, a channel
        # created, the team renamed) arrive in the team's conversation, wherever the app was added
        await self.store.remember(activity, now, announces_install=adds_bot, known_only=not adds_bot)
        tenant, service_url = translate.tenant_of(activity) or "", str(activity.get("serviceUrl", ""))
        names = {}
        for account in activity.get("membersAdded") or []:
            if account.get("id") and account.get("id") != bot_id:
                await self.store.remember_member(account, tenant, service_url, now)
                if not account.get("name"):
                    names[account["id"]] = await self._member_name(activity, account["id"])
        events, bot_added, bot_removed = translate.membership_events(activity, names)
        if bot_added:
            await self._added(activity)
        if bot_removed:
            await self._removed(activity)
        if events and await self._installed(translate.chat_ref(activity).chat_id):
            for event in events:  # a member of a conversation the app is not in makes no network there
                await self.inbound(event)
        change = translate.renamed(activity)
        if change is not None:  # a team or channel renamed: each channel of it the app is in has a new title
            for chat_id, title in await self.store.renamed(*change):
                await self.inbound(ChatRenamed(ChatRef(translate.PLATFORM, chat_id, title), title))
        topic = translate.topic_renamed(activity)  # a group chat's new topic
        if topic is not None and await self._installed(topic.chat.chat_id):
            await self.inbound(topic)

    async def _installed(self, chat_id: str) -> bool:
        """Whether the app is in this conversation (recorded, and not removed or closed since)."""
        conv = await self.store.conversation(chat_id)
        return conv is not None and conv.installed

    async def _installation_update(self, activity: dict[str, Any], now: datetime) -> None:
        action = str(activity.get("action") or "")
        if action.startswith("add"):
            await self.store.remember(activity, now, announces_install=True)
            await self._added(activity)
        elif action.startswith("remove"):
            await self._removed(activity)

    async def _added(self, activity: dict[str, Any]) -> None:
        """The app was added (announced twice, handled once): a group conversation becomes a
        network; a personal install lets what waited for the person's 1:1 go out."""
        chat = translate.chat_ref(activity)
        if not await self.store.installed(chat.chat_id, True):
            return
        event = translate.bot_added(activity)
        if chat.private:
            if event.added_by is None:
                return
            event = BotAdded(ChatRef(chat.platform, chat.chat_id, "", private=True), event.added_by)
        log.info("teams: the app was added to a %s", translate.kind_of(activity))
        await self.inbound(event)

    async def _removed(self, activity: dict[str, Any]) -> None:
        """The app was removed (announced twice, handed over once): the conversation leaves its
        network. From a team it is removed as a whole: Teams announces that in the team's own
        conversation, so each other channel of the team the app was in leaves its network too."""
        chat = translate.chat_ref(activity)
        if await self.store.installed(chat.chat_id, False):
            log.info("teams: the app was removed from a %s", translate.kind_of(activity))
            if not chat.private:  # the chat leaves its network (announced twice, handed over once)
                await self.inbound(BotRemoved(chat))
        team = ((activity.get("channelData") or {}).get("team") or {}).get("id")
        if translate.kind_of(activity) == "channel" and isinstance(team, str) and team:
            for other in await self.store.removed_from_team(team):
                await self.inbound(BotRemoved(ChatRef(translate.PLATFORM, other)))
        if chat.private:
            await self.store.set_personal(translate.user_key(activity.get("from") or {}), None)

    async def _team_lifecycle(self, activity: dict[str, Any], event_type: str) -> None:
        """A team archived or deleted, or one of its channels deleted: each of its channels that is
        a network leaves its network, as when the app is removed, with the notes of an archived or
        a deleted chat (it has to be taken out of the archive, or restored, to come back).
        Unarchived or restored: the channels that closed are networks again, as when the app is
        added, by whoever reopened it, each with its whole title. Nothing else of the activity is
        recorded (it names the team's General channel, not a conversation the bot posts in). The
        wire format: :data:`translate.TEAM_LIFECYCLE`."""
        target = translate.lifecycle_target(activity)
        if target is None:
            return
        team_id, chat_id = target
        closes, reason, closed = translate.TEAM_LIFECYCLE[event_type]
        if closes:
            chats = await self.store.close(team_id, reason, chat_id)
            if chats:
                log.info("teams: %s channel(s) closed (%s)", len(chats), event_type)
            for chat in chats:
                await self.inbound(BotRemoved(ChatRef(translate.PLATFORM, chat), closed=closed))
            return
        opened = await self.store.reopen(team_id, reason, chat_id)
        if opened:
            log.info("teams: %s channel(s) opened again (%s)", len(opened), event_type)
        for chat, team_name, channel_name in opened:
            await self.inbound(translate.reopened(activity, chat, team_name, channel_name))

    async def _invoke(self, context: TurnContext, activity: dict[str, Any], now: datetime) -> None:
        """Every invoke is answered (200); an ``Action.Execute`` press reaches the core."""
        from microsoft_agents.activity import Activity

        body: dict[str, Any] = {}
        if activity.get("name") == INVOKE_CARD_ACTION:
            await self.store.remember(activity, now)
            action = translate.button_action(activity)
            if action is not None:
                await self.inbound(translate.message_events(activity)[0])
            body = {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": ""}
        await context.send_activity(Activity(type="invokeResponse", value={"status": 200, "body": body}))

    async def _member_name(self, activity: dict[str, Any], member_id: str) -> str:
        """A new member's display name (``membersAdded`` carries none): GET …/members/{id}."""
        conversation = translate.base_conversation(str((activity.get("conversation") or {}).get("id", "")))
        try:
            member = await self._call(str(activity.get("serviceUrl", "")), conversation,
                                      lambda c: c.conversations.get_conversation_member(conversation, member_id))
        except Exception as exc:  # the name is a nicety: the member joins without it
            log.info("teams: a new member's name could not be read (%s)", type(exc).__name__)
            return ""
        return str(getattr(member, "name", "") or "")

    # ------------------------------------------------------------------ outbound
    async def send(self, message: Outgoing) -> str | None:
        """Deliver ``message``: its text in parts, buttons as a card on the last part, files as
        download links after it; return the first part's activity id.

        A retry of a message some of whose parts went out sends only the missing ones.
        """
        if self.tokens is None or self.session is None:
            raise RuntimeError("teams adapter not started")
        addr = message.address
        calls = 0  # Bot Connector calls made for this message so far
        if addr.chat_id is None:
            if not addr.user_id:
                raise Undeliverable("no chat and no user")
            if await self.store.blocked(addr.user_id):  # whichever replica learnt it, before or since a restart
                raise NotStarted(quiet=True)
            try:
                service_url, target, quote_id, group, calls = await self._private_target(addr.user_id)
            except NotStarted as refused:
                if refused.quiet:
                    await self.store.block(addr.user_id)
                raise
        else:
            service_url, target, quote_id, group = await self._group_target(message)
        steps = await self._steps(message, group)
        done: list[str] = list(self._partial.get(message.outbox_id, [])) if message.outbox_id else []
        #: a 1:1 known from before (not opened for this message) that Teams refuses may be stale
        #: (Microsoft: remove a cached id Teams no longer knows): opened afresh once, before waiting
        stale = addr.chat_id is None and calls == 0
        index = len(done)
        while index < len(steps):
            activity = steps[index]
            if calls:  # every call keeps Teams' limits, not only every message (delivery paces it)
                await next_call()
            calls += 1
            if index == 0 and quote_id:
                _quote(activity, quote_id)
            try:
                sent = await self._call(service_url, target,
                                        lambda c, a=activity, t=target: c.conversations.send_to_conversation(t, a),
                                        private=addr.chat_id is None)
            except NotStarted as refused:
                if addr.chat_id is None:
                    await self.store.set_personal(addr.user_id or "", None)
                    if refused.quiet:
                        await self.store.block(addr.user_id or "")
                    elif stale and not done:
                        stale = False
                        await next_call()
                        service_url, target, quote_id, group, _ = await self._private_target(addr.user_id or "")
                        continue
                raise
            done.append(str(sent.id or ""))
            index += 1
            if message.outbox_id is not None and index < len(steps):  # more parts to come
                self._partial.put(message.outbox_id, list(done))
        if message.outbox_id is not None:
            self._partial.pop(message.outbox_id, None)
        return done[0] if done and done[0] else None

    async def forget(self, user_id: str) -> None:
        """The person was erased (``bot.delivery.Sender``): drop their reference, their latest
        messages' ids and whether they blocked the bot."""
        await self.store.forget_user(user_id)

    async def _group_target(self, message: Outgoing) -> tuple[str, str, str | None, bool]:
        """Where a group message goes: (service URL, conversation id, message to quote, group?)."""
        addr = message.address
        conv = await self.store.conversation(addr.chat_id or "")
        if conv is None or not conv.installed:
            raise Undeliverable("the app is not in this conversation")
        root = addr.thread
        if not root and addr.user_id and message.ephemeral:  # Teams has no "only you see this" for bots
            asked = message.reply_to
            asker = await self.store.asker(conv.chat_id, addr.user_id)
            if asker is not None and (asked is None or asker.message_id == asked):
                root = (asker.thread or asker.message_id) if conv.kind == "channel" else asker.message_id
            elif asked:
                root = asked
        if conv.kind == "channel":
            target = f"{conv.conversation_id}{translate.THREAD_SUFFIX}{root}" if root else conv.conversation_id
            return conv.service_url, target, None, True
        return conv.service_url, conv.conversation_id, root, conv.kind != "personal"

    async def _private_target(self, user_id: str) -> tuple[str, str, str | None, bool, int]:
        """The person's 1:1 conversation, created when none is known (possible when the app is
        installed for them, or in a team they are in); :class:`NotStarted` when Teams refuses.
        The last value is the number of calls that took (0 or 1)."""
        user = await self.store.user(user_id)
        if user is None:
            raise Undeliverable("this person was never seen in Teams")
        if user.personal_conversation_id:
            return user.service_url, user.personal_conversation_id, None, False, 0
        from microsoft_agents.activity import ChannelAccount, ConversationParameters

        params = ConversationParameters(is_group=False, bot=ChannelAccount(id=f"28:{self.app_id}"),
                                        members=[ChannelAccount(id=user.teams_id)], tenant_id=user.tenant_id,
                                        channel_data={"tenant": {"id": user.tenant_id}})
        created = await self._call(user.service_url, "u:" + user_id,
                                   lambda c: c.conversations.create_conversation(params), private=True)
        await self.store.set_personal(user_id, created.id)
        # the person is reachable now (the app was installed for them, or they joined a team it is
        # in, without an event telling us): what waited for their 1:1 goes out after this message
        released = await self.store.release_waiting(user_id)
        if released:
            log.info("teams: a 1:1 could be opened; %s waiting private message(s) go out", released)
        return user.service_url, str(created.id), None, False, 1

    async def _steps(self, message: Outgoing, group: bool) -> list[Activity]:
        """The activities that make up ``message``."""
        from microsoft_agents.activity import Activity

        text = str(message.text)
        parts = render_parts(text, group) if text.strip() or not (message.files or message.buttons) else []
        steps = [Activity(type="message", text=part, text_format="xml") for part in parts]
        if message.buttons:
            card = _card(message)
            if steps:
                steps[-1].attachments = [card]
            else:
                steps.append(Activity(type="message", attachments=[card]))
        if message.files:
            lang = await self._language(message)
            owner = message.address.user_id if message.address.chat_id is None else None
            for file in message.files:
                steps.append(await self._file_step(file, lang, group, owner))
        return steps

    async def _file_step(self, file: CoreAttachment, lang: str, group: bool, owner: str | None = None) -> Activity:
        """A file as a message with its signed, expiring download link, and a card whose button
        (``Action.OpenUrl``, titled with the file name) opens it. ``owner``: the person a private
        file goes to (erasing them removes it)."""
        from microsoft_agents.activity import Activity, Attachment

        now = self.clock.now()
        expires = now + timedelta(hours=FILE_HOURS)
        file_id = await self.store.put_file(file.name, file.mime, file.data, expires, now, owner)
        exp = int(expires.timestamp())
        link = f"{self._base_url()}{FILES_PATH.format(file_id=file_id)}?exp={exp}&sig={self._sign(file_id, exp)}"
        text = render_parts(i18n.t(lang, "teams.file_link", name=file.name, link=link, hours=FILE_HOURS), group)[0]
        card = {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "version": CARD_VERSION, "body": [],
                "actions": [{"type": "Action.OpenUrl", "title": file.name[:80], "url": link}]}
        return Activity(type="message", text=text, text_format="xml",
                        attachments=[Attachment(content_type=CARD_TYPE, content=card)])

    def _base_url(self) -> str:
        return self.public_url or self._learned or "http://localhost"

    def _sign(self, file_id: str, exp: int) -> str:
        digest = hmac.new(self._file_key, f"{file_id}.{exp}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    async def _download(self, request: web.Request) -> web.StreamResponse:
        """``GET /teams/files/{id}?exp=…&sig=…``: the file, while the link is valid; 404 otherwise."""
        file_id = request.match_info["file_id"]
        try:
            exp = int(request.query.get("exp", ""))
        except ValueError:
            return web.Response(status=404)
        now = self.clock.now()
        if exp < now.timestamp() or not hmac.compare_digest(request.query.get("sig", ""), self._sign(file_id, exp)):
            return web.Response(status=404)
        row = await self.store.file(file_id, now)
        if row is None:
            return web.Response(status=404)
        name = quote(row.name)
        return web.Response(body=row.data, headers={
            "Content-Type": row.mime, "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

    async def _language(self, message: Outgoing) -> str:
        """The language of the network a message belongs to (for the adapter's own lines)."""
        addr = message.address
        async with self.db.sessions() as session:
            if addr.chat_id is not None:
                query = select(Network.language).join(Chat, Chat.network_id == Network.id).where(
                    Chat.platform == self.platform, Chat.chat_id == addr.chat_id)
            else:
                query = (select(Network.language).join(Member, Member.network_id == Network.id)
                         .where(Member.platform == self.platform, Member.user_id == addr.user_id)
                         .order_by(Member.joined_at.desc()).limit(1))
            lang = await session.scalar(query)
        return lang if lang in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE

    async def _call(self, service_url: str, conversation: str, call: Any, *, private: bool = False) -> Any:
        """One Bot Connector call with the app's token, Teams' refusals translated for delivery:
        429 → :class:`RetryAfter` (``Retry-After``, else exponential back-off with jitter);
        412/502/504 retried here with back-off; 401 once more with a new token; 403/404 →
        :class:`Undeliverable` (:class:`NotStarted` for a private message)."""
        assert self.tokens is not None and self._pool is not None
        renewed = False
        for attempt in range(1, TRANSIENT_TRIES + 1):
            client = self.connector(service_url, await self.tokens.token())
            try:
                result = await call(client)
                self._throttled.pop(conversation, None)
                return result
            except aiohttp.ClientResponseError as exc:
                status = exc.status
                if status == 429:
                    raise RetryAfter(self._retry_after(conversation, exc.headers)) from None
                if status == 401 and not renewed:
                    self.tokens.forget()
                    renewed = True
                    continue
                if status in TRANSIENT and attempt < TRANSIENT_TRIES:
                    await asyncio.sleep(_jitter(BACKOFF * 2 ** (attempt - 1)))
                    continue
                if status in (403, 404):
                    if private and _error_code(exc.message) == BLOCKED:
                        # the person blocked the bot: wait until they write it, and say nothing in the group
                        raise NotStarted(quiet=True) from None
                    if private:
                        raise NotStarted(self.install_link(), prompt="teams.start_private") from None
                    raise Undeliverable(f"teams refused ({status})") from None
                raise RuntimeError(f"teams answered {status}") from None
            finally:
                await client.close()
        raise RuntimeError("teams kept answering with a transient error")

    def connector(self, service_url: str, token: str) -> ConnectorClient:
        """The SDK's Bot Connector client for ``service_url`` (its regional path kept), on this
        adapter's connection pool (closing the client leaves the pool open)."""
        from microsoft_agents.hosting.core.connector.client import ConnectorClient

        session = aiohttp.ClientSession(base_url=service_url.rstrip("/") + "/", connector=self._pool,
                                        connector_owner=False, timeout=HTTP_TIMEOUT)
        return ConnectorClient(service_url, token, session=session)

    def _retry_after(self, conversation: str, headers: Any) -> float:
        value = (headers or {}).get("Retry-After")
        try:
            return max(0.0, float(value))
        except (TypeError, ValueError):
            tries = int(self._throttled.get(conversation, 0)) + 1
            self._throttled.put(conversation, tries)
            return _jitter(min(BACKOFF_MAX, BACKOFF * 2 ** tries))

    def install_link(self) -> str:
        """The deep link that opens a 1:1 chat with the bot (Teams offers to add the app first)."""
        return f"https://teams.microsoft.com/l/chat/0/0?users=28:{self.app_id}"


def _error_code(body: str) -> str | None:
    """The Bot Connector's error code in a refusal's body (``{"error": {"code": …}}``), if any."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, TypeError, AttributeError):
        return None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _jitter(seconds: float) -> float:
    """``seconds`` with up to half of it added at random (retries of many senders spread out)."""
    return seconds * (1 + random.random() / 2)


def _quote(activity: Activity, message_id: str) -> None:
    """Make ``activity`` a quoted reply to ``message_id`` (a ``quotedReply`` entity with its
    placeholder before the text, as Teams marks a quoted reply)."""
    from microsoft_agents.activity import Entity

    activity.entities = [*(activity.entities or []), Entity(type="quotedReply", quoted_reply={"messageId": message_id})]
    activity.text = f'<quoted messageId="{_attr(message_id)}"/>{activity.text or ""}'


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def _card(message: Outgoing) -> Attachment:
    """The message's buttons as an Adaptive Card (``Action.Submit``, the core's action in its data)
    with the numbered choices as the text for clients that cannot show cards."""
    from microsoft_agents.activity import Attachment

    actions = [{"type": "Action.Submit", "title": plain(b.label)[:80], "data": {translate.ACTION_KEY: b.action}}
               for b in message.buttons]
    fallback = "\n".join(f"{n}. {plain(b.label)}" for n, b in enumerate(message.buttons, 1))
    card = {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": CARD_VERSION, "body": [], "actions": actions, "fallbackText": fallback}
    return Attachment(content_type=CARD_TYPE, content=card)


def build(settings: Settings, inbound: Any, commands: Sequence[Command] = ()) -> TeamsAdapter:
    """The factory ``bamboe run`` calls (see :data:`bamboe.runtime.ADAPTERS`)."""
    return TeamsAdapter(settings, inbound, commands)

