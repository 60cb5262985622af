"""The Slack adapter in Socket Mode, end to end over a WebSocket stand-in on 127.0.0.1."""

from __future__ import annotations

import aiohttp
import pytest

from bamboe.runtime import running
from bamboe.settings import Settings
from bot.models import Member, Network
from tests.slack_standin import BOT_USER, TEAM, SlackStandin, free_port
from tests.test_slack_http import wait_for


async def test_socket_mode_hello_command_ack_and_answer(sqlite_url):
    async with SlackStandin(users={"UANNA": {"real_name": "Anna de Vries"}},
                            channels={"C0NET": {"name": "netwerk"}}) as slack:
        port = free_port()
        settings = Settings(_env_file=None, database_url=sqlite_url, slack_bot_token="xoxb-test",
                            slack_app_token="xapp-test", slack_signing_secret=None, slack_api_url=slack.url,
                            bamboe_http_host="127.0.0.1", bamboe_http_port=port)
        async with running(settings) as app, aiohttp.ClientSession() as http:
            adapter = app.adapters[0]
            assert adapter.routes() == []  # no public URL needed
            await wait_for(adapter.ready)
            assert [c.params.get("app_token") for c in slack.of("apps.connections.open")] == ["xapp-test"] or \
                len(slack.of("apps.connections.open")) == 1
            async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                assert (await resp.json())["checks"]["slack"] is True

            # the bot is invited: an events_api envelope
            await slack.push({"envelope_id": "env-join", "type": "events_api", "accepts_response_payload": False,
                              "retry_attempt": 0, "retry_reason": "",
                              "payload": {"type": "event_callback", "team_id": TEAM, "event_id": "Ev1",
                                          "event": {"type": "member_joined_channel", "user": BOT_USER,
                                                    "channel": "C0NET", "channel_type": "C", "team": TEAM,
                                                    "inviter": "UANNA"}}})
            await wait_for(lambda: any(a.get("envelope_id") == "env-join" for a in slack.acks))
            welcome = await wait_for(lambda: slack.of("chat.postMessage"))
            assert welcome[0].params["channel"] == "C0NET"

            # a slash command: acked with its envelope id, then answered ephemerally
            await slack.push({"envelope_id": "env-cmd", "type": "slash_commands", "accepts_response_payload": True,
                              "payload": {"token": "x", "team_id": TEAM, "channel_id": "C0NET",
                                          "channel_name": "netwerk", "user_id": "UANNA", "user_name": "anna",
                                          "command": "/bamboe", "text": "status", "api_app_id": "A1",
                                          "response_url": f"http://127.0.0.1:{slack.port}/response/1",
                                          "trigger_id": "1.2.3"}})
            await wait_for(lambda: any(a.get("envelope_id") == "env-cmd" for a in slack.acks))
            answer = await wait_for(lambda: slack.of("chat.postEphemeral"))
            assert answer[0].params["channel"] == "C0NET" and answer[0].params["user"] == "UANNA"

            async with app.db.transaction() as session:
                from sqlalchemy import select

                assert [m.user_id for m in await session.scalars(select(Member))] == ["UANNA"]
                assert len(list(await session.scalars(select(Network)))) == 1
        assert not adapter.ready()


def test_slack_needs_a_mode(sqlite_url):
    from adapters.slack.adapter import build

    settings = Settings(_env_file=None, database_url=sqlite_url, slack_bot_token="xoxb-test", slack_app_token=None,
                        slack_signing_secret=None)
    with pytest.raises(ValueError, match="SLACK_APP_TOKEN"):
        build(settings, None)  # type: ignore[arg-type]
