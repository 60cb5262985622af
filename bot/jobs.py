"""Planned work in the database, and the dispatcher that runs it.

Each planned thing is a :class:`~bot.models.Job` row with a due time and a unique key (for
example ``nudge:12:2026-W02``). Planning the same key twice is a no-op, so a restart or a
second replica can never plan (or send) the same thing twice. The dispatcher runs each due row
in one transaction that takes the row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and marks it
done: the effects and the "done" land together or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import metrics
from bot.clock import Clock
from bot.database import Database
from bot.models import Job

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
#: recurring work that fell due longer ago than this (bot down) is skipped, not replayed
DEFAULT_GRACE = timedelta(hours=3)


async def plan(session: AsyncSession, *, key: str, network_id: int, kind: str, due_at: datetime,
               payload: dict[str, Any] | None = None) -> bool:
    """Plan work once: insert the row unless ``key`` exists. Returns True when inserted.

    One statement (``INSERT … ON CONFLICT (key) DO NOTHING``), also when another process plans the
    same key at the same moment: no look-up first, no savepoint."""
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    inserted = await session.scalar(
        insert(Job).values(key=key, network_id=network_id, kind=kind, due_at=due_at, payload=payload or {})
        .on_conflict_do_nothing(index_elements=["key"]).returning(Job.id))
    return inserted is not None


async def unplan(session: AsyncSession, network_id: int, kind: str) -> None:
    """Remove pending (not yet started) work of ``kind`` for a network, e.g. when a rhythm changes."""
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
    is taken over once its lease ran out."""

    def __init__(self, db: Database, clock: Clock, kinds: Mapping[str, JobKind], *, features: Any = None) -> None:
        self.db = db
        self.clock = clock
        self.kinds = kinds
        #: handed to every job handler (:attr:`JobContext.features`)
        self.features = features
        #: when the earliest pending job falls due, as read at the end of the last :meth:`run_due`
        #: (None: none is planned); newer plans by other transactions are not in it
        self.upcoming: datetime | None = None

    async def next_due(self) -> datetime | None:
        """When the earliest pending job falls due."""
        async with self.db.sessions() as session:
            return await session.scalar(_NEXT_DUE)

    async def run_due(self) -> int:
        """Run every job due now, one transaction each, earliest first; return how many ran."""
        total = 0
        while await self._run_next(self.clock.now()):
            total += 1
            if self.upcoming is None or self.upcoming > self.clock.now():  # read with the job: no more due
                return total
        return total

    async def _run_next(self, now: datetime) -> bool:
        """Run the earliest due job; False when none is due. Either way :attr:`upcoming` is read
        in the same transaction."""
        job_id = None
        try:
            async with self.db.transaction() as session:
                job = await session.scalar(_DUE_LOCKED if self.db.is_postgres else _DUE, {"now": now})
                if job is None:
                    self.upcoming = await session.scalar(_NEXT_DUE)
                    return False
                job_id = job.id
                kind = self.kinds.get(job.kind)
                ctx = JobContext(session, job, now, features=self.features)
                if kind is None:
                    log.error("no handler for job kind %s (job %s)", job.kind, job.id)
                    job.state = "failed"
                elif kind.grace is not None and ctx.lateness > kind.grace:
                    log.info("skipping %s job %s: %s late", job.kind, job.id, ctx.lateness)
                    if kind.skip:
                        await kind.skip(ctx)
                    job.state = "skipped"
                else:
                    await kind.run(ctx)
                    job.state = "done"
                job.lease_until = None
                if ctx.postpone_to is not None and job.state == "done":
                    job.state, job.due_at, job.attempts = "pending", ctx.postpone_to, 0
                else:
                    job.finished_at = now
                self.upcoming = await session.scalar(_NEXT_DUE)  # the job's own row is flushed first
            metrics.JOBS_RUN.labels(job.state).inc()
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
            self.upcoming = now  # look again: others may be due
        return True


#: the earliest due job: pending, or claimed by a process whose lease ran out (``:now``)
_DUE = (
    select(Job)
    .where(or_(Job.state == "pending", (Job.state == "claimed") & (Job.lease_until <= bindparam("now"))))
    .where(Job.due_at <= bindparam("now"))
    .order_by(Job.due_at, Job.id)
    .limit(1)
)
_DUE_LOCKED = _DUE.with_for_update(skip_locked=True)
#: when the earliest job falls due (a row left claimed by an older version: when its lease runs out)
_NEXT_DUE = select(func.min(case((Job.state == "claimed", Job.lease_until), else_=Job.due_at))).where(
    Job.state.in_(("pending", "claimed")))
