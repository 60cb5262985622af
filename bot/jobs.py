"""Planned work in the database, and the dispatcher that runs it.

Each planned thing is a :class:`~bot.models.Job` row with a due time and a unique key (for
example ``nudge:12:2026-W02``). Planning the same key twice is a no-op, so a restart or a
second replica can never plan (or send) the same thing twice. The dispatcher claims due rows
with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), then runs each in its own transaction
together with marking it done: the effects and the "done" land together or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import metrics
from bot.clock import Clock
from bot.database import Database
from bot.models import Job

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
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
    """Claims due jobs and runs them; safe to run in several processes on PostgreSQL."""

    def __init__(self, db: Database, clock: Clock, kinds: Mapping[str, JobKind], *, features: Any = None) -> None:
        self.db = db
        self.clock = clock
        self.kinds = kinds
        #: handed to every job handler (:attr:`JobContext.features`)
        self.features = features
        #: jobs claimed and not yet run (put back by :meth:`release_claims` on shutdown)
        self._claimed: set[int] = set()

    async def next_due(self) -> datetime | None:
        """When the earliest pending job falls due."""
        async with self.db.sessions() as session:
            return await session.scalar(select(func.min(Job.due_at)).where(Job.state == "pending"))

    async def _claim(self, now: datetime, limit: int) -> list[int]:
        async with self.db.transaction() as session:
            query = (
                select(Job.id)
                .where(or_(Job.state == "pending", (Job.state == "claimed") & (Job.lease_until < now)))
                .where(Job.due_at <= now)
                .order_by(Job.due_at, Job.id)
                .limit(limit)
            )
            if self.db.is_postgres:
                query = query.with_for_update(skip_locked=True)
            ids = list(await session.scalars(query))
            if ids:
                await session.execute(
                    update(Job).where(Job.id.in_(ids))
                    .values(state="claimed", lease_until=now + LEASE, attempts=Job.attempts + 1)
                )
        self._claimed.update(ids)
        return ids

    async def run_due(self, limit: int = 200) -> int:
        """Run every job due now (in batches); return how many ran."""
        total = 0
        while True:
            now = self.clock.now()
            ids = await self._claim(now, limit)
            for job_id in ids:
                await self._run_one(job_id)
                self._claimed.discard(job_id)
            total += len(ids)
            if len(ids) < limit:
                return total

    async def _run_one(self, job_id: int) -> None:
        now = self.clock.now()
        try:
            async with self.db.transaction() as session:
                job = await session.get(Job, job_id, with_for_update=self.db.is_postgres)
                if job is None or job.state != "claimed":
                    return
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
            metrics.JOBS_RUN.labels(job.state).inc()
        except Exception:
            log.exception("job %s failed", job_id)
            async with self.db.transaction() as session:
                job = await session.get(Job, job_id)
                if job is not None:
                    if job.attempts >= MAX_ATTEMPTS:
                        job.state = "failed"
                    else:
                        job.state = "pending"
                        job.due_at = now + timedelta(minutes=2 ** job.attempts)
                    job.lease_until = None
                    metrics.JOBS_RUN.labels("error").inc()

    async def release_claims(self) -> int:
        """On shutdown: put the jobs this process claimed but did not run back, for another replica."""
        ids = sorted(self._claimed)
        if ids:
            async with self.db.transaction() as session:
                await session.execute(update(Job).where(Job.id.in_(ids), Job.state == "claimed")
                                      .values(state="pending", lease_until=None, attempts=Job.attempts - 1))
        self._claimed.clear()
        return len(ids)
