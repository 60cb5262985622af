"""One network, several chats (PRODUCT §3.1): ``/koppel`` links a chat on any platform to the
network, ``/ikben`` links one person's identities so they are counted, reminded and erased once.

Both work with a one-time code: made on request, sent privately to the person who asked (never in a
group, where someone else could use it), stored only as its SHA-256 hash, valid for 24 hours and
spent by its first use.

A person is one :class:`~bot.models.Member` row; identities they link are
:class:`~bot.models.MemberIdentity` rows of that member. Linking merges the second member row into
the first (everything that pointed at it moves over), so no count anywhere has to deduplicate.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import UniqueConstraint, and_, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import directory, i18n
from bot.core import LEADS, Ctx, store_outgoing
from bot.features import rhythm
from bot.features.network import take_the_role, without_trekker
from bot.markup import TYPED, Markup, command, typed_on
from bot.models import (
    Action,
    Announcement,
    Answer,
    Base,
    Celebration,
    Chat,
    CustomQuestion,
    LinkCode,
    LogEntry,
    Meeting,
    Member,
    MemberIdentity,
    Network,
    Nudge,
    OutboxMessage,
    Round,
)
from bot.parsing import UserError, number
from bot.registry import Command, Feature

CODE_VALID = timedelta(hours=24)
#: no 0/O, 1/I/L: a code is read from one screen and typed on another
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
UNLINK_WORDS = ("los", "ontkoppel", "unlink", "remove")
REPLACE_WORDS = ("vervang", "replace")
ROLE_RANK = {"deelnemer": 0, "procesbegeleider": 1, "trekker": 2}
#: what counts as a network's own history (a chat with any of it is only linked on ``vervang``)
HISTORY = {
    "answers": lambda n: select(func.count(Answer.id)).join(Nudge, Nudge.id == Answer.nudge_id)
    .where(Nudge.network_id == n),
    "meetings": lambda n: select(func.count(Meeting.id)).where(Meeting.network_id == n),
    "rounds": lambda n: select(func.count(Round.id)).where(Round.network_id == n),
    "actions": lambda n: select(func.count(Action.id)).where(Action.network_id == n),
    "announcements": lambda n: select(func.count(Announcement.id)).where(Announcement.network_id == n),
    "log": lambda n: select(func.count(LogEntry.id)).where(LogEntry.network_id == n),
    "celebrations": lambda n: select(func.count(Celebration.id)).where(Celebration.network_id == n,
                                                                        Celebration.source != "milestone"),
    "questions": lambda n: select(func.count(CustomQuestion.id)).where(CustomQuestion.network_id == n),
}


# ---------------------------------------------------------------------------- codes
def code_hash(code: str) -> str:
    """The stored form of a code: SHA-256 of its normalised text (case, spaces and dashes ignored)."""
    normal = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(normal.encode()).hexdigest()


async def new_code(ctx: Ctx, kind: str, member: Member | None = None) -> str:
    """Make a one-time code of ``kind`` for the acting member (or ``member``, of its own network);
    only its hash is stored."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    member = member or ctx.member
    ctx.session.add(LinkCode(code_hash=code_hash(raw), kind=kind, network_id=member.network_id,
                             member_id=member.id, created_at=ctx.now,
                             expires_at=ctx.now + CODE_VALID))
    return f"{raw[:4]}-{raw[4:]}"


def shown(ctx: Ctx, name: str, rest: str = "") -> Markup:
    """A command reference by its name in the network's language (``/koppel``, ``/link``)."""
    cmd = ctx.features.table[name].shown(ctx.lang)
    return command(f"{cmd} {rest}" if rest else cmd)


def shown_on(ctx: Ctx, platform: str, name: str, rest: str = "", *, group: bool = True) -> Markup:
    """A command to be typed in a chat on ``platform`` (not necessarily the one this text goes to),
    written the way it is typed there; the usual reference when the platform is not known."""
    cmd = ctx.features.table[name].shown(ctx.lang)
    return typed_on(platform, f"{cmd} {rest}" if rest else cmd, group=group) or shown(ctx, name, rest)


