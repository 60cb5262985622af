"""Upgrading an empty database to head gives exactly the models' schema (SQLite and PostgreSQL); data
migrations do what they say with the data earlier versions stored."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import bindparam, select, text

from adapters.console.harness import Harness
from bot.database import alembic_config, create_engine, head_revision, sqlite_url_for, upgrade
from bot.models import Base, Chat, Member, MemberIdentity, UTCDateTime
from tests.conftest import drop_postgres_database, new_postgres_database


async def schema_diff(url: str) -> list:
    engine = create_engine(url)
    try:
        await upgrade(engine)

        def diff(conn):
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, Base.metadata)

        async with engine.connect() as conn:
            return await conn.run_sync(diff)
    finally:
        await engine.dispose()


async def test_sqlite_head_matches_models(tmp_path):
    assert await schema_diff(sqlite_url_for(tmp_path / "m.sqlite3")) == []


@pytest.mark.postgres
async def test_postgres_head_matches_models(postgres_url):
    assert await schema_diff(postgres_url) == []


async def test_upgrade_twice_is_harmless(tmp_path):
    url = sqlite_url_for(tmp_path / "twice.sqlite3")
    assert await schema_diff(url) == []
    assert await schema_diff(url) == []


def test_the_head_read_from_the_files_is_alembics_head():
    """``upgrade`` skips Alembic on a database at this revision, so it must be Alembic's own head."""
    from alembic.script import ScriptDirectory

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_a_database_behind_the_head_is_still_migrated(tmp_path):
    url = sqlite_url_for(tmp_path / "behind.sqlite3")
    engine = create_engine(url)
    try:
        await upgrade(engine, "0007")
        await upgrade(engine)  # not at head: Alembic runs the rest
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).scalar() == head_revision()
    finally:
        await engine.dispose()


