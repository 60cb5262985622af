"""The core's one entry point: :meth:`Core.handle` takes an inbound event and decides.

Everything the core wants said is written to the outbox in the same transaction as the state
change it belongs to; :class:`bot.delivery.Delivery` hands the rows to the adapters.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import budget, directory, i18n
from bot.cleaning import clean, is_outage
from bot.clock import Clock
from bot.database import Database, defer_insert, defer_pending, is_conflict, mark_queued, sqlstate
from bot.events import (
    Address,
    Attachment,
    BotAdded,
    BotRemoved,
    Button,
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
from bot.jobs import Dispatcher, JobContext
from bot.markup import Markup, command
from bot.models import Chat, Member, MemberIdentity, Network, OutboxMessage, Pacing, conversation_key
from bot.parsing import UserError, first_word
from bot.platform import Capabilities
from bot.registry import Feature, Registry

log = logging.getLogger(__name__)

#: a message longer than this is not processed (answers and commands alike)
MAX_TEXT = 4000
#: how long the outbox keeps a message of no network (a private answer to someone who is a member
#: nowhere: no network's retention period covers it), whatever became of it; see docs/privacy.md
NETWORKLESS_KEPT = timedelta(days=30)
#: how long after a conversation's turn (``pacing``) it is forgotten: a turn long past and no row
#: mean the same, and a private conversation's key holds the person's platform id
PACING_KEPT = timedelta(days=1)
#: the pause, in seconds (drawn at random in this range), before an event whose transaction lost a
#: conflict with a concurrent one runs again: the two do not start over at the same moment
CONFLICT_PAUSE = (0.02, 0.2)
ROLES = ("trekker", "procesbegeleider", "deelnemer")
#: the roles that lead a network
LEADS = ROLES[:2]
#: what is assumed of a platform the core was not told about: no answers only the asker sees
_NO_EPHEMERAL = Capabilities(ephemeral=False)


@dataclass
class Ctx:
    """Everything a command or feature handler needs while one event is handled."""

    session: AsyncSession
    now: datetime
    network: Network
    chats: list[Chat]
    member: Member | None
    source: ChatRef | None = None
    message_id: str | None = None
    #: the platform user behind the event (also when they are not a member anywhere)
    person: Person | None = None
    out: list[Outgoing] = field(default_factory=list)
    #: run after the transaction committed (e.g. scrubbing the SQLite write-ahead log after an erasure)
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: the bot's features: the command table, hooks and events
    features: Registry = field(kw_only=True)
    #: what handlers looked up once for this event and may share (e.g. the message a reply answers)
    memo: dict[str, Any] = field(default_factory=dict)
    #: platform → what its adapter can do (:class:`Core` is told by the composition root); a
    #: platform not listed is taken to have no ephemeral answers, so a confidential answer goes privately
    platforms: Mapping[str, Capabilities] = field(default_factory=dict, kw_only=True)
    #: ids of the network's chats (``Chat.id``) that had an open action-learning round when the event's
    #: first query read them (None: not read, e.g. for a job or a private chat)
    open_rounds: frozenset[int] | None = field(default=None, kw_only=True)
    #: in a private chat of someone with no active membership: the one they left most recently, for
    #: the commands that let them still see and erase their data (``bot.features.privacy``) only
    former: Member | None = field(default=None, kw_only=True)

    @property
    def lang(self) -> str:
        """The network's language."""
        return self.network.language

    def t(self, key: str, /, **params: Any) -> Markup:
        """Render a prompt in the network's language."""
        return i18n.t(self.lang, key, **params)

    def group(self, kind: str, text: str, *, buttons: Iterable[Button] = (), thread: str | None = None,
              meta: dict[str, Any] | None = None, files: Iterable[Attachment] = (),
              chats: Iterable[Chat] | None = None) -> None:
        """Post ``text`` (and ``files``) in every chat of the network (or only in ``chats``).

        The copies share one ``meta`` dict, so a handler that adds to ``ctx.out[-1].meta`` after
        posting (the nudge's id) marks the message in every chat. ``thread`` belongs to one chat:
        it is only used when posting to a single chat.
        """
        files, shared = tuple(files), dict(meta or {})
        targets = list(self.chats if chats is None else chats)
        root = thread if len(targets) == 1 else None
        for chat in targets:
            self.out.append(Outgoing(Address(chat.platform, chat.chat_id, None, root), kind, text,
                                     tuple(buttons), shared, files=files))

    def private(self, member: Member, kind: str, text: str, *, buttons: Iterable[Button] = (),
                meta: dict[str, Any] | None = None, files: Iterable[Attachment] = ()) -> None:
        """Send ``text`` (and ``files``) to one member privately (never in the group).

        To the acting member: on the account they are writing from (a person who linked two
        accounts gets the answer where they asked); to anyone else: on their first account.
        """
        if member.active:
            self.farewell(member, kind, text, buttons=buttons, meta=meta, files=files)

    def farewell(self, member: Member, kind: str, text: str, *, buttons: Iterable[Button] = (),
                 meta: dict[str, Any] | None = None, files: Iterable[Attachment] = ()) -> None:
        """:meth:`private`, also to a member who left the network (to whom :meth:`private` sends
        nothing): the one note as they leave (what happened, how to come back), or the answer to
        their own request to see or erase their data."""
        platform, user_id = member.platform, member.user_id
        if member is self.member and self.source is not None and self.person is not None:
            platform, user_id = self.source.platform, self.person.user_id
        self.out.append(Outgoing(Address(platform, None, user_id), kind, text,
                                 tuple(buttons), dict(meta or {}), files=tuple(files)))

    def reply(self, kind: str, text: str, *, buttons: Iterable[Button] = ()) -> None:
        """Answer the member where they wrote; in a group only they see it where the platform can."""
        src = self.source
        # the identity the member wrote from: with linked identities, not always their first one
        if src is None or self.person is None:
            if self.member is not None:
                self.private(self.member, kind, text, buttons=buttons)
            return
        if src.private or self.member is None:
            self.out.append(Outgoing(Address(src.platform, None, self.person.user_id), kind, text, tuple(buttons)))
            return
        self.out.append(Outgoing(Address(src.platform, src.chat_id, self.person.user_id), kind, text,
                                 tuple(buttons), {}, ephemeral=True, reply_to=self.message_id))

    def confidential(self, kind: str, text: str, *, buttons: Iterable[Button] = ()) -> None:
        """Answer the asker with what only they may see (it names or counts members, or holds
        their own private data): shown to them alone in the group where their platform can
        (ephemeral), otherwise sent to them privately with a short neutral pointer in the group."""
        src = self.source
        if src is None or src.private or self.member is None or self.person is None \
                or self.platforms.get(src.platform, _NO_EPHEMERAL).ephemeral:
            self.reply(kind, text, buttons=buttons)  # privately, or ephemeral in the group
            return
        self.private(self.member, kind, text, buttons=buttons)
        self.reply("hint", self.t("common.sent_privately"))

    def require(self, *roles: str) -> Member:
        """The acting member, if their role is one of ``roles``; a friendly error otherwise."""
        if self.member is None:
            raise UserError("errors.unknown_member_self")
        if roles and self.member.role not in roles:
            names = f" {self.t('common.or')} ".join(self.t(f"roles.{r}") for r in roles)
            raise UserError("errors.role_required", roles=Markup(names))
        return self.member


