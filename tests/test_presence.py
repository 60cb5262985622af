"""Where each identity is: a person who leaves one of several chats of a network stays a member
(and keeps their identity) while they are still in another chat of it."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from adapters.console.harness import Harness
from bot.core import store_outgoing
from bot.events import Address, BotAdded, BotRemoved, ChatMoved, ChatRef, MessageIn, Outgoing
from bot.markup import plain
from bot.models import Chat, ChatPresence, Job, LinkCode, Member, Network, Nudge, OutboxMessage
from bot.registry import Feature
from tests.conftest import NETWORK, local, two_replicas, waiting_for_a_lock
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
    """Nothing more goes out, except one private note to its trekker (what happened, and how to
    bring the chat back)."""
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [{"id": "anna", "name": "Anna de Vries", "role": "trekker"},
                                  {"id": "dewi", "name": "Dewi Santoso"}])
    await h._handle(BotRemoved(h.chat))
    await h.advance(local(2026, 1, 20, 0, 0))
    (told,) = h.recorder.sent
    assert (told.to, told.kind) == ("dm:anna", "link")
    assert "Je zat alleen in die chat" in plain(told.text) and "Lerend netwerk Test" in plain(told.text)
    async with h.db.transaction() as session:
        assert [m.active for m in await session.scalars(select(Member))] == [False, False]
        # its jobs ran without failing: the weekly question asks nobody, and the next week's stays
        # planned (the trekker's code can bring the chat back)
        assert list(await session.scalars(select(Job.kind).where(Job.state == "failed"))) == []
        assert await session.scalar(select(func.count()).select_from(Nudge)) == 0
        (due,) = await session.scalars(select(Job.due_at).where(Job.state == "pending", Job.kind == "nudge"))
        assert due > local(2026, 1, 20, 0, 0)
    await h.close()


async def test_the_code_in_the_note_brings_the_only_chat_back_into_its_network(database_url: str) -> None:
    """Within a day the trekker adds the bot again (a fresh network for the chat) and types the
    command from her note: the chat, and she as its trekker, are back in the old network."""
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [{"id": "anna", "name": "Anna de Vries", "role": "trekker"},
                                  {"id": "dewi", "name": "Dewi Santoso"}])
    await h._handle(BotRemoved(h.chat))
    (told,) = h.recorder.sent
    async with h.db.transaction() as session:
        (network,) = await session.scalars(select(Network))
    await h.advance(local(2026, 1, 5, 20, 0))
    await h._handle(BotAdded(h.chat, h.person("anna")))
    await h.say("anna", f"/koppel {come_back_code(told.text)}")
    assert "hoort nu bij *Lerend netwerk Test*" in h.recorder.sent[-1].text
    async with h.db.transaction() as session:
        assert [c.network_id for c in await session.scalars(select(Chat))] == [network.id]
        roles = {(m.user_id, m.network_id): (m.role, m.active) for m in await session.scalars(select(Member))}
    assert roles == {("anna", network.id): ("trekker", True), ("dewi", network.id): ("deelnemer", False)}
    h.recorder.sent.clear()  # the network's rhythm goes on in the chat that came back
    await h.advance(local(2026, 1, 6, 12, 0))
    assert [m.kind for m in h.recorder.sent if m.to == "group"] == ["nudge"]
    await h.close()


async def test_an_expired_code_from_the_note_gets_its_own_lead_a_new_one_privately(database_url: str) -> None:
    """Anna types the command from her note two days later: the code expired, and she can no longer
    ask for one with /koppel (she is not in the network any more), so she gets a new one privately;
    it brings the chat back. Dewi typing the expired code only hears that it expired."""
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [{"id": "anna", "name": "Anna de Vries", "role": "trekker"},
                                  {"id": "dewi", "name": "Dewi Santoso"}])
    await h._handle(BotRemoved(h.chat))
    (told,) = h.recorder.sent
    old = come_back_code(told.text)
    async with h.db.transaction() as session:
        (network,) = await session.scalars(select(Network))
        codes = await session.scalar(select(func.count(LinkCode.id)))
    await h.advance(local(2026, 1, 7, 10, 0))
    await h._handle(BotAdded(h.chat, h.person("anna")))
    await h.say("dewi", "/rol")  # Dewi is a member of the chat's new network too
    h.recorder.sent.clear()
    await h.say("anna", f"/koppel {old}")
    note, answer = sorted(h.recorder.sent, key=lambda m: m.to)  # dm:anna, group
    assert (note.to, note.kind) == ("dm:anna", "link")
    assert plain(answer.text) == "Die code is verlopen: een code is 24 uur geldig. Ik heb je privé een nieuwe gestuurd."
    fresh = come_back_code(note.text)
    assert fresh != old and "Je koppelcode voor Lerend netwerk Test was verlopen" in plain(note.text)
    assert f"Typ in de chat die weer bij dit netwerk moet horen: /koppel {fresh}." in plain(note.text)
    assert plain(note.text).count("Lerend netwerk Test") == 1  # the network named once
    async with h.db.transaction() as session:  # one new code, of the old network, for Anna's old membership
        rows = list(await session.scalars(select(LinkCode).order_by(LinkCode.id)))
        assert len(rows) == codes + 1 and rows[-1].network_id == network.id and rows[-1].used_at is None
        assert [c.network_id for c in await session.scalars(select(Chat))] != [network.id]
    await h.say("anna", "/rol Dewi Santoso trekker")
    h.recorder.sent.clear()
    await h.say("dewi", f"/koppel {old}")  # not hers: expired, nothing made
    assert [plain(m.text) for m in h.recorder.sent] == [
        "Die code is verlopen: een code is 24 uur geldig. Vraag een nieuwe met /koppel."]
    await h.say("anna", f"/koppel {fresh}")
    assert "hoort nu bij *Lerend netwerk Test*" in h.recorder.sent[-1].text
    async with h.db.transaction() as session:
        assert [c.network_id for c in await session.scalars(select(Chat))] == [network.id]
        assert await session.scalar(select(func.count(LinkCode.id))) == codes + 1
    await h.close()


#: the command a lead's note says to type in the removed chat (as typed on its platform)
COME_BACK = re.compile(r"(?:koppel|link) ([A-Z0-9]{4}-[A-Z0-9]{4})")


def come_back_code(text: str) -> str:
    """The link code in a lead's note about a removed chat."""
    found = COME_BACK.search(plain(text))
    assert found, text
    return found[1]