def shown_anywhere(ctx: Ctx, name: str, rest: str = "", *, group: bool = True) -> Markup:
    """A command to be typed in a chat whose platform is not known: its form on each platform the
    bot runs on (``/koppel X (Telegram), !koppel X (Matrix)``); the usual reference when none is known."""
    forms = [ctx.t("link.typed_on", command=shown_on(ctx, p, name, rest, group=group),
                   platform=platform_name(ctx, p)) for p in TYPED if p in ctx.platforms]
    return Markup(", ".join(forms)) if forms else shown(ctx, name, rest)


async def spend_code(ctx: Ctx, code: str, kind: str, again: str) -> LinkCode:
    """The valid code row for ``code`` (marked used); a friendly error when unknown, spent or expired."""
    row = await ctx.session.scalar(select(LinkCode).where(LinkCode.code_hash == code_hash(code),
                                                          LinkCode.kind == kind))
    if row is None:
        raise UserError("link.code_unknown", again=shown_anywhere(ctx, again))
    if row.used_at is not None:
        raise UserError("link.code_used", again=shown_anywhere(ctx, again))
    if row.expires_at <= ctx.now:
        raise UserError("link.code_expired", again=shown_anywhere(ctx, again))
    row.used_at = ctx.now
    return row


async def _renewed_for_leaver(ctx: Ctx, code: str) -> bool:
    """A chat code made for a lead who left with a chat that removed the bot
    (:func:`on_chat_removed`), typed after it expired by that same person: they cannot ask for a new
    one with ``/koppel`` (they are no longer in the network), so they get a new one privately and
    hear so here; True when that happened. Anyone else typing it is told it expired."""
    row = await ctx.session.scalar(select(LinkCode).where(LinkCode.code_hash == code_hash(code),
                                                          LinkCode.kind == "chat"))
    if row is None or row.used_at is not None or row.expires_at > ctx.now:
        return False
    member = await ctx.session.get(Member, row.member_id)
    if (member is None or member.active or member.role not in LEADS or ctx.member is None or ctx.person is None
            or (ctx.source.platform, ctx.person.user_id) not in await directory.identities_of(ctx.session, member)):
        return False
    network = await ctx.session.get(Network, row.network_id)
    fresh = await new_code(ctx, "chat", member)
    ctx.private(ctx.member, "link", ctx.t("link.code_renewed", code=fresh, network=network.name,
                                          typed=shown_on(ctx, ctx.source.platform, "koppel", fresh)))
    ctx.reply("status", ctx.t("link.code_expired_renewed"))
    return True


def platform_name(ctx: Ctx, platform: str) -> str:
    """``Telegram``, ``Teams``…: the platform's name as members know it."""
    key = f"link.platforms.{platform}"
    return str(i18n.t(ctx.lang, key)) if i18n.has(ctx.lang, key) else platform


def chat_label(ctx: Ctx, chat: Chat) -> Markup:
    """``Buurtgroep (Telegram)``."""
    return ctx.t("link.chat_label", title=chat.title or ctx.t("link.untitled"),
                 platform=platform_name(ctx, chat.platform))


# ---------------------------------------------------------------------------- merging
async def merge_members(session: AsyncSession, keep: Member, drop: Member, now: datetime) -> None:
    """One person: ``drop`` becomes an identity of ``keep``. Everything that pointed at ``drop``
    (answers, actions, reads, …: every foreign key to ``members``) points at ``keep`` afterwards;
    a row that would then exist twice (a read of the same announcement) is kept once."""
    await session.flush()
    members_id = Member.__table__.c.id
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column is not members_id:
                continue
            col = fk.parent
            for unique in (c for c in table.constraints if isinstance(c, UniqueConstraint) and col.name in c.columns):
                twin = table.alias()
                same = [twin.c[c.name] == table.c[c.name] for c in unique.columns if c is not col]
                await session.execute(delete(table).where(col == drop.id, exists().where(
                    and_(twin.c[col.name] == keep.id, *same))))
            await session.execute(update(table).where(col == drop.id).values({col.name: keep.id}))
    await session.execute(update(MemberIdentity).where(MemberIdentity.member_id == keep.id)
                          .values(network_id=keep.network_id))
    network = await session.get(Network, keep.network_id)
    if network is not None and network.penvoerder_id == drop.id:
        network.penvoerder_id = keep.id
    if ROLE_RANK.get(drop.role, 0) > ROLE_RANK.get(keep.role, 0):
        keep.role = drop.role
    keep.perspective = keep.perspective or drop.perspective
    keep.goal = keep.goal or drop.goal
    keep.quote_consent = keep.quote_consent or drop.quote_consent
    keep.joined_at = min(keep.joined_at, drop.joined_at)
    rhythm.keep_pauses(keep, [*rhythm.pauses(keep), *rhythm.pauses(drop)])  # each account's, every one
    keep.active, keep.left_at = True, None
    platform, user_id = drop.platform, drop.user_id
    await session.delete(drop)
    await session.flush()
    session.add(MemberIdentity(member_id=keep.id, network_id=keep.network_id, platform=platform,
                               user_id=user_id, linked_at=now))
    await session.flush()