class _Failed(Exception):
    """A handler failed: roll its transaction back, then answer with the text ``key``."""

    def __init__(self, key: str, params: dict[str, Any]) -> None:
        super().__init__(key)
        self.key, self.params = key, params


#: the row of the chat a removal is about, locked (PostgreSQL): removals of one chat take turns
_CHAT_TURN = (select(Chat.id).where(Chat.platform == bindparam("platform"), Chat.chat_id == bindparam("chat_id"))
              .with_for_update())


class Core:
    """The platform-neutral bot: one instance per process, built by the composition root."""

    def __init__(self, db: Database, clock: Clock, features: Iterable[Feature],
                 platforms: Mapping[str, Capabilities] | None = None) -> None:
        self.db = db
        self.clock = clock
        self.features = Registry.of(features)
        #: platform → its adapter's capabilities (the composition root adds each adapter's); the
        #: core never asks which platform it is, only what the asker's can do (``Ctx.confidential``)
        self.platforms: dict[str, Capabilities] = dict(platforms or {})
        self.dispatcher = Dispatcher(db, clock, self.features.jobs, features=self.features)

    # ------------------------------------------------------------------ inbound
    async def handle(self, event: InboundEvent) -> list[Outgoing]:
        """Handle one inbound event; return the messages it produced (already in the outbox).

        Every string of the event is cleaned first (:func:`bot.cleaning.clean`). Raises
        :class:`~bot.events.Unavailable` when the database cannot be reached (nothing was stored):
        the adapter should have the platform deliver the event again later. A database error that
        the same event would raise again (a data or integrity error) is not an outage: the event
        is tried once more (a conflict with another replica's insert passes then), and otherwise
        dropped with a log line (without its text) and no answer, so the adapter moves on.

        A transaction that lost a conflict with a concurrent one (PostgreSQL: a deadlock or a
        serialization failure, :func:`bot.database.is_conflict`) was rolled back whole: nothing of
        it is stored, none of its messages is in the outbox. The event then runs once more from its
        start, in a new transaction, after a short random pause (:data:`CONFLICT_PAUSE`); when that
        loses a conflict too, the member gets the generic error, logged without the event's text.
        """
        event = clean(event)
        for attempt in (1, 2):
            try:
                stored, after_commit = await self._handle(event, last=attempt == 2)
            except (DBAPIError, OSError, TimeoutError) as exc:
                if attempt == 1 and is_conflict(exc):
                    log.info("inbound %s lost a conflict with another transaction (SQLSTATE %s): run once more",
                             type(event).__name__, sqlstate(exc) or "-")
                    await asyncio.sleep(random.uniform(*CONFLICT_PAUSE))
                    continue
                if is_outage(exc):
                    log.warning("inbound %s not handled: database unavailable (%s)", type(event).__name__,
                                type(exc).__name__)
                    raise Unavailable from exc
                if attempt == 2:
                    orig = getattr(exc, "orig", None)
                    log.error("inbound %s dropped: the database refused it (%s, SQLSTATE %s)", type(event).__name__,
                              type(orig).__name__, sqlstate(exc) or "-")
                continue
            for callback in after_commit:  # outside the attempts: its transaction committed
                await callback()
            return stored
        return []

    async def _handle(self, event: InboundEvent, *, last: bool = True,
                      ) -> tuple[list[Outgoing], list[Callable[[], Awaitable[None]]]]:
        """One transaction; when the handler fails, it is rolled back whole (nothing of the failed
        command is kept) and a second one answers with the error. No savepoint around the
        handler: on every event it would cost more than most handlers, for a rare failure.

        A conflict with a concurrent transaction (:func:`bot.database.is_conflict`), wherever in
        the transaction it comes (the handler, the outbox rows, the commit), goes up to
        :meth:`handle`, which runs the event again; on the ``last`` attempt it is answered with
        the generic error instead. Returns the stored messages and what to run after the commit."""
        now = self.clock.now()
        try:
            try:
                async with self.db.transaction() as session:
                    ctx = await self._context(session, event, now)
                    if ctx is None:
                        return [], []
                    try:
                        await self._route(ctx, event)
                    except UserError as err:
                        raise _Failed(err.key, err.params) from err
                    except Exception as exc:
                        if is_conflict(exc):
                            raise  # the whole transaction lost, not the handler: see below
                        log.exception("handler failed for %s", type(event).__name__)
                        raise _Failed("errors.internal", {}) from exc
                    stored = await self._store(ctx, now)
            except DBAPIError as exc:
                if not (last and is_conflict(exc)):
                    raise
                log.error("inbound %s lost a conflict with another transaction in its last attempt (SQLSTATE %s): "
                          "answered with the generic error", type(event).__name__, sqlstate(exc) or "-")
                raise _Failed("errors.internal", {}) from exc
        except _Failed as failed:
            async with self.db.transaction() as session:
                ctx = await self._context(session, event, now)
                if ctx is None:
                    return [], []
                ctx.reply("error", ctx.t(failed.key, **failed.params))
                stored = await self._store(ctx, now)
        return stored, ctx.after_commit

    @staticmethod
    async def _store(ctx: Ctx, now: datetime) -> list[Outgoing]:
        """Keep to the message budget and write what goes out to the outbox."""
        if ctx.network.id:
            await budget.settle(ctx)
        return await store_outgoing(ctx.session, ctx.network.id, ctx.out, now)

    async def _context(self, session: AsyncSession, event: InboundEvent, now: datetime) -> Ctx | None:
        chat_ref = event.chat
        if isinstance(event, MessageEdited | MessageDeleted):
            return await self._message_context(session, event, now)
        if isinstance(event, BotRemoved | ChatMoved | ChatRenamed):  # never makes a network: only the chat's own
            if session.bind.dialect.name == "postgresql":
                # one removal may come as two events, to two replicas at once: the second waits for the
                # first to commit and then finds the chat gone (SQLite's BEGIN IMMEDIATE serialises anyway)
                await session.execute(_CHAT_TURN, {"platform": chat_ref.platform, "chat_id": chat_ref.chat_id})
            network, chats = await directory.network_of_chat(session, chat_ref.platform, chat_ref.chat_id)
            if network is None or chat_ref.private:
                return None
            return Ctx(session, now, network, chats, None, chat_ref, features=self.features,
                       platforms=self.platforms)
        person = event.person if isinstance(event, MemberJoined | MemberLeft) else (
            event.added_by if isinstance(event, BotAdded) else event.sender)
        message_id = getattr(event, "message_id", None)
        if chat_ref.private:
            if person is None:
                return None
            await release_waiting(session, chat_ref.platform, person.user_id)
            member = await directory.member_for_private_chat(session, chat_ref.platform, person.user_id)
            if member is None:  # someone writes the bot privately without being in any network (now)
                former = await directory.former_member_for_private_chat(session, chat_ref.platform, person.user_id)
                return Ctx(session, now, Network(language=i18n.DEFAULT_LANGUAGE, id=0), [], None, chat_ref,
                           message_id, person, features=self.features, platforms=self.platforms, former=former)
            network, chats = await directory.network_with_chats(session, member.network_id)
            return Ctx(session, now, network, chats, member, chat_ref, message_id, person, features=self.features,
                       platforms=self.platforms)
        present = person is not None and not isinstance(event, MemberLeft)  # who is in this chat now
        found = await directory.ensure_network(session, chat_ref, now, person and person.user_id, present=present)
        network, created, member = found.network, found.created, None
        if present:
            member = await directory.ensure_member(session, network, chat_ref.platform, person, now,
                                                   as_trekker=created, first=found.member)
        elif person is not None:
            member = await directory.find_by_platform_id(session, network.id, chat_ref.platform, person.user_id,
                                                         first=found.member)
        ctx = Ctx(session, now, network, found.chats, member, chat_ref, message_id, person, features=self.features,
                  platforms=self.platforms, open_rounds=found.open_rounds)
        if created:
            await self.features.plan_network(session, network, now)
            for hook in self.features.hooks("on_network_created"):
                await hook(ctx)
        return ctx

    async def _message_context(self, session: AsyncSession, event: MessageEdited | MessageDeleted,
                               now: datetime) -> Ctx:
        """The context of an edit or a deletion: never makes a network or a member (an edit is no
        sign of presence, a deletion has no author to go by). The message is found by its platform
        id, so a chat or a person the core does not know gets a context without network (id 0)."""
        chat_ref, person = event.chat, getattr(event, "person", None)
        network, chats, member = None, [], None
        if chat_ref.private:
            if person is not None:
                member = await directory.member_for_private_chat(session, chat_ref.platform, person.user_id)
            if member is not None:
                network, chats = await directory.network_with_chats(session, member.network_id)
        else:
            network, chats = await directory.network_of_chat(session, chat_ref.platform, chat_ref.chat_id)
            if network is not None and person is not None:
                member = await directory.find_by_platform_id(session, network.id, chat_ref.platform, person.user_id)
        if network is None:
            network, chats, member = Network(language=i18n.DEFAULT_LANGUAGE, id=0), [], None
        return Ctx(session, now, network, chats, member, chat_ref, event.message_id, person, features=self.features,
                   platforms=self.platforms)

    async def _route(self, ctx: Ctx, event: InboundEvent) -> None:
        if isinstance(event, MessageEdited):
            await on_edit(ctx, event)
        elif isinstance(event, MessageDeleted):
            for hook in self.features.hooks("on_delete"):
                await hook(ctx, event)
        elif isinstance(event, MessageIn):
            await on_message(ctx, event)
        elif isinstance(event, ButtonPress):
            await on_button(ctx, event)
        elif isinstance(event, MemberJoined):
            if ctx.member is not None:
                for hook in self.features.hooks("on_join"):
                    await hook(ctx, ctx.member)
        elif isinstance(event, MemberLeft):
            here = directory.chat_row(ctx.chats, event.chat)
            if ctx.member is not None and ctx.member.active and ctx.person is not None and here is not None \
                    and await directory.leave_chat(ctx.session, ctx.chats, here, ctx.person.user_id):
                return  # still in another chat of the network on this platform: nothing changes
            if ctx.member is not None and ctx.member.active and ctx.person is not None and \
                    await directory.drop_identity(ctx.session, ctx.member, event.chat.platform, ctx.person.user_id):
                return  # a linked person left one of their chats: still in the network through another
            if ctx.member is not None and ctx.member.active:  # they get nothing more and stop counting
                ctx.member.active = False
                ctx.member.left_at = ctx.now
                for hook in self.features.hooks("on_leave"):
                    await hook(ctx, ctx.member)
        elif isinstance(event, BotRemoved):
            await self._bot_removed(ctx, closed=event.closed)
        elif isinstance(event, ChatMoved):
            await self._chat_moved(ctx, event.to)
        elif isinstance(event, ChatRenamed):
            await self._chat_renamed(ctx, event.title)
        # BotAdded: the network (and its trekker) was made while building the context

    async def _bot_removed(self, ctx: Ctx, *, closed: str | None = None) -> None:
        """The chat leaves its network (as with ``/koppel los``); its members who are in no other
        chat of the network leave; the trekker hears of it privately, and the features' hooks
        tell whoever else should know (a trekker who left with the chat). A network left without
        chats goes quiet: its jobs find no chat to post in and no member to remind. A chat that was
        ``closed`` (archived or deleted) is handled the same; only the notes differ (it has to be
        taken out of the archive, or restored, to come back)."""
        here = directory.chat_row(ctx.chats, ctx.source) if ctx.source is not None else None
        if here is None:
            return
        staying = [c for c in ctx.chats if c.id != here.id]
        members = await directory.active_members(ctx.session, ctx.network.id)
        ctx.chats = staying
        leavers = []
        for member in members:
            if not staying or not await directory.present_without(ctx.session, member, here, staying):
                member.active = False
                member.left_at = ctx.now
                leavers.append(member)
                for hook in self.features.hooks("on_leave"):
                    await hook(ctx, member)
        for hook in self.features.hooks("on_chat_removed"):
            await hook(ctx, here, leavers, closed)
        label = here.title or ctx.network.name
        if ctx.network.name_chat_id == here.id:  # the name stays; no other chat renames it
            ctx.network.name_chat_id = None
        await ctx.session.delete(here)
        await ctx.session.flush()
        if staying:
            for member in members:
                if member.active and member.role == "trekker":
                    ctx.private(member, "link", ctx.t(f"members.{closed}" if closed else "members.bot_removed",
                                                      chat=label))

    async def _chat_moved(self, ctx: Ctx, to: ChatRef) -> None:
        """The chat goes on as ``to``: its row (and so its network, members and history) takes the
        new id, and its messages not yet sent go there. Nothing is said: the members moved too."""
        here = directory.chat_row(ctx.chats, ctx.source) if ctx.source is not None else None
        if here is None or to.platform != here.platform:
            return
        if await ctx.session.scalar(select(Chat.id).where(Chat.platform == to.platform, Chat.chat_id == to.chat_id)):
            log.warning("a %s chat moved to a chat that is already a network's: kept where it was", to.platform)
            return
        old = here.chat_id
        here.chat_id = to.chat_id
        if to.title.strip():
            here.title = to.title[:200]
        await ctx.session.execute(update(OutboxMessage).where(
            OutboxMessage.platform == to.platform, OutboxMessage.chat_id == old, OutboxMessage.state == "pending")
            .values(chat_id=to.chat_id, chat_key=conversation_key(to.chat_id)))
        await ctx.session.flush()

    async def _chat_renamed(self, ctx: Ctx, title: str) -> None:
        """The chat's new ``title`` is kept (for the chat lists and notes that name it); the network
        takes it as its name while it is named after this chat (:attr:`Network.name_chat_id`: the
        chat it was made for, until the trekker chose a name). A title without a letter or digit
        changes nothing. Nothing is said: ``/netwerk`` and ``/status`` show the new name."""
        here = directory.chat_row(ctx.chats, ctx.source) if ctx.source is not None else None
        name = directory.name_from_title(title)
        if here is None or name is None:
            return
        here.title = name  # the title on one line, as the name it gives
        if ctx.network.name_chat_id == here.id:
            ctx.network.name = name
        await ctx.session.flush()

    async def private_not_started(self, row: OutboxMessage, link: str | None, prompt: str | None = None) -> None:
        """A private message waits until its person starts a chat with the bot: tell them in the
        group how to (once per waiting spell, not once per message), with the platform's own note
        ``prompt`` where it has one."""
        async with self.db.transaction() as session:
            others = await session.scalar(select(OutboxMessage.id).where(
                OutboxMessage.state == "waiting", OutboxMessage.platform == row.platform,
                OutboxMessage.user_id == row.user_id, OutboxMessage.chat_id.is_(None),
                OutboxMessage.id != row.id).limit(1))
            network = await session.get(Network, row.network_id) if row.network_id else None
            member = await session.get(Member, row.member_id) if row.member_id else None
            if others is not None or network is None or member is None or not member.active:
                return
            chats = [c for c in await directory.chats_of(session, network.id) if c.platform == row.platform]
            ctx = Ctx(session, self.clock.now(), network, chats, member, features=self.features)
            key = prompt or ("delivery.start_private_link" if link else "delivery.start_private")
            ctx.group("start_private", ctx.t(key, name=member.name, link=link or ""))
            await store_outgoing(session, network.id, ctx.out, ctx.now)

    async def run_due(self) -> int:
        """Run planned work that is due now."""
        return await self.dispatcher.run_due()

    async def housekeeping(self) -> int:
        """Remove what is kept only for a while and falls under no network (``bamboe run`` calls
        this hourly, with the adapters' housekeeping; every replica may, the deletes do not mind):
        outbox rows of no network older than :data:`NETWORKLESS_KEPT` (sent, failed or cancelled,
        or waiting for their person; one still to be sent goes once it is), and the turns of
        conversations (:class:`~bot.models.Pacing`, not a platform's own row) more than
        :data:`PACING_KEPT` past. Returns how many rows went (a count only: never a name or an id)."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            gone = (await session.execute(_NETWORKLESS, {"cutoff": now - NETWORKLESS_KEPT})).rowcount or 0
            gone += (await session.execute(_PAST_TURNS, {"cutoff": now - PACING_KEPT})).rowcount or 0
        return gone

# ---------------------------------------------------------------------- routing
def split_command(text: str, *, addressed: bool = False,
                  table: Registry | None = None) -> tuple[str, str] | None:
    """``"/Status@bamboe_bot  x y"`` → ``("status", "x y")``; None when not a command. The name ends
    at any whitespace, a new line too (``/vier`` with its text on the next line is ``/vier``).

    ``addressed`` (the member spoke to the bot, e.g. by an @mention in Teams): a leading word that
    is a command in ``table`` counts as one without its ``/``.
    """
    stripped = text.strip()
    if not stripped.startswith("/"):
        if not addressed or table is None:
            return None
        head, rest = first_word(stripped)
        name = head.lower()
        return (name, rest) if name in table.table else None
    if len(stripped) < 2 or stripped[1].isspace():  # "/ pauze" is no command
        return None
    head, rest = first_word(stripped[1:])
    name = head.split("@", 1)[0].lower()
    if not name:
        return None
    return name, rest


async def on_message(ctx: Ctx, msg: MessageIn) -> None:
    """Route a text message: a command, or one of the features' message hooks."""
    if len(msg.text) > MAX_TEXT:
        ctx.reply("hint", ctx.t("errors.too_long", limit=MAX_TEXT, length=len(msg.text)))
        return
    for screen in ctx.features.hooks("text_screens"):  # e.g. masking a citizen's personal data first
        msg = screen(ctx, msg)
    parsed = split_command(msg.text, addressed=msg.addressed, table=ctx.features)
    if parsed is not None:
        await run_command(ctx, *parsed)
        return
    for hook in ctx.features.hooks("message_hooks"):
        if await hook(ctx, msg):
            return
    if ctx.source is not None and ctx.source.private:
        ctx.reply("help", ctx.t("help.private_hint"))


