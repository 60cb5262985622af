"""The composition root of ``bamboe run``: builds the database, core, delivery and adapters from
settings, serves the one HTTP server, and runs the dispatcher loop until stopped.

An adapter is built by a factory ``build(settings, inbound, commands) -> Adapter`` named in
:data:`ADAPTERS`; it hands every inbound event to ``inbound`` (which lets the core decide and
wakes delivery), offers a :class:`~bot.delivery.Sender` for outgoing messages, and may add
routes to the shared HTTP server (Slack's HTTP mode, Telegram's webhook).

The HTTP server always serves ``/healthz`` (the process is alive), ``/readyz`` (the database
answers and every adapter is connected; 503 otherwise and while shutting down) and ``/metrics``
(Prometheus). On SIGTERM the process stops within :data:`SHUTDOWN_SECONDS`: the dispatch tick in
progress may finish, then adapters stop, the messages this process claimed but did not send go
back to the queue for another replica, and the database is closed.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from sqlalchemy import func, or_, select, text

from bamboe import gcpause
from bamboe.features import FEATURES
from bamboe.settings import Settings
from bot import metrics
from bot.clock import Clock, SystemClock
from bot.core import Core
from bot.database import Database, create_engine, upgrade
from bot.delivery import Delivery, Sender, capabilities_of
from bot.events import InboundEvent, Outgoing
from bot.models import Base, Job, OutboxMessage
from bot.platform import Capabilities
from bot.secrets import Resealed, SecretBox, seal_all, sealed_columns

log = logging.getLogger("bamboe")

#: how often the dispatcher looks for due work when nothing wakes it earlier
POLL_SECONDS = 5.0
#: while jobs run, delivery looks for the messages they wrote this often
DELIVERY_ROUND_SECONDS = 0.05
#: everything after SIGTERM fits in this (Docker and Kubernetes kill after 10 s by default)
SHUTDOWN_SECONDS = 9.0
#: of which the dispatch tick in progress may take this much before it is cancelled
DRAIN_SECONDS = 7.0
#: how long the HTTP server lets requests in progress finish once it stops listening
HTTP_GRACE_SECONDS = 1.0
#: the database queries behind ``/metrics`` give up after this (the scrape then says database_up 0)
METRICS_QUERY_SECONDS = 5.0
#: outbox states that count as "not delivered yet" on ``/metrics``
QUEUE_STATES = ("pending", "sending", "waiting")
#: PostgreSQL advisory lock held while migrating, so replicas starting together migrate one by one
MIGRATION_LOCK = 0x62616D62  # "bamb"
#: how often the core's and the adapters' housekeeping runs (deleting what they keep only for a
#: while, such as the outbox rows of no network and Teams' download files); also at the first tick
HOUSEKEEPING_INTERVAL = timedelta(hours=1)
#: the command line starts with the garbage collector off (bamboe/cli.py); it is back on when the
#: process is ready, or after this many seconds of a start still waiting for a platform
GC_PAUSE_SECONDS = 10.0

#: an adapter's way in: hand over an event, get back the messages the core decided to send
Inbound = Callable[[InboundEvent], Awaitable[object]]


class Adapter(Protocol):
    """One chat platform, as ``bamboe run`` drives it."""

    platform: str
    sender: Sender
    #: what the platform can do (also on ``sender``)
    capabilities: Capabilities

    def routes(self) -> list[web.RouteDef]:
        """HTTP routes this adapter serves on the shared server (may be empty)."""

    async def start(self) -> None:
        """Connect (Socket Mode, long polling, webhook registration) and start receiving."""

    async def stop(self) -> None:
        """Stop receiving and close connections."""

    def ready(self) -> bool:
        """True while the adapter is connected and can send."""

    # optional: ``clock`` (an attribute: :func:`running` sets it to the app's clock) and
    # ``async def housekeeping(self) -> None`` (run every :data:`HOUSEKEEPING_INTERVAL` by
    # :meth:`App.tick`: delete what the adapter keeps only for a while)


#: platform name → "module:factory"; imported only when that platform is configured
ADAPTERS: dict[str, str] = {
    "slack": "adapters.slack.adapter:build",
    "telegram": "adapters.telegram.adapter:build",
    "matrix": "adapters.matrix.adapter:build",
    "teams": "adapters.teams.adapter:build",
}


def load_factory(platform: str) -> Callable[..., Adapter]:
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
    #: set once shutdown began: ``/readyz`` answers 503 so a load balancer sends work elsewhere
    draining: bool = False
    #: when the adapters' housekeeping is due next (None: at the first tick)
    housekeeping_due: datetime | None = None

    async def receive(self, event: InboundEvent) -> list[Outgoing]:
        """An adapter's inbound event: let the core decide, then wake delivery. Returns what the
        core will send (already in the outbox), so an adapter can thread answers to the asker."""
        started = time.perf_counter()
        try:
            out = await self.core.handle(event)
        finally:
            metrics.HANDLER_SECONDS.labels(type(event).__name__).observe(time.perf_counter() - started)
        self.wake.set()
        return out

    async def tick(self) -> None:
        """Run what is due and deliver what is waiting, side by side: messages the jobs write go
        out while later jobs still run (a Monday-morning burst starts sending at once)."""
        jobs_done = asyncio.Event()

        async def run_jobs() -> None:
            try:
                await self.core.run_due()
            finally:
                jobs_done.set()

        async def deliver() -> None:
            while True:
                last_round = jobs_done.is_set()
                await self.delivery.flush()
                if last_round:
                    return
                with suppress(TimeoutError):
                    await asyncio.wait_for(jobs_done.wait(), DELIVERY_ROUND_SECONDS)

        results = await asyncio.gather(run_jobs(), deliver(), self.housekeeping(), return_exceptions=True)
        for result in results:  # the loop must survive a database hiccup; the next tick retries
            if isinstance(result, Exception):
                log.error("dispatch tick failed", exc_info=result)

    async def pump(self, stop: asyncio.Event) -> None:
        """Tick until ``stop``: at once when woken, else when a deferred message falls due or
        after :data:`POLL_SECONDS` (other replicas may have planned work meanwhile)."""
        while not stop.is_set():
            self.wake.clear()
            await self.tick()
            timeout = POLL_SECONDS
            for due in (self.delivery.next_due, await self._next_job_due()):
                if due is not None:
                    timeout = min(timeout, max(0.05, (due - self.clock.now()).total_seconds()))
            waiters = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    async def housekeeping(self) -> None:
        """Every :data:`HOUSEKEEPING_INTERVAL`: the core's (:meth:`bot.core.Core.housekeeping`: what
        no network's retention covers) and the adapters' ``housekeeping()``, where they have one."""
        now = self.clock.now()
        if self.housekeeping_due is not None and now < self.housekeeping_due:
            return
        try:
            await self.core.housekeeping()
        except Exception as exc:  # noqa: BLE001 - a database hiccup: the next interval retries
            log.warning("housekeeping of the core failed (%s)", type(exc).__name__)
        for adapter in self.adapters:
            tidy = getattr(adapter, "housekeeping", None)
            if tidy is not None:
                try:
                    await tidy()
                except Exception as exc:  # noqa: BLE001 - a database hiccup: the next interval retries
                    log.warning("housekeeping of %s failed (%s)", adapter.platform, type(exc).__name__)
        self.housekeeping_due = now + HOUSEKEEPING_INTERVAL  # once done: the next tick sees it ran

    async def _next_job_due(self) -> datetime | None:
        try:
            return await self.core.dispatcher.next_due()
        except Exception:  # database away: poll as usual
            return None

    async def database_ok(self) -> bool:
        """True when the database answers."""
        try:
            async with self.db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def refresh_gauges(self) -> None:
        """Read the shared queue from the database into the gauges of :mod:`bot.metrics`: outbox
        depth per platform and state, the oldest undelivered message, due jobs not run yet."""
        for adapter in self.adapters:
            metrics.ADAPTER_READY.labels(adapter.platform).set(1 if adapter.ready() else 0)
        now = self.clock.now()
        try:
            async with asyncio.timeout(METRICS_QUERY_SECONDS), self.db.sessions() as session:
                queue = (
                    await session.execute(
                        select(
                            OutboxMessage.platform,
                            OutboxMessage.state,
                            func.count(),
                            func.min(OutboxMessage.created_at),
                        )
                        .where(OutboxMessage.state.in_(QUEUE_STATES))
                        .group_by(OutboxMessage.platform, OutboxMessage.state)
                    )
                ).all()
                due, oldest_due = (
                    await session.execute(
                        select(func.count(), func.min(Job.due_at))
                        .where(Job.due_at <= now)
                        .where(or_(Job.state == "pending", (Job.state == "claimed") & (Job.lease_until < now)))
                    )
                ).one()
        except Exception as exc:  # a scrape must answer even when the database does not
            log.warning("metrics: the database did not answer (%s)", type(exc).__name__)
            metrics.DATABASE_UP.set(0)
            return
        metrics.DATABASE_UP.set(1)
        # no await from here on: a concurrent scrape never sees the gauges half rebuilt
        metrics.OUTBOX_DEPTH.clear()
        metrics.OUTBOX_OLDEST_SECONDS.clear()
        for platform in {a.platform for a in self.adapters} | set(self.delivery.senders):
            for state in QUEUE_STATES:  # known platforms always have a series, zero when empty
                metrics.OUTBOX_DEPTH.labels(platform, state).set(0)
            metrics.OUTBOX_OLDEST_SECONDS.labels(platform).set(0)
        oldest: dict[str, float] = {}
        for platform, state, count, first in queue:
            metrics.OUTBOX_DEPTH.labels(platform, state).set(count)
            if state != "waiting" and first is not None:
                age = max(0.0, (now - first).total_seconds())
                oldest[platform] = max(age, oldest.get(platform, 0.0))
        for platform, age in oldest.items():
            metrics.OUTBOX_OLDEST_SECONDS.labels(platform).set(age)
        metrics.JOBS_DUE.set(due or 0)
        metrics.JOBS_OLDEST_DUE_SECONDS.set(max(0.0, (now - oldest_due).total_seconds()) if oldest_due else 0)

    def web_app(self) -> web.Application:
        """The one HTTP server: health checks, metrics, plus the adapters' routes."""

        async def healthz(_: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        async def readyz(_: web.Request) -> web.Response:
            checks = {"database": await self.database_ok()}
            checks.update({a.platform: a.ready() for a in self.adapters})
            body: dict[str, Any] = {"ready": all(checks.values()) and not self.draining, "checks": checks}
            if self.draining:
                body["draining"] = True
            return web.json_response(body, status=200 if body["ready"] else 503)

        async def metrics_page(request: web.Request) -> web.Response:
            await self.refresh_gauges()
            # the format the scraper asks for (Prometheus text or OpenMetrics)
            encode, content_type = choose_encoder(request.headers.get("Accept", ""))
            return web.Response(body=encode(REGISTRY), headers={"Content-Type": content_type})

        server = web.Application(client_max_size=1024 * 1024)
        server.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics_page)])
        for adapter in self.adapters:
            server.add_routes(adapter.routes())
        return server

    async def release_claims(self) -> None:
        """Put the messages this process claimed but did not send back in the queue, so another
        replica (or the next start) takes them at once instead of after the lease. (A job holds
        nothing between transactions: one cut off by the stop rolled back and is due again.)"""
        messages = await self.delivery.release_claims()
        if messages:
            log.info("released %s message(s) this process had claimed", messages,
                     extra={"released_messages": messages})