async def absorb(session: AsyncSession, old: Network, into: Network, now: datetime) -> None:
    """Move the people and chats of network ``old`` into ``into`` and remove ``old`` with everything
    else it had (its settings, planned work, history; its outbox rows stay, as ``into``'s). A person
    already in ``into`` with the same platform identity is merged with their membership there."""
    for member in list(await session.scalars(select(Member).where(Member.network_id == old.id).order_by(Member.id))):
        twin = None
        for platform, user_id in await directory.identities_of(session, member):
            twin = twin or await directory.find_by_platform_id(session, into.id, platform, user_id)
        if twin is not None:
            await merge_members(session, twin, member, now)
        else:
            member.network_id = into.id
            await session.execute(update(MemberIdentity).where(MemberIdentity.member_id == member.id)
                                  .values(network_id=into.id))
    await session.execute(update(Chat).where(Chat.network_id == old.id).values(network_id=into.id))
    # its outbox rows stay, as ``into``'s (what it still had to send is dropped, as it was with the
    # rows): an outbox id must never be handed out twice, for platforms deduplicate by it (Matrix
    # transaction ids, Slack's metadata), and SQLite gives the highest id again once its row is gone
    await session.execute(update(OutboxMessage).where(OutboxMessage.network_id == old.id,
                                                      OutboxMessage.state.in_(("pending", "waiting")))
                          .values(state="cancelled"))
    await session.execute(update(OutboxMessage).where(OutboxMessage.network_id == old.id)
                          .values(network_id=into.id))
    await session.flush()
    await session.delete(old)
    await session.flush()


# ---------------------------------------------------------------------------- /koppel
async def cmd_link(ctx: Ctx, args: str) -> None:
    """``/koppel``: the network's chats (and, for a trekker, a code privately); ``/koppel <code>
    [vervang]`` links this chat; ``/koppel los <nr>`` unlinks one."""
    words = args.split()
    if not words:
        await _list(ctx)
    elif words[0].lower() in UNLINK_WORDS:
        await _unlink(ctx, words[1:])
    else:
        await _redeem_chat(ctx, words[0], replace=len(words) > 1 and words[1].lower() in REPLACE_WORDS)


async def _list(ctx: Ctx) -> None:
    lines = [ctx.t("link.list_title", network=ctx.network.name)]
    lines += [ctx.t("link.list_line", nr=i, chat=chat_label(ctx, c)) for i, c in enumerate(ctx.chats, 1)]
    if ctx.member is not None and ctx.member.role == "trekker" and ctx.source is not None and ctx.person:
        code = await new_code(ctx, "chat")
        ctx.private(ctx.member, "link", ctx.t("link.code_chat", code=code, network=ctx.network.name,
                                                      typed=shown_anywhere(ctx, "koppel", code)))
        lines.append(ctx.t("link.code_sent"))
    else:
        lines.append(ctx.t("link.list_outro"))
    ctx.reply("status", Markup("\n".join(lines)))