async def on_edit(ctx: Ctx, edit: MessageEdited) -> None:
    """An edited message: its new text goes through the same screens as a new message's (masking
    personal data), then to the features that kept something of it. An edit too long to take as a
    message, or one that leaves no text, reaches them with an empty text: they drop what they kept
    (an answer one could not send like this is not kept either). Nothing is said in the group."""
    text = edit.text if len(edit.text) <= MAX_TEXT else ""
    if text.strip():
        msg = MessageIn(edit.chat, edit.person, text, edit.message_id)
        for screen in ctx.features.hooks("text_screens"):
            msg = screen(ctx, msg)
        text = msg.text
    edit = MessageEdited(edit.chat, edit.person, edit.message_id, text)
    for hook in ctx.features.hooks("on_edit"):
        await hook(ctx, edit)


async def run_command(ctx: Ctx, name: str, args: str) -> None:
    """Run command ``name`` with ``args`` after checking its role gate."""
    cmd = ctx.features.table.get(name)
    if cmd is None:
        raise UserError("errors.unknown_command", command=command(name[:40]))
    if ctx.network.id == 0 and cmd.name not in ("help", "start") and not cmd.former:  # a former one: see privacy
        raise UserError("errors.no_network")
    await _maybe_first_trekker(ctx)
    if cmd.roles is not None:
        ctx.require(*cmd.roles)
    await cmd.handler(ctx, args)