@asynccontextmanager
async def open_app(
    settings: Settings, senders: dict[str, Sender] | None = None, clock: Clock | None = None
) -> AsyncIterator[App]:
    """Open the database (migrating it), build the core; close everything on exit."""
    box = settings.secret_box()  # a malformed key stops the start here, before anything runs
    db = Database(create_engine(settings.resolved_database_url()))
    try:
        await migrate(db, box)
        clock = clock or SystemClock()
        core = Core(db, clock, FEATURES, {p: capabilities_of(s) for p, s in (senders or {}).items()})
        delivery = Delivery(
            db,
            clock,
            dict(senders or {}),
            on_not_started=core.private_not_started,
            lease=timedelta(seconds=settings.bamboe_lease_seconds),
        )
        yield App(settings, db, clock, core, delivery)
    finally:
        try:
            await asyncio.wait_for(db.close(), timeout=2.0)
        except Exception as exc:  # noqa: BLE001 - closing must not turn a clean stop into a crash
            log.warning("closing the database failed (%s)", type(exc).__name__)


async def migrate(db: Database, secret_box: SecretBox | None = None) -> None:
    """Run the migrations, then (with a key) seal any secret still stored in plaintext and check
    that every sealed one opens. On PostgreSQL under an advisory lock: replicas that start together
    migrate one after another (the later ones find the schema current) instead of racing."""

    async def work() -> None:
        await upgrade(db.engine, secret_box=secret_box)
        if secret_box is not None:
            await seal_secrets(db, secret_box)

    if not db.is_postgres:
        await work()
        return
    async with db.engine.connect() as lock:
        await lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        try:
            await work()
        finally:
            await lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})


