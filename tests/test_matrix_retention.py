"""Which direct rooms the Matrix adapter's housekeeping forgets (:meth:`MatrixStore.stale_people`),
on SQLite and PostgreSQL; the whole flow against a real Synapse is in ``tests/test_matrix.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from adapters.matrix.store import PERSON_KEEP, MatrixStore
from bot.database import Database, create_engine, upgrade
from bot.models import MatrixRoom, Member, MemberIdentity, Network
from tests.conftest import local

NOW = local(2026, 3, 2, 10, 0)  # the core's clock
DAY = timedelta(days=1)


async def test_only_people_in_no_network_past_the_grace_period_with_no_recent_room_are_stale(
        database_url: str) -> None:
    db = Database(create_engine(database_url))
    await upgrade(db.engine)
    store = MatrixStore(db)
    real = datetime.now(UTC)
    old, recent = real - PERSON_KEEP - DAY, real - PERSON_KEEP + DAY
    try:
        async with db.transaction() as s:
            net = Network(name="Netwerk", created_at=NOW - timedelta(weeks=10))
            s.add(net)
            await s.flush()

            def member(user: str, *, left: datetime | None = None, platform: str = "matrix") -> Member:
                return Member(network_id=net.id, platform=platform, user_id=user, name="x", active=left is None,
                              joined_at=NOW - timedelta(weeks=9), left_at=left)

            linked = member("@slack-user", platform="slack")
            s.add_all([member("@active:t"), member("@left-long-ago:t", left=NOW - PERSON_KEEP - DAY),
                       member("@left-lately:t", left=NOW - PERSON_KEEP + DAY), linked,
                       member("@left-no-date:t", left=None)])
            await s.flush()
            s.add(MemberIdentity(member_id=linked.id, network_id=net.id, platform="matrix", user_id="@linked:t",
                                 linked_at=NOW))
            s.add_all([MatrixRoom(room_id=f"!{n}:t", direct_with=user, created_at=at) for n, (user, at) in enumerate([
                ("@active:t", old), ("@left-long-ago:t", old), ("@left-lately:t", old), ("@linked:t", old),
                ("@never:t", old), ("@never-but-writes:t", old), ("@never-but-writes:t", recent),
                ("@left-no-date:t", old)])])
        async with db.transaction() as s:  # a left member whose row has no leaving date: long ago
            row = await s.scalar(select(Member).where(Member.user_id == "@left-no-date:t"))
            row.active = False
        cutoff = real - PERSON_KEEP
        assert await store.stale_people(NOW - PERSON_KEEP, cutoff) == ["@left-long-ago:t", "@left-no-date:t",
                                                                       "@never:t"]
        assert await store.forget_person("@never-but-writes:t", seen_before=cutoff) == []  # a room is recent
        assert await store.forget_person("@never:t", seen_before=cutoff) == ["!4:t"]
        assert await store.direct_room("@never:t") is None
        assert await store.direct_room("@never-but-writes:t") is not None
    finally:
        await db.close()