# ---------------------------------------------------------------------------- 0019: presence backfill
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def empty_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    """A new, empty database (no migrations run), once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url_for(tmp_path / "empty.sqlite3")
        return
    url = await new_postgres_database()
    yield url
    await drop_postgres_database(url)


async def _row(conn, sql: str, **params) -> int:
    """Insert one row with plain SQL (the schema of the revision the database is at) and return its id."""
    statement = text(f"{sql} RETURNING id").bindparams(
        *(bindparam(k, type_=UTCDateTime()) for k in params if k.endswith("_at")))
    return (await conn.execute(statement, params)).scalar_one()


async def _at_0018(url: str) -> None:
    """A database at 0018 with what earlier versions stored: no presence rows except one a
    message wrote since 0018. Noord has one Telegram and one Slack chat: Anna (Telegram), Fien
    (Slack, with her Telegram account linked) and Cem, who left. Zuid has two Slack chats: Bram."""
    now = datetime(2026, 1, 5, 9, tzinfo=UTC)
    engine = create_engine(url)
    try:
        await upgrade(engine, "0018_chat_presence")
        async with engine.begin() as conn:
            net = {}
            for name in ("Noord", "Zuid"):
                net[name] = await _row(
                    conn, "INSERT INTO networks (name, intention, ambition, language, timezone, quiet_start, "
                    "quiet_end, quiet_weekends, nudge_weekday, nudge_time, reminder_hours, goal_weeks, intention_weeks, "
                    "theme, theme_month, group_goal, nudge_count, created_at) VALUES (:name, '', '', 'nl', "
                    "'Europe/Amsterdam', '22:00', '07:00', :yes, 1, '10:00', 48, 4, 6, '', '', '', 0, :created_at)",
                    name=name, yes=True, created_at=now)
            chat = {}
            for network, platform, key in (("Noord", "telegram", "noord"), ("Noord", "slack", "werk"),
                                           ("Zuid", "slack", "zuid1"), ("Zuid", "slack", "zuid2")):
                chat[key] = await _row(conn, "INSERT INTO chats (network_id, platform, chat_id, title) "
                                             "VALUES (:n, :p, :c, :c)", n=net[network], p=platform, c=f"group-{key}")
            member = {}
            for network, platform, user, active in (("Noord", "telegram", "t-anna", True),
                                                    ("Noord", "slack", "s-fien", True),
                                                    ("Noord", "telegram", "t-cem", False),
                                                    ("Zuid", "slack", "s-bram", True)):
                member[user] = await _row(
                    conn, "INSERT INTO members (network_id, platform, user_id, name, role, active, joined_at, "
                    "left_at, goal) VALUES (:n, :p, :u, :u, 'deelnemer', :active, :joined_at, :left_at, '')",
                    n=net[network], p=platform, u=user, active=active, joined_at=now,
                    left_at=None if active else now)
            await _row(conn, "INSERT INTO member_identities (member_id, network_id, platform, user_id, linked_at) "
                             "VALUES (:m, :n, 'telegram', 't-fien', :linked_at)",
                       m=member["s-fien"], n=net["Noord"], linked_at=now)
            await _row(conn, "INSERT INTO chat_presence (chat_id, user_id) VALUES (:c, 's-fien')", c=chat["werk"])
    finally:
        await engine.dispose()


async def _presence(url: str) -> list[tuple[str, str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT c.chat_id, p.user_id FROM chat_presence AS p "
                                           "JOIN chats AS c ON c.id = p.chat_id ORDER BY c.chat_id, p.user_id"))
            return [tuple(r) for r in rows]
    finally:
        await engine.dispose()


async def _active(h: Harness) -> dict[str, bool]:
    async with h.db.transaction() as session:
        return {m.user_id: m.active for m in await session.scalars(select(Member))}


async def test_0019_backfills_presence_only_where_a_network_has_one_chat_on_the_platform(empty_url: str) -> None:
    await _at_0018(empty_url)
    engine = create_engine(empty_url)
    await upgrade(engine)
    await engine.dispose()
    found = [("group-noord", "t-anna"), ("group-noord", "t-fien"), ("group-werk", "s-fien")]
    assert await _presence(empty_url) == found  # Cem left; Bram's network has two Slack chats: unknown
    engine = create_engine(empty_url)  # down (deletes nothing) and up again: nothing twice
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0018_chat_presence"))
    await upgrade(engine)
    await engine.dispose()
    assert await _presence(empty_url) == found

    h = await Harness.open(empty_url, datetime(2026, 1, 6, 9, tzinfo=UTC))
    try:
        for key, platform in (("noord", "telegram"), ("werk", "slack"), ("zuid1", "slack"), ("oost", "telegram")):
            h.add_chat(key, platform, key)
        h.names.update({"t-anna": "t-anna", "t-fien": "t-fien", "s-bram": "s-bram"})
        # Fien leaves Noord, the one Telegram chat: her Telegram account goes, she stays through Slack
        await h.leave("t-fien", chat="noord")
        async with h.db.transaction() as session:
            assert list(await session.scalars(select(MemberIdentity.user_id))) == []
        assert (await _active(h))["s-fien"] is True
        # a second Telegram chat is linked (as /koppel does); Anna joins it and leaves it again: she is
        # known to be in Noord, so she stays a member (before 0019 her membership ended here)
        async with h.db.transaction() as session:
            noord = await session.scalar(select(Chat.network_id).where(Chat.chat_id == "group-noord"))
            session.add(Chat(network_id=noord, platform="telegram", chat_id="group-oost", title="oost"))
        await h.join("t-anna", "t-anna", chat="oost")
        await h.leave("t-anna", chat="oost")
        assert (await _active(h))["t-anna"] is True
        await h.leave("t-anna", chat="noord")  # and now from the chat she was known to be in: she is gone
        assert (await _active(h))["t-anna"] is False
        assert await _presence(empty_url) == [("group-werk", "s-fien")]
        # where 0019 could not know, a leave from one of two chats behaves as before: the membership ends
        await h.leave("s-bram", chat="zuid1")
        assert (await _active(h))["s-bram"] is False
    finally:
        await h.close()
