"""Shared fixtures: a migrated SQLite template, the PostgreSQL policy, and the virtual chat."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import sys
import uuid
import warnings
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from adapters.console.harness import Harness
from bamboe.features import FEATURES
from bot.core import Core
from bot.database import Database, create_engine, sqlite_url_for, upgrade
from bot.registry import Feature

# pytest imports this file as ``conftest``, and the tests import it as ``tests.conftest``: without
# this, two modules with their own globals (each worker made two migrated PostgreSQL templates, and
# the one of ``tests.conftest`` was never dropped: its pytest_sessionfinish is not pytest's hook)
sys.modules.setdefault("tests.conftest", sys.modules[__name__])

AMS = ZoneInfo("Europe/Amsterdam")
PG_ADMIN = os.environ.get("BAMBOE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

MEMBERS = [
    {"id": "anna", "name": "Anna de Vries", "role": "trekker", "perspective": "beleid"},
    {"id": "bram", "name": "Bram Peters", "role": "procesbegeleider", "perspective": "onderzoek"},
    {"id": "cem", "name": "Cem Yilmaz", "role": "deelnemer", "perspective": "professional"},
    {"id": "dewi", "name": "Dewi Santoso", "role": "deelnemer", "perspective": "onderwijs"},
    {"id": "els", "name": "Els Janssen", "role": "deelnemer", "perspective": "gezin"},
    {"id": "fleur", "name": "Fleur Bakker", "role": "deelnemer"},
]
NETWORK = {"name": "Lerend netwerk Test", "intention": "Samen leren over armoede.", "ambition": "Eén aanpak."}


#: ports handed out by :func:`free_port` come from below the kernel's ephemeral range (32768-60999 on
#: Linux), so an outgoing connection can never take one between the check and the server's bind
PORTS = range(20000, 32000)
_given: set[int] = set()
_ports = random.Random(f"{os.getpid()}-{os.environ.get('PYTEST_XDIST_WORKER', '')}-{uuid.uuid4()}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on, never the same twice in this process.

    Safe with parallel test workers (pytest-xdist) and other processes on the machine: ports are
    drawn at random (a different sequence per worker), checked by binding, and remembered."""
    while True:
        port = _ports.choice(PORTS)
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port


