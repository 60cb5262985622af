"""Alembic environment: runs on a connection handed in by ``bot.database.upgrade``.

From the command line (``alembic -c migrations/alembic.ini …``, for authoring new revisions) it
connects to ``DATABASE_URL`` with a synchronous driver-less URL via the async engine.
"""

import asyncio
import os

from alembic import context

from bot.database import create_engine
from bot.models import Base

target_metadata = Base.metadata


def run_on(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_url(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(run_on)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    asyncio.run(run_from_url(os.environ.get("DATABASE_URL", "sqlite:///bamboe-dev.sqlite3")))
