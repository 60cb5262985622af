"""Shared by the benchmarks: a fresh PostgreSQL database for one run."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


@asynccontextmanager
async def fresh_postgres(admin_url: str) -> AsyncIterator[str]:
    """Create an empty database next to ``admin_url``'s; yield its URL; drop it afterwards."""
    import asyncpg

    name = f"bamboe_bench_{uuid.uuid4().hex[:8]}"
    admin = admin_url.replace("postgresql://", "postgres://")
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
