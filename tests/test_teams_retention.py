"""Whom the Teams adapter's housekeeping forgets (:meth:`Store.stale_users`,
:meth:`Store.delete_stale_personal`), on SQLite and PostgreSQL; the whole flow over HTTP is in
``tests/test_teams.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from adapters.teams.store import PERSON_KEEP, Store
from bot.database import Database, create_engine, upgrade
from bot.models import Member, MemberIdentity, Network, TeamsConversation, TeamsUser
from tests.conftest import local

NOW = local(2026, 3, 2, 10, 0)  # the core's clock
DAY = timedelta(days=1)


async def test_only_people_in_no_network_past_the_grace_period_and_not_seen_since_are_stale(
        database_url: str) -> None:
    db = Database(create_engine(database_url))
    await upgrade(db.engine)
    store = Store(db)
    real = datetime.now(UTC)
    old, recent = real - PERSON_KEEP - DAY, real - PERSON_KEEP + DAY
    try:
        async with db.transaction() as s:
            net = Network(name="Netwerk", created_at=NOW - timedelta(weeks=10))
            s.add(net)
            await s.flush()

            def member(user: str, *, left: datetime | None = None, active: bool = True,
                       platform: str = "teams") -> Member:
                return Member(network_id=net.id, platform=platform, user_id=user, name="x",
                              active=active and left is None, joined_at=NOW - timedelta(weeks=9), left_at=left)

            linked = member("U-slack", platform="slack")
            s.add_all([member("active"), member("left-long-ago", left=NOW - PERSON_KEEP - DAY),
                       member("left-lately", left=NOW - PERSON_KEEP + DAY), linked,
                       member("left-no-date", active=False)])
            await s.flush()
            s.add(MemberIdentity(member_id=linked.id, network_id=net.id, platform="teams", user_id="linked",
                                 linked_at=NOW))

            def person(user: str, seen: datetime) -> TeamsUser:
                return TeamsUser(user_id=user, teams_id=f"29:{user}", tenant_id="t", service_url="https://x/",
                                 personal_conversation_id=f"a:{user}", updated_at=seen)

            def one_to_one(conversation: str, seen: datetime) -> TeamsConversation:
                return TeamsConversation(chat_id=conversation, conversation_id=conversation, service_url="https://x/",
                                         tenant_id="t", kind="personal", bot_id="28:b", updated_at=seen)

            s.add_all([person(u, old) for u in ("active", "left-long-ago", "left-lately", "linked", "never",
                                                "left-no-date")] + [person("never-but-writes", recent)])
            s.add_all([one_to_one("a:left-long-ago", old), one_to_one("a:active", old),
                       one_to_one("a:given-up-long-ago", old), one_to_one("a:given-up-lately", recent)])
        cutoff = real - PERSON_KEEP
        assert await store.stale_users(NOW - PERSON_KEEP, cutoff) == ["left-long-ago", "left-no-date", "never"]
        assert await store.forget_user("never-but-writes", seen_before=cutoff) is False
        assert await store.forget_user("left-long-ago", seen_before=cutoff) is True
        assert await store.delete_stale_personal(cutoff) == 1  # a:given-up-long-ago: no person points at it
        async with db.sessions() as s:
            assert set(await s.scalars(select(TeamsConversation.chat_id))) == {"a:active", "a:given-up-lately"}
            assert "left-long-ago" not in set(await s.scalars(select(TeamsUser.user_id)))
            assert "never-but-writes" in set(await s.scalars(select(TeamsUser.user_id)))
    finally:
        await db.close()
