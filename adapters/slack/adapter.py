r"""The Slack adapter: slack-bolt's ``AsyncApp`` in Socket Mode or HTTP mode, for one workspace
(``SLACK_BOT_TOKEN``) or for many (OAuth: ``SLACK_CLIENT_ID``/``SLACK_CLIENT_SECRET``).

Inbound: slash commands (``/bamboe <command>`` and the shortcuts), channel and DM messages,
button presses, membership events and channel renames become the core's dataclasses and go to
``inbound``.
Every request is acknowledged first (Slack wants an answer within 3 seconds); the core's work
happens afterwards. Events Slack retries are handled once, also when the retry reaches another
replica: handled ``event_id``\ s are shared in the database (see :mod:`.store`).

Outbound: :class:`SlackSender` turns :class:`~bot.events.Outgoing` into ``chat.postMessage``,
``chat.postEphemeral`` or a DM, with all text escaped for mrkdwn (see :mod:`.render`). Files go
after the text with ``files_upload_v2`` (``files.getUploadURLExternal``, a POST of the bytes,
``files.completeUploadExternal``) to the same channel and thread; an ephemeral answer's files go
to the asker's DM (Slack has no ephemeral files, and the channel must not see them).

Multi-workspace (OAuth, see :mod:`.oauth`): ``GET /slack/install`` and ``GET
/slack/oauth_redirect`` install the app in a workspace; slack-sdk's SQLAlchemy stores keep the
installations in our database (tables made by our migrations), and bolt's ``authorize`` finds
each incoming request's bot token there. Sending needs the right token too, but an outgoing
message's :class:`~bot.events.Address` holds only a channel or user id. Rather than put the
workspace into the ids the core stores (which would change every existing chat id and the
core's data), the adapter keeps a small map ``slack_conversations``: channel or user id →
workspace, written from every inbound event (channel, sender, inviter) and from each
installation (the installer). Any replica can read it. An id missing from it is looked up by
asking the installed workspaces (``conversations.info``/``users.info``) once and then recorded,
so networks created before the switch to multi-workspace mode keep working. The core already
treats a Slack channel id as unique (chats are keyed by platform and id), which Slack's ids are.
``SLACK_BOT_TOKEN`` is optional in this mode; when set, its workspace is stored as an
installation at start, so switching modes needs no reinstall.

Privacy: nothing here logs message text or tokens; slack-sdk and slack-bolt get loggers that
never log at DEBUG (their DEBUG output contains request bodies) and that redact OAuth codes and
tokens.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import oauth, pages, render
from adapters.slack.store import (  # noqa: F401 - TTLCache and SeenEvents are re-exported
    CACHE_SECONDS,
    CACHE_SIZE,
    SEEN_EVENTS,
    Directory,
    SealedInstallationStore,
    SeenEvents,
    SharedSeenEvents,
    Team,
    TTLCache,
)
from bamboe.settings import Settings
from bot import i18n
from bot.database import create_engine
from bot.delivery import Limits, RetryAfter, Undeliverable
from bot.events import (
    Attachment,
    BotAdded,
    BotRemoved,
    ButtonPress,
    ChatRef,
    ChatRenamed,
    InboundEvent,
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessageIn,
    Outgoing,
    Person,
    Unavailable,
)
from bot.platform import Capabilities
from bot.registry import Command

log = logging.getLogger(__name__)

PLATFORM = "slack"
EVENTS_PATH = "/slack/events"
INSTALL_PATH = oauth.INSTALL_PATH
REDIRECT_PATH = oauth.REDIRECT_PATH
#: shortcuts: the slash command → the core command it stands for
SHORTCUTS = {f"/{name}": name for name in render.SHORTCUTS}
MAIN_COMMAND = f"/{render.MAIN_COMMAND}"
CAPABILITIES = Capabilities(ephemeral=True, threads=True, buttons=True, edits=True, opens_private=True,
                            max_text=render.SECTION_LIMIT, files=True, confirms=True)
#: Web API errors after which a message can never arrive (retrying will not help)
UNDELIVERABLE = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "account_inactive",
        "user_not_found",
        "cannot_dm_bot",
        "user_not_in_channel",
        "user_disabled",
        "restricted_action",
        "msg_too_long",
        "invalid_blocks",
        "no_text",
        "too_many_attachments",
        "ekm_access_denied",
        "invalid_arguments",
        # file uploads (files.getUploadURLExternal / files.completeUploadExternal); missing_argument
        # is what an empty file gets
        "file_uploads_disabled",
        "file_uploads_except_images_disabled",
        "file_type_not_allowed",
        "file_upload_size_restricted",
        "storage_limit_reached",
        "missing_argument",
        "access_denied",
    }
)
#: how long to wait when the upload URL itself answers 429 (slack-sdk does not pass Retry-After on)
UPLOAD_RETRY_AFTER = 5.0
#: messages whose text went out but whose files did not yet (remembered per outbox id)
PENDING_FILES = 1000
#: message metadata type that carries the outbox id (looked for by ``SlackSender.confirm``)
METADATA_EVENT = "bamboe_outbox"
#: how many of the latest messages ``confirm`` looks through
#: conversations.history / .replies give apps outside the Slack Marketplace at most 15 messages a
#: call (and one call a minute) since 2025: the lookup asks only for the attempt's time window
CONFIRM_LOOKBACK = 15
#: seconds Slack's clock (its ts) may differ from ours: added to both ends of that window
CLOCK_SKEW = 60
#: auth.test errors that mean the configuration is wrong (fail at start instead of retrying)
BAD_TOKEN = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"})
#: message subtypes that are a person's ordinary message
USER_SUBTYPES = frozenset({None, "thread_broadcast"})
#: how often (seconds) old handled-event ids and stale conversation rows are pruned
PRUNE_SECONDS = 600.0
LANGUAGES = ("nl", "en")
#: X-Slack-Request-Timestamp: Unix seconds, ASCII digits only
TIMESTAMP = re.compile(r"[0-9]{1,12}")

Inbound = Callable[[InboundEvent], Awaitable[None]]
_REDACT = oauth.Redact()


def _quiet_logger(name: str) -> logging.Logger:
    """A logger for the Slack libraries: its level follows ``BAMBOE_LOG_LEVEL`` (the root's), and
    its filter (:class:`.oauth.Redact`) drops DEBUG lines and keeps bodies, OAuth codes and tokens
    out of the others."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.NOTSET)
    if _REDACT not in logger.filters:
        logger.addFilter(_REDACT)
    return logger


class SlackSender:
    """Delivers the core's messages to Slack (``bot.delivery.Sender``).

    With a :class:`~adapters.slack.store.Directory` (multi-workspace) each message goes out with
    the bot token of the workspace its conversation is in; otherwise with ``client``'s token."""

    #: chat.postMessage allows about one message per second per channel
    limits = Limits(per_chat=1.0, per_person=1.0)
    #: ephemeral answers, threads, Block Kit buttons; a row in doubt is found by its metadata
    capabilities = CAPABILITIES

    def __init__(self, client: AsyncWebClient, directory: Directory | None = None) -> None:
        self.client = client
        self.directory = directory
        #: user id → the bot's IM channel with them
        self.im_channels: dict[str, str] = {}
        #: outbox id → ``ts`` of the posts of a message that went out while the rest (more posts of
        #: a long text, the files) did not (yet): a retry posts only what is missing (this process only)
        self.text_sent: OrderedDict[int, list[str | None]] = OrderedDict()

    async def forget(self, user_id: str) -> None:
        """The person was erased (``bot.delivery.Sender``): drop the bot's direct channel with them
        and which workspace they are in."""
        channel = self.im_channels.pop(user_id, None)
        if self.directory is not None:
            await self.directory.forget_conversations([user_id, channel or ""])

    async def send(self, message: Outgoing) -> str | None:
        """Post ``message`` (a text longer than ``capabilities.max_text`` as several posts, buttons on
        the last; a text showing ``* _ ~ ``` as characters as rich_text blocks) and then its files;
        return the first post's ``ts``.

        Raises ``Undeliverable``/``RetryAfter`` as documented. A retry of the same outbox row goes
        on where the last attempt stopped: posts that went out are not posted again, and when only
        the files failed, only they are uploaded.
        """
        key = message.outbox_id
        client = self.client
        try:
            if self.directory is not None:
                client = await self.directory.client_for(message.address)
            posts = self._posts(message)
            done = list(self.text_sent.get(key, [])) if key is not None else []
            for index in range(len(done), len(posts)):
                done.append(await self._post(client, message, posts[index], last=index == len(posts) - 1))
                if key is not None and (index < len(posts) - 1 or message.files):
                    self._remember(key, done)
            if message.files:
                await self._send_files(client, message)
        except SlackApiError as exc:
            if self.directory is not None and _error_code(exc) in BAD_TOKEN:
                self.directory.forget_token_of(client.token)
            error = translate_error(exc)
            if isinstance(error, Undeliverable) and key is not None:
                self.text_sent.pop(key, None)
            raise error from None
        except SlackRequestError as exc:  # the POST to the upload URL failed
            raise upload_error(exc) from None
        if key is not None:
            self.text_sent.pop(key, None)
        return done[0] if done else None

    def _remember(self, key: int, posted: list[str | None]) -> None:
        self.text_sent[key] = list(posted)
        self.text_sent.move_to_end(key)
        while len(self.text_sent) > PENDING_FILES:
            self.text_sent.popitem(last=False)

    @staticmethod
    def _posts(message: Outgoing) -> list[dict[str, Any]]:
        """The arguments of each post the text needs: none when there is only a file to send, one
        per ``max_text`` characters of mrkdwn otherwise (Slack's limit for a section block; plain
        text beyond 40,000 characters Slack would cut off), cut at line ends where it can; the
        buttons go with the last."""
        if message.files and not message.buttons and not str(message.text).strip():
            return []
        limit = CAPABILITIES.max_text
        if render.needs_rich_text(message.text):  # mrkdwn cannot show * _ ~ ` as characters
            posts = [{"blocks": [render.rich_text(piece)], "text": render.fallback(piece)}
                     for piece in render.split_text(message.text, limit)]
            posts[-1]["blocks"] += render.actions(message.buttons)
            return posts
        pieces = render.split_lines(render.to_mrkdwn(message.text), limit)
        posts = [{"text": piece} for piece in pieces]
        if message.buttons:
            fallback = render.fallback(message.text) if len(pieces) == 1 else pieces[-1]
            posts[-1] = {"blocks": render.mrkdwn_blocks(pieces[-1], message.buttons), "text": fallback}
        return posts

    async def _post(self, client: AsyncWebClient, message: Outgoing, args: dict[str, Any], last: bool) -> str | None:
        """One post of ``message``'s text: ephemeral for an answer only the asker sees. The last
        post carries the outbox id in its metadata (see :meth:`confirm`)."""
        addr = message.address
        if addr.thread:
            args = {**args, "thread_ts": addr.thread}
        if message.ephemeral and addr.chat_id is not None and addr.user_id is not None:
            resp = await client.chat_postEphemeral(channel=addr.chat_id, user=addr.user_id, **args)
            return resp.get("message_ts")
        channel = await self._channel(client, message)
        if message.outbox_id is not None and last:  # lets confirm() find it if the process dies before recording it
            args = {**args, "metadata": {"event_type": METADATA_EVENT,
                                         "event_payload": {"outbox_id": str(message.outbox_id)}}}
        resp = await client.chat_postMessage(channel=channel, unfurl_links=False, unfurl_media=False, **args)
        return resp.get("ts")

    async def confirm(self, message: Outgoing, window: tuple[datetime, datetime] | None = None) -> str | None:
        """The ``ts`` of ``message`` if an interrupted earlier attempt did post it, else None.

        Looks for the outbox id in the message metadata of the channel's (or thread's) messages
        posted while that attempt held its claim (``window``): later rows of the conversation wait
        for this one, so only members' messages can crowd it out of the 15 Slack hands out. A 429
        (one such call a minute) raises RetryAfter: the row waits, it is not posted again. An
        ephemeral answer leaves no trace to look for: None (it is sent again)."""
        if message.outbox_id is None or (message.ephemeral and message.address.chat_id is not None):
            return None
        client = self.client
        try:
            if self.directory is not None:
                client = await self.directory.client_for(message.address)
            channel = await self._channel(client, message)
            bounds = {} if window is None else {"oldest": f"{window[0].timestamp() - CLOCK_SKEW:.6f}",
                                                "latest": f"{window[1].timestamp() + CLOCK_SKEW:.6f}",
                                                "inclusive": True}
            if message.address.thread:
                resp = await client.conversations_replies(channel=channel, ts=message.address.thread,
                                                          include_all_metadata=True, limit=CONFIRM_LOOKBACK,
                                                          **bounds)
            else:
                resp = await client.conversations_history(channel=channel, include_all_metadata=True,
                                                          limit=CONFIRM_LOOKBACK, **bounds)
        except SlackApiError as exc:
            raise translate_error(exc) from None
        wanted = str(message.outbox_id)
        for found in resp.get("messages") or []:
            meta = found.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") == METADATA_EVENT and payload.get("outbox_id") == wanted:
                return found.get("ts")
        return None

    async def _channel(self, client: AsyncWebClient, message: Outgoing) -> str:
        """Where a (non-ephemeral) message goes: its channel, or the IM channel for a private one."""
        addr = message.address
        if addr.chat_id is not None:
            return addr.chat_id
        if addr.user_id is None:
            raise Undeliverable("no address")
        return await self.im_channel(addr.user_id, client)

    async def _send_files(self, client: AsyncWebClient, message: Outgoing) -> None:
        """Upload the files where the text went, in its thread. An ephemeral answer's files go to
        the asker's DM instead (Slack has no ephemeral files; the channel must not see them)."""
        addr = message.address
        thread = addr.thread
        if message.ephemeral and addr.chat_id is not None and addr.user_id is not None:
            channel, thread = await self.im_channel(addr.user_id, client), None
        else:
            channel = await self._channel(client, message)
        uploads = [{"file": f.data, "filename": filename(f), "title": f.name} for f in message.files]
        await client.files_upload_v2(file_uploads=uploads, channel=channel, thread_ts=thread)

    async def im_channel(self, user_id: str, client: AsyncWebClient | None = None) -> str:
        """The bot's IM channel with ``user_id`` (opened once, then cached)."""
        channel = self.im_channels.get(user_id)
        if channel is None:
            resp = await (client or self.client).conversations_open(users=user_id)
            channel = resp["channel"]["id"]
            self.im_channels[user_id] = channel
        return channel


def filename(file: Attachment) -> str:
    """The name to upload ``file`` under: Slack tells the file type by its extension, so one is
    added from the MIME type when the name has none."""
    name = file.name.strip() or "bestand"
    if "." not in name.rsplit("/", 1)[-1]:
        name += mimetypes.guess_extension(file.mime) or ""
    return name


def upload_error(exc: SlackRequestError) -> Exception:
    """The POST of the bytes to the upload URL failed: 429 → ``RetryAfter``, else transient.

    slack-sdk only raises a message naming the status (and the body and filename, which are not
    passed on)."""
    match = re.search(r"status: (\d+)", str(exc))
    if match and match.group(1) == "429":
        return RetryAfter(UPLOAD_RETRY_AFTER)
    return RuntimeError(f"slack file upload failed (status {match.group(1) if match else 'unknown'})")


def translate_error(exc: SlackApiError) -> Exception:
    """A Web API failure → what delivery understands (the error code only, never the text)."""
    response = exc.response
    if response is not None and response.status_code == 429:
        raw = (response.headers or {}).get("Retry-After") or (response.headers or {}).get("retry-after")
        try:
            return RetryAfter(float(raw)) if raw is not None else RetryAfter(1.0)
        except ValueError:
            return RetryAfter(1.0)
    error = response.get("error") if response is not None and isinstance(response.data, dict) else None
    if error in UNDELIVERABLE:
        return Undeliverable(error)
    return RuntimeError(f"slack api error: {error or 'unknown'}")


class SlackAdapter:
    """Slack as ``bamboe run`` drives it (``bamboe.runtime.Adapter``)."""

    platform = PLATFORM

    def __init__(self, settings: Settings, inbound: Inbound) -> None:
        self.inbound = inbound
        #: multi-workspace (OAuth) mode: both client id and secret set
        self.multi = bool(settings.slack_client_id or settings.slack_client_secret)
        if self.multi and not (settings.slack_client_id and settings.slack_client_secret):
            raise ValueError("multi-workspace installs (OAuth) need both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET")
        if not self.multi and settings.slack_bot_token is None:
            raise ValueError(
                "SLACK_BOT_TOKEN is not set (or set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET "
                "for multi-workspace installs)"
            )
        self.token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        self.app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
        secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
        if not self.app_token and not secret:
            raise ValueError("Slack needs SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)")
        # multi-workspace mode keeps every workspace's bot token in the database, encrypted
        box = settings.require_secret_box("Slack with several workspaces (OAuth)") if self.multi else None
        base_url = settings.slack_api_url or AsyncWebClient.BASE_URL
        if not base_url.endswith("/"):
            base_url += "/"
        self.base_url = base_url
        self._session: aiohttp.ClientSession | None = None  # opened in start()
        # no retry handlers: a 429 must reach delivery as RetryAfter, a failure as an exception
        self.client = self._new_client(self.token)
        #: the adapter's own connection to the database: shared event dedupe, OAuth stores
        self.engine = create_engine(settings.resolved_database_url())
        self._seen = SharedSeenEvents(self.engine)
        self._prune_at = time.monotonic() + PRUNE_SECONDS
        self.bot_user_id: str | None = None
        self.bot_id: str | None = None
        self._auth: dict[str, Any] | None = None
        self._started = False
        self._users = TTLCache()
        self._channels = TTLCache()
        self._socket: Any = None
        self._socket_connected = False
        self._connector: asyncio.Task[None] | None = None
        bolt_logger = _quiet_logger("bamboe.slack.bolt")
        # bolt gets its own token-less client: the token comes from ``authorize`` per request
        bolt_client = AsyncWebClient(base_url=base_url, retry_handlers=[], logger=self.client.logger)
        self.directory: Directory | None = None
        self.installations: SealedInstallationStore | None = None
        if self.multi:
            assert settings.slack_client_id is not None
            store_logger = _quiet_logger("bamboe.slack.oauth")
            self.installations = SealedInstallationStore(
                settings.slack_client_id, self.engine, box, store_logger
            )
            states = AsyncSQLAlchemyOAuthStateStore(
                expiration_seconds=oauth.STATE_SECONDS, engine=self.engine, logger=store_logger
            )
            self.directory = Directory(self.engine, self.installations, settings.slack_client_id, self._new_client)
            self.sender = SlackSender(self.client, self.directory)
            self.app = AsyncApp(
                client=bolt_client,
                signing_secret=secret,
                process_before_response=True,
                oauth_settings=oauth.oauth_settings(settings, self.installations, states, self._installed, bolt_logger),
                logger=bolt_logger,
            )
        else:

            async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
                return await self._authorize(enterprise_id, team_id)

            self.sender = SlackSender(self.client)
            self.app = AsyncApp(client=bolt_client, signing_secret=secret, authorize=authorize, logger=bolt_logger,
                                process_before_response=True)
        self._register()

    def _new_client(self, token: str | None) -> AsyncWebClient:
        """A Web API client for ``token``: our base URL, no retry handlers, a quiet logger."""
        return AsyncWebClient(
            token=token, base_url=self.base_url, retry_handlers=[], logger=_quiet_logger("bamboe.slack.sdk"),
            session=self._session,
        )

    # ------------------------------------------------------------------ lifecycle
    @property
    def socket_mode(self) -> bool:
        """True when running over Socket Mode (an app-level token is set)."""
        return bool(self.app_token)

    def routes(self) -> list[web.RouteDef]:
        """``POST /slack/events`` in HTTP mode (events, commands and interactivity); in
        multi-workspace mode also ``GET /slack/install`` and ``GET /slack/oauth_redirect``."""
        found = [] if self.socket_mode else [web.post(EVENTS_PATH, self._http)]
        if self.multi:
            found += [web.get(INSTALL_PATH, self._install), web.get(REDIRECT_PATH, self._oauth_redirect)]
        return found

    async def start(self) -> None:
        """Single workspace: check the token (auth.test). Multi-workspace: take over the
        workspace of ``SLACK_BOT_TOKEN`` if set. In Socket Mode also connect the socket (in the
        background)."""
        # one connection pool for all Web API calls (slack-sdk opens a new one per call otherwise)
        self._session = aiohttp.ClientSession()
        self.client.session = self._session
        if self.multi:
            self._started = True
            self._connector = asyncio.create_task(self._connect_multi())
            return
        try:
            await self._auth_test()
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            if error in BAD_TOKEN:
                raise RuntimeError(f"Slack refused SLACK_BOT_TOKEN ({error})") from None
            log.warning("slack auth.test failed (%s); retrying in the background", error or "error")
        except Exception as exc:  # network trouble: keep trying, ready() stays false meanwhile
            log.warning("slack auth.test failed (%s); retrying in the background", type(exc).__name__)
        self._connector = asyncio.create_task(self._connect())

    async def _connect(self) -> None:
        delay = 1.0
        while self._auth is None:
            await asyncio.sleep(delay)
            delay = min(60.0, delay * 2)
            with suppress(Exception):
                await self._auth_test()
        await self._connect_socket()

    async def _connect_socket(self) -> None:
        if self.socket_mode:
            from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(
                self.app, self.app_token, logger=_quiet_logger("bamboe.slack.socket"), web_client=self.client
            )
            await self._socket.connect_async()
            self._socket_connected = True

    async def _connect_multi(self) -> None:
        await self._connect_socket()
        delay = 1.0
        while self.token and self.installations is not None:
            try:
                team = await oauth.adopt(self.client, self.installations)
                if self.directory is not None:
                    self.directory.forget_token(team)
                return
            except SlackApiError as exc:
                if _error_code(exc) in BAD_TOKEN:
                    log.warning(
                        "slack: SLACK_BOT_TOKEN was refused (%s); install that workspace via %s",
                        _error_code(exc),
                        INSTALL_PATH,
                    )
                    return
                log.warning("slack: taking over SLACK_BOT_TOKEN's workspace failed (%s); retrying", _error_code(exc))
            except Exception as exc:
                log.warning("slack: taking over SLACK_BOT_TOKEN's workspace failed (%s); retrying", type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(60.0, delay * 2)

    async def stop(self) -> None:
        """Close the socket, stop background work, close the database connection."""
        if self._connector is not None:
            self._connector.cancel()
            with suppress(BaseException):
                await self._connector
        if self._socket is not None:
            with suppress(Exception):
                await self._socket.close_async()
        self._socket_connected = False
        self._started = False
        if self._session is not None:
            await self._session.close()
            self._session = None
            self.client.session = None
        with suppress(Exception):
            await self.engine.dispose()

    def ready(self) -> bool:
        """True once auth.test succeeded (multi-workspace: once started), and, in Socket Mode,
        while the socket is open."""
        if not (self._started if self.multi else self._auth is not None):
            return False
        if not self.socket_mode:
            return True
        client = getattr(self._socket, "client", None)
        session = getattr(client, "current_session", None)
        return (
            self._socket_connected
            and client is not None
            and not client.closed
            and session is not None
            and not session.closed
        )

    async def _auth_test(self) -> dict[str, Any]:
        if self._auth is None:
            resp = await self.client.auth_test()
            self.bot_user_id = resp.get("user_id")
            self.bot_id = resp.get("bot_id")
            self._auth = dict(resp.data) if isinstance(resp.data, dict) else {}
        return self._auth

    async def _authorize(self, enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        """Bolt's authorize hook: the one workspace of our bot token."""
        auth = await self._auth_test()
        return AuthorizeResult(
            enterprise_id=auth.get("enterprise_id") or enterprise_id,
            team_id=auth.get("team_id") or team_id,
            bot_user_id=auth.get("user_id"),
            bot_id=auth.get("bot_id"),
            bot_token=self.token,
        )

    async def _http(self, request: web.Request) -> web.Response:
        """HTTP mode: bolt verifies the signature (401 when forged or older than 5 minutes). A
        timestamp that is not a plain number is refused here (bolt's ``int()`` would raise)."""
        if not TIMESTAMP.fullmatch(request.headers.get("X-Slack-Request-Timestamp", "0")):
            log.info("slack: refused a request whose timestamp is not a number")
            return web.json_response({"error": "invalid request"}, status=401)
        response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    # ------------------------------------------------------------------ installing (OAuth)
    async def _install(self, request: web.Request) -> web.Response:
        """``GET /slack/install``: a new state (stored, and as a cookie), then on to Slack."""
        flow = self.app.oauth_flow
        assert flow is not None
        bolt_request = await to_bolt_request(request)
        if not oauth.valid_team(bolt_request.query.get("team")):  # no state is handed out for it
            return await self._page(oauth.page_response(400, pages.render("invalid")))
        try:
            response = await flow.handle_installation(bolt_request)
        except Exception as exc:  # the database is down: say so, without a stack trace in the page
            log.warning("slack: install link failed (%s)", type(exc).__name__)
            response = oauth.page_response(503, pages.render("unavailable"))
        return await self._page(response)

    async def _oauth_redirect(self, request: web.Request) -> web.Response:
        """``GET /slack/oauth_redirect``: check state and cookie, exchange the code, store the
        installation; a page for the browser either way."""
        flow = self.app.oauth_flow
        assert flow is not None
        try:
            response = await flow.handle_callback(await to_bolt_request(request))
        except Exception as exc:  # storing failed; the error text may hold the token: type only
            log.warning("slack: install failed (%s)", type(exc).__name__)
            response = oauth.page_response(500, pages.render("unavailable"), flow.settings)
        return await self._page(response)

    @staticmethod
    async def _page(response: Any) -> web.Response:
        result = await to_aiohttp_response(response)
        if result.content_type == "text/html":
            result.charset = "utf-8"
        return result

    async def _installed(self, team: Team, installation: Any) -> None:
        """After an installation: use its (new) token, and remember the installer's workspace."""
        if self.directory is not None:
            self.directory.forget_token(team)
            await self.directory.remember(team, [installation.user_id])

    # ------------------------------------------------------------------ inbound
    def _register(self) -> None:
        """Wire bolt's listeners (plain functions: bolt injects arguments by parameter name).

        Events are handled before Slack gets its answer (``process_before_response``): when the core
        cannot take one (its database is unreachable) the answer is an error and Slack sends the
        event again (at once, after a minute, after five minutes). Slash commands and button presses
        are acknowledged at once and handled afterwards (bolt's lazy listeners); Slack does not
        send those again.
        """
        app = self.app

        async def acknowledge(ack: Any) -> None:
            await ack()

        async def on_command(command: dict[str, Any], respond: Any, context: Any) -> None:
            await self._on_command(command, respond, context)

        async def on_action(body: dict[str, Any], action: dict[str, Any], context: Any) -> None:
            await self._on_action(body, action, context)

        async def on_message(body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
            await self._on_message(body, event, context)

        async def on_joined(body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
            await self._on_joined(body, event, context)

        async def on_left(body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
            await self._on_left(body, event, context)

        async def on_bot_left(body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
            await self._on_bot_left(body, event, context)

        async def on_archived(body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
            await self._on_archived(body, event, context)

        async def on_unarchived(body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
            await self._on_unarchived(body, event, context)

        async def on_renamed(body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
            await self._on_renamed(body, event, context)

        async def on_uninstalled(context: Any) -> None:
            await self._on_uninstalled(context)

        async def on_tokens_revoked(event: dict[str, Any], context: Any) -> None:
            await self._on_tokens_revoked(event, context)

        async def on_error(error: Exception, response: Any) -> None:
            if isinstance(error, Unavailable):  # 503 (Socket Mode: no ack), Slack sends the event again
                log.warning("slack: an event was not taken, the database is unavailable; Slack sends it again")
                if response is not None:
                    response.status, response.body = 503, ""
            else:
                log.error("slack: a listener failed", exc_info=error)

        async def on_other_event() -> None:
            """Events we receive but do not use are acknowledged and dropped."""

        for name in (MAIN_COMMAND, *SHORTCUTS):
            app.command(name)(ack=acknowledge, lazy=[on_command])
        app.action(re.compile("^" + re.escape(render.ACTION_PREFIX)))(ack=acknowledge, lazy=[on_action])
        app.event("message")(on_message)
        app.event("member_joined_channel")(on_joined)
        app.event("member_left_channel")(on_left)
        app.event("channel_left")(on_bot_left)  # the bot's own user left a public channel
        app.event("group_left")(on_bot_left)  # ... a private one
        app.event("channel_archive")(on_archived)  # a public channel was archived
        app.event("group_archive")(on_archived)  # ... a private one
        app.event("channel_unarchive")(on_unarchived)
        app.event("group_unarchive")(on_unarchived)
        app.event("channel_rename")(on_renamed)  # a public channel was renamed
        app.event("group_rename")(on_renamed)  # ... a private one
        if self.multi:
            app.event("app_uninstalled")(on_uninstalled)
            app.event("tokens_revoked")(on_tokens_revoked)
        app.event(re.compile(".*"))(on_other_event)
        app.error(on_error)

    async def _hand_over(self, event: InboundEvent, event_id: str | None = None) -> None:
        """Give ``event`` to the core; other failures are logged. :class:`~bot.events.Unavailable`
        (the core's database is unreachable) is raised on: for an Events API event (``event_id``)
        the request then fails and Slack sends it again (its id is forgotten first, or the retry
        would count as handled already)."""
        try:
            await self.inbound(event)
        except Unavailable:
            if event_id is not None:
                await self._seen.forget(event_id)
            raise
        except Exception:
            log.exception("slack: handling %s failed", type(event).__name__)

    async def housekeeping(self) -> None:
        """Prune what is kept only for a while (handled event ids: an hour; which workspace an id
        unused for 90 days is in) also when no event comes in (``bamboe run`` calls this hourly)."""
        try:
            await self._seen.prune()
            if self.directory is not None:
                await self.directory.prune()
        except Exception as exc:
            log.warning("slack: pruning failed (%s)", type(exc).__name__)

    async def _first_time(self, event_id: str | None) -> bool:
        """True when no replica handled this event yet; now and then prune old records."""
        first = await self._seen.first_time(event_id)
        if time.monotonic() >= self._prune_at:
            self._prune_at = time.monotonic() + PRUNE_SECONDS
            await self.housekeeping()
        return first

    @staticmethod
    def _team(context: Any) -> Team:
        return Team(context.enterprise_id, context.team_id, bool(context.is_enterprise_install))

    @staticmethod
    def _scope(context: Any) -> str:
        """The cache prefix of the request's workspace."""
        return f"{context.enterprise_id or ''}/{context.team_id or ''}"

    async def _learn(self, context: Any, *ids: str | None) -> None:
        """Multi-workspace: record which workspace ``ids`` are in (before the core answers)."""
        if self.directory is None:
            return
        try:
            await self.directory.remember(self._team(context), ids)
        except Exception as exc:  # handling goes on; sending will ask Slack instead
            log.warning("slack: could not record a conversation's workspace (%s)", type(exc).__name__)

    def _bot_user(self, context: Any) -> str | None:
        return context.bot_user_id or self.bot_user_id

    async def _on_command(self, command: dict[str, Any], respond: Callable[..., Awaitable[Any]], context: Any) -> None:
        text = command_text(command.get("command", ""), command.get("text", ""))
        if text is None:
            return
        client, scope = context.client, self._scope(context)
        channel_id = command.get("channel_id", "")
        private = is_dm(channel_id, command.get("channel_name"))
        await self._learn(context, channel_id, command.get("user_id"))
        sender = await self.person(
            command.get("user_id", ""), fallback=command.get("user_name"), client=client, scope=scope
        )
        title = ""
        if not private:
            info = await self.channel_info(channel_id, command.get("channel_name"), client=client, scope=scope)
            if not info["is_member"]:  # not a network: the bot could not even answer there
                await self._respond(respond, sender, "slack.invite_first")
                return
            title = info["name"]
        chat = ChatRef(PLATFORM, channel_id, title, private=private)
        try:
            await self._hand_over(MessageIn(chat, sender, text))
        except Unavailable:  # Slack does not send a command again: ask the member to, in a moment
            await self._respond(respond, sender, "errors.internal")

    @staticmethod
    async def _respond(respond: Callable[..., Awaitable[Any]], sender: Person, key: str) -> None:
        """Answer a slash command through its response_url, only to the member who typed it."""
        hint = i18n.t(sender.language or i18n.DEFAULT_LANGUAGE, key)
        try:
            await respond(text=render.to_mrkdwn(hint), response_type="ephemeral")
        except Exception as exc:
            log.warning("slack: response_url failed (%s)", type(exc).__name__)

    async def _on_action(self, body: dict[str, Any], action: dict[str, Any], context: Any) -> None:
        value = action.get("value")
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        user = (body.get("user") or {}).get("id")
        if not value or not channel or not user:
            return
        client, scope = context.client, self._scope(context)
        await self._learn(context, channel, user)
        container = body.get("container") or {}
        message_id = container.get("message_ts") or (body.get("message") or {}).get("ts")
        private = is_dm(channel, (body.get("channel") or {}).get("name"))
        sender = await self.person(user, fallback=(body.get("user") or {}).get("name"), client=client, scope=scope)
        title = (
            ""
            if private
            else await self.channel_title(channel, (body.get("channel") or {}).get("name"), client=client, scope=scope)
        )
        try:
            await self._hand_over(
                ButtonPress(ChatRef(PLATFORM, channel, title, private=private), sender, value, message_id)
            )
        except Unavailable:
            log.warning("slack: a button press was not handled, the database is unavailable")

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        if event.get("subtype") in ("message_changed", "message_deleted"):
            await self._on_changed(body, event, context)
            return
        if event.get("subtype") not in USER_SUBTYPES or event.get("bot_id") or event.get("bot_profile"):
            return
        user, channel = event.get("user"), event.get("channel")
        if not user or not channel or user == self._bot_user(context):
            return
        if not await self._first_time(body.get("event_id")):
            return
        client, scope = context.client, self._scope(context)
        await self._learn(context, channel, user)
        raw = event.get("text") or ""
        names = {}
        for uid in render.mentioned_users(raw)[:10]:
            names[uid] = (await self.person(uid, client=client, scope=scope)).name
        text = render.from_slack(raw, names)
        private = event.get("channel_type") == "im"
        if private:
            self.sender.im_channels[user] = channel
        title = "" if private else await self.channel_title(channel, client=client, scope=scope)
        thread = event.get("thread_ts")
        ts = event.get("ts")
        reply_to = thread if thread and thread != ts else None
        await self._hand_over(
            MessageIn(
                ChatRef(PLATFORM, channel, title, private=private),
                await self.person(user, client=client, scope=scope),
                text,
                ts,
                reply_to,
            ),
            body.get("event_id"),
        )

    async def _on_changed(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        """``message_changed`` (the message as it is now in ``message``, its id in ``message.ts``) and
        ``message_deleted`` (the deleted message's id in ``deleted_ts``) of a member's message.
        Slack also sends ``message_changed`` when only something around the text changed (a thread
        reply under it, an unfurl, language metadata): with the text as it was, nothing is handed on."""
        channel = event.get("channel")
        if not channel or not await self._first_time(body.get("event_id")):
            return
        private = event.get("channel_type") == "im"
        chat = ChatRef(PLATFORM, channel, "", private=private)
        if event.get("subtype") == "message_deleted":
            if event.get("deleted_ts"):
                await self._hand_over(MessageDeleted(chat, event["deleted_ts"]), body.get("event_id"))
            return
        message, before = event.get("message") or {}, event.get("previous_message") or {}
        user, ts = message.get("user"), message.get("ts")
        if not user or not ts or message.get("bot_id") or user == self._bot_user(context):
            return
        if "text" in before and before.get("text") == message.get("text"):
            return
        client, scope = context.client, self._scope(context)
        raw = message.get("text") or ""
        names = {}
        for uid in render.mentioned_users(raw)[:10]:
            names[uid] = (await self.person(uid, client=client, scope=scope)).name
        await self._hand_over(MessageEdited(chat, await self.person(user, client=client, scope=scope), ts,
                                            render.from_slack(raw, names)), body.get("event_id"))

    async def _on_joined(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        user, channel = event.get("user"), event.get("channel")
        if not user or not channel:
            return
        if not await self._first_time(body.get("event_id")):
            return
        client, scope = context.client, self._scope(context)
        inviter = event.get("inviter")
        await self._learn(context, channel, user, inviter)
        added_by = await self.person(inviter, client=client, scope=scope) if inviter else None
        bot_user = self._bot_user(context)
        if user == bot_user:
            self._membership(channel, True, scope)
        chat = ChatRef(PLATFORM, channel, await self.channel_title(channel, client=client, scope=scope))
        if user == bot_user:
            await self._hand_over(BotAdded(chat, added_by), body.get("event_id"))
        else:
            await self._hand_over(MemberJoined(chat, await self.person(user, client=client, scope=scope), added_by),
                                  body.get("event_id"))

    async def _on_left(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        user, channel = event.get("user"), event.get("channel")
        if not user or not channel:
            return
        if not await self._first_time(body.get("event_id")):
            return
        client, scope = context.client, self._scope(context)
        if user == self._bot_user(context):  # the bot left or was removed: the channel leaves its network
            await self._bot_left(channel, scope, body.get("event_id"), await self._archived(channel, client))
            return
        chat = ChatRef(PLATFORM, channel, await self.channel_title(channel, client=client, scope=scope))
        await self._hand_over(MemberLeft(chat, await self.person(user, client=client, scope=scope)),
                              body.get("event_id"))

    async def _on_bot_left(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        """``channel_left`` / ``group_left``: sent to the bot's own user when it left (or was
        removed from) a public / private channel. They carry no user (``channel``, ``actor_id``,
        ``event_ts``); Slack may send them, ``member_left_channel`` for the bot, or both."""
        channel = event.get("channel")
        if not channel or not isinstance(channel, str):
            return
        if not await self._first_time(body.get("event_id")):
            return
        await self._bot_left(channel, self._scope(context), body.get("event_id"),
                             await self._archived(channel, context.client))

    async def _on_archived(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        """``channel_archive`` / ``group_archive``: a public / private channel was archived
        (``channel``, and ``user``, who archived it; ``group_archive`` may carry only the channel).
        Nobody can post there any more (Slack answers ``is_archived``): as with the bot's removal
        the channel leaves its network, and the core's notes say to take it out of the archive.
        ``channel_archive`` may come for any public channel of the workspace (Slack sends it to all
        its connections): for a channel that is no network the core does nothing."""
        channel = event.get("channel")
        if not channel or not isinstance(channel, str):
            return
        if not await self._first_time(body.get("event_id")):
            return
        await self._bot_left(channel, self._scope(context), body.get("event_id"), archived=True)

    async def _on_unarchived(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        """``channel_unarchive`` / ``group_unarchive``: a channel was taken out of the archive
        (``channel``; ``user`` or ``actor_id``: who did). Slack keeps a private channel's members
        then, but a public channel does not get its former members back: only when
        conversations.info says the bot is in the channel again does it become a network again, as
        when the bot is added (``BotAdded``, by whoever unarchived it: its first trekker, who can
        type the code from the archive note there). Otherwise that happens when someone adds the
        bot (``member_joined_channel``)."""
        channel = event.get("channel")
        if not channel or not isinstance(channel, str):
            return
        if not await self._first_time(body.get("event_id")):
            return
        client, scope = context.client, self._scope(context)
        actor = event.get("user") or event.get("actor_id")
        actor = actor if isinstance(actor, str) and actor else None
        await self._learn(context, channel, actor)
        self._channels.pop(f"{scope}:{channel}")  # what the archive left in the cache is stale now
        try:
            resp = await client.conversations_info(channel=channel)
        except Exception as exc:  # the first command there makes it a network anyway
            log.warning("slack conversations.info failed after an unarchive (%s)", _error_code(exc))
            return
        info = resp.get("channel") or {}
        if info.get("is_member") is not True:
            return
        title = info.get("name") or ""
        self._channels.put(f"{scope}:{channel}", {"name": title, "is_member": True})
        added_by = await self.person(actor, client=client, scope=scope) if actor else None
        await self._hand_over(BotAdded(ChatRef(PLATFORM, channel, title), added_by), body.get("event_id"))

    async def _on_renamed(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        """``channel_rename`` / ``group_rename``: a public / private channel was renamed; the event
        carries the channel's id and new name (``channel.id``, ``channel.name``:
        https://docs.slack.dev/reference/events/channel_rename/, https://api.slack.com/events/group_rename;
        the ``channels:read`` / ``groups:read`` scopes the app has). ``channel_rename`` comes for
        any public channel of the workspace: for a channel that is no network the core does
        nothing. The cached name is replaced either way."""
        channel = event.get("channel") or {}
        channel_id, name = channel.get("id"), channel.get("name")
        if not isinstance(channel_id, str) or not channel_id or not isinstance(name, str):
            return
        if not await self._first_time(body.get("event_id")):
            return
        scope = self._scope(context)
        key = f"{scope}:{channel_id}"
        cached = self._channels.get(key)
        if cached is not None:
            self._channels.put(key, {**cached, "name": name})
        await self._hand_over(ChatRenamed(ChatRef(PLATFORM, channel_id, name), name), body.get("event_id"))

    async def _archived(self, channel: str, client: AsyncWebClient) -> bool:
        """True when ``channel`` is archived (conversations.info, asked afresh): an archived
        channel may also report the bot as gone, and its notes must then say to unarchive it."""
        try:
            resp = await client.conversations_info(channel=channel)
        except Exception as exc:  # not known (a private channel the bot left is not found): a removal
            log.info("slack conversations.info after the bot left failed (%s)", _error_code(exc))
            return False
        return (resp.get("channel") or {}).get("is_archived") is True

    async def _bot_left(self, channel: str, scope: str, event_id: str | None, archived: bool = False) -> None:
        """The bot is out of ``channel`` (or ``channel`` was ``archived``): the channel leaves its
        network. One removal may come as two events (``member_left_channel`` and
        ``channel_left``/``group_left``, and for an archived channel maybe ``channel_archive`` as
        well); the core handles them in turn, also when they arrive together or at two replicas (on
        PostgreSQL it locks the chat's row first), and the second finds the chat in no network and
        does nothing."""
        self._membership(channel, False, scope)
        await self._hand_over(BotRemoved(ChatRef(PLATFORM, channel), closed="archived" if archived else None), event_id)

    async def _on_uninstalled(self, context: Any) -> None:
        """The app was removed from a workspace: drop its installation and what we recorded."""
        team = self._team(context)
        log.info("slack: uninstalled from workspace %s", team.team_id or team.enterprise_id)
        await self.app.default_app_uninstalled_event_listener()(context=context)
        if self.directory is not None:
            await self.directory.forget(team)

    async def _on_tokens_revoked(self, event: dict[str, Any], context: Any) -> None:
        """Tokens were revoked: drop them from the store (and the cached bot token)."""
        await self.app.default_tokens_revoked_event_listener()(event=event, context=context)
        if self.directory is not None:
            self.directory.forget_token(self._team(context))

    # ------------------------------------------------------------------ look-ups
    async def person(
        self, user_id: str, fallback: str | None = None, *, client: AsyncWebClient | None = None, scope: str = ""
    ) -> Person:
        """The person behind ``user_id``: name, time zone and language from users.info (cached).
        ``client`` is the request's (its workspace's token); ``scope`` keeps workspaces apart."""
        cached = self._users.get(f"{scope}:{user_id}")
        if cached is not None:
            return cached
        try:
            resp = await (client or self.client).users_info(user=user_id, include_locale=True)
        except Exception as exc:  # no name is better than no answer
            log.warning("slack users.info failed (%s)", _error_code(exc))
            return Person(user_id, fallback or user_id)
        user = resp.get("user") or {}
        profile = user.get("profile") or {}
        name = (
            profile.get("display_name")
            or profile.get("real_name")
            or user.get("real_name")
            or user.get("name")
            or fallback
            or user_id
        )
        locale = (user.get("locale") or "").split("-")[0].lower()
        person = Person(user_id, name, user.get("tz") or None, locale if locale in LANGUAGES else None)
        self._users.put(f"{scope}:{user_id}", person)
        return person

    async def channel_title(
        self, channel_id: str, fallback: str | None = None, *, client: AsyncWebClient | None = None, scope: str = ""
    ) -> str:
        """The channel's name (cached)."""
        return (await self.channel_info(channel_id, fallback, client=client, scope=scope))["name"]

    async def channel_info(
        self, channel_id: str, fallback: str | None = None, *, client: AsyncWebClient | None = None, scope: str = ""
    ) -> dict[str, Any]:
        """The channel's name and whether the bot is in it, from conversations.info (cached).

        A channel the bot cannot see (a private channel it is not in) counts as "not a member".
        """
        key = f"{scope}:{channel_id}"
        cached = self._channels.get(key)
        if cached is not None:
            return cached
        try:
            resp = await (client or self.client).conversations_info(channel=channel_id)
        except SlackApiError as exc:
            code = _error_code(exc)
            log.warning("slack conversations.info failed (%s)", code)
            info = {"name": fallback or "", "is_member": code != "channel_not_found"}
            if code == "channel_not_found":
                self._channels.put(key, info)
            return info
        except Exception as exc:  # transient: assume the best, do not cache
            log.warning("slack conversations.info failed (%s)", _error_code(exc))
            return {"name": fallback or "", "is_member": True}
        channel = resp.get("channel") or {}
        info = {
            "name": channel.get("name") or fallback or "",
            "is_member": bool(channel.get("is_member", True) or channel.get("is_im")),
        }
        self._channels.put(key, info)
        return info

    def _membership(self, channel_id: str, is_member: bool, scope: str = "") -> None:
        """The bot joined or left ``channel_id``: keep the cached membership right."""
        key = f"{scope}:{channel_id}"
        cached = self._channels.get(key)
        if cached is not None:
            self._channels.put(key, {**cached, "is_member": is_member})


def _error_code(exc: Exception) -> str:
    if isinstance(exc, SlackApiError) and exc.response is not None and isinstance(exc.response.data, dict):
        return str(exc.response.get("error") or exc.response.status_code)
    return type(exc).__name__


def is_dm(channel_id: str, channel_name: str | None = None) -> bool:
    """True for a direct-message conversation (IM ids start with ``D``)."""
    return channel_name == "directmessage" or channel_id.startswith("D")


def command_text(command: str, text: str) -> str | None:
    """A slash command → the text the core expects: ``/bamboe status`` → ``/status``, ``/bamboe``
    → ``/help``, ``/vier x`` → ``/vier x``; None for a command we do not know."""
    text = render.from_slack_entities(text or "").strip()
    command = command.lower()
    if command == MAIN_COMMAND:
        if not text:
            return "/help"
        return "/" + text.lstrip("/")
    if command in SHORTCUTS:
        return f"/{SHORTCUTS[command]} {text}".strip()
    return None


def build(settings: Settings, inbound: Inbound, commands: Sequence[Command] = ()) -> SlackAdapter:
    """The factory ``bamboe run`` calls when ``SLACK_BOT_TOKEN`` (or the OAuth client) is set."""
    return SlackAdapter(settings, inbound)
