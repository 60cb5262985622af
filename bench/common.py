"""Shared by the benchmarks: CPU time, a fresh PostgreSQL database for one run, and real ``bamboe run`` replicas."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp


def cpu(who: int = resource.RUSAGE_SELF) -> float:
    """CPU time (user + system) of this process so far, or of its finished children (``RUSAGE_CHILDREN``)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@asynccontextmanager
async def fresh_postgres(admin_url: str) -> AsyncIterator[str]:
    """Create an empty database next to ``admin_url``'s; yield its URL; drop it afterwards."""
    import asyncpg

    name = f"bamboe_bench_{uuid.uuid4().hex[:8]}"
    admin = admin_url.replace("postgresql://", "postgres://")
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without Bamboe's settings, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TELEGRAM_", "TEAMS_", "BAMBOE_"))}
    return {**env, "BAMBOE_HTTP_HOST": "127.0.0.1", "BAMBOE_LOG_LEVEL": "WARNING", **settings}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def ready(port: int) -> bool:
    """True when the ``bamboe run`` on ``port`` answers ``/readyz`` with 200."""
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as r:
            return r.status == 200
    except aiohttp.ClientError:
        return False


@asynccontextmanager
async def replicas(count: int, env: dict[str, str], logs: Path) -> AsyncIterator[list[subprocess.Popen]]:
    """Start ``count`` ``bamboe run`` processes, wait until all are ready, yield them; stop them with
    SIGTERM afterwards (each one's output goes to ``logs/replica<n>.log``)."""
    procs: list[tuple[subprocess.Popen, int, Any]] = []
    try:
        for n in range(count):
            port = free_port()
            log = open(logs / f"replica{n}.log", "wb")  # noqa: SIM115 - closed with the process
            procs.append((subprocess.Popen([sys.executable, "-m", "bamboe", "run"], stdout=log, stderr=log,
                                           env={**env, "BAMBOE_HTTP_PORT": str(port)}), port, log))
        deadline = time.monotonic() + 120
        for _, port, _ in procs:
            while not await ready(port):
                assert time.monotonic() < deadline, f"a replica did not become ready (see {logs})"
                await asyncio.sleep(0.05)
        yield [proc for proc, _, _ in procs]
    finally:
        for proc, _, _ in procs:
            proc.send_signal(signal.SIGTERM)
        for proc, _, log in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
