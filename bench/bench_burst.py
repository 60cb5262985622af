"""A Monday-morning burst: messages to 1,000 Telegram groups, 1,000 Slack channels and 1,000 Teams
channels due at once.

    .venv/bin/python bench/bench_burst.py --database-url postgresql://postgres@127.0.0.1:5432/test --replicas 1
    .venv/bin/python bench/bench_burst.py --database-url postgresql://postgres@127.0.0.1:5432/test --replicas 3
    .venv/bin/python bench/bench_burst.py --replicas 1                          # SQLite (one process only)

Starts ``--replicas`` real ``bamboe run`` processes (Telegram, Slack and Teams adapters) against
local stand-ins of the platforms that enforce the documented limits and answer 429 when they are
exceeded: Telegram 30 messages a second overall, one a second and 20 a minute per chat; Slack one
message a second per channel; Teams 7/1 s, 8/2 s, 60/30 s, 1,800/h per conversation and 50 a
second per tenant. Then it writes ``--telegram`` + ``--slack`` + ``--teams`` outbox rows (the
weekly question, as the nudge job writes it, with its answer button), all due at the same
moment a few seconds ahead, and waits until every one is delivered.

Reported: time from the due moment to the last delivery, and from the first delivery to the
last, against the theoretical minimum the limits allow (Telegram: ``(n - 1) / 30`` seconds;
Slack has no platform-wide message limit, so its minimum is ~0; Teams ``(n - 1) / 50``); the 429s provoked (the target
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
from bot.models import OutboxMessage, TeamsConversation  # noqa: E402
from tests import teams_standin  # noqa: E402
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


def teams_channel(n: int) -> str:
    return f"19:bench{n:05d}@thread.tacv2"


async def plan(url: str, telegram: int, slack: int, due: datetime, teams: int = 0,
               teams_url: str = "") -> None:
    rows = [{"platform": "telegram", "chat_id": str(-1003000000000 - n), "chat_key": f"c:{-1003000000000 - n}"}
            for n in range(telegram)]
    rows += [{"platform": "slack", "chat_id": f"C{n:08d}", "chat_key": f"c:C{n:08d}"} for n in range(slack)]
    rows += [{"platform": "teams", "chat_id": teams_channel(n), "chat_key": f"c:{teams_channel(n)}"}
             for n in range(teams)]
    references = [{"chat_id": teams_channel(n), "conversation_id": teams_channel(n), "service_url": teams_url,
                   "tenant_id": teams_standin.TENANT, "kind": "channel", "team_id": teams_channel(n),
                   "bot_id": teams_standin.BOT_ID, "installed": True, "updated_at": due} for n in range(teams)]
    for row in rows:
        row.update(kind="nudge", text=QUESTION, buttons=[["Ik sla deze week over", "nudge:skip:1"]], meta={},
                   files=[], ephemeral=False, state="pending", attempts=0, created_at=due, lease_until=due)
    db = Database(create_engine(url))
    try:
        async with db.transaction() as s:
            if references:  # the conversation references the Teams adapter keeps for its channels
                await s.execute(insert(TeamsConversation), references)
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


async def run(url: str, count: int, telegram: int, slack: int, logs: Path, teams: int = 0) -> dict[str, float]:
    db = Database(create_engine(url))
    await upgrade(db.engine)
    await db.close()
    tg = TimedTelegram(enforce_limits=True)
    await tg.start()
    ms = teams_standin.StandIn(enforce_limits=True, clock=time.monotonic)
    await ms.start()
    async with LimitedSlack() as sl:
        env = clean_env(DATABASE_URL=url, TELEGRAM_BOT_TOKEN=tg.token, TELEGRAM_API_URL=tg.url + "/bot",
                        SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=sl.url)
        if teams:
            env.update(TEAMS_APP_ID=teams_standin.APP_ID, TEAMS_APP_PASSWORD=teams_standin.SECRET,
                       TEAMS_TENANT_ID=teams_standin.TENANT, TEAMS_OPENID_METADATA_URL=ms.metadata_url,
                       TEAMS_TOKEN_URL=ms.token_url)
        async with replicas(count, env, logs):
            due = datetime.now(UTC) + timedelta(seconds=3)
            await plan(url, telegram, slack, due, teams, ms.service_url)
            due_mono = time.monotonic() + (due - datetime.now(UTC)).total_seconds()
            deadline = time.monotonic() + 600
            while await unsent(url):
                assert time.monotonic() < deadline, "the burst was not delivered within 10 minutes"
                await asyncio.sleep(0.25)
    await tg.close()
    await ms.close()
    ms_at = [c.at for c in ms.sent()]
    times = sorted([*tg.delivered_at, *sl.delivered_at, *ms_at])
    minimum = max(0.0, (telegram - 1) / TELEGRAM_RATE, (teams - 1) / teams_standin.TENANT_RPS)
    return {
        "replicas": count, "telegram": len(tg.delivered_at), "slack": len(sl.delivered_at),
        "due_to_last": times[-1] - due_mono, "first_to_last": times[-1] - times[0], "minimum": minimum,
        "start_lag": times[0] - due_mono,
        "telegram_done": max(tg.delivered_at, default=due_mono) - due_mono,
        "slack_done": max(sl.delivered_at, default=due_mono) - due_mono,
        "throttled_telegram": tg.throttled, "throttled_slack": sl.throttled,
        "teams": len(ms_at), "teams_done": max(ms_at, default=due_mono) - due_mono, "throttled_teams": ms.throttled,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--telegram", type=int, default=1000)
    parser.add_argument("--slack", type=int, default=1000)
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="postgresql://… (a fresh database is made in it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.database_url:
            async with fresh_postgres(args.database_url) as url:
                r = await run(url, args.replicas, args.telegram, args.slack, Path(tmp), args.teams)
            backend = "postgresql"
        else:
            if args.replicas != 1:
                sys.exit("SQLite is for one process; use --database-url postgresql://… for replicas")
            r = await run(sqlite_url_for(Path(tmp) / "bench.sqlite3"), 1, args.telegram, args.slack, Path(tmp),
                          args.teams)
            backend = "sqlite"
    over = (r["first_to_last"] / r["minimum"] - 1) * 100 if r["minimum"] else float("nan")
    print(f"backend={backend} replicas={r['replicas']} telegram={r['telegram']} slack={r['slack']} teams={r['teams']} "
          f"minimum={r['minimum']:.1f}s first_to_last={r['first_to_last']:.1f}s (+{over:.1f}%) "
          f"due_to_last={r['due_to_last']:.1f}s start_lag={r['start_lag']:.1f}s "
          f"telegram_done={r['telegram_done']:.1f}s slack_done={r['slack_done']:.1f}s "
          f"teams_done={r['teams_done']:.1f}s "
          f"429s: telegram={r['throttled_telegram']} slack={r['throttled_slack']} teams={r['throttled_teams']}")


if __name__ == "__main__":
    asyncio.run(main())
