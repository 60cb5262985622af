"""bamboe run's composition root: the shared HTTP server and the dispatch loop."""

import socket

import aiohttp

from bamboe.runtime import running
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
