"""Upgrading an empty database to head gives exactly the models' schema (SQLite and PostgreSQL)."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.database import alembic_config, create_engine, head_revision, sqlite_url_for, upgrade
from bot.models import Base


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
