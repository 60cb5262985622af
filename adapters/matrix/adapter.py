"""The Matrix adapter: matrix-nio's :class:`~nio.AsyncClient` against a homeserver's
client-server API (Synapse with Element, as in MijnBureau), driven by ``bamboe run``.

* **Login.** ``MATRIX_ACCESS_TOKEN`` is used as it is (its device from ``/whoami``). With
  ``MATRIX_PASSWORD`` bamboe logs in once and keeps the device id and the token (sealed with
  ``BAMBOE_SECRET_KEY``) in the database (:mod:`adapters.matrix.store`), so every replica and
  every restart use one device. That matters: the homeserver deduplicates a retried send per device.
* **Inbound.** Every replica runs a ``/sync`` loop from the position kept in the database; each
  event is claimed in ``matrix_events`` first, so exactly one replica hands it to the core. When
  the core cannot take an event (database away) the sync position is not advanced and the batch
  is fetched again. Invites from allowed servers are accepted; the bot's own join makes the room a
  network with the inviter as its first trekker (:class:`~bot.events.BotAdded`); a direct room
  (``is_direct``) is a private chat instead. Joins and leaves reach the core; the bot kicked or
  leaving ends the room.
* **Outbound.** ``PUT /rooms/{room}/send/m.room.message/{txnId}`` with a transaction id made of
  the outbox row id and the part number: a row sent again after a crash is deduplicated by the
  homeserver (no second copy). Texts are HTML with a plain body (:mod:`adapters.matrix.render`);
  choices are numbered and the bot adds the number reactions itself, so a member answers with one
  click (or types the command). Private messages go to a direct room the bot creates once
  (``is_direct``, recorded in the bot's ``m.direct`` account data) and reuses.
* **Encryption** is not supported (see docs/matrix.md): in an encrypted room the bot says so once,
  in Dutch and English, and leaves; an encrypted direct room is kept (the bot's messages can be
  read there), with one word that the bot cannot read it.
* **Room upgrades** (``m.room.tombstone``): the network moves to the new room
  (:class:`~bot.events.ChatMoved`) once the bot can join it, and the bot leaves the old one.
* **Room names** (``m.room.name``): a rename reaches the core (:class:`~bot.events.ChatRenamed`),
  which lets the network's name follow it while the network is named after the room.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import ClientError, web
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    JoinedMembersError,
    LoginResponse,
    RoomCreateError,
    RoomGetEventError,
    RoomGetStateError,
    RoomGetStateEventError,
    RoomPreset,
    SyncError,
    UploadResponse,
    WhoamiResponse,
)

from adapters.common import Bounded, cancel
from adapters.matrix import render, translate
from adapters.matrix.store import PERSON_KEEP, MatrixStore
from adapters.matrix.translate import PLATFORM
from bamboe.settings import Settings
from bot import events as core_events
from bot import i18n
from bot.clock import Clock, SystemClock
from bot.database import Database, create_engine
from bot.delivery import Limits, RetryAfter, Undeliverable, next_call
from bot.events import (
    Attachment,
    BotAdded,
    ButtonPress,
    ChatMoved,
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
# nio logs request paths (with room and event ids) and, at DEBUG, bodies; none of it may reach
# bamboe's logs (message texts)
logging.getLogger("nio").setLevel(logging.WARNING)

#: how long the homeserver may hold a sync open when nothing happens (milliseconds)
SYNC_TIMEOUT_MS = 15_000
#: seconds any other request may take (then a send counts as failed and is retried)
REQUEST_TIMEOUT = 20.0
#: longest wait before a batch the core could not take is fetched again
BATCH_RETRY_SECONDS = 5.0
#: what a sync asks for: no presence, typing or receipts; enough timeline that gaps are rare
SYNC_FILTER = {
    "presence": {"not_types": ["*"]},
    "account_data": {"not_types": ["*"]},
    "room": {
        "timeline": {"limit": 100},
        "ephemeral": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
        "state": {"lazy_load_members": True},
    },
}
#: the device name shown in Element's session list when bamboe logs in with a password
DEVICE_NAME = "Bamboe"
#: errors that mean a message can never arrive there (bot not in the room, room gone)
FORBIDDEN = ("M_FORBIDDEN", "M_NOT_FOUND", "M_UNKNOWN_ROOM")
#: image types Element shows inline (sent as ``m.image``); other files are ``m.file``
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
#: how many display names / room names are cached
NAME_MEMORY = 5000


class MatrixConfigError(ValueError):
    """The Matrix settings cannot work (a missing user id, a token of another user, …)."""


def allowed_servers(settings: Settings, user_id: str) -> frozenset[str]:
    """The servers whose users may invite the bot: ``MATRIX_ALLOWED_SERVERS`` or the bot's own."""
    raw = settings.matrix_allowed_servers or translate.server_of(user_id)
    return frozenset(s.strip().lower() for s in raw.split(",") if s.strip())


