"""Inbound throughput and latency: answers arriving through Telegram's webhook until they are stored.

    .venv/bin/python bench/bench_inbound.py                                     # SQLite (temporary file)
    .venv/bin/python bench/bench_inbound.py --database-url postgresql://postgres@127.0.0.1:5432/test

Runs ``bamboe run``'s real stack in this process (aiohttp server, Telegram adapter in webhook mode,
core, delivery) against the Telegram stand-in on 127.0.0.1. ``--groups`` networks are made the
way Telegram makes them (the bot is added to each group, members join), each gets its weekly
question, and then ``--messages`` answers (replies to the question) are POSTed to the webhook,
``--concurrency`` at a time, as Telegram would. The webhook answers once the core has stored the
answer (its transaction committed), so the request's round trip is the latency from platform
request to stored effect. Prints messages per second and p50/p90/p99 latency, and checks that
every answer was stored exactly once. A PostgreSQL URL gets a fresh database (dropped after).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bamboe.runtime import running  # noqa: E402
from bamboe.settings import Settings  # noqa: E402
from bench.common import free_port, fresh_postgres  # noqa: E402
from bot.clock import VirtualClock  # noqa: E402
from bot.database import sqlite_url_for  # noqa: E402
from bot.models import Answer, OutboxMessage  # noqa: E402
from tests.telegram_standin import StandIn, chat_member, group, message, user  # noqa: E402

AMS = ZoneInfo("Europe/Amsterdam")
SECRET = "bench-secret"
MEMBERS = 8



async def run(url: str, groups: int, messages: int, concurrency: int) -> dict[str, float]:
    api = StandIn()
    await api.start()
    port = free_port()
    config = Settings(_env_file=None, database_url=url, telegram_bot_token=api.token,
                      telegram_api_url=api.url + "/bot", telegram_webhook_url="https://bamboe.example/telegram/webhook",
                      telegram_webhook_secret=SECRET, bamboe_http_host="127.0.0.1", bamboe_http_port=port)
    clock = VirtualClock(datetime(2026, 1, 5, 9, 0, tzinfo=AMS))  # a Monday
    hook = f"http://127.0.0.1:{port}/telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    update_ids = iter(range(1, 10**9))
    try:
        async with running(config, clock=clock) as app, aiohttp.ClientSession() as http:
            async def post(body: dict) -> float:
                started = time.perf_counter()
                async with http.post(hook, json={"update_id": next(update_ids), **body}, headers=headers) as r:
                    assert r.status == 200, r.status
                return time.perf_counter() - started

            people = {g: [user(100000 + g * 100 + k, f"Lid{k}", f"G{g}") for k in range(MEMBERS)]
                      for g in range(groups)}
            chats = {g: group(-1002000000000 - g, f"Netwerk {g}") for g in range(groups)}
            for g in range(groups):  # the bot is added; the members join
                await post(chat_member(chats[g], people[g][0], api.me(), "left", "member"))
                await post({"message": message(chats[g], people[g][0], new_chat_members=[api.me()])})
                await post({"message": message(chats[g], people[g][1], new_chat_members=people[g][1:])})
            clock.set(datetime(2026, 1, 6, 10, 0, 30, tzinfo=AMS))  # Tuesday: the weekly question is due
            nudges: dict[int, dict] = {}
            deadline = time.monotonic() + 120
            while len(nudges) < groups:
                assert time.monotonic() < deadline, "the weekly questions did not go out"
                app.wake.set()
                clock.advance(timedelta(seconds=5))
                await asyncio.sleep(0.2)
                async with app.db.sessions() as s:
                    for chat_id, mid in await s.execute(select(OutboxMessage.chat_id, OutboxMessage.platform_message_id)
                                                        .where(OutboxMessage.kind == "nudge",
                                                               OutboxMessage.state == "sent")):
                        nudges[int(chat_id)] = {"message_id": int(mid), "chat": {"id": int(chat_id)}}
            bot_user = api.me()
            bodies = []
            for n in range(messages):
                g = n % groups
                person = people[g][(n // groups) % MEMBERS]
                question = {**nudges[chats[g]["id"]], "chat": chats[g], "from": bot_user, "date": 0, "text": "?"}
                bodies.append({"message": message(chats[g], person, f"Antwoord {n}: we leerden iets over de wijk.",
                                                  reply_to=question)})
            queue: asyncio.Queue = asyncio.Queue()
            for body in bodies:
                queue.put_nowait(body)
            latencies: list[float] = []

            async def worker() -> None:
                while not queue.empty():
                    latencies.append(await post(queue.get_nowait()))

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
            async with app.db.sessions() as s:
                stored = await s.scalar(select(func.count(Answer.id)))
    finally:
        await api.close()
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return {"messages": messages, "stored": stored, "seconds": elapsed, "per_second": messages / elapsed,
            "p50_ms": q[49] * 1000, "p90_ms": q[89] * 1000, "p99_ms": q[98] * 1000}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url", default=None, help="postgresql://… (a fresh database is made in it)")
    args = parser.parse_args()
    if args.database_url:
        async with fresh_postgres(args.database_url) as url:
            result = await run(url, args.groups, args.messages, args.concurrency)
        backend = "postgresql"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = await run(sqlite_url_for(Path(tmp) / "bench.sqlite3"), args.groups, args.messages,
                               args.concurrency)
        backend = "sqlite"
    print(f"backend={backend} messages={result['messages']} stored={result['stored']} "
          f"concurrency={args.concurrency} time={result['seconds']:.1f}s rate={result['per_second']:.0f}/s "
          f"p50={result['p50_ms']:.1f}ms p90={result['p90_ms']:.1f}ms p99={result['p99_ms']:.1f}ms")
    if result["stored"] != result["messages"]:
        sys.exit(f"stored {result['stored']} answers for {result['messages']} messages")


if __name__ == "__main__":
    asyncio.run(main())