def local(*args: int) -> datetime:
    """A local (Amsterdam) datetime."""
    return datetime(*args, tzinfo=AMS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests first: parallel workers (``scripts/test`` runs pytest-xdist) then finish at about
    the same time instead of one worker running a 40-second test while the others are idle. The
    sort is stable, so every worker collects the same order (xdist requires that)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; tests copy it (fast, and still the real migrations)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"

    async def build() -> None:
        engine = create_engine(sqlite_url_for(path))
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(build())
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh, migrated SQLite database for one test."""
    path = tmp_path / "bamboe.sqlite3"
    shutil.copy(sqlite_template, path)
    return sqlite_url_for(path)


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN.replace("postgresql://", "postgres://"), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def new_postgres_database(template: str | None = None) -> str:
    """Create a PostgreSQL database, empty or a copy of the database ``template``; skip off
    CI when no server runs, fail in CI."""
    name = f"bamboe_test_{uuid.uuid4().hex[:10]}"
    try:
        await _pg_admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    except Exception as exc:  # noqa: BLE001 - any connection problem means "no server here"
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {PG_ADMIN} is required in CI but unreachable: {exc!r}")
        pytest.skip(f"no PostgreSQL server at {PG_ADMIN} ({type(exc).__name__}); runs in CI")
    _not_dropped[name] = os.environ.get("PYTEST_CURRENT_TEST", "?")
    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"


#: this worker's databases not dropped yet: name → the test that made it
_not_dropped: dict[str, str] = {}


async def drop_postgres_database(url: str) -> None:
    """Drop a database made by :func:`new_postgres_database`."""
    name = url.rsplit("/", 1)[1]
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _not_dropped.pop(name, None)


#: this worker's PostgreSQL database at the newest migration, copied for each test that needs one
_pg_template: str | None = None


async def migrated_postgres_database() -> str:
    """A new PostgreSQL database at the newest migration: a copy of this worker's migrated
    template (made, by running every migration, for the first test that asks; a copy takes a
    fraction of a migration's time). Skips or fails as :func:`new_postgres_database`."""
    global _pg_template
    if _pg_template is None:
        url = await new_postgres_database()
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()  # a template must have no connections
        _pg_template = url
    return await new_postgres_database(template=_pg_template.rsplit("/", 1)[1])


@asynccontextmanager
async def two_replicas(members: Iterable[dict], held: Feature, release: asyncio.Event,
                       ) -> AsyncIterator[tuple[Harness, Core, Core, list[asyncio.Task]]]:
    """Two replicas (each its own engine and core) on a new PostgreSQL database whose network a
    harness set up with ``members``; the first also runs ``held``, a feature that waits for
    ``release`` inside its transaction. Yields (the harness, first, second, tasks): afterwards, also
    when the test failed, ``release`` is set, the tasks the test put in ``tasks`` are awaited, the
    replicas closed and the database dropped."""
    pg = await migrated_postgres_database()
    replicas: list[Core] = []
    tasks: list[asyncio.Task] = []
    try:
        setup = await Harness.open(pg, local(2026, 1, 5, 8, 0))
        await setup.setup(dict(NETWORK), [dict(m) for m in members])
        await setup.close()
        replicas += (Core(Database(create_engine(pg)), setup.clock, features)
                     for features in ((*FEATURES, held), FEATURES))
        yield setup, replicas[0], replicas[1], tasks
    finally:
        release.set()
        await asyncio.gather(*tasks, return_exceptions=True)  # none left running when the test fails
        for core in replicas:
            await core.db.close()
        await drop_postgres_database(pg)


async def waiting_for_a_lock(db: Database) -> None:
    """Return once a transaction in ``db``'s database waits for a lock another holds (at most 10 s)."""
    for _ in range(1000):
        async with db.engine.connect() as conn:
            waiting = await conn.scalar(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))
        if waiting:
            return
        await asyncio.sleep(0.01)
    pytest.fail("the second transaction never waited for the first")


def pytest_sessionfinish(session: pytest.Session) -> None:  # noqa: ARG001 - pytest's signature
    """Drop this worker's PostgreSQL template, and any database a test made and did not drop
    (named in a warning with the test that made it, so the test can be fixed)."""
    if _pg_template is not None:
        asyncio.run(drop_postgres_database(_pg_template))
    left = dict(_not_dropped)
    for name in left:
        asyncio.run(drop_postgres_database(f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"))
    if left:
        warnings.warn(f"PostgreSQL databases left by tests, now dropped: {left}", stacklevel=1)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database for one test."""
    url = await new_postgres_database()
    yield url
    await drop_postgres_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[str]:
    """A fresh database at the newest migration for one test, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url
        return
    url = await migrated_postgres_database()
    yield url
    await drop_postgres_database(url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated database for one test, once on SQLite and once on PostgreSQL (as ``database_url``)."""
    database = Database(create_engine(database_url))
    await upgrade(database.engine)
    yield database
    await database.close()


@pytest.fixture
async def harness(sqlite_url: str) -> AsyncIterator[Harness]:
    """The real core in a virtual group chat, Monday 5 January 2026 08:00, six members."""
    h = await Harness.open(sqlite_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [dict(m) for m in MEMBERS])
    yield h
    await h.close()


def texts(h: Harness, kind: str | None = None, to: str | None = None) -> list[str]:
    """The plain texts the bot sent (optionally of one kind, to one address)."""
    from bot.markup import plain

    return [plain(s.text) for s in h.recorder.sent if (kind is None or s.has(kind)) and (to is None or s.to == to)]


# the session's Synapse homeserver for the Matrix tests (started only when a test asks for it)
from tests.matrix_server import synapse_server  # noqa: E402,F401 - a fixture