async def roles_and_presence(h: Harness) -> dict[str, tuple[str, bool]]:
    """user id → (role, active) of every member."""
    async with h.db.transaction() as session:
        return {m.user_id: (m.role, m.active) for m in await session.scalars(select(Member))}


async def test_a_trekker_only_in_the_removed_chat_hears_how_to_come_back_and_the_facilitator_may_give_the_role(
        database_url: str) -> None:
    """Anna (the only trekker) was only in Noord. When Noord removes the bot she hears privately
    what happened and which command brings the chat back, typed as on Telegram; Bram, the
    procesbegeleider who stays, hears privately that the network has no trekker and how to give
    the role, which he now may (only while there is no trekker). Nothing in a group, nothing to
    the others."""
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [{"id": "anna", "name": "Anna de Vries", "role": "trekker", "chats": ["noord"]},
                                  {"id": "bram", "name": "Bram Peters", "role": "procesbegeleider",
                                   "chats": ["slack"]},
                                  {"id": "dewi", "name": "Dewi Santoso", "chats": ["noord", "slack"]},
                                  {"id": "eva", "name": "Eva Bakker", "chats": ["noord"]}],
                  chats=[{"id": "noord", "platform": "telegram", "title": "Noord"},
                         {"id": "slack", "platform": "slack", "title": "Slack"}])
    await h._handle(BotRemoved(h.chats["noord"]))
    anna, bram = sorted(h.recorder.sent, key=lambda m: m.to)  # two private notes: their order is delivery's
    assert (anna.to, anna.kind, bram.to, bram.kind) == ("dm:anna", "link", "dm:bram", "link")
    assert plain(anna.text).startswith("Ik ben uit de chat Noord gehaald. Die chat hoort nu niet meer bij "
                                       "Lerend netwerk Test. Je zat alleen in die chat.")
    assert f"typ daar /koppel {come_back_code(anna.text)}." in plain(anna.text)
    assert "geen trekker" not in plain(anna.text)  # Bram is there to see to that
    assert "heeft het netwerk geen trekker meer" in plain(bram.text)
    assert "Typ dan /bamboe rol Bram Peters trekker." in plain(bram.text)  # as typed in Slack
    assert await roles_and_presence(h) == {"anna": ("trekker", False), "bram": ("procesbegeleider", True),
                                           "dewi": ("deelnemer", True), "eva": ("deelnemer", False)}
    await h.say("bram", "/rol Dewi trekker", private=True)
    assert "Dewi Santoso" in plain(h.recorder.sent[-1].text) and h.recorder.sent[-1].to == "group"
    await h.say("bram", "/rol Dewi deelnemer", private=True)  # there is a trekker again: not Bram's to give
    assert h.recorder.sent[-1].kind == "error"
    assert (await roles_and_presence(h))["dewi"] == ("trekker", True)
    # Anna adds the bot to Noord again and types what her note said: Noord and Anna are back
    await h._handle(BotAdded(h.chats["noord"], h.person("anna")))
    await h.say("anna", f"/koppel {come_back_code(anna.text)}", chat="noord")
    async with h.db.transaction() as session:
        assert len(set(await session.scalars(select(Chat.network_id)))) == 1
    assert await roles_and_presence(h) == {"anna": ("trekker", True), "bram": ("procesbegeleider", True),
                                           "dewi": ("trekker", True), "eva": ("deelnemer", False)}
    assert not [s for s in h.recorder.sent if s.to in ("dm:dewi", "dm:eva")]
    await h.close()


