"""A chat renamed on its platform (``ChatRenamed``): the network's name follows the chat it was
named after until the trekker chooses a name; the bot says nothing — through the real core, plus
the simulator's ``rename`` step and migration 0026's backfill."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from adapters.console import simulate
from adapters.console.harness import Harness
from bot.database import create_engine, upgrade
from bot.directory import MAX_NAME
from bot.events import BotRemoved, ChatRef, ChatRenamed
from bot.markup import plain
from bot.models import Chat, Network
from tests.conftest import MEMBERS, NETWORK, local
from tests.test_link import TEAMS_PEOPLE, link_buurt
from tests.test_migrations import _row, empty_url  # noqa: F401 - a fixture
from tests.test_rhythm import rows


async def names(h: Harness) -> list[str]:
    return [n.name for n in await rows(h, Network, order=Network.id)]


async def titles(h: Harness) -> list[str]:
    return [c.title for c in await rows(h, Chat, order=Chat.id)]


async def test_a_renamed_chat_renames_its_network_and_the_bot_says_nothing(harness: Harness) -> None:
    assert await names(harness) == [NETWORK["name"]]
    before = len(harness.recorder.sent)
    await harness.rename("Armoede Venlo-Noord")
    assert harness.recorder.sent[before:] == []  # calm: nothing in the group, nothing privately
    assert await names(harness) == ["Armoede Venlo-Noord"]
    assert await titles(harness) == ["Armoede Venlo-Noord"]
    await harness.say("cem", "/netwerk")
    assert "Armoede Venlo-Noord" in plain(harness.recorder.sent[-1].text)
    await harness.say("cem", "/status")
    assert "Armoede Venlo-Noord" in plain(harness.recorder.sent[-1].text)
    await harness.rename("  Armoede \n Venlo-Zuid  ")  # as one line, without the white space around it
    assert await names(harness) == ["Armoede Venlo-Zuid"]


async def test_a_name_the_trekker_chose_stays_when_the_chat_is_renamed(harness: Harness) -> None:
    await harness.say("anna", "/netwerk naam Netwerk Armoede")
    before = len(harness.recorder.sent)
    await harness.rename("Groepsapp armoede 2026")
    assert harness.recorder.sent[before:] == []
    assert await names(harness) == ["Netwerk Armoede"]
    assert await titles(harness) == ["Groepsapp armoede 2026"]  # the chat's own title is kept current
    await harness.rename("Netwerk Armoede")
    await harness.rename("Iets anders")
    assert await names(harness) == ["Netwerk Armoede"]  # chosen once is chosen: no following again


@pytest.mark.parametrize("title", ["", "   ", "🌱🌱🌱", "🎉 — !!", "\u200b"])
async def test_an_empty_or_emoji_only_title_changes_nothing(harness: Harness, title: str) -> None:
    await harness.rename(title)
    assert await names(harness) == [NETWORK["name"]]
    assert await titles(harness) == [NETWORK["name"]]
    assert [s for s in harness.recorder.sent if s.kind == "error"] == []


async def test_a_long_title_gives_a_name_of_at_most_max_name_characters(harness: Harness) -> None:
    await harness.rename("Buurt " + "x" * 400)
    (network,) = await rows(harness, Network)
    assert network.name == ("Buurt " + "x" * 400)[:MAX_NAME] and len(network.name) == MAX_NAME
    (chat,) = await rows(harness, Chat)
    assert len(chat.title) == 200


async def test_a_title_with_emoji_and_words_is_taken_as_it_is(harness: Harness) -> None:
    await harness.rename("🌱 Groeigroep Venlo")
    assert await names(harness) == ["🌱 Groeigroep Venlo"]


async def test_in_a_network_of_several_chats_only_the_chat_it_was_named_after_renames_it(
        sqlite_url: str) -> None:
    h = await Harness.open(sqlite_url, local(2026, 1, 5, 8, 0))
    await h.setup({"name": "Armoede professionals"}, [dict(m, chats=["teams", "buurt"]) for m in MEMBERS[:2]],
                  chats=[{"id": "teams", "platform": "teams", "title": "Armoede professionals"},
                         {"id": "buurt", "platform": "telegram", "title": "Buurtgroep"}])
    await h.rename("Buurtgroep Oost", chat="buurt")
    assert await names(h) == ["Armoede professionals"]
    assert await titles(h) == ["Armoede professionals", "Buurtgroep Oost"]
    await h.rename("Armoede Venlo", chat="teams")
    assert await names(h) == ["Armoede Venlo"]
    await h.say("anna", "/koppel", chat="buurt")  # the chat list shows the titles as they are now
    listing = plain(h.recorder.sent[-1].text)
    assert "Armoede Venlo (Teams)" in listing and "Buurtgroep Oost (Telegram)" in listing
    # the chat it was named after leaves: its name stays, and the other chat does not rename it
    await h._handle(BotRemoved(h.chats["teams"]))
    await h.rename("Buurtgroep West", chat="buurt")
    assert await names(h) == ["Armoede Venlo"] and await titles(h) == ["Buurtgroep West"]
    await h.close()


async def test_a_chat_linked_to_a_network_does_not_rename_it_and_once_unlinked_renames_its_own(
        database_url: str) -> None:
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup({"name": "Armoede (professionals)"}, [dict(m, chats=["teams"]) for m in TEAMS_PEOPLE],
                  chats=[{"id": "teams", "platform": "teams", "title": "Armoede (professionals)"}])
    h.add_chat("buurt", "telegram", "Buurtgroep")
    h.names["anna-tg"], h.member_chats["anna-tg"] = "Anna de Vries", ["buurt"]
    await h.say("anna-tg", "/help")  # the bot meets the group: a network of its own, Anna its trekker
    await link_buurt(h)  # /koppel: the buurt's own network is gone, its chat in Anna's
    await h.rename("Buurtgroep Oost", chat="buurt")
    assert await names(h) == ["Armoede (professionals)"]
    await h.say("anna", "/koppel los 2")
    assert await names(h) == ["Armoede (professionals)", "Buurtgroep Oost"]
    await h.rename("Buurtgroep Noord", chat="buurt")  # its own network now, named after it
    assert await names(h) == ["Armoede (professionals)", "Buurtgroep Noord"]
    await h.rename("Professionals Venlo", chat="teams")
    assert await names(h) == ["Professionals Venlo", "Buurtgroep Noord"]
    await h.close()


async def test_a_chat_of_no_network_or_a_private_chat_renamed_makes_nothing(harness: Harness) -> None:
    await harness._handle(ChatRenamed(ChatRef(harness.chat.platform, "unknown-group", "Nieuw"), "Nieuw"))
    await harness._handle(ChatRenamed(ChatRef(harness.chat.platform, "dm-anna", "", private=True), "Anna"))
    assert await names(harness) == [NETWORK["name"]]
    assert [c.chat_id for c in await rows(harness, Chat)] == [harness.chat.chat_id]


# ---------------------------------------------------------------------------- simulate
SCENARIO = """
network: {name: "Lerend netwerk Venlo"}
members:
  - {id: anna, name: "Anna de Vries", role: trekker}
  - {id: cem, name: "Cem Yilmaz"}
