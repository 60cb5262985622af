"""CPU per job and per delivered message at scale: the weekly question for N networks.

    .venv/bin/python bench/bench_job.py --networks 10000 --database-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/bench_job.py --networks 10000                       # SQLite (temporary file)

Plans N networks of six members (as ``bench_week.py`` does), moves a virtual clock to the first
weekly question and runs every job due then, then delivers their messages to a sender that only
counts. Prints this process's CPU time (user + system) per job and per message, each phase on its
own, so the figure does not depend on what else the machine is doing (wall time is printed too).
A PostgreSQL URL gets a fresh database (created and dropped by the benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, func, select  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from bench.bench_week import populate, stack  # noqa: E402
from bench.common import cpu, fresh_postgres  # noqa: E402
from bot.database import sqlite_url_for  # noqa: E402
from bot.models import Job  # noqa: E402

STATEMENTS = [0]


@event.listens_for(Engine, "before_cursor_execute")
def _count(*_) -> None:  # noqa: ANN002
    STATEMENTS[0] += 1


async def run(url: str, n: int) -> None:
    db, clock, core, sender, delivery = await stack(url)
    await populate(db, n, clock.now(), core.features)
    async with db.sessions() as s:  # the first weekly question (all networks share its due time)
        due = await s.scalar(select(func.min(Job.due_at)).where(Job.kind == "nudge", Job.state == "pending"))
    clock.set(due - timedelta(microseconds=1))  # first what falls due before it (the nightly retention run)
    await core.run_due()
    await delivery.flush()
    async with db.sessions() as s:
        kinds = Counter(dict((await s.execute(select(Job.kind, func.count()).where(
            Job.state == "pending", Job.due_at <= due).group_by(Job.kind))).all()))
    clock.set(due)
    c0, w0, s0 = cpu(), time.perf_counter(), STATEMENTS[0]
    jobs = await core.run_due()
    c1, w1, s1 = cpu(), time.perf_counter(), STATEMENTS[0]
    await delivery.flush()
    c2, w2, s2 = cpu(), time.perf_counter(), STATEMENTS[0]
    await db.close()
    print(f"backend={db.engine.dialect.name} networks={n} due at once: {dict(kinds)}")
    print(f"  jobs:     {jobs} in {w1 - w0:.1f} s wall, CPU {c1 - c0:.1f} s = "
          f"{(c1 - c0) / max(1, jobs) * 1000:.2f} ms a job, {(s1 - s0) / max(1, jobs):.2f} statements a job")
    print(f"  delivery: {sender.count} messages in {w2 - w1:.1f} s wall, CPU {c2 - c1:.1f} s = "
          f"{(c2 - c1) / max(1, sender.count) * 1000:.2f} ms a message, "
          f"{(s2 - s1) / max(1, sender.count):.2f} statements a message")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="postgresql://… (a fresh database is made in it)")
    args = parser.parse_args()
    if args.database_url:
        async with fresh_postgres(args.database_url) as url:
            await run(url, args.networks)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            await run(sqlite_url_for(Path(tmp) / "bench.sqlite3"), args.networks)


if __name__ == "__main__":
    asyncio.run(main())