async def _redeem_chat(ctx: Ctx, code: str, *, replace: bool) -> None:
    if ctx.source is None or ctx.source.private:
        raise UserError("link.in_group", typed=shown_anywhere(ctx, "koppel", "<code>"))
    ctx.require("trekker")
    if await _renewed_for_leaver(ctx, code):
        return
    row = await spend_code(ctx, code, "chat", "koppel")
    target = await ctx.session.get(Network, row.network_id)
    if target is None:
        raise UserError("link.code_unknown", again=shown(ctx, "koppel"))
    if target.id == ctx.network.id:
        raise UserError("link.already_linked", network=target.name)
    if len(ctx.chats) > 1:
        nr = next(i for i, c in enumerate(ctx.chats, 1)
                  if c.platform == ctx.source.platform and c.chat_id == ctx.source.chat_id)
        word = i18n.raw(ctx.lang, "link.unlink_word")  # "los" / "remove": as the usage of /koppel says
        raise UserError("link.has_other_chats", unlink=shown(ctx, "koppel", f"{word} {nr}"))
    if not replace:
        found = [ctx.t(f"link.history.{part}") for part, query in HISTORY.items()
                 if await ctx.session.scalar(query(ctx.network.id))]
        if found:
            raise UserError("link.has_history", what=Markup(", ".join(found)), network=target.name,
                            again=shown(ctx, "koppel", f"{code[:20]} {REPLACE_WORDS[ctx.lang == 'en']}"))
    here = next(c for c in ctx.chats if c.platform == ctx.source.platform and c.chat_id == ctx.source.chat_id)
    person = ctx.person
    await absorb(ctx.session, ctx.network, target, ctx.now)
    ctx.network = target
    ctx.chats = await directory.chats_of(ctx.session, target.id)
    ctx.member = await directory.find_by_platform_id(ctx.session, target.id, ctx.source.platform, person.user_id)
    ctx.group("link", ctx.t("link.linked", chat=chat_label(ctx, here), network=target.name,
                            count=len(ctx.chats)))


async def _unlink(ctx: Ctx, rest: list[str]) -> None:
    ctx.require("trekker")
    nr = number(rest[0].lstrip("#")) if len(rest) == 1 else None
    if nr is None:
        raise UserError("errors.usage", usage=ctx.t("help.commands.koppel.usage"))
    if not 1 <= nr <= len(ctx.chats):
        raise UserError("link.unknown_chat", nr=nr)
    if len(ctx.chats) == 1:
        raise UserError("link.last_chat")
    chat = ctx.chats[nr - 1]
    if await ctx.session.scalar(select(Round.id).where(Round.active_chat == chat.id)) is not None:
        raise UserError("link.round_running_there", chat=chat_label(ctx, chat),
                        stop=shown_on(ctx, chat.platform, "stop"))
    old = ctx.network
    new = Network(name=(chat.title or old.name)[:directory.MAX_NAME], language=old.language,
                  timezone=old.timezone, created_at=ctx.now)
    ctx.session.add(new)
    await ctx.session.flush()
    if chat.title:  # named after the chat: renaming it renames its new network
        new.name_chat_id = chat.id
    if old.name_chat_id == chat.id:  # the old network's name stays; no other chat renames it
        old.name_chat_id = None
    await directory.forget_chat_presence(ctx.session, chat)  # who is there is learnt anew
    chat.network_id = new.id
    await _take_people(ctx.session, old, new, chat, [c for c in ctx.chats if c.id != chat.id], ctx.now)
    await ctx.features.plan_network(ctx.session, new, ctx.now)
    label = chat_label(ctx, chat)
    ctx.chats = [c for c in ctx.chats if c.id != chat.id]
    ctx.group("link", ctx.t("link.unlinked_others", chat=label))
    there = Ctx(ctx.session, ctx.now, new, [chat], None, features=ctx.features)
    there.group("link", there.t("link.unlinked_here", network=old.name, name=new.name))
    await store_outgoing(ctx.session, new.id, there.out, ctx.now)


async def _take_people(session: AsyncSession, old: Network, new: Network, chat: Chat, staying: list[Chat],
                       now: datetime) -> None:
    """The members an unlinked chat takes along: those known only by identities on its platform
    (when no chat staying behind is on that platform too). A linked person keeps their membership
    and gets a fresh one in the new network for the identity on the chat's platform."""
    if any(c.platform == chat.platform for c in staying):
        return  # we cannot tell who is in which of two chats on one platform: they stay, and join anew
    for member in list(await session.scalars(select(Member).where(Member.network_id == old.id))):
        ids = await directory.identities_of(session, member)
        here = [(p, u) for p, u in ids if p == chat.platform]
        if not here:
            continue
        if len(here) == len(ids):
            member.network_id = new.id
            await session.execute(update(MemberIdentity).where(MemberIdentity.member_id == member.id)
                                  .values(network_id=new.id))
            continue
        for platform, user_id in here:
            await directory.drop_identity(session, member, platform, user_id)
            session.add(Member(network_id=new.id, platform=platform, user_id=user_id, name=member.name,
                               role=member.role, perspective=member.perspective, joined_at=now))
    await session.flush()


