"""What the Matrix adapter keeps in the database, shared by every replica.

* ``matrix_accounts``: the bot's one device and, when bamboe logged in with ``MATRIX_PASSWORD``,
  its access token, sealed with ``BAMBOE_SECRET_KEY`` (:mod:`bot.secrets`). Also the prefix of our transaction ids and
  the sync position (where the next sync starts, whichever replica runs it).
* ``matrix_rooms``: the direct room per member, so any replica reuses it; forgotten (and left) once
  the member has been an active member of no network on Matrix for :data:`PERSON_KEEP` and has not
  written there for as long.
* ``matrix_events``: inbound events claimed by a replica (every replica syncs and sees every
  event; the first to claim one hands it to the core). A claim left unfinished for
  :data:`CLAIM_SECONDS` (its replica died, or the core could not take it) may be taken again.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, exists, or_, select, update

from adapters.matrix.translate import PLATFORM
from bot.database import Database
from bot.models import Chat, MatrixAccount, MatrixEvent, MatrixRoom, Member, MemberIdentity

#: a claimed event not marked done after this long may be claimed by another replica
CLAIM_SECONDS = 60
#: handled event ids are kept this long (a sync never goes back further in practice)
EVENT_KEEP = timedelta(days=1)
#: a person's direct rooms are forgotten once they have been an active member of no network on
#: Matrix for this long and have not written the bot for as long
PERSON_KEEP = timedelta(days=30)
#: a direct room's time is moved on by the member's message at most this often (one write a day)
SEEN_STEP = timedelta(days=1)


class MatrixStore:
    """The adapter's tables (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        #: room id → member, for direct rooms seen by this process
        self._direct: dict[str, str | None] = {}

    async def account(self, user_id: str) -> MatrixAccount | None:
        """The stored login of ``user_id``, if any."""
        async with self.db.sessions() as session:
            return await session.get(MatrixAccount, user_id)

    async def keep_account(self, user_id: str, device_id: str | None, sealed_token: str | None) -> MatrixAccount:
        """Store the login unless another replica stored one first; return the one stored."""
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            await session.execute(self.db.insert(MatrixAccount).values(
                user_id=user_id, device_id=device_id, access_token=sealed_token, txn_prefix=secrets.token_hex(6),
                sync_token=None, updated_at=now).on_conflict_do_nothing(index_elements=["user_id"]))
        async with self.db.sessions() as session:
            return await session.get(MatrixAccount, user_id)

    async def replace_login(self, user_id: str, device_id: str | None, sealed_token: str | None) -> None:
        """Record a new device/token (the old token stopped working, or a token was configured)."""
        async with self.db.transaction() as session:
            await session.execute(update(MatrixAccount).where(MatrixAccount.user_id == user_id).values(
                device_id=device_id, access_token=sealed_token, updated_at=datetime.now(UTC)))

    async def save_sync_token(self, user_id: str, token: str) -> None:
        """Where the next sync starts."""
        async with self.db.transaction() as session:
            await session.execute(update(MatrixAccount).where(MatrixAccount.user_id == user_id).values(
                sync_token=token, updated_at=datetime.now(UTC)))

    # ------------------------------------------------------------------ inbound events, once
    async def claim(self, event_id: str) -> bool:
        """True when this replica may handle ``event_id`` (no one did, or a claim ran out)."""
        now = datetime.now(UTC)
        stale = now - timedelta(seconds=CLAIM_SECONDS)
        async with self.db.transaction() as session:
            inserted = await session.execute(self.db.insert(MatrixEvent).values(
                event_id=event_id, claimed_at=now, done=False).on_conflict_do_nothing(index_elements=["event_id"]))
            if inserted.rowcount:
                return True
            taken = await session.execute(update(MatrixEvent).where(
                MatrixEvent.event_id == event_id, MatrixEvent.done.is_(False), MatrixEvent.claimed_at < stale)
                .values(claimed_at=now))
            return bool(taken.rowcount)

    async def done(self, event_id: str) -> None:
        """The core took ``event_id``."""
        async with self.db.transaction() as session:
            await session.execute(update(MatrixEvent).where(MatrixEvent.event_id == event_id).values(done=True))

    async def release(self, event_id: str) -> None:
        """The core could not take ``event_id``: any replica may claim it again at once."""
        async with self.db.transaction() as session:
            await session.execute(delete(MatrixEvent).where(MatrixEvent.event_id == event_id,
                                                            MatrixEvent.done.is_(False)))

    async def prune(self) -> None:
        """Forget handled event ids older than :data:`EVENT_KEEP`."""
        async with self.db.transaction() as session:
            await session.execute(delete(MatrixEvent).where(MatrixEvent.claimed_at < datetime.now(UTC) - EVENT_KEEP))

    # ------------------------------------------------------------------ direct rooms
    async def direct_room(self, user_id: str) -> str | None:
        """The newest direct room with ``user_id``."""
        async with self.db.sessions() as session:
            return await session.scalar(select(MatrixRoom.room_id).where(MatrixRoom.direct_with == user_id)
                                        .order_by(MatrixRoom.created_at.desc()).limit(1))

    async def direct_with(self, room_id: str) -> str | None:
        """The member of direct room ``room_id``; None for a group room."""
        if room_id not in self._direct:
            async with self.db.sessions() as session:
                self._direct[room_id] = await session.scalar(
                    select(MatrixRoom.direct_with).where(MatrixRoom.room_id == room_id))
        return self._direct[room_id]

    async def keep_direct_room(self, room_id: str, user_id: str) -> None:
        """Remember ``room_id`` as the direct room with ``user_id``."""
        async with self.db.transaction() as session:
            await session.execute(self.db.insert(MatrixRoom).values(
                room_id=room_id, direct_with=user_id, created_at=datetime.now(UTC))
                .on_conflict_do_nothing(index_elements=["room_id"]))
        self._direct[room_id] = user_id

    async def network_room(self, room_id: str) -> bool:
        """True when ``room_id`` is a network's chat."""
        async with self.db.sessions() as session:
            return await session.scalar(select(Chat.id).where(Chat.platform == PLATFORM, Chat.chat_id == room_id)) \
                is not None

    async def known_rooms(self) -> set[str]:
        """Every room that is a network's chat or a direct room."""
        async with self.db.sessions() as session:
            chats = await session.scalars(select(Chat.chat_id).where(Chat.platform == PLATFORM))
            direct = await session.scalars(select(MatrixRoom.room_id))
            return {*chats, *direct}

    async def seen_direct(self, room_id: str) -> None:
        """The member wrote in direct room ``room_id``: its time moves on (at most once a day)."""
        now = datetime.now(UTC)
        async with self.db.transaction() as session:
            await session.execute(update(MatrixRoom).where(MatrixRoom.room_id == room_id,
                                                           MatrixRoom.created_at < now - SEEN_STEP)
                                  .values(created_at=now))

    async def stale_people(self, left_before: datetime, seen_before: datetime) -> list[str]:
        """The people with a direct room who are an active member of no network on Matrix (by their
        first identity or a linked one), left the last one before ``left_before`` (the core's clock)
        and whose direct rooms were all recorded or last written in before ``seen_before``."""
        recent = or_(Member.active.is_(True), Member.left_at >= left_before)
        member = exists().where(Member.platform == PLATFORM, Member.user_id == MatrixRoom.direct_with, recent)
        linked = exists().where(MemberIdentity.platform == PLATFORM, MemberIdentity.user_id == MatrixRoom.direct_with,
                                MemberIdentity.member_id == Member.id, recent)
        async with self.db.sessions() as session:
            fresh = select(MatrixRoom.direct_with).where(MatrixRoom.created_at >= seen_before)
            return list(await session.scalars(select(MatrixRoom.direct_with).where(
                ~member, ~linked, MatrixRoom.direct_with.not_in(fresh)).distinct().order_by(MatrixRoom.direct_with)))

    async def active_people(self, user_ids: set[str]) -> set[str]:
        """Those of ``user_ids`` who are an active member of a network on Matrix (first or linked identity)."""
        ids, found = sorted(user_ids), set()
        async with self.db.sessions() as session:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                found.update(await session.scalars(select(Member.user_id).where(
                    Member.platform == PLATFORM, Member.active.is_(True), Member.user_id.in_(chunk))))
                found.update(await session.scalars(select(MemberIdentity.user_id).join(
                    Member, Member.id == MemberIdentity.member_id).where(
                    MemberIdentity.platform == PLATFORM, Member.active.is_(True), MemberIdentity.user_id.in_(chunk))))
        return found

    async def forget_person(self, user_id: str, *, seen_before: datetime | None = None) -> list[str]:
        """The person was erased (``/vergeetmij``): drop their direct rooms; returns their ids.
        ``seen_before`` (the retention of :meth:`stale_people`): only when none of them was recorded
        or written in since (else nothing is dropped)."""
        async with self.db.transaction() as session:
            if seen_before is not None and await session.scalar(select(MatrixRoom.room_id).where(
                    MatrixRoom.direct_with == user_id, MatrixRoom.created_at >= seen_before).limit(1)) is not None:
                return []
            rooms = list(await session.scalars(select(MatrixRoom.room_id).where(MatrixRoom.direct_with == user_id)))
            await session.execute(delete(MatrixRoom).where(MatrixRoom.direct_with == user_id))
        for room_id in [r for r, who in self._direct.items() if who == user_id] + rooms:
            self._direct.pop(room_id, None)
        return rooms

    async def forget_room(self, room_id: str) -> None:
        """The bot left ``room_id`` (or the member left the direct room)."""
        async with self.db.transaction() as session:
            await session.execute(delete(MatrixRoom).where(MatrixRoom.room_id == room_id))
        self._direct.pop(room_id, None)
