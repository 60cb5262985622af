"""The Slack adapter in Socket Mode, end to end over a WebSocket stand-in on 127.0.0.1."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from sqlalchemy import select

from bamboe.runtime import running
from bamboe.settings import Settings
from bot.models import Chat, Member, Network, OutboxMessage
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
                assert [m.user_id for m in await session.scalars(select(Member))] == ["UANNA"]
                assert len(list(await session.scalars(select(Network)))) == 1
        assert not adapter.ready()


def envelope(envelope_id: str, event: dict) -> dict:
    """A Socket Mode ``events_api`` envelope around ``event``."""
    return {"envelope_id": envelope_id, "type": "events_api", "accepts_response_payload": False,
            "retry_attempt": 0, "retry_reason": "",
            "payload": {"type": "event_callback", "team_id": TEAM, "event_id": f"Ev-{envelope_id}", "event": event}}


async def test_socket_mode_group_left_takes_the_private_channel_out_of_its_network_once(sqlite_url):
    """``group_left`` (the bot's own user left a private channel) in Socket Mode: the channel
    leaves its network, its members with it; the trekker gets one private note. The
    ``member_left_channel`` for the bot that may come with it changes nothing more, and nothing
    more goes to the channel."""
    private = "G0PRIVE"
    async with SlackStandin(users={"UANNA": {"real_name": "Anna de Vries"}, "UBRAM": {"real_name": "Bram Peters"}},
                            channels={private: {"name": "besloten"}}) as slack:
        settings = Settings(_env_file=None, database_url=sqlite_url, slack_bot_token="xoxb-test",
                            slack_app_token="xapp-test", slack_signing_secret=None, slack_api_url=slack.url,
                            bamboe_http_host="127.0.0.1", bamboe_http_port=free_port())
        async with running(settings) as app:
            await wait_for(app.adapters[0].ready)

            async def rows(model):
                async with app.db.transaction() as session:
                    return list(await session.scalars(select(model).order_by(model.id)))

            def to(channel):
                return [c for c in slack.posts() if c.params.get("channel") == channel]

            await slack.push(envelope("join", {"type": "member_joined_channel", "user": BOT_USER, "channel": private,
                                               "channel_type": "G", "team": TEAM, "inviter": "UANNA"}))
            await wait_for(lambda: to(private))
            await slack.push(envelope("bram", {"type": "member_joined_channel", "user": "UBRAM", "channel": private,
                                               "channel_type": "G", "team": TEAM}))
            await wait_for(lambda: to("DBRAM"))  # his welcome, privately
            posts = len(to(private))
            slack.refuse_posts(private)

            await slack.push(envelope("left", {"type": "group_left", "channel": private, "actor_id": "UANNA",
                                               "event_ts": "1767700000.000300"}))
            await wait_for(lambda: any(a.get("envelope_id") == "left" for a in slack.acks))
            (note,) = await wait_for(lambda: to("DANNA"))
            assert "Je zat alleen in die chat" in note.params["text"] and "besloten" in note.params["text"]
            assert await rows(Chat) == []
            assert [(m.user_id, m.active) for m in await rows(Member)] == [("UANNA", False), ("UBRAM", False)]

            await slack.push(envelope("also", {"type": "member_left_channel", "user": BOT_USER, "channel": private,
                                               "channel_type": "G", "team": TEAM}))
            await wait_for(lambda: any(a.get("envelope_id") == "also" for a in slack.acks))
            await asyncio.sleep(0.5)
            assert len(to("DANNA")) == 1 and to(private)[posts:] == []
            assert len([r for r in await rows(OutboxMessage) if r.kind == "link"]) == 1


def test_slack_needs_a_mode(sqlite_url):
    from adapters.slack.adapter import build

    settings = Settings(_env_file=None, database_url=sqlite_url, slack_bot_token="xoxb-test", slack_app_token=None,
                        slack_signing_secret=None)
    with pytest.raises(ValueError, match="SLACK_APP_TOKEN"):
        build(settings, None)  # type: ignore[arg-type]