async def _maybe_first_trekker(ctx: Ctx) -> None:
    """With no trekker or procesbegeleider yet, the first member to use a command leads."""
    if ctx.member is None or ctx.member.role != "deelnemer":
        return
    if not await directory.has_leads(ctx.session, ctx.network.id):
        ctx.member.role = "trekker"
        ctx.reply("help", ctx.t("network.you_are_trekker"))


async def on_button(ctx: Ctx, press: ButtonPress) -> None:
    """Route a button press by the prefix of its action (``prefix:rest``)."""
    prefix, _, rest = press.action.partition(":")
    handler = ctx.features.buttons.get(prefix)
    if handler is None:
        raise UserError("errors.unknown_button")
    await handler(ctx, rest)


async def store_outgoing(session: AsyncSession, network_id: int | None, messages: list[Outgoing],
                         now: datetime) -> list[Outgoing]:
    """Write ``messages`` to the outbox now (one statement); return them with their outbox ids."""
    rows = await outbox_rows(session, network_id, messages, now)
    if not rows:
        return []
    stored = await (await session.connection()).execute(_STORE, rows)
    return [outgoing_from_row(row) for row in stored]


#: the outbox rows of no network made before ``:cutoff`` (found by ``ix_outbox_network_created``) that
#: are done with, or wait for their person to open a private chat: never one queued or being sent
_NETWORKLESS = delete(OutboxMessage).where(OutboxMessage.network_id.is_(None),
                                           OutboxMessage.created_at < bindparam("cutoff"),
                                           OutboxMessage.state.in_(("sent", "failed", "cancelled", "waiting")))
