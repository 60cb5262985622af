"""Planning many networks at once (``Registry.plan_networks``, ``bot.jobs.planning``) plans exactly
the rows that planning them one by one does: same keys, kinds, due times, payloads and order."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bamboe.features import FEATURES
from bot.database import Database, create_engine, sqlite_url_for, upgrade
from bot.jobs import plan, planning
from bot.models import Job, Network
from bot.registry import Registry
from tests.conftest import drop_postgres_database, local, new_postgres_database

NOW = local(2026, 3, 30, 9, 0)  # a Monday, the week before Easter
#: networks that differ in what their planners do: switched off, other days and time zones, older
SETTINGS = [
    {},
    {"nudge_weekday": None, "report_day": None},
    {"nudge_weekday": 0, "nudge_time": "08:30", "timezone": "Europe/London", "goal_weeks": 0},
    {"celebrate_weekday": None, "intention_weeks": 0, "report_day": 15},
    {"nudge_weekday": 4, "created_at": NOW - timedelta(days=400), "celebrate_weeks": 3},
    {"nudge_weekday": 1, "nudge_time": "07:00", "quiet_weekends": False, "created_at": NOW - timedelta(days=30)},
    {"nudge_weekday": 6, "nudge_time": "23:30"},
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def two_dbs(request, sqlite_url, tmp_path):
    if request.param == "sqlite":
        urls = [sqlite_url, sqlite_url_for(tmp_path / "batch.sqlite3")]
    else:
        urls = [await new_postgres_database(), await new_postgres_database()]
    dbs = [Database(create_engine(url)) for url in urls]
    for db in dbs:
        await upgrade(db.engine)
    yield dbs
    for db, url in zip(dbs, urls, strict=True):
        await db.close()
        if request.param == "postgres":
            await drop_postgres_database(url)


async def add_networks(db: Database) -> None:
    async with db.transaction() as s:
        for n, settings in enumerate(SETTINGS * 3):
            s.add(Network(**{"name": f"N{n}", "created_at": NOW - timedelta(days=2), **settings}))


async def networks(s) -> list[Network]:  # noqa: ANN001
    return list(await s.scalars(select(Network).order_by(Network.id)))


async def one_by_one(db: Database, registry: Registry, now, replan: bool = False) -> None:  # noqa: ANN001
    """Every planner of every network on its own, each job its own INSERT (no batch)."""
    async with db.transaction() as s:
        for network in await networks(s):
            for planner in registry.hooks("planners"):
                await planner(s, network, now, replan)


async def batched(db: Database, registry: Registry, now, replan: bool = False) -> None:  # noqa: ANN001
    async with db.transaction() as s:
        await registry.plan_networks(s, await networks(s), now, replan=replan, batch=4)


async def job_rows(db: Database) -> list[tuple]:
    async with db.sessions() as s:
        return [tuple(r) for r in await s.execute(
            select(Job.key, Job.network_id, Job.kind, Job.due_at, Job.payload, Job.state, Job.attempts)
            .order_by(Job.id))]


async def test_batch_plans_the_same_rows_as_one_by_one(two_dbs) -> None:
    registry = Registry.of(FEATURES)
    single, batch = two_dbs
    for db in two_dbs:
        await add_networks(db)
    await one_by_one(single, registry, NOW)
    await batched(batch, registry, NOW)
    planned = await job_rows(single)
    assert {kind for _, _, kind, *_ in planned} >= {
        "nudge", "goal_prompt", "intention_prompt", "celebrate_prompt", "anniversary", "retention", "report"}
    assert await job_rows(batch) == planned

    # planning again is a no-op
    await batched(batch, registry, NOW)
    assert await job_rows(batch) == planned

    # the week's nudges ran and the rhythm was changed: the existing rows' states are read, and a
    # replan (unplanning the pending rows first) plans the same rows both ways
    for db in two_dbs:
        async with db.transaction() as s:
            await s.execute(update(Job).where(Job.kind.in_(("nudge", "report")), Job.network_id % 2 == 0)
                            .values(state="done"))
            await s.execute(update(Network).values(nudge_weekday=3))
    later = NOW + timedelta(days=1)
    await one_by_one(single, registry, later, replan=True)
    await batched(batch, registry, later, replan=True)
    await one_by_one(single, registry, later + timedelta(days=40))
    await batched(batch, registry, later + timedelta(days=40))
    assert await job_rows(batch) == await job_rows(single)
    assert len(await job_rows(single)) > len(planned)


async def test_a_planning_writes_nothing_when_it_fails(two_dbs) -> None:
    db = two_dbs[0]
    await add_networks(db)
    async with db.transaction() as s:
        net = (await networks(s))[0]
        with pytest.raises(RuntimeError):
            async with planning(s, [net.id]):
                await plan(s, key="x:1", network_id=net.id, kind="x", due_at=NOW)
                raise RuntimeError
        async with planning(s, [net.id]):  # collected rows, the first of a key wins, nested plannings join
            assert await plan(s, key="x:2", network_id=net.id, kind="x", due_at=NOW)
            assert not await plan(s, key="x:2", network_id=net.id, kind="x", due_at=NOW + timedelta(days=1))
            async with planning(s, [net.id]):
                await plan(s, key="x:3", network_id=net.id, kind="x", due_at=NOW)
            assert not (await s.scalars(select(Job.key).where(Job.kind == "x"))).all()
    assert [(k, d) for k, _, kind, d, *_ in await job_rows(db) if kind == "x"] == [("x:2", NOW), ("x:3", NOW)]
