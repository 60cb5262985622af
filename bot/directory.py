"""Networks, chats and members as the core finds them for an event: below the features.

A chat the bot meets becomes a network named after the chat; whoever adds the bot (or first
uses a command in a network without a trekker or procesbegeleider) becomes its trekker.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, bindparam, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import ChatRef, Person
from bot.models import Chat, ChatPresence, Member, MemberIdentity, Network, Round

MAX_NAME = 200
#: what a network is called when the chat it was made for has no title
DEFAULT_NAME = "Lerend netwerk"


def name_from_title(title: str) -> str | None:
    """The network name a chat's new title gives: its words (white space and line breaks as one
    space), at most :data:`MAX_NAME` characters; None when it has no letter or digit (empty, or
    only emoji and punctuation), which names nothing."""
    name = " ".join(title.split())[:MAX_NAME].strip()
    return name if any(ch.isalnum() for ch in name) else None


async def chats_of(session: AsyncSession, network_id: int) -> list[Chat]:
    """The chats linked to a network."""
    return list(await session.scalars(select(Chat).where(Chat.network_id == network_id).order_by(Chat.id)))


async def network_with_chats(session: AsyncSession, network_id: int) -> tuple[Network | None, list[Chat]]:
    """A network and its chats, in one query."""
    return _network_and_chats(await session.execute(_WITH_CHATS.where(Network.id == network_id)))


async def network_of_chat(session: AsyncSession, platform: str, chat_id: str) -> tuple[Network | None, list[Chat]]:
    """The network ``platform``/``chat_id`` belongs to, and all its chats, in one query."""
    return _network_and_chats(await session.execute(_OF_CHAT, {"platform": platform, "chat_id": chat_id}))


#: a network with each of its chats (a network without chats: one row with no chat)
_WITH_CHATS = select(Network, Chat).outerjoin(Chat, Chat.network_id == Network.id).order_by(Chat.id)
#: the same for the network of one chat (built once: building a statement costs as much as running it)
_OF_CHAT = _WITH_CHATS.where(Network.id == select(Chat.network_id).where(
    Chat.platform == bindparam("platform"), Chat.chat_id == bindparam("chat_id")).scalar_subquery())


#: the same, for an event from a person (``:platform``/``:user_id``) in a group, still in one query: per
#: chat whether they are known to be in it (``chat_presence``) and whether an action-learning round is
#: open in it, and the member whose first identity they are (the members' unique key: no row more)
_OF_CHAT_FOR = (select(Network, Chat,
                       select(ChatPresence.id).where(ChatPresence.chat_id == Chat.id,
                                                     ChatPresence.user_id == bindparam("user_id")).exists(),
                       select(Round.id).where(Round.active_chat == Chat.id).exists(), Member)
                .outerjoin(Chat, Chat.network_id == Network.id)
                .outerjoin(Member, and_(Member.network_id == Network.id, Member.platform == bindparam("platform"),
                                        Member.user_id == bindparam("user_id")))
                .where(_OF_CHAT.whereclause).order_by(Chat.id))


#: ``first`` of :func:`find_by_platform_id` when it was not read beforehand
UNREAD = object()


class InChat(NamedTuple):
    """What :func:`ensure_network` found for an event in a group chat."""

    network: Network
    chats: list[Chat]
    #: the network was made for this chat just now
    created: bool
    #: the member whose first identity the event's person is (None: none, or no person asked about)
    member: Member | None = None
    #: ids of the network's chats (``Chat.id``) with an open action-learning round (None: not read)
    open_rounds: frozenset[int] | None = None


def _network_and_chats(rows) -> tuple[Network | None, list[Chat]]:  # noqa: ANN001 - a Result
    found = list(rows)
    if not found:
        return None, []
    return found[0][0], [row[1] for row in found if row[1] is not None]


async def active_members(session: AsyncSession, network_id: int) -> list[Member]:
    """Members currently in the network, in order of joining."""
    return list(await session.scalars(_ACTIVE, {"network_id": network_id}))


_ACTIVE = (select(Member).where(Member.network_id == bindparam("network_id"), Member.active.is_(True))
           .order_by(Member.id))


async def find_by_platform_id(session: AsyncSession, network_id: int, platform: str, user_id: str,
                              *, first: Member | None | object = UNREAD) -> Member | None:
    """The member with this platform identity in the network (their first one, or one they linked);
    ``first``: the member with it as their first identity, when already read (:attr:`InChat.member`)."""
    identity = {"network_id": network_id, "platform": platform, "user_id": user_id}
    member = await session.scalar(_BY_FIRST_IDENTITY, identity) if first is UNREAD else first
    if member is None:
        member = await session.scalar(_BY_LINKED_IDENTITY, identity)
    return member


_BY_FIRST_IDENTITY = select(Member).where(Member.network_id == bindparam("network_id"),
                                          Member.platform == bindparam("platform"),
                                          Member.user_id == bindparam("user_id"))
_BY_LINKED_IDENTITY = select(Member).join(MemberIdentity, MemberIdentity.member_id == Member.id).where(
    MemberIdentity.network_id == bindparam("network_id"), MemberIdentity.platform == bindparam("platform"),
    MemberIdentity.user_id == bindparam("user_id"))


async def member_for_private_chat(session: AsyncSession, platform: str, user_id: str) -> Member | None:
    """The membership a private message belongs to (the most recently joined active one)."""
    member = await session.scalar(
        select(Member).where(Member.platform == platform, Member.user_id == user_id, Member.active.is_(True))
        .order_by(Member.joined_at.desc(), Member.id.desc()).limit(1))
    if member is None:
        member = await session.scalar(
            select(Member).join(MemberIdentity, MemberIdentity.member_id == Member.id)
            .where(MemberIdentity.platform == platform, MemberIdentity.user_id == user_id, Member.active.is_(True))
            .order_by(Member.joined_at.desc(), Member.id.desc()).limit(1))
    return member


async def former_member_for_private_chat(session: AsyncSession, platform: str, user_id: str) -> Member | None:
    """The membership someone with no active one left most recently (by either of their accounts):
    their data is still kept, so they may still see it (``/mijngegevens``) and erase it (``/vergeetmij``)."""
    by_identity = select(MemberIdentity.member_id).where(MemberIdentity.platform == platform,
                                                         MemberIdentity.user_id == user_id)
    return await session.scalar(
        select(Member).where(Member.active.is_(False), or_(
            (Member.platform == platform) & (Member.user_id == user_id), Member.id.in_(by_identity)))
        .order_by(Member.left_at.desc().nulls_last(), Member.id.desc()).limit(1))


def is_primary(member: Member, platform: str, user_id: str) -> bool:
    """True when ``platform``/``user_id`` is the member's first identity (where private messages go)."""
    return member.platform == platform and member.user_id == user_id


