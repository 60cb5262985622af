"""Scale: 10,000 networks on PostgreSQL, one replica against three.

    .venv/bin/python bench/bench_scale.py --database-url postgresql://postgres@127.0.0.1:5432/test --replicas 1
    .venv/bin/python bench/bench_scale.py --database-url postgresql://postgres@127.0.0.1:5432/test --replicas 3

Bulk-creates ``--networks`` Telegram networks (six members each, quiet hours off so the run does not
depend on the hour) and plans their rhythm, then starts ``--replicas`` real ``bamboe run``
processes against the Telegram stand-in (limits enforced) and measures:

* start-up: from starting the processes to every ``/readyz`` answering 200;
* memory: each process's resident size when ready (idle) and its peak (VmHWM) at the end;
* the Tuesday-morning work: every network's weekly question falls due at the same moment; the time
  until all those jobs ran (the question decided and stored, the reminder, harvest and next week
  planned, one transaction per network). Their messages then drain at Telegram's 30 a second.

A fresh database is made and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bamboe.features import FEATURES  # noqa: E402
from bench.common import clean_env, fresh_postgres, replicas  # noqa: E402
from bot.database import Database, create_engine, upgrade  # noqa: E402
from bot.models import Chat, Job, Member, Network  # noqa: E402
from bot.registry import Registry  # noqa: E402
from tests.telegram_standin import StandIn  # noqa: E402


async def populate(url: str, n: int) -> float:
    db = Database(create_engine(url))
    await upgrade(db.engine)
    now = datetime.now(UTC)
    features = Registry.of(FEATURES)
    started = time.perf_counter()
    async with db.transaction() as s:
        for start in range(0, n, 1000):
            count = min(1000, n - start)
            ids = (await s.execute(insert(Network).returning(Network.id), [
                {"name": f"Netwerk {start + i}", "created_at": now, "intention": "", "ambition": "",
                 "quiet_weekends": False, "quiet_start": "00:00", "quiet_end": "00:00"}
                for i in range(count)])).scalars().all()
            await s.execute(insert(Chat), [{"network_id": nid, "platform": "telegram",
                                            "chat_id": str(-1004000000000 - nid), "title": ""} for nid in ids])
            await s.execute(insert(Member), [{"network_id": nid, "platform": "telegram", "user_id": str(nid * 10 + k),
                                              "name": f"Lid {k}", "role": "trekker" if k == 0 else "deelnemer",
                                              "joined_at": now - timedelta(days=30)}
                                             for nid in ids for k in range(6)])
    async with db.transaction() as s:
        await features.plan_networks(s, await s.scalars(select(Network).order_by(Network.id)), now)
    await db.close()
    return time.perf_counter() - started


async def make_due(url: str, at: datetime, count: int) -> int:
    """Make the next weekly question of ``count`` networks due ``at``."""
    db = Database(create_engine(url))
    async with db.transaction() as s:
        ids = select(Job.id).where(Job.kind == "nudge", Job.state == "pending").order_by(Job.id).limit(count)
        result = await s.execute(update(Job).where(Job.id.in_(ids.scalar_subquery())).values(due_at=at))
    await db.close()
    return result.rowcount


async def jobs_left(url: str, at: datetime) -> int:
    db = Database(create_engine(url))
    async with db.sessions() as s:
        left = await s.scalar(select(func.count()).select_from(Job).where(Job.kind == "nudge", Job.due_at <= at,
                                                                          Job.state != "done"))
    await db.close()
    return left or 0


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def run(url: str, count: int, due_count: int, logs: Path) -> dict[str, float]:
    api = StandIn(enforce_limits=True)
    await api.start()
    env = clean_env(DATABASE_URL=url, TELEGRAM_BOT_TOKEN=api.token, TELEGRAM_API_URL=api.url + "/bot")
    started = time.perf_counter()
    try:
        async with replicas(count, env, logs) as procs:
            startup_s = time.perf_counter() - started
            idle_mb = [memory_kb(p.pid, "VmRSS") / 1024 for p in procs]
            due = datetime.now(UTC) + timedelta(seconds=2)
            planned = await make_due(url, due, due_count)
            await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
            t0 = time.perf_counter()
            while await jobs_left(url, due):
                assert time.perf_counter() - t0 < 1200, "the jobs took more than 20 minutes"
                await asyncio.sleep(0.5)
            jobs_s = time.perf_counter() - t0
            peak_mb = [memory_kb(p.pid, "VmHWM") / 1024 for p in procs]
    finally:
        await api.close()
    return {"replicas": count, "startup_s": startup_s,
            "idle_mb": max(idle_mb), "peak_mb": max(peak_mb), "jobs": planned, "jobs_s": jobs_s}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", type=int, default=10_000)
    parser.add_argument("--replicas", default="1,3", help="comma-separated: one run per count, same database")
    parser.add_argument("--due", type=int, default=1000, help="networks whose weekly question falls due at once")
    parser.add_argument("--database-url", required=True, help="postgresql://… (a fresh database is made in it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        async with fresh_postgres(args.database_url) as url:
            populate_s = await populate(url, args.networks)
            print(f"networks={args.networks} populated and planned in {populate_s:.0f}s", flush=True)
            for count in (int(n) for n in args.replicas.split(",")):
                r = await run(url, count, args.due, Path(tmp))
                print(f"networks={args.networks} replicas={r['replicas']} startup={r['startup_s']:.1f}s "
                      f"rss_idle={r['idle_mb']:.0f}MB rss_peak={r['peak_mb']:.0f}MB (largest process) "
                      f"nudge_jobs={r['jobs']} all_run_in={r['jobs_s']:.1f}s ({r['jobs'] / r['jobs_s']:.0f} jobs/s)",
                      flush=True)


if __name__ == "__main__":
    asyncio.run(main())