async def seal_secrets(db: Database, box: SecretBox, *, rotate: bool = False) -> Resealed:
    """Seal the plaintext secrets in every column marked sealed (``bot.secrets``); with ``rotate``
    re-encrypt the sealed ones with the first key too. Raises ``SecretError`` when one does not open."""
    tables = sealed_columns(Base.metadata)
    async with db.engine.begin() as conn:
        done = await conn.run_sync(lambda sync: seal_all(sync, box, tables, rotate=rotate))
    if done.sealed:
        log.info("sealed %s secret(s) that were stored in plaintext", done.sealed)
    return done


async def _bounded(what: str, work: Awaitable[Any], seconds: float) -> bool:
    """Await ``work`` for at most ``seconds``; log (never raise) a failure or a timeout.
    Returns True when it finished in time."""
    try:
        await asyncio.wait_for(work, timeout=max(0.05, seconds))
    except TimeoutError:
        log.warning("shutdown: %s took longer than %.1f s; going on", what, seconds)
        return False
    except Exception as exc:  # noqa: BLE001 - one failing step must not keep the others from running
        log.warning("shutdown: %s failed (%s)", what, type(exc).__name__)
        return False
    return True


async def shut_down(app: App, stop: asyncio.Event, pump: asyncio.Task, runner: web.AppRunner) -> None:
    """Stop within :data:`SHUTDOWN_SECONDS`: no new dispatch ticks and ``/readyz`` says 503; the tick
    in progress may finish (at most :data:`DRAIN_SECONDS`, then it is cancelled); the HTTP server
    and the adapters stop; what this process claimed but did not finish goes back to the queue.

    The tick finishes before the adapters stop because an adapter's ``stop()`` may close the
    connection its sender uses (Telegram does): a message in flight would otherwise fail and wait
    for a retry. Events that arrive meanwhile are still handled; their answers wait in the outbox.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SHUTDOWN_SECONDS

    def left(cap: float) -> float:
        return min(cap, deadline - loop.time())

    app.draining = True
    stop.set()
    app.wake.set()
    if not pump.done():
        log.info("shutting down: letting the dispatch tick in progress finish")
        done, _ = await asyncio.wait([pump], timeout=left(DRAIN_SECONDS))
        if not done:
            log.warning("shutdown: the dispatch tick did not finish in %.0f s; cancelling it", DRAIN_SECONDS)
            pump.cancel()
            await asyncio.wait([pump], timeout=left(0.5))
    if pump.done() and not pump.cancelled() and pump.exception() is not None:
        log.error("the dispatch loop had stopped with %s", type(pump.exception()).__name__)
    # stop listening; requests in progress (webhooks) get HTTP_GRACE_SECONDS, then the adapters stop
    await _bounded("stopping the HTTP server", runner.cleanup(), left(HTTP_GRACE_SECONDS + 0.5))
    for adapter in app.adapters:
        await _bounded(f"stopping {adapter.platform}", adapter.stop(), left(1.5))
    await _bounded("releasing claims", app.release_claims(), left(1.5))


@asynccontextmanager
async def running(settings: Settings, clock: Clock | None = None) -> AsyncIterator[App]:
    """Start every configured adapter, the HTTP server and the dispatcher; stop them on exit
    (bounded, see :func:`shut_down`). A half-configured platform is a ``ValueError`` naming what is missing."""
    problems = settings.configuration_problems()
    if problems:
        raise ValueError("; ".join(problems))
    async with open_app(settings, clock=clock) as app:
        for platform in settings.configured_platforms():
            adapter = load_factory(platform)(settings, app.receive, app.core.features.commands)
            if hasattr(adapter, "clock"):
                adapter.clock = app.clock
            app.adapters.append(adapter)
            app.delivery.senders[platform] = adapter.sender
            app.core.platforms[platform] = capabilities_of(adapter.sender)  # can an answer be for one person?
        runner = web.AppRunner(app.web_app(), access_log=None, shutdown_timeout=HTTP_GRACE_SECONDS)
        await runner.setup()
        try:
            await web.TCPSite(runner, settings.bamboe_http_host, settings.bamboe_http_port).start()
        except OSError as exc:
            await runner.cleanup()
            raise RuntimeError(
                f"cannot listen on {settings.bamboe_http_host}:{settings.bamboe_http_port} "
                f"({exc.strerror or exc}); set BAMBOE_HTTP_PORT to a free port"
            ) from None
        stop = asyncio.Event()
        pump = asyncio.create_task(app.pump(stop), name="bamboe-dispatch")
        try:
            for adapter in app.adapters:
                await adapter.start()
            yield app
        finally:
            await shut_down(app, stop, pump, runner)


async def serve(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM, then stop gracefully (within 10 s) and return 0. A signal while
    still starting (a platform slow to answer) stops the start-up the same way."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    gc_later = loop.call_later(GC_PAUSE_SECONDS, gcpause.resume)
    try:
        async with AsyncExitStack() as stack:
            starting = asyncio.ensure_future(stack.enter_async_context(running(settings)))
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait([starting, stopping], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not starting.done():
                log.info("stop signal received while starting; shutting down")
                starting.cancel()  # running() cleans up what it had started on its way out
                await asyncio.wait([starting])
                if starting.cancelled():
                    return 0
            app = starting.result()  # raises what made the start fail
            gcpause.resume()
            log.info(
                "bamboe running for %s on port %s",
                ", ".join(a.platform for a in app.adapters),
                settings.bamboe_http_port,
            )
            await stop.wait()
            log.info("stop signal received; shutting down")
            started = loop.time()
        log.info("bamboe stopped in %.1f s", loop.time() - started)
    finally:
        gc_later.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0