async def test_with_no_lead_left_the_trekker_hears_who_leads_now_and_nobody_else_is_told(database_url: str) -> None:
    """No procesbegeleider stays either: the leaving trekker's note says so, the others hear
    nothing, and whoever first uses a command leads for now (as in a new network)."""
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup({**NETWORK, "language": "en"},
                  [{"id": "anna", "name": "Anna de Vries", "role": "trekker", "chats": ["noord"]},
                   {"id": "dewi", "name": "Dewi Santoso", "chats": ["teams"]},
                   {"id": "fien", "name": "Fien Smit", "chats": ["teams"]}],
                  chats=[{"id": "noord", "platform": "matrix", "title": "Noord"},
                         {"id": "teams", "platform": "teams", "title": "Teams"}])
    await h._handle(BotRemoved(h.chats["noord"]))
    (told,) = h.recorder.sent
    assert told.to == "dm:anna"
    assert plain(told.text) == (
        "I was removed from the chat Noord. That chat no longer belongs to Lerend netwerk Test. You were only "
        f"in that chat, so you are no longer in the network either and get no more messages from me. Want to "
        f"come back? Add me to that chat again and type !link {come_back_code(told.text)} there. The code works "
        "once and is valid for 24 hours. The network now has no lead and no facilitator. Whoever first types "
        "a command in one of its chats becomes its lead for now.")
    await h.say("dewi", "/status")
    assert (await roles_and_presence(h))["dewi"] == ("trekker", True)
    assert not [s for s in h.recorder.sent if s.to == "dm:fien"]
    await h.close()


async def test_a_facilitator_who_leaves_with_the_chat_hears_privately_and_the_trekker_as_before(
        database_url: str) -> None:
    """A trekker stays: she gets the usual note, the procesbegeleider who left gets his, and nobody
    is asked to take a role."""
    h = await three_chats(database_url)
    async with h.db.transaction() as session:
        (eva,) = await session.scalars(select(Member).where(Member.user_id == "eva"))
        eva.role = "procesbegeleider"
    before = len(h.recorder.sent)
    await h._handle(BotRemoved(h.chats["zuid"]))
    sent = h.recorder.sent[before:]
    assert sorted(s.to for s in sent) == ["dm:anna", "dm:eva"]
    (note,) = [s for s in sent if s.to == "dm:eva"]
    assert "Je zat alleen in die chat" in plain(note.text) and "/koppel " in plain(note.text)
    assert "trekker" not in plain(note.text)
    (anna,) = [s for s in sent if s.to == "dm:anna"]
    assert plain(anna.text).startswith("Ik ben uit de chat Zuid gehaald. Die chat hoort nu niet meer bij dit netwerk.")
    assert (await roles_and_presence(h))["eva"] == ("procesbegeleider", False)
    await h.close()


