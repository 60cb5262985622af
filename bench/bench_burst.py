"""A Monday-morning burst: messages to 1,000 Telegram groups and 1,000 Slack channels due at once.

    .venv/bin/python bench/bench_burst.py --database-url postgresql://postgres@127.0.0.1:5432/test --replicas 1
    .venv/bin/python bench/bench_burst.py --database-url postgresql://postgres@127.0.0.1:5432/test --replicas 3
    .venv/bin/python bench/bench_burst.py --replicas 1                          # SQLite (one process only)

Starts ``--replicas`` real ``bamboe run`` processes (Telegram and Slack adapters) against local
stand-ins of both platforms that enforce the documented limits and answer 429 when they are
exceeded: Telegram 30 messages a second overall, one a second and 20 a minute per chat; Slack one
message a second per channel. Then it writes ``--telegram`` + ``--slack`` outbox rows (the
weekly question, as the nudge job writes it, with its answer button), all due at the same
moment a few seconds ahead, and waits until every one is delivered.

Reported: time from the due moment to the last delivery, and from the first delivery to the
last, against the theoretical minimum the limits allow (Telegram: ``(n - 1) / 30`` seconds;
Slack has no platform-wide message limit, so its minimum is ~0); the 429s provoked (the target
is zero); and each platform's finish time. A PostgreSQL URL gets a fresh database (dropped after).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import clean_env, fresh_postgres, replicas  # noqa: E402
from bot.database import Database, create_engine, sqlite_url_for, upgrade  # noqa: E402
from bot.models import OutboxMessage  # noqa: E402
from tests.slack_standin import SlackStandin  # noqa: E402
from tests.telegram_standin import StandIn  # noqa: E402

TELEGRAM_RATE = 30.0
QUESTION = ("**Vraag van de week**\nWat heb je deze week geleerd over samenwerken in de wijk? "
            "Antwoord in een reactie op dit bericht.")
SIGNING_SECRET = "bench-signing-secret"


class LimitedSlack(SlackStandin):
    """The Slack stand-in, answering 429 (Retry-After: 1) to a second message in a channel within a second."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.throttled = 0
        self.delivered_at: list[float] = []
        self._channel: str | None = None
        self._last: dict[str, float] = {}

    async def _params(self, request: Any) -> dict[str, Any]:
        params = await super()._params(request)
        self._channel = params.get("channel")  # read by _throttled, which runs next without a pause
        return params

    def _throttled(self, method: str) -> float | None:
        if method == "chat.postMessage" and self._channel:
            now = time.monotonic()
            if now - self._last.get(self._channel, -10.0) < 1.0:
                self.throttled += 1
                return 1
            self._last[self._channel] = now
            self.delivered_at.append(now)
        return super()._throttled(method)


class TimedTelegram(StandIn):
    """The Telegram stand-in with limits on, noting when each message was accepted."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.delivered_at: deque[float] = deque()

    async def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - Bot API name
        self.delivered_at.append(time.monotonic())
        return await super()._m_sendMessage(params)


async def plan(url: str, telegram: int, slack: int, due: datetime) -> None:
    rows = [{"platform": "telegram", "chat_id": str(-1003000000000 - n), "chat_key": f"c:{-1003000000000 - n}"}
            for n in range(telegram)]
    rows += [{"platform": "slack", "chat_id": f"C{n:08d}", "chat_key": f"c:C{n:08d}"} for n in range(slack)]
    for row in rows:
        row.update(kind="nudge", text=QUESTION, buttons=[["Ik sla deze week over", "nudge:skip:1"]], meta={},
                   files=[], ephemeral=False, state="pending", attempts=0, created_at=due, lease_until=due)
    db = Database(create_engine(url))
    try:
        async with db.transaction() as s:
            await s.execute(insert(OutboxMessage), rows)
    finally:
        await db.close()


async def unsent(url: str) -> int:
    db = Database(create_engine(url))
    try:
        async with db.sessions() as s:
            return await s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state != "sent"))
    finally:
        await db.close()


async def run(url: str, count: int, telegram: int, slack: int, logs: Path) -> dict[str, float]:
    db = Database(create_engine(url))
    await upgrade(db.engine)
    await db.close()
    tg = TimedTelegram(enforce_limits=True)
    await tg.start()
    async with LimitedSlack() as sl:
        env = clean_env(DATABASE_URL=url, TELEGRAM_BOT_TOKEN=tg.token, TELEGRAM_API_URL=tg.url + "/bot",
                        SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=sl.url)
        async with replicas(count, env, logs):
            due = datetime.now(UTC) + timedelta(seconds=3)
            await plan(url, telegram, slack, due)
            due_mono = time.monotonic() + (due - datetime.now(UTC)).total_seconds()
            deadline = time.monotonic() + 600
            while await unsent(url):
                assert time.monotonic() < deadline, "the burst was not delivered within 10 minutes"
                await asyncio.sleep(0.25)
    await tg.close()
    times = sorted([*tg.delivered_at, *sl.delivered_at])
    minimum = max(0.0, (telegram - 1) / TELEGRAM_RATE)
    return {
        "replicas": count, "telegram": len(tg.delivered_at), "slack": len(sl.delivered_at),
        "due_to_last": times[-1] - due_mono, "first_to_last": times[-1] - times[0], "minimum": minimum,
        "start_lag": times[0] - due_mono,
        "telegram_done": max(tg.delivered_at, default=due_mono) - due_mono,
        "slack_done": max(sl.delivered_at, default=due_mono) - due_mono,
        "throttled_telegram": tg.throttled, "throttled_slack": sl.throttled,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--telegram", type=int, default=1000)
    parser.add_argument("--slack", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="postgresql://… (a fresh database is made in it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.database_url:
            async with fresh_postgres(args.database_url) as url:
                r = await run(url, args.replicas, args.telegram, args.slack, Path(tmp))
            backend = "postgresql"
        else:
            if args.replicas != 1:
                sys.exit("SQLite is for one process; use --database-url postgresql://… for replicas")
            r = await run(sqlite_url_for(Path(tmp) / "bench.sqlite3"), 1, args.telegram, args.slack, Path(tmp))
            backend = "sqlite"
    over = (r["first_to_last"] / r["minimum"] - 1) * 100 if r["minimum"] else float("nan")
    print(f"backend={backend} replicas={r['replicas']} telegram={r['telegram']} slack={r['slack']} "
          f"minimum={r['minimum']:.1f}s first_to_last={r['first_to_last']:.1f}s (+{over:.1f}%) "
          f"due_to_last={r['due_to_last']:.1f}s start_lag={r['start_lag']:.1f}s "
          f"telegram_done={r['telegram_done']:.1f}s slack_done={r['slack_done']:.1f}s "
          f"429s: telegram={r['throttled_telegram']} slack={r['throttled_slack']}")


if __name__ == "__main__":
    asyncio.run(main())
