"""bamboe run's composition root: the shared HTTP server and the dispatch loop."""

import asyncio
import gc
import os
import signal
import socket
import time

import aiohttp

from bamboe.gcpause import resume as resume_gc
from bamboe.runtime import running, serve
from bamboe.settings import Settings
from tests.conftest import free_port


async def test_health_and_readiness_over_http(sqlite_url):
    port = free_port()
    settings = Settings(_env_file=None, database_url=sqlite_url, bamboe_http_host="127.0.0.1", bamboe_http_port=port)
    async with running(settings) as _app, aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
            assert resp.status == 200 and (await resp.json()) == {"status": "ok"}
        async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
            assert resp.status == 200 and (await resp.json())["checks"] == {"database": True}
        async with http.get(f"http://127.0.0.1:{port}/nope") as resp:
            assert resp.status == 404


async def test_a_port_in_use_fails_start_clearly(sqlite_url):
    import pytest

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(
            _env_file=None, database_url=sqlite_url, bamboe_http_host="127.0.0.1", bamboe_http_port=port
        )
        with pytest.raises(RuntimeError, match=f"cannot listen on 127.0.0.1:{port}.*BAMBOE_HTTP_PORT"):
            async with running(settings):
                pass


async def test_serve_turns_the_garbage_collector_back_on_once_ready(sqlite_url):
    """``bamboe run`` starts with the collector off (bamboe/cli.py); once the process is ready,
    serve() moves what the start built to the permanent generation and turns collection back on."""
    port = free_port()
    settings = Settings(_env_file=None, database_url=sqlite_url, bamboe_http_host="127.0.0.1", bamboe_http_port=port)
    frozen = gc.get_freeze_count()
    gc.disable()
    try:
        task = asyncio.create_task(serve(settings))
        deadline = time.monotonic() + 5  # well before serve's fallback (GC_PAUSE_SECONDS)
        async with aiohttp.ClientSession() as http:
            while True:
                assert not task.done(), task.exception()
                assert time.monotonic() < deadline, "not ready, or the collector still off, within 5 s"
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                        if resp.status == 200 and gc.isenabled():
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.02)
        assert gc.get_freeze_count() > frozen
        os.kill(os.getpid(), signal.SIGTERM)  # serve() handles it: a graceful stop
        assert await asyncio.wait_for(task, 15) == 0
    finally:
        gc.unfreeze()
        gc.enable()


def test_resume_gc_leaves_a_running_collector_alone():
    frozen = gc.get_freeze_count()
    resume_gc()
    assert gc.isenabled() and gc.get_freeze_count() == frozen
