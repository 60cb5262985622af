"""Planned work in the database, and the dispatcher that runs it.

Each planned thing is a :class:`~bot.models.Job` row with a due time and a unique key (for
example ``nudge:12:2026-W02``). Planning the same key twice is a no-op, so a restart or a
second replica can never plan (or send) the same thing twice. The dispatcher runs each due row
in one transaction that takes the row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and marks it
done: the effects and the "done" land together or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from bot import metrics
from bot.clock import Clock
from bot.database import PLANNED, Database, Deferred, deferred_together, run_deferred, take_deferred
from bot.models import Chat, Job, Network

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
#: recurring work that fell due longer ago than this (bot down) is skipped, not replayed
DEFAULT_GRACE = timedelta(hours=3)


#: ``session.info`` key of the :class:`Plans` collecting the session's planned rows (see :func:`planning`)
_PLANS = "bamboe.plans"
#: networks per look-up of those without jobs (far below SQLite's 32,766 parameters)
_CHUNK = 500


@dataclass
class Plans:
    """Job rows planned inside :func:`planning`, not yet written (key → row, in planning order)."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: networks known to have had no job row at all when the planning began (no state to read)
    fresh: set[int] = field(default_factory=set)


async def plan(session: AsyncSession, *, key: str, network_id: int, kind: str, due_at: datetime,
               payload: dict[str, Any] | None = None) -> bool:
    """Plan work once: insert the row unless ``key`` exists. Returns True when inserted.

    One statement (``INSERT … ON CONFLICT (key) DO NOTHING``), also when another process plans the
    same key at the same moment: no look-up first, no savepoint. Inside :func:`planning` the row is
    collected instead and written with the others when the planning ends (then True means collected,
    the first time for this key: whether the key already existed shows only when it is written)."""
    _planned(session, due_at)
    plans: Plans | None = session.info.get(_PLANS)
    if plans is not None:
        if key in plans.rows:
            return False
        plans.rows[key] = {"key": key, "network_id": network_id, "kind": kind, "due_at": due_at,
                           "payload": payload or {}}
        return True
    connection = await session.connection()
    inserted = await connection.execute(_plan_all(session.bind.dialect.name), {
        "key": key, "network_id": network_id, "kind": kind, "due_at": due_at, "payload": payload or {}})
    return inserted.scalar() is not None


async def plan_all(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Plan several jobs at once (each row as :func:`plan` takes its arguments); return the keys
    that were new.

    One statement (``INSERT … ON CONFLICT (key) DO NOTHING RETURNING key``) for all rows. Inside
    :func:`planning` the rows are collected as :func:`plan` does (a key counts as new the first
    time it is collected)."""
    if not rows:
        return set()
    if in_planning(session):
        return {row["key"] for row in rows if await plan(session, **row)}
    _planned(session, min(row["due_at"] for row in rows))
    connection = await session.connection()
    inserted = await connection.execute(_plan_all(session.bind.dialect.name),
                                        [{"payload": {}, **row} for row in rows])
    return set(inserted.scalars())


def _planned(session: AsyncSession, due_at: datetime) -> None:
    earliest = session.info.get(PLANNED)
    if earliest is None or due_at < earliest:
        session.info[PLANNED] = due_at


def planned_before(session: AsyncSession, at: datetime) -> bool:
    """True when :func:`plan` or :func:`plan_all` planned a job due before or at ``at`` in this
    session (whether or not its key was new): what a job read earlier in the transaction may miss."""
    earliest = session.info.get(PLANNED)
    return earliest is not None and earliest <= at


def in_planning(session: AsyncSession) -> bool:
    """True inside :func:`planning` (then :func:`plan` collects rows instead of writing them)."""
    return _PLANS in session.info


async def job_state(session: AsyncSession, key: str, network_id: int) -> str | None:
    """The state of the job with ``key`` (a job of network ``network_id``); None when there is none.

    Inside :func:`planning` a row collected there counts as ``pending``, and for a network that had
    no job row when the planning began the answer (None) needs no query."""
    plans: Plans | None = session.info.get(_PLANS)
    if plans is not None:
        if key in plans.rows:
            return "pending"
        if network_id in plans.fresh:
            return None
    return await session.scalar(_STATE, {"key": key})


_STATE = select(Job.state).where(Job.key == bindparam("key"))


@asynccontextmanager
async def planning(session: AsyncSession, network_ids: Iterable[int] = ()) -> AsyncIterator[Plans]:
    """Plan many jobs at the cost of a few statements.

    Inside, :func:`plan` collects the rows; at the end they are written with multi-row
    ``INSERT … ON CONFLICT (key) DO NOTHING`` statements (SQLAlchemy's "insertmanyvalues": up to
    1,000 rows each), in the order they were planned: the same rows as planning them one by one, and
    planning twice is still a no-op. ``network_ids`` are the networks about to be planned: one query
    finds those without any job row, whose job states :func:`job_state` then knows without a query.
    Nested, the outermost planning writes everything. Nothing is written when the block raises."""
    ids = set(network_ids)
    outer: Plans | None = session.info.get(_PLANS)
    if outer is not None:
        outer.fresh |= await _without_jobs(session, ids - outer.fresh)
        yield outer
        return
    plans = Plans(fresh=await _without_jobs(session, ids))
    session.info[_PLANS] = plans
    try:
        yield plans
    finally:
        del session.info[_PLANS]
    if plans.rows:  # compiled once; RETURNING makes SQLAlchemy batch the rows into multi-row VALUES
        connection = await session.connection()
        await connection.execute(_plan_all(session.bind.dialect.name), list(plans.rows.values()))


@cache
def _plan_all(dialect: str) -> Any:
    """The jobs' ``INSERT … ON CONFLICT (key) DO NOTHING RETURNING key`` for ``dialect`` (of
    :func:`plan`, :func:`plan_all` and :func:`planning`), built once, at first use: a start on
    SQLite never imports SQLAlchemy's PostgreSQL dialect."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = Job.__table__
    return insert(table).on_conflict_do_nothing(index_elements=["key"]).returning(table.c.key)