async def identities_of(session: AsyncSession, member: Member) -> list[tuple[str, str]]:
    """Every platform identity of a member: the first one, then those linked to it."""
    linked = await session.execute(select(MemberIdentity.platform, MemberIdentity.user_id)
                                   .where(MemberIdentity.member_id == member.id).order_by(MemberIdentity.id))
    return [(member.platform, member.user_id), *((p, u) for p, u in linked)]


async def held_elsewhere(session: AsyncSession, network_id: int,
                         identities: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Those of ``identities`` that a member of another network also has (as their first identity
    or a linked one, whether still in that network or not): what is kept about the person for
    that membership (how to reach them) is not this network's to drop."""
    if not identities:
        return set()
    first = or_(*((Member.platform == p) & (Member.user_id == u) for p, u in identities))
    linked = or_(*((MemberIdentity.platform == p) & (MemberIdentity.user_id == u) for p, u in identities))
    found = set(await session.execute(select(Member.platform, Member.user_id)
                                      .where(Member.network_id != network_id, first)))
    found |= set(await session.execute(select(MemberIdentity.platform, MemberIdentity.user_id)
                                       .where(MemberIdentity.network_id != network_id, linked)))
    return {(p, u) for p, u in found}


def chat_row(chats: list[Chat], ref: ChatRef) -> Chat | None:
    """The network's row of the chat ``ref`` (None when it is not one of ``chats``)."""
    return next((c for c in chats if c.platform == ref.platform and c.chat_id == ref.chat_id), None)


async def note_presence(session: AsyncSession, chat: Chat, user_id: str) -> None:
    """Remember that ``user_id`` (on the chat's platform) is in ``chat``."""
    if await session.scalar(_PRESENT, {"chat_id": chat.id, "user_id": user_id}) is None:
        session.add(ChatPresence(chat_id=chat.id, user_id=user_id))
        await session.flush()


_PRESENT = select(ChatPresence.id).where(ChatPresence.chat_id == bindparam("chat_id"),
                                         ChatPresence.user_id == bindparam("user_id"))


async def leave_chat(session: AsyncSession, chats: list[Chat], chat: Chat, user_id: str) -> bool:
    """``user_id`` left ``chat``: forget that presence. True when the identity is still known to be
    in another chat of the network on the same platform (then it stays as it is); False when it is
    in none or its presence there is unknown (data from before presence was kept)."""
    await session.execute(delete(ChatPresence).where(ChatPresence.chat_id == chat.id,
                                                     ChatPresence.user_id == user_id))
    others = [c.id for c in chats if c.platform == chat.platform and c.id != chat.id]
    if not others:
        return False
    return await session.scalar(select(ChatPresence.id).where(
        ChatPresence.chat_id.in_(others), ChatPresence.user_id == user_id).limit(1)) is not None


async def present_without(session: AsyncSession, member: Member, gone: Chat, staying: list[Chat]) -> bool:
    """True when the member is still in one of the ``staying`` chats once ``gone`` is no longer
    theirs: one of their identities is known to be in one, or is on the platform of one and where
    it is, is unknown (data from before presence was kept)."""
    for platform, user_id in await identities_of(session, member):
        there = [c.id for c in staying if c.platform == platform]
        if not there:
            continue
        seen = set(await session.scalars(select(ChatPresence.chat_id).where(
            ChatPresence.chat_id.in_([*there, gone.id]), ChatPresence.user_id == user_id)))
        if seen - {gone.id} or not seen:
            return True
    return False


async def forget_presence(session: AsyncSession, chats: list[Chat], identities: list[tuple[str, str]]) -> None:
    """Remove what is known of where these identities are in the network's ``chats`` (an erasure)."""
    for platform, user_id in identities:
        ids = [c.id for c in chats if c.platform == platform]
        if ids:
            await session.execute(delete(ChatPresence).where(ChatPresence.chat_id.in_(ids),
                                                             ChatPresence.user_id == user_id))


async def forget_chat_presence(session: AsyncSession, chat: Chat) -> None:
    """Remove what is known of who is in ``chat`` (it leaves its network)."""
    await session.execute(delete(ChatPresence).where(ChatPresence.chat_id == chat.id))


async def drop_identity(session: AsyncSession, member: Member, platform: str, user_id: str) -> bool:
    """A linked person left the chat of one of their identities: forget that identity and keep the
    member (they are still in the network through another). False when it is their only one."""
    linked = list(await session.scalars(select(MemberIdentity).where(MemberIdentity.member_id == member.id)
                                        .order_by(MemberIdentity.id)))
    if not linked:
        return False
    if is_primary(member, platform, user_id):  # the next identity becomes the first one
        member.platform, member.user_id = linked[0].platform, linked[0].user_id
        await session.delete(linked[0])
    else:
        for row in linked:
            if row.platform == platform and row.user_id == user_id:
                await session.delete(row)
    await session.flush()
    return True


async def ensure_network(session: AsyncSession, chat: ChatRef, now: datetime, user_id: str | None = None,
                         *, present: bool = True) -> InChat:
    """The network linked to ``chat``, creating it (named after the chat) on first contact. With
    ``user_id`` (the person of the event), also the member whose first identity that is and the chats
    with an open round, and, when they are ``present`` (they wrote or joined there), noting that they
    are in it (``chat_presence``): all read with the network, no statement more unless it is new."""
    if user_id is None:
        network, chats = await network_of_chat(session, chat.platform, chat.chat_id)
        member, open_rounds = None, None
    else:
        rows = list(await session.execute(_OF_CHAT_FOR, {"platform": chat.platform, "chat_id": chat.chat_id,
                                                          "user_id": user_id}))
        network, chats = _network_and_chats(rows)
        member = rows[0][4] if rows else None
        open_rounds = frozenset(c.id for _, c, _, open_, _ in rows if open_)
        if present:
            here = [c for _, c, known, _, _ in rows if c is not None and c.chat_id == chat.chat_id
                    and c.platform == chat.platform and not known]
            session.add_all(ChatPresence(chat_id=c.id, user_id=user_id) for c in here)  # written with the event
    if network is not None:
        return InChat(network, chats, False, member, open_rounds)
    network = Network(name=(chat.title or "").strip()[:MAX_NAME] or DEFAULT_NAME, created_at=now)
    session.add(network)
    await session.flush()
    row = Chat(network_id=network.id, platform=chat.platform, chat_id=chat.chat_id, title=chat.title[:200])
    session.add(row)
    await session.flush()
    network.name_chat_id = row.id  # named after this chat: a rename of it renames the network
    if user_id is not None and present:
        session.add(ChatPresence(chat_id=row.id, user_id=user_id))
    return InChat(network, [row], True, None, frozenset())


async def ensure_member(session: AsyncSession, network: Network, platform: str, person: Person, now: datetime,
                        *, as_trekker: bool = False, first: Member | None | object = UNREAD) -> Member:
    """The member for ``person``, added (or re-activated) when needed; names kept up to date
    (``first``: as for :func:`find_by_platform_id`)."""
    member = await find_by_platform_id(session, network.id, platform, person.user_id, first=first)
    name = (person.name or person.user_id).strip()[:MAX_NAME] or person.user_id
    if member is None:
        member = Member(network_id=network.id, platform=platform, user_id=person.user_id, name=name,
                        role="trekker" if as_trekker else "deelnemer", joined_at=now)
        session.add(member)
        await session.flush()
    else:
        if not member.active:
            member.active, member.left_at, member.joined_at = True, None, now
        if person.name and member.name != name and is_primary(member, platform, person.user_id):
            member.name = name
    return member


async def has_leads(session: AsyncSession, network_id: int) -> bool:
    """True when the network has an active trekker or procesbegeleider."""
    return bool(await session.scalar(_LEADS, {"network_id": network_id}))


_LEADS = select(func.count(Member.id)).where(Member.network_id == bindparam("network_id"), Member.active.is_(True),
                                             Member.role.in_(("trekker", "procesbegeleider")))
