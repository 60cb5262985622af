"""Start-up stays lean: ``bamboe run`` for one platform imports that platform's SDK and nothing heavy.

The check runs a real start in a fresh interpreter (this test process has imported everything
already): the settings from the environment, the migrations, the Telegram adapter connected to
the stand-in, the HTTP server answering ``/readyz``; then it lists the imported modules. By module
list, not by time, so a busy machine cannot make it fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from tests.conftest import free_port
from tests.telegram_standin import StandIn

#: never needed to start: the report libraries load when a report is made, other SDKs when configured
HEAVY = ("matplotlib", "fpdf", "PIL", "numpy", "slack_sdk", "slack_bolt", "microsoft_agents", "jwt")

PROBE = """
import asyncio, json, sys
import aiohttp
from bamboe.runtime import running
from bamboe.settings import Settings

async def main():
    settings = Settings(_env_file=None)
    async with running(settings):
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{settings.bamboe_http_port}/readyz") as r:
                assert r.status == 200, r.status
        print(json.dumps(sorted(sys.modules)))

asyncio.run(main())
"""


async def test_a_telegram_only_start_imports_nothing_heavy(sqlite_url: str) -> None:
    api = StandIn()
    await api.start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TELEGRAM_", "TEAMS_", "BAMBOE_"))}
        env.update(DATABASE_URL=sqlite_url, TELEGRAM_BOT_TOKEN=api.token, TELEGRAM_API_URL=api.url + "/bot",
                   BAMBOE_HTTP_HOST="127.0.0.1", BAMBOE_HTTP_PORT=str(free_port()), BAMBOE_LOG_LEVEL="WARNING")
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", PROBE, env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        await api.close()
    assert proc.returncode == 0, err.decode()[-2000:]
    modules = set(json.loads(out.decode().strip().splitlines()[-1]))
    assert "telegram" in modules and "adapters.telegram.adapter" in modules  # the configured platform did start
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert loaded == [], loaded