#: the conversations' turns (``<platform>|<chat_key>``; a platform's own row has no ``|``) before ``:cutoff``
_PAST_TURNS = delete(Pacing).where(Pacing.key.contains("|", autoescape=True), Pacing.next_at < bindparam("cutoff"))

#: outbox rows, returned as stored (ids and defaults) in the order given (built once: building a
#: statement costs as much as running it)
_STORE = insert(OutboxMessage.__table__).returning(*OutboxMessage.__table__.c, sort_by_parameter_order=True)


#: the members of network ``:network`` with one of the user ids ``:users``, by their first or by a
#: linked identity (built once: building a statement costs as much as running it)
_RECIPIENTS = select(Member.platform, Member.user_id, Member.id).where(
    Member.network_id == bindparam("network"), Member.user_id.in_(bindparam("users", expanding=True)))
_LINKED_RECIPIENTS = select(MemberIdentity.platform, MemberIdentity.user_id, MemberIdentity.member_id).where(
    MemberIdentity.network_id == bindparam("network"), MemberIdentity.user_id.in_(bindparam("users", expanding=True)))


async def outbox_rows(session: AsyncSession, network_id: int | None, messages: list[Outgoing],
                      now: datetime) -> list[dict[str, Any]]:
    """The outbox rows (plain column values) of ``messages``, their recipients' member ids looked
    up; the caller writes them. Plain rows, not ORM objects: nothing in the transaction changes or
    reads them back, and the unit of work would cost more than the INSERT."""
    rows = []
    user_ids = {m.address.user_id for m in messages if m.address.user_id}
    members: dict[tuple[str, str], int] = {}
    if user_ids and network_id:  # one query for all recipients, not one per message
        params = {"network": network_id, "users": sorted(user_ids)}
        members = {(p, u): i for p, u, i in await session.execute(_RECIPIENTS, params)}
        if user_ids - {u for _, u in members}:  # identities a member linked (a person in two chats)
            members.update({(p, u): i for p, u, i in await session.execute(_LINKED_RECIPIENTS, params)})
    for msg in messages:
        member_id = members.get((msg.address.platform, msg.address.user_id or ""))
        rows.append({
            "network_id": network_id or None, "platform": msg.address.platform, "chat_id": msg.address.chat_id,
            "user_id": msg.address.user_id, "thread": msg.address.thread, "member_id": member_id, "kind": msg.kind,
            "text": str(msg.text), "buttons": [[b.label, b.action] for b in msg.buttons], "meta": msg.meta,
            "ephemeral": msg.ephemeral, "reply_to": msg.reply_to, "created_at": now,
            "files": [{"name": f.name, "mime": f.mime, "data": base64.b64encode(f.data).decode()} for f in msg.files],
        })
    if rows:
        mark_queued(session)
    return rows