async def test_an_archived_chat_leaves_like_a_removal_and_the_notes_say_to_take_it_out_of_the_archive(
        database_url: str) -> None:
    """A chat that was archived (``BotRemoved(closed="archived")``) leaves its network as a removal
    does, with the same people leaving; the notes say it was archived and that it comes back by
    taking it out of the archive (and adding the bot again if it is no longer there), with the
    same code to type there. A trekker who stays hears it too, and a procesbegeleider left without
    a trekker hears it in the same words."""
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [{"id": "anna", "name": "Anna de Vries", "role": "trekker", "chats": ["noord"]},
                                  {"id": "bram", "name": "Bram Peters", "role": "procesbegeleider",
                                   "chats": ["slack"]},
                                  {"id": "dewi", "name": "Dewi Santoso", "chats": ["noord", "slack"]},
                                  {"id": "eva", "name": "Eva Bakker", "chats": ["noord"]}],
                  chats=[{"id": "noord", "platform": "slack", "title": "Noord"},
                         {"id": "slack", "platform": "slack", "title": "Slack"}])
    await h._handle(BotRemoved(h.chats["noord"], closed="archived"))
    anna, bram = sorted(h.recorder.sent, key=lambda m: m.to)  # two private notes: their order is delivery's
    assert (anna.to, anna.kind, bram.to, bram.kind) == ("dm:anna", "link", "dm:bram", "link")
    code = come_back_code(anna.text)
    assert plain(anna.text) == (
        "De chat Noord is gearchiveerd. Ik kan daar niets meer plaatsen. Die chat hoort dus niet meer bij "
        "Lerend netwerk Test. Je zat alleen in die chat. Daarom hoor je nu ook niet meer bij het netwerk en krijg "
        "je geen berichten meer van mij. Wil je terug? Haal de chat dan uit het archief. Zit ik er daarna niet meer "
        f"in? Voeg mij dan weer toe. Typ daarna in die chat /bamboe koppel {code}. Die code werkt één keer en is "
        "24 uur geldig.")
    assert plain(bram.text).startswith("De chat Noord is gearchiveerd. Daarom hoort die chat nu niet meer bij dit "
                                       "netwerk. Daardoor heeft het netwerk geen trekker meer.")
    assert "Typ dan /bamboe rol Bram Peters trekker." in plain(bram.text)
    assert await roles_and_presence(h) == {"anna": ("trekker", False), "bram": ("procesbegeleider", True),
                                           "dewi": ("deelnemer", True), "eva": ("deelnemer", False)}
    async with h.db.transaction() as session:
        assert list(await session.scalars(select(Chat.title))) == ["Slack"]
    # taken out of the archive, the chat is a fresh network (the bot added again): the code brings it back
    await h._handle(BotAdded(h.chats["noord"], h.person("anna")))
    await h.say("anna", f"/koppel {code}", chat="noord")
    async with h.db.transaction() as session:
        assert len(set(await session.scalars(select(Chat.network_id)))) == 1
    assert (await roles_and_presence(h))["anna"] == ("trekker", True)
    await h.close()


