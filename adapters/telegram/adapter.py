"""The Telegram adapter: python-telegram-bot's :class:`~telegram.Bot` driven by ``bamboe run``.

Updates arrive by long polling (getUpdates, the default) or, with ``TELEGRAM_WEBHOOK_URL`` and
``TELEGRAM_WEBHOOK_SECRET``, on ``POST /telegram/webhook`` of the shared HTTP server. They are
translated to the core's events (:mod:`adapters.telegram.translate`); outgoing messages are
rendered as Telegram HTML (:mod:`adapters.telegram.render`) and sent with sendMessage, their files
after the text with sendPhoto (PNG/JPEG images) or sendDocument (everything else). Scheduling,
state and throttling belong to the core, and the adapter polls and dispatches updates itself, so
PTB's ``telegram.ext`` (its Application, JobQueue, persistence and rate limiter) is not used: not
importing it saves 0.06-0.08 s of CPU at every start.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import logging
import os
import re
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
)
from telegram import error as tg_error
from telegram.request import HTTPXRequest

from adapters.common import Bounded, cancel
from adapters.telegram.render import TELEGRAM_LIMIT, render_parts
from adapters.telegram.translate import PLATFORM, Me, button_press, from_update
from bamboe.settings import Settings
from bot import i18n
from bot.delivery import Limits, NotStarted, RetryAfter, Undeliverable, next_call
from bot.events import Attachment, Outgoing, Unavailable
from bot.markup import plain
from bot.platform import Capabilities
from bot.registry import Command

log = logging.getLogger(__name__)
# opt in to PTB's future time periods (``RetryAfter.retry_after`` as a timedelta) instead of a
# deprecation warning on every 429; :func:`retry_seconds` reads both types
os.environ.setdefault("PTB_TIMEDELTA", "true")
# httpx logs every request URL at INFO, and the Bot API's URLs contain the token; PTB logs request
# parameters (message texts) at DEBUG. Neither may reach bamboe's logs.
for _name, _level in (("httpx", logging.WARNING), ("httpcore", logging.WARNING), ("telegram", logging.INFO)):
    logging.getLogger(_name).setLevel(_level)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: the update types the core needs (chat_member would need admin rights and is not used)
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
#: callback_data may hold at most this many bytes
CALLBACK_DATA_MAX = 64
#: seconds to wait for the Bot API's answer to a call (then the send counts as failed and is retried)
TIMEOUT = 20.0
#: long-poll timeout in seconds (the server answers at once when updates are waiting)
POLL_TIMEOUT = 30
#: getMe / setWebhook attempts at start before giving up with a clear error
START_ATTEMPTS = 3
#: how many message → topic links are kept in memory
TOPIC_MEMORY = 10_000
COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
#: Telegram's descriptions of a reply whose message is gone (the wording changed over the years)
REPLY_GONE = ("message to be replied not found", "replied message not found", "reply message not found")
#: Telegram's descriptions that mean a private message cannot be delivered yet / ever
NOT_STARTED = ("can't initiate conversation", "bot can't initiate")
#: image types Telegram shows as a photo (sendPhoto); other files go as documents
PHOTO_TYPES = ("image/png", "image/jpeg")
#: largest photo sendPhoto takes; a bigger image is sent as a document
PHOTO_MAX = 10 * 1024 * 1024
#: seconds an upload may take to write (PTB's default of 20 s is short for a big document)
MEDIA_WRITE_TIMEOUT = 60.0


async def pause(seconds: float) -> None:
    """Wait before asking for updates the core could not take yet (a seam for the tests)."""
    await asyncio.sleep(seconds)


class TelegramConfigError(ValueError):
    """The Telegram settings cannot work together (e.g. a webhook without a secret)."""


def retry_seconds(exc: tg_error.RetryAfter) -> float:
    """``retry_after`` in seconds, whichever type this PTB version hands out."""
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def command_lists(table: Sequence[Command]) -> dict[str | None, list[BotCommand]]:
    """The command menu per language (``None``: the default, in the core's default language),
    from the core's commands and the ``help.commands.<name>.summary`` texts."""
    lists: dict[str | None, list[BotCommand]] = {}
    for language in (None, *i18n.LANGUAGES):
        lang = language or i18n.DEFAULT_LANGUAGE
        commands = []
        for cmd in table:
            if not cmd.listed:
                continue
            name = cmd.shown(lang)
            if not COMMAND_NAME.match(name):
                log.warning("command /%s cannot be listed on Telegram (name not allowed)", name)
                continue
            key = f"help.commands.{cmd.name}.summary"
            found = next((tongue for tongue in (lang, *i18n.LANGUAGES) if i18n.has(tongue, key)), None)
            description = plain(i18n.t(found, key)).strip()[:256] if found else ""
            commands.append(BotCommand(name, description or "/" + name))
        lists[language] = commands
    return lists


class TelegramAdapter:
    """One Telegram bot, as ``bamboe run`` drives it; it is its own :class:`~bot.delivery.Sender`."""

    platform = PLATFORM
    #: ≈ 20 messages a minute per group, one a second per person, 30 a second overall
    limits = Limits(per_chat=3.0, per_person=1.0, per_second=30)
    #: replies and inline keyboards; a bot cannot open a private chat, and the Bot API cannot tell
    #: whether an interrupted send arrived
    capabilities = Capabilities(threads=True, replies=True, buttons=True, edits=True, opens_private=False,
                                max_text=TELEGRAM_LIMIT, files=True, confirms=False)

    def __init__(self, settings: Settings, inbound: Any, *, poll_timeout: int = POLL_TIMEOUT,
                 commands: Sequence[Command] = ()) -> None:
        #: the core's commands, for Telegram's command menu
        self.commands = tuple(commands)
        if settings.telegram_bot_token is None:
            raise TelegramConfigError("TELEGRAM_BOT_TOKEN is not set")
        self.inbound = inbound
        self.poll_timeout = poll_timeout
        self.webhook_url = settings.telegram_webhook_url or None
        secret = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else ""
        if self.webhook_url:
            if not secret:
                raise TelegramConfigError(
                    "TELEGRAM_WEBHOOK_URL is set but TELEGRAM_WEBHOOK_SECRET is not: the webhook needs a secret "
                    "so that only Telegram can post updates (1-256 characters: A-Z, a-z, 0-9, _ and -)")
            if not SECRET_TOKEN.match(secret):
                raise TelegramConfigError(
                    "TELEGRAM_WEBHOOK_SECRET may only hold 1-256 characters A-Z, a-z, 0-9, _ and -")
            if urlsplit(self.webhook_url).scheme != "https":
                log.warning("TELEGRAM_WEBHOOK_URL should be an https:// address; Telegram only calls https")
            if not urlsplit(self.webhook_url).path.endswith(WEBHOOK_PATH):
                log.warning("TELEGRAM_WEBHOOK_URL does not end in %s, the path bamboe serves", WEBHOOK_PATH)
        self._secret = secret.encode()
        self.api_url = settings.telegram_api_url or "https://api.telegram.org/bot"
        # the two connections (calls, long polling) as PTB's ApplicationBuilder would make them, but
        # with one TLS context: each would otherwise load the CA bundle again (a tenth of the start's CPU)
        tls = httpx.create_ssl_context()
        calls = HTTPXRequest(connection_pool_size=256, connect_timeout=10.0, read_timeout=TIMEOUT,
                             write_timeout=TIMEOUT, media_write_timeout=MEDIA_WRITE_TIMEOUT,
                             httpx_kwargs={"verify": tls})
        polling = HTTPXRequest(connection_pool_size=1, connect_timeout=10.0, read_timeout=10.0,
                               httpx_kwargs={"verify": tls})
        self.bot = Bot(settings.telegram_bot_token.get_secret_value(), base_url=self.api_url,
                       request=calls, get_updates_request=polling)
        self.sender = self
        self.me: Me | None = None
        self._started = asyncio.Event()
        self._stopped = False
        self._last_poll_ok = 0.0
        self._webhook_set = False
        self._poller: asyncio.Task | None = None
        #: (chat, message id) → forum topic id, for messages seen or sent in a topic
        self._topics: Bounded = Bounded(TOPIC_MEMORY)
        #: outbox id → message ids of the parts (text parts, then files) already sent: a retry
        #: after a part failed goes on where it stopped, so nothing is sent twice
        self._partial: Bounded = Bounded(1000)
        #: updates the core could not take (database unavailable): not confirmed, so they come again
        self._retry: Bounded = Bounded(1000)

    # ------------------------------------------------------------------ lifecycle
    def routes(self) -> list[web.RouteDef]:
        """``POST /telegram/webhook`` in webhook mode; nothing in polling mode."""
        return [web.post(WEBHOOK_PATH, self._webhook)] if self.webhook_url else []

    def ready(self) -> bool:
        """True once getMe succeeded and updates arrive (polling runs, or the webhook is set)."""
        if self.me is None:
            return False
        if self.webhook_url:
            return self._webhook_set
        # polling counts as running while getUpdates answered within the last long poll and a bit
        fresh = time.monotonic() - self._last_poll_ok < self.poll_timeout + 60
        return self._poller is not None and not self._poller.done() and fresh

    async def start(self) -> None:
        """Check the token (getMe), register the command menu, then poll or set the webhook."""
        await self._attempt("getMe", self.bot.initialize)
        bot = self.bot
        self.me = Me(bot.id, bot.username)
        log.info("telegram bot @%s connected (%s)", self.me.username, "webhook" if self.webhook_url else "polling")
        await self._set_commands()
        if self.webhook_url:
            await self._attempt("setWebhook", lambda: bot.set_webhook(
                self.webhook_url, secret_token=self._secret.decode(), allowed_updates=list(ALLOWED_UPDATES)))
            self._webhook_set = True
        else:
            await self._attempt("deleteWebhook", lambda: bot.delete_webhook(drop_pending_updates=False))
            self._last_poll_ok = time.monotonic()
            self._poller = asyncio.create_task(self._poll(), name="telegram-polling")
        self._started.set()

    async def stop(self) -> None:
        """Stop polling and close the HTTP connections (a webhook stays set for other replicas)."""
        self._stopped = True
        self._started.clear()
        await cancel(self._poller)
        self._poller = None
        await self.bot.shutdown()

    async def _attempt(self, what: str, call: Any) -> Any:
        """Run a start-up call, retrying network trouble a few times; fail with a clear error."""
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                return await call()
            except tg_error.InvalidToken:
                raise RuntimeError(f"Telegram: the Bot API at {self.api_url} rejected TELEGRAM_BOT_TOKEN "
                                   f"({what}); check the token from BotFather") from None
            except (tg_error.NetworkError, tg_error.TimedOut) as exc:
                if isinstance(exc, tg_error.BadRequest):
                    raise RuntimeError(f"Telegram: {what} was refused: {exc.message}") from None
                if attempt == START_ATTEMPTS:
                    raise RuntimeError(f"Telegram: the Bot API at {self.api_url} cannot be reached ({what}: "
                                       f"{type(exc).__name__}); check the network or TELEGRAM_API_URL") from None
                await asyncio.sleep(attempt)
        return None  # pragma: no cover

    async def _set_commands(self) -> None:
        """Register the command menu (default, Dutch, English); a failure is logged, not fatal."""
        bot = self.bot
        try:
            lists = command_lists(self.commands)
        except Exception:
            log.exception("telegram command menu could not be built")
            return
        for language, commands in lists.items():
            try:
                await bot.set_my_commands(commands, language_code=language)
            except tg_error.TelegramError as exc:
                log.warning("telegram setMyCommands (%s) failed: %s", language or "default", type(exc).__name__)

    # ------------------------------------------------------------------ inbound
    async def _poll(self) -> None:
        """Long polling: fetch updates, handle them in order, confirm them with the next offset."""
        bot = self.bot
        offset: int | None = None
        delay = 1.0  # after a failed getUpdates; reset by the next one that works
        held = 1.0  # after the core could not take an update; reset only once the core takes one
        while True:
            try:
                updates = await bot.get_updates(offset=offset, timeout=self.poll_timeout,
                                                allowed_updates=list(ALLOWED_UPDATES))
                delay = 1.0
                self._last_poll_ok = time.monotonic()
            except asyncio.CancelledError:
                raise
            except tg_error.RetryAfter as exc:
                await asyncio.sleep(retry_seconds(exc))
                continue
            except tg_error.Conflict:
                log.error("telegram getUpdates conflict: another bamboe polls with this token, or a webhook is set")
                await asyncio.sleep(delay)
                delay = min(60.0, delay * 2)
                continue
            except Exception as exc:  # network trouble: wait and go on
                log.warning("telegram getUpdates failed (%s), retrying in %.0f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(60.0, delay * 2)
                continue
            for update in updates:
                await self._on_update(update)
                if self._retry.pop(update.update_id, None):  # the core could not take it: ask again later
                    log.warning("telegram update %s kept for later: the database is unavailable; next try in "
                                "%.0f s", update.update_id, held)
                    await pause(held)
                    held = min(60.0, held * 2)
                    break
                held = 1.0
                offset = update.update_id + 1

    async def _webhook(self, request: web.Request) -> web.Response:
        """``POST /telegram/webhook``: only with the secret Telegram was given at setWebhook."""
        given = request.headers.get(SECRET_HEADER)
        if given is None or not hmac.compare_digest(given.encode(), self._secret):
            return web.Response(status=401)
        if self.me is None:
            return web.Response(status=503)
        try:
            data = await request.json()
            update = Update.de_json(data, self.bot)
        except Exception:
            log.warning("telegram webhook: an update could not be read")
            return web.Response(status=400)
        if update is not None:
            await self._on_update(update)
            if self._retry.pop(update.update_id, None):  # Telegram delivers it again later
                return web.Response(status=503)
        return web.Response(status=200)

    async def _on_update(self, update: Update) -> None:
        """Translate one update and hand its events to the core (errors are logged, not raised)."""
        try:
            if update.callback_query is not None:
                await self._on_button(update)
                return
            if update.message is not None:
                self._remember(update.message)
            for event in from_update(update, self.me):
                await self.inbound(event)
        except Unavailable:
            self._retry.put(update.update_id, True)
        except Exception:
            log.exception("telegram update %s could not be handled", update.update_id)

    async def _on_button(self, update: Update) -> None:
        """A button press reaches the core; the query is always answered (the spinner stops)."""
        query = update.callback_query
        try:
            press = button_press(update)
            if press is not None:
                await self.inbound(press)
        finally:
            try:
                await query.answer()
            except tg_error.TelegramError as exc:
                log.info("telegram answerCallbackQuery failed: %s", type(exc).__name__)

    def _remember(self, message: Message) -> None:
        """Remember which forum topic a message was in (to answer it there)."""
        if message.is_topic_message and message.message_thread_id is not None:
            self._topics.put((str(message.chat.id), str(message.message_id)), message.message_thread_id)

    # ------------------------------------------------------------------ outbound
    async def send(self, message: Outgoing) -> str | None:
        """Send ``message``: its text (split when long), then each of its files to the same chat
        (same topic, same reply); return the first part's message id (the text's).

        A retry of a message whose earlier attempt sent some parts (a file was rate limited, say)
        sends only the parts still missing; this is remembered in memory per ``outbox_id``. Every
        call after the first waits for delivery's pacing (:func:`bot.delivery.next_call`), so the
        parts keep the chat's limit too.
        """
        if self._stopped:
            raise RuntimeError("telegram adapter stopped")
        if not self._started.is_set():
            try:
                await asyncio.wait_for(self._started.wait(), timeout=10)
            except TimeoutError:
                raise RuntimeError("telegram adapter not started") from None
        addr = message.address
        private = addr.chat_id is None
        target = addr.user_id if private else addr.chat_id
        if target is None:
            raise Undeliverable("no chat and no user")
        reply_to, topic = self._placement(message)
        markup = self._keyboard(message)
        text = str(message.text)
        texts = render_parts(text) if text.strip() or not message.files else []
        steps: list[str | Attachment] = [*texts, *message.files]
        done: list[str] = list(self._partial.get(message.outbox_id, [])) if message.outbox_id else []
        first = len(done)
        for index in range(first, len(steps)):
            step = steps[index]
            if index > first:  # each call keeps the chat's limit, not only the first of the message
                await next_call()
            if isinstance(step, Attachment):
                last = not texts and index == len(steps) - 1  # a message of files alone: buttons on the last
                sent = await self._send_file(target, step, markup if last else None, reply_to, topic, private)
            else:
                sent = await self._send_part(target, step, markup if index == len(texts) - 1 else None,
                                             reply_to if index == 0 else None, topic, private)
            done.append(str(sent.message_id))
            target = str(sent.chat.id)  # the chat it went to (a group converted into a supergroup moves)
            if topic is not None:
                self._topics.put((str(sent.chat.id), str(sent.message_id)), topic)
            if message.outbox_id is not None and index < len(steps) - 1:
                self._partial.put(message.outbox_id, list(done))
        if message.outbox_id is not None:
            self._partial.pop(message.outbox_id, None)
        return done[0] if done else None

    def _placement(self, message: Outgoing) -> tuple[int | None, int | None]:
        """The message to reply to and the forum topic to post in.

        An answer to a member's message quotes it: ``reply_to`` is kept in the outbox row, so
        whichever replica sends the answer, after a restart too, quotes the right message (Telegram
        has no messages only the asker sees: this is how the asker finds theirs). A threaded message
        replies to its thread message. The topic is the one that message was in, as far as this
        process saw it (kept in memory). Without it the reply still lands in that topic: Telegram
        takes a reply in a forum topic as strict ("allow_sending_without_reply: always False for
        replies in another chat or forum topic", Bot API) and posts it where the quoted message is;
        only a reply whose message was deleted meanwhile (:meth:`_call` then sends it unquoted)
        needs the topic from memory, else it goes to General.
        """
        addr = message.address
        if addr.chat_id is None:
            return None, None
        target = message.reply_to or addr.thread
        if not target:
            return None, None
        return (int(target) if target.isdigit() else None), self._topics.get((addr.chat_id, target))

    @staticmethod
    def _keyboard(message: Outgoing) -> InlineKeyboardMarkup | None:
        if not message.buttons:
            return None
        for button in message.buttons:
            if len(button.action.encode()) > CALLBACK_DATA_MAX:
                log.error("button action of %s is longer than Telegram's %s bytes", message.kind, CALLBACK_DATA_MAX)
                raise Undeliverable("callback data too long")
        return InlineKeyboardMarkup([[InlineKeyboardButton(plain(b.label), callback_data=b.action)]
                                     for b in message.buttons])

    async def _send_part(self, target: str, html_text: str, markup: InlineKeyboardMarkup | None,
                         reply_to: int | None, topic: int | None, private: bool) -> Message:
        """One sendMessage, with Telegram's refusals translated for the core's delivery."""
        kwargs: dict[str, Any] = {
            **self._where(target, reply_to, topic),
            "text": html_text, "parse_mode": "HTML",
            "link_preview_options": LinkPreviewOptions(is_disabled=True),
            "reply_markup": markup,
        }
        return await self._call(self.bot.send_message, kwargs, private)

    async def _send_file(self, target: str, file: Attachment, markup: InlineKeyboardMarkup | None,
                         reply_to: int | None, topic: int | None, private: bool) -> Message:
        """One file: sendPhoto for a PNG/JPEG image of at most 10 MB, sendDocument otherwise (and
        for an image Telegram will not take as a photo, e.g. because of its dimensions)."""
        bot = self.bot
        where = {**self._where(target, reply_to, topic), "reply_markup": markup}
        if file.mime.lower() in PHOTO_TYPES and len(file.data) <= PHOTO_MAX:
            try:
                return await self._call(bot.send_photo,
                                        {**where, "photo": InputFile(file.data, filename=file.name)}, private)
            except NotStarted:
                raise
            except Undeliverable as exc:
                reason = str(exc).lower()
                if not any(word in reason for word in ("photo", "image")):
                    raise
                log.info("telegram refused an image as a photo; sending it as a document")
        return await self._call(bot.send_document,
                                {**where, "document": InputFile(file.data, filename=file.name)}, private)

    @staticmethod
    def _where(target: str, reply_to: int | None, topic: int | None) -> dict[str, Any]:
        """The chat, topic and reply arguments every send takes."""
        return {
            "chat_id": int(target) if target.lstrip("-").isdigit() else target,
            "message_thread_id": topic,
            "reply_parameters": ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None,
        }

    async def _call(self, method: Any, kwargs: dict[str, Any], private: bool) -> Message:
        """Call a send method of the bot, with Telegram's refusals translated for the core's delivery."""
        for _ in range(4):  # as asked, then without a vanished topic or quoted message, or in the new chat
            try:
                return await method(**kwargs)
            except tg_error.RetryAfter as exc:
                raise RetryAfter(retry_seconds(exc)) from None
            except tg_error.ChatMigrated as exc:
                log.warning("telegram group %s is now supergroup %s; sending there", kwargs["chat_id"],
                            exc.new_chat_id)
                kwargs["chat_id"] = exc.new_chat_id
            except tg_error.Forbidden as exc:
                text = exc.message.lower()
                if private and any(s in text for s in NOT_STARTED):
                    raise NotStarted(self.start_link()) from None
                raise Undeliverable(exc.message) from None
            except tg_error.BadRequest as exc:
                text = exc.message.lower()
                if "thread not found" in text and kwargs["message_thread_id"] is not None:
                    kwargs["message_thread_id"] = None  # the topic was deleted or closed: post in General
                    continue
                if any(gone in text for gone in REPLY_GONE) and kwargs["reply_parameters"] is not None:
                    # the message to quote was deleted: in a forum topic Telegram takes every reply as
                    # strict (allow_sending_without_reply is "always False" there), so send it unquoted
                    kwargs["reply_parameters"] = None
                    continue
                if "can't parse entities" in text and kwargs.get("parse_mode") is not None:
                    log.error("telegram refused our HTML; sending the part as plain text")
                    kwargs["parse_mode"] = None
                    kwargs["text"] = html.unescape(re.sub(r"</?(?:b|i|code)>", "", kwargs["text"]))
                    continue
                raise Undeliverable(exc.message) from None
        raise Undeliverable("telegram refused the message")

    def start_link(self) -> str | None:
        """The deep link that opens a private chat with the bot and sends ``/start hi``."""
        return f"https://t.me/{self.me.username}?start=hi" if self.me and self.me.username else None


def build(settings: Settings, inbound: Any, commands: Sequence[Command] = ()) -> TelegramAdapter:
    """The factory ``bamboe run`` calls (see :data:`bamboe.runtime.ADAPTERS`)."""
    return TelegramAdapter(settings, inbound, commands=commands)
