"""The Telegram adapter end to end: ``bamboe run``'s real stack (database, core, delivery, HTTP
server, python-telegram-bot) against the stand-in Bot API on 127.0.0.1, with a virtual clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from adapters.telegram.adapter import TelegramConfigError, build
from bamboe.runtime import App, running
from bamboe.settings import Settings
from bot.clock import VirtualClock
from bot.delivery import NotStarted, RetryAfter, Undeliverable
from bot.events import Address, Attachment, Button, Outgoing
from bot.models import Answer, Chat, Member, Network, OutboxMessage, Round
from tests.conftest import free_port, local
from tests.telegram_standin import StandIn, callback, chat_member, group, message, private, user

ANNA = user(1001, "Anna", "de Vries")
BRAM = user(1002, "Bram", "Peters")
CEM = user(1003, "Cem", "Yilmaz", language="en")
GROUP = group()
GROUP_ID = GROUP["id"]



@dataclass
class Env:
    """The running stack and the stand-in it talks to."""

    app: App
    clock: VirtualClock
    api: StandIn
    port: int

    @property
    def bot(self) -> StandIn:
        return self.api

    async def until(self, condition: Callable[[], Any], what: str = "condition", rounds: int = 100) -> Any:
        """Wait until ``condition()`` is true, moving the virtual clock on by 5 s per round (so the
        per-chat limits and retry_after pauses pass) and waking the dispatcher."""
        for _ in range(rounds):
            result = condition()
            if result:
                return result
            self.clock.advance(timedelta(seconds=5))
            self.app.wake.set()
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    async def push(self, update: dict[str, Any]) -> None:
        """Queue an update and wait until the adapter has handled it (confirmed by the next offset)."""
        update_id = self.api.push(update)
        await self.until(lambda: any((c.params.get("offset") or 0) > update_id for c in self.api.of("getUpdates")),
                         f"update {update_id} handled")

    async def replies_to(self, message_id: int, count: int = 1) -> list[dict[str, Any]]:
        """Wait for ``count`` messages sent in reply to ``message_id``; return them."""
        def found() -> list[dict[str, Any]]:
            hits = [p for p in self.api.sent() if (p.get("reply_parameters") or {}).get("message_id") == message_id]
            return hits if len(hits) >= count else []
        return await self.until(found, f"a reply to {message_id}")

    async def sent_containing(self, fragment: str, chat_id: int = GROUP_ID) -> dict[str, Any]:
        """Wait for a message to ``chat_id`` whose text contains ``fragment``."""
        def found() -> dict[str, Any] | None:
            return next((p for p in self.api.sent(chat_id) if fragment in p["text"]), None)
        return await self.until(found, repr(fragment))

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        async with self.app.db.transaction() as s:
            return list(await s.scalars(select(model).where(*where)))

    async def add_bot(self, by: dict[str, Any] = ANNA, chat: dict[str, Any] = GROUP) -> None:
        """``by`` adds the bot to ``chat`` (both updates Telegram sends) and the welcome goes out."""
        await self.push(chat_member(chat, by, self.api.me(), "left", "member"))
        await self.push({"message": message(chat, by, new_chat_members=[self.api.me()])})
        await self.until(lambda: self.api.sent(chat["id"]), "the welcome")

    async def join(self, person: dict[str, Any], chat: dict[str, Any] = GROUP) -> None:
        """``person`` joins ``chat`` by themselves."""
        await self.push({"message": message(chat, person, new_chat_members=[person])})


@pytest.fixture
async def api() -> AsyncIterator[StandIn]:
    standin = StandIn()
    await standin.start()
    yield standin
    await standin.close()


@asynccontextmanager
async def stack(sqlite_url: str, api: StandIn, **settings: Any) -> AsyncIterator[Env]:
    port = free_port()
    config = Settings(_env_file=None, database_url=sqlite_url, telegram_bot_token=api.token,
                      telegram_api_url=api.url + "/bot", bamboe_http_host="127.0.0.1", bamboe_http_port=port,
                      **settings)
    clock = VirtualClock(local(2026, 1, 5, 8, 0))
    async with running(config, clock=clock) as app:
        yield Env(app, clock, api, port)


@pytest.fixture
async def env(sqlite_url: str, api: StandIn) -> AsyncIterator[Env]:
    async with stack(sqlite_url, api) as e:
        yield e


# ---------------------------------------------------------------------------- joining
async def test_bot_added_creates_network_and_registers_commands(env: Env) -> None:
    await env.add_bot()
    (chat,) = await env.rows(Chat)
    assert (chat.platform, chat.chat_id, chat.title) == ("telegram", str(GROUP_ID), "Lerend netwerk Venlo")
    (net,) = await env.rows(Network)
    assert net.name == "Lerend netwerk Venlo"
    (anna,) = await env.rows(Member)
    assert (anna.user_id, anna.name, anna.role) == ("1001", "Anna de Vries", "trekker")
    (welcome,) = env.api.sent(GROUP_ID)  # two updates (my_chat_member + new_chat_members), one welcome
    assert welcome["parse_mode"] == "HTML" and welcome["link_preview_options"] == {"is_disabled": True}
    menus = {c.params.get("language_code"): c.params["commands"] for c in env.api.of("setMyCommands")}
    assert set(menus) == {None, "nl", "en"}
    nl_names = [c["command"] for c in menus["nl"]]
    en_names = [c["command"] for c in menus["en"]]
    assert "netwerk" in nl_names and "network" in en_names and "start" not in nl_names
    assert menus[None] == menus["nl"]
    for commands in menus.values():
        for c in commands:
            assert c["command"].isascii() and c["command"] == c["command"].lower() and len(c["command"]) <= 32
            assert 1 <= len(c["description"]) <= 256
    assert env.api.of("getMe") and env.api.of("deleteWebhook") and not env.api.of("setWebhook")
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{env.port}/readyz") as resp:
        assert resp.status == 200 and (await resp.json())["checks"]["telegram"] is True


async def test_members_join_and_leave(env: Env) -> None:
    await env.add_bot()
    await env.join(CEM)
    (cem,) = await env.rows(Member, Member.user_id == "1003")
    assert cem.active and cem.name == "Cem Yilmaz" and cem.role == "deelnemer"
    await env.push({"message": message(GROUP, CEM, left_chat_member=CEM)})
    (cem,) = await env.rows(Member, Member.user_id == "1003")
    assert not cem.active


async def test_a_group_converted_into_a_supergroup_keeps_its_network(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    """Telegram gives a group that becomes a supergroup a new id and says so in both chats: the
    network's chat follows it (its members, no second network, no second welcome), and the bot
    answers in the supergroup."""
    caplog.set_level("DEBUG")
    old = {"id": -4001, "type": "group", "title": "Lerend netwerk Venlo"}
    new = group(-1004001)
    await env.add_bot(chat=old)
    await env.join(CEM, chat=old)
    (network,) = await env.rows(Network)
    await env.push({"message": message(old, ANNA, migrate_to_chat_id=new["id"])})
    await env.push({"message": message(new, ANNA, migrate_from_chat_id=old["id"])})
    (chat,) = await env.rows(Chat)
    assert (chat.chat_id, chat.network_id) == (str(new["id"]), network.id)
    assert [n.id for n in await env.rows(Network)] == [network.id]
    assert {m.user_id for m in await env.rows(Member, Member.active)} == {"1001", "1003"}
    await env.push({"message": message(new, CEM, "/status")})
    await env.until(lambda: env.api.sent(new["id"]), "the answer in the supergroup")
    assert len(env.api.sent(old["id"])) == 1  # the welcome, before the conversion
    logged = "\n".join(r.getMessage() for r in caplog.records)  # the move is logged without title or names
    assert [n for n in ("Venlo", "Anna", "Cem", "1001", "1003") if n in logged] == []


async def test_a_new_chat_title_renames_the_network_and_an_emoji_title_does_not(
        env: Env, caplog: pytest.LogCaptureFixture) -> None:
    """The ``new_chat_title`` service message (privacy mode lets it through): the network named
    after the group follows; a title of emoji only changes nothing; the bot says nothing; the
    title is not logged."""
    caplog.set_level("DEBUG")
    await env.add_bot()
    before = len(env.api.sent())
    await env.push({"message": message({**GROUP, "title": "🌱🌱🌱"}, ANNA, new_chat_title="🌱🌱🌱")})
    assert [(n.name, c.title) for n in await env.rows(Network) for c in await env.rows(Chat)] == [
        ("Lerend netwerk Venlo", "Lerend netwerk Venlo")]
    await env.push({"message": message({**GROUP, "title": "Buurtkring Venlo-Oost"}, ANNA,
                                       new_chat_title="Buurtkring Venlo-Oost")})
    assert [(n.name, c.title) for n in await env.rows(Network) for c in await env.rows(Chat)] == [
        ("Buurtkring Venlo-Oost", "Buurtkring Venlo-Oost")]
    for _ in range(5):  # give a wrong message time to show up
        env.clock.advance(timedelta(seconds=5))
        env.app.wake.set()
        await asyncio.sleep(0.05)
    assert len(env.api.sent()) == before
    assert "Buurtkring" not in "\n".join(r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------- commands
async def test_commands_with_and_without_the_bot_name(env: Env) -> None:
    await env.add_bot()
    plain = message(GROUP, ANNA, "/status")
    named = message(GROUP, ANNA, "/status@bamboe_bot")
    other = message(GROUP, ANNA, "/status@otherbot")
    await env.push({"message": plain})
    (a,) = await env.replies_to(plain["message_id"])
    await env.push({"message": named})
    (b,) = await env.replies_to(named["message_id"])
    await env.push({"message": other})
    assert a["text"] == b["text"] and "Lerend netwerk Venlo" in a["text"]
    assert a["reply_parameters"]["allow_sending_without_reply"] is True
    for _ in range(5):  # give a wrong answer time to show up
        env.clock.advance(timedelta(seconds=5))
        env.app.wake.set()
        await asyncio.sleep(0.05)
    assert not [p for p in env.api.sent() if (p.get("reply_parameters") or {}).get("message_id") == other["message_id"]]
    assert len(await env.rows(OutboxMessage, OutboxMessage.kind == "status")) == 2


async def test_user_text_is_escaped_in_html(env: Env) -> None:
    await env.add_bot()
    name = 'Netwerk <b>x</b> & <a href="https://evil.example">klik</a>'
    await env.push({"message": message(GROUP, ANNA, f"/netwerk naam {name}")})
    shown = message(GROUP, ANNA, "/netwerk")
    await env.push({"message": shown})
    (reply,) = await env.replies_to(shown["message_id"])
    assert "Netwerk &lt;b&gt;x&lt;/b&gt; &amp; &lt;a href=\"https://evil.example\"&gt;klik&lt;/a&gt;" in reply["text"]
    for sent in env.api.sent():
        assert "<a" not in sent["text"] and "<b>x" not in sent["text"]


async def test_private_start_with_deep_link_payload(env: Env) -> None:
    await env.add_bot()
    start = message(private(ANNA), ANNA, "/start hi")
    await env.push({"message": start})
    reply = await env.until(lambda: env.api.sent(ANNA["id"]), "the /start answer")
    assert "reply_parameters" not in reply[0] or reply[0]["reply_parameters"] is None


async def test_logs_hold_neither_the_token_nor_message_texts(sqlite_url: str, api: StandIn,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with stack(sqlite_url, api) as env:
        await env.add_bot()
        asked = message(GROUP, ANNA, "/netwerk bedoeling Geheime-bedoeling-42")
        await env.push({"message": asked})
        await env.sent_containing("Geheime-bedoeling-42")  # the group hears the new intention
    # the database drivers log SQL parameters at DEBUG; that is the operator's choice, not ours
    ours = [r for r in caplog.records if not r.name.startswith(("aiosqlite", "sqlalchemy", "asyncpg"))]
    assert any(r.name.startswith("adapters.telegram") for r in ours)
    for record in ours:
        assert api.token not in record.getMessage(), record.name
        assert "Geheime-bedoeling-42" not in record.getMessage(), record.name


# ---------------------------------------------------------------------------- rhythm
async def test_a_reply_to_the_nudge_is_stored_as_an_answer(env: Env) -> None:
    await env.add_bot()
    await env.join(CEM)
    env.clock.set(local(2026, 1, 6, 10, 0))
    env.app.wake.set()
    call = await env.until(lambda: next((c for c in env.api.of("sendMessage", ok=True)
                                          if "Weekvraag" in c.params["text"]), None), "the nudge")
    nudge_message = call.result
    for _ in range(100):  # recorded as sent (with its message id) just after Telegram answered
        if await env.rows(OutboxMessage, OutboxMessage.kind == "nudge", OutboxMessage.state == "sent"):
            break
        await asyncio.sleep(0.05)
    answer = message(GROUP, CEM, "Wij leerden dat luisteren helpt.", reply_to=nudge_message)
    await env.push({"message": answer})
    (stored,) = await env.rows(Answer)
    assert stored.text == "Wij leerden dat luisteren helpt."
    (cem,) = await env.rows(Member, Member.user_id == "1003")
    assert stored.member_id == cem.id


# ---------------------------------------------------------------------------- buttons
async def test_button_press_reaches_the_core_and_is_answered(env: Env) -> None:
    await env.add_bot()
    await env.join(CEM)
    await env.push({"message": message(GROUP, ANNA, "/actieleren")})
    call = await env.until(lambda: next((c for c in env.api.of("sendMessage", ok=True)
                                          if c.params.get("reply_markup")), None), "the invitation")
    (row,) = call.params["reply_markup"]["inline_keyboard"]
    (button,) = row
    assert button["callback_data"].startswith("round:volunteer:") and button["text"] == "Ik breng een casus in"
    press = callback(CEM, call.result, button["callback_data"])
    await env.push(press)
    (answered,) = env.api.of("answerCallbackQuery")
    assert answered.params["callback_query_id"] == press["callback_query"]["id"]
    (rnd,) = await env.rows(Round)
    (cem,) = await env.rows(Member, Member.user_id == "1003")
    assert rnd.bringer_id == cem.id


async def test_a_press_on_a_stale_button_is_still_answered(env: Env) -> None:
    await env.add_bot()
    on = message(GROUP, {"id": 123, "is_bot": True, "first_name": "Bamboe"}, "oud")
    await env.push(callback(ANNA, on, "round:volunteer:999"))
    assert len(env.api.of("answerCallbackQuery")) == 1


# ---------------------------------------------------------------------------- forum topics
async def test_an_answer_in_a_forum_topic_stays_in_the_topic(env: Env) -> None:
    forum = group(-1009999, "Forum", forum=True)
    await env.add_bot(chat=forum)
    topic_root = message(forum, ANNA, None, message_id=77, forum_topic_created={"name": "Reflectie",
                                                                               "icon_color": 7322096})
    asked = message(forum, ANNA, "/status", thread=77, reply_to=topic_root)
    await env.push({"message": asked})
    (reply,) = await env.replies_to(asked["message_id"])
    assert reply["message_thread_id"] == 77


# ---------------------------------------------------------------------------- files
async def test_my_data_arrives_privately_as_text_and_a_json_document(env: Env) -> None:
    await env.add_bot()
    await env.push({"message": message(private(ANNA), ANNA, "/mijngegevens")})
    (upload,) = await env.until(lambda: env.api.uploads(ANNA["id"]), "the export file")
    assert upload.method == "sendDocument"
    text = next(p for p in env.api.sent(ANNA["id"]) if "Wat ik over jou bewaar" in p["text"])
    order = [c.method for c in env.api.calls if c.method in ("sendMessage", "sendDocument")
             and str(c.params["chat_id"]) == str(ANNA["id"])]
    assert order[-2:] == ["sendMessage", "sendDocument"]
    file = env.api.upload(upload)
    assert file.filename.startswith("bamboe-mijn-gegevens-") and file.filename.endswith(".json")
    assert file.mime == "application/json" and file.size == len(file.data)
    assert file.json()["profile"]["name"] == "Anna de Vries"
    assert upload.result["document"]["file_name"] == file.filename
    assert "reply_parameters" not in upload.params and "message_thread_id" not in upload.params
    (row,) = await sent_rows(env, OutboxMessage.kind == "privacy")
    text_call = next(c for c in env.api.of("sendMessage", ok=True) if c.params is text)
    assert row.platform_message_id == str(text_call.result["message_id"])
    assert row.files == [] and row.text == ""  # personal content is not kept once sent


async def test_a_rate_limited_file_is_retried_without_sending_the_text_again(env: Env) -> None:
    await env.add_bot()
    env.api.refuse("sendDocument", 429, "Too Many Requests: retry after 3", retry_after=3)
    await env.push({"message": message(private(ANNA), ANNA, "/mijngegevens")})
    await env.until(lambda: env.api.uploads(ANNA["id"]), "the export file after the pause")
    assert [c.status for c in env.api.of("sendDocument")] == [429, 200]
    texts = [p for p in env.api.sent(ANNA["id"]) if "Wat ik over jou bewaar" in p["text"]]
    assert len(texts) == 1
    assert env.api.upload(env.api.uploads(ANNA["id"])[0]).json()["profile"]["name"] == "Anna de Vries"
    (row,) = await sent_rows(env, OutboxMessage.kind == "privacy")
    first_text = next(c for c in env.api.of("sendMessage", ok=True) if c.params is texts[0])
    assert row.platform_message_id == str(first_text.result["message_id"])


async def sent_rows(env: Env, *where: Any) -> list[OutboxMessage]:
    """The outbox rows matching ``where``, once they are all marked sent (the stand-in answers a
    call before the bot has recorded it: wait for the mark, not for the call)."""
    for _ in range(100):
        rows = await env.rows(OutboxMessage, *where)
        if rows and all(r.state == "sent" for r in rows):
            return rows
        env.app.wake.set()
        await asyncio.sleep(0.05)
    raise AssertionError(f"outbox rows {where} not sent")


# ---------------------------------------------------------------------------- delivery
async def test_rate_limit_then_delivered_once_in_order(env: Env) -> None:
    await env.add_bot()
    env.api.refuse("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    await env.push({"message": message(GROUP, ANNA, "/netwerk naam Nieuwe naam")})
    await env.until(lambda: len(env.api.sent(GROUP_ID)) >= 2, "the group told of the new name")
    attempts = [(c.status, c.params["text"]) for c in env.api.of("sendMessage")][1:]  # after the welcome
    assert [s for s, _ in attempts] == [429, 200]  # refused once, then delivered once
    assert attempts[1] == (200, attempts[0][1]) and "Nieuwe naam" in attempts[1][1]
    rows = await sent_rows(env)  # the welcome and the answer
    assert len(rows) == 2 and all(r.platform_message_id for r in rows)


async def test_private_message_waits_until_the_person_starts_the_bot(env: Env) -> None:
    await env.add_bot()
    refusal = env.api.refuse("sendMessage", 403, "Forbidden: bot can't initiate conversation with a user",
                             times=100, chat_id=CEM["id"])
    await env.join(CEM)
    note = await env.sent_containing("https://t.me/bamboe_bot?start=hi")
    assert "Cem Yilmaz" in note["text"]
    (waiting,) = await env.rows(OutboxMessage, OutboxMessage.state == "waiting")
    assert waiting.user_id == "1003" and waiting.kind == "newcomer_briefing"
    refusal.times = 0  # Cem opens the link and presses Start
    await env.push({"message": message(private(CEM), CEM, "/start hi")})
    await env.until(lambda: len(env.api.sent(CEM["id"])) >= 2, "the briefing and the /start answer")
    (briefing,) = await sent_rows(env, OutboxMessage.kind == "newcomer_briefing")
    assert briefing.user_id == "1003"


async def test_webhook_mode_checks_the_secret(sqlite_url: str, api: StandIn) -> None:
    url = "https://bamboe.example/telegram/webhook"
    async with stack(sqlite_url, api, telegram_webhook_url=url, telegram_webhook_secret="s3cret-Token_1") as env:
        (hook,) = api.of("setWebhook")
        assert hook.params["url"] == url and hook.params["secret_token"] == "s3cret-Token_1"
        assert set(hook.params["allowed_updates"]) >= {"message", "edited_message", "callback_query", "my_chat_member"}
        endpoint = f"http://127.0.0.1:{env.port}/telegram/webhook"
        update = {"update_id": 1, "message": message(GROUP, ANNA, new_chat_members=[api.me()])}
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with http.post(endpoint, json=update, headers=headers) as resp:
                    assert resp.status == 401
            assert await env.rows(Network) == []
            async with http.post(endpoint, json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1"}) as resp:
                assert resp.status == 200
            assert len(await env.rows(Network)) == 1
            async with http.get(f"http://127.0.0.1:{env.port}/readyz") as resp:
                assert (await resp.json())["checks"]["telegram"] is True
        await env.until(lambda: api.sent(GROUP_ID), "the welcome")
        assert not api.of("getUpdates")


def test_webhook_without_secret_is_refused() -> None:
    settings = Settings(_env_file=None, telegram_bot_token="123:ABC",
                        telegram_webhook_url="https://bamboe.example/telegram/webhook")
    with pytest.raises(TelegramConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        build(settings, None)


# ---------------------------------------------------------------------------- the sender alone
@asynccontextmanager
async def adapter_on(api: StandIn, url: str | None = None) -> AsyncIterator[Any]:
    async def ignore(_: Any) -> None:
        return None

    adapter = build(Settings(_env_file=None, telegram_bot_token=api.token,
                             telegram_api_url=url or api.url + "/bot"), ignore)
    try:
        yield adapter
    finally:
        await adapter.stop()


async def test_long_text_is_split_with_buttons_on_the_last_part(api: StandIn) -> None:
    async with adapter_on(api) as adapter:
        await adapter.start()
        text = "\n".join(f"*Regel {i}*: " + "woord & " * 20 for i in range(100))
        first = await adapter.send(Outgoing(Address("telegram", str(GROUP_ID)), "x", text,
                                            (Button("Klaar", "action:done:1"),), outbox_id=1))
        calls = api.of("sendMessage", ok=True)
        assert len(calls) >= 4 and first == str(calls[0].result["message_id"])
        assert all(len(c.params["text"]) < 4096 for c in calls)
        assert [bool(c.params.get("reply_markup")) for c in calls] == [False] * (len(calls) - 1) + [True]
        assert all(c.params["text"].count("<b>") == c.params["text"].count("</b>") for c in calls)


async def test_refusals_become_the_cores_errors(api: StandIn) -> None:
    async with adapter_on(api) as adapter:
        await adapter.start()
        to_cem = Outgoing(Address("telegram", None, str(CEM["id"])), "x", "hoi")
        to_group = Outgoing(Address("telegram", str(GROUP_ID)), "x", "hoi")
        api.refuse("sendMessage", 403, "Forbidden: bot can't initiate conversation with a user")
        with pytest.raises(NotStarted) as started:
            await adapter.send(to_cem)
        assert started.value.link == "https://t.me/bamboe_bot?start=hi"
        api.refuse("sendMessage", 403, "Forbidden: bot was blocked by the user")
        with pytest.raises(Undeliverable) as blocked:
            await adapter.send(to_cem)
        assert not isinstance(blocked.value, NotStarted)
        api.refuse("sendMessage", 403, "Forbidden: bot was kicked from the group chat")
        with pytest.raises(Undeliverable):
            await adapter.send(to_group)
        api.refuse("sendMessage", 400, "Bad Request: chat not found")
        with pytest.raises(Undeliverable):
            await adapter.send(to_group)
        api.refuse("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
        with pytest.raises(RetryAfter) as slow:
            await adapter.send(to_group)
        assert slow.value.seconds == 7
        api.refuse("sendMessage", 502, "Bad Gateway")
        with pytest.raises(Exception) as transient:
            await adapter.send(to_group)
        assert not isinstance(transient.value, Undeliverable | RetryAfter)
        assert await adapter.send(to_group)  # and then it goes through


async def test_a_vanished_topic_falls_back_to_general(api: StandIn) -> None:
    async with adapter_on(api) as adapter:
        await adapter.start()
        adapter._topics.put((str(GROUP_ID), "5"), 77)  # noqa: SLF001 - a topic seen earlier
        api.refuse("sendMessage", 400, "Bad Request: message thread not found")
        assert await adapter.send(Outgoing(Address("telegram", str(GROUP_ID), None, "5"), "x", "hoi"))
        failed, ok = api.of("sendMessage")
        assert failed.params["message_thread_id"] == 77 and "message_thread_id" not in ok.params


async def test_a_reply_to_a_deleted_message_goes_out_unquoted(api: StandIn) -> None:
    """In a forum topic Telegram takes every reply as strict: when the member deleted the message
    the answer quotes, it refuses; the answer then goes out without the quote, in the same topic."""
    async with adapter_on(api) as adapter:
        await adapter.start()
        adapter._topics.put((str(GROUP_ID), "5"), 77)  # noqa: SLF001 - a topic seen earlier
        api.refuse("sendMessage", 400, "Bad Request: message to be replied not found")
        assert await adapter.send(Outgoing(Address("telegram", str(GROUP_ID), "1001"), "status", "Status",
                                           ephemeral=True, reply_to="5"))
        failed, ok = api.of("sendMessage")
        assert failed.params["reply_parameters"]["message_id"] == 5 and "reply_parameters" not in ok.params
        assert ok.params["message_thread_id"] == 77 and ok.params["text"] == failed.params["text"]


async def test_unreachable_api_fails_start_clearly(api: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("adapters.telegram.adapter.START_ATTEMPTS", 1)
    async with adapter_on(api, f"http://127.0.0.1:{free_port()}/bot") as adapter:
        with pytest.raises(RuntimeError, match="cannot be reached"):
            await adapter.start()
        assert not adapter.ready()


async def test_rejected_token_fails_start_clearly(api: StandIn) -> None:
    async with adapter_on(api) as adapter:
        api.token = "999:other"  # the stand-in now knows another token than the adapter's
        with pytest.raises(RuntimeError, match="rejected TELEGRAM_BOT_TOKEN") as err:
            await adapter.start()
        assert "123:ABC" not in str(err.value)


async def test_an_answer_replies_to_the_message_in_its_outbox_row(api: StandIn) -> None:
    """The message an answer quotes comes with the answer (``Outgoing.reply_to``), in the topic that
    message was in; a later message of the same member does not take the reply."""
    async def core(_: Any) -> None:
        return None

    adapter = build(Settings(_env_file=None, telegram_bot_token=api.token, telegram_api_url=api.url + "/bot"), core)
    try:
        await adapter.start()
        asked, later = message(GROUP, ANNA, "/status", thread=9), message(GROUP, ANNA, "nog iets")
        for m in (asked, later):
            api.push({"message": m})
        for _ in range(100):
            if any((c.params.get("offset") or 0) > 2 for c in api.of("getUpdates")):
                break
            await asyncio.sleep(0.05)
        await adapter.send(Outgoing(Address("telegram", str(GROUP_ID), "1001"), "status", "Status", outbox_id=5,
                                    ephemeral=True, reply_to=str(asked["message_id"])))
        await adapter.send(Outgoing(Address("telegram", str(GROUP_ID), "1001"), "status", "Zonder", outbox_id=6,
                                    ephemeral=True))
        quoted, alone = api.sent(GROUP_ID)
        assert quoted["reply_parameters"]["message_id"] == asked["message_id"] and quoted["message_thread_id"] == 9
        assert "reply_parameters" not in alone and "message_thread_id" not in alone
    finally:
        await adapter.stop()


def png(width: int, height: int, size: int = 0) -> bytes:
    """Bytes that start like a PNG of ``width`` x ``height`` (padded to ``size``)."""
    head = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + width.to_bytes(4, "big") + height.to_bytes(4, "big")
    return head + b"\x00" * max(0, size - len(head))


async def test_files_follow_the_text_in_its_topic_and_reply(api: StandIn) -> None:
    async with adapter_on(api) as adapter:
        await adapter.start()
        adapter._topics.put((str(GROUP_ID), "5"), 77)  # noqa: SLF001 - a topic seen earlier
        files = (Attachment("grafiek.png", "image/png", png(640, 480)),
                 Attachment("foto.jpg", "image/jpeg", b"\xff\xd8\xff" + b"j" * 100),
                 Attachment("groot.png", "image/png", png(4000, 3000, 10 * 1024 * 1024 + 1)),
                 Attachment("verslag.pdf", "application/pdf", b"%PDF-1.7 ..."),
                 Attachment("verslag.html", "text/html", b"<h1>Verslag</h1>"))
        first = await adapter.send(Outgoing(Address("telegram", str(GROUP_ID), None, "5"), "report", "Het verslag",
                                            (Button("Klaar", "action:done:1"),), outbox_id=9, files=files))
        (text,) = api.of("sendMessage", ok=True)
        assert first == str(text.result["message_id"]) and text.params["reply_markup"]
        uploads = api.uploads(GROUP_ID)
        assert [c.method for c in uploads] == ["sendPhoto", "sendPhoto", "sendDocument", "sendDocument",
                                               "sendDocument"]
        assert [api.upload(c).filename for c in uploads] == [f.name for f in files]
        assert [api.upload(c).data for c in uploads] == [f.data for f in files]
        assert api.upload(uploads[3]).mime == "application/pdf"
        for call in uploads:
            assert call.params["message_thread_id"] == 77 and call.params["reply_parameters"]["message_id"] == 5
            assert "reply_markup" not in call.params  # buttons stay with the text
        assert uploads[0].result["photo"][-1]["width"] == 640
        assert uploads[2].result["document"]["file_size"] == 10 * 1024 * 1024 + 1
        assert not adapter._partial  # noqa: SLF001 - nothing left to remember once all went out


async def test_a_failed_file_does_not_send_the_text_twice(api: StandIn) -> None:
    async with adapter_on(api) as adapter:
        await adapter.start()
        to_cem = Outgoing(Address("telegram", None, str(CEM["id"])), "privacy", "Je gegevens", outbox_id=3,
                          files=(Attachment("a.json", "application/json", b"{}"),
                                 Attachment("b.json", "application/json", b"[]")))
        api.refuse("sendDocument", 502, "Bad Gateway")
        with pytest.raises(Exception) as transient:  # the text went out, a.json did not
            await adapter.send(to_cem)
        assert not isinstance(transient.value, Undeliverable | RetryAfter)
        api.refuse("sendDocument", 429, "Too Many Requests: retry after 4", retry_after=4, after=1)
        with pytest.raises(RetryAfter):  # a.json went out, b.json was refused
            await adapter.send(to_cem)
        first = await adapter.send(to_cem)  # b.json
        (text,) = api.of("sendMessage", ok=True)
        assert first == str(text.result["message_id"])
        assert [api.upload(c).filename for c in api.uploads(CEM["id"])] == ["a.json", "b.json"]
        assert [c.status for c in api.of("sendDocument")] == [502, 200, 429, 200]
        assert not adapter._partial  # noqa: SLF001
        await adapter.send(to_cem)  # sent in full before: a new delivery (a replica's retry) sends it all
        assert len(api.of("sendMessage", ok=True)) == 2


async def test_file_refusals_become_the_cores_errors(api: StandIn) -> None:
    async with adapter_on(api) as adapter:
        await adapter.start()
        export = (Attachment("a.json", "application/json", b"{}"),)
        to_cem = Outgoing(Address("telegram", None, str(CEM["id"])), "privacy", "", (Button("Ok", "ok"),),
                          files=export)
        api.refuse("sendDocument", 403, "Forbidden: bot can't initiate conversation with a user")
        with pytest.raises(NotStarted):
            await adapter.send(to_cem)
        api.refuse("sendDocument", 403, "Forbidden: bot was blocked by the user")
        with pytest.raises(Undeliverable) as blocked:
            await adapter.send(to_cem)
        assert not isinstance(blocked.value, NotStarted)
        assert not api.of("sendMessage")  # no text: only the file is sent
        assert await adapter.send(to_cem) == str(api.uploads(CEM["id"])[0].result["message_id"])
        assert api.uploads(CEM["id"])[0].params["reply_markup"]  # no text: the buttons come with the file
        api.refuse("sendPhoto", 400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        chart = Outgoing(Address("telegram", str(GROUP_ID)), "report", "Grafiek",
                         files=(Attachment("smal.png", "image/png", png(10, 9000)),))
        await adapter.send(chart)  # an image Telegram will not show as a photo goes as a document
        assert [c.method for c in api.uploads(GROUP_ID)] == ["sendDocument"]
