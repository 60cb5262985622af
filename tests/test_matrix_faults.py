"""Matrix replicas killed with SIGKILL while sending to a real Synapse: nothing is lost, per-room
order holds, and a row the killed replica had already handed to Synapse is not posted twice (its
retry carries the same transaction ids). Prints the figures."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from contextlib import ExitStack
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from bot.core import store_outgoing
from bot.database import Database, create_engine, upgrade
from bot.events import Address, Outgoing
from bot.models import OutboxMessage
from tests.conftest import local
from tests.matrix_server import Synapse, User
from tests.test_faults import Replica, ReplicaHost, _claimed_again, collapse, until


async def unsent(db: Database) -> int:
    async with db.transaction() as s:
        return await s.scalar(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.state != "sent")) or 0


async def newest_posts(user: User, rooms: list[str]) -> list[str | None]:
    """Per room, the id of its newest message event (None before the first): a new post changes it.
    One event per room, so the test's polling costs neither it nor Synapse more as the rooms fill up."""
    query = "dir=b&limit=1&filter=" + quote(json.dumps({"types": ["m.room.message"]}))
    newest = []
    for room in rooms:
        chunk = (await user.call("GET", f"/_matrix/client/v3/rooms/{quote(room)}/messages?{query}")).get("chunk", [])
        newest.append(chunk[0]["event_id"] if chunk else None)
    return newest


pytestmark = [pytest.mark.synapse, pytest.mark.postgres, pytest.mark.slow]

ROOMS = 6
KILLS = 12
#: unsent messages kept in the outbox while the test kills (two per room)
BACKLOG = 2 * ROOMS


@pytest.mark.postgres
async def test_matrix_replicas_killed_lose_nothing_and_post_nothing_twice(synapse_server: Synapse, tmp_path) -> None:
    from tests.conftest import drop_postgres_database, new_postgres_database

    url = await new_postgres_database()
    db = Database(create_engine(url))  # the test's own connection, for planning and watching the outbox
    stack = ExitStack()  # the replica host, closed after its replicas are stopped
    try:
        bot = await synapse_server.register(displayname="Bamboe")
        anna = await synapse_server.register()
        rooms = []
        for n in range(ROOMS):
            room = await anna.create_room(f"Kamer {n}", [bot.user_id])
            await bot.join(room)
            rooms.append(room)
        planned = [0] * ROOMS

        async def top_up() -> int:
            """One more message per room while fewer than BACKLOG are unsent; returns what is unsent."""
            left = await unsent(db)
            if left < BACKLOG:
                async with db.transaction() as s:
                    await store_outgoing(s, None, [Outgoing(Address("matrix", room), "nudge", f"{n}:{planned[n]}")
                                                   for n, room in enumerate(rooms)], local(2026, 1, 5, 9, 0))
                for n in range(ROOMS):
                    planned[n] += 1
                left += ROOMS
            return left

        async def _all_sent() -> bool:
            return await unsent(db) == 0

        await upgrade(db.engine)
        await top_up()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TELEGRAM_", "BAMBOE_", "MATRIX_",
                                                                          "TEAMS_"))}
        env.update(DATABASE_URL=url, MATRIX_HOMESERVER_URL=synapse_server.url, MATRIX_USER_ID=bot.user_id,
                   MATRIX_ACCESS_TOKEN=bot.token, BAMBOE_HTTP_HOST="127.0.0.1", BAMBOE_LEASE_SECONDS="3",
                   BAMBOE_LOG_LEVEL="INFO")
        rng = random.Random(20)
        host = stack.enter_context(ReplicaHost(env))
        replicas = [Replica(host, {}, tmp_path / f"replica{n}.log") for n in range(3)]
        kills = 0
        try:
            deadline = time.monotonic() + 240
            while kills < KILLS:
                assert time.monotonic() < deadline, "the kills took too long"
                victim = rng.randrange(len(replicas))
                await until(replicas[victim].ready, 60, "a replica to be ready")
                before = await newest_posts(anna, rooms)
                while await newest_posts(anna, rooms) == before:  # the replicas are at work: a new post
                    assert time.monotonic() < deadline, "the kills took too long"
                    await top_up()
                    await asyncio.sleep(0.05)
                assert await top_up() > 0
                await asyncio.sleep(rng.uniform(0, 0.3))
                replicas[victim].kill()
                kills += 1
                replicas[victim] = Replica(host, {}, tmp_path / f"replica{kills + 3}.log")
            await until(_all_sent, 180, "every message sent")
            for replica in replicas:
                await until(replica.ready, 60, "every replica to be ready before it is stopped")
        finally:
            codes = [r.stop() for r in replicas]
        assert codes == [0, 0, 0]
        doubted = await _claimed_again(url)
        repeated = 0
        for n, room in enumerate(rooms):
            texts = [e["content"]["body"] for e in await anna.events(room, "m.room.message")
                     if e["sender"] == bot.user_id]
            kept, repeats = collapse(texts)
            assert kept == [f"{n}:{i}" for i in range(planned[n])], room  # nothing lost, in order
            repeated += len(repeats)
        print(f"matrix kills={kills} messages={sum(planned)} in_doubt={len(doubted)} sent_twice={repeated}")
        assert repeated == 0  # a retried row carries the same transaction ids: Synapse posts it once
    finally:
        stack.close()
        await db.close()
        await drop_postgres_database(url)
