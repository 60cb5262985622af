"""Plan and dispatch one week of the reflection rhythm for many networks (no real platforms).

    .venv/bin/python bench/bench_week.py --networks 10000
    .venv/bin/python bench/bench_week.py --networks 10000 --database-url postgresql://postgres@127.0.0.1/bench
    .venv/bin/python bench/bench_week.py --networks 10000 --plan-only    # only the planning phase

Creates N networks with six members each (bulk insert), plans their rhythm, then moves a virtual
clock through one week: every nudge, reminder and harvest is claimed, run and delivered to a sender
that only counts. Prints wall time per phase, peak memory (max RSS), and the cost per due job and per
delivered message. A PostgreSQL URL gets a fresh database (created and dropped by the benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from bamboe.features import FEATURES
from bot.clock import VirtualClock
from bot.core import Core
from bot.database import Database, create_engine, sqlite_url_for, upgrade
from bot.delivery import Delivery
from bot.events import Outgoing
from bot.models import Answer, Chat, Job, Member, Network, Nudge, OutboxMessage
from bot.registry import Registry

AMS = ZoneInfo("Europe/Amsterdam")
START = datetime(2026, 1, 5, 8, 0, tzinfo=AMS)


class CountingSender:
    """Delivers nowhere; counts."""

    def __init__(self) -> None:
        self.count = 0

    async def send(self, message: Outgoing) -> str:
        self.count += 1
        return f"m{self.count}"


async def populate(db: Database, n: int, now: datetime, features: Registry) -> tuple[float, float]:
    """N networks, one chat and six members each, and their planned rhythm.

    Returns the wall and CPU seconds of the planning alone (the bulk insert before it not counted)."""
    batch = 1000
    async with db.transaction() as s:
        for start in range(0, n, batch):
            count = min(batch, n - start)
            ids = (await s.execute(insert(Network).returning(Network.id), [
                {"name": f"Netwerk {start + i}", "created_at": now, "intention": "", "ambition": ""}
                for i in range(count)])).scalars().all()
            await s.execute(insert(Chat), [{"network_id": nid, "platform": "bench", "chat_id": f"c{nid}",
                                            "title": ""} for nid in ids])
            await s.execute(insert(Member), [{"network_id": nid, "platform": "bench", "user_id": f"u{nid}-{k}",
                                              "name": f"Lid {k}", "role": "trekker" if k == 0 else "deelnemer",
                                              "joined_at": now - timedelta(days=1)}
                                             for nid in ids for k in range(6)])
    wall, cpu = time.perf_counter(), time.process_time()
    async with db.transaction() as s:
        await features.plan_networks(s, await s.scalars(select(Network).order_by(Network.id)), now)
    return time.perf_counter() - wall, time.process_time() - cpu


async def answer_some(db: Database, now: datetime) -> None:
    """Half of the members answer each nudge (so harvests and partial reminders happen)."""
    async with db.transaction() as s:
        nudges = list(await s.execute(select(Nudge.id, Nudge.network_id)))
        members: dict[int, list[int]] = {}
        for mid, nid in await s.execute(select(Member.id, Member.network_id)):
            members.setdefault(nid, []).append(mid)
        rows = [{"nudge_id": nid, "member_id": mid, "text": "Ik leerde iets over samenwerken met school en wijkteam.",
                 "created_at": now} for nid, net in nudges for mid in members[net][:3]]
        if rows:
            await s.execute(insert(Answer), rows)


async def stack(url: str) -> tuple[Database, VirtualClock, Core, CountingSender, Delivery]:
    """The bot's core and delivery on the (migrated) database at ``url``, with a counting sender."""
    db = Database(create_engine(url))
    await upgrade(db.engine)
    clock = VirtualClock(START)
    sender = CountingSender()
    return db, clock, Core(db, clock, FEATURES), sender, Delivery(db, clock, {"bench": sender})


async def run(url: str, n: int, plan_only: bool = False) -> dict[str, float]:
    db, clock, core, sender, delivery = await stack(url)
    t0 = time.perf_counter()
    planning, planning_cpu = await populate(db, n, clock.now(), core.features)
    t_plan = time.perf_counter() - t0
    async with db.sessions() as s:
        planned = await s.scalar(select(func.count(Job.id)))

    end = START + timedelta(days=7)
    jobs_run = 0
    t1 = time.perf_counter()
    answered = False
    while not plan_only:
        due = await core.dispatcher.next_due()
        if due is None or due > end:
            break
        clock.set(due)
        jobs_run += await core.run_due()
        await delivery.flush()
        if not answered and due >= START + timedelta(days=1, hours=2):
            await answer_some(db, clock.now())
            answered = True
    t_dispatch = time.perf_counter() - t1
    async with db.sessions() as s:
        outbox = await s.scalar(select(func.count(OutboxMessage.id)))
        pending = await s.scalar(select(func.count(Job.id)).where(Job.state == "pending"))
    await db.close()
    return {"networks": n, "plan_s": t_plan, "planning_s": planning, "planning_cpu_s": planning_cpu,
            "planned": planned, "dispatch_s": t_dispatch, "jobs": jobs_run, "messages": sender.count,
            "outbox": outbox, "pending_after": pending,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="postgresql://… (a fresh database is made in it)")
    parser.add_argument("--plan-only", action="store_true", help="stop after planning (no week dispatched)")
    args = parser.parse_args()
    if args.database_url:
        import asyncpg

        name = f"bamboe_bench_{uuid.uuid4().hex[:8]}"
        admin = args.database_url.replace("postgresql://", "postgres://")
        conn = await asyncpg.connect(admin)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        try:
            result = await run(args.database_url.rsplit("/", 1)[0] + "/" + name, args.networks, args.plan_only)
        finally:
            conn = await asyncpg.connect(admin)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()
        backend = "postgresql"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = await run(sqlite_url_for(Path(tmp) / "bench.sqlite3"), args.networks, args.plan_only)
        backend = "sqlite"
    per_job = result["dispatch_s"] / max(1, result["jobs"]) * 1000
    per_msg = result["dispatch_s"] / max(1, result["messages"]) * 1000
    print(f"backend={backend} networks={result['networks']} plan={result['plan_s']:.1f}s "
          f"(planning alone {result['planning_s']:.1f}s, cpu {result['planning_cpu_s']:.1f}s, "
          f"{result['planned']} jobs) "
          f"dispatch_week={result['dispatch_s']:.1f}s jobs={result['jobs']} messages={result['messages']} "
          f"per_job={per_job:.2f}ms per_message={per_msg:.2f}ms max_rss={result['max_rss_mb']:.0f}MB "
          f"pending_after={result['pending_after']}")


if __name__ == "__main__":
    asyncio.run(main())
