"""Start-up stays lean: ``bamboe run`` for one platform imports that platform's SDK and nothing heavy.

The check runs a real start in a fresh interpreter (this test process has imported everything
already): the settings from the environment, the migrations, the platform's adapter connected to
its stand-in (:mod:`tests.standins`), the HTTP server answering ``/readyz``; then it lists the
imported modules. By module list, not by time, so a busy machine cannot make it fail. The CPU
time of these starts is measured by ``bench/bench_start.py`` (docs/performance.md, "Start-up").
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from tests.conftest import free_port
from tests.standins import PLATFORMS, platform_env

#: never needed to start: the report libraries load when a report is made, Alembic only when the
#: database is behind the newest migration, the holiday calendar when a holiday is looked up,
#: pydantic only for a ``.env`` file or a setting it must convert or refuse (bamboe/settings.py)
NEVER = ("matplotlib", "fpdf", "PIL", "numpy", "alembic", "holidays", "pydantic", "pydantic_settings")
#: each platform's SDK (and what only that SDK needs): loaded when, and only when, it is configured
SDKS = {
    "telegram": ("telegram",),
    "slack": ("slack_sdk", "slack_bolt"),
    "teams": ("microsoft_agents", "jwt"),
    "matrix": ("nio",),
}
#: loaded only when used (APScheduler's cron trigger for a weekly time, cryptography for a
#: BAMBOE_SECRET_KEY), unless the platform's SDK brings them itself: python-telegram-bot imports
#: cryptography (Passport), PyJWT too
WHEN_USED = {"apscheduler", "cryptography"}
SDK_BRINGS = {"telegram": {"cryptography"}, "teams": {"cryptography"}}
#: parts of an SDK the adapter does without: python-telegram-bot's Application framework (the
#: adapter polls and dispatches itself; telegram.ext would bring APScheduler with its JobQueue)
UNUSED_PARTS = ("telegram.ext",)
#: imported at the first activity or send, not to start: the Microsoft 365 Agents SDK (Teams
#: starts with the token endpoint and PyJWT only)
FIRST_USE = {"teams": {"microsoft_agents"}}

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


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_single_platform_start_imports_only_that_platform_and_nothing_heavy(
    platform: str, sqlite_url: str
) -> None:
    async with platform_env(platform) as settings:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLACK_", "TELEGRAM_", "TEAMS_", "MATRIX_", "BAMBOE_"))}
        env.update(DATABASE_URL=sqlite_url, BAMBOE_HTTP_HOST="127.0.0.1", BAMBOE_HTTP_PORT=str(free_port()),
                   BAMBOE_LOG_LEVEL="WARNING", **settings)
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", PROBE, env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-2000:]
    modules = set(json.loads(out.decode().strip().splitlines()[-1]))
    assert f"adapters.{platform}.adapter" in modules  # the configured platform did start
    deferred = FIRST_USE.get(platform, set())
    assert set(SDKS[platform]) - deferred <= {m.split(".")[0] for m in modules}
    others = [m for p, sdk in SDKS.items() if p != platform for m in sdk]
    unwanted = set(NEVER) | set(others) | deferred | (WHEN_USED - SDK_BRINGS.get(platform, set()))
    loaded = sorted(m for m in modules if m.split(".")[0] in unwanted or m.startswith(UNUSED_PARTS))
    assert loaded == [], loaded
    # on SQLite, SQLAlchemy's PostgreSQL dialect (and asyncpg) stay out too
    postgres = sorted(m for m in modules if m.startswith("sqlalchemy.dialects.postgresql") or m.split(".")[0] == "asyncpg")
    assert postgres == [], postgres
    other_adapters = sorted(m for m in modules if m.startswith("adapters.") and m != "adapters.common"
                            and m.split(".")[1] != platform)
    assert other_adapters == []
