"""Multi-workspace installs (OAuth) and Slack event dedupe shared by replicas, end to end: real
HTTP on 127.0.0.1 to ``/slack/install``, ``/slack/oauth_redirect`` and ``/slack/events``, the real
core and database, and the Slack stand-in answering ``oauth.v2.access`` and recording which bot
token every Web API call carried."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import aiohttp
import pytest
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy import select, text, update

from adapters.slack.adapter import SlackAdapter
from adapters.slack.oauth import DEFAULT_SCOPES
from adapters.slack.store import Directory, SharedSeenEvents, Team
from bamboe.runtime import App, running
from bamboe.settings import Settings
from bot.core import Core
from bot.database import create_engine
from bot.delivery import Undeliverable
from bot.events import Address, Outgoing
from bot.models import (
    Chat,
    SlackBot,
    SlackConversation,
    SlackEvent,
    SlackInstallation,
    SlackOAuthState,
)
from bot.secrets import SecretBox, SecretError, is_sealed
from tests.conftest import free_port
from tests.slack_standin import APP_ID, BOT_USER, CLIENT_ID, CLIENT_SECRET, TEAM, SlackStandin, Workspace
from tests.test_slack_http import SECRET, signature, wait_for
from tests.test_slack_manifest import manifest

#: the key the multi-workspace tests run with (BAMBOE_SECRET_KEY)
SECRET_KEY = "Vb0KsI9bQm0vHcPq8y2T8WwS3u5J5kJ9Qe1e3mHh3aE="
BOX = SecretBox([SECRET_KEY])
TEAM_A, TEAM_B = "T0AAA", "T0BBB"
TOKEN_A, TOKEN_B = "xoxb-aaa-111", "xoxb-bbb-222"
ANNA, BRAM, DEWI = "UANNA", "UBRAM", "UDEWI"
_ids = itertools.count(1)
# slack-sdk sends the OAuth client credentials with aiohttp's BasicAuth, which aiohttp deprecates
pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")


@dataclass
class Bot:
    """The running app (multi-workspace), the stand-in, and a browser-like HTTP client."""

    app: App
    slack: SlackStandin
    http: aiohttp.ClientSession
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def adapter(self) -> SlackAdapter:
        (adapter,) = [a for a in self.app.adapters if a.platform == "slack"]
        assert isinstance(adapter, SlackAdapter)
        return adapter

    async def start_install(self) -> tuple[str, str, str]:
        """``GET /slack/install``: the redirect to Slack, its state and the cookie to send back."""
        async with self.http.get(f"{self.base}/slack/install", allow_redirects=False) as resp:
            assert resp.status == 302, await resp.text()
            location, cookie = resp.headers["Location"], resp.headers["Set-Cookie"]
        state = parse_qs(urlparse(location).query)["state"][0]
        return location, state, cookie.split(";")[0]

    async def redirect(
        self, query: dict[str, str], cookie: str | None
    ) -> tuple[int, str, aiohttp.typedefs.LooseHeaders]:
        """Slack sends the browser back to ``/slack/oauth_redirect``."""
        headers = {"Cookie": cookie} if cookie else {}
        async with self.http.get(
            f"{self.base}/slack/oauth_redirect?{urlencode(query)}", headers=headers, allow_redirects=False
        ) as resp:
            return resp.status, await resp.text(), resp.headers

    async def install(self, ws: Workspace) -> str:
        """The whole install in ``ws``; the page the browser ends on."""
        _, state, cookie = await self.start_install()
        status, page, _ = await self.redirect({"code": self.slack.code_for(ws), "state": state}, cookie)
        assert status == 200, page
        return page

    async def post(self, body: str, content_type: str, headers: dict[str, str] | None = None) -> int:
        ts = str(int(time.time()))
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature(body, ts),
            **(headers or {}),
        }
        async with self.http.post(f"{self.base}/slack/events", data=body.encode(), headers=all_headers) as resp:
            return resp.status

    async def event(self, team: str, event: dict[str, Any], *, event_id: str | None = None) -> int:
        body = json.dumps(
            {
                "token": "x",
                "team_id": team,
                "api_app_id": APP_ID,
                "type": "event_callback",
                "event": event,
                "event_id": event_id or f"Ev{next(_ids):08d}",
                "event_time": int(time.time()),
                "authorizations": [{"team_id": team, "user_id": "U0", "is_bot": True}],
            }
        )
        return await self.post(body, "application/json")

    async def command(self, team: str, user: str, text: str, channel: str) -> int:
        body = urlencode(
            {
                "token": "x",
                "team_id": team,
                "team_domain": "t",
                "channel_id": channel,
                "channel_name": "netwerk",
                "user_id": user,
                "user_name": user.lower(),
                "command": "/bamboe",
                "text": text,
                "api_app_id": APP_ID,
                "trigger_id": "1.2.3",
                "response_url": f"http://127.0.0.1:{self.slack.port}/response/1",
            }
        )
        return await self.post(body, "application/x-www-form-urlencoded")

    async def invite(self, ws: Workspace, channel: str) -> None:
        """The bot of ``ws`` is invited to ``channel`` by the installer; wait for the welcome."""
        before = len(self.slack.posts())
        assert (
            await self.event(
                ws.team_id,
                {
                    "type": "member_joined_channel",
                    "user": ws.bot_user_id,
                    "channel": channel,
                    "channel_type": "C",
                    "team": ws.team_id,
                    "inviter": ws.installer,
                },
            )
            == 200
        )
        await wait_for(lambda: len(self.slack.posts()) > before)

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        async with self.app.db.transaction() as session:
            return list(await session.scalars(select(model).where(*where)))


def oauth_settings(url: str, slack: SlackStandin, port: int, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": None,
        "slack_app_token": None,
        "slack_signing_secret": SECRET,
        "slack_client_id": CLIENT_ID,
        "slack_client_secret": CLIENT_SECRET,
        "slack_redirect_uri": None,
        "slack_scopes": None,
        "slack_api_url": slack.url,
        "bamboe_secret_key": SECRET_KEY,
        **extra,
    }
    return Settings(_env_file=None, database_url=url, bamboe_http_host="127.0.0.1", bamboe_http_port=port, **values)


async def database_bytes(bot: Bot) -> bytes:
    """Everything in the SQLite database file and its write-ahead log, as bytes."""
    path = Path(bot.app.db.engine.url.database)
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())


@asynccontextmanager
async def oauth_bot(url: str, **extra: Any) -> AsyncIterator[Bot]:
    async with SlackStandin(
        users={
            ANNA: {"real_name": "Anna de Vries"},
            BRAM: {"real_name": "Bram Peters"},
            DEWI: {"real_name": "Dewi Santoso"},
        },
        channels={"C0AAA": {"name": "netwerk-a"}, "C0BBB": {"name": "netwerk-b"}, "C0OLD": {"name": "oud"}},
    ) as slack:
        port = free_port()
        # the browser's cookies are sent by hand (the stand-in's host is an IP address)
        async with (
            running(oauth_settings(url, slack, port, **extra)) as app,
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        ):
            yield Bot(app, slack, http, port)


def two_workspaces(slack: SlackStandin) -> tuple[Workspace, Workspace]:
    a = slack.workspace(
        TEAM_A, "Gemeente Aadorp", TOKEN_A, "UBOTA", ANNA, channels={"C0AAA", "C0OLD", "D0ANNA"}, users={ANNA, "UBOTA"}
    )
    b = slack.workspace(
        TEAM_B,
        "Zorg & Welzijn <Bedum>",
        TOKEN_B,
        "UBOTB",
        BRAM,
        channels={"C0BBB", "D0DEWI"},
        users={BRAM, DEWI, "UBOTB"},
    )
    return a, b


def channel_of(call: Any) -> str | None:
    return call.params.get("channel") or call.params.get("channel_id")


# ---------------------------------------------------------------------------- installing
async def test_install_stores_the_workspace_and_each_team_uses_its_own_token(sqlite_url):
    async with oauth_bot(sqlite_url) as bot:
        a, b = two_workspaces(bot.slack)
        async with bot.http.get(f"{bot.base}/readyz") as resp:
            assert (await resp.json())["checks"] == {"database": True, "slack": True}

        # /slack/install: a state in our database and in a cookie, then on to Slack's consent page
        location, state, cookie = await bot.start_install()
        url = urlparse(location)
        query = parse_qs(url.query)
        assert (url.scheme, url.netloc, url.path) == ("https", "slack.com", "/oauth/v2/authorize")
        assert query["client_id"] == [CLIENT_ID] and "redirect_uri" not in query
        assert query["scope"][0].split(",") == list(DEFAULT_SCOPES) == manifest()["oauth_config"]["scopes"]["bot"]
        assert cookie == f"slack-app-oauth-state={state}"
        assert [s.state for s in await bot.rows(SlackOAuthState)] == [state]

        # Slack sends the browser back with a code: exchanged, stored, a page in two languages
        code = bot.slack.code_for(a)
        status, page, headers = await bot.redirect({"code": code, "state": state}, cookie)
        assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
        assert "Bamboe is geïnstalleerd" in page and "Bamboe was added to" in page and "Gemeente Aadorp" in page
        assert f"https://app.slack.com/client/{TEAM_A}" in page
        assert "slack-app-oauth-state=deleted" in headers["Set-Cookie"]
        (exchange,) = bot.slack.of("oauth.v2.access")
        assert (exchange.params["client_id"], exchange.params["client_secret"], exchange.params["code"]) == (
            CLIENT_ID,
            CLIENT_SECRET,
            code,
        )
        assert exchange.token is None
        (installation,) = await bot.rows(SlackInstallation)
        assert (
            installation.client_id,
            installation.app_id,
            installation.team_id,
            installation.team_name,
            BOX.unseal(installation.bot_token),
            installation.bot_user_id,
            installation.user_id,
        ) == (CLIENT_ID, APP_ID, TEAM_A, "Gemeente Aadorp", TOKEN_A, "UBOTA", ANNA)
        (bot_row,) = await bot.rows(SlackBot)
        assert (bot_row.team_id, BOX.unseal(bot_row.bot_token), bot_row.bot_id) == (TEAM_A, TOKEN_A, a.bot_id)
        # the tokens are encrypted at rest: not in the rows, not anywhere in the database file
        assert is_sealed(bot_row.bot_token) and is_sealed(installation.bot_token)
        assert TOKEN_A.encode() not in await database_bytes(bot)
        assert await bot.rows(SlackOAuthState) == []  # a state is used once
        (installer,) = await bot.rows(SlackConversation)
        assert (installer.conversation_id, installer.team_id) == (ANNA, TEAM_A)

        # a second workspace; its name is shown escaped
        page = await bot.install(b)
        assert "Zorg &amp; Welzijn &lt;Bedum&gt;" in page and "<Bedum>" not in page
        assert sorted(r.team_id for r in await bot.rows(SlackBot)) == [TEAM_A, TEAM_B]

        # events from each workspace are handled with that workspace's token, answers go out with it
        await bot.invite(a, "C0AAA")
        await bot.invite(b, "C0BBB")
        assert await bot.command(TEAM_A, ANNA, "status", "C0AAA") == 200
        await wait_for(lambda: bot.slack.of("chat.postEphemeral"))
        assert (
            await bot.event(
                TEAM_B,
                {
                    "type": "message",
                    "user": DEWI,
                    "text": "hallo",
                    "ts": "1767700000.000001",
                    "channel": "D0DEWI",
                    "channel_type": "im",
                },
            )
            == 200
        )
        await wait_for(lambda: [c for c in bot.slack.posts() if c.params["channel"] == "D0DEWI"])

        chats = await bot.rows(Chat)
        assert sorted((c.chat_id, c.title) for c in chats) == [("C0AAA", "netwerk-a"), ("C0BBB", "netwerk-b")]
        for call in bot.slack.posts():
            expected = TOKEN_A if channel_of(call) in ("C0AAA",) else TOKEN_B
            assert call.token == expected, (call.method, channel_of(call), call.token)
        assert {channel_of(c) for c in bot.slack.posts() if c.token == TOKEN_A} == {"C0AAA"}
        assert {channel_of(c) for c in bot.slack.posts() if c.token == TOKEN_B} == {"C0BBB", "D0DEWI"}
        # look-ups too: nothing about one workspace was asked with the other's token
        for call in bot.slack.of("users.info"):
            assert call.token == (TOKEN_A if call.params["user"] == ANNA else TOKEN_B), call.params
        for call in bot.slack.of("conversations.info"):
            assert call.token == (TOKEN_A if call.params["channel"] == "C0AAA" else TOKEN_B), call.params
        # every Web API call carried one of the two bot tokens (oauth.v2.access uses the client secret)
        assert {c.token for c in bot.slack.calls if c.method != "oauth.v2.access"} == {TOKEN_A, TOKEN_B}

        recorded = {r.conversation_id: r.team_id for r in await bot.rows(SlackConversation)}
        assert recorded == {
            ANNA: TEAM_A,
            "C0AAA": TEAM_A,
            "UBOTA": TEAM_A,
            BRAM: TEAM_B,
            "C0BBB": TEAM_B,
            "UBOTB": TEAM_B,
            DEWI: TEAM_B,
            "D0DEWI": TEAM_B,
        }


async def test_bad_expired_replayed_or_cancelled_installs_get_a_page(sqlite_url, caplog):
    caplog.set_level(logging.DEBUG)
    async with oauth_bot(sqlite_url) as bot:
        a, _ = two_workspaces(bot.slack)

        # no cookie (another browser) and a made-up state
        status, page, headers = await bot.redirect({"code": bot.slack.code_for(a), "state": "made-up"}, None)
        assert status == 400 and "verlopen" in page and "expired" in page
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert 'href="install"' in page  # relative: /slack/install

        # the cookie of one install with the state of another
        _, state_1, cookie_1 = await bot.start_install()
        _, state_2, _ = await bot.start_install()
        status, page, _ = await bot.redirect({"code": bot.slack.code_for(a), "state": state_2}, cookie_1)
        assert status == 400 and "Installatielink verlopen" in page

        # a state past its expiry (10 minutes)
        async with bot.app.db.transaction() as session:
            await session.execute(
                update(SlackOAuthState).where(SlackOAuthState.state == state_1).values(expire_at=datetime(2026, 1, 1))
            )
        status, page, _ = await bot.redirect({"code": bot.slack.code_for(a), "state": state_1}, cookie_1)
        assert status == 401 and "verlopen" in page

        # cancelled on Slack's consent page
        _, state, cookie = await bot.start_install()
        status, page, _ = await bot.redirect({"error": "access_denied", "state": state}, cookie)
        assert status == 200 and "geannuleerd" in page and "cancelled" in page

        # a code Slack does not know
        _, state, cookie = await bot.start_install()
        status, page, _ = await bot.redirect({"code": "secret-code-4711", "state": state}, cookie)
        assert status == 401 and "mislukt" in page and "failed" in page
        assert bot.slack.of("oauth.v2.access")[-1].result is None  # answered invalid_code

        # nothing stored so far; then a good install, and its replay is refused
        assert await bot.rows(SlackInstallation) == [] and await bot.rows(SlackBot) == []
        _, state, cookie = await bot.start_install()
        query = {"code": bot.slack.code_for(a), "state": state}
        assert (await bot.redirect(query, cookie))[0] == 200
        status, page, _ = await bot.redirect(query, cookie)
        assert status == 401 and "verlopen" in page
        assert len(await bot.rows(SlackInstallation)) == 1

        async with bot.http.get(f"{bot.base}/readyz") as resp:
            assert resp.status == 200
    assert "secret-code-4711" not in caplog.text and TOKEN_A not in caplog.text and CLIENT_SECRET not in caplog.text
    assert "code: [redacted]" in caplog.text  # bolt's own warning about the failed exchange, without the code


async def test_install_route_without_its_table_answers_with_a_page(sqlite_url):
    async with oauth_bot(sqlite_url) as bot:
        async with bot.app.db.engine.begin() as conn:
            await conn.execute(text("DROP TABLE slack_oauth_states"))
        async with bot.http.get(f"{bot.base}/slack/install", allow_redirects=False) as resp:
            assert resp.status == 503 and "Installatie niet gelukt" in await resp.text()


# ---------------------------------------------------------------------------- sending
async def test_unrecorded_conversations_are_found_by_asking_each_workspace(sqlite_url):
    async with oauth_bot(sqlite_url) as bot:
        a, b = two_workspaces(bot.slack)
        await bot.install(a)
        await bot.install(b)
        sender = bot.adapter.sender

        # a network from before multi-workspace mode: nobody recorded its channel
        await sender.send(Outgoing(Address("slack", "C0OLD"), "note", "hallo"))
        (post,) = bot.slack.posts()
        assert (post.params["channel"], post.token) == ("C0OLD", TOKEN_A)
        asked = [(c.params["channel"], c.token) for c in bot.slack.of("conversations.info")]
        assert asked == [("C0OLD", TOKEN_B), ("C0OLD", TOKEN_A)]  # most recent install first
        (row,) = await bot.rows(SlackConversation, SlackConversation.conversation_id == "C0OLD")
        assert row.team_id == TEAM_A
        await sender.send(Outgoing(Address("slack", "C0OLD"), "note", "nog eens"))
        assert len(bot.slack.of("conversations.info")) == 2  # known now

        # a private message to someone nobody recorded: users.info finds the workspace
        await sender.send(Outgoing(Address("slack", user_id=DEWI), "note", "privé"))
        (opened,) = bot.slack.of("conversations.open")
        assert opened.token == TOKEN_B and bot.slack.posts()[-1].token == TOKEN_B

        # an id no installed workspace knows can never be delivered
        with pytest.raises(Undeliverable):
            await sender.send(Outgoing(Address("slack", "C0NOWHERE"), "note", "hallo"))


async def test_uninstall_forgets_the_workspace(sqlite_url):
    async with oauth_bot(sqlite_url) as bot:
        a, b = two_workspaces(bot.slack)
        await bot.install(a)
        await bot.install(b)
        await bot.invite(a, "C0AAA")
        assert await bot.rows(SlackConversation, SlackConversation.team_id == TEAM_A)
        assert await bot.event(TEAM_A, {"type": "app_uninstalled"}) == 200
        for _ in range(100):  # handled after the event was acknowledged: wait for every table
            if not (await bot.rows(SlackBot, SlackBot.team_id == TEAM_A)
                    or await bot.rows(SlackInstallation, SlackInstallation.team_id == TEAM_A)
                    or await bot.rows(SlackConversation, SlackConversation.team_id == TEAM_A)):
                break
            await asyncio.sleep(0.05)
        assert await bot.rows(SlackInstallation, SlackInstallation.team_id == TEAM_A) == []
        assert await bot.rows(SlackBot, SlackBot.team_id == TEAM_A) == []
        assert await bot.rows(SlackConversation, SlackConversation.team_id == TEAM_A) == []
        assert [r.team_id for r in await bot.rows(SlackBot)] == [TEAM_B]
        with pytest.raises(Undeliverable):
            await bot.adapter.sender.send(Outgoing(Address("slack", "C0AAA"), "note", "hallo"))


async def test_the_bot_token_workspace_is_taken_over(sqlite_url):
    """Switching an existing install to multi-workspace mode: SLACK_BOT_TOKEN's workspace keeps
    working without a reinstall."""
    async with oauth_bot(sqlite_url, slack_bot_token="xoxb-test") as bot:
        for _ in range(200):
            if await bot.rows(SlackBot):
                break
            await asyncio.sleep(0.02)
        (row,) = await bot.rows(SlackBot)
        assert (row.team_id, BOX.unseal(row.bot_token), row.bot_user_id, row.app_id) == (
            TEAM, "xoxb-test", BOT_USER, APP_ID
        )
        assert is_sealed(row.bot_token) and b"xoxb-test" not in await database_bytes(bot)
        assert (
            await bot.event(
                TEAM,
                {
                    "type": "member_joined_channel",
                    "user": BOT_USER,
                    "channel": "C0AAA",
                    "channel_type": "C",
                    "team": TEAM,
                    "inviter": ANNA,
                },
            )
            == 200
        )
        (welcome,) = await wait_for(lambda: bot.slack.posts())
        assert (welcome.params["channel"], welcome.token) == ("C0AAA", "xoxb-test")


@pytest.mark.postgres
async def test_install_and_expiry_on_postgres(postgres_url):
    async with oauth_bot(postgres_url) as bot:
        a, b = two_workspaces(bot.slack)
        _, state, cookie = await bot.start_install()
        async with bot.app.db.transaction() as session:
            await session.execute(update(SlackOAuthState).values(expire_at=datetime(2026, 1, 1)))
        assert (await bot.redirect({"code": bot.slack.code_for(a), "state": state}, cookie))[0] == 401
        await bot.install(a)
        await bot.install(b)
        await bot.invite(a, "C0AAA")
        await bot.invite(b, "C0BBB")
        assert {(channel_of(c), c.token) for c in bot.slack.posts()} == {("C0AAA", TOKEN_A), ("C0BBB", TOKEN_B)}
        assert sorted(r.team_id for r in await bot.rows(SlackInstallation)) == [TEAM_A, TEAM_B]


async def test_socket_mode_with_oauth(sqlite_url):
    """Multi-workspace over Socket Mode: events of every workspace arrive on the one socket; the
    install routes are still served (the browser must reach them, Slack need not)."""
    async with oauth_bot(sqlite_url, slack_app_token="xapp-test", slack_signing_secret=None) as bot:
        a, _ = two_workspaces(bot.slack)
        assert sorted(r.path for r in bot.adapter.routes()) == ["/slack/install", "/slack/oauth_redirect"]
        await wait_for(bot.adapter.ready)
        await bot.install(a)
        await bot.slack.push(
            {
                "envelope_id": "env-a",
                "type": "events_api",
                "accepts_response_payload": False,
                "retry_attempt": 0,
                "retry_reason": "",
                "payload": {
                    "type": "event_callback",
                    "team_id": TEAM_A,
                    "event_id": "EvSOCK1",
                    "api_app_id": APP_ID,
                    "event": {
                        "type": "member_joined_channel",
                        "user": a.bot_user_id,
                        "channel": "C0AAA",
                        "channel_type": "C",
                        "team": TEAM_A,
                        "inviter": ANNA,
                    },
                },
            }
        )
        (welcome,) = await wait_for(lambda: bot.slack.posts())
        assert (welcome.params["channel"], welcome.token) == ("C0AAA", TOKEN_A)
        assert any(ack.get("envelope_id") == "env-a" for ack in bot.slack.acks)


def test_multi_workspace_settings():
    assert Settings(
        _env_file=None, slack_bot_token=None, slack_client_id="1.2", slack_client_secret="s"
    ).configured_platforms()[:1] == ["slack"]
    assert (
        "slack"
        not in Settings(
            _env_file=None, slack_bot_token=None, slack_client_id="1.2", slack_client_secret=None
        ).configured_platforms()
    )
    with pytest.raises(ValueError, match="SLACK_CLIENT_SECRET"):
        SlackAdapter(
            Settings(
                _env_file=None,
                slack_bot_token="xoxb-x",
                slack_signing_secret="s",
                slack_client_id="1.2",
                slack_client_secret=None,
            ),
            None,
        )  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="SLACK_APP_TOKEN"):
        SlackAdapter(
            Settings(
                _env_file=None,
                slack_bot_token=None,
                slack_app_token=None,
                slack_signing_secret=None,
                slack_client_id="1.2",
                slack_client_secret="s",
            ),
            None,
        )  # type: ignore[arg-type]
    # the tokens of every workspace are kept encrypted: no key, no start (with a clear message)
    with pytest.raises(SecretError, match="BAMBOE_SECRET_KEY; generate one with `bamboe secrets new-key`"):
        SlackAdapter(
            Settings(_env_file=None, slack_signing_secret="s", slack_client_id="1.2", slack_client_secret="s"),
            None,  # type: ignore[arg-type]
        )
    with pytest.raises(SecretError, match="key 1 in BAMBOE_SECRET_KEY is not a Fernet key"):
        SlackAdapter(
            Settings(
                _env_file=None,
                slack_signing_secret="s",
                slack_client_id="1.2",
                slack_client_secret="s",
                bamboe_secret_key="not-a-key",
            ),
            None,  # type: ignore[arg-type]
        )


# ---------------------------------------------------------------------------- shared event dedupe
@asynccontextmanager
async def replicas(url: str, slack: SlackStandin) -> AsyncIterator[list[int]]:
    """Two single-workspace replicas in HTTP mode on one database; their ports."""
    ports = [free_port(), free_port()]
    settings = [
        Settings(
            _env_file=None,
            database_url=url,
            slack_bot_token="xoxb-test",
            slack_app_token=None,
            slack_signing_secret=SECRET,
            slack_client_id=None,
            slack_client_secret=None,
            slack_api_url=slack.url,
            bamboe_http_host="127.0.0.1",
            bamboe_http_port=port,
        )
        for port in ports
    ]
    async with running(settings[0]), running(settings[1]):
        yield ports


async def retry_on_the_other_replica(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    handled: list[str] = []  # the DM channel of every event the core handled, on either replica
    original = Core.handle

    async def counting(self: Core, event: Any) -> Any:
        handled.append(event.chat.chat_id)
        return await original(self, event)

    monkeypatch.setattr(Core, "handle", counting)
    async with SlackStandin() as slack, replicas(url, slack) as ports, aiohttp.ClientSession() as http:

        async def deliver(port: int, event_id: str, channel: str, retry: int = 0) -> None:
            body = json.dumps(
                {
                    "token": "x",
                    "team_id": TEAM,
                    "api_app_id": "A1",
                    "type": "event_callback",
                    "event": {
                        "type": "message",
                        "user": "U" + channel[1:],
                        "text": "hallo",
                        "ts": "1767700000.000001",
                        "channel": channel,
                        "channel_type": "im",
                    },
                    "event_id": event_id,
                    "event_time": int(time.time()),
                }
            )
            ts = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": signature(body, ts),
            }
            if retry:
                headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
            async with http.post(f"http://127.0.0.1:{port}/slack/events", data=body.encode(), headers=headers) as r:
                assert r.status == 200

        # (the answer may go out from either replica; one that did not see the DM opens it: D01 again)
        # a retry reaching the other replica after the first was handled
        await deliver(ports[0], "Ev0SHARED1", "D01")
        await wait_for(lambda: [c for c in slack.posts() if c.params["channel"] == "D01"])
        await deliver(ports[1], "Ev0SHARED1", "D01", retry=1)
        # the same event reaching both replicas at once
        await asyncio.gather(deliver(ports[0], "Ev0SHARED2", "D02"), deliver(ports[1], "Ev0SHARED2", "D02", retry=1))
        # a different event is handled
        await deliver(ports[1], "Ev0SHARED3", "D03")
        await wait_for(
            lambda: (
                [c for c in slack.posts() if c.params["channel"] in ("D02",)]
                and [c for c in slack.posts() if c.params["channel"] == "D03"]
            )
        )
        await asyncio.sleep(0.5)
        assert sorted(handled) == ["D01", "D02", "D03"]
        assert sorted(c.params["channel"] for c in slack.posts()) == ["D01", "D02", "D03"]

        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                seen = set((await conn.execute(select(SlackEvent.event_id))).scalars())
        finally:
            await engine.dispose()
        assert seen == {"Ev0SHARED1", "Ev0SHARED2", "Ev0SHARED3"}


async def test_a_retry_on_another_replica_is_handled_once(sqlite_url, monkeypatch):
    await retry_on_the_other_replica(sqlite_url, monkeypatch)


@pytest.mark.postgres
async def test_a_retry_on_another_replica_is_handled_once_postgres(postgres_url, monkeypatch):
    await retry_on_the_other_replica(postgres_url, monkeypatch)


async def test_seen_events_are_pruned_after_an_hour(sqlite_url):
    engine = create_engine(sqlite_url)
    try:
        first, second = SharedSeenEvents(engine), SharedSeenEvents(engine)
        assert await first.first_time("Ev1") and not await first.first_time("Ev1")
        assert not await second.first_time("Ev1")
        assert await first.first_time(None) and await first.first_time("")
        await first.prune(datetime.now(UTC) + timedelta(minutes=30))
        assert not await SharedSeenEvents(engine).first_time("Ev1")
        await first.prune(datetime.now(UTC) + timedelta(minutes=61))
        assert await SharedSeenEvents(engine).first_time("Ev1")
    finally:
        await engine.dispose()


async def test_old_conversations_and_expired_states_are_pruned(sqlite_url):
    engine = create_engine(sqlite_url)
    try:
        store = AsyncSQLAlchemyInstallationStore(client_id=CLIENT_ID, engine=engine)
        directory = Directory(engine, store, CLIENT_ID, lambda token: None)  # type: ignore[arg-type,return-value]
        await directory.remember(Team(None, TEAM_A), ["C0AAA", ANNA])
        states = AsyncSQLAlchemyOAuthStateStore(expiration_seconds=600, engine=engine)
        state = await states.async_issue()
        later = datetime.now(UTC) + timedelta(days=91)
        await directory.prune(datetime.now(UTC) + timedelta(minutes=9))
        async with engine.connect() as conn:
            assert len((await conn.execute(select(SlackConversation))).all()) == 2
            assert len((await conn.execute(select(SlackOAuthState))).all()) == 1
        await directory.prune(datetime.now(UTC) + timedelta(days=89))
        async with engine.connect() as conn:
            assert len((await conn.execute(select(SlackConversation))).all()) == 2
            assert (await conn.execute(select(SlackOAuthState))).all() == []  # expired after 10 minutes
        await directory.prune(later)
        async with engine.connect() as conn:
            assert (await conn.execute(select(SlackConversation))).all() == []
            assert (await conn.execute(select(SlackOAuthState))).all() == []
        assert not await states.async_consume(state)
    finally:
        await engine.dispose()


async def test_the_team_of_an_install_link_is_checked_and_encoded(sqlite_url):
    """``/slack/install?team=…`` (issue 17, item 8): a Slack id preselects the workspace; anything
    else, e.g. a value that smuggles in more scopes, gets a page and no state."""
    async with oauth_bot(sqlite_url) as bot:
        async with bot.http.get(f"{bot.base}/slack/install?team=T0AAA", allow_redirects=False) as resp:
            assert resp.status == 302
            query = parse_qs(urlparse(resp.headers["Location"]).query, keep_blank_values=True)
        assert query["team"] == ["T0AAA"] and query["scope"][0].split(",") == list(DEFAULT_SCOPES)
        assert set(query) == {"state", "client_id", "scope", "user_scope", "team"}
        states = len(await bot.rows(SlackOAuthState))

        crafted = urlencode({"team": "T0AAA&scope=admin,chat:write&redirect_uri=https://evil.example"})
        for bad in (crafted, "team=t0aaa", "team=T0AAA&team=T0BBB", "team=", "team=T%0AX", "team=T0A%20A"):
            async with bot.http.get(f"{bot.base}/slack/install?{bad}", allow_redirects=False) as resp:
                page = await resp.text()
                assert resp.status == 400, bad
                assert "Location" not in resp.headers and "Installatielink klopt niet" in page, bad
        assert len(await bot.rows(SlackOAuthState)) == states  # no state handed out for them


def test_the_authorize_url_encodes_every_parameter():
    from adapters.slack.oauth import EncodedAuthorizeUrlGenerator

    url = EncodedAuthorizeUrlGenerator(client_id="1.2", scopes=["chat:write", "commands"], user_scopes=[],
                                       redirect_uri="https://b.example/slack/oauth_redirect?x=1&y=2").generate(
        "s&t", team="T1&scope=admin")
    query = parse_qs(urlparse(url).query, keep_blank_values=True)
    assert query == {"state": ["s&t"], "client_id": ["1.2"], "scope": ["chat:write,commands"], "user_scope": [""],
                     "redirect_uri": ["https://b.example/slack/oauth_redirect?x=1&y=2"], "team": ["T1&scope=admin"]}
