"""The Matrix adapter against a real Synapse (tests/matrix_server.py): the bot under test runs
``bamboe run``'s stack with MATRIX_* settings; members are other accounts on the same homeserver
calling the client-server API as Element does. Every test makes its own bot account and rooms."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from adapters.matrix import render
from bamboe.runtime import App, running
from bamboe.settings import Settings
from bot.clock import VirtualClock
from bot.core import store_outgoing
from bot.events import Address, Outgoing
from bot.models import Answer, Chat, MatrixAccount, MatrixRoom, Member, Network, OutboxMessage
from tests.conftest import free_port, local
from tests.matrix_server import Synapse, User, until

pytestmark = pytest.mark.synapse


@asynccontextmanager
async def bot_running(server: Synapse, database_url: str, bot: User, **extra: Any) -> AsyncIterator[App]:
    settings = Settings(_env_file=None, database_url=database_url, matrix_homeserver_url=server.url,
                        matrix_user_id=bot.user_id, matrix_access_token=bot.token, bamboe_http_host="127.0.0.1",
                        bamboe_http_port=free_port(), **extra)
    clock = VirtualClock(local(2026, 1, 5, 10, 0))  # Monday 10:00: outside quiet hours
    async with running(settings, clock=clock) as app:
        adapter = app.adapters[0]
        adapter.sync_timeout_ms = 1000
        await until(lambda: _ready(app), 30, "the Matrix adapter to be ready")
        yield app


async def _ready(app: App) -> bool:
    return app.adapters[0].ready()


async def from_bot(member: User, room: str, bot: User, count: int = 1, what: str = "a message from the bot",
                   msgtype: str | None = None) -> list[dict[str, Any]]:
    """Wait until the bot has sent at least ``count`` messages in ``room``; return them all."""
    async def found() -> list[dict[str, Any]] | None:
        events = [e for e in await member.events(room, "m.room.message") if e["sender"] == bot.user_id
                  and (msgtype is None or e["content"].get("msgtype") == msgtype)]
        return events if len(events) >= count else None

    return await until(found, 30, what)


async def network_room(server: Synapse, app: App, bot: User, name: str = "Netwerk Armoede") -> tuple[User, str]:
    """A trekker (Anna) makes a room and invites the bot; returns once the welcome is there."""
    anna = await server.register(displayname="Anna de Vries")
    room = await anna.create_room(name, [bot.user_id])
    await from_bot(anna, room, bot, what="the welcome")
    return anna, room


async def test_invite_makes_a_network_with_the_inviter_as_trekker_and_commands_use_the_bang(
        synapse_server: Synapse, sqlite_url: str) -> None:
    bot = await synapse_server.register(displayname="Bamboe")
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        anna, room = await network_room(synapse_server, app, bot)
        welcome = (await from_bot(anna, room, bot))[0]["content"]
        assert welcome["format"] == "org.matrix.custom.html" and "<strong>Bamboe</strong>" in welcome["formatted_body"]
        assert welcome["m.mentions"] == {} and "*" not in welcome["body"]
        assert "!help" in welcome["body"] and "/help" not in welcome["body"]  # commands as typed in Element
        async with app.db.sessions() as s:
            network = await s.scalar(select(Network))
            trekker = await s.scalar(select(Member).where(Member.network_id == network.id))
        assert network.name == "Netwerk Armoede"
        assert (trekker.user_id, trekker.name, trekker.role) == (anna.user_id, "Anna de Vries", "trekker")

        await anna.say(room, "!status")
        answers = await from_bot(anna, room, bot, 2, "the answer to !status")
        assert "Netwerk Armoede" in answers[-1]["content"]["body"]
        sent = {e["event_id"] for e in answers}

        async def recorded() -> bool:  # Anna may see the message before the bot has recorded it
            async with app.db.sessions() as s:
                return sent <= set(await s.scalars(select(OutboxMessage.platform_message_id)))

        await until(recorded, 30, "the sent messages recorded with their event ids")


async def test_the_weekly_question_is_answered_by_a_reply_and_in_its_thread(
        synapse_server: Synapse, sqlite_url: str) -> None:
    bot = await synapse_server.register()
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        anna, room = await network_room(synapse_server, app, bot)
        cem = await synapse_server.register(displayname="Cem Yilmaz")
        await anna.invite(room, cem.user_id)
        await cem.join(room)
        clock = app.clock
        clock.advance(timedelta(days=1, minutes=5))  # Tuesday 10:05: the weekly question is due
        app.wake.set()
        nudge = await until(lambda: _sent_of_kind(app, "nudge"), 30, "the weekly question")
        await anna.say(room, "Ik leerde dat luisteren helpt.", thread=nudge)
        await cem.say(room, "> <@bot> vraag\n\nBij ons werkte een vast spreekuur.", reply_to=nudge)
        await until(lambda: _answers(app, 2), 30, "two answers stored")
        async with app.db.sessions() as s:
            texts = sorted(await s.scalars(select(Answer.text)))
        assert texts == ["Bij ons werkte een vast spreekuur.", "Ik leerde dat luisteren helpt."]


async def test_an_answer_follows_its_authors_edit_not_anothers_and_goes_when_a_moderator_redacts_it(
        synapse_server: Synapse, sqlite_url: str) -> None:
    """The spec: a replacement from another sender than the original's is invalid and ignored;
    a redaction removes the event for everyone, whoever (author or moderator) redacts it."""
    bot = await synapse_server.register()
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        anna, room = await network_room(synapse_server, app, bot)
        cem = await synapse_server.register(displayname="Cem Yilmaz")
        await anna.invite(room, cem.user_id)
        await cem.join(room)
        app.clock.advance(timedelta(days=1, minutes=5))
        app.wake.set()
        nudge = await until(lambda: _sent_of_kind(app, "nudge"), 30, "the weekly question")
        answer = await cem.say(room, "Mevrouw Jansen belde over haar schulden.", thread=nudge)
        await until(lambda: _answers(app, 1), 30, "the answer stored")
        before = len(await anna.events(room, "m.room.message"))
        await anna.edit(room, answer, "Anna schreef dit eroverheen.")  # Synapse takes it; clients ignore it
        await cem.edit(room, answer, "Een bewoner belde over schulden.")
        await until(lambda: _answer_text(app, "Een bewoner belde over schulden."), 30, "Cem's edit stored")
        await anna.redact(room, answer)  # the room's creator, a moderator
        await until(lambda: _no_answers(app), 30, "the redacted answer gone")
        mine = [e for e in (await anna.events(room, "m.room.message"))[before:] if e["sender"] == bot.user_id]
        assert mine == []  # nothing said in the room


async def _answer_text(app: App, text: str) -> bool:
    async with app.db.sessions() as s:
        texts = list(await s.scalars(select(Answer.text)))
    assert "Anna schreef dit eroverheen." not in texts
    return texts == [text]


async def _no_answers(app: App) -> bool:
    return not await _answers(app, 1)


async def _sent_of_kind(app: App, kind: str) -> str | None:
    async with app.db.sessions() as s:
        return await s.scalar(select(OutboxMessage.platform_message_id).where(
            OutboxMessage.kind == kind, OutboxMessage.state == "sent"))


async def _answers(app: App, count: int) -> bool:
    async with app.db.sessions() as s:
        return (await s.scalar(select(func.count()).select_from(Answer))) >= count


async def test_a_newcomer_is_briefed_in_a_direct_room_the_bot_opens_once_and_reuses(
        synapse_server: Synapse, sqlite_url: str) -> None:
    bot = await synapse_server.register()
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        anna, room = await network_room(synapse_server, app, bot)
        dewi = await synapse_server.register(displayname="Dewi Santoso")
        await anna.invite(room, dewi.user_id)
        await dewi.join(room)
        invites = await until(dewi.invites, 30, "the bot's invite to a direct room")
        (direct, state), = invites.items()
        mine = next(e for e in state if e["type"] == "m.room.member" and e["state_key"] == dewi.user_id)
        assert mine["sender"] == bot.user_id and mine["content"].get("is_direct") is True
        await dewi.join(direct)
        briefing = await from_bot(dewi, direct, bot, what="the newcomer briefing")
        assert "Netwerk Armoede" in briefing[0]["content"]["body"]
        m_direct = await bot.account_data("m.direct")
        assert m_direct.get(dewi.user_id) == [direct]
        async with app.db.sessions() as s:
            assert await s.scalar(select(MatrixRoom.room_id).where(MatrixRoom.direct_with == dewi.user_id)) == direct
        await dewi.say(direct, "!mijngegevens")  # answered privately, in the same room
        await from_bot(dewi, direct, bot, 2, "the answer in the direct room")
        assert await dewi.invites() == {}, await dewi.invites()


async def test_a_direct_room_opened_but_not_recorded_before_a_stop_is_used_not_a_second_one(
        synapse_server: Synapse, sqlite_url: str) -> None:
    """A replica stopped after createRoom, before it recorded the room (in the database and in
    ``m.direct``): the next one finds the room, so the member is not invited twice."""
    bot = await synapse_server.register()
    dewi = await synapse_server.register(displayname="Dewi Santoso")
    cem = await synapse_server.register(displayname="Cem Yilmaz")
    orphan = await bot.create_room("", [dewi.user_id], direct=True)  # what the stopped replica left

    # rooms that are not it (which ones are looked at first depends on their ids: the unit test
    # tests/test_matrix_units.py::test_only_a_room_the_bot_opened_for_the_member_is_its_direct_room
    # checks each kind): Cem invited too, Dewi invited but not as a direct chat, a room of Dewi's
    hers = await dewi.create_room("", [bot.user_id])
    await bot.join(hers)
    decoys = {await bot.create_room("", [dewi.user_id, cem.user_id], direct=True): True,
              await bot.create_room("", [dewi.user_id]): True, hers: False}  # room → Dewi is invited
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        anna, room = await network_room(synapse_server, app, bot)
        await anna.invite(room, dewi.user_id)
        await dewi.join(room)
        # read as the bot: Dewi has not accepted the invite yet
        briefing = await from_bot(bot, orphan, bot, what="the newcomer briefing in the room already opened")
        assert "Netwerk Armoede" in briefing[0]["content"]["body"]
        assert set(await dewi.invites()) == {orphan, *(d for d, invited in decoys.items() if invited)}  # no new one
        for decoy in decoys:
            assert await bot.events(decoy, "m.room.message") == []
        assert (await bot.account_data("m.direct")).get(dewi.user_id) == [orphan]
        async with app.db.sessions() as s:
            assert list(await s.scalars(select(MatrixRoom.room_id).where(MatrixRoom.direct_with == dewi.user_id))) \
                == [orphan]


async def test_choices_answered_by_a_reaction_or_by_the_text_command(
        synapse_server: Synapse, sqlite_url: str) -> None:
    bot = await synapse_server.register()
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        anna, room = await network_room(synapse_server, app, bot)
        await anna.say(room, "!mededeling Volgende week geen bijeenkomst.")
        async def announcement() -> dict[str, Any] | None:
            for event in await anna.events(room, "m.room.message"):
                if render.CHOICES_KEY in event["content"]:
                    return event
            return None

        event = await until(announcement, 30, "the announcement with a choice")
        assert render.KEYCAPS[0] in event["content"]["body"]
        reactions = await until(lambda: _reactions(anna, room, event["event_id"], bot), 30, "the bot's 1️⃣")
        assert reactions == [render.KEYCAPS[0]]
        bram = await synapse_server.register(displayname="Bram Peters")
        await anna.invite(room, bram.user_id)
        await bram.join(room)
        await bram.react(room, event["event_id"], render.KEYCAPS[0])
        await until(lambda: _reads(app, 1), 30, "the read recorded from the reaction")
        cem = await synapse_server.register(displayname="Cem Yilmaz")
        await anna.invite(room, cem.user_id)
        await cem.join(room)
        await cem.say(room, "!gelezen")
        await until(lambda: _reads(app, 2), 30, "the read recorded from the text command")


async def _reactions(member: User, room: str, event_id: str, bot: User) -> list[str]:
    return [e["content"]["m.relates_to"]["key"] for e in await member.events(room, "m.reaction")
            if e["sender"] == bot.user_id and e["content"]["m.relates_to"]["event_id"] == event_id]


async def _reads(app: App, count: int) -> bool:
    from bot.models import AnnouncementRead

    async with app.db.sessions() as s:
        return (await s.scalar(select(func.count()).select_from(AnnouncementRead))) >= count


async def test_an_encrypted_room_is_told_once_in_both_languages_and_left(
        synapse_server: Synapse, sqlite_url: str) -> None:
    bot = await synapse_server.register()
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        anna = await synapse_server.register()
        room = await anna.create_room("Versleuteld", [bot.user_id], encrypted=True)
        notice = (await from_bot(anna, room, bot, what="the encryption notice"))[0]["content"]
        assert "versleuteld" in notice["body"] and "encrypted" in notice["body"]

        async def left() -> bool:
            return any(e["type"] == "m.room.member" and e["state_key"] == bot.user_id
                       and e["content"]["membership"] == "leave" for e in await anna.events(room))

        await until(left, 30, "the bot to leave")
        assert len(await from_bot(anna, room, bot)) == 1
        async with app.db.sessions() as s:
            assert await s.scalar(select(func.count()).select_from(Network)) == 0


async def test_echoed_text_never_pings_nor_formats(synapse_server: Synapse, sqlite_url: str) -> None:
    bot = await synapse_server.register()
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        anna, room = await network_room(synapse_server, app, bot)
        await anna.say(room, '!vier @room <b>wij</b> *vet* <a href="https://matrix.to/#/@x:y">x</a>')

        async def celebration() -> dict[str, Any] | None:
            for event in await anna.events(room, "m.room.message"):
                if event["sender"] == bot.user_id and "wij" in event["content"]["body"]:
                    return event["content"]
            return None

        content = await until(celebration, 30, "the celebration")
        assert content["m.mentions"] == {}
        assert "@room" not in content["body"] and "@\u2060room" in content["body"]
        assert "<b>" not in content["formatted_body"] and "&lt;b&gt;wij&lt;/b&gt;" in content["formatted_body"]
        assert "<a " not in content["formatted_body"] and "*vet*" in content["body"]


async def test_a_row_sent_twice_arrives_once(synapse_server: Synapse, sqlite_url: str) -> None:
    """The second attempt of a row in doubt uses the same transaction ids: Synapse answers with
    the first event, nothing is posted again (also for a text of several parts)."""
    bot = await synapse_server.register()
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        anna, room = await network_room(synapse_server, app, bot)
        adapter = app.adapters[0]
        long_text = "\n".join(f"Regel {n}: " + "woord " * 30 for n in range(120))  # > 8000 characters
        async with app.db.transaction() as s:
            (stored,) = await store_outgoing(s, None, [Outgoing(Address("matrix", room), "digest", long_text)],
                                             app.clock.now())
        first = await adapter.send(stored)
        again = await adapter.send(stored)
        assert first == again
        parts = [e for e in await anna.events(room, "m.room.message") if e["content"]["body"].startswith("Regel")]
        assert len(parts) == len(render.render_parts(long_text)) >= 2
        assert all(len(p["content"]["body"]) <= render.PART_LIMIT for p in parts)
        assert "".join(p["content"]["body"] for p in parts).count("Regel") == 120


async def test_login_with_a_password_once_and_the_device_is_kept(synapse_server: Synapse, sqlite_url: str) -> None:
    bot = await synapse_server.register()
    from bot.secrets import new_key

    settings = dict(matrix_password=bot.password, bamboe_secret_key=new_key())
    for _ in range(2):
        app_settings = Settings(_env_file=None, database_url=sqlite_url, matrix_homeserver_url=synapse_server.url,
                                matrix_user_id=bot.user_id, bamboe_http_host="127.0.0.1",
                                bamboe_http_port=free_port(), **settings)
        async with running(app_settings, clock=VirtualClock(local(2026, 1, 5, 8, 0))) as app:
            await until(lambda a=app: _ready(a), 30, "ready")
            async with app.db.sessions() as s:
                account = await s.get(MatrixAccount, bot.user_id)
            device = app.adapters[0].client.device_id
        assert account.device_id == device and account.access_token.startswith("fernet:")
        assert "syt_" not in account.access_token
        if _ == 0:
            first_device = device
    assert device == first_device


async def test_an_invite_from_a_server_not_allowed_is_declined(synapse_server: Synapse, sqlite_url: str) -> None:
    bot = await synapse_server.register()
    async with bot_running(synapse_server, sqlite_url, bot, matrix_allowed_servers="gemeente.example") as app:
        anna = await synapse_server.register()
        room = await anna.create_room("Van elders", [bot.user_id])

        async def declined() -> bool:
            state = await anna.call("GET", f"/_matrix/client/v3/rooms/{room}/state/m.room.member/{bot.user_id}",
                                    ok=False)
            return state.get("membership") == "leave"

        await until(declined, 30, "the invite declined")
        async with app.db.sessions() as s:
            assert await s.scalar(select(func.count()).select_from(Network)) == 0


async def test_the_bot_kicked_from_a_room_takes_the_room_out_of_its_network(
        synapse_server: Synapse, sqlite_url: str) -> None:
    bot = await synapse_server.register()
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        anna, room = await network_room(synapse_server, app, bot)
        await anna.kick(room, bot.user_id)

        async def gone() -> bool:
            async with app.db.sessions() as s:
                return await s.scalar(select(func.count()).select_from(Chat)) == 0

        await until(gone, 30, "the room taken out of its network")
        async with app.db.sessions() as s:
            assert [m.active for m in await s.scalars(select(Member))] == [False]


async def test_a_display_name_changed_in_element_is_the_members_name_from_their_next_message(
        synapse_server: Synapse, sqlite_url: str) -> None:
    """Element changes a name with a new ``m.room.member`` event (membership ``join`` to ``join``);
    the bot's cached name must follow it, or the core keeps the old one for good."""
    bot = await synapse_server.register()
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        anna, room = await network_room(synapse_server, app, bot)
        await anna.say(room, "!status")  # the name is cached now
        await from_bot(anna, room, bot, 2, "the answer to !status")
        await anna.call("PUT", f"/_matrix/client/v3/profile/{anna.user_id}/displayname",
                        {"displayname": "Anna de Vries (gemeente)"})

        async def in_room() -> bool:  # Synapse updates the rooms after the profile, not at once
            return any(e["type"] == "m.room.member" and e["state_key"] == anna.user_id
                       and e["content"].get("displayname") == "Anna de Vries (gemeente)" for e in await anna.events(room))

        await until(in_room, 30, "the new name in the room")
        await anna.say(room, "!netwerk")

        async def renamed() -> bool:
            async with app.db.sessions() as s:
                return await s.scalar(select(Member.name).where(Member.user_id == anna.user_id)) \
                    == "Anna de Vries (gemeente)"

        await until(renamed, 30, "the new display name stored")
        shown = (await from_bot(anna, room, bot, 3, "the answer to !netwerk"))[-1]["content"]["body"]
        assert "Trekker: Anna de Vries (gemeente)" in shown


