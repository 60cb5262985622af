"""The Teams adapter end to end: ``bamboe run``'s real stack (database, core, delivery, HTTP server,
the Agents SDK's CloudAdapter) with activities POSTed to ``/api/messages`` over real HTTP on
127.0.0.1, signed by a test key that the local OpenID metadata serves, and answers going to the
local Bot Connector stand-in (:mod:`tests.teams_standin`), with a virtual clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select, update

from adapters.teams.render import render_parts
from adapters.teams.store import PERSON_KEEP
from bamboe.runtime import App, running
from bamboe.settings import Settings
from bot.clock import VirtualClock
from bot.delivery import NotStarted, RetryAfter
from bot.events import Address, Outgoing
from bot.models import (
    Answer,
    Chat,
    Member,
    Network,
    OutboxMessage,
    TeamsAsker,
    TeamsBlocked,
    TeamsConversation,
    TeamsFile,
    TeamsUser,
)
from tests.conftest import free_port, local
from tests.teams_standin import (
    APP_ID,
    BOT,
    SECRET,
    TEAMS_LIMITS,
    TENANT,
    StandIn,
    channel,
    conversation_update,
    group_chat,
    installation_update,
    member_details,
    message,
    new_key,
    personal,
    team_event,
    user,
)

ANNA = user(1, "Anna de Vries")
BRAM = user(2, "Bram Peters")
CEM = user(3, "Cem Yilmaz")
CHANNEL = channel()
CHANNEL_ID = CHANNEL["conversation"]["id"]
GROUP = group_chat()
GROUP_ID = GROUP["conversation"]["id"]
#: what the messaging endpoint answers for an activity it took (the SDK answers 202 Accepted)
OK = (200, 202)


@dataclass
class Env:
    """The running stack and the stand-in it talks to."""

    app: App
    clock: VirtualClock
    api: StandIn
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/messages"

    async def until(self, condition: Callable[[], Any], what: str = "condition", rounds: int = 200) -> Any:
        """Wait until ``condition()`` is true, moving the virtual clock on by 5 s per round (so the
        per-conversation pacing and Retry-After pauses pass) and waking the dispatcher."""
        for _ in range(rounds):
            result = condition()
            if result:
                return result
            self.clock.advance(timedelta(seconds=5))
            self.app.wake.set()
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    async def post(self, activity: dict[str, Any], token: str | None = None, **headers: str) -> aiohttp.ClientResponse:
        """POST ``activity`` to the messaging endpoint with a valid token (or ``token``)."""
        auth = {"Authorization": f"Bearer {token or self.api.token(activity)}"} if token != "" else {}
        async with aiohttp.ClientSession() as http, http.post(self.endpoint, json=activity,
                                                              headers={**auth, **headers}) as resp:
            await resp.read()
            return resp

    async def until_rows(self, model: Any, *where: Any, rounds: int = 200) -> list[Any]:
        """Wait until rows of ``model`` match ``where`` (moving the clock on like :meth:`until`)."""
        for _ in range(rounds):
            found = await self.rows(model, *where)
            if found:
                return found
            self.clock.advance(timedelta(seconds=5))
            self.app.wake.set()
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {model.__name__} rows")

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        async with self.app.db.transaction() as s:
            return list(await s.scalars(select(model).where(*where)))

    async def add_to_channel(self, by: dict[str, Any] = ANNA, where: dict[str, Any] = CHANNEL) -> None:
        """``by`` adds the app to a team: Teams sends installationUpdate and conversationUpdate."""
        url = self.api.service_url
        assert (await self.post(installation_update(where, url, by))).status in OK
        assert (await self.post(conversation_update(where, url, added=[BOT], by=by,
                                                    event="teamMemberAdded"))).status in OK
        conversation = where["conversation"]["id"]
        await self.until(lambda: self.api.sent(conversation), "the welcome")

    async def join(self, person: dict[str, Any], where: dict[str, Any] = CHANNEL) -> None:
        self.api.members[person["id"]] = member_details(person)
        resp = await self.post(conversation_update(where, self.api.service_url, added=[person], by=ANNA,
                                                   event="teamMemberAdded"))
        assert resp.status in OK

    async def say(self, where: dict[str, Any], sender: dict[str, Any], text: str, **kw: Any) -> dict[str, Any]:
        activity = message(where, sender, text, self.api.service_url, **kw)
        resp = await self.post(activity)
        assert resp.status in (200, 202), resp.status
        return activity

    async def sent_containing(self, fragment: str, conversation: str | None = None) -> Any:
        def found() -> Any:
            return next((c for c in self.api.sent(conversation) if fragment in str((c.body or {}).get("text"))), None)
        return await self.until(found, repr(fragment))


@pytest.fixture
async def api() -> AsyncIterator[StandIn]:
    standin = StandIn()
    await standin.start()
    yield standin
    await standin.close()


def settings_for(sqlite_url: str, api: StandIn, port: int, **extra: Any) -> Settings:
    return Settings(_env_file=None, database_url=sqlite_url, teams_app_id=APP_ID, teams_app_password=SECRET,
                    teams_tenant_id=TENANT, teams_openid_metadata_url=api.metadata_url,
                    teams_token_url=api.token_url, bamboe_http_host="127.0.0.1", bamboe_http_port=port, **extra)


@asynccontextmanager
async def stack(sqlite_url: str, api: StandIn, **extra: Any) -> AsyncIterator[Env]:
    port = free_port()
    clock = VirtualClock(local(2026, 1, 5, 8, 0))
    async with running(settings_for(sqlite_url, api, port, **extra), clock=clock) as app:
        yield Env(app, clock, api, port)


@pytest.fixture
async def env(sqlite_url: str, api: StandIn) -> AsyncIterator[Env]:
    async with stack(sqlite_url, api) as e:
        yield e


# ---------------------------------------------------------------------------- joining
async def test_the_app_added_to_a_team_makes_one_network_and_one_welcome(env: Env) -> None:
    await env.add_to_channel()
    (chat,) = await env.rows(Chat)
    assert (chat.platform, chat.chat_id, chat.title) == ("teams", CHANNEL_ID, "Lerend netwerk Venlo")
    (anna,) = await env.rows(Member)
    assert (anna.user_id, anna.role) == (ANNA["aadObjectId"], "trekker")
    (welcome,) = env.api.sent(CHANNEL_ID)  # installationUpdate and conversationUpdate: handled once
    assert welcome.body["textFormat"] == "xml" and welcome.body["type"] == "message"
    (ref,) = await env.rows(TeamsConversation)
    assert (ref.service_url, ref.tenant_id, ref.kind, ref.installed) == (env.api.service_url, TENANT, "channel", True)
    assert ref.team_id == CHANNEL_ID and ref.bot_id == BOT["id"]
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{env.port}/readyz") as resp:
        assert resp.status == 200 and (await resp.json())["checks"]["teams"] is True


async def test_members_join_with_their_name_and_leave(env: Env) -> None:
    await env.add_to_channel()
    await env.join(CEM)
    (cem,) = await env.rows(Member, Member.user_id == CEM["aadObjectId"])
    assert cem.active and cem.name == "Cem Yilmaz"
    assert any(c.path.endswith(f"/members/{CEM['id']}") for c in env.api.calls)
    (ref,) = await env.rows(TeamsUser, TeamsUser.user_id == CEM["aadObjectId"])
    assert ref.teams_id == CEM["id"] and ref.service_url == env.api.service_url
    resp = await env.post(conversation_update(CHANNEL, env.api.service_url, removed=[CEM], by=ANNA,
                                              event="teamMemberRemoved"))
    assert resp.status in OK
    (cem,) = await env.rows(Member, Member.user_id == CEM["aadObjectId"])
    assert not cem.active


async def test_the_app_removed_stops_posting_there(env: Env) -> None:
    await env.add_to_channel()
    queued = len(await env.rows(OutboxMessage))
    assert (await env.post(installation_update(CHANNEL, env.api.service_url, ANNA, "remove"))).status in OK
    assert (await env.post(conversation_update(CHANNEL, env.api.service_url, removed=[BOT], by=ANNA,
                                               event="teamMemberRemoved"))).status in OK
    (ref,) = await env.rows(TeamsConversation)
    assert ref.installed is False
    # the core was told (once): the channel left its network, which goes quiet, its members left
    assert await env.rows(Chat, Chat.chat_id == CHANNEL_ID) == []
    (anna,) = await env.rows(Member)
    assert anna.active is False
    # nothing new goes to the channel: only the trekker, who left with it, hears privately how to come back
    (note,) = (await env.rows(OutboxMessage))[queued:]
    assert (note.chat_id, note.user_id, note.kind) == (None, anna.user_id, "link")
    assert "Bamboe koppel" in note.text  # as typed in Teams (the stored text keeps "@" from pinging)


# ---------------------------------------------------------------------------- commands
async def test_a_renamed_team_or_channel_renames_the_networks_named_after_them(env: Env) -> None:
    """``conversationUpdate`` with ``eventType`` ``channelRenamed`` (in the team's conversation,
    ``channelData.channel`` the renamed channel) or ``teamRenamed`` (``channelData.team`` with its
    new name): each channel conversation of it the app is in gets its whole new title ("team –
    channel"; General has no name of its own), and a network named after one follows. Nothing is
    posted; a channel the app does not know makes nothing."""
    await env.add_to_channel()  # General: the team's own conversation, titled by the team's name
    planning = channel(channel_id="19:planning@thread.tacv2", channel_name="Planning")
    await env.say(planning, ANNA, "status", mention=True)  # a second channel, a network of its own
    await env.until(lambda: len([c for c in env.api.sent() if c.conversation.startswith("19:planning")]) == 2,
                    "the welcome and the answer in Planning")
    assert sorted(c.title for c in await env.rows(Chat)) == ["Lerend netwerk Venlo",
                                                            "Lerend netwerk Venlo – Planning"]
    posts = len(env.api.sent())

    def renamed(event: str, **data: Any) -> dict[str, Any]:
        activity = conversation_update(CHANNEL, env.api.service_url, by=ANNA, event=event)
        activity["channelData"].pop("channel", None)
        activity["channelData"]["team"] = {"id": CHANNEL_ID}  # channelRenamed names no team
        activity["channelData"].update(data)
        return activity

    resp = await env.post(renamed("channelRenamed", channel={"id": "19:planning@thread.tacv2", "name": "Overleg"}))
    assert resp.status in OK
    resp = await env.post(renamed("channelRenamed", channel={"id": "19:onbekend@thread.tacv2", "name": "Elders"}))
    assert resp.status in OK

    async def networks() -> dict[str, str]:
        by_chat = {c.network_id: c.chat_id for c in await env.rows(Chat)}
        return {by_chat[n.id]: n.name for n in await env.rows(Network) if n.id in by_chat}

    assert await networks() == {CHANNEL_ID: "Lerend netwerk Venlo",
                                "19:planning@thread.tacv2": "Lerend netwerk Venlo – Overleg"}
    resp = await env.post(renamed("teamRenamed", team={"id": CHANNEL_ID, "name": "Armoede Venlo"}))
    assert resp.status in OK
    assert await networks() == {CHANNEL_ID: "Armoede Venlo", "19:planning@thread.tacv2": "Armoede Venlo – Overleg"}
    assert len(await env.rows(Chat)) == 2
    for _ in range(5):  # give a wrong message time to show up
        env.clock.advance(timedelta(seconds=5))
        env.app.wake.set()
        await asyncio.sleep(0.05)
    assert len(env.api.sent()) == posts


async def test_a_mention_in_a_channel_runs_the_command_and_answers_in_the_askers_thread(env: Env) -> None:
    await env.add_to_channel()
    asked = await env.say(CHANNEL, ANNA, "status", mention=True)
    answer = await env.until(lambda: next((c for c in env.api.sent() if "messageid=" in c.path), None),
                             "the answer in the thread")
    assert answer.conversation == f"{CHANNEL_ID};messageid={asked['id']}"
    assert answer.body["textFormat"] == "xml"


async def test_plain_text_in_a_1to1_is_a_command(env: Env) -> None:
    await env.add_to_channel()
    where = personal(ANNA)
    await env.say(where, ANNA, "help")
    reply = await env.until(lambda: env.api.sent(where["conversation"]["id"]), "the help text")
    assert "status" in reply[0].body["text"]


# ---------------------------------------------------------------------------- inbound authentication
FORGED = new_key()


def _forgeries(api: StandIn, activity: dict[str, Any]) -> dict[str, str]:
    """Tokens the Bot Connector authentication rules refuse, by what is wrong with them."""
    import time

    now = int(time.time())
    return {
        "signed by another key": api.token(activity, key=FORGED),
        "unknown kid": api.token(activity, key=FORGED, kid="not-in-the-key-set"),
        "expired beyond the clock skew": api.token(activity, exp=now - 301, nbf=now - 4000),
        "not yet valid": api.token(activity, nbf=now + 3600),
        "no expiry": api.token(activity, exp=None),
        "wrong audience": api.token(activity, aud="11111111-0000-4000-8000-000000000000"),
        "wrong issuer": api.token(activity, iss="https://sts.windows.net/evil/"),
        "serviceurl of another service": api.token(activity, serviceurl="https://evil.example/emea/"),
        "no serviceurl": api.token(activity, serviceurl=None),
        "not a JWT": "abc.def.ghi",
        "unsigned (alg none)": _unsigned(api, activity),
        "HS256 keyed with the published public key": _hmac_with_public_key(api, activity),
        "no kid": _without_kid(api, activity),
    }


def _claims(api: StandIn, activity: dict[str, Any]) -> dict[str, Any]:
    import time

    now = int(time.time())
    return {"serviceurl": activity.get("serviceUrl"), "nbf": now - 10, "exp": now + 3600,
            "iss": "https://api.botframework.com", "aud": APP_ID}


def _b64json(value: dict[str, Any]) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _unsigned(api: StandIn, activity: dict[str, Any]) -> str:
    """Valid claims and kid, but ``alg: none`` and no signature."""
    return f"{_b64json({'alg': 'none', 'typ': 'JWT', 'kid': api.kid})}.{_b64json(_claims(api, activity))}."


def _hmac_with_public_key(api: StandIn, activity: dict[str, Any]) -> str:
    """The algorithm-confusion forgery: HS256 with the PEM of the public key as the secret."""
    import base64
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization

    pem = api.key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing = f"{_b64json({'alg': 'HS256', 'typ': 'JWT', 'kid': api.kid})}.{_b64json(_claims(api, activity))}"
    signature = base64.urlsafe_b64encode(hmac.new(pem, signing.encode(), hashlib.sha256).digest()).decode().rstrip("=")
    return f"{signing}.{signature}"


def _without_kid(api: StandIn, activity: dict[str, Any]) -> str:
    import jwt

    return jwt.encode(_claims(api, activity), api.key, algorithm="RS256")


async def _nothing_stored(env: Env) -> None:
    async with env.app.db.transaction() as s:
        for model in (TeamsConversation, TeamsUser, Chat, Member, OutboxMessage):
            assert await s.scalar(select(func.count()).select_from(model)) == 0, model.__name__


async def test_forged_tokens_get_401_and_nothing_is_stored(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    activity = message(CHANNEL, ANNA, "Geheime tekst 4711", env.api.service_url, mention=True)
    for what, token in _forgeries(env.api, activity).items():
        assert (await env.post(activity, token=token)).status == 401, what
    assert (await env.post(activity, token="")).status == 401  # no Authorization header
    assert (await env.post(activity, Authorization="Basic dXNlcjpwdw==", token="")).status == 401
    async with aiohttp.ClientSession() as http:  # not even JSON: without a token 401, with one 400
        async with http.post(env.endpoint, data=b"\x00 not json") as resp:
            assert resp.status == 401
        async with http.post(env.endpoint, data=b"\x00 not json",
                             headers={"Authorization": f"Bearer {env.api.token(activity)}"}) as resp:
            assert resp.status == 400
    # a genuine token replayed with the activity's serviceUrl rewritten (answers would go elsewhere)
    rewritten = {**activity, "serviceUrl": "https://evil.example/emea/"}
    assert (await env.post(rewritten, token=env.api.token(activity))).status == 401
    # a genuine token for another channel's activity
    assert (await env.post({**activity, "channelId": "webchat"}, token=env.api.token(activity))).status == 401
    await _nothing_stored(env)
    assert "Geheime tekst" not in caplog.text


async def test_a_key_not_endorsed_for_the_channel_is_refused(sqlite_url: str, api: StandIn) -> None:
    api.endorsements = ["slack", "webchat"]
    async with stack(sqlite_url, api) as env:
        activity = message(CHANNEL, ANNA, "status", env.api.service_url, mention=True)
        assert (await env.post(activity)).status == 401
        await _nothing_stored(env)


async def test_an_activity_from_another_tenant_is_refused(env: Env) -> None:
    activity = message(CHANNEL, ANNA, "status", env.api.service_url, mention=True)
    activity["conversation"]["tenantId"] = "99999999-0000-4000-8000-000000000000"
    activity["channelData"]["tenant"]["id"] = "99999999-0000-4000-8000-000000000000"
    assert (await env.post(activity)).status == 403
    await _nothing_stored(env)


async def test_a_token_within_the_clock_skew_is_taken(env: Env) -> None:
    import time

    activity = message(CHANNEL, ANNA, "status", env.api.service_url, mention=True)
    assert (await env.post(activity, token=env.api.token(activity, exp=int(time.time()) - 120))).status in OK


async def test_keys_are_cached_and_an_unknown_kid_refetches_them_at_most_once_a_minute(env: Env) -> None:
    activity = message(CHANNEL, ANNA, "status", env.api.service_url, mention=True)
    assert (await env.post(activity)).status in OK
    hits = env.api.keys_hits
    for _ in range(3):
        assert (await env.post(activity)).status in OK
    assert env.api.keys_hits == hits  # cached
    for n in range(5):  # a stream of unknown kids: one refetch, then the cache answers
        assert (await env.post(activity, token=env.api.token(activity, key=FORGED, kid=f"rogue-{n}"))).status == 401
    assert env.api.keys_hits == hits + 1


# ---------------------------------------------------------------------------- answers to the weekly question
async def _the_nudge(env: Env, conversation: str) -> str:
    """Move to Tuesday 10:00 and wait until the weekly question is posted and recorded; its id."""
    env.clock.set(local(2026, 1, 6, 10, 0))
    env.app.wake.set()
    call = await env.until(lambda: next((c for c in env.api.sent(conversation) if "Weekvraag"
                                         in str(c.body.get("text"))), None), "the nudge")
    await env.until_rows(OutboxMessage, OutboxMessage.kind == "nudge", OutboxMessage.state == "sent")
    return call.result["id"]


async def test_a_reply_in_the_nudges_channel_thread_is_an_answer(env: Env) -> None:
    await env.add_to_channel()
    await env.join(CEM)
    nudge = await _the_nudge(env, CHANNEL_ID)  # posted at the top of the channel: it starts a thread
    await env.say(CHANNEL, CEM, "Wij leerden dat luisteren helpt.", thread=nudge)
    (stored,) = await env.until_rows(Answer)
    assert stored.text == "Wij leerden dat luisteren helpt."
    (cem,) = await env.rows(Member, Member.user_id == CEM["aadObjectId"])
    assert stored.member_id == cem.id


async def test_a_quoted_reply_to_the_nudge_in_a_group_chat_is_an_answer(env: Env) -> None:
    await env.add_to_channel(where=GROUP)
    await env.join(CEM, where=GROUP)
    nudge = await _the_nudge(env, GROUP_ID)
    await env.say(GROUP, CEM, "Samen eten werkt.", quote=nudge)
    (stored,) = await env.until_rows(Answer)
    assert stored.text == "Samen eten werkt."  # the quote placeholder is not part of the answer


async def test_a_group_chat_answer_for_the_asker_is_a_quoted_reply(env: Env) -> None:
    await env.add_to_channel(where=GROUP)
    asked = await env.say(GROUP, ANNA, "status", mention=True)
    answer = await env.until(lambda: next((c for c in env.api.sent(GROUP_ID)
                                           if "quotedReply" in str(c.body.get("entities"))), None), "the answer")
    (entity,) = [e for e in answer.body["entities"] if e["type"] == "quotedReply"]
    assert entity["quotedReply"]["messageId"] == asked["id"]
    assert answer.body["text"].startswith(f'<quoted messageId="{asked["id"]}"/>')


# ---------------------------------------------------------------------------- rendering
async def test_command_references_are_typed_with_the_mention_in_a_channel_and_bare_in_a_1to1(env: Env) -> None:
    await env.add_to_channel()
    await env.say(CHANNEL, ANNA, "help", mention=True)
    in_channel = await env.until(lambda: next((t for t in env.api.texts() if "@Bamboe status" in t), None),
                                 "help in the channel")
    assert "/status" not in in_channel
    where = personal(ANNA)
    await env.say(where, ANNA, "help")
    (in_1to1,) = await env.until(lambda: env.api.texts(where["conversation"]["id"]), "help in the 1:1")
    assert "@Bamboe" not in in_1to1 and "status" in in_1to1


async def test_echoed_user_text_can_neither_mention_nor_format_nor_link(env: Env) -> None:
    await env.add_to_channel()
    await env.say(CHANNEL, ANNA, "vier <at>Cem</at> **vet** [klik](https://evil.example) &amp; _schuin_", mention=True)
    text = await env.until(lambda: next((t for t in env.api.texts(CHANNEL_ID) if "Cem" in t), None), "the echo")
    assert "<at>" not in text and "&lt;at&gt;Cem&lt;/at&gt;" in text
    assert "**" not in text and "&#42;&#42;vet&#42;&#42;" in text
    assert "[klik](" not in text and "&#91;klik&#93;" in text
    assert " &amp; " in text and "<i>" not in text and "&#95;schuin&#95;" in text


# ---------------------------------------------------------------------------- private messages
async def test_a_private_message_waits_until_the_person_adds_the_app_then_goes_to_the_1to1(env: Env) -> None:
    await env.add_to_channel()
    await env.join(CEM)  # the newcomer briefing: Teams cannot open a 1:1 with Cem yet (403)
    note = await env.sent_containing("https://teams.microsoft.com/l/chat/0/0?users=28:" + APP_ID, CHANNEL_ID)
    assert "Cem Yilmaz" in note.body["text"]
    # guests can add an app from a link shared with them (personal scope), but an admin's policy may
    # stop them: the note sends everyone to the link and says whom to ask when it does not work
    assert "Lukt dat niet, bijvoorbeeld omdat je gast bent in deze organisatie? Vraag dan de trekker" \
        in note.body["text"]
    assert len([c for c in env.api.sent(CHANNEL_ID) if "users=28:" in str(c.body.get("text"))]) == 1
    assert any(c.path == "/emea/v3/conversations" and c.status == 403 for c in env.api.calls)
    (waiting,) = await env.rows(OutboxMessage, OutboxMessage.state == "waiting",
                                OutboxMessage.user_id == CEM["aadObjectId"])
    assert waiting.kind == "newcomer_briefing"
    env.api.installed_for.add(CEM["id"])  # Cem opens the link and adds the app for himself
    assert (await env.post(installation_update(personal(CEM), env.api.service_url, CEM))).status in OK
    personal_id = personal(CEM)["conversation"]["id"]
    await env.until(lambda: env.api.sent(personal_id), "the briefing in the 1:1")
    (briefing,) = await env.until_rows(OutboxMessage, OutboxMessage.kind == "newcomer_briefing",
                                       OutboxMessage.state == "sent")
    assert briefing.user_id == CEM["aadObjectId"]


async def test_the_bot_creates_the_1to1_where_the_app_is_installed_for_the_person(env: Env) -> None:
    env.api.installed_for.update({ANNA["id"], CEM["id"]})
    await env.add_to_channel()
    await env.join(CEM)
    create = await env.until(lambda: next((c for c in env.api.calls if c.path == "/emea/v3/conversations"
                                           and c.status == 201 and c.body["members"][0]["id"] == CEM["id"]), None),
                             "a 1:1 created for Cem")
    assert create.body["bot"]["id"] == BOT["id"] and create.body["isGroup"] is False
    assert create.body["tenantId"] == TENANT and create.body["channelData"] == {"tenant": {"id": TENANT}}
    await env.until(lambda: env.api.sent(create.result["id"]), "the briefing in the new 1:1")
    (cem,) = await env.rows(TeamsUser, TeamsUser.user_id == CEM["aadObjectId"])
    assert cem.personal_conversation_id == create.result["id"]


async def test_what_waited_goes_out_once_teams_lets_the_bot_open_the_1to1_without_an_event(env: Env) -> None:
    """A guest Teams would not let the bot reach becomes reachable without the bot hearing of it
    (made a member of a team the app is in, or the admin's app setup policy installed the app for
    them): the next private message opens the 1:1, and what waited follows it there."""
    await env.add_to_channel()
    await env.join(CEM)
    await env.sent_containing("users=28:" + APP_ID, CHANNEL_ID)
    refused = next(c for c in env.api.calls if c.path == "/emea/v3/conversations" and c.status == 403)
    assert refused.result is None
    await env.until_rows(OutboxMessage, OutboxMessage.kind == "newcomer_briefing", OutboxMessage.state == "waiting")
    env.api.installed_for.add(CEM["id"])  # no installationUpdate reaches the bot
    await env.say(CHANNEL, CEM, "mijngegevens", mention=True)  # the export only ever goes to the 1:1
    create = await env.until(lambda: next((c for c in env.api.calls if c.path == "/emea/v3/conversations"
                                           and c.status == 201), None), "the 1:1 opened")
    (briefing,) = await env.until_rows(OutboxMessage, OutboxMessage.kind == "newcomer_briefing",
                                       OutboxMessage.state == "sent")
    in_the_1to1 = {c.result["id"] for c in env.api.sent(create.result["id"])}
    assert briefing.platform_message_id in in_the_1to1
    assert await env.rows(OutboxMessage, OutboxMessage.state == "waiting") == []
    notes = [c for c in env.api.sent(CHANNEL_ID) if "users=28:" in str(c.body.get("text"))]
    assert len(notes) == 1  # the group was told once, not again


async def test_a_stale_1to1_teams_no_longer_knows_is_opened_afresh_without_a_note(env: Env) -> None:
    """404 ``ConversationNotFound`` on the 1:1 the bot knew: Microsoft says to remove the cached id;
    the bot opens the 1:1 again and the message goes there, nobody is told anything in the group."""
    env.api.installed_for.update({ANNA["id"], CEM["id"]})
    await env.add_to_channel()
    await env.join(CEM)
    await env.until_rows(OutboxMessage, OutboxMessage.kind == "newcomer_briefing", OutboxMessage.state == "sent")
    (cem,) = await env.rows(TeamsUser, TeamsUser.user_id == CEM["aadObjectId"])
    stale = cem.personal_conversation_id
    env.api.refuse(404, times=1, path_contains=stale, code="ConversationNotFound")
    await env.say(CHANNEL, CEM, "mijngegevens", mention=True)
    creates = lambda: [c for c in env.api.calls if c.path == "/emea/v3/conversations" and c.status == 201]  # noqa: E731
    await env.until(lambda: len(creates()) == 2, "the 1:1 opened again")
    fresh = creates()[-1].result["id"]
    await env.until(lambda: any("teams/files/" in str(c.body.get("text")) for c in env.api.sent(fresh)), "the export")
    (cem,) = await env.rows(TeamsUser, TeamsUser.user_id == CEM["aadObjectId"])
    assert cem.personal_conversation_id == fresh != stale
    assert await env.rows(OutboxMessage, OutboxMessage.state.in_(("waiting", "failed"))) == []
    assert not [c for c in env.api.sent(CHANNEL_ID) if "users=28:" in str(c.body.get("text"))]


async def test_a_person_who_blocked_the_bot_is_not_pointed_at_in_the_group_and_gets_it_on_writing(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    """Teams answers 403 ``ConversationBlockedByUser`` when the person blocked the bot: stop posting
    to them until they write it (Microsoft's developer action), and say nothing about it in the group."""
    caplog.set_level("DEBUG")
    env.api.installed_for.update({ANNA["id"], CEM["id"]})
    await env.add_to_channel()
    await env.join(CEM)
    (briefing,) = await env.until_rows(OutboxMessage, OutboxMessage.kind == "newcomer_briefing",
                                       OutboxMessage.state == "sent")
    (cem,) = await env.rows(TeamsUser, TeamsUser.user_id == CEM["aadObjectId"])
    one_to_one = cem.personal_conversation_id
    env.api.refuse(403, times=1, path_contains=one_to_one, code="ConversationBlockedByUser")
    await env.say(CHANNEL, CEM, "mijngegevens", mention=True)
    (export,) = await env.until_rows(OutboxMessage, OutboxMessage.state == "waiting",
                                     OutboxMessage.user_id == CEM["aadObjectId"])
    await env.until(lambda: any(c.status == 403 and one_to_one in c.path for c in env.api.calls), "the refusal")
    (cem,) = await env.rows(TeamsUser, TeamsUser.user_id == CEM["aadObjectId"])
    assert cem.personal_conversation_id is None  # forgotten, as Microsoft says
    for _ in range(5):
        env.app.wake.set()
        await asyncio.sleep(0.05)
    assert not [c for c in env.api.sent(CHANNEL_ID) if "users=28:" in str(c.body.get("text"))]
    calls = len(env.api.calls)
    await env.say(CHANNEL, CEM, "mijngegevens", mention=True)  # another private message: no call to Teams
    for _ in range(100):
        waiting = await env.rows(OutboxMessage, OutboxMessage.state == "waiting",
                                 OutboxMessage.user_id == CEM["aadObjectId"])
        if len(waiting) == 2:
            break
        env.clock.advance(timedelta(seconds=5))
        env.app.wake.set()
        await asyncio.sleep(0.05)
    again = next(row for row in waiting if row.id != export.id)
    assert not [c for c in env.api.calls[calls:] if "/conversations" in c.path and "messageid=" not in c.path
                and c.conversation != CHANNEL_ID]
    await env.say(personal(CEM), CEM, "help")  # Cem writes the bot again: what waited goes out
    for row in (export, again):
        (sent,) = await env.until_rows(OutboxMessage, OutboxMessage.id == row.id, OutboxMessage.state == "sent")
        assert sent.platform_message_id
    logged = "\n".join(r.getMessage() for r in caplog.records)  # blocked and released: no one named
    assert [n for n in ("Cem", "Yilmaz", CEM["aadObjectId"], CEM["id"], one_to_one) if n in logged] == []


async def _blocked_by_cem(env: Env) -> str:
    """Cem (his 1:1 open) blocks the bot: Teams refuses his next private message with 403
    ``ConversationBlockedByUser``. Returns his 1:1's id."""
    env.api.installed_for.update({ANNA["id"], CEM["id"]})
    await env.add_to_channel()
    await env.join(CEM)
    await env.until_rows(OutboxMessage, OutboxMessage.kind == "newcomer_briefing", OutboxMessage.state == "sent")
    (cem,) = await env.rows(TeamsUser, TeamsUser.user_id == CEM["aadObjectId"])
    one_to_one = cem.personal_conversation_id
    env.api.refuse(403, times=1, path_contains=one_to_one, code="ConversationBlockedByUser")
    await env.say(CHANNEL, CEM, "mijngegevens", mention=True)
    await env.until_rows(OutboxMessage, OutboxMessage.state == "waiting", OutboxMessage.user_id == CEM["aadObjectId"])
    await env.until_rows(TeamsBlocked, TeamsBlocked.user_id == CEM["aadObjectId"])
    return one_to_one


def _private_calls(env: Env, since: int) -> list[Any]:
    """The Bot Connector calls after the first ``since`` that were not for the team's channel."""
    return [c for c in env.api.calls[since:] if "/conversations" in c.path and c.conversation != CHANNEL_ID
            and not c.conversation.startswith(CHANNEL_ID + ";")]


async def _waiting_for_cem(env: Env, count: int) -> list[OutboxMessage]:
    """Wait until ``count`` private messages to Cem wait (moving the clock on like :meth:`Env.until`)."""
    for _ in range(200):
        waiting = await env.rows(OutboxMessage, OutboxMessage.state == "waiting",
                                 OutboxMessage.user_id == CEM["aadObjectId"])
        if len(waiting) == count:
            return waiting
        env.clock.advance(timedelta(seconds=5))
        env.app.wake.set()
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {count} waiting messages to Cem")


async def test_a_block_seen_by_one_replica_keeps_every_replica_from_calling_teams(database_url: str,
                                                                                 api: StandIn) -> None:
    """Replicas share one database: after replica A was refused, replica B (which never saw the
    refusal) makes no call to Teams for Cem and says nothing in the group; his messages wait."""
    async with stack(database_url, api) as a, stack(database_url, api) as b:
        (teams_b,) = b.app.adapters
        b.app.delivery.senders.clear()  # B takes activities but delivers nothing until told to
        await _blocked_by_cem(a)
        calls = len(api.calls)
        with pytest.raises(NotStarted) as refused:
            await teams_b.send(Outgoing(Address("teams", user_id=CEM["aadObjectId"]), "status", "Hallo"))
        assert refused.value.quiet  # the group is told nothing
        assert _private_calls(a, calls) == []
        a.app.delivery.senders.clear()  # from now on only B delivers
        b.app.delivery.senders["teams"] = teams_b
        await b.say(CHANNEL, CEM, "mijngegevens", mention=True)  # at B: the export for Cem waits there too
        await _waiting_for_cem(b, 2)
        assert _private_calls(b, calls) == []
        assert not [c for c in api.sent(CHANNEL_ID) if "users=28:" in str(c.body.get("text"))]


async def test_a_block_is_kept_over_a_restart_and_cleared_when_the_person_writes(sqlite_url: str,
                                                                                api: StandIn) -> None:
    async with stack(sqlite_url, api) as first:
        await _blocked_by_cem(first)
    async with stack(sqlite_url, api) as env:  # the same database after a restart: nothing in memory
        calls = len(api.calls)
        await env.say(CHANNEL, CEM, "mijngegevens", mention=True)
        waiting = await _waiting_for_cem(env, 2)
        assert _private_calls(env, calls) == []
        assert not [c for c in api.sent(CHANNEL_ID) if "users=28:" in str(c.body.get("text"))]
        await env.say(personal(CEM), CEM, "help")  # Cem writes the bot again: every replica may write him
        assert await env.rows(TeamsBlocked) == []
        for row in waiting:
            (sent,) = await env.until_rows(OutboxMessage, OutboxMessage.id == row.id, OutboxMessage.state == "sent")
            assert sent.platform_message_id
        in_the_1to1 = {c.result["id"] for c in api.sent(personal(CEM)["conversation"]["id"])}
        assert {row.platform_message_id for row in await env.rows(OutboxMessage, OutboxMessage.id.in_(
            [w.id for w in waiting]))} <= in_the_1to1


async def test_erasure_and_leaving_every_network_drop_the_block(env: Env) -> None:
    """``/vergeetmij``'s ``forget`` hook removes the block with the rest; and the hourly
    housekeeping forgets it once the person is in no network (the bot writes them nothing then)."""
    await _blocked_by_cem(env)
    (teams,) = env.app.adapters
    await teams.forget(CEM["aadObjectId"])  # as delivery calls it once the erasure notice went out
    assert await env.rows(TeamsBlocked) == []
    await teams.store.block(CEM["aadObjectId"])
    await teams.housekeeping()  # still a member: kept
    assert [b.user_id for b in await env.rows(TeamsBlocked)] == [CEM["aadObjectId"]]
    resp = await env.post(conversation_update(CHANNEL, env.api.service_url, removed=[CEM], by=ANNA,
                                              event="teamMemberRemoved"))
    assert resp.status in OK
    await env.until_rows(Member, Member.user_id == CEM["aadObjectId"], Member.active.is_(False))
    await teams.housekeeping()
    assert await env.rows(TeamsBlocked) == []


@pytest.mark.skip(reason="flaky (about 1 run in 4 on SQLite): in its set-up, the 1:1 the bot opens for Cem's briefing "
                         "races the one he writes in, and the row kept for him can name either; the selection is "
                         "tested in tests/test_teams_retention.py. To be made deterministic")
async def test_a_person_in_no_network_for_the_grace_period_is_forgotten_and_met_again_on_return(
        database_url: str, api: StandIn) -> None:
    """The hourly housekeeping drops how to reach a person (their reference and their 1:1's) once
    they have been an active member of no network on Teams for :data:`PERSON_KEEP` (30 days) and
    did not write the bot for as long: kept a day before, gone a day after. Someone who writes the
    bot meanwhile is kept; someone who comes back gets a new 1:1 as on first contact."""
    async with stack(database_url, api) as env:
        env.api.installed_for.update({ANNA["id"], CEM["id"]})
        await env.add_to_channel()
        await env.join(CEM)
        cem_id = CEM["aadObjectId"]
        personal_id = personal(CEM)["conversation"]["id"]
        await env.say(personal(CEM), CEM, "help")
        await env.until(lambda: env.api.sent(personal_id), "the help in Cem's 1:1")
        (cem,) = await env.until_rows(TeamsUser, TeamsUser.user_id == cem_id,
                                      TeamsUser.personal_conversation_id.is_not(None))
        assert await env.rows(TeamsConversation, TeamsConversation.conversation_id == cem.personal_conversation_id)
        resp = await env.post(conversation_update(CHANNEL, env.api.service_url, removed=[CEM], by=ANNA,
                                                  event="teamMemberRemoved"))
        assert resp.status in OK
        await env.until_rows(Member, Member.user_id == cem_id, Member.active.is_(False))
        dora = user(4, "Dora Smit")  # in no network, but she writes the bot now and then
        await env.say(personal(dora), dora, "help")
        await env.until_rows(TeamsUser, TeamsUser.user_id == dora["aadObjectId"])
        long_ago = datetime.now(UTC) - PERSON_KEEP - timedelta(days=1)  # Cem last wrote long before he left
        async with env.app.db.transaction() as s:
            await s.execute(update(TeamsUser).where(TeamsUser.user_id == cem_id).values(updated_at=long_ago))
            await s.execute(update(TeamsConversation).where(TeamsConversation.kind == "personal",
                                                            TeamsConversation.conversation_id != personal(dora)
                                                            ["conversation"]["id"]).values(updated_at=long_ago))
        (teams,) = env.app.adapters
        env.clock.advance(PERSON_KEEP - timedelta(days=1))
        await teams.housekeeping()
        assert [u.user_id for u in await env.rows(TeamsUser, TeamsUser.user_id == cem_id)] == [cem_id]
        env.clock.advance(timedelta(days=2))
        await teams.housekeeping()
        assert await env.rows(TeamsUser, TeamsUser.user_id == cem_id) == []
        assert await env.rows(TeamsConversation, TeamsConversation.conversation_id == cem.personal_conversation_id) \
            == []
        assert {u.user_id for u in await env.rows(TeamsUser)} == {ANNA["aadObjectId"], dora["aadObjectId"]}
        assert await env.rows(TeamsConversation, TeamsConversation.chat_id == CHANNEL_ID)
        assert await env.rows(TeamsConversation, TeamsConversation.conversation_id == personal(dora)
                              ["conversation"]["id"])
        creates = len([c for c in env.api.calls if c.path == "/emea/v3/conversations"])
        await env.join(CEM)  # back: met again as the first time
        create = await env.until(lambda: next((c for c in env.api.calls[creates:] if c.path == "/emea/v3/conversations"
                                               and c.status == 201 and c.body["members"][0]["id"] == CEM["id"]),
                                              None), "a 1:1 created for Cem again")
        await env.until(lambda: env.api.sent(create.result["id"]), "the briefing in the new 1:1")
        (cem,) = await env.until_rows(TeamsUser, TeamsUser.user_id == cem_id,
                                      TeamsUser.personal_conversation_id == create.result["id"])


# ---------------------------------------------------------------------------- limits
async def test_a_429_with_retry_after_is_honoured_and_the_message_sent_once(env: Env) -> None:
    await env.add_to_channel()
    env.api.refuse(429, times=2, retry_after=30, path_contains="/activities")
    await env.say(CHANNEL, ANNA, "status", mention=True)
    sent = await env.until(lambda: [c for c in env.api.sent() if "messageid=" in c.path], "the answer")
    refused = [c for c in env.api.calls if c.status == 429]
    assert len(refused) == 2 and len(sent) == 1
    (row,) = await env.until_rows(OutboxMessage, OutboxMessage.platform_message_id == sent[0].result["id"])
    assert row.state == "sent" and row.ephemeral


async def test_412_502_504_are_retried_with_back_off(env: Env) -> None:
    await env.add_to_channel()
    for status in (412, 502):
        env.api.refuse(status, path_contains="/activities")
    await env.say(CHANNEL, ANNA, "status", mention=True)
    await env.until(lambda: [c for c in env.api.sent() if "messageid=" in c.path], "the answer")
    assert [c.status for c in env.api.calls if c.status >= 400] == [412, 502]


async def test_a_retry_of_a_long_message_sends_only_the_parts_that_did_not_go_out(env: Env) -> None:
    from bot.events import Address, Outgoing

    await env.add_to_channel()
    adapter = next(a for a in env.app.adapters if a.platform == "teams")
    message = Outgoing(Address("teams", CHANNEL_ID, None), "report", "woord " * 12000, outbox_id=991)
    before = len(env.api.sent(CHANNEL_ID))
    env.api.refuse(429, retry_after=1, path_contains=CHANNEL_ID, after=1)
    with pytest.raises(RetryAfter):  # the first part went out, the second was refused
        await adapter.send(message)
    first = await adapter.send(message)
    parts = env.api.sent(CHANNEL_ID)[before:]
    assert len(parts) == len(render_parts("woord " * 12000, True)) == 4 and first == parts[0].result["id"]
    assert "".join(str(c.body["text"]) for c in parts).count("woord") == 12000
    assert not adapter._partial  # noqa: SLF001 - nothing left to remember once all went out


def test_one_message_per_conversation_every_two_seconds_keeps_all_of_teams_limits() -> None:
    from adapters.teams.adapter import TeamsAdapter
    from bot.delivery import MARGIN

    gap = TeamsAdapter.limits.per_chat * MARGIN  # what delivery keeps between two sends to one conversation
    for count, seconds in TEAMS_LIMITS:
        most = int(seconds // gap) + 1  # sends that fit in any window of this length
        assert most <= count, (count, seconds)


async def test_the_stand_in_enforces_teams_limits_and_delivery_stays_within_them(env: Env) -> None:
    env.api.enforce_limits = True
    await env.add_to_channel()
    for n in range(3):
        await env.say(CHANNEL, ANNA, f"vier mijlpaal {n}", mention=True)
    for _ in range(600):  # real time here: the stand-in counts in real seconds, delivery in the clock's
        if len([t for t in env.api.texts() if "mijlpaal" in t]) >= 3:
            break
        await asyncio.sleep(0.1)
        env.clock.advance(timedelta(seconds=0.1))
        env.app.wake.set()
    assert len([t for t in env.api.texts() if "mijlpaal" in t]) >= 3
    assert env.api.throttled == 0
    burst = message(CHANNEL, ANNA, "x", env.api.service_url)  # the stand-in does refuse a burst
    async with aiohttp.ClientSession() as http:
        token = (await (await http.post(env.api.token_url, data={
            "grant_type": "client_credentials", "client_id": APP_ID, "client_secret": SECRET,
            "scope": "https://api.botframework.com/.default"})).json())["access_token"]
        statuses = []
        for _ in range(8):
            async with http.post(f"{env.api.service_url}v3/conversations/{CHANNEL_ID}/activities", json=burst,
                                 headers={"Authorization": f"Bearer {token}"}) as resp:
                statuses.append(resp.status)
    assert 429 in statuses


# ---------------------------------------------------------------------------- buttons
async def test_buttons_are_an_adaptive_card_and_a_submit_reaches_the_core(env: Env) -> None:
    await env.add_to_channel()
    where = personal(ANNA)
    await env.say(where, ANNA, "vergeetmij")
    call = await env.until(lambda: next((c for c in env.api.sent(where["conversation"]["id"])
                                         if c.body.get("attachments")), None), "the confirmation")
    (card,) = call.body["attachments"]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    content = card["content"]
    assert content["type"] == "AdaptiveCard" and content["version"] == "1.5"
    assert [a["type"] for a in content["actions"]] == ["Action.Submit", "Action.Submit"]
    assert [a["data"]["bamboe"] for a in content["actions"]] == ["forget:yes", "forget:no"]
    assert content["fallbackText"].startswith("1. ")
    press = message(where, ANNA, "", env.api.service_url, value={"bamboe": "forget:no"}, reply_to=call.result["id"])
    assert (await env.post(press)).status in OK
    await env.until(lambda: len(env.api.sent(where["conversation"]["id"])) >= 2, "the answer to the press")
    assert await env.rows(Member, Member.user_id == ANNA["aadObjectId"])  # "no": nothing erased


async def test_every_invoke_is_answered(env: Env) -> None:
    await env.add_to_channel()
    where = personal(ANNA)
    invoke = message(where, ANNA, "", env.api.service_url)
    invoke.update(type="invoke", name="adaptiveCard/action",
                  value={"action": {"type": "Action.Execute", "verb": "x", "data": {"bamboe": "forget:no"}}})
    invoke.pop("text", None)
    async with aiohttp.ClientSession() as http, http.post(
            env.endpoint, json=invoke, headers={"Authorization": f"Bearer {env.api.token(invoke)}"}) as resp:
        assert resp.status == 200 and (await resp.json())["statusCode"] == 200
    other = dict(invoke, name="task/fetch", value={})
    async with aiohttp.ClientSession() as http, http.post(
            env.endpoint, json=other, headers={"Authorization": f"Bearer {env.api.token(other)}"}) as resp:
        assert resp.status == 200


# ---------------------------------------------------------------------------- files
async def test_my_data_arrives_in_the_1to1_as_a_signed_expiring_download_link(env: Env) -> None:
    await env.add_to_channel()
    where = personal(ANNA)
    await env.say(where, ANNA, "mijngegevens")
    call = await env.until(lambda: next((c for c in env.api.sent(where["conversation"]["id"])
                                         if "teams/files/" in str(c.body.get("text"))), None), "the link")
    (card,) = call.body["attachments"]
    (button,) = card["content"]["actions"]
    assert button["type"] == "Action.OpenUrl"
    link = button["url"]
    assert link.startswith(f"http://127.0.0.1:{env.port}/teams/files/")
    async with aiohttp.ClientSession() as http:
        async with http.get(link) as resp:
            assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
            assert "attachment" in resp.headers["Content-Disposition"]
            body = await resp.json(content_type=None)
        assert isinstance(body, dict) and body
        async with http.get(link[:-3] + "AAA") as resp:  # a tampered signature
            assert resp.status == 404
        async with http.get(link.replace("exp=", "exp=1")) as resp:  # another expiry
            assert resp.status == 404


async def test_an_expired_download_file_is_deleted_by_the_hourly_housekeeping(env: Env) -> None:
    await env.add_to_channel()
    await env.say(personal(ANNA), ANNA, "mijngegevens")
    await env.until_rows(TeamsFile)

    async def housekeeping_after(hours: int) -> None:
        env.clock.advance(timedelta(hours=hours))
        env.app.wake.set()
        for _ in range(200):  # the dispatcher's next tick runs the housekeeping that fell due
            if env.app.housekeeping_due is not None and env.app.housekeeping_due > env.clock.now():
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the housekeeping did not run")

    await housekeeping_after(23)  # the link still works: the file stays
    assert len(await env.rows(TeamsFile)) == 1
    await housekeeping_after(2)  # expired; no new file was stored since
    assert await env.rows(TeamsFile) == []


async def test_where_someone_last_wrote_is_forgotten_after_a_week_also_when_nobody_writes_again(env: Env) -> None:
    from sqlalchemy import update

    await env.add_to_channel()
    await env.say(CHANNEL, ANNA, "status", mention=True)
    await env.until_rows(TeamsAsker, TeamsAsker.user_id == ANNA["aadObjectId"])
    await env.say(CHANNEL, CEM, "status", mention=True)
    await env.until_rows(TeamsAsker, TeamsAsker.user_id == CEM["aadObjectId"])
    async with env.app.db.transaction() as s:  # Anna wrote there eight days ago, Cem six
        for who, days in ((ANNA, 8), (CEM, 6)):
            await s.execute(update(TeamsAsker).where(TeamsAsker.user_id == who["aadObjectId"]).values(
                seen_at=datetime.now(UTC) - timedelta(days=days)))
    (teams,) = env.app.adapters
    await teams.housekeeping()  # as bamboe run does hourly, whether anyone writes or not
    assert [a.user_id for a in await env.rows(TeamsAsker)] == [CEM["aadObjectId"]]


async def test_messages_in_another_channel_are_left_alone_unless_the_bot_is_mentioned(env: Env) -> None:
    await env.add_to_channel()
    other = channel(channel_id="19:other-channel@thread.tacv2", channel_name="Koffiehoek")
    await env.say(other, ANNA, "Wie heeft er koffie?")  # delivered to the bot by RSC, not meant for it
    assert [c.chat_id for c in await env.rows(Chat)] == [CHANNEL_ID]
    assert len(await env.rows(TeamsConversation)) == 1
    await env.say(other, ANNA, "status", mention=True)
    await env.until_rows(Chat, Chat.chat_id == "19:other-channel@thread.tacv2")


# ---------------------------------------------------------------------------- archived and deleted teams
KOFFIE = channel(channel_id="19:koffie-channel@thread.tacv2", channel_name="Koffiehoek")
KOFFIE_ID = KOFFIE["conversation"]["id"]
ELSEWHERE = channel(team="19:team-two@thread.tacv2", team_name="Wijkteam Zuid")
ELSEWHERE_ID = ELSEWHERE["conversation"]["id"]


async def _three_networks(env: Env) -> None:
    """The team's General channel and its Koffiehoek channel are networks (the app added to the
    first, mentioned in the second), and so is a channel of another team."""
    await env.add_to_channel()
    await env.say(KOFFIE, ANNA, "status", mention=True)
    await env.until_rows(Chat, Chat.chat_id == KOFFIE_ID)
    await env.add_to_channel(where=ELSEWHERE)
    assert sorted(c.chat_id for c in await env.rows(Chat)) == sorted([CHANNEL_ID, KOFFIE_ID, ELSEWHERE_ID])
    for _ in range(200):  # what they said there went out (the welcomes, the answer to the status)
        if not await env.rows(OutboxMessage, OutboxMessage.chat_id.is_not(None), OutboxMessage.state != "sent"):
            return
        env.clock.advance(timedelta(seconds=5))
        env.app.wake.set()
        await asyncio.sleep(0.05)
    raise AssertionError("the channels' messages did not go out")


async def _welcomes(env: Env, chat_id: str) -> int:
    return len(await env.rows(OutboxMessage, OutboxMessage.kind == "help", OutboxMessage.chat_id == chat_id))


@pytest.mark.parametrize(("closing", "opening"), [("teamArchived", "teamUnarchived"),
                                                  ("teamDeleted", "teamRestored")])
async def test_an_archived_or_deleted_team_leaves_its_networks_and_comes_back_when_reopened(
        database_url: str, api: StandIn, closing: str, opening: str) -> None:
    async with stack(database_url, api) as env:
        await _team_closed_and_reopened(env, closing, opening)


async def _team_closed_and_reopened(env: Env, closing: str, opening: str) -> None:
    await _three_networks(env)
    notes = len(await env.rows(OutboxMessage, OutboxMessage.kind == "link"))
    posted = len(env.api.sent())
    for _ in range(2):  # the Bot Connector may deliver an activity again: handled once
        assert (await env.post(team_event(closing, env.api.service_url))).status in OK
    # both channels of the team left their networks, as when the app is removed; the other team's stays
    assert [c.chat_id for c in await env.rows(Chat)] == [ELSEWHERE_ID]
    refs = {r.chat_id: r for r in await env.rows(TeamsConversation)}
    reason = "team_archived" if closing == "teamArchived" else "team_deleted"
    assert [(refs[c].installed, refs[c].closed) for c in (CHANNEL_ID, KOFFIE_ID)] == [(False, reason)] * 2
    assert (refs[ELSEWHERE_ID].installed, refs[ELSEWHERE_ID].closed) == (True, None)
    # the trekker, who left with both, hears once per network that the chat has to be reopened first:
    # taken out of the archive, or restored (within Microsoft's window) or replaced by another chat
    told = (await env.rows(OutboxMessage, OutboxMessage.kind == "link"))[notes:]
    assert len(told) == 2 and all(n.user_id == ANNA["aadObjectId"] for n in told)
    if closing == "teamArchived":
        assert all("is gearchiveerd" in n.text and "Haal de chat dan uit het archief" in n.text for n in told)
    else:
        assert all("is verwijderd" in n.text and "gearchiveerd" not in n.text for n in told)
        assert all("om hem te herstellen" in n.text and "Voeg mij dan toe aan een andere chat" in n.text
                   for n in told)
    assert not [c for c in env.api.sent()[posted:] if c.conversation.startswith((CHANNEL_ID, KOFFIE_ID))]
    other = "teamRestored" if opening == "teamUnarchived" else "teamUnarchived"
    assert (await env.post(team_event(other, env.api.service_url))).status in OK  # not what closed it
    assert [c.chat_id for c in await env.rows(Chat)] == [ELSEWHERE_ID]
    welcomes = await _welcomes(env, CHANNEL_ID)
    for _ in range(2):
        assert (await env.post(team_event(opening, env.api.service_url))).status in OK
    # as when the app is added: both are networks again, each welcomed once, each with its whole
    # title as last seen (the activity names only the team; General has no name of its own)
    chats = {c.chat_id: c for c in await env.rows(Chat)}
    assert sorted(chats) == sorted([CHANNEL_ID, KOFFIE_ID, ELSEWHERE_ID])
    assert (chats[CHANNEL_ID].title, chats[KOFFIE_ID].title) == ("Lerend netwerk Venlo",
                                                                 "Lerend netwerk Venlo – Koffiehoek")
    assert await _welcomes(env, CHANNEL_ID) == welcomes + 1 and await _welcomes(env, KOFFIE_ID) == 2
    await env.until(lambda: len(env.api.sent(CHANNEL_ID)) > 1 and env.api.sent(KOFFIE_ID), "the welcomes")
    assert [(r.installed, r.closed) for r in await env.rows(TeamsConversation)] == [(True, None)] * 3


async def test_a_deleted_channel_leaves_its_network_and_comes_back_when_restored(env: Env) -> None:
    await _three_networks(env)
    koffie = {"id": KOFFIE_ID, "name": "Koffiehoek"}
    notes = len(await env.rows(OutboxMessage, OutboxMessage.kind == "link"))
    for _ in range(2):
        assert (await env.post(team_event("channelDeleted", env.api.service_url, channel=koffie))).status in OK
    (told,) = (await env.rows(OutboxMessage, OutboxMessage.kind == "link"))[notes:]  # its trekker, once
    assert told.user_id == ANNA["aadObjectId"] and "De chat Lerend netwerk Venlo – Koffiehoek is verwijderd." in told.text
    assert "gearchiveerd" not in told.text
    assert sorted(c.chat_id for c in await env.rows(Chat)) == sorted([CHANNEL_ID, ELSEWHERE_ID])
    (ref,) = await env.rows(TeamsConversation, TeamsConversation.chat_id == KOFFIE_ID)
    assert (ref.installed, ref.closed) == (False, "channel_deleted")
    (general,) = await env.rows(TeamsConversation, TeamsConversation.chat_id == CHANNEL_ID)
    assert (general.installed, general.closed) == (True, None)
    assert (await env.post(team_event("teamRestored", env.api.service_url))).status in OK  # the team was not deleted
    assert await env.rows(Chat, Chat.chat_id == KOFFIE_ID) == []
    for _ in range(2):
        assert (await env.post(team_event("channelRestored", env.api.service_url, channel=koffie,
                                          by=ANNA))).status in OK
    (back,) = await env.rows(Chat, Chat.chat_id == KOFFIE_ID)
    assert back.title == "Lerend netwerk Venlo – Koffiehoek"  # the team's name as last seen, not only the channel's
    (anna,) = await env.rows(Member, Member.network_id == back.network_id)
    assert (anna.user_id, anna.role) == (ANNA["aadObjectId"], "trekker")  # whoever restored it, as when added
    assert await _welcomes(env, KOFFIE_ID) == 2


async def test_a_team_archived_where_no_channel_is_a_network_changes_nothing(env: Env) -> None:
    await env.add_to_channel(where=ELSEWHERE)
    assert (await env.post(team_event("teamArchived", env.api.service_url))).status in OK
    assert (await env.post(team_event("teamUnarchived", env.api.service_url))).status in OK
    assert [c.chat_id for c in await env.rows(Chat)] == [ELSEWHERE_ID]
    assert [r.chat_id for r in await env.rows(TeamsConversation)] == [ELSEWHERE_ID]  # nothing recorded


async def test_team_events_in_the_teams_own_conversation_record_no_conversation_the_app_is_not_in(
        env: Env) -> None:
    """The app added to one channel (Koffiehoek) of a team. Teams sends the team's other events
    (a channel created, a member added, the team renamed) in the team's own conversation, its
    General channel (Microsoft: "Conversation id is set to team id for all other conversation
    update scenarios"). They record no conversation there and make no network of it, so a message
    in General that RSC delivers is left alone; what they legitimately update still is: how to reach
    the new member, and the title of the channel the app is in."""
    await env.add_to_channel(where=KOFFIE)
    assert [(c.chat_id, c.title) for c in await env.rows(Chat)] == [(KOFFIE_ID, "Lerend netwerk Venlo – Koffiehoek")]
    created = conversation_update(CHANNEL, env.api.service_url, by=ANNA, event="channelCreated")
    created["channelData"]["channel"] = {"id": "19:nieuw@thread.tacv2", "name": "Nieuw"}
    created["channelData"]["team"] = {"id": CHANNEL_ID}
    assert (await env.post(created)).status in OK
    await env.join(CEM)  # teamMemberAdded, in General
    renamed = conversation_update(CHANNEL, env.api.service_url, by=ANNA, event="teamRenamed")
    renamed["channelData"].pop("channel")
    renamed["channelData"]["team"] = {"id": CHANNEL_ID, "name": "Armoede Venlo"}
    assert (await env.post(renamed)).status in OK
    await env.say(CHANNEL, ANNA, "Goedemorgen allemaal")  # delivered by RSC, in General
    assert [r.chat_id for r in await env.rows(TeamsConversation)] == [KOFFIE_ID]
    assert [c.chat_id for c in await env.rows(Chat)] == [KOFFIE_ID]
    for _ in range(5):  # give a wrong welcome time to show up
        env.clock.advance(timedelta(seconds=5))
        env.app.wake.set()
        await asyncio.sleep(0.05)
    assert not [c for c in env.api.sent() if c.conversation.split(";")[0] == CHANNEL_ID]
    assert await env.rows(OutboxMessage, OutboxMessage.chat_id == CHANNEL_ID) == []
    # what they do update: the new member can be reached, the app's channel has the team's new name
    (cem,) = await env.rows(TeamsUser, TeamsUser.user_id == CEM["aadObjectId"])
    assert cem.teams_id == CEM["id"]
    (chat,) = await env.rows(Chat)
    (network,) = await env.rows(Network, Network.id == chat.network_id)
    assert (chat.title, network.name) == ("Armoede Venlo – Koffiehoek", "Armoede Venlo – Koffiehoek")
    # a mention in General still makes it a network of its own, as in any other channel
    await env.say(CHANNEL, ANNA, "status", mention=True)
    await env.until_rows(Chat, Chat.chat_id == CHANNEL_ID)
    await env.until(lambda: [c for c in env.api.sent() if c.conversation.split(";")[0] == CHANNEL_ID], "an answer")


async def test_the_app_removed_from_a_team_leaves_every_channel_of_it_it_was_in(env: Env) -> None:
    """An app is removed from a team as a whole, and Teams announces it in the team's own
    conversation (General): the channel the app was added to leaves its network too, once; the
    other team's channel stays."""
    await env.add_to_channel(where=KOFFIE)
    await env.add_to_channel(where=ELSEWHERE)
    notes = len(await env.rows(OutboxMessage, OutboxMessage.kind == "link"))
    for _ in range(2):  # installationUpdate and conversationUpdate, each maybe delivered again
        assert (await env.post(installation_update(CHANNEL, env.api.service_url, ANNA, "remove"))).status in OK
        assert (await env.post(conversation_update(CHANNEL, env.api.service_url, removed=[BOT], by=ANNA,
                                                   event="teamMemberRemoved"))).status in OK
    assert [c.chat_id for c in await env.rows(Chat)] == [ELSEWHERE_ID]
    assert {r.chat_id: r.installed for r in await env.rows(TeamsConversation)} == {KOFFIE_ID: False,
                                                                                   ELSEWHERE_ID: True}
    (note,) = (await env.rows(OutboxMessage, OutboxMessage.kind == "link"))[notes:]
    assert note.user_id == ANNA["aadObjectId"] and "Ik ben uit de chat Lerend netwerk Venlo – Koffiehoek" in note.text


async def test_a_group_chat_whose_topic_changes_is_renamed(env: Env) -> None:
    """A ``conversationUpdate`` with ``topicName`` (the activity protocol's new topic of the
    conversation) in a group chat the app is in renames it, and the network named after it; nothing
    is posted. In a group chat the app is not in it makes nothing."""
    await env.add_to_channel(where=GROUP)
    posts = len(env.api.sent())
    topic = conversation_update(GROUP, env.api.service_url, by=ANNA)
    topic["topicName"] = "Wijkteam Noord-Oost"
    assert (await env.post(topic)).status in OK
    elsewhere = conversation_update(group_chat("19:anders@thread.v2", "Anders"), env.api.service_url, by=ANNA)
    elsewhere["topicName"] = "Iets anders"
    assert (await env.post(elsewhere)).status in OK
    (chat,) = await env.rows(Chat)
    (network,) = await env.rows(Network)
    assert (chat.chat_id, chat.title, network.name) == (GROUP_ID, "Wijkteam Noord-Oost", "Wijkteam Noord-Oost")
    assert [r.chat_id for r in await env.rows(TeamsConversation)] == [GROUP_ID]
    for _ in range(5):
        env.clock.advance(timedelta(seconds=5))
        env.app.wake.set()
        await asyncio.sleep(0.05)
    assert len(env.api.sent()) == posts


@pytest.mark.postgres
async def test_on_postgresql_too(postgres_url: str, api: StandIn) -> None:
    async with stack(postgres_url, api) as env:
        await env.add_to_channel()
        await env.join(CEM)
        nudge = await _the_nudge(env, CHANNEL_ID)
        await env.say(CHANNEL, CEM, "Samen leren.", thread=nudge)
        (stored,) = await env.until_rows(Answer)
        assert stored.text == "Samen leren."
        assert len(await env.rows(OutboxMessage, OutboxMessage.kind == "help")) == 1  # one welcome
        assert (await env.rows(TeamsConversation))[0].installed is True


# ---------------------------------------------------------------------------- erasure
async def test_erasure_drops_what_the_teams_adapter_kept_about_the_person(env: Env,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    """After ``/vergeetmij`` and its confirmation, the adapter's own tables (how to reach the person,
    their latest message per conversation) and its list of people who blocked the bot hold nothing
    of them, and nothing of what they wrote or their name reached the log."""
    from tests.test_erasure import rows_naming

    caplog.set_level(logging.DEBUG)
    env.api.installed_for.update({ANNA["id"], CEM["id"]})
    await env.add_to_channel()
    await env.join(CEM)
    cem_id = CEM["aadObjectId"]
    await env.say(CHANNEL, CEM, "status Zwanenburgse casus", mention=True)
    await env.until_rows(TeamsUser, TeamsUser.user_id == cem_id)
    await env.until_rows(TeamsAsker, TeamsAsker.user_id == cem_id)
    (teams,) = env.app.adapters
    await env.say(personal(CEM), CEM, "mijngegevens")  # the export waits behind a download link
    (export,) = await env.until_rows(TeamsFile)
    assert export.user_id == cem_id and b"Cem Yilmaz" in export.data
    await env.say(personal(CEM), CEM, "vergeetmij ja")
    await env.sent_containing("verwijderd", personal(CEM)["conversation"]["id"])
    for _ in range(100):  # the adapter forgets once the confirmation is recorded as delivered
        async with env.app.db.transaction() as s:
            if not await rows_naming(s, cem_id):
                break
        env.clock.advance(timedelta(seconds=5))
        env.app.wake.set()
        await asyncio.sleep(0.05)
    assert await env.rows(TeamsUser, TeamsUser.user_id == cem_id) == []
    assert await env.rows(TeamsAsker, TeamsAsker.user_id == cem_id) == []
    assert await env.rows(TeamsFile) == []  # not left for a day behind its link
    async with env.app.db.transaction() as s:
        assert await rows_naming(s, cem_id) == {}
        assert await rows_naming(s, "Cem Yilmaz") == {}
    assert await env.rows(TeamsBlocked) == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Zwanenburgse" not in logged and "Yilmaz" not in logged and cem_id not in logged


async def test_a_channel_back_by_a_mention_after_the_app_was_removed_from_its_team_hears_its_messages(
        env: Env) -> None:
    """The app removed from a team (each channel it was in marked removed), then added to it again
    (announced in General): a mention in a channel it was in before makes that channel a network
    again, as in any channel, and its messages without a mention (a reply, a member's first
    message) then reach the bot, as in any channel it knows."""
    await env.add_to_channel(where=KOFFIE)
    assert (await env.post(installation_update(CHANNEL, env.api.service_url, ANNA, "remove"))).status in OK
    assert (await env.post(conversation_update(CHANNEL, env.api.service_url, removed=[BOT], by=ANNA,
                                               event="teamMemberRemoved"))).status in OK
    assert await env.rows(Chat) == []
    await env.add_to_channel(where=CHANNEL)  # added to the team again
    await env.say(KOFFIE, ANNA, "status", mention=True)
    await env.until_rows(Chat, Chat.chat_id == KOFFIE_ID)
    await env.say(KOFFIE, BRAM, "Goedemorgen allemaal")  # no mention
    await env.until_rows(Member, Member.user_id == BRAM["aadObjectId"])
