"""Where each identity is: a person who leaves one of several chats of a network stays a member
(and keeps their identity) while they are still in another chat of it."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func, select

from adapters.console.harness import Harness
from bot.events import BotRemoved, ChatRef
from bot.markup import plain
from bot.models import Chat, ChatPresence, Job, Member, Nudge
from tests.conftest import NETWORK, local
from tests.test_link import run_scenario

HEAD = """
network: {name: "Netwerk Twee TG", language: nl, timezone: Europe/Amsterdam, intention: "Samen leren."}
start: "2026-01-05T08:00"
"""


def statuses(out: list[dict]) -> list[str]:
    return [line["text"] for line in out if line["kind"] == "status"]


def sizes(out: list[dict]) -> list[int]:
    """The group size of each /status."""
    return [int(re.search(r"Groep: (\d+) leden", text)[1]) for text in statuses(out)]


def reminded(out: list[dict]) -> set[str]:
    return {line["to"] for line in out if line["kind"] == "reminder"}


def test_one_account_leaving_one_of_two_chats_on_a_platform_stays_in_the_network(tmp_path: Path) -> None:
    path = tmp_path / "same2.yaml"
    path.write_text(HEAD + """
chats:
  - {id: tg1, platform: telegram, title: "Groep Noord"}
  - {id: tg2, platform: telegram, title: "Groep Zuid"}
  - {id: sl, platform: slack, title: "Slack"}
members:
  - {id: anna, name: "Anna de Vries", role: trekker, chats: [tg1, tg2]}
  - {id: bram, name: "Bram Peters", role: procesbegeleider, chats: [tg1]}
  - {id: dewi, name: "Dewi Santoso", chats: [tg1, tg2]}
  - {id: eva, name: "Eva Bakker", chats: [tg2]}
  - {id: fien, name: "Fien Smit", chats: [sl, tg2]}
steps:
  - {at: "2026-01-05T09:00", from: anna, text: "/status"}
  - {at: "2026-01-05T09:10", chat: tg2, leave: dewi}
  - {at: "2026-01-05T09:20", from: anna, text: "/status"}
  - {at: "2026-01-06T11:05", from: fien, chat: sl, reply_to: nudge, text: "Ik ook."}
  - {at: "2026-01-07T09:20", from: anna, text: "/status"}
  - {at: "2026-01-07T10:00", chat: tg1, leave: dewi}
  - {at: "2026-01-07T10:10", from: anna, text: "/status"}
  - {until: "2026-01-09T00:00"}
""", encoding="utf-8")
    out = run_scenario(path)
    assert sizes(out) == [5, 5, 5, 4]
    assert "06-01: 1 van 5" in statuses(out)[2]
    # Dewi is still in Noord until she leaves it too; the reminder comes after that (she is gone)
    assert reminded(out) == {"dm:anna", "dm:bram", "dm:eva"}


def test_still_in_noord_dewi_gets_the_reminder(tmp_path: Path) -> None:
    path = tmp_path / "same2b.yaml"
    path.write_text(HEAD + """
chats:
  - {id: tg1, platform: telegram, title: "Groep Noord"}
  - {id: tg2, platform: telegram, title: "Groep Zuid"}
members:
  - {id: anna, name: "Anna de Vries", role: trekker, chats: [tg1, tg2]}
  - {id: dewi, name: "Dewi Santoso", chats: [tg1, tg2]}
  - {id: eva, name: "Eva Bakker", chats: [tg2]}
steps:
  - {at: "2026-01-05T09:10", chat: tg2, leave: dewi}
  - {at: "2026-01-05T09:11", chat: tg2, leave: eva}
  - {until: "2026-01-09T00:00"}
""", encoding="utf-8")
    assert reminded(run_scenario(path)) == {"dm:anna", "dm:dewi"}  # Eva was only in Zuid


def test_a_linked_person_leaving_one_of_two_chats_on_a_platform_stays_one_member(tmp_path: Path) -> None:
    path = tmp_path / "same3.yaml"
    path.write_text(HEAD + """
chats:
  - {id: sl, platform: slack, title: "Slack"}
  - {id: tg1, platform: telegram, title: "Groep Noord"}
  - {id: tg2, platform: telegram, title: "Groep Zuid"}
members:
  - {id: anna, name: "Anna de Vries", role: trekker, chats: [sl]}
  - {id: bram, name: "Bram Peters", role: procesbegeleider, chats: [sl]}
  - {id: eva, name: "Eva Bakker", chats: [tg2]}
  - {id: fien, name: "Fien Smit", chats: [sl, tg1, tg2]}
steps:
  - {at: "2026-01-05T09:00", from: anna, text: "/status"}
  - {at: "2026-01-05T09:11", chat: tg2, leave: fien}
  - {at: "2026-01-06T11:05", from: fien, chat: tg1, reply_to: nudge, text: "Ik ben er nog, in Noord."}
  - {at: "2026-01-07T09:20", from: anna, text: "/status"}
  - {at: "2026-01-07T09:22", from: fien, chat: sl, text: "/mijngegevens", private: true}
  - {until: "2026-01-09T00:00"}