async def test_a_room_renamed_in_element_renames_its_network_and_a_name_removed_changes_nothing(
        synapse_server: Synapse, sqlite_url: str) -> None:
    """Element renames a room with a new ``m.room.name`` state event; one with an empty ``name`` (a
    name removed; Synapse refuses one without the key) is no title: the network keeps its name until a real one comes. The
    bot says nothing about it."""
    bot = await synapse_server.register()
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        anna, room = await network_room(synapse_server, app, bot)
        name_path = f"/_matrix/client/v3/rooms/{room}/state/m.room.name"
        await anna.call("PUT", name_path, {"name": ""})
        await anna.call("PUT", name_path, {"name": "🌿🌿"})
        await anna.say(room, "!netwerk")
        shown = (await from_bot(anna, room, bot, 2, "the answer to !netwerk"))[-1]["content"]["body"]
        assert "Netwerk Armoede" in shown
        await anna.call("PUT", name_path, {"name": "Armoede Venlo-Noord"})

        async def renamed() -> list[tuple[str, str]]:
            async with app.db.sessions() as s:
                return [(n, t) for n, t in await s.execute(select(Network.name, Chat.title).join(
                    Chat, Chat.network_id == Network.id))]

        await until(lambda: _is(renamed, [("Armoede Venlo-Noord", "Armoede Venlo-Noord")]), 30, "the network renamed")
        await anna.say(room, "!status")
        shown = (await from_bot(anna, room, bot, 3, "the answer to !status"))[-1]["content"]["body"]
        assert "Armoede Venlo-Noord" in shown
        assert len(await from_bot(anna, room, bot, 3)) == 3  # the renames themselves: not a word


