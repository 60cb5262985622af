"""Upgrading an empty database to head gives exactly the models' schema (SQLite and PostgreSQL); data
migrations do what they say with the data earlier versions stored."""

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import bindparam, select, text
from sqlalchemy import delete as sa_delete

from adapters.console.harness import Harness
from bot.database import Database, alembic_config, create_engine, head_revision, sqlite_url_for, upgrade
from bot.features import rhythm
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


# ---------------------------------------------------------------------------- 0020: outbox AUTOINCREMENT
def _sqlite_tables(url: str) -> dict[str, str]:
    """Each table's ``CREATE TABLE`` as SQLite stores it."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        return dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))


async def test_sqlite_migrations_and_create_all_make_the_same_autoincrement_tables(tmp_path) -> None:
    """``compare_metadata`` does not look at SQLite's ``AUTOINCREMENT`` (a table option), and
    ``bamboe simulate`` makes its tables with ``create_all``: both ways give it to the same tables."""
    migrated = sqlite_url_for(tmp_path / "migrated.sqlite3")
    engine = create_engine(migrated)
    await upgrade(engine)
    await engine.dispose()
    created = sqlite_url_for(tmp_path / "created.sqlite3")
    engine = create_engine(created)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    await engine.dispose()

    def autoincrement(url: str) -> set[str]:
        return {name for name, sql in _sqlite_tables(url).items() if "AUTOINCREMENT" in sql.upper()}

    assert autoincrement(migrated) == autoincrement(created) == {"outbox"}


async def _at_0019(url: str) -> dict[str, int]:
    """A database at 0019 with a network, three outbox rows (ids 1-3) and a weekly question that
    points at the second; returns their ids."""
    now = datetime(2026, 1, 5, 9, tzinfo=UTC)
    engine = create_engine(url)
    try:
        await upgrade(engine, "0019_presence_backfill")
        async with engine.begin() as conn:
            network = await _row(
                conn, "INSERT INTO networks (name, intention, ambition, language, timezone, quiet_start, "
                "quiet_end, quiet_weekends, nudge_weekday, nudge_time, reminder_hours, goal_weeks, intention_weeks, "
                "theme, theme_month, group_goal, nudge_count, created_at) VALUES ('Noord', '', '', 'nl', "
                "'Europe/Amsterdam', '22:00', '07:00', :yes, 1, '10:00', 48, 4, 6, '', '', '', 0, :created_at)",
                yes=True, created_at=now)
            ids = {"network": network}
            for n, state in enumerate(("sent", "sent", "pending"), 1):
                ids[f"outbox{n}"] = await _row(
                    conn, "INSERT INTO outbox (network_id, platform, chat_id, user_id, chat_key, kind, text, "
                    "buttons, meta, ephemeral, files, state, attempts, created_at, platform_message_id) VALUES "
                    "(:n, 'matrix', '!room', NULL, 'c:!room', 'nudge', :text, '[]', '{\"n\": 1}', :no, '[]', "
                    ":state, 0, :created_at, :platform_id)",
                    n=network, text=f"Vraag {n}", no=False, state=state, created_at=now,
                    platform_id=f"$event{n}" if state == "sent" else None)
            ids["nudge"] = await _row(
                conn, "INSERT INTO nudges (network_id, question_id, category, sent_at, outbox_id, harvested) "
                "VALUES (:n, 'q1', 'reflectie', :sent_at, :o, :no)", n=network, sent_at=now, o=ids["outbox2"], no=False)
        return ids
    finally:
        await engine.dispose()


async def _outbox_state(url: str) -> dict[str, object]:
    """What a migration of the outbox must keep: its rows, columns, indexes and keys (and on
    PostgreSQL the id sequence), and the weekly question's link to its row."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            state: dict[str, object] = {
                "rows": [tuple(r) for r in await conn.execute(text("SELECT * FROM outbox ORDER BY id"))],
                "nudges": [tuple(r) for r in await conn.execute(text("SELECT id, outbox_id FROM nudges"))],
            }
            if engine.dialect.name == "sqlite":
                pragma = conn.exec_driver_sql
                state["columns"] = [tuple(r) for r in await pragma("PRAGMA table_info(outbox)")]
                # (without the constraint's number: the rebuilt table may list them in another order)
                state["foreign_keys"] = sorted(tuple(r)[2:] for r in await pragma("PRAGMA foreign_key_list(outbox)"))
                indexes = [tuple(r) for r in await pragma("PRAGMA index_list(outbox)")]
                state["indexes"] = sorted([(r[1], r[2], [tuple(c) for c in await pragma(f"PRAGMA index_info({r[1]})")])
                                           for r in indexes])
                state["broken_links"] = [tuple(r) for r in await pragma("PRAGMA foreign_key_check")]
            else:
                state["columns"] = [tuple(r) for r in await conn.execute(text(
                    "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
                    "WHERE table_name = 'outbox' ORDER BY ordinal_position"))]
                state["indexes"] = sorted(tuple(r) for r in await conn.execute(text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'outbox'")))
                state["constraints"] = sorted(tuple(r) for r in await conn.execute(text(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'outbox'::regclass")))
                state["sequence"] = tuple((await conn.execute(text(
                    "SELECT last_value, is_called FROM outbox_id_seq"))).one())
            return state
    finally:
        await engine.dispose()


async def _new_outbox_id(url: str, *, delete: int | None = None) -> int:
    """Delete outbox row ``delete`` (if given), then store a row the way the bot does and return its id."""
    from bot.core import store_outgoing
    from bot.events import Address, Outgoing
    from bot.models import OutboxMessage

    db = Database(create_engine(url))
    try:
        async with db.transaction() as session:
            if delete is not None:
                await session.execute(sa_delete(OutboxMessage).where(OutboxMessage.id == delete))
            (stored,) = await store_outgoing(session, None, [Outgoing(Address("matrix", "!room"), "status", "Hoi")],
                                             datetime(2026, 1, 6, 9, tzinfo=UTC))
            return stored.outbox_id
    finally:
        await db.close()


async def test_0020_keeps_the_outbox_and_its_ids_are_never_handed_out_again(empty_url: str) -> None:
    ids = await _at_0019(empty_url)
    before = await _outbox_state(empty_url)
    engine = create_engine(empty_url)
    await upgrade(engine, "0020_outbox_autoincrement")  # (0027 adds an index)
    await engine.dispose()
    after = await _outbox_state(empty_url)
    assert after == before  # rows, columns, defaults, indexes, keys and the nudge's link as they were
    assert before["nudges"] == [(ids["nudge"], ids["outbox2"])]
    if empty_url.startswith("sqlite"):
        tables = _sqlite_tables(empty_url)
        assert "AUTOINCREMENT" in tables["outbox"] and "REFERENCES outbox (id)" in tables["nudges"]
        with sqlite3.connect(empty_url.removeprefix("sqlite:///")) as conn:
            assert conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchall() == [(3,)]

    # the newest row is deleted (retention, /vergeetmij): the next one gets a new id, every time
    assert await _new_outbox_id(empty_url, delete=ids["outbox3"]) == 4
    assert await _new_outbox_id(empty_url, delete=4) == 5
    # with the newest row (5) gone, down (keeps AUTOINCREMENT) and up again: the table is rebuilt
    # once more from rows up to 2, and its counter still says 5
    engine = create_engine(empty_url)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM outbox WHERE id = 5"))
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0019_presence_backfill"))
    await upgrade(engine)
    await engine.dispose()
    assert await _new_outbox_id(empty_url) == 6
    assert [r[0] for r in (await _outbox_state(empty_url))["rows"]] == [1, 2, 6]


async def test_0020_refuses_to_rebuild_the_outbox_with_sqlite_foreign_keys_on(tmp_path) -> None:
    """Dropping the old table with foreign keys on would set every nudge's ``outbox_id`` to NULL:
    run from Alembic's command line (``migrations/env.py``, foreign keys on) it stops instead."""
    url = sqlite_url_for(tmp_path / "keys.sqlite3")
    ids = await _at_0019(url)
    engine = create_engine(url)
    try:
        with pytest.raises(RuntimeError, match="foreign keys"):
            async with engine.begin() as conn:
                await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "head"))
    finally:
        await engine.dispose()
    state = await _outbox_state(url)
    assert state["nudges"] == [(ids["nudge"], ids["outbox2"])] and len(state["rows"]) == 3
    assert "AUTOINCREMENT" not in _sqlite_tables(url)["outbox"]


# ---------------------------------------------------------------------------- 0021: earlier pauses
async def _at_0020(url: str) -> None:
    """A database at 0020 with a Telegram network: Anna, Cem (a pause from 1 to 4 January, with his
    Slack account linked) and Dewi (a pause from before 0017: no start, until 4 January)."""
    now = datetime(2026, 1, 5, 9, tzinfo=UTC)
    engine = create_engine(url)
    try:
        await upgrade(engine, "0020_outbox_autoincrement")
        async with engine.begin() as conn:
            network = await _row(
                conn, "INSERT INTO networks (name, intention, ambition, language, timezone, quiet_start, "
                "quiet_end, quiet_weekends, nudge_weekday, nudge_time, reminder_hours, goal_weeks, intention_weeks, "
                "theme, theme_month, group_goal, nudge_count, created_at) VALUES ('Noord', '', '', 'nl', "
                "'Europe/Amsterdam', '22:00', '07:00', :yes, 1, '10:00', 48, 4, 6, '', '', '', 0, :created_at)",
                yes=True, created_at=now)
            await _row(conn, "INSERT INTO chats (network_id, platform, chat_id, title) "
                             "VALUES (:n, 'telegram', 'group-noord', 'noord')", n=network)
            for user, role, paused_from in (("t-anna", "trekker", None), ("t-cem", "deelnemer", "yes"),
                                            ("t-dewi", "deelnemer", None)):
                member = await _row(
                    conn, "INSERT INTO members (network_id, platform, user_id, name, role, active, joined_at, "
                    "paused_from, paused_until, goal) VALUES (:n, 'telegram', :u, :u, :role, :yes, :joined_at, "
                    ":from_at, :until_at, '')",
                    n=network, u=user, role=role, yes=True, joined_at=datetime(2025, 12, 1, tzinfo=UTC),
                    from_at=datetime(2026, 1, 1, 9, tzinfo=UTC) if paused_from else None,
                    until_at=None if user == "t-anna" else datetime(2026, 1, 4, 9, tzinfo=UTC))
                if user == "t-cem":
                    await _row(conn, "INSERT INTO member_identities (member_id, network_id, platform, user_id, "
                                     "linked_at) VALUES (:m, :n, 'slack', 's-cem', :linked_at)",
                               m=member, n=network, linked_at=now)
    finally:
        await engine.dispose()


async def _members(url: str) -> dict[str, tuple]:
    """Each member's pauses as stored, and their linked accounts."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            pauses = {r.user_id: (r.paused_from, r.paused_until) for r in await conn.execute(
                text("SELECT user_id, paused_from, paused_until FROM members").columns(
                    paused_from=UTCDateTime(), paused_until=UTCDateTime()))}
            linked = list((await conn.execute(text("SELECT user_id FROM member_identities"))).scalars())
            return {"pauses": pauses, "linked": linked}
    finally:
        await engine.dispose()


async def test_0021_keeps_the_pause_a_member_had_and_the_next_pause_keeps_it_too(empty_url: str) -> None:
    await _at_0020(empty_url)
    before = await _members(empty_url)
    engine = create_engine(empty_url)
    await upgrade(engine)
    await engine.dispose()
    assert await _members(empty_url) == before  # the pauses are where they were
    jan = {day: datetime(2026, 1, day, 9, tzinfo=UTC) for day in (1, 2, 4, 5, 6, 13)}
    assert before["pauses"]["t-cem"] == (jan[1], jan[4]) and before["linked"] == ["s-cem"]

    h = await Harness.open(empty_url, jan[6])
    try:
        h.add_chat("noord", "telegram", "noord")
        h.names.update({"t-anna": "t-anna", "t-cem": "t-cem", "t-dewi": "t-dewi"})
        async with h.db.transaction() as session:
            cem = await session.scalar(select(Member).where(Member.user_id == "t-cem"))
            assert cem.earlier_pauses is None and rhythm.paused(cem, jan[2]) and not rhythm.paused(cem, jan[5])
        await h.say("t-cem", "/pauze 1w", chat="noord")
        await h.say("t-dewi", "/pauze 1w", chat="noord")
        async with h.db.transaction() as session:
            cem = await session.scalar(select(Member).where(Member.user_id == "t-cem"))
            dewi = await session.scalar(select(Member).where(Member.user_id == "t-dewi"))
        assert (cem.paused_from, cem.paused_until) == (jan[6], jan[13])
        assert cem.earlier_pauses == [[jan[1].isoformat(), jan[4].isoformat()]]
        assert dewi.earlier_pauses == [[None, jan[4].isoformat()]]  # still without a start: held always
        assert [rhythm.paused(cem, at) for at in (jan[2], jan[5], jan[6])] == [True, False, True]
        assert [rhythm.paused(dewi, at) for at in (datetime(2025, 12, 2, tzinfo=UTC), jan[5], jan[6])] == [
            True, False, True]
    finally:
        await h.close()

    # down again, from Alembic's command line (SQLite's foreign keys on): the column goes, the
    # members and what refers to them stay (no table rebuilt, so nothing cascades)
    engine = create_engine(empty_url)
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0020_outbox_autoincrement"))
    await engine.dispose()
    after = await _members(empty_url)
    assert after["linked"] == ["s-cem"] and after["pauses"]["t-cem"] == (jan[6], jan[13])


# ---------------------------------------------------------------------------- 0023: answers' message ref
async def _answer_texts(url: str) -> list[tuple]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in await conn.execute(text("SELECT id, text FROM answers ORDER BY id"))]
    finally:
        await engine.dispose()


async def test_0023_keeps_the_answers_without_a_message_and_downgrade_keeps_them_too(empty_url: str) -> None:
    await _at_0020(empty_url)
    now = datetime(2026, 1, 6, 9, tzinfo=UTC)
    engine = create_engine(empty_url)
    try:
        await upgrade(engine, "0022_teams_file_owner")
        async with engine.begin() as conn:
            network = (await conn.execute(text("SELECT id FROM networks"))).scalar_one()
            cem = (await conn.execute(text("SELECT id FROM members WHERE user_id = 't-cem'"))).scalar_one()
            nudge = await _row(conn, "INSERT INTO nudges (network_id, question_id, category, sent_at, harvested) "
                                     "VALUES (:n, 'q1', 'why', :sent_at, :no)", n=network, sent_at=now, no=False)
            await _row(conn, "INSERT INTO answers (nudge_id, member_id, text, created_at) "
                             "VALUES (:nudge, :m, 'Een antwoord van voor 0023.', :created_at)",
                       nudge=nudge, m=cem, created_at=now)
        before = await _answer_texts(empty_url)
        await upgrade(engine)
        async with engine.connect() as conn:
            assert list(await conn.execute(text("SELECT text, message_ref FROM answers"))) == [
                ("Een antwoord van voor 0023.", None)]  # found by no deletion; /vergeetmij still erases it
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0022_teams_file_owner"))
        assert await _answer_texts(empty_url) == before
    finally:
        await engine.dispose()