""", encoding="utf-8")
    out = run_scenario(path)
    assert sizes(out) == [4, 4]
    assert "06-01: 1 van 4" in statuses(out)[-1]
    (export,) = [line for line in out if line["to"] == "dm:fien" and line["kind"] == "privacy"]
    assert "antwoorden op de weekvraag: 1" in export["text"]  # her Slack account sees her Noord answer
    assert reminded(out) == {"dm:anna", "dm:bram", "dm:eva"}  # Fien answered in Noord: no reminder


async def presence(h: Harness) -> set[tuple[str, str]]:
    """(chat key, user id) of every presence row."""
    async with h.db.transaction() as session:
        found = await session.execute(select(Chat.platform, Chat.chat_id, ChatPresence.user_id)
                                      .join(Chat, Chat.id == ChatPresence.chat_id))
        return {(h.chat_key(ChatRef(p, c)), u) for p, c, u in found}


async def test_a_join_and_a_message_record_presence_and_vergeetmij_removes_it(database_url: str) -> None:
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [{"id": "anna", "name": "Anna de Vries", "role": "trekker", "chats": ["noord"]},
                                  {"id": "dewi", "name": "Dewi Santoso", "chats": ["noord", "zuid"]}],
                  chats=[{"id": "noord", "platform": "telegram", "title": "Noord"},
                         {"id": "zuid", "platform": "telegram", "title": "Zuid"}])
    await h.join("eva", "Eva Bakker", chat="zuid")
    await h.say("anna", "hoi", chat="zuid")
    assert await presence(h) == {("noord", "anna"), ("zuid", "anna"), ("noord", "dewi"), ("zuid", "dewi"),
                                 ("zuid", "eva")}
    await h.leave("eva", chat="zuid")
    await h.say("dewi", "/vergeetmij ja")
    assert await presence(h) == {("noord", "anna"), ("zuid", "anna")}
    await h.say("anna", "/koppel los 2")
    assert await presence(h) == {("noord", "anna")}
    await h.close()


async def three_chats(database_url: str) -> Harness:
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [{"id": "anna", "name": "Anna de Vries", "role": "trekker", "chats": ["noord"]},
                                  {"id": "dewi", "name": "Dewi Santoso", "chats": ["noord", "zuid"]},
                                  {"id": "eva", "name": "Eva Bakker", "chats": ["zuid"]},
                                  {"id": "fien", "name": "Fien Smit", "chats": ["zuid", "slack"]}],
                  chats=[{"id": "noord", "platform": "telegram", "title": "Noord"},
                         {"id": "zuid", "platform": "telegram", "title": "Zuid"},
                         {"id": "slack", "platform": "slack", "title": "Slack"}])
    return h


async def test_a_chat_that_removed_the_bot_leaves_the_network_with_its_own_members(database_url: str) -> None:
    h = await three_chats(database_url)
    before = len(h.recorder.sent)
    await h._handle(BotRemoved(h.chats["zuid"]))
    (told,) = h.recorder.sent[before:]
    assert told.to == "dm:anna" and "Ik ben uit de chat Zuid gehaald" in plain(told.text)
    async with h.db.transaction() as session:
        assert set(await session.scalars(select(Chat.title))) == {"Noord", "Slack"}
        active = {m.user_id for m in await session.scalars(select(Member)) if m.active}
    assert active == {"anna", "dewi", "fien"}  # Eva was only in Zuid; Fien is in Slack too
    await h.say("anna", "/status")
    assert "3 leden" in plain(h.recorder.sent[-1].text)
    await h.advance(local(2026, 1, 9, 0, 0))
    assert not [s for s in h.recorder.sent if s.chat == "zuid" or s.to == "dm:eva"]
    assert {s.to for s in h.recorder.sent if s.kind == "reminder"} == {"dm:anna", "dm:dewi", "dm:fien"}
    await h.close()


async def test_a_network_whose_only_chat_removed_the_bot_goes_quiet(database_url: str) -> None:
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [{"id": "anna", "name": "Anna de Vries", "role": "trekker"},
                                  {"id": "dewi", "name": "Dewi Santoso"}])
    await h._handle(BotRemoved(h.chat))
    await h.advance(local(2026, 1, 20, 0, 0))
    assert h.recorder.sent == []
    async with h.db.transaction() as session:
        assert [m.active for m in await session.scalars(select(Member))] == [False, False]
        # its jobs ran without failing: the weekly question asks nobody and plans no next week
        assert list(await session.scalars(select(Job.kind).where(Job.state == "failed"))) == []
        assert list(await session.scalars(select(Job.kind).where(Job.state == "pending", Job.kind == "nudge"))) == []
        assert await session.scalar(select(func.count()).select_from(Nudge)) == 0
    await h.close()