class MatrixAdapter:
    """One Matrix account, as ``bamboe run`` drives it; it is its own :class:`~bot.delivery.Sender`."""

    platform = PLATFORM
    #: Synapse's per-user message limit (``rc_message``) is the homeserver's; its 429s say how long
    #: to wait (``retry_after_ms``), and docs/matrix.md tells the admin how to exempt the bot
    limits = Limits()
    #: no ephemeral messages, buttons or edits; threads and replies; the bot opens direct rooms
    #: itself; a row in doubt is confirmed by sending it again with the same transaction ids, which
    #: the homeserver answers with the event it already has (:meth:`confirm`)
    capabilities = Capabilities(ephemeral=False, threads=True, replies=True, buttons=False, edits=False,
                                opens_private=True, max_text=render.PART_LIMIT, files=True, confirms=True)

    def __init__(self, settings: Settings, inbound: Any, *, sync_timeout_ms: int = SYNC_TIMEOUT_MS,
                 commands: Sequence[Command] = ()) -> None:
        if not settings.matrix_homeserver_url or not settings.matrix_user_id:
            raise MatrixConfigError("MATRIX_HOMESERVER_URL and MATRIX_USER_ID are both needed")
        user_id = settings.matrix_user_id.strip()
        if not user_id.startswith("@") or ":" not in user_id:
            raise MatrixConfigError(f"MATRIX_USER_ID must be a full user id like @bamboe:example.org, not {user_id!r}")
        if not settings.matrix_access_token and not settings.matrix_password:
            raise MatrixConfigError("set MATRIX_ACCESS_TOKEN, or MATRIX_PASSWORD to let bamboe log in once")
        self.inbound = inbound
        #: the core's command names and aliases: ``!word`` is a command only for these (an
        #: exclamation like ``!belangrijk`` stays text); empty: every ``!word`` is a command
        self.command_names = frozenset(n for c in commands for n in (c.name, *c.aliases))
        self.user_id = user_id
        self.homeserver = settings.matrix_homeserver_url.rstrip("/")
        self.token = settings.matrix_access_token.get_secret_value() if settings.matrix_access_token else None
        self.password = settings.matrix_password.get_secret_value() if settings.matrix_password else None
        #: seals the token bamboe got by logging in (a configured token is never stored)
        self.box = None if self.token else settings.require_secret_box("Matrix with MATRIX_PASSWORD")
        self.device_id = settings.matrix_device_id or None
        self.servers = allowed_servers(settings, user_id)
        self.sync_timeout_ms = sync_timeout_ms
        self.db = Database(create_engine(settings.resolved_database_url()))
        self.store = MatrixStore(self.db)
        self.client = AsyncClient(self.homeserver, user_id, device_id=self.device_id or "", store_path=None,
                                  config=AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0,
                                                           request_timeout=REQUEST_TIMEOUT,
                                                           encryption_enabled=False, store_sync_tokens=False))
        self.sender = self
        self.txn_prefix = ""
        self._since: str | None = None
        self._started = asyncio.Event()
        self._stopped = False
        self._syncer: asyncio.Task | None = None
        self._last_sync_ok = 0.0
        #: (room, user) → display name; room → name
        self._names: Bounded = Bounded(NAME_MEMORY)
        #: room → inviter, from invites this process saw (a homeserver without ``prev_sender``)
        self._inviters: Bounded = Bounded(NAME_MEMORY)
        #: the core's time, for the retention of direct rooms (``bamboe run`` hands in the app's clock)
        self.clock: Clock = SystemClock()

    # ------------------------------------------------------------------ lifecycle
    def routes(self) -> list[web.RouteDef]:
        """Matrix needs no inbound HTTP route (the bot syncs)."""
        return []

    def ready(self) -> bool:
        """True once logged in and while syncs succeed."""
        if not self._started.is_set() or self._syncer is None or self._syncer.done():
            return False
        return time.monotonic() - self._last_sync_ok < self.sync_timeout_ms / 1000 + REQUEST_TIMEOUT + 30

    async def start(self) -> None:
        """Log in (or check the token), then start syncing."""
        await self._login()
        account = await self.store.account(self.user_id)
        self.txn_prefix = account.txn_prefix if account else uuid.uuid4().hex[:12]
        self._since = account.sync_token if account else None
        log.info("matrix: %s connected (device %s)", self.user_id, self.client.device_id)
        await self._warn_forced_encryption()
        self._last_sync_ok = time.monotonic()
        self._syncer = asyncio.create_task(self._sync_loop(), name="matrix-sync")
        self._started.set()

    async def stop(self) -> None:
        """Stop syncing and close the connections (the device and its token stay for the next start)."""
        self._stopped = True
        self._started.clear()
        await cancel(self._syncer)
        self._syncer = None
        await self.client.close()
        await self.db.close()

    async def _login(self) -> None:
        """Use ``MATRIX_ACCESS_TOKEN``, else the login kept in the database, else log in with
        ``MATRIX_PASSWORD`` once and keep it (a replica that lost the race logs its device out)."""
        if self.token:
            self.client.access_token = self.token
            device = await self._whoami()
            if device is None:
                raise RuntimeError("Matrix: the homeserver rejected MATRIX_ACCESS_TOKEN; make a new one "
                                   "(docs/matrix.md) or set MATRIX_PASSWORD instead")
            await self.store.keep_account(self.user_id, device, None)
            return
        assert self.password is not None and self.box is not None
        account = await self.store.account(self.user_id)
        if account is not None and account.access_token:
            self.client.access_token = self.box.unseal(account.access_token)
            self.client.device_id = account.device_id or ""
            if await self._whoami() is not None:
                return
            log.warning("matrix: the stored login no longer works; logging in again")
        resp = await self._attempt("login", lambda: self.client.login(
            self.password, device_name=DEVICE_NAME, **({"device_id": self.device_id} if self.device_id else {})))
        if not isinstance(resp, LoginResponse):
            raise RuntimeError(f"Matrix: logging in as {self.user_id} failed ({_code(resp)}); check MATRIX_PASSWORD")
        sealed = self.box.seal(resp.access_token)
        if account is not None:
            await self.store.replace_login(self.user_id, resp.device_id, sealed)
            return
        kept = await self.store.keep_account(self.user_id, resp.device_id, sealed)
        if kept.access_token != sealed:  # another replica logged in at the same moment: use its device
            await self.client.logout()
            self.client.access_token = self.box.unseal(kept.access_token or "")
            self.client.device_id = kept.device_id or ""

    async def _warn_forced_encryption(self) -> None:
        """Warn the admin when the homeserver encrypts the private rooms it creates (Synapse's
        ``encryption_enabled_by_default_for_room_type: invite`` or ``all``, which ``/versions``
        shows as ``io.element.e2ee_forced.trusted_private``): the direct rooms the bot opens are
        encrypted then, and what members write there cannot be read."""
        try:
            resp = await self.client.send("GET", "/_matrix/client/versions")
            async with resp:
                data = await resp.json() if resp.status == 200 else {}
        except (OSError, TimeoutError, ClientError, ValueError):
            return
        features = data.get("unstable_features") if isinstance(data, dict) else None
        if isinstance(features, dict) and features.get("io.element.e2ee_forced.trusted_private"):
            log.warning("matrix: the homeserver encrypts every private room it creates "
                        "(encryption_enabled_by_default_for_room_type); the bot cannot read what members write "
                        "in its direct rooms (docs/matrix.md, section 6)")

    async def _whoami(self) -> str | None:
        """The token's device id (None when the homeserver rejects the token)."""
        resp = await self._attempt("whoami", self.client.whoami)
        if not isinstance(resp, WhoamiResponse):
            return None
        if resp.user_id != self.user_id:
            raise MatrixConfigError(f"the Matrix access token belongs to {resp.user_id}, not MATRIX_USER_ID")
        self.client.user_id = resp.user_id
        self.client.device_id = resp.device_id or self.client.device_id
        return self.client.device_id

    async def _attempt(self, what: str, call: Any) -> Any:
        """A start-up call, retried on network trouble a few times; then a clear error."""
        for attempt in range(1, 4):
            try:
                return await call()
            except (OSError, TimeoutError, ClientError) as exc:
                if attempt == 3:
                    raise RuntimeError(f"Matrix: the homeserver at {self.homeserver} cannot be reached ({what}: "
                                       f"{type(exc).__name__}); check MATRIX_HOMESERVER_URL") from None
                await asyncio.sleep(attempt)
        return None  # pragma: no cover

    # ------------------------------------------------------------------ inbound
    async def _sync_loop(self) -> None:
        """Sync, hand each batch's events to the core in order, then move the position on."""
        delay = 1.0
        prune_at = 0.0
        while not self._stopped:
            try:
                resp = await self.client.sync(timeout=self.sync_timeout_ms, since=self._since,
                                              sync_filter=SYNC_FILTER)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # network trouble: wait and go on
                log.warning("matrix sync failed (%s), retrying in %.0f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(60.0, delay * 2)
                continue
            if isinstance(resp, SyncError):
                log.warning("matrix sync refused (%s), retrying in %.0f s", _code(resp), delay)
                await asyncio.sleep(delay)
                delay = min(60.0, delay * 2)
                continue
            self._last_sync_ok = time.monotonic()
            log.debug("matrix: sync batch with %s joined room(s)", len(resp.rooms.join))
            try:
                await self._handle_sync(resp, first=self._since is None)
                await self.store.save_sync_token(self.user_id, resp.next_batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: the same batch comes again
                log.warning("matrix: a sync batch is kept for later (%s)", type(exc).__name__)
                await asyncio.sleep(min(delay, BATCH_RETRY_SECONDS))
                delay = min(60.0, delay * 2)
                continue
            self._since = resp.next_batch
            delay = 1.0
            if time.monotonic() > prune_at:
                prune_at = time.monotonic() + 3600
                try:
                    await self.store.prune()
                except Exception as exc:  # noqa: BLE001 - pruning can wait
                    log.info("matrix: pruning handled events failed (%s)", type(exc).__name__)

    async def _handle_sync(self, resp: Any, *, first: bool) -> None:
        """One sync batch: invites, then each joined room's new events, then rooms the bot left.
        The very first sync of a device only accepts invites: older history is not replayed."""
        for room_id, info in resp.rooms.invite.items():
            await self._on_invite(room_id, [_stripped(e) for e in info.invite_state])
        if first:
            return
        for room_id, info in resp.rooms.join.items():
            events = [e.source for e in info.timeline.events if isinstance(getattr(e, "source", None), dict)]
            for event in events:  # every replica, not only the one that claims the event
                self._note_names(room_id, event)
            for event in events[self._joined_at(events):]:
                await self._once(event, lambda s=event, r=room_id: self._on_room_event(r, s))
        for room_id, info in resp.rooms.leave.items():
            for event in info.timeline.events:
                source = getattr(event, "source", None)
                change = translate.membership_change(source) if isinstance(source, dict) else None
                if change and change[0] == self.user_id:
                    await self._once(source, lambda r=room_id, s=source: self._on_bot_removed(r, s))

    def _note_names(self, room_id: str, event: dict[str, Any]) -> None:
        """Keep the cached names current: a member's display name from their ``m.room.member``
        event (a change of name is one: membership ``join`` to ``join``), the room's from
        ``m.room.name``. Without this, a name changed in Element never reached the core (it
        takes a member's name from each event they send). A name removed is looked up again."""
        kind, key = event.get("type"), event.get("state_key")
        if kind == "m.room.member" and isinstance(key, str):
            name = translate.display_name(event)
            if name:
                self._names.put((room_id, key), name)
            else:
                self._names.pop((room_id, key), None)
        elif kind == "m.room.name" and key == "":
            name = (event.get("content") or {}).get("name")
            if isinstance(name, str) and name:
                self._names.put(room_id, name)
            else:
                self._names.pop(room_id, None)

    def _joined_at(self, events: list[dict[str, Any]]) -> int:
        """Where the bot's own join is in a room's timeline (0 if it is not there): a room just
        joined shows its history up to the join, which happened before the bot was there."""
        for index in range(len(events) - 1, -1, -1):
            change = translate.membership_change(events[index])
            if change and change[0] == self.user_id and change[2] == "join":
                return index
        return 0

    async def _once(self, event: dict[str, Any], handle: Any) -> None:
        """Claim ``event`` for this replica, handle it, mark it done. When the core cannot take it
        the claim is released and :class:`~bot.events.Unavailable` goes up (the batch comes again)."""
        event_id = event.get("event_id")
        if not isinstance(event_id, str) or event.get("sender") is None:
            return
        if not await self.store.claim(event_id):
            log.debug("matrix: %s already claimed", event.get("type"))
            return
        log.debug("matrix: handling %s", event.get("type"))
        try:
            await handle()
        except Unavailable:
            try:
                await self.store.release(event_id)
            except Exception:  # noqa: BLE001 - the claim runs out by itself
                pass
            raise
        except Exception:
            log.exception("matrix: an event of type %s could not be handled", event.get("type"))
        await self.store.done(event_id)

    async def _hand_over(self, event: InboundEvent) -> None:
        await self.inbound(event)

    async def _on_invite(self, room_id: str, state: list[dict[str, Any]]) -> None:
        """Accept an invite from an allowed server (joining twice is harmless); decline others."""
        mine = next((e for e in state if e.get("type") == "m.room.member" and e.get("state_key") == self.user_id
                     and (e.get("content") or {}).get("membership") == "invite"), None)
        inviter = mine.get("sender") if mine else None
        if not isinstance(inviter, str):
            return
        if not translate.allowed(inviter, self.servers):
            log.info("matrix: declined an invite from server %s (not in MATRIX_ALLOWED_SERVERS)",
                     translate.server_of(inviter))
            await self.client.room_leave(room_id)
            return
        self._inviters.put(room_id, (inviter, translate.invited_as_direct(mine)))
        resp = await self.client.join(room_id)
        if isinstance(resp, ErrorResponse):
            log.warning("matrix: joining a room failed (%s)", _code(resp))

    async def _on_room_event(self, room_id: str, event: dict[str, Any]) -> None:
        """One timeline event of a joined room."""
        kind = event.get("type")
        sender = event["sender"]
        change = translate.membership_change(event)
        if change is not None:
            await self._on_membership(room_id, event, *change)
            return
        if sender == self.user_id:
            return
        if kind in ("m.room.encryption", "m.room.encrypted"):
            if await self.store.direct_with(room_id) is not None:
                await self._encrypted_direct(room_id)
            else:
                await self._refuse_encrypted(room_id)
            return
        content = event.get("content") or {}
        if kind == "m.room.tombstone" and event.get("state_key") == "":
            await self._on_tombstone(room_id, content)
        elif kind == "m.room.name" and event.get("state_key") == "":
            # the room was renamed (https://spec.matrix.org/latest/client-server-api/#mroomname);
            # a name removed (absent or empty) is no title, and the core changes nothing for it
            name = content.get("name")
            await self._hand_over(ChatRenamed(await self._chat(room_id), name if isinstance(name, str) else ""))
        elif kind == "m.reaction":
            await self._on_reaction(room_id, event, content)
        elif kind == "m.room.redaction" and translate.redacted(event):
            # whoever redacted it (its author or a moderator): the message is gone for everyone
            await self._hand_over(MessageDeleted(await self._chat(room_id), translate.redacted(event)))
        elif kind == "m.room.message" and translate.is_edit(content):
            edit = translate.replaced(content)
            if edit is not None:  # the core keeps it only when the sender wrote the edited message
                target, body = edit
                await self._hand_over(MessageEdited(await self._chat(room_id), await self._person(room_id, sender),
                                                    target, translate.core_text(body, self.command_names)))
        elif kind == "m.room.message" and content.get("msgtype") in translate.TEXT_TYPES \
                and isinstance(content.get("body"), str) and not translate.is_edit(content):
            chat = await self._chat(room_id)
            if chat.private:  # the member still uses it: kept (see housekeeping)
                await self.store.seen_direct(room_id)
            person = await self._person(room_id, sender)
            text = translate.core_text(content["body"], self.command_names)
            await self._hand_over(MessageIn(chat, person, text, event["event_id"], translate.answer_target(content),
                                            addressed=chat.private))

    async def _on_membership(self, room_id: str, event: dict[str, Any], user_id: str, prev: str, new: str) -> None:
        if user_id == self.user_id:
            if new == "join":
                await self._on_bot_joined(room_id, event)
            return
        direct = await self.store.direct_with(room_id)
        if new == "join" and prev != "join":
            if direct is None:
                await self._hand_over(MemberJoined(await self._chat(room_id), await self._person(room_id, user_id)))
        elif new in ("leave", "ban") and prev == "join":
            if direct == user_id:  # the member left the direct room: the next private message opens a new one
                await self.store.forget_room(room_id)
                await self.client.room_leave(room_id)
            elif direct is None:
                await self._hand_over(MemberLeft(await self._chat(room_id), await self._person(room_id, user_id)))

    async def _on_bot_joined(self, room_id: str, event: dict[str, Any]) -> None:
        """The bot joined after an invite: a direct room is kept as the member's private chat; a
        group room becomes a network with the inviter as its first trekker; the new room of an
        upgraded network's room takes that network. An encrypted group room is refused (said once,
        then the bot leaves); an encrypted direct room is kept, with a word that the bot cannot
        read it (:meth:`_encrypted_direct`)."""
        change = translate.membership_change(event)
        if change is None or change[1] != "invite":  # a room the bot made itself: a direct room it opened
            return
        inviter = (event.get("unsigned") or {}).get("prev_sender")
        remembered = self._inviters.get(room_id)
        direct = translate.invited_as_direct(event) or bool(remembered and remembered[1])
        if not isinstance(inviter, str):
            inviter = remembered[0] if remembered else None
        if await self._encrypted(room_id):
            if direct and inviter:  # kept: the bot's messages can be read there, the member's cannot
                await self.store.keep_direct_room(room_id, inviter)
                await self._encrypted_direct(room_id)
            else:
                await self._refuse_encrypted(room_id)
            return
        if await self.store.network_room(room_id):  # already a network's chat: the upgrade was followed
            return
        old = await self._upgraded_from(room_id)
        if old is not None and await self.store.network_room(old):
            await self._follow_upgrade(old, room_id)
            return
        member = await self.store.direct_with(old) if old is not None else None
        if old is not None and member is not None:  # an upgraded direct room stays the member's direct room
            await self.store.keep_direct_room(room_id, member)
            await self.store.forget_room(old)
            await self.client.room_leave(old)
            return
        if direct and inviter:
            await self.store.keep_direct_room(room_id, inviter)
            return
        added_by = await self._person(room_id, inviter) if inviter and inviter != self.user_id else None
        await self._hand_over(BotAdded(await self._chat(room_id), added_by))

    async def _on_tombstone(self, room_id: str, content: dict[str, Any]) -> None:
        """A network's room was upgraded (``m.room.tombstone``): join the new room and move the
        network there. An invite-only room can be joined only once someone invites the bot (Element
        offers to invite the members when it upgrades a room); that invite then moves it."""
        new = translate.replacement(content)
        if new is None or not await self.store.network_room(room_id):
            return
        resp = await self.client.join(new)
        if isinstance(resp, ErrorResponse):
            log.info("matrix: a network's room was upgraded; the new room cannot be joined yet (%s)", _code(resp))
            return
        if await self._upgraded_from(new) == room_id:
            await self._follow_upgrade(room_id, new)

    async def _upgraded_from(self, room_id: str) -> str | None:
        """The room ``room_id`` replaces: its ``m.room.create`` names a predecessor whose tombstone
        names ``room_id`` (both sides, so a room cannot claim another's network by its create event)."""
        create = await self.client.room_get_state_event(room_id, "m.room.create")
        old = None if isinstance(create, RoomGetStateEventError) else translate.predecessor(create.content or {})
        if old is None:
            return None
        tombstone = await self.client.room_get_state_event(old, "m.room.tombstone")
        if isinstance(tombstone, RoomGetStateEventError) or translate.replacement(tombstone.content or {}) != room_id:
            return None
        return old

    async def _follow_upgrade(self, old: str, new: str) -> None:
        """The network of room ``old`` goes on in ``new`` (:class:`~bot.events.ChatMoved`); the bot
        leaves the old room, where nobody writes any more."""
        log.info("matrix: a network's room was upgraded; the network moves to the new room")
        self._names.pop(new, None)
        await self._hand_over(ChatMoved(ChatRef(PLATFORM, old, await self._room_name(old)), await self._chat(new)))
        await self.client.room_leave(old)

    async def _on_bot_removed(self, room_id: str, event: dict[str, Any]) -> None:
        """The bot was kicked or banned, or left: nothing more goes there (sends are undeliverable)."""
        kicked_by = event.get("sender")
        log.info("matrix: the bot is no longer in a room (%s)", "removed" if kicked_by != self.user_id else "left")
        await self.store.forget_room(room_id)
        await self._hand_over(core_events.BotRemoved(await self._chat(room_id)))  # the room leaves its network

    async def _on_reaction(self, room_id: str, event: dict[str, Any], content: dict[str, Any]) -> None:
        """A number reaction on one of the bot's messages with choices is a button press."""
        found = translate.annotation(content)
        if found is None:
            return
        target, key = found
        index = render.choice_index(key)
        if index is None:
            return
        resp = await self.client.room_get_event(room_id, target)
        if isinstance(resp, RoomGetEventError):
            log.info("matrix: the message a reaction is on could not be read (%s)", _code(resp))
            return
        source = resp.event.source
        choices = (source.get("content") or {}).get(render.CHOICES_KEY)
        if source.get("sender") != self.user_id or not isinstance(choices, list) or index >= len(choices):
            return
        person = await self._person(room_id, event["sender"])
        await self._hand_over(ButtonPress(await self._chat(room_id), person, str(choices[index]), target))

    async def _encrypted(self, room_id: str) -> bool:
        resp = await self.client.room_get_state_event(room_id, "m.room.encryption")
        return not isinstance(resp, RoomGetStateEventError) and bool(getattr(resp, "content", None))

    async def _refuse_encrypted(self, room_id: str) -> None:
        """Say once, in Dutch and English, that Bamboe works only in unencrypted rooms; then leave.
        The transaction id is the room's, so replicas and retries never say it twice."""
        text = "\n\n".join(str(i18n.t(lang, "matrix.encrypted_room")) for lang in i18n.LANGUAGES)
        part = render.render_parts(text)[0]
        resp = await self.client.room_send(room_id, "m.room.message", part.content(),
                                           tx_id=f"{self.txn_prefix}.encrypted.{_safe(room_id)}")
        if isinstance(resp, ErrorResponse):
            log.warning("matrix: the encryption notice could not be sent (%s)", _code(resp))
        log.info("matrix: left an encrypted room")
        await self.store.forget_room(room_id)
        await self.client.room_leave(room_id)

    async def _encrypted_direct(self, room_id: str) -> None:
        """A direct room that is encrypted (the member's Element made it so, or the homeserver
        encrypts every private room, ``encryption_enabled_by_default_for_room_type``): the bot
        stays, since its own messages can be read there and a new room would be encrypted too,
        and says, in Dutch and English, that it cannot read what the member writes there. The
        transaction id is the room's: replicas and retries say it once (Synapse remembers it for
        about a day, so a member who goes on writing there hears it at most once a day)."""
        text = "\n\n".join(str(i18n.t(lang, "matrix.encrypted_direct")) for lang in i18n.LANGUAGES)
        resp = await self.client.room_send(room_id, "m.room.message", render.render_parts(text)[0].content(),
                                           tx_id=f"{self.txn_prefix}.encrypted-direct.{_safe(room_id)}")
        if isinstance(resp, ErrorResponse):
            log.warning("matrix: the encryption notice could not be sent (%s)", _code(resp))

    async def _chat(self, room_id: str) -> ChatRef:
        direct = await self.store.direct_with(room_id)
        if direct is not None:
            return ChatRef(PLATFORM, room_id, "", private=True)
        return ChatRef(PLATFORM, room_id, await self._room_name(room_id))

    async def _room_name(self, room_id: str) -> str:
        name = self._names.get(room_id)
        if name is None:
            resp = await self.client.room_get_state_event(room_id, "m.room.name")
            name = "" if isinstance(resp, RoomGetStateEventError) else str((resp.content or {}).get("name") or "")
            self._names.put(room_id, name)
        return name

    async def _person(self, room_id: str, user_id: str) -> Person:
        name = self._names.get((room_id, user_id))
        if name is None:
            resp = await self.client.room_get_state_event(room_id, "m.room.member", user_id)
            found = None if isinstance(resp, RoomGetStateEventError) else (resp.content or {}).get("displayname")
            name = found.strip() if isinstance(found, str) and found.strip() else translate.localpart(user_id)
            self._names.put((room_id, user_id), name)
        return Person(user_id, name)

    async def forget(self, user_id: str) -> None:
        """The person was erased (``bot.delivery.Sender``): drop their direct rooms and the display
        names cached for them."""
        await self.store.forget_person(user_id)
        self._forget_cached(user_id)

    def _forget_cached(self, user_id: str) -> None:
        for key in [k for k in self._names if isinstance(k, tuple) and k[1] == user_id]:
            self._names.pop(key, None)
        for room_id in [r for r, (inviter, _) in self._inviters.items() if inviter == user_id]:
            self._inviters.pop(room_id, None)

    async def housekeeping(self) -> None:
        """Hourly (``bamboe run``): forget a person's direct rooms once they have been an active
        member of no network on Matrix for :data:`~adapters.matrix.store.PERSON_KEEP` and have not
        written there for as long. The bot leaves those rooms and drops them from its ``m.direct``,
        so someone who comes back is met as the first time (the bot opens a new direct room). The
        display names cached of people who are an active member of no network go too."""
        seen_before = datetime.now(UTC) - PERSON_KEEP  # the time the rooms' times are written in
        forgotten = 0
        for user_id in await self.store.stale_people(self.clock.now() - PERSON_KEEP, seen_before):
            rooms = await self.store.forget_person(user_id, seen_before=seen_before)
            if not rooms:
                continue
            forgotten += 1
            self._forget_cached(user_id)
            for room_id in rooms:
                resp = await self.client.room_leave(room_id)
                if isinstance(resp, ErrorResponse):
                    log.warning("matrix: a forgotten direct room could not be left (%s)", _code(resp))
            direct = await self._account_data("m.direct")
            if user_id in direct:
                del direct[user_id]
                await self._set_account_data("m.direct", direct)
        cached = {k[1] for k in self._names if isinstance(k, tuple)}
        active = await self.store.active_people(cached)
        for key in [k for k in self._names if isinstance(k, tuple) and k[1] not in active]:
            self._names.pop(key, None)
        if forgotten:
            log.info("matrix: forgot the direct rooms of %s person(s) in no network for %s days", forgotten,
                     PERSON_KEEP.days)

    # ------------------------------------------------------------------ outbound
    async def send(self, message: Outgoing) -> str | None:
        """Send ``message``: its text in one or more events, then its files, each with a
        transaction id made of the outbox id, so a retry never makes a second copy; return the
        first event's id (what replies and threads refer to)."""
        if self._stopped:
            raise RuntimeError("matrix adapter stopped")
        if not self._started.is_set():
            try:
                await asyncio.wait_for(self._started.wait(), timeout=10)
            except TimeoutError:
                raise RuntimeError("matrix adapter not started") from None
        addr = message.address
        if addr.chat_id is not None:
            room = addr.chat_id
        elif addr.user_id is not None:
            room = await self._direct_room(addr.user_id)
        else:
            raise Undeliverable("no room and no user")
        text = str(message.text)
        parts = render.render_parts(text, message.buttons) if text.strip() or not message.files else []
        reply_to = message.reply_to if addr.chat_id is not None else None
        calls = 0
        first: str | None = None
        for index, part in enumerate(parts):
            content = part.content()
            _relate(content, addr.thread if addr.chat_id else None, reply_to if index == 0 else None)
            event_id = await self._put(room, "m.room.message", content, self._txn(message, f"p{index}"), calls)
            calls += 1
            first = first or event_id
            for number, _ in enumerate(part.choices):  # the number reactions, ready to click
                await self._put(room, "m.reaction", {"m.relates_to": {
                    "rel_type": "m.annotation", "event_id": event_id, "key": render.KEYCAPS[number]}},
                    self._txn(message, f"r{index}.{number}"), calls)
                calls += 1
        for index, file in enumerate(message.files):
            content = await self._file_content(file)
            _relate(content, addr.thread if addr.chat_id else None, reply_to if first is None else None)
            event_id = await self._put(room, "m.room.message", content, self._txn(message, f"f{index}"), calls)
            calls += 1
            first = first or event_id
        return first

    async def confirm(self, message: Outgoing, window: object = None) -> str | None:
        """For a row in doubt (a replica died while sending it): send it again. Every event carries
        the same transaction id as in the interrupted attempt, so the homeserver answers an event
        it already has with that event's id instead of posting it again (Synapse keeps transaction
        ids per device for a day), and sends only the parts still missing."""
        return await self.send(message)

    def _txn(self, message: Outgoing, part: str) -> str:
        """The transaction id of one event of ``message``: the same for every attempt."""
        if message.outbox_id is None:
            return f"{self.txn_prefix}.x{uuid.uuid4().hex}.{part}"
        return f"{self.txn_prefix}.{message.outbox_id}.{part}"

    async def _put(self, room: str, event_type: str, content: dict[str, Any], txn: str, calls: int = 0) -> str:
        """``PUT /rooms/{room}/send/{type}/{txn}``, with the homeserver's refusals translated; after
        the first call of a message, within delivery's pacing (:func:`bot.delivery.next_call`)."""
        if calls:
            await next_call()
        resp = await self.client.room_send(room, event_type, content, tx_id=txn)
        if isinstance(resp, ErrorResponse):
            code = _code(resp)
            if code == "M_LIMIT_EXCEEDED":
                raise RetryAfter((resp.retry_after_ms or 5000) / 1000)
            if code in FORBIDDEN:
                raise Undeliverable(code)
            raise RuntimeError(f"matrix send failed: {code}")
        return resp.event_id

    async def _file_content(self, file: Attachment) -> dict[str, Any]:
        """Upload ``file`` to the media repository; the ``m.image``/``m.file`` content that shows it.
        A retried upload stores the file again, but the event (with its transaction id) is sent once."""
        resp, _ = await self.client.upload(io.BytesIO(file.data), content_type=file.mime, filename=file.name,
                                           filesize=len(file.data))
        if not isinstance(resp, UploadResponse):
            if _code(resp) == "M_LIMIT_EXCEEDED":
                raise RetryAfter((getattr(resp, "retry_after_ms", None) or 5000) / 1000)
            if _code(resp) == "M_TOO_LARGE":
                raise Undeliverable("file too large for the homeserver")
            raise RuntimeError(f"matrix upload failed: {_code(resp)}")
        image = file.mime.lower() in IMAGE_TYPES
        return {"msgtype": "m.image" if image else "m.file", "body": file.name, "filename": file.name,
                "url": resp.content_uri, "info": {"mimetype": file.mime, "size": len(file.data)}, "m.mentions": {}}

    async def _direct_room(self, user_id: str) -> str:
        """The direct room with ``user_id``: the one kept in the database, else one the bot's
        ``m.direct`` lists and it is still in, else one the bot opened for them but did not get
        to record (:meth:`_unrecorded_direct_room`), else a new one (``is_direct``, recorded in
        ``m.direct``)."""
        room = await self.store.direct_room(user_id)
        if room is not None:
            return room
        direct = await self._account_data("m.direct")
        joined = await self.client.joined_rooms()
        mine = set(getattr(joined, "rooms", []) or [])
        for candidate in reversed(direct.get(user_id) or []):
            if candidate in mine and await self._member(candidate, user_id):
                await self.store.keep_direct_room(candidate, user_id)
                return candidate
        room = await self._unrecorded_direct_room(mine, user_id)
        if room is not None:
            await self._record_direct_room(direct, room, user_id)
            return room
        resp = await self.client.room_create(is_direct=True, invite=[user_id], preset=RoomPreset.trusted_private_chat)
        if isinstance(resp, RoomCreateError):
            code = _code(resp)
            if code == "M_LIMIT_EXCEEDED":
                raise RetryAfter((resp.retry_after_ms or 5000) / 1000)
            if code in ("M_FORBIDDEN", "M_NOT_FOUND", "M_UNKNOWN"):
                raise Undeliverable(f"cannot open a direct room ({code})")
            raise RuntimeError(f"matrix createRoom failed: {code}")
        await self._record_direct_room(direct, resp.room_id, user_id)
        return resp.room_id

    async def _record_direct_room(self, direct: dict[str, Any], room: str, user_id: str) -> None:
        """Keep ``room`` as the direct room with ``user_id``: in the database and in ``m.direct``."""
        await self.store.keep_direct_room(room, user_id)
        direct.setdefault(user_id, [])
        if room not in direct[user_id]:
            direct[user_id].append(room)
        await self._set_account_data("m.direct", direct)

    async def _unrecorded_direct_room(self, joined: set[str], user_id: str) -> str | None:
        """A room the bot is in that is neither a network's chat nor a known direct room, and that
        it opened for ``user_id`` (:func:`~adapters.matrix.translate.opened_for`): the one a replica
        opened before it stopped, between creating the room and recording it. Without this, the
        member would get a second invite from the bot. Such rooms are rare: this costs a look-up
        of the known rooms, and one state request per unknown room."""
        for room in sorted(joined - await self.store.known_rooms()):
            state = await self.client.room_get_state(room)
            if not isinstance(state, RoomGetStateError) and translate.opened_for(state.events, self.user_id, user_id):
                return room
        return None

    async def _member(self, room_id: str, user_id: str) -> bool:
        """True when ``user_id`` is joined to or invited into ``room_id``."""
        resp = await self.client.room_get_state_event(room_id, "m.room.member", user_id)
        if isinstance(resp, RoomGetStateEventError) or isinstance(resp, JoinedMembersError):
            return False
        return (resp.content or {}).get("membership") in ("join", "invite")

    def _account_data_path(self, kind: str) -> str:
        return f"/_matrix/client/v3/user/{quote(self.user_id, safe='')}/account_data/{quote(kind, safe='')}"

    async def _account_data(self, kind: str) -> dict[str, Any]:
        """The bot's global account data ``kind`` (empty when there is none)."""
        resp = await self.client.send("GET", self._account_data_path(kind), headers=self._auth())
        async with resp:
            if resp.status == 404:
                return {}
            if resp.status != 200:
                raise RuntimeError(f"matrix account data read failed ({resp.status})")
            data = await resp.json()
        return data if isinstance(data, dict) else {}

    async def _set_account_data(self, kind: str, value: dict[str, Any]) -> None:
        resp = await self.client.send("PUT", self._account_data_path(kind), json.dumps(value), headers=self._auth())
        async with resp:
            if resp.status != 200:
                log.warning("matrix: recording the direct room in m.direct failed (%s)", resp.status)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.client.access_token}", "Content-Type": "application/json"}


def _relate(content: dict[str, Any], thread: str | None, reply_to: str | None) -> None:
    """Put ``content`` in ``thread`` (``m.thread``) and/or make it a reply to ``reply_to``."""
    if thread:
        content["m.relates_to"] = {"rel_type": "m.thread", "event_id": thread,
                                   "is_falling_back": reply_to is None,
                                   "m.in_reply_to": {"event_id": reply_to or thread}}
    elif reply_to:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}


def _stripped(event: Any) -> dict[str, Any]:
    """An invite's stripped state event as JSON (nio keeps the content apart from ``source``)."""
    source = dict(getattr(event, "source", None) or {})
    content = getattr(event, "content", None)
    if "content" not in source and isinstance(content, dict):
        source["content"] = content
    return source


def _code(resp: Any) -> str:
    """The Matrix error code of a nio error response (or its class name)."""
    return str(getattr(resp, "status_code", None) or type(resp).__name__)


def _safe(value: str) -> str:
    """``value`` usable inside a transaction id."""
    return "".join(ch if ch.isalnum() else "_" for ch in value)[:80]


def build(settings: Settings, inbound: Any, commands: Sequence[Command] = ()) -> MatrixAdapter:
    """The factory ``bamboe run`` calls (see :data:`bamboe.runtime.ADAPTERS`)."""
    return MatrixAdapter(settings, inbound, commands=commands)
