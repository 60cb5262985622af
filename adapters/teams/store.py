"""What the Teams adapter keeps in the database, shared by all replicas: conversation references
(where to post), the people it met (how to reach them privately), who blocked the bot, each
person's latest message per group conversation (where an answer meant for them goes), and the
files behind download links. No message text is kept.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, or_, select, update

from adapters.teams.translate import (
    PLATFORM,
    base_conversation,
    channel_title,
    chat_ref,
    kind_of,
    names_of,
    short_id,
    tenant_of,
    thread_of,
    user_key,
)
from bot.core import release_waiting
from bot.database import Database
from bot.models import Chat, Member, MemberIdentity, TeamsAsker, TeamsBlocked, TeamsConversation, TeamsFile, TeamsUser

#: an asker's latest message is used for their answers this long (then answers go to the conversation)
ASKER_KEEP = timedelta(days=7)
#: a conversation reference read for sending is trusted this long without asking the database again
#: (another replica's "app removed" shows after at most this; Teams refuses such a post anyway)
REFERENCE_SECONDS = 30.0
REFERENCE_CACHE = 10_000
#: what the adapter keeps to reach a person (their reference, their 1:1's) is forgotten once they have
#: been an active member of no network on Teams for this long, and have not written the bot for as long
PERSON_KEEP = timedelta(days=30)


class Store:
    """The Teams adapter's tables."""

    def __init__(self, db: Database) -> None:
        self.db = db
        #: chat id → (reference, monotonic time it was read): one database read per conversation a
        #: while, not one per message of a burst
        self._references: dict[str, tuple[TeamsConversation, float]] = {}

    async def remember(self, activity: dict[str, Any], now: datetime, *, announces_install: bool = False,
                       known_only: bool = False) -> None:
        """Record the conversation reference, the sender and (group conversations) where the sender
        last wrote, from an authenticated activity. A conversation first met through the app being
        added is recorded as not installed yet, so that :meth:`installed` reports the change.
        ``known_only`` (an activity about the conversation that does not add the app: a member
        added or removed, a channel created or renamed, the team renamed): only a conversation
        already recorded is brought up to date; none is recorded, so none is taken for one the app
        is in. Teams sends those in the team's own conversation (its General channel) also when the
        app was added to another channel of the team. A message or a button press (neither
        ``known_only`` nor ``announces_install``) shows the app is in the conversation: one marked
        removed (its team's app removed, then added again) is marked in it again."""
        conversation = activity.get("conversation") or {}
        sender = activity.get("from") or {}
        service_url = str(activity.get("serviceUrl") or "")
        tenant = tenant_of(activity) or ""
        kind = kind_of(activity)
        chat = chat_ref(activity)
        full_id = base_conversation(str(conversation.get("id", "")))
        team = ((activity.get("channelData") or {}).get("team") or {}).get("id")
        values = {"conversation_id": full_id, "service_url": service_url, "tenant_id": tenant, "kind": kind,
                  "team_id": team, "bot_id": str((activity.get("recipient") or {}).get("id", "")),
                  "updated_at": now}
        if kind == "channel":  # the names, where this activity carries them (most carry none)
            team_name, channel_name = names_of(activity)
            values.update({k: v[:200] for k, v in (("team_name", team_name), ("channel_name", channel_name)) if v})
        self._references.pop(chat.chat_id, None)
        async with self.db.transaction() as session:
            if known_only:
                await session.execute(update(TeamsConversation).where(TeamsConversation.chat_id == chat.chat_id)
                                      .values(**values))
            else:
                await session.execute(self.db.insert(TeamsConversation).values(chat_id=chat.chat_id,
                                                                                installed=not announces_install,
                                                                                **values)
                                      .on_conflict_do_update(index_elements=["chat_id"],
                                                             set_=values if announces_install
                                                             else {**values, "installed": True}))
            if sender.get("id") and sender.get("role") != "bot":
                user = user_key(sender)
                person = {"teams_id": str(sender["id"]), "tenant_id": tenant, "service_url": service_url,
                          "updated_at": now}
                if kind == "personal":
                    person["personal_conversation_id"] = full_id
                await session.execute(self.db.insert(TeamsUser).values(user_id=user, **person)
                                      .on_conflict_do_update(index_elements=["user_id"], set_=person))
                if kind == "personal":  # they turned to the bot: it may write them again (every replica)
                    await session.execute(delete(TeamsBlocked).where(TeamsBlocked.user_id == user))
                if kind != "personal" and activity.get("type") == "message" and activity.get("id"):
                    thread = thread_of(str(conversation.get("id", ""))) if kind == "channel" else None
                    asked = {"message_id": str(activity["id"])[:100], "thread": thread, "seen_at": now}
                    await session.execute(self.db.insert(TeamsAsker).values(chat_id=chat.chat_id, user_id=user,
                                                                             **asked)
                                          .on_conflict_do_update(index_elements=["chat_id", "user_id"], set_=asked))
                    await session.execute(delete(TeamsAsker).where(TeamsAsker.seen_at < now - ASKER_KEEP))

    async def remember_member(self, account: dict[str, Any], tenant: str, service_url: str, now: datetime) -> None:
        """Record a person seen in a membership change (so they can be reached privately)."""
        person = {"teams_id": str(account["id"]), "tenant_id": tenant, "service_url": service_url, "updated_at": now}
        async with self.db.transaction() as session:
            await session.execute(self.db.insert(TeamsUser).values(user_id=user_key(account), **person)
                                  .on_conflict_do_update(index_elements=["user_id"], set_=person))

    async def installed(self, chat_id: str, installed: bool) -> bool:
        """Mark the app as added to (or removed from) a conversation; True when this call changed
        it (``installationUpdate`` and ``conversationUpdate`` both announce it: handled once)."""
        self._references.pop(chat_id, None)
        async with self.db.transaction() as session:
            result = await session.execute(update(TeamsConversation)
                                           .where(TeamsConversation.chat_id == chat_id,
                                                  TeamsConversation.installed.is_(not installed))
                                           .values(installed=installed, closed=None))
            if not installed:  # the app left: an archive or deletion before it no longer opens it again
                await session.execute(update(TeamsConversation).where(TeamsConversation.chat_id == chat_id,
                                                                      TeamsConversation.closed.is_not(None))
                                      .values(closed=None))
            return bool(result.rowcount)

    async def removed_from_team(self, team_id: str) -> list[str]:
        """The app was removed from a team: each of its channels the app was in is marked removed
        (an archive or deletion before it no longer opens it again). Returns the chats this call
        marked (told twice, the second finds none)."""
        where = [TeamsConversation.team_id == team_id, TeamsConversation.kind == "channel"]
        async with self.db.transaction() as session:
            removed = list(await session.scalars(update(TeamsConversation)
                                                 .where(*where, TeamsConversation.installed.is_(True))
                                                 .values(installed=False, closed=None)
                                                 .returning(TeamsConversation.chat_id)))
            await session.execute(update(TeamsConversation).where(*where, TeamsConversation.closed.is_not(None))
                                  .values(closed=None))
        for chat in removed:
            self._references.pop(chat, None)
        return sorted(removed)

    async def close(self, team_id: str, reason: str, chat_id: str | None = None) -> list[str]:
        """A team was archived or deleted (``chat_id`` None), or one of its channels deleted: its
        channels that are networks are closed for ``reason`` (nothing is posted there). Returns
        the chats closed for ``reason`` now or before (a removal told twice is handed over twice;
        the core does nothing the second time)."""
        where = [TeamsConversation.team_id == team_id, TeamsConversation.kind == "channel"]
        if chat_id is not None:
            where.append(TeamsConversation.chat_id == chat_id)
        network = exists().where(Chat.platform == PLATFORM, Chat.chat_id == TeamsConversation.chat_id)
        async with self.db.transaction() as session:
            await session.execute(update(TeamsConversation).where(*where, TeamsConversation.installed.is_(True),
                                                                  network)
                                  .values(installed=False, closed=reason))
            closed = list(await session.scalars(select(TeamsConversation.chat_id)
                                                .where(*where, TeamsConversation.closed == reason)))
        for chat in closed:
            self._references.pop(chat, None)
        return closed

    async def reopen(self, team_id: str, reason: str, chat_id: str | None = None
                     ) -> list[tuple[str, str | None, str | None]]:
        """A team was unarchived or restored (``chat_id`` None), or a deleted channel restored: what
        :meth:`close` closed for ``reason`` is open again. Returns the chats this call opened, each
        with the team's and the channel's names last seen (told twice, the second finds nothing)."""
        where = [TeamsConversation.team_id == team_id, TeamsConversation.kind == "channel",
                 TeamsConversation.closed == reason]
        if chat_id is not None:
            where.append(TeamsConversation.chat_id == chat_id)
        async with self.db.transaction() as session:
            opened = [tuple(r) for r in await session.execute(
                update(TeamsConversation).where(*where).values(installed=True, closed=None)
                .returning(TeamsConversation.chat_id, TeamsConversation.team_name, TeamsConversation.channel_name))]
        for chat, _, _ in opened:
            self._references.pop(chat, None)
        return sorted(opened)

    async def renamed(self, part: str, target: str, name: str) -> list[tuple[str, str]]:
        """A team (``part`` ``team``, ``target`` its id) or a channel (``channel``, its conversation
        id) was renamed to ``name``: keep the new name; return the channel conversations the app is
        in whose title changed, each as (chat id, its whole new title)."""
        column = TeamsConversation.team_id if part == "team" else TeamsConversation.chat_id
        key = target if part == "team" else short_id(base_conversation(target))
        async with self.db.transaction() as session:
            rows = list(await session.scalars(select(TeamsConversation).where(
                column == key, TeamsConversation.kind == "channel")))
            for row in rows:
                setattr(row, f"{part}_name", name[:200] or None)
                self._references.pop(row.chat_id, None)
            return [(row.chat_id, channel_title(row.team_name, row.channel_name)) for row in rows if row.installed]

    async def conversation(self, chat_id: str) -> TeamsConversation | None:
        """The reference of a group conversation (or 1:1) by the core's chat id."""
        cached = self._references.get(chat_id)
        if cached is not None and time.monotonic() - cached[1] < REFERENCE_SECONDS:
            return cached[0]
        async with self.db.sessions() as session:
            found = await session.get(TeamsConversation, chat_id)
        if found is not None:
            if len(self._references) >= REFERENCE_CACHE:
                self._references.clear()
            self._references[chat_id] = (found, time.monotonic())
        return found

    async def user(self, user_id: str) -> TeamsUser | None:
        """What is known to reach a person privately."""
        async with self.db.sessions() as session:
            return await session.get(TeamsUser, user_id)

    async def asker(self, chat_id: str, user_id: str) -> TeamsAsker | None:
        """A person's latest message in a group conversation."""
        async with self.db.sessions() as session:
            return await session.get(TeamsAsker, (chat_id, user_id))

    async def set_personal(self, user_id: str, conversation_id: str | None) -> None:
        """Record (or forget) the 1:1 conversation with a person."""
        async with self.db.transaction() as session:
            await session.execute(update(TeamsUser).where(TeamsUser.user_id == user_id)
                                  .values(personal_conversation_id=conversation_id))

    async def blocked(self, user_id: str) -> bool:
        """Whether the person blocked the bot (and has not written it since)."""
        async with self.db.sessions() as session:
            return await session.get(TeamsBlocked, user_id) is not None

    async def block(self, user_id: str) -> None:
        """Record that the person blocked the bot: no replica calls Teams for them until they write."""
        async with self.db.transaction() as session:
            await session.execute(self.db.insert(TeamsBlocked).values(user_id=user_id)
                                  .on_conflict_do_nothing(index_elements=["user_id"]))

    async def delete_stale_blocks(self) -> int:
        """Forget that someone blocked the bot once they are an active member of no network on
        Teams (the bot then writes them nothing of its own accord, and their next message would
        clear it anyway); how many."""
        member = exists().where(Member.platform == PLATFORM, Member.user_id == TeamsBlocked.user_id,
                                Member.active.is_(True))
        async with self.db.transaction() as session:
            result = await session.execute(delete(TeamsBlocked).where(~member))
            return int(result.rowcount or 0)

    async def stale_users(self, left_before: datetime, seen_before: datetime) -> list[str]:
        """The people the adapter keeps a reference of who are an active member of no network on
        Teams (by their first identity or a linked one), left the last one before ``left_before``
        (the core's clock) and were last seen by the adapter before ``seen_before`` (the time
        :meth:`remember` writes in)."""
        recent = or_(Member.active.is_(True), Member.left_at >= left_before)
        member = exists().where(Member.platform == PLATFORM, Member.user_id == TeamsUser.user_id, recent)
        linked = exists().where(MemberIdentity.platform == PLATFORM, MemberIdentity.user_id == TeamsUser.user_id,
                                MemberIdentity.member_id == Member.id, recent)
        async with self.db.sessions() as session:
            return list(await session.scalars(select(TeamsUser.user_id).where(
                TeamsUser.updated_at < seen_before, ~member, ~linked).order_by(TeamsUser.user_id)))

    async def delete_stale_personal(self, seen_before: datetime) -> int:
        """Delete the 1:1 references no person's row points at any more (the 1:1 was given up) that
        were last seen before ``seen_before``; how many."""
        used = exists().where(TeamsUser.personal_conversation_id == TeamsConversation.conversation_id)
        async with self.db.transaction() as session:
            gone = list(await session.scalars(delete(TeamsConversation).where(
                TeamsConversation.kind == "personal", TeamsConversation.updated_at < seen_before, ~used)
                .returning(TeamsConversation.chat_id)))
        for chat_id in gone:
            self._references.pop(chat_id, None)
        return len(gone)

    async def forget_user(self, user_id: str, *, seen_before: datetime | None = None) -> bool:
        """The person was erased (``/vergeetmij``): drop how to reach them (their reference and
        their 1:1's), whether they blocked the bot, where they last wrote and the files sent to
        them (an export). ``seen_before`` (the retention of :meth:`stale_users`): only when the
        adapter has not seen them since (they did not write meanwhile); False when it has."""
        async with self.db.transaction() as session:
            if seen_before is not None:
                row = await session.get(TeamsUser, user_id, with_for_update=True)
                if row is None or row.updated_at >= seen_before:
                    return False
            one_to_one = await session.scalar(select(TeamsUser.personal_conversation_id)
                                              .where(TeamsUser.user_id == user_id))
            if one_to_one:
                gone = await session.scalars(delete(TeamsConversation).where(
                    TeamsConversation.kind == "personal", TeamsConversation.conversation_id == one_to_one)
                    .returning(TeamsConversation.chat_id))
                for chat_id in gone:
                    self._references.pop(chat_id, None)
            await session.execute(delete(TeamsUser).where(TeamsUser.user_id == user_id))
            await session.execute(delete(TeamsBlocked).where(TeamsBlocked.user_id == user_id))
            await session.execute(delete(TeamsAsker).where(TeamsAsker.user_id == user_id))
            await session.execute(delete(TeamsFile).where(TeamsFile.user_id == user_id))  # their export
        return True

    async def release_waiting(self, user_id: str) -> int:
        """Queue again the private messages that waited for a 1:1 with this person (Teams refused
        to open one before); how many."""
        async with self.db.transaction() as session:
            return await release_waiting(session, PLATFORM, user_id)

    async def put_file(self, name: str, mime: str, data: bytes, expires_at: datetime, now: datetime,
                       user_id: str | None = None) -> str:
        """Keep a file for a download link until ``expires_at``; return the link's random id.
        Expired files are deleted on the way (and by :meth:`delete_expired_files`, hourly).
        ``user_id``: the person it goes to privately (erasing them removes it)."""
        file_id = secrets.token_urlsafe(24)
        async with self.db.transaction() as session:
            await session.execute(delete(TeamsFile).where(TeamsFile.expires_at <= now))
            session.add(TeamsFile(id_hash=_hash(file_id), name=name[:200], mime=mime[:100], data=data,
                                  expires_at=expires_at, user_id=user_id))
        return file_id

    async def delete_old_askers(self, now: datetime) -> int:
        """Forget where people last wrote once that is older than :data:`ASKER_KEEP` (also when
        nobody writes in a group, which is when :meth:`remember` does it); how many."""
        async with self.db.transaction() as session:
            result = await session.execute(delete(TeamsAsker).where(TeamsAsker.seen_at < now - ASKER_KEEP))
            return int(result.rowcount or 0)

    async def delete_expired_files(self, now: datetime) -> int:
        """Delete every file whose link has expired; return how many there were."""
        async with self.db.transaction() as session:
            result = await session.execute(delete(TeamsFile).where(TeamsFile.expires_at <= now))
            return int(result.rowcount or 0)

    async def file(self, file_id: str, now: datetime) -> TeamsFile | None:
        """The file behind a link id, if it has not expired."""
        async with self.db.sessions() as session:
            row = await session.scalar(select(TeamsFile).where(TeamsFile.id_hash == _hash(file_id)))
        return row if row is not None and row.expires_at > now else None


def _hash(file_id: str) -> str:
    return hashlib.sha256(file_id.encode()).hexdigest()