# ---------------------------------------------------------------------------- a chat removed the bot
async def on_chat_removed(ctx: Ctx, chat: Chat, leavers: list[Member], closed: str | None = None) -> None:
    """A chat removed the bot (or was ``closed``: archived or deleted) and left the network. A
    trekker or procesbegeleider who left with it hears privately what happened, with a code to bring
    the chat back (typed there, the way it is typed on its platform; an archived chat is first taken
    out of the archive, a deleted one restored; or typed in another chat, which then takes its
    place). When that left the network without a trekker, its procesbegeleiders hear privately that
    they may give the role; with none, the leavers' note says that whoever first uses a command
    becomes trekker (:func:`bot.core._maybe_first_trekker`). Nobody else is told."""
    leads = [m for m in leavers if m.role in LEADS]
    if not leads:
        return
    label = chat.title or ctx.network.name
    # None while a trekker stays (or no chat does); else who may give the role now (maybe nobody)
    facilitators = await without_trekker(ctx) if ctx.chats and any(m.role == "trekker" for m in leads) else None
    for member in leads:
        code = await new_code(ctx, "chat", member)
        text = ctx.t(f"members.{closed}_lead" if closed else "members.removed_lead", chat=label,
                     network=ctx.network.name, typed=shown_on(ctx, chat.platform, "koppel", code))
        if facilitators == []:
            text = Markup(f"{text} {ctx.t('members.removed_no_lead')}")
        ctx.farewell(member, "link", text)
    for lead in facilitators or ():
        ctx.private(lead, "link", ctx.t(f"members.{closed}_no_trekker" if closed else "members.no_trekker",
                                        chat=label, typed=take_the_role(ctx, lead)))


# ---------------------------------------------------------------------------- /ikben
async def cmd_iam(ctx: Ctx, args: str) -> None:
    """``/ikben``: a code, privately, to link another account; ``/ikben <code>`` (from that other
    account, in a private chat): both accounts are one person from now on."""
    ctx.require()
    code = args.strip()
    if ctx.source is None or ctx.person is None:
        raise UserError("errors.unknown_member_self")
    if not code:
        made = await new_code(ctx, "identity")
        ctx.private(ctx.member, "link", ctx.t("link.code_identity", code=made,
                                                          typed=shown_anywhere(ctx, "ikben", made, group=False)))
        if not ctx.source.private:
            ctx.reply("status", ctx.t("link.code_sent"))
        return
    if not ctx.source.private:
        await _code_seen_in_group(ctx, code)
        return
    row = await spend_code(ctx, code, "identity", "ikben")
    keep = await ctx.session.get(Member, row.member_id)
    network = await ctx.session.get(Network, row.network_id)
    if keep is None or network is None or not keep.active:
        raise UserError("link.code_unknown", again=shown(ctx, "ikben"))
    me = await directory.find_by_platform_id(ctx.session, network.id, ctx.source.platform, ctx.person.user_id)
    if me is None:
        raise UserError("link.identity_unknown_here", network=network.name)
    if me.id == keep.id:
        raise UserError("link.identity_same")
    await merge_members(ctx.session, keep, me, ctx.now)
    ctx.network, ctx.member = network, keep
    ctx.chats = await directory.chats_of(ctx.session, network.id)
    ctx.reply("status", ctx.t("link.identity_linked", name=keep.name.split(" ")[0],
                              platform=platform_name(ctx, keep.platform)))


async def _code_seen_in_group(ctx: Ctx, code: str) -> None:
    """``/ikben <code>`` typed in a group: the others there can read the code, and whoever of them
    typed it privately would have their account linked to its owner's (and see their data with
    ``/mijngegevens``). So it is not used, and when it is a valid code it is spent unused."""
    row = await ctx.session.scalar(select(LinkCode).where(LinkCode.code_hash == code_hash(code),
                                                          LinkCode.kind == "identity", LinkCode.used_at.is_(None),
                                                          LinkCode.expires_at > ctx.now))
    if row is not None:
        row.used_at = ctx.now
    key = "link.identity_code_in_group" if row is None else "link.identity_code_in_group_revoked"
    ctx.reply("status", ctx.t(key, again=shown_anywhere(ctx, "ikben", group=False)))


FEATURE = Feature("link", commands=(
    Command("koppel", cmd_link, ("link",)),
    Command("ikben", cmd_iam, ("iam",)),
), on_chat_removed=(on_chat_removed,))
