"""The composition root of ``bamboe run``: builds the database, core, delivery and adapters from
settings, and runs the dispatcher loop until stopped.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bamboe.settings import Settings
from bot.clock import Clock, SystemClock
from bot.core import Core
from bot.database import Database, create_engine, upgrade
from bot.delivery import Delivery, Sender
from bot.schedule import Alarm

log = logging.getLogger("bamboe")

#: platform name → adapter factory; the Slack and Telegram adapters register here as they land
ADAPTERS: dict[str, object] = {}


@dataclass
class App:
    """Everything one process runs, wired together."""

    settings: Settings
    db: Database
    clock: Clock
    core: Core
    delivery: Delivery

    async def tick(self) -> None:
        """Run what is due and deliver what is waiting (called by the alarm)."""
        try:
            await self.core.run_due()
            await self.delivery.flush()
        except Exception:  # the loop must survive a database hiccup; the next tick retries
            log.exception("dispatch tick failed")


@asynccontextmanager
async def open_app(settings: Settings, senders: dict[str, Sender] | None = None,
                   clock: Clock | None = None) -> AsyncIterator[App]:
    """Open the database (migrating it), build the core; close everything on exit."""
    db = Database(create_engine(settings.resolved_database_url()))
    try:
        await upgrade(db.engine)
        clock = clock or SystemClock()
        core = Core(db, clock)
        yield App(settings, db, clock, core, Delivery(db, clock, dict(senders or {})))
    finally:
        await db.close()


async def serve(settings: Settings) -> int:
    """Run every configured adapter and the dispatcher until SIGINT/SIGTERM."""
    platforms = [p for p in settings.configured_platforms() if p in ADAPTERS]
    if not platforms:
        return 2
    async with open_app(settings) as app:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        alarm = Alarm(app.tick, poll_seconds=5)
        alarm.start()
        log.info("bamboe running for %s", ", ".join(platforms))
        await stop.wait()
        alarm.stop()
    return 0
