"""One platform configured against its stand-in on 127.0.0.1, for a real start of ``bamboe run``
(``tests/test_start.py``, ``bench/bench_start.py``): :func:`platform_env` runs the stand-in and
yields the settings (environment variables) that point the platform at it.

Matrix gets just enough of a homeserver for a start with an access token (``whoami`` and an
empty, long-polled ``sync``); the Synapse of ``tests/matrix_server.py`` is for the behaviour tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from tests.conftest import free_port

PLATFORMS = ("telegram", "slack", "teams", "matrix")
MATRIX_USER = "@bamboe:standin.test"


@asynccontextmanager
async def matrix_homeserver() -> AsyncIterator[str]:
    """``GET …/account/whoami`` and ``GET …/sync`` (nothing new, after the client's timeout, at most
    30 s); yields the homeserver URL."""

    async def whoami(_: web.Request) -> web.Response:
        return web.json_response({"user_id": MATRIX_USER, "device_id": "STANDIN"})

    async def sync(request: web.Request) -> web.Response:
        try:
            timeout = int(request.query.get("timeout", "0")) / 1000
        except ValueError:
            timeout = 0
        await asyncio.sleep(min(30.0, timeout))
        return web.json_response({"next_batch": "s1", "rooms": {}})

    app = web.Application()
    app.router.add_get("/_matrix/client/{version}/account/whoami", whoami)
    app.router.add_get("/_matrix/client/{version}/sync", sync)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def platform_env(platform: str) -> AsyncIterator[dict[str, str]]:
    """The settings that configure ``platform`` (Telegram: long polling; Slack: Socket Mode; Teams;
    Matrix: an access token) against its stand-in, which runs meanwhile."""
    if platform == "telegram":
        from tests.telegram_standin import StandIn

        api = StandIn()
        await api.start()
        try:
            yield {"TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_URL": api.url + "/bot"}
        finally:
            await api.close()
    elif platform == "slack":
        from tests.slack_standin import SlackStandin

        async with SlackStandin() as slack:
            yield {"SLACK_BOT_TOKEN": "xoxb-standin", "SLACK_APP_TOKEN": "xapp-standin", "SLACK_API_URL": slack.url}
    elif platform == "teams":
        from tests import teams_standin

        standin = teams_standin.StandIn()
        await standin.start()
        try:
            yield {"TEAMS_APP_ID": teams_standin.APP_ID, "TEAMS_APP_PASSWORD": teams_standin.SECRET,
                   "TEAMS_TENANT_ID": teams_standin.TENANT,
                   "TEAMS_OPENID_METADATA_URL": f"{standin.url}/v1/.well-known/openidconfiguration",
                   "TEAMS_TOKEN_URL": f"{standin.url}/{teams_standin.TENANT}/oauth2/v2.0/token"}
        finally:
            await standin.close()
    elif platform == "matrix":
        async with matrix_homeserver() as homeserver:
            yield {"MATRIX_HOMESERVER_URL": homeserver, "MATRIX_USER_ID": MATRIX_USER,
                   "MATRIX_ACCESS_TOKEN": "standin-token"}
    else:
        raise ValueError(f"unknown platform {platform!r}")