async def _without_jobs(session: AsyncSession, network_ids: set[int]) -> set[int]:
    """Those of ``network_ids`` that have no job row (one query per 500 networks)."""
    ids = sorted(network_ids)
    found: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        found.update(await session.scalars(select(Job.network_id).where(Job.network_id.in_(chunk)).distinct()))
    return network_ids - found


async def unplan(session: AsyncSession, network_id: int, kind: str) -> None:
    """Remove pending (not yet started) work of ``kind`` for a network, e.g. when a rhythm changes
    (also rows of it collected by a :func:`planning` in progress)."""
    plans: Plans | None = session.info.get(_PLANS)
    if plans is not None:
        for key in [k for k, row in plans.rows.items() if row["network_id"] == network_id and row["kind"] == kind]:
            del plans.rows[key]
    await session.execute(delete(Job).where(Job.network_id == network_id, Job.kind == kind,
                                            Job.state == "pending"))


@dataclass
class JobContext:
    """What a job handler gets: the open transaction, the row, and the time."""

    session: AsyncSession
    job: Job
    now: datetime
    #: set by a handler that cannot run now (inside a session, quiet hours): run again then
    postpone_to: datetime | None = None
    #: the bot's features (:class:`bot.registry.Registry`), for handlers that need other features
    features: Any = None
    #: the job's network and its chats, loaded with the job row by the dispatcher (None: not loaded)
    network: Network | None = None
    chats: list[Chat] | None = None

    @property
    def lateness(self) -> timedelta:
        """How long after its due time the job runs."""
        return self.now - self.job.due_at


JobHandler = Callable[[JobContext], Awaitable[None]]


@dataclass(frozen=True)
class JobKind:
    """A handler and its policy for late runs (``grace`` None: always run, however late)."""

    run: JobHandler
    grace: timedelta | None = DEFAULT_GRACE
    #: called instead of ``run`` when the job is too late (e.g. to plan the next occurrence)
    skip: JobHandler | None = None