async def test_a_trekker_who_stays_hears_that_the_other_chat_was_archived(database_url: str) -> None:
    h = await three_chats(database_url)
    before = len(h.recorder.sent)
    await h._handle(BotRemoved(h.chats["zuid"], closed="archived"))
    (told,) = h.recorder.sent[before:]
    assert told.to == "dm:anna"
    assert plain(told.text) == (
        "De chat Zuid is gearchiveerd. Ik kan daar niets meer plaatsen. Die chat hoort dus niet meer bij dit "
        "netwerk. Wie alleen in die chat zat, tel ik niet meer mee en krijgt geen berichten meer van mij. Wil je "
        "de chat terug? Haal hem dan uit het archief. Zit ik er daarna niet meer in? Voeg mij dan weer toe. "
        "Koppel hem daarna weer.")
    async with h.db.transaction() as session:
        active = {m.user_id for m in await session.scalars(select(Member)) if m.active}
    assert active == {"anna", "dewi", "fien"}
    await h.close()


async def test_a_deleted_chat_leaves_like_a_removal_and_the_notes_say_to_restore_it_or_use_another_chat(
        database_url: str) -> None:
    """A chat that was deleted (``BotRemoved(closed="deleted")``: a Teams team or channel) leaves
    its network as a removal does; the notes say it was deleted, not archived: it comes back when
    whoever manages it restores it (only possible for a while), and otherwise the code typed in
    another chat brings that chat into the network instead. A trekker who stays and a
    procesbegeleider left without a trekker hear it in the same words."""
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [{"id": "anna", "name": "Anna de Vries", "role": "trekker", "chats": ["noord"]},
                                  {"id": "bram", "name": "Bram Peters", "role": "procesbegeleider",
                                   "chats": ["slack"]},
                                  {"id": "dewi", "name": "Dewi Santoso", "chats": ["noord", "slack"]}],
                  chats=[{"id": "noord", "platform": "teams", "title": "Venlo – Noord"},
                         {"id": "slack", "platform": "slack", "title": "Slack"}])
    await h._handle(BotRemoved(h.chats["noord"], closed="deleted"))
    anna, bram = sorted(h.recorder.sent, key=lambda m: m.to)
    code = come_back_code(anna.text)
    assert plain(anna.text) == (
        "De chat Venlo – Noord is verwijderd. Ik kan daar niets meer plaatsen. Die chat hoort dus niet meer bij "
        "Lerend netwerk Test. Je zat alleen in die chat. Daarom hoor je nu ook niet meer bij het netwerk en krijg "
        "je geen berichten meer van mij. Wil je terug? Vraag dan wie de chat beheert om hem te herstellen. Dat kan "
        "maar een beperkte tijd na het verwijderen. Zit ik er daarna niet meer in? Voeg mij dan weer toe. Typ "
        f"daarna in die chat @Bamboe koppel {code}. Kan de chat niet meer terug? Voeg mij dan toe aan een andere "
        f"chat en typ daar @Bamboe koppel {code}. Die code werkt één keer en is 24 uur geldig.")
    assert plain(bram.text).startswith("De chat Venlo – Noord is verwijderd. Daarom hoort die chat nu niet meer bij "
                                       "dit netwerk. Daardoor heeft het netwerk geen trekker meer.")
    assert "gearchiveerd" not in plain(anna.text) + plain(bram.text)
    # it cannot come back: the code typed in another chat the bot was added to brings that one in
    other = ChatRef("teams", "nieuw-kanaal", "Venlo – Nieuw")
    await h._handle(BotAdded(other, h.person("anna")))
    await h._handle(MessageIn(other, h.person("anna"), f"koppel {code}", "m-koppel", addressed=True))
    async with h.db.transaction() as session:
        chats = {c.chat_id: c.network_id for c in await session.scalars(select(Chat))}
    assert len(chats) == 2 and len(set(chats.values())) == 1 and "nieuw-kanaal" in chats
    assert (await roles_and_presence(h))["anna"] == ("trekker", True)
    await h.close()


