"""What the Slack adapter's libraries log about rejected requests (issue 17, item 2): never a body,
at any level, through any logger; BAMBOE_LOG_LEVEL governs them; a crafted value cannot forge a
log line; a non-numeric timestamp is a 401, not a 500 with a traceback. Through bolt's real entry
point (``POST /slack/events`` in HTTP mode) and the log set-up of ``bamboe run``."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from bamboe import logs
from tests.slack_standin import TEAM
from tests.test_slack_http import ANNA, CHANNEL, signature, slack_bot

PHONE, STREET = "0612345678", "Kerkstraat 12"
FORGED = "2026-12-01 10:00:00,000 INFO bamboe: slack: installed in workspace TFORGED"


@pytest.fixture
def operator_log(caplog: pytest.LogCaptureFixture) -> Iterator[tuple[io.StringIO, pytest.LogCaptureFixture]]:
    """The log ``bamboe run`` writes (text format), plus every record any logger emits at DEBUG."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = logs.configure("DEBUG", "text", stream=stream)
    caplog.set_level(logging.DEBUG)
    yield stream, caplog
    root.removeHandler(handler)
    root.setLevel(level)


def command_body(text: str) -> str:
    return urlencode({"token": "x", "team_id": TEAM, "channel_id": CHANNEL, "channel_name": "netwerk",
                      "user_id": ANNA, "user_name": "anna", "command": "/bamboe", "text": text,
                      "api_app_id": "A1", "trigger_id": "1.2.3", "response_url": "http://127.0.0.1:1/r"})


def everything(stream: io.StringIO, caplog: pytest.LogCaptureFixture) -> str:
    """All that was logged: the operator's stream and each captured record's message and arguments."""
    records = "\n".join(f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    return stream.getvalue() + "\n" + records


async def test_rejected_requests_never_log_their_body(sqlite_url, operator_log):
    stream, caplog = operator_log
    async with slack_bot(sqlite_url) as bot:
        # correctly signed, but the sender's clock is ten minutes off
        status, _ = await bot.command(ANNA, f"vier bel {PHONE}, {STREET}", timestamp=int(time.time()) - 600)
        assert status == 401
        # forged: a body with a line break and a log-formatted line after it
        body = command_body(f"status\n{FORGED}")
        for text in (body, f"status\n{FORGED}"):  # form-encoded, and raw
            status, _ = await bot.post(text, "application/x-www-form-urlencoded", secret="wrong")
            assert status == 401
        # large: five posts of almost a megabyte each
        before = len(stream.getvalue())
        for _ in range(5):
            status, _ = await bot.post("text=" + "x" * 1_000_000, "application/x-www-form-urlencoded", secret="wrong")
            assert status == 401
        grown = len(stream.getvalue()) - before

    logged = everything(stream, caplog)
    for secret in (PHONE, STREET, "Kerkstraat", "installed in workspace TFORGED", "xxxxxxxxxx"):
        assert secret not in logged
    assert not any(line.startswith(FORGED[:23]) for line in stream.getvalue().splitlines())
    assert grown < 5 * 300, "a refused request is one short line"
    # the operator still learns what happened, and how far off the clock was
    refused = [line for line in stream.getvalue().splitlines() if "refused a request" in line]
    assert len(refused) == 8
    assert "timestamp 600 s off" in refused[0] or "timestamp 601 s off" in refused[0]


async def test_a_timestamp_that_is_not_a_number_is_refused_without_a_traceback(sqlite_url, operator_log):
    stream, caplog = operator_log
    async with slack_bot(sqlite_url) as bot:
        for stamp in ("abc", "1_700_000_000", "١٧٠٠٠٠٠٠٠٠", "", " 1700000000", "9" * 40):
            body = command_body("status")
            headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": stamp,
                       "X-Slack-Signature": signature(body, stamp)}
            async with bot.http.post(bot.url, data=body.encode(), headers=headers) as resp:
                assert resp.status == 401, stamp
        assert bot.slack.posts() == []
    logged = everything(stream, caplog)
    assert "Traceback" not in logged and "ValueError" not in logged


async def test_log_level_governs_the_slack_libraries(sqlite_url, operator_log):
    _, caplog = operator_log
    stream = io.StringIO()
    logs.configure("WARNING", "text", stream=stream)  # replaces the fixture's handler
    caplog.set_level(logging.WARNING)
    async with slack_bot(sqlite_url) as bot:
        status, _ = await bot.command(ANNA, "status", secret="wrong")
        assert status == 401
    assert [line for line in stream.getvalue().splitlines() if " INFO " in line or " DEBUG " in line] == []
    assert "signature" not in stream.getvalue()


def test_text_log_lines_cannot_be_forged():
    stream = io.StringIO()
    handler = logs.configure("INFO", "text", stream=stream)
    try:
        logging.getLogger("bamboe.test").warning("name: %s", f"Anna\n{FORGED}\r\n{FORGED}")
    finally:
        logging.getLogger().removeHandler(handler)
    (line,) = stream.getvalue().splitlines()
    assert "Anna\\n2026" in line