class Dispatcher:
    """Runs due jobs; safe to run in several processes on PostgreSQL.

    Each job runs in one transaction that first takes its row (``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL; on SQLite the transaction holds the write lock): the handler's effects and the
    job marked done commit together, or, if the process dies meanwhile, not at all and the job
    stays due for the next replica. A row left ``claimed`` with a lease (by an older version)
    is taken over once its lease ran out.

    Per job: one statement claims the row with its network and chats (:attr:`JobContext.network`),
    and one writes the row when the handler is done, carrying the writes the handler put off
    (:func:`bot.database.defer_insert`) and returning when the next job is due."""

    def __init__(self, db: Database, clock: Clock, kinds: Mapping[str, JobKind], *, features: Any = None) -> None:
        self.db = db
        self.clock = clock
        self.kinds = kinds
        #: handed to every job handler (:attr:`JobContext.features`)
        self.features = features
        #: when the earliest pending job falls due, as read at the end of the last :meth:`run_due`
        #: (None: none is planned); newer plans by other transactions are not in it
        self.upcoming: datetime | None = None
        #: whether the last job run failed (its transaction rolled back)
        self._failed = False

    async def next_due(self) -> datetime | None:
        """When the earliest pending job falls due."""
        async with self.db.engine.connect() as connection:  # no ORM session: nothing to load
            return await _next_due(connection)

    def known_due(self) -> datetime | None:
        """When the next job falls due as far as this process knows without asking the database:
        :attr:`upcoming`, or sooner when a transaction of this process planned a job due sooner
        since (:attr:`bot.database.Database.planned`). Only for a process that alone writes its
        database (``simulate``'s virtual chat): jobs other processes plan are not in it."""
        planned, self.db.planned = self.db.planned, None
        if planned is not None and (self.upcoming is None or planned < self.upcoming):
            self.upcoming = planned
        return self.upcoming

    async def run_due(self) -> int:
        """Run every job due now, one transaction each, earliest first; return how many ran.

        The jobs of one call share one pooled connection (checked out, and on PostgreSQL pinged,
        once); after a job that failed, the next ones check out their own again."""
        total, shared = 0, True
        async with self.db.connection() as connection:
            while await self._run_next(self.clock.now(), connection if shared else None):
                total += 1
                shared = shared and not self._failed
                if self.upcoming is None or self.upcoming > self.clock.now():  # read with the job: no more due
                    break
        return total

    async def _run_next(self, now: datetime, connection: AsyncConnection | None = None) -> bool:
        """Run the earliest due job (on ``connection`` when given); False when none is due. Either
        way :attr:`upcoming` is read in the same transaction."""
        job_id, self._failed = None, False
        try:
            async with self.db.transaction(connection) as session:
                pending, claimed = _CLAIM_LOCKED if self.db.is_postgres else _CLAIM
                rows = (await session.execute(pending, {"now": now})).all() or \
                    (await session.execute(claimed, {"now": now})).all()
                if not rows:
                    self.upcoming = await _next_due(session)
                    return False
                job = rows[0][0]
                job_id = job.id
                kind = self.kinds.get(job.kind)
                ctx = JobContext(session, job, now, features=self.features, network=rows[0][1],
                                 chats=[chat for _, _, chat in rows if chat is not None])
                if kind is None:
                    log.error("no handler for job kind %s (job %s)", job.kind, job.id)
                    state = "failed"
                elif kind.grace is not None and ctx.lateness > kind.grace:
                    log.info("skipping %s job %s: %s late", job.kind, job.id, ctx.lateness)
                    if kind.skip:
                        await kind.skip(ctx)
                    state = "skipped"
                else:
                    await kind.run(ctx)
                    state = "done"
                if ctx.postpone_to is not None and state == "done":
                    values = {"state": "pending", "due_at": ctx.postpone_to, "attempts": 0, "lease_until": None}
                else:
                    values = {"state": state, "lease_until": None, "finished_at": now}
                self.upcoming = await _finish(session, job, values)
            metrics.JOBS_RUN.labels(state).inc()
        except Exception:
            if job_id is None:  # the database itself failed: the caller's loop retries later
                raise
            log.exception("job %s failed", job_id)
            async with self.db.transaction() as session:
                job = await session.get(Job, job_id)
                if job is not None:
                    job.attempts += 1
                    if job.attempts >= MAX_ATTEMPTS:
                        job.state = "failed"
                    else:
                        job.state = "pending"
                        job.due_at = now + timedelta(minutes=2 ** job.attempts)
                    job.lease_until = None
                    metrics.JOBS_RUN.labels("error").inc()
            self.upcoming = now  # look again: others may be due (on a connection of their own)
            self._failed = True
        return True


def _due(state: str, ready: Any) -> Any:
    """The earliest due job in ``state`` (``:now``): one step along ``ix_jobs_state_due_id``, also
    when thousands fall due at the same moment."""
    return (select(Job).where(Job.state == state, Job.due_at <= bindparam("now"), ready)
            .order_by(Job.due_at, Job.id).limit(1))