start: "2026-01-05T08:00"
steps:
  - {at: "2026-01-05T09:00", rename: "Armoede Venlo-Noord"}
  - {at: "2026-01-05T09:05", from: cem, text: "/netwerk"}
"""


async def test_a_scenario_renames_the_chat_and_the_network_follows(sqlite_url: str) -> None:
    out = io.StringIO()
    await simulate.run(simulate.load(SCENARIO), database_url=sqlite_url, out=out)
    (shown,) = [json.loads(line) for line in out.getvalue().splitlines()]  # the rename itself says nothing
    assert shown["kind"] == "status" and "Armoede Venlo-Noord" in shown["text"]


async def test_a_scenario_rename_without_a_title_names_the_step(sqlite_url: str) -> None:
    body = SCENARIO.replace('rename: "Armoede Venlo-Noord"', "rename: {title: x}")
    with pytest.raises(simulate.ScenarioError, match=r"step 1 \(line 8\): rename needs the chat's new title"):
        await simulate.run(simulate.load(body), database_url=sqlite_url, out=io.StringIO())


# ---------------------------------------------------------------------------- 0026
async def test_0026_lets_only_a_network_still_named_after_its_first_chat_follow_it(empty_url: str) -> None:  # noqa: F811
    """Noord is named after its first chat; Zuid's trekker chose a name; the third one's chat had
    no title (so it is "Lerend netwerk"); West's first chat left: its name came from that chat, not
    from the one it still has."""
    now = datetime(2026, 1, 5, 9, tzinfo=UTC)
    engine = create_engine(empty_url)
    try:
        await upgrade(engine, "0025_teams_blocked")
        async with engine.begin() as conn:
            net, first = {}, {}
            for name, titles_ in (("Noord", ["Noord"]), ("Zuid", ["Groepsapp Zuid"]), ("Lerend netwerk", [""]),
                                  ("West", ["West", "Buurt West"])):
                net[name] = await _row(
                    conn, "INSERT INTO networks (name, intention, ambition, language, timezone, quiet_start, "
                    "quiet_end, quiet_weekends, nudge_weekday, nudge_time, reminder_hours, goal_weeks, intention_weeks, "
                    "theme, theme_month, group_goal, nudge_count, created_at) VALUES (:name, '', '', 'nl', "
                    "'Europe/Amsterdam', '22:00', '07:00', :yes, 1, '10:00', 48, 4, 6, '', '', '', 0, :created_at)",
                    name=name, yes=True, created_at=now)
                chats = [await _row(conn, "INSERT INTO chats (network_id, platform, chat_id, title) "
                                          "VALUES (:n, 'telegram', :c, :t)", n=net[name], c=f"{name}-{n}", t=title)
                         for n, title in enumerate(titles_)]
                first[name] = chats[0]
            await conn.execute(text("DELETE FROM chats WHERE id = :id"), {"id": first["West"]})
        await upgrade(engine)
        async with engine.connect() as conn:
            followed = dict((await conn.execute(text("SELECT name, name_chat_id FROM networks"))).all())
        assert followed == {"Noord": first["Noord"], "Zuid": None, "Lerend netwerk": first["Lerend netwerk"],
                            "West": None}
    finally:
        await engine.dispose()