async def _is(read: Any, expected: Any) -> bool:
    return await read() == expected


async def _upgrade(member: User, room: str) -> str:
    """What Element's "Upgrade this room" does: ``POST /rooms/{room}/upgrade`` (the old room gets
    an ``m.room.tombstone`` naming the new one); returns the new room."""
    return (await member.call("POST", f"/_matrix/client/v3/rooms/{room}/upgrade", {"new_version": "11"}))[
        "replacement_room"]


async def _chat_ids(app: App) -> list[str]:
    async with app.db.sessions() as s:
        return list(await s.scalars(select(Chat.chat_id)))


async def test_a_room_upgrade_moves_the_network_to_the_new_room(synapse_server: Synapse, sqlite_url: str,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """An invite-only room upgraded in Element: the bot cannot join the new room on the tombstone
    alone; Element's "invite members" brings the invite. The network (not a second one) goes on
    there, without a second welcome, and the bot leaves the old room."""
    caplog.set_level("DEBUG")
    bot = await synapse_server.register()
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        anna, room = await network_room(synapse_server, app, bot)
        new = await _upgrade(anna, room)
        await anna.invite(new, bot.user_id)

        async def moved() -> bool:
            return await _chat_ids(app) == [new]

        await until(moved, 30, "the network's chat moved to the new room")
        await anna.say(new, "!status")
        answer = (await from_bot(anna, new, bot, what="the answer to !status in the new room"))[-1]["content"]
        assert "Netwerk Armoede" in answer["body"]
        assert len(await from_bot(anna, new, bot)) == 1  # no second welcome
        async with app.db.sessions() as s:
            assert await s.scalar(select(func.count()).select_from(Network)) == 1
            assert [(m.user_id, m.role, m.active) for m in await s.scalars(select(Member))] \
                == [(anna.user_id, "trekker", True)]

        async def left_old() -> bool:
            state = await anna.call("GET", f"/_matrix/client/v3/rooms/{room}/state/m.room.member/{bot.user_id}")
            return state.get("membership") == "leave"

        await until(left_old, 30, "the bot to leave the old room")
    logged = "\n".join(r.getMessage() for r in caplog.records)  # the move is logged without names or rooms
    assert "the network moves to the new room" in logged  # the log was heard
    assert [n for n in ("Netwerk Armoede", anna.user_id, room, new) if n in logged] == []


async def test_a_public_room_upgrade_is_followed_on_the_tombstone(synapse_server: Synapse, sqlite_url: str) -> None:
    bot = await synapse_server.register()
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        anna = await synapse_server.register(displayname="Anna de Vries")
        room = (await anna.call("POST", "/_matrix/client/v3/createRoom", {
            "name": "Open netwerk", "preset": "public_chat", "invite": [bot.user_id]}))["room_id"]
        await from_bot(anna, room, bot, what="the welcome")
        new = await _upgrade(anna, room)

        async def moved() -> bool:
            return await _chat_ids(app) == [new]

        await until(moved, 30, "the network's chat moved to the new room")


async def test_a_room_that_claims_another_as_its_predecessor_does_not_take_its_network(
        synapse_server: Synapse, sqlite_url: str) -> None:
    """``predecessor`` in a create event is whatever its creator wrote: only an old room whose
    tombstone names the new room moves."""
    bot = await synapse_server.register()
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        anna, room = await network_room(synapse_server, app, bot)
        eve = await synapse_server.register(displayname="Eve")
        forged = (await eve.call("POST", "/_matrix/client/v3/createRoom", {
            "name": "Niet van Anna", "preset": "private_chat", "invite": [bot.user_id],
            "creation_content": {"predecessor": {"room_id": room}}}))["room_id"]
        await from_bot(eve, forged, bot, what="the welcome in a network of its own")
        assert sorted(await _chat_ids(app)) == sorted([room, forged])


async def test_an_encrypted_direct_room_is_kept_for_the_bots_messages_with_one_word_that_it_cannot_read(
        synapse_server: Synapse, sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A direct room is encrypted when the homeserver encrypts every private room (then the rooms
    the bot opens are too, and leaving would only bring a new invite) or the member's client made
    it so. The bot stays: its private messages arrive there; it says once that it cannot read it."""
    caplog.set_level("DEBUG")
    bot = await synapse_server.register()
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        anna, room = await network_room(synapse_server, app, bot)
        dewi = await synapse_server.register(displayname="Dewi Santoso")
        direct = await dewi.create_room("", [bot.user_id], encrypted=True, direct=True)
        notice = (await from_bot(dewi, direct, bot, what="the word about encryption"))[0]["content"]["body"]
        assert "kan niet lezen wat je hier schrijft" in notice and "cannot read what you write here" in notice
        await dewi.send(direct, {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEn…", "device_id": "X",
                                 "sender_key": "k", "session_id": "s"}, "m.room.encrypted")
        await anna.invite(room, dewi.user_id)
        await dewi.join(room)
        briefing = (await from_bot(dewi, direct, bot, 2, "the newcomer briefing in her direct room"))[-1]
        assert "Netwerk Armoede" in briefing["content"]["body"]
        assert len(await from_bot(dewi, direct, bot)) == 2  # the word once, then the briefing
        assert await dewi.invites() == {}  # no second direct room
        state = await dewi.call("GET", f"/_matrix/client/v3/rooms/{direct}/state/m.room.member/{bot.user_id}")
        assert state["membership"] == "join"
        async with app.db.sessions() as s:
            assert await s.scalar(select(MatrixRoom.room_id).where(MatrixRoom.direct_with == dewi.user_id)) == direct
    logged = "\n".join(r.getMessage() for r in caplog.records)  # who is in the encrypted room stays out of the log
    assert [n for n in ("Dewi", dewi.user_id, "AwgAEn", direct) if n in logged] == []


async def test_the_bot_banned_from_a_room_takes_the_room_out_of_its_network(
        synapse_server: Synapse, sqlite_url: str) -> None:
    bot = await synapse_server.register()
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        anna, room = await network_room(synapse_server, app, bot)
        await anna.call("POST", f"/_matrix/client/v3/rooms/{room}/ban", {"user_id": bot.user_id})

        async def gone() -> bool:
            return await _chat_ids(app) == []

        await until(gone, 30, "the room taken out of its network")
        async with app.db.sessions() as s:
            assert [m.active for m in await s.scalars(select(Member))] == [False]


async def test_an_upgraded_direct_room_stays_the_members_direct_room(synapse_server: Synapse, sqlite_url: str) -> None:
    """The invite to the new room of an upgraded direct room carries no ``is_direct``: without
    following the upgrade, the bot would make it a network."""
    bot = await synapse_server.register()
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        dewi = await synapse_server.register(displayname="Dewi Santoso")
        direct = await dewi.create_room("", [bot.user_id], direct=True)

        async def kept(room: str) -> Any:
            async def check() -> bool:
                async with app.db.sessions() as s:
                    return list(await s.scalars(select(MatrixRoom.room_id).where(
                        MatrixRoom.direct_with == dewi.user_id))) == [room]
            return check

        await until(await kept(direct), 30, "the direct room kept")
        new = await _upgrade(dewi, direct)
        await dewi.invite(new, bot.user_id)
        await until(await kept(new), 30, "the new room kept as her direct room")
        await dewi.say(new, "mijngegevens")
        await from_bot(dewi, new, bot, what="the answer in the new direct room")
        async with app.db.sessions() as s:
            assert await s.scalar(select(func.count()).select_from(Network)) == 0


async def test_a_direct_room_of_a_person_in_no_network_for_the_grace_period_is_left_and_met_anew(
        synapse_server: Synapse, sqlite_url: str) -> None:
    """The hourly housekeeping forgets (and leaves) a person's direct room once they have been an
    active member of no network on Matrix for :data:`PERSON_KEEP` (30 days) and did not write there
    for as long: kept a day before, kept after they wrote, gone a day after. Back in a network,
    the bot opens a new direct room as on first contact."""
    from adapters.matrix.store import PERSON_KEEP

    bot = await synapse_server.register()
    async with bot_running(synapse_server, sqlite_url, bot) as app:
        adapter = app.adapters[0]
        anna, room = await network_room(synapse_server, app, bot)
        dewi = await synapse_server.register(displayname="Dewi Santoso")
        await anna.invite(room, dewi.user_id)
        await dewi.join(room)
        (direct, _), = (await until(dewi.invites, 30, "the bot's invite to a direct room")).items()
        await dewi.join(direct)
        await from_bot(dewi, direct, bot, what="the newcomer briefing")
        await dewi.leave(room)

        async def left() -> bool:
            async with app.db.sessions() as s:
                return await s.scalar(select(Member.active).where(Member.user_id == dewi.user_id)) is False
        await until(left, 30, "Dewi out of the network")

        async def rooms() -> list[str]:
            async with app.db.sessions() as s:
                return list(await s.scalars(select(MatrixRoom.room_id).where(MatrixRoom.direct_with == dewi.user_id)))

        async def recorded_long_ago() -> None:
            async with app.db.transaction() as s:
                await s.execute(update(MatrixRoom).values(created_at=datetime.now(UTC) - PERSON_KEEP - timedelta(days=1)))

        await recorded_long_ago()
        app.clock.advance(PERSON_KEEP - timedelta(days=1))
        await adapter.housekeeping()
        assert await rooms() == [direct]
        await dewi.say(direct, "!help")  # she still uses it
        await from_bot(dewi, direct, bot, 2, "the answer in the direct room")
        app.clock.advance(timedelta(days=2))
        await adapter.housekeeping()
        assert await rooms() == [direct]
        await recorded_long_ago()
        await adapter.housekeeping()
        assert await rooms() == []
        assert dewi.user_id not in await bot.account_data("m.direct")
        joined = await bot.call("GET", "/_matrix/client/v3/joined_rooms")
        assert direct not in joined["joined_rooms"] and room in joined["joined_rooms"]
        await anna.invite(room, dewi.user_id)  # back: met again as the first time
        await dewi.join(room)
        (again, _), = (await until(dewi.invites, 30, "a new invite to a direct room")).items()
        assert again != direct
        await dewi.join(again)
        await from_bot(dewi, again, bot, what="the newcomer briefing in the new direct room")
        assert await rooms() == [again]
