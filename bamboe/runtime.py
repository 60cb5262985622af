"""The composition root of ``bamboe run``: builds the database, core, delivery and adapters from
settings, serves the one HTTP server, and runs the dispatcher loop until stopped.

An adapter is built by a factory ``build(settings, inbound) -> Adapter`` named in
:data:`ADAPTERS`; it hands every inbound event to ``inbound`` (which lets the core decide and
wakes delivery), offers a :class:`~bot.delivery.Sender` for outgoing messages, and may add
routes to the shared HTTP server (Slack's HTTP mode, Telegram's webhook).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web
from sqlalchemy import text

from bamboe.settings import Settings
from bot.clock import Clock, SystemClock
from bot.core import Core
from bot.database import Database, create_engine, upgrade
from bot.delivery import Delivery, Sender
from bot.events import InboundEvent, Outgoing

log = logging.getLogger("bamboe")

#: how often the dispatcher looks for due work when nothing wakes it earlier
POLL_SECONDS = 5.0

#: an adapter's way in: hand over an event, get back the messages the core decided to send
Inbound = Callable[[InboundEvent], Awaitable[object]]


class Adapter(Protocol):
    """One chat platform, as ``bamboe run`` drives it."""

    platform: str
    sender: Sender

    def routes(self) -> list[web.RouteDef]:
        """HTTP routes this adapter serves on the shared server (may be empty)."""

    async def start(self) -> None:
        """Connect (Socket Mode, long polling, webhook registration) and start receiving."""

    async def stop(self) -> None:
        """Stop receiving and close connections."""

    def ready(self) -> bool:
        """True while the adapter is connected and can send."""


#: platform name → "module:factory"; imported only when that platform is configured
ADAPTERS: dict[str, str] = {
    "slack": "adapters.slack.adapter:build",
    "telegram": "adapters.telegram.adapter:build",
}


def load_factory(platform: str) -> Callable[[Settings, Inbound], Adapter]:
    """Import the adapter factory registered for ``platform``."""
    module, _, name = ADAPTERS[platform].partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass
class App:
    """Everything one process runs, wired together."""

    settings: Settings
    db: Database
    clock: Clock
    core: Core
    delivery: Delivery
    adapters: list[Adapter] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def receive(self, event: InboundEvent) -> list[Outgoing]:
        """An adapter's inbound event: let the core decide, then wake delivery. Returns what the
        core will send (already in the outbox), so an adapter can thread answers to the asker."""
        out = await self.core.handle(event)
        self.wake.set()
        return out

    async def tick(self) -> None:
        """Run what is due and deliver what is waiting."""
        try:
            await self.core.run_due()
            await self.delivery.flush()
        except Exception:  # the loop must survive a database hiccup; the next tick retries
            log.exception("dispatch tick failed")

    async def pump(self, stop: asyncio.Event) -> None:
        """Tick until ``stop``: at once when woken, else when a deferred message falls due or
        after :data:`POLL_SECONDS` (other replicas may have planned work meanwhile)."""
        while not stop.is_set():
            self.wake.clear()
            await self.tick()
            timeout = POLL_SECONDS
            if self.delivery.next_due is not None:
                timeout = min(timeout, max(0.05, (self.delivery.next_due - self.clock.now()).total_seconds()))
            waiters = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    async def database_ok(self) -> bool:
        """True when the database answers."""
        try:
            async with self.db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def web_app(self) -> web.Application:
        """The one HTTP server: health checks plus the adapters' routes."""

        async def healthz(_: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        async def readyz(_: web.Request) -> web.Response:
            checks = {"database": await self.database_ok()}
            checks.update({a.platform: a.ready() for a in self.adapters})
            return web.json_response({"ready": all(checks.values()), "checks": checks},
                                     status=200 if all(checks.values()) else 503)

        server = web.Application(client_max_size=1024 * 1024)
        server.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz)])
        for adapter in self.adapters:
            server.add_routes(adapter.routes())
        return server


@asynccontextmanager
async def open_app(settings: Settings, senders: dict[str, Sender] | None = None,
                   clock: Clock | None = None) -> AsyncIterator[App]:
    """Open the database (migrating it), build the core; close everything on exit."""
    db = Database(create_engine(settings.resolved_database_url()))
    try:
        await upgrade(db.engine)
        clock = clock or SystemClock()
        core = Core(db, clock)
        delivery = Delivery(db, clock, dict(senders or {}), on_not_started=core.private_not_started)
        yield App(settings, db, clock, core, delivery)
    finally:
        await db.close()


@asynccontextmanager
async def running(settings: Settings, clock: Clock | None = None) -> AsyncIterator[App]:
    """Start every configured adapter, the HTTP server and the dispatcher; stop them on exit."""
    async with open_app(settings, clock=clock) as app:
        for platform in settings.configured_platforms():
            adapter = load_factory(platform)(settings, app.receive)
            app.adapters.append(adapter)
            app.delivery.senders[platform] = adapter.sender
        runner = web.AppRunner(app.web_app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.bamboe_http_host, settings.bamboe_http_port).start()
        stop = asyncio.Event()
        pump = asyncio.create_task(app.pump(stop))
        try:
            for adapter in app.adapters:
                await adapter.start()
            yield app
        finally:
            for adapter in app.adapters:
                with suppress(Exception):
                    await adapter.stop()
            stop.set()
            await pump
            await runner.cleanup()


async def serve(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running(settings) as app:
        log.info("bamboe running for %s on port %s", ", ".join(a.platform for a in app.adapters),
                 settings.bamboe_http_port)
        await stop.wait()
    return 0