#: the earliest due job, and one left claimed by an older version whose lease ran out
_DUE = (_due("pending", true()), _due("claimed", Job.lease_until <= bindparam("now")))
_DUE_LOCKED = tuple(query.with_for_update(skip_locked=True) for query in _DUE)


def _claim(due: Any) -> Any:
    """The due job with its network and each of the network's chats (rows of job, network, chat):
    the row lock (on PostgreSQL) covers the job's row only."""
    job = aliased(Job, due.cte("due"))
    return (select(job, Network, Chat).outerjoin(Network, Network.id == job.network_id)
            .outerjoin(Chat, Chat.network_id == Network.id).order_by(Chat.id))


_CLAIM = tuple(_claim(query) for query in _DUE)
_CLAIM_LOCKED = tuple(_claim(query) for query in _DUE_LOCKED)
#: when the next job falls due: the earliest pending one, and the earliest lease of a claimed one
#: (each the first entry of an index range: a ``case`` over both states would read every row)
_NEXT_DUE = select(
    select(func.min(Job.due_at)).where(Job.state == "pending").scalar_subquery(),
    select(func.min(Job.lease_until)).where(Job.state == "claimed").scalar_subquery(),
)
_JOBS, _OTHER = Job.__table__, Job.__table__.alias("other")
_OTHERS = _OTHER.c.id != bindparam("finish_id")
#: a job's own row written when it ran, returning when the next other job falls due (as
#: :data:`_NEXT_DUE`, without the job itself: the statement does not see its own change); one
#: statement per set of columns written, built once (its parameters named apart from those of the
#: writes it carries, see :func:`_finish`). The row is matched by id and key: a handler may delete its
#: own row and plan another one, which SQLite may give the same (reused) id, never the same key
_FINISH = {
    names: update(_JOBS).where(_JOBS.c.id == bindparam("finish_id"), _JOBS.c.key == bindparam("finish_key"))
    .values({name: bindparam(f"finish_{name}") for name in names})
    .returning(select(func.min(_OTHER.c.due_at)).where(_OTHER.c.state == "pending", _OTHERS).scalar_subquery(),
               select(func.min(_OTHER.c.lease_until)).where(_OTHER.c.state == "claimed", _OTHERS)
               .scalar_subquery())
    for names in (("state", "lease_until", "finished_at"), ("state", "due_at", "attempts", "lease_until"))
}


_WITH_WRITES: dict[tuple, Any] = {}


def _with_writes(names: tuple[str, ...], deferred: Deferred) -> Any:
    """:data:`_FINISH` with ``deferred``'s writes as ``WITH`` clauses (PostgreSQL), built once per shape."""
    key = (names, deferred.shape)
    statement = _WITH_WRITES.get(key)
    if statement is None:
        writes = deferred_together(deferred)
        statement = _FINISH[names].add_cte(*(write.cte(f"w{n}") for n, write in enumerate(writes)))
        if len(_WITH_WRITES) < 1000:
            _WITH_WRITES[key] = statement
    return statement


async def _next_due(on: AsyncSession | AsyncConnection) -> datetime | None:
    return min((t for t in (await on.execute(_NEXT_DUE)).one() if t is not None), default=None)


async def _finish(session: AsyncSession, job: Job, values: dict[str, Any]) -> datetime | None:
    """Write the job's own row (``values``) after what its handler changed; return when the next
    job falls due (this one too, when it is pending again)."""
    await session.flush()  # the handler's changes first (e.g. its payload, other jobs it merged)
    connection = await session.connection()
    names, deferred = tuple(values), take_deferred(session)
    params = {"finish_id": job.id, "finish_key": job.key, **{f"finish_{name}": value for name, value in values.items()}}
    statement = _FINISH[names]
    if deferred is not None and session.bind.dialect.name == "postgresql" and deferred_together(deferred):
        statement = _with_writes(names, deferred)  # one round trip for the job's writes
        params.update(deferred.params)
    elif deferred is not None:
        await run_deferred(connection, deferred)
    times = (await connection.execute(statement, params)).first()
    if times is None:  # the handler removed the job's own row (e.g. unplanned its kind): nothing to mark
        return await _next_due(session)
    for name, value in values.items():  # the loaded row as written (no second write at commit)
        set_committed_value(job, name, value)
    own = [values["due_at"]] if values["state"] == "pending" else []
    return min((t for t in (*times, *own) if t is not None), default=None)