async def release_waiting(session: AsyncSession, platform: str, user_id: str) -> int:
    """Queue again the private messages that waited for this person to start a chat with the bot."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.state == "waiting", OutboxMessage.platform == platform,
               OutboxMessage.user_id == user_id, OutboxMessage.chat_id.is_(None))
        .values(state="pending", lease_until=None))
    if result.rowcount:
        mark_queued(session)
    return result.rowcount or 0


def network_job(fn: Callable[[Ctx, JobContext], Awaitable[None]]) -> Callable[[JobContext], Awaitable[None]]:
    """Wrap a job handler so it gets a :class:`Ctx` for its network and its messages are stored."""

    async def run(jc: JobContext) -> None:
        if jc.chats is not None:  # loaded with the job
            network, chats = jc.network, jc.chats
        else:
            network, chats = await directory.network_with_chats(jc.session, jc.job.network_id)
        if network is None:
            return
        ctx = Ctx(jc.session, jc.now, network, chats, None, features=jc.features)
        decision = await budget.admit(ctx, jc)
        if decision in ("run", "hold"):
            await fn(ctx, jc)
            if jc.postpone_to is None:
                await budget.settle(ctx, jc, decision)
        # the ledger entries and the outbox rows with Core INSERTs, written with the job's own row
        defer_pending(jc.session, budget.pending_entries(ctx))
        for row in await outbox_rows(jc.session, network.id, ctx.out, jc.now):
            defer_insert(jc.session, OutboxMessage.__table__, row)

    run.__name__ = fn.__name__
    run.inner = fn  # the budget runs a job due a moment later inside this one, to merge their posts
    run.__doc__ = fn.__doc__
    return run


def outgoing_from_row(row: OutboxMessage) -> Outgoing:
    """Rebuild the :class:`Outgoing` stored in an outbox row."""
    return Outgoing(
        Address(row.platform, row.chat_id, row.user_id, row.thread), row.kind, Markup(row.text),
        tuple(Button(label, action) for label, action in row.buttons), dict(row.meta or {}), row.id,
        ephemeral=row.ephemeral, reply_to=row.reply_to,
        files=tuple(Attachment(f["name"], f["mime"], base64.b64decode(f["data"])) for f in row.files or ()),
    )