async def test_a_trekker_who_stays_hears_in_english_that_the_other_chat_was_deleted(database_url: str) -> None:
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup({**NETWORK, "language": "en"},
                  [{"id": "anna", "name": "Anna de Vries", "role": "trekker", "chats": ["noord", "zuid"]},
                   {"id": "eva", "name": "Eva Bakker", "chats": ["zuid"]}],
                  chats=[{"id": "noord", "platform": "teams", "title": "Noord"},
                         {"id": "zuid", "platform": "teams", "title": "Zuid"}])
    await h._handle(BotRemoved(h.chats["zuid"], closed="deleted"))
    (told,) = h.recorder.sent
    assert told.to == "dm:anna"
    assert plain(told.text) == (
        "The chat Zuid was deleted. I can no longer post there, so that chat no longer belongs to this network. "
        "People who were only in that chat no longer count and get no more messages from me. Want the chat back? "
        "Ask whoever manages it to restore it. That is only possible for a limited time after it was deleted. Am "
        "I no longer in it after that? Then add me again, and link the chat again. Can the chat not come back? "
        "Then add me to another chat and link that one.")
    await h.close()


@pytest.mark.postgres
async def test_one_removal_reaching_two_replicas_at_once_acts_once(caplog: pytest.LogCaptureFixture) -> None:
    """Slack may report one removal twice (``member_left_channel`` and ``channel_left``), and two
    replicas may each get one. The first is held inside its transaction, the chat taken out but not
    committed, until the second waits on the database; then it commits. The second then finds the
    chat in no network: the trekker hears once, nothing fails."""
    release, inside = asyncio.Event(), asyncio.Event()

    async def hold(_ctx: object, _chat: Chat, _leavers: list[Member], _closed: str | None) -> None:  # before the commit
        inside.set()
        await release.wait()

    members = [{"id": "anna", "name": "Anna de Vries", "role": "trekker"}, {"id": "dewi", "name": "Dewi Santoso"}]
    async with two_replicas(members, Feature("hold", on_chat_removed=(hold,)), release) as (
            setup, first, second, tasks):
        tasks.append(asyncio.create_task(first.handle(BotRemoved(setup.chat))))
        await asyncio.wait_for(inside.wait(), 10)
        tasks.append(asyncio.create_task(second.handle(BotRemoved(setup.chat))))
        await waiting_for_a_lock(second.db)
        release.set()
        told, again = await asyncio.wait_for(asyncio.gather(*tasks), 10)
        assert [(o.address.user_id, o.kind) for o in told] == [("anna", "link")]
        assert again == []
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []  # the second failed nowhere
        async with first.db.transaction() as s:
            assert list(await s.scalars(select(Chat))) == []
            assert [m.active for m in await s.scalars(select(Member))] == [False, False]


async def test_a_chat_that_moved_keeps_its_network_and_what_was_still_to_go_there(database_url: str) -> None:
    """ChatMoved (a Matrix room upgrade): the chat's row takes the new id (network, members and
    roles stay), its unsent messages go to the new id; nothing is said; a move onto a chat that
    is already a network's, or of a chat that is none, changes nothing."""
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [{"id": "anna", "name": "Anna de Vries", "role": "trekker"},
                                  {"id": "dewi", "name": "Dewi Santoso"}])
    async with h.db.transaction() as session:
        (waiting,) = await store_outgoing(session, None, [Outgoing(Address(h.chat.platform, h.chat.chat_id),
                                                                   "digest", "later")], h.clock.now())
        await session.execute(OutboxMessage.__table__.update().where(OutboxMessage.id == waiting.outbox_id)
                              .values(state="pending"))
    before = len(h.recorder.sent)
    new = ChatRef(h.chat.platform, "new-room", "Na de upgrade")
    await h._handle(ChatMoved(h.chat, new))
    await h._handle(ChatMoved(ChatRef(h.chat.platform, "no-network", ""), ChatRef(h.chat.platform, "other", "")))
    async with h.db.transaction() as session:
        assert [(c.chat_id, c.title) for c in await session.scalars(select(Chat))] == [("new-room", "Na de upgrade")]
        assert {(m.user_id, m.role, m.active) for m in await session.scalars(select(Member))} \
            == {("anna", "trekker", True), ("dewi", "deelnemer", True)}
        row = await session.get(OutboxMessage, waiting.outbox_id)
        assert (row.chat_id, row.chat_key) == ("new-room", "c:new-room")
        assert await session.scalar(select(func.count()).select_from(Network)) == 1
    assert [s for s in h.recorder.sent[before:] if s.kind != "digest"] == []
    await h.close()
