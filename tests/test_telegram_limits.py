"""Telegram's sending limits hold for every API call, also for the parts of one message.

The whole ``bamboe run`` stack on the real clock (the limits are real time) against the stand-in
Bot API enforcing Telegram's limits: one message per second per chat, 20 a minute per group,
30 a second overall; a call over a limit gets 429.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bamboe.runtime import running
from bamboe.settings import Settings
from tests.conftest import free_port
from tests.telegram_standin import FILE_FIELDS, StandIn, chat_member, group, message, user

ANNA = user(1001, "Anna", "de Vries")
GROUP = group(-1004440000000, "Lerend netwerk Limburg")


async def until(condition: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := condition():
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


async def test_the_parts_and_files_of_a_group_report_keep_the_chats_limit(sqlite_url: str) -> None:
    api = StandIn(enforce_limits=True)
    await api.start()
    config = Settings(_env_file=None, database_url=sqlite_url, telegram_bot_token=api.token,
                      telegram_api_url=api.url + "/bot", bamboe_http_host="127.0.0.1", bamboe_http_port=free_port())
    try:
        async with running(config):
            api.push(chat_member(GROUP, ANNA, api.me(), "left", "member"))
            api.push({"message": message(GROUP, ANNA, new_chat_members=[api.me()])})
            await until(lambda: api.sent(GROUP["id"]), "the welcome")
            api.push({"message": message(GROUP, ANNA, "/rapport groep")})
            await until(lambda: len(api.uploads(GROUP["id"])) == 3, "the report's three files")
    finally:
        await api.close()
    sends = [c for c in api.calls if c.method in ("sendMessage", *FILE_FIELDS)]
    assert len(sends) >= 5  # the welcome, the report's text, its chart, page and PDF
    assert api.throttled == 0, api.throttled_by  # not one call was refused
    assert all(c.status == 200 for c in sends)
