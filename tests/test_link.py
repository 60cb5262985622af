"""One network, several chats (issue 21): linking chats with a one-time code, everything said in
every chat, answers and members counted together, one person with two linked accounts counted,
reminded and erased once, rounds in their own chat, and the simulator's ``chats:`` scenarios.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from datetime import UTC, timedelta
from pathlib import Path

from sqlalchemy import select

from adapters.console import simulate
from adapters.console.harness import Harness
from bot.events import ChatMoved, ChatRef
from bot.features import rhythm
from bot.features.link import code_hash
from bot.markup import plain
from bot.models import (
    Action,
    Announcement,
    AnnouncementRead,
    Answer,
    Celebration,
    Chat,
    LinkCode,
    MeetingInput,
    Member,
    MemberIdentity,
    Network,
    OutboxMessage,
    Reflection,
)
from tests.conftest import NETWORK, local
from tests.test_rhythm import rows

ROOT = Path(__file__).resolve().parents[1]
CODE = re.compile(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b")
TEAMS_PEOPLE = [
    {"id": "anna", "name": "Anna de Vries", "role": "trekker", "perspective": "beleid"},
    {"id": "bram", "name": "Bram Peters", "role": "procesbegeleider", "perspective": "onderzoek"},
    {"id": "cem", "name": "Cem Yilmaz", "perspective": "professional"},
]


async def two_networks(url: str) -> Harness:
    """A network in a Teams-labelled chat, and a Telegram-labelled group the bot has just met:
    Anna (as ``anna-tg``) added the bot there, so it is a fresh network with her as trekker."""
    h = await Harness.open(url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [dict(m, chats=["teams"]) for m in TEAMS_PEOPLE],
                  chats=[{"id": "teams", "platform": "teams", "title": "Armoede (professionals)"}])
    h.add_chat("buurt", "telegram", "Buurtgroep")
    for uid, name in (("anna-tg", "Anna de Vries"), ("dewi", "Dewi Santoso"), ("eva", "Eva Bakker")):
        h.names[uid] = name
        h.member_chats[uid] = ["buurt"]
    await h.say("anna-tg", "/help")  # the bot meets the group: a network of its own, Anna its trekker
    await h.say("dewi", "hallo allemaal")
    await h.say("eva", "hoi")
    return h


def since(h: Harness, before: int) -> list:
    return h.recorder.sent[before:]


async def ask_code(h: Harness, who: str, command: str = "/koppel", chat: str | None = None) -> str:
    before = len(h.recorder.sent)
    await h.say(who, command, chat=chat)
    (code,) = [m[1] for s in since(h, before) if s.to == f"dm:{who}" for m in [CODE.search(plain(s.text))] if m]
    return code


async def link_buurt(h: Harness) -> None:
    code = await ask_code(h, "anna")
    await h.say("anna-tg", f"/koppel {code}", chat="buurt")


async def networks(h: Harness) -> list[Network]:
    return await rows(h, Network, order=Network.id)


# ---------------------------------------------------------------------------- linking chats
async def test_a_trekker_links_a_chat_on_another_platform_with_a_one_time_code(database_url: str) -> None:
    h = await two_networks(database_url)
    assert len(await networks(h)) == 2
    before = len(h.recorder.sent)
    code = await ask_code(h, "anna")
    new = since(h, before)
    # the code goes privately to the trekker, never into the group; the group hears it was sent
    assert {(s.to, s.kind) for s in new} == {("dm:anna", "link"), ("group", "status")}
    assert code not in "".join(s.text for s in new if s.to == "group")
    (stored,) = await rows(h, LinkCode)
    assert stored.code_hash == code_hash(code) and code.replace("-", "") not in stored.code_hash
    assert stored.expires_at == h.clock.now() + timedelta(hours=24)

    before = len(h.recorder.sent)
    await h.say("anna-tg", f"/koppel {code.lower()}", chat="buurt")  # typed in lower case: still the code
    linked = [s for s in since(h, before) if s.kind == "link"]
    assert sorted(s.chat for s in linked) == ["buurt", "teams"]
    assert "Buurtgroep (Telegram)" in plain(linked[0].text)
    (network,) = await networks(h)  # the buurt's fresh network is gone, its chat and people moved
    assert network.name == NETWORK["name"]
    assert [(c.platform, c.title) for c in await rows(h, Chat, order=Chat.id)] == [
        ("teams", "Armoede (professionals)"), ("telegram", "Buurtgroep")]
    people = {m.user_id: m for m in await rows(h, Member)}
    assert set(people) == {"anna", "bram", "cem", "anna-tg", "dewi", "eva"}
    assert {m.network_id for m in people.values()} == {network.id}
    assert people["anna-tg"].role == "trekker"  # she stays trekker of what was her chat

    # /koppel now lists both chats; the next weekly question goes to both
    before = len(h.recorder.sent)
    await h.say("dewi", "/koppel", chat="buurt")
    (listing,) = since(h, before)
    assert "1. Armoede (professionals) (Teams)" in plain(listing.text) and "2. Buurtgroep (Telegram)" in \
        plain(listing.text) and listing.chat == "buurt" and listing.visible_to == "dewi"
    await h.advance(local(2026, 1, 6, 10, 1))
    assert sorted(s.chat for s in h.recorder.sent if s.kind == "nudge") == ["buurt", "teams"]
    await h.close()


async def test_linking_never_hands_out_an_outbox_id_twice(database_url: str) -> None:
    """The linked chat's own network goes, but its outbox rows stay (what it still had to send is
    dropped): the platforms deduplicate by outbox id (Matrix transaction ids, Slack's metadata), and
    SQLite hands out the highest id again once its row is gone, so the next message would be taken
    for one already sent."""
    h = await two_networks(database_url)
    code = await ask_code(h, "anna")
    await h.say("dewi", "/status", chat="buurt")  # the newest outbox row is the fresh network's
    before = {r.id: (r.kind, r.text) for r in await rows(h, OutboxMessage)}
    await h.say("anna-tg", f"/koppel {code}", chat="buurt")
    after = {r.id: (r.kind, r.text) for r in await rows(h, OutboxMessage)}
    assert {i: after.get(i) for i in before} == before
    assert min(i for i in after if i not in before) > max(before)
    (network,) = await networks(h)
    assert {r.network_id for r in await rows(h, OutboxMessage)} == {network.id}
    await h.close()


async def test_a_code_expires_after_a_day_and_works_once(database_url: str) -> None:
    h = await two_networks(database_url)
    old = await ask_code(h, "anna")
    h.clock.set(h.clock.now() + timedelta(hours=24, minutes=1))
    before = len(h.recorder.sent)
    await h.say("anna-tg", f"/koppel {old}", chat="buurt")
    (refusal,) = since(h, before)
    assert refusal.kind == "error" and "verlopen" in plain(refusal.text) and "/koppel" in plain(refusal.text)
    assert len(await networks(h)) == 2

    code = await ask_code(h, "anna")
    await h.say("anna-tg", f"/koppel {code}", chat="buurt")
    assert len(await networks(h)) == 1
    h.add_chat("school", "telegram", "Hogeschool")
    h.names["tom"] = "Tom Visser"
    h.member_chats["tom"] = ["school"]
    before = len(h.recorder.sent)
    await h.say("tom", f"/koppel {code}", chat="school")  # Tom is trekker of his own new chat
    refusals = [s for s in since(h, before) if s.kind == "error"]
    assert len(refusals) == 1 and "al gebruikt" in plain(refusals[0].text)
    await h.say("tom", "/koppel NOPE-NOPE", chat="school")
    assert "ken ik niet" in plain(h.recorder.sent[-1].text)
    assert len(await networks(h)) == 2 and len(await rows(h, Chat)) == 3
    await h.close()


async def test_only_a_trekker_asks_for_a_code_and_links(database_url: str) -> None:
    h = await two_networks(database_url)
    before = len(h.recorder.sent)
    await h.say("cem", "/koppel")  # a participant sees the chats, gets no code
    assert [s.to for s in since(h, before)] == ["group"] and not CODE.search(plain(h.recorder.sent[-1].text))
    code = await ask_code(h, "anna")
    before = len(h.recorder.sent)
    await h.say("dewi", f"/koppel {code}", chat="buurt")  # dewi is no trekker of the buurt
    (refusal,) = since(h, before)
    assert refusal.kind == "error" and "trekker" in plain(refusal.text)
    await h.say("cem", "/koppel los 1")
    assert h.recorder.sent[-1].kind == "error" and "trekker" in plain(h.recorder.sent[-1].text)
    # the refused attempt did not spend the code
    await h.say("anna-tg", f"/koppel {code}", chat="buurt")
    assert len(await networks(h)) == 1
    await h.close()


async def test_a_chat_with_its_own_history_is_only_linked_when_the_trekker_says_so(database_url: str) -> None:
    h = await two_networks(database_url)
    await h.say("anna-tg", "/vier De ruilkast staat!", chat="buurt")
    code = await ask_code(h, "anna")
    before = len(h.recorder.sent)
    await h.say("anna-tg", f"/koppel {code}", chat="buurt")
    (refusal,) = since(h, before)
    assert "vieringen" in plain(refusal.text) and f"/koppel {code} vervang" in plain(refusal.text)
    assert len(await networks(h)) == 2
    await h.say("anna-tg", f"/koppel {code} vervang", chat="buurt")
    assert len(await networks(h)) == 1 and {m.user_id for m in await rows(h, Member)} >= {"dewi", "eva"}
    await h.close()


async def test_unlinking_gives_the_chat_its_people_and_a_network_of_its_own(database_url: str) -> None:
    h = await two_networks(database_url)
    await link_buurt(h)
    before = len(h.recorder.sent)
    await h.say("anna", "/koppel los 2")
    said = {s.chat: plain(s.text) for s in since(h, before) if s.kind == "link"}
    assert "Buurtgroep (Telegram) hoort niet meer bij dit netwerk" in said["teams"]
    assert "eigen netwerk" in said["buurt"]
    first, second = await networks(h)
    assert second.name == "Buurtgroep"
    where = {m.user_id: m.network_id for m in await rows(h, Member)}
    assert where == {"anna": first.id, "bram": first.id, "cem": first.id,
                     "anna-tg": second.id, "dewi": second.id, "eva": second.id}
    await h.say("anna", "/koppel los 1")
    assert h.recorder.sent[-1].kind == "error" and "enige chat" in plain(h.recorder.sent[-1].text)
    await h.advance(local(2026, 1, 6, 10, 1))  # each network asks its own question again
    nudges = [s for s in h.recorder.sent if s.kind == "nudge"]
    assert sorted(s.chat for s in nudges) == ["buurt", "teams"]
    await h.close()


async def test_a_chat_of_a_network_with_more_chats_is_told_the_unlink_command_with_its_own_number(
        database_url: str) -> None:
    h = await two_networks(database_url)
    await link_buurt(h)  # buurt is chat 2 of Anna's network
    h.add_chat("school", "telegram", "Hogeschool")
    h.names["tom"] = "Tom Visser"
    h.member_chats["tom"] = ["school"]
    await h.say("tom", "/help", chat="school")  # a network of its own, Tom its trekker
    code = await ask_code(h, "tom", chat="school")
    before = len(h.recorder.sent)
    await h.say("anna-tg", f"/koppel {code}", chat="buurt")
    (refusal,) = since(h, before)
    assert refusal.kind == "error" and plain(refusal.text) == (
        "Deze chat hoort bij een netwerk met meer chats. Haal hem daar eerst los met /koppel los 2.")  # was "<nummer>"
    assert len(await networks(h)) == 2
    await h.close()


async def test_an_english_network_is_told_the_unlink_command_in_english(database_url: str) -> None:
    h = await two_networks(database_url)
    await link_buurt(h)  # buurt is chat 2 of Anna's network
    await h.say("anna", "/netwerk taal en")
    h.add_chat("school", "telegram", "Hogeschool")
    h.names["tom"] = "Tom Visser"
    h.member_chats["tom"] = ["school"]
    await h.say("tom", "/help", chat="school")  # a network of its own, Tom its trekker
    code = await ask_code(h, "tom", chat="school")
    before = len(h.recorder.sent)
    await h.say("anna-tg", f"/koppel {code}", chat="buurt")
    (refusal,) = since(h, before)
    assert refusal.kind == "error" and plain(refusal.text) == (  # was "/link los 2": a Dutch word
        "This chat belongs to a network with more chats. Take it out there first with /link remove 2.")
    await h.close()


# ---------------------------------------------------------------------------- one person, two accounts
async def test_a_person_links_two_accounts_and_is_counted_reminded_and_erased_once(database_url: str) -> None:
    h = await two_networks(database_url)
    await link_buurt(h)
    await h.say("anna-tg", "hoi", chat="buurt")
    h.names["dewi-teams"] = "Dewi Santoso"  # Dewi (a student) is in the Teams channel as a guest too
    h.member_chats["dewi-teams"] = ["teams"]
    await h.say("dewi-teams", "hallo")
    before = len(h.recorder.sent)
    await h.say("anna", "/status")
    assert "7 leden" in plain(since(h, before)[0].text)

    code = await ask_code(h, "dewi-teams", "/ikben")
    before = len(h.recorder.sent)
    await h.say("dewi", f"/ikben {code}", chat="buurt", private=True)
    (done,) = since(h, before)
    assert done.to == "dm:dewi" and "gekoppeld" in plain(done.text)
    dewi = [m for m in await rows(h, Member) if m.name == "Dewi Santoso"]
    assert len(dewi) == 1
    assert [(i.platform, i.user_id) for i in await rows(h, MemberIdentity)] == [("telegram", "dewi")]
    await h.say("dewi", f"/ikben {code}", chat="buurt", private=True)
    assert "al gebruikt" in plain(h.recorder.sent[-1].text)

    # anna and anna-tg linked too: the network is 5 people in 2 chats
    code = await ask_code(h, "anna", "/ikben")
    await h.say("anna-tg", f"/ikben {code}", chat="buurt", private=True)
    before = len(h.recorder.sent)
    await h.say("anna", "/status")
    assert "5 leden" in plain(since(h, before)[0].text)

    await h.advance(local(2026, 1, 6, 10, 1))
    await h.say("dewi", "Op school zien we het als eerste.", chat="buurt", reply_to="nudge")
    await h.say("cem", "In de wijk ook, als het al laat is.", reply_to="nudge")
    await h.advance(local(2026, 1, 8, 12, 0))
    reminders = Counter(s.to for s in h.recorder.sent if s.kind == "reminder")
    assert reminders == {"dm:anna": 1, "dm:bram": 1, "dm:eva": 1}  # Dewi answered on one account: none
    await h.advance(local(2026, 1, 13, 12, 0))
    # the harvest (it may ride along with the next question): both chats, both answers counted
    harvests = [s for s in h.recorder.sent if s.to == "group" and "Oogst" in plain(s.text)]
    assert sorted(s.chat for s in harvests) == ["buurt", "teams"]
    assert all("2 antwoorden" in plain(s.text) for s in harvests)

    # /mijngegevens from either account covers both; /vergeetmij erases both identities
    before = len(h.recorder.sent)
    await h.say("dewi", "/mijngegevens", chat="buurt", private=True)
    (export,) = since(h, before)
    data = json.loads(h.recorder.sent[-1].files[0][2])
    assert export.to == "dm:dewi" and data["profile"]["linked_accounts"] == [
        {"platform": "telegram", "platform_user_id": "dewi"}] and len(data["answers"]) == 1
    await h.say("dewi-teams", "/vergeetmij ja")
    assert [m for m in await rows(h, Member) if m.name == "Dewi Santoso"] == []
    assert [(i.platform, i.user_id) for i in await rows(h, MemberIdentity)] == [("telegram", "anna-tg")]
    assert h.recorder.sent[-1].to == "dm:dewi-teams" and "verwijderd" in plain(h.recorder.sent[-1].text)
    assert [r for r in await rows(h, OutboxMessage) if r.user_id in ("dewi", "dewi-teams")] == []
    (answer,) = [a for a in await rows(h, Answer) if a.member_id is None]
    assert answer.text == ""
    await h.close()


async def test_linking_two_accounts_keeps_every_pause_of_both(database_url: str) -> None:
    h = await two_networks(database_url)
    await link_buurt(h)
    h.names["dewi-teams"] = "Dewi Santoso"
    h.member_chats["dewi-teams"] = ["teams"]
    await h.say("dewi-teams", "/pauze 1w")  # 5 until 12 January
    await h.advance(local(2026, 1, 13, 12, 0))
    await h.say("dewi-teams", "/pauze 3d")  # 13 until 16 January
    await h.advance(local(2026, 1, 14, 12, 0))
    await h.say("dewi", "/pauze 1w", chat="buurt")  # 14 until 21 January, on her other account
    code = await ask_code(h, "dewi-teams", "/ikben")
    await h.say("dewi", f"/ikben {code}", chat="buurt", private=True)
    (dewi,) = [m for m in await rows(h, Member) if m.name == "Dewi Santoso"]
    # the two pauses that overlap are one, from the first start to the last end; the first stays
    assert (dewi.paused_from, dewi.paused_until) == (local(2026, 1, 13, 12, 0), local(2026, 1, 21, 12, 0))
    assert dewi.earlier_pauses == [[local(2026, 1, 5, 8, 0).astimezone(UTC).isoformat(),
                                    local(2026, 1, 12, 8, 0).astimezone(UTC).isoformat()]]
    asked = [local(2026, 1, 6, 10, 0), local(2026, 1, 13, 10, 0), local(2026, 1, 20, 10, 0), local(2026, 1, 27, 10, 0)]
    assert [rhythm.paused(dewi, at) for at in asked] == [True, False, True, False]
    await h.close()


async def test_an_identity_code_is_only_for_another_account_in_the_same_network(database_url: str) -> None:
    h = await two_networks(database_url)
    code = await ask_code(h, "anna", "/ikben")
    await h.say("anna", f"/ikben {code}", private=True)
    assert "dit account zelf" in plain(h.recorder.sent[-1].text)
    await h.say("dewi", f"/ikben {code}", chat="buurt", private=True)  # buurt is not linked: another network
    assert "nog niet uit een chat" in plain(h.recorder.sent[-1].text)
    assert await rows(h, MemberIdentity) == []
    await h.close()


async def test_an_identity_code_typed_in_the_group_is_spent_unused(database_url: str) -> None:
    """Cem types his /ikben code in the group by mistake: the others could read it there, and Bram
    typing it privately would link Bram's account to Cem's member (and show him Cem's data). So
    the code is not used and no longer works; Cem hears why and how to get a new one."""
    h = await two_networks(database_url)
    code = await ask_code(h, "cem", "/ikben")
    before = len(h.recorder.sent)
    await h.say("cem", f"/ikben {code}")
    (told,) = since(h, before)
    assert told.kind == "status" and code not in plain(told.text)
    assert plain(told.text).startswith("Die code staat nu in de groep, waar anderen hem kunnen lezen. "
                                       "Daarom werkt hij niet meer. Vraag een nieuwe met /ikben")
    (row,) = await rows(h, LinkCode)
    assert row.used_at is not None
    await h.say("bram", f"/ikben {code}", private=True)
    assert "al gebruikt" in plain(h.recorder.sent[-1].text)
    assert await rows(h, MemberIdentity) == []
    await h.say("cem", "/ikben NOGO-CODE")  # no code of ours: nothing to spend
    assert plain(h.recorder.sent[-1].text) == ("Typ de code in een privéchat met mij, niet in de groep: "
                                              "daar kunnen anderen hem lezen. Stuur hem mij privé.")
    await h.close()


async def test_a_linked_person_who_leaves_one_chat_stays_in_the_network(database_url: str) -> None:
    h = await two_networks(database_url)
    await link_buurt(h)
    code = await ask_code(h, "anna", "/ikben")
    await h.say("anna-tg", f"/ikben {code}", chat="buurt", private=True)
    await h.leave("anna-tg", chat="buurt")
    (anna,) = [m for m in await rows(h, Member) if m.name == "Anna de Vries"]
    assert anna.active and (anna.platform, anna.user_id) == ("teams", "anna")
    assert await rows(h, MemberIdentity) == []
    await h.leave("anna")
    (anna,) = [m for m in await rows(h, Member) if m.name == "Anna de Vries"]
    assert not anna.active
    await h.close()


# ---------------------------------------------------------------------------- the simulator
def run_scenario(path: Path) -> list[dict]:
    out = io.StringIO()
    import asyncio

    asyncio.run(simulate.run(simulate.load(path.read_text(encoding="utf-8")), database_url=None, out=out))
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_month_with_a_teams_chat_and_a_telegram_chat_in_simulate() -> None:
    lines = run_scenario(ROOT / "examples" / "twee-chats.yaml")
    group = [x for x in lines if x["to"] == "group"]
    assert {x["chat"] for x in group} == {"teams", "buurt"}
    assert all("chat" not in x for x in lines if x["to"] != "group")
    # one weekly question per chat, every week
    nudges = Counter(x["at"][:10] for x in group if x["kind"] == "nudge")
    assert list(nudges.values()) == [2] * 5 and len(nudges) == 5
    assert Counter(x["chat"] for x in group if x["kind"] == "nudge") == {"teams": 5, "buurt": 5}
    # answers from both chats in one harvest (riding with the next question), the same in both chats
    first = [x for x in group if "Oogst" in x["text"]][:2]
    assert {x["chat"] for x in first} == {"teams", "buurt"}
    assert all("4 antwoorden" in x["text"] and "schulden" in x["text"] for x in first)
    # /status counts both chats; Anna (in both) once
    (status,) = [x for x in group if x["kind"] == "status" and "Groep:" in x["text"]]
    assert "6 leden" in status["text"] and "Alle perspectieven zijn er" in status["text"]
    # one reminder per person per question: never two to Anna
    reminders = Counter((x["to"], x["at"][:10]) for x in lines if x["kind"] == "reminder")
    assert set(reminders.values()) == {1}
    assert ("dm:anna", "2026-01-08") not in reminders  # she answered in the buurt group
    # the round runs in Teams; the buurt hears once that it is on, and where
    assert {x["chat"] for x in group if x["kind"] == "actieleren"} == {"teams"}
    (notice,) = [x for x in group if x["kind"] == "round_elsewhere"]
    assert notice["chat"] == "buurt" and "Armoede Venlo (professionals) (Teams)" in notice["text"]
    # each chat reads commands the way its platform types them
    teams = " ".join(x["text"] for x in group if x["chat"] == "teams")
    buurt = " ".join(x["text"] for x in group if x["chat"] == "buurt")
    assert "@Bamboe vier" in teams and "/vier" not in teams and "/vier" in buurt and "@Bamboe" not in buurt


def test_a_scenario_names_unknown_chats_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text('network: {name: "X"}\nchats: [{id: a, platform: teams}]\n'
                   'members: [{id: anna, chats: [b]}]\nstart: "2026-01-05T08:00"\nsteps: []\n', encoding="utf-8")
    try:
        run_scenario(bad)
    except simulate.ScenarioError as exc:
        assert "members[1] (anna)" in str(exc) and "unknown: b" in str(exc)
    else:
        raise AssertionError("an unknown chat must be refused")
    bad.write_text('network: {name: "X"}\nchats: [{id: a, platform: teams}]\nmembers: [{id: anna}]\n'
                   'start: "2026-01-05T08:00"\nsteps: [{at: "2026-01-05T09:00", from: anna, chat: zz, text: hoi}]\n',
                   encoding="utf-8")
    try:
        run_scenario(bad)
    except simulate.ScenarioError as exc:
        assert "step 1" in str(exc) and "unknown chat 'zz'" in str(exc)
    else:
        raise AssertionError("an unknown chat must be refused")


async def test_codes_are_never_stored_in_clear(database_url: str) -> None:
    h = await two_networks(database_url)
    code = await ask_code(h, "anna")
    async with h.db.transaction() as s:
        stored = list(await s.scalars(select(LinkCode.code_hash)))
    assert stored and all(code.replace("-", "") not in v and code not in v for v in stored)
    await h.close()


async def test_rounds_in_two_chats_of_one_network_keep_their_own_timebox(database_url: str) -> None:
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [
        {"id": "anna", "name": "Anna de Vries", "role": "trekker", "chats": ["teams", "buurt"]},
        {"id": "bram", "name": "Bram Peters", "role": "procesbegeleider", "chats": ["teams"]},
        {"id": "cem", "name": "Cem Yilmaz", "chats": ["teams"]},
        {"id": "dewi", "name": "Dewi Santoso", "chats": ["buurt"]},
    ], chats=[{"id": "teams", "platform": "teams", "title": "Professionals"},
              {"id": "buurt", "platform": "telegram", "title": "Buurt"}])
    await h.say("bram", "/actieleren Cem 10m")
    await h.say("anna", "/actieleren Dewi 10m", chat="buurt")
    notices = [(s.chat, plain(s.text)) for s in h.recorder.sent if s.kind == "round_elsewhere"]
    assert [c for c, _ in notices] == ["buurt", "teams"]
    assert "in Professionals (Teams)" in notices[0][1] and "in Buurt (Telegram)" in notices[1][1]
    await h.say("bram", "/stop")
    await h.advance(local(2026, 1, 5, 8, 11))
    steps = [(s.chat, s.meta.get("step")) for s in h.recorder.sent if s.kind == "actieleren" and
             "Stap 2" in plain(s.text)]
    assert steps == [("buurt", 2)]  # the buurt's round moved on by its timebox; the stopped one did not
    assert {s.chat for s in h.recorder.sent if s.kind == "actieleren"} == {"teams", "buurt"}
    await h.close()


async def test_link_in_english_speaks_of_a_lead(harness: Harness) -> None:
    await harness.say("anna", "/netwerk taal en")
    await harness.say("cem", "/link")
    assert plain(harness.recorder.sent[-1].text).splitlines()[-1] == \
        "A lead can link a chat, also on another platform: see /help link."
    await harness.say("anna", "/link")
    (code,) = [plain(s.text) for s in harness.recorder.sent if s.kind == "link" and s.to == "dm:anna"]
    assert "In the other chat (where you are a lead too), type: /link " in code and "trekker" not in code
    await harness.say("cem", "/help link")
    usage = plain(harness.recorder.sent[-1].text)
    assert "a lead gets a code privately" in usage and "(where you are a lead too)" in usage
    assert "trekker" not in usage


async def test_a_member_who_joins_another_chat_of_the_network_gets_no_newcomer_briefing(database_url: str) -> None:
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [dict(TEAMS_PEOPLE[0], chats=["noord"]), dict(TEAMS_PEOPLE[2], chats=["noord"])],
                  chats=[{"id": "noord", "platform": "telegram", "title": "Groep Noord"},
                         {"id": "zuid", "platform": "telegram", "title": "Groep Zuid"}])
    await h.advance(local(2026, 1, 7, 9, 0))
    before = len(h.recorder.sent)
    await h.join("cem", "Cem Yilmaz", chat="zuid")  # already a member, through Groep Noord
    assert [s.kind for s in since(h, before)] == []
    await h.join("gijs", "Gijs Kok", chat="zuid")  # a real newcomer still gets the briefing
    assert [(s.kind, s.to) for s in since(h, before)] == [("newcomer_briefing", "dm:gijs"),
                                                          ("newcomer_notice", "dm:anna")]
    await h.close()


async def three_platforms(url: str) -> Harness:
    """A network with a Teams, a Slack and a Matrix chat (the reviewer's koppel-code scenario)."""
    h = await Harness.open(url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [dict(TEAMS_PEOPLE[0], chats=["teams", "sl"]),
                                  dict(TEAMS_PEOPLE[1], chats=["mx"]), dict(TEAMS_PEOPLE[2], chats=["sl"])],
                  chats=[{"id": "teams", "platform": "teams", "title": "Teams kanaal"},
                         {"id": "sl", "platform": "slack", "title": "Slack kanaal"},
                         {"id": "mx", "platform": "matrix", "title": "Matrix kamer"}])
    return h


async def test_a_command_to_type_in_another_chat_is_written_as_it_is_typed_there(database_url: str) -> None:
    h = await three_platforms(database_url)
    before = len(h.recorder.sent)
    await h.say("anna", "/koppel", chat="teams")  # the code goes to her Teams DM, the other chat is unknown
    (dm,) = [plain(s.text) for s in since(h, before) if s.to == "dm:anna"]
    code = CODE.search(dm)[1]
    assert f"Typ in de andere chat (waar jij ook trekker bent): /bamboe koppel {code} in Slack, " \
           f"@Bamboe koppel {code} in Teams, !koppel {code} in Matrix." in dm
    before = len(h.recorder.sent)
    await h.say("cem", "/ikben", chat="sl")  # from Slack: the other account may be on any platform
    (dm,) = [plain(s.text) for s in since(h, before) if s.to == "dm:cem"]
    code = CODE.search(dm)[1]
    assert f"privé: /bamboe ikben {code} in Slack, ikben {code} in Teams, !ikben {code} in Matrix." in dm
    await h.say("bram", "/actieleren Bram 10m", chat="mx")
    before = len(h.recorder.sent)
    await h.say("anna", "/koppel los 3", chat="teams")  # the round runs in Matrix: stop it there, as typed there
    assert plain(since(h, before)[-1].text).endswith("stop hem in die chat met !stop.")
    await h.say("anna", "/koppel NIET-GOED", chat="teams")
    assert plain(h.recorder.sent[-1].text).endswith(
        "vraag een nieuwe met /bamboe koppel in Slack, @Bamboe koppel in Teams, !koppel in Matrix.")
    await h.say("anna", "/koppel NIET-GOED", chat="teams", private=True)  # in a private chat: which group?
    assert plain(h.recorder.sent[-1].text).endswith("niet in een privéchat: /bamboe koppel <code> in Slack, "
                                                    "@Bamboe koppel <code> in Teams, !koppel <code> in Matrix.")
    assert len(await rows(h, Chat)) == 3  # nothing unlinked, nothing linked
    await h.close()


def test_the_typed_forms_agree_with_the_adapters_renderers() -> None:
    from adapters.matrix.render import COMMAND_PREFIX
    from adapters.slack.render import slash_command
    from adapters.teams.render import command_text
    from adapters.telegram.render import to_html
    from bot.markup import TYPED, command

    for reference in ("koppel AB12-CD34", "ikben AB12-CD34", "stop"):
        assert TYPED["slack"][0].format(reference) == slash_command(reference)
        assert TYPED["teams"][0].format(reference) == command_text(reference, True)
        assert TYPED["teams"][1].format(reference) == command_text(reference, False)
        assert TYPED["matrix"][0].format(reference) == COMMAND_PREFIX + reference
        assert TYPED["telegram"][0].format(reference) == to_html(command(reference))


async def test_no_follow_up_of_the_old_network_reaches_a_member_who_moved_out_with_an_unlinked_chat(
        database_url: str) -> None:
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [dict(TEAMS_PEOPLE[0], chats=["teams", "sl"]), dict(TEAMS_PEOPLE[2], chats=["sl"])],
                  chats=[{"id": "teams", "platform": "teams", "title": "Teams kanaal"},
                         {"id": "sl", "platform": "slack", "title": "Slack kanaal"}])
    await h.say("cem", "/actie Cem belt de schuldhulp voor 2026-01-09", chat="sl")
    await h.say("anna", "/koppel los 2", chat="teams")  # Cem is only in the Slack chat: he moves with it
    before = len(h.recorder.sent)
    await h.advance(local(2026, 1, 20, 12, 0))
    assert [s for s in since(h, before) if s.kind == "action_followup"] == []
    await h.close()


async def test_members_who_move_out_with_an_unlinked_chat_leave_the_old_participation_with_their_answers(
        database_url: str) -> None:
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [dict(TEAMS_PEOPLE[0], chats=["teams", "sl"]), dict(TEAMS_PEOPLE[1], chats=["teams"]),
                                  dict(TEAMS_PEOPLE[2], chats=["sl"]), {"id": "dewi", "name": "Dewi Santoso",
                                                                        "chats": ["sl"]}],
                  chats=[{"id": "teams", "platform": "teams", "title": "Teams kanaal"},
                         {"id": "sl", "platform": "slack", "title": "Slack kanaal"}])
    await h.advance(local(2026, 1, 6, 10, 0))
    for who in ("anna", "cem"):  # Cem answers in Slack, Dewi (Slack too) does not
        await h.say(who, f"Antwoord van {who}.", reply_to="nudge")
    await h.say("anna", "/status", chat="teams")
    assert "06-01: 2 van 4" in plain(h.recorder.sent[-1].text)
    await h.say("anna", "/koppel los 2", chat="teams")  # Cem and Dewi move out with the Slack chat
    await h.say("anna", "/status", chat="teams")
    assert "06-01: 1 van 2" in plain(h.recorder.sent[-1].text)  # neither Cem nor his answer counts here
    await h.close()


async def test_a_reply_to_a_question_the_linked_chat_was_asked_before_it_joined_is_answered_not_an_error(
        database_url: str) -> None:
    """The Telegram group's own network asked its first weekly question; it had no answers yet, so
    /koppel brings the group in at once and that network, its questions with it, is gone. Dewi then
    replies to that question in the group: she got 'something went wrong' (the answer named a
    question no longer there); she hears that the question is gone, only she, and nothing is kept."""
    h = await two_networks(database_url)
    await h.advance(local(2026, 1, 6, 10, 5))
    assert h.recorder.latest("nudge", chat="buurt") is not None
    await link_buurt(h)
    (network,) = await networks(h)
    before = len(h.recorder.sent)
    await h.say("dewi", "Bij ons in de buurt vooral.", chat="buurt", reply_to="nudge")
    (told,) = since(h, before)
    assert (told.kind, told.visible_to) == ("status", "dewi") and network.name in plain(told.text)
    assert "niet" in plain(told.text) and await rows(h, Answer) == []
    await h.close()


# ---------------------------------------------------------------------------- answers after /koppel los
TWO_PLATFORMS = [{"id": "teams", "platform": "teams", "title": "Teams kanaal"},
                 {"id": "sl", "platform": "slack", "title": "Slack kanaal"}]


def dms(h: Harness, before: int, who: str) -> list:
    return [s for s in since(h, before) if s.to == f"dm:{who}"]


async def test_a_follow_up_answered_after_its_owner_moved_out_with_the_chat_is_kept_with_the_action(
        database_url: str) -> None:
    """Cem (only in the Slack chat) is asked how his action went; then the Slack chat is taken out
    and he moves with it to its new network. His answer and his 'Gelukt, klaar' still belong to the
    action, in the network where it lives: kept there, told there, never taken for the new
    network's weekly question."""
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [dict(TEAMS_PEOPLE[0], chats=["teams", "sl"]), dict(TEAMS_PEOPLE[1], chats=["teams"]),
                                  dict(TEAMS_PEOPLE[2], chats=["sl"])], chats=TWO_PLATFORMS)
    await h.say("cem", "/actie Cem belt de schuldhulp voor 2026-01-09", chat="sl")
    await h.advance(local(2026, 1, 9, 10, 30))
    assert h.recorder.latest("action_followup", to="dm:cem") is not None
    await h.say("anna", "/koppel los 2", chat="teams")
    await h.advance(local(2026, 1, 13, 12, 0))  # the new network has asked its own weekly question
    old, new = await networks(h)
    assert h.recorder.latest("nudge", chat="sl").at == local(2026, 1, 13, 10, 0)

    before = len(h.recorder.sent)
    await h.say("cem", "Gebeld, ze nemen contact met de familie op.", chat="sl", private=True)
    (noted,) = dms(h, before, "cem")
    assert noted.kind == "status" and "actie 1" in plain(noted.text) and old.name in plain(noted.text)
    (action,) = await rows(h, Action)
    assert (action.network_id, action.state, action.outcome) == (
        old.id, "open", "Gebeld, ze nemen contact met de familie op.")
    assert await rows(h, Answer) == []  # not an answer to the new network's question

    before = len(h.recorder.sent)
    await h.press("cem", "Gelukt, klaar", "action_followup", chat="sl")
    (action,) = await rows(h, Action)
    assert action.state == "done"
    done = [s for s in since(h, before) if s.to == "group" and s.has("action_followup")]
    assert [s.chat for s in done] == ["teams"] and "contact met de familie" in plain(done[0].text)
    (told,) = dms(h, before, "cem")  # he is not in that chat any more: he hears it privately
    assert "klaar" in plain(told.text) and old.name in plain(told.text)
    assert new.id != old.id
    await h.close()


async def test_still_going_after_the_owner_moved_out_is_noted_without_promising_another_follow_up(
        database_url: str) -> None:
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [dict(TEAMS_PEOPLE[0], chats=["teams", "sl"]), dict(TEAMS_PEOPLE[2], chats=["sl"])],
                  chats=TWO_PLATFORMS)
    await h.say("cem", "/actie Cem belt de schuldhulp voor 2026-01-09", chat="sl")
    await h.advance(local(2026, 1, 9, 10, 30))
    await h.say("anna", "/koppel los 2", chat="teams")
    before = len(h.recorder.sent)
    await h.press("cem", "Loopt nog", "action_followup", chat="sl")
    (told,) = since(h, before)
    assert told.to == "dm:cem" and told.kind == "status" and "loopt nog" in plain(told.text)
    assert "vraag ik opnieuw" not in plain(told.text) and "/actie" not in plain(told.text)
    (action,) = await rows(h, Action)
    assert action.state == "open"
    before = len(h.recorder.sent)
    await h.advance(local(2026, 2, 10, 12, 0))
    assert [s for s in since(h, before) if s.kind == "action_followup"] == []
    await h.close()


async def test_a_follow_up_answered_from_the_account_whose_chat_was_taken_out_goes_to_the_action(
        database_url: str) -> None:
    """Anna is one person in both chats, first on Slack: the follow-up reaches her there. The Slack
    chat is taken out: she stays here (on Teams) and is a fresh member of the Slack chat's network.
    Her private answer on Slack, after that network asked its weekly question, is about her action
    here: it was stored as her answer to the new network's question."""
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [dict(TEAMS_PEOPLE[0], chats=["sl", "teams"]), dict(TEAMS_PEOPLE[1], chats=["teams"]),
                                  dict(TEAMS_PEOPLE[2], chats=["sl"])], chats=TWO_PLATFORMS)
    await h.say("anna", "/actie Ik bel de school voor 2026-01-09", chat="teams")
    await h.advance(local(2026, 1, 9, 10, 30))
    assert h.recorder.latest("action_followup", to="dm:anna") is not None
    await h.say("anna", "/koppel los 2", chat="teams")
    await h.advance(local(2026, 1, 13, 12, 0))
    old, new = await networks(h)

    before = len(h.recorder.sent)
    await h.say("anna", "De school denkt mee.", chat="sl", private=True)
    (noted,) = dms(h, before, "anna")
    assert noted.kind == "status" and "actie 1" in plain(noted.text) and old.name in plain(noted.text)
    (action,) = await rows(h, Action)
    assert (action.network_id, action.outcome) == (old.id, "De school denkt mee.")
    assert await rows(h, Answer) == []

    before = len(h.recorder.sent)
    await h.press("anna", "Loopt nog", "action_followup", chat="sl")
    (told,) = since(h, before)
    assert told.to == "dm:anna" and "vraag ik opnieuw" in plain(told.text) and "/actie" not in plain(told.text)
    before = len(h.recorder.sent)
    await h.advance(local(2026, 2, 10, 12, 0))
    again = [s for s in since(h, before) if s.kind == "action_followup"]
    assert [s.to for s in again] == ["dm:anna"]  # asked again, by the network the action is in
    (anna,) = [m for m in await rows(h, Member) if m.network_id == old.id and m.name == "Anna de Vries"]
    assert (anna.platform, anna.user_id) == ("teams", "anna")
    await h.close()


async def test_a_follow_up_of_the_old_network_answered_by_a_member_who_joined_the_taken_out_chat_anew(
        database_url: str) -> None:
    """Two chats on one platform: taking one out keeps everyone here, and who writes in the chat
    taken out joins its new network anew, so a private message of theirs goes to that newer
    membership. A follow-up of this network is still answered here: text and button."""
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [dict(TEAMS_PEOPLE[0], chats=["a", "b"]), {"id": "dewi", "name": "Dewi Santoso",
                                                                              "chats": ["a", "b"]}],
                  chats=[{"id": "a", "platform": "telegram", "title": "Kern"},
                         {"id": "b", "platform": "telegram", "title": "Buurt"}])
    await h.say("dewi", "/actie Ik spreek de wijkagent voor 2026-01-09", chat="a")
    await h.advance(local(2026, 1, 9, 10, 30))
    await h.say("anna", "/koppel los 2", chat="a")
    await h.say("dewi", "Hoi allemaal", chat="b")  # she joins the new network
    await h.advance(local(2026, 1, 13, 12, 0))
    old, new = await networks(h)
    assert {m.network_id for m in await rows(h, Member) if m.user_id == "dewi"} == {old.id, new.id}

    before = len(h.recorder.sent)
    await h.say("dewi", "Hij komt langs bij de volgende bijeenkomst.", chat="b", private=True)
    (noted,) = dms(h, before, "dewi")
    assert "actie 1" in plain(noted.text)
    (action,) = await rows(h, Action)
    assert (action.network_id, action.outcome) == (old.id, "Hij komt langs bij de volgende bijeenkomst.")
    assert await rows(h, Answer) == []
    before = len(h.recorder.sent)
    await h.press("dewi", "Gelukt, klaar", "action_followup", chat="b")
    (action,) = await rows(h, Action)
    assert action.state == "done"
    assert [s.chat for s in since(h, before) if s.to == "group" and s.has("action_followup")] == ["a"]
    await h.close()


async def test_a_reminder_answered_after_the_chat_was_taken_out_answers_its_own_question(database_url: str) -> None:
    """The reminder of this network's weekly question reached Anna on Slack; the Slack chat is taken
    out. Her private answer there is her answer to this network's question (she is still a member
    here, on Teams), not lost. Cem, who moved out with the chat, is told his is not kept there."""
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [dict(TEAMS_PEOPLE[0], chats=["sl", "teams"]), dict(TEAMS_PEOPLE[1], chats=["teams"]),
                                  dict(TEAMS_PEOPLE[2], chats=["sl"])], chats=TWO_PLATFORMS)
    await h.advance(local(2026, 1, 8, 12, 0))
    assert {s.to for s in h.recorder.sent if s.kind == "reminder"} == {"dm:anna", "dm:bram", "dm:cem"}
    await h.say("anna", "/koppel los 2", chat="teams")
    old, new = await networks(h)
    before = len(h.recorder.sent)
    await h.say("anna", "Wij zien het vooral bij jonge gezinnen.", chat="sl", private=True)
    (thanks,) = dms(h, before, "anna")
    assert thanks.kind == "status" and "weekvraag" in plain(thanks.text)
    (answer,) = await rows(h, Answer)
    (anna,) = [m for m in await rows(h, Member) if m.network_id == old.id and m.name == "Anna de Vries"]
    assert answer.member_id == anna.id and answer.text == "Wij zien het vooral bij jonge gezinnen."
    await h.say("anna", "/status", chat="teams")
    assert "06-01: 1 van 2" in plain(h.recorder.sent[-1].text)  # Cem moved out: Anna and Bram

    before = len(h.recorder.sent)
    await h.say("cem", "Bij ons ook.", chat="sl", private=True)
    (told,) = dms(h, before, "cem")
    assert old.name in plain(told.text) and "niet" in plain(told.text)
    assert len(await rows(h, Answer)) == 1
    await h.close()


async def test_a_reply_in_a_chat_taken_out_to_the_old_networks_question_is_not_kept_half(database_url: str) -> None:
    """In the Slack chat, after it was taken out, Cem (who moved with it) replies to the weekly
    question the old network asked there: the old network no longer counts him nor his answers, so
    it is not kept (nor taken for the new network's), and he hears why, only he. Two chats on one
    platform: Dewi, still in the old network through the other chat, replies in the one taken out:
    that is her answer there."""
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [dict(TEAMS_PEOPLE[0], chats=["teams", "sl"]), dict(TEAMS_PEOPLE[2], chats=["sl"])],
                  chats=TWO_PLATFORMS)
    await h.advance(local(2026, 1, 6, 10, 5))
    await h.say("anna", "/koppel los 2", chat="teams")
    old, _ = await networks(h)
    before = len(h.recorder.sent)
    await h.say("cem", "Bij ons in de wijk vooral.", chat="sl", reply_to="nudge")
    (told,) = since(h, before)
    assert told.visible_to == "cem" and old.name in plain(told.text) and "niet" in plain(told.text)
    assert await rows(h, Answer) == []
    await h.close()

    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [dict(TEAMS_PEOPLE[0], chats=["a", "b"]), {"id": "dewi", "name": "Dewi Santoso",
                                                                              "chats": ["a", "b"]}],
                  chats=[{"id": "a", "platform": "telegram", "title": "Kern"},
                         {"id": "b", "platform": "telegram", "title": "Buurt"}])
    await h.advance(local(2026, 1, 6, 10, 5))
    await h.say("anna", "/koppel los 2", chat="a")
    old, _ = (await networks(h))[-2:]  # (the first half's two networks are still there)
    await h.say("dewi", "Op school zien we het eerst.", chat="b", reply_to="nudge")
    (answer,) = await rows(h, Answer)
    (dewi,) = await rows(h, Member, Member.user_id == "dewi", Member.network_id == old.id)
    assert (answer.member_id, answer.text) == (dewi.id, "Op school zien we het eerst.")
    await h.say("anna", "/status", chat="a")
    assert "06-01: 1 van 2" in plain(h.recorder.sent[-1].text)
    await h.close()


async def test_a_follow_up_to_an_account_merged_by_ikben_or_in_a_chat_that_moved_is_still_answered(
        database_url: str) -> None:
    """Guards (these never lost the answer: the network stays, the follow-up's member row moves with
    the merge): after /ikben merges the account the follow-up went to, and after ChatMoved, the
    answer and the button still reach the action."""
    h = await two_networks(database_url)
    await link_buurt(h)
    await h.say("dewi", "/actie Ik spreek de wijkagent voor 2026-01-09", chat="buurt")
    await h.advance(local(2026, 1, 9, 10, 30))
    assert h.recorder.latest("action_followup", to="dm:dewi") is not None
    h.names["dewi-teams"] = "Dewi Santoso"
    h.member_chats["dewi-teams"] = ["teams"]
    await h.say("dewi-teams", "hallo")
    code = await ask_code(h, "dewi-teams", "/ikben")  # her Teams account is kept, the Telegram one merged in
    await h.say("dewi", f"/ikben {code}", chat="buurt", private=True)
    new = ChatRef("telegram", "group-buurt-2", "Buurtgroep")
    await h._handle(ChatMoved(h.chats["buurt"], new))
    h.chats["buurt"] = new
    await h.say("dewi", "Hij komt op de volgende bijeenkomst.", chat="buurt", private=True)
    assert "actie 1" in plain(h.recorder.sent[-1].text) and h.recorder.sent[-1].to == "dm:dewi"
    await h.press("dewi", "Gelukt, klaar", "action_followup", chat="buurt")
    (action,) = await rows(h, Action)
    (dewi,) = [m for m in await rows(h, Member) if m.name == "Dewi Santoso"]
    assert (action.owner_id, action.state, action.outcome) == (dewi.id, "done", "Hij komt op de volgende bijeenkomst.")
    assert await rows(h, Answer) == []
    await h.close()


# ---------------------------------------------------------------------------- buttons and replies after /koppel los
SAME_PLATFORM = [{"id": "a", "platform": "telegram", "title": "Kern"},
                 {"id": "b", "platform": "telegram", "title": "Buurt"}]


async def taken_out(database_url: str, same_platform: bool, **kwargs: object) -> Harness:
    """A network of two chats, Monday 5 January 2026 08:00. On two platforms (``teams`` and ``sl``):
    Anna in both, Cem only in the Slack chat, so he moves out with it. On one platform (``a``, ``b``):
    Anna and Dewi in both, so everyone stays and who writes in the chat taken out joins its new
    network anew."""
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    if same_platform:
        await h.setup(dict(NETWORK), [dict(TEAMS_PEOPLE[0], chats=["a", "b"]),
                                      {"id": "dewi", "name": "Dewi Santoso", "chats": ["a", "b"]}],
                      chats=SAME_PLATFORM)
    else:
        await h.setup(dict(NETWORK), [dict(TEAMS_PEOPLE[0], chats=["teams", "sl"]), dict(TEAMS_PEOPLE[2], chats=["sl"])],
                      chats=TWO_PLATFORMS)
    return h


async def test_read_button_on_an_announcement_from_before_the_chat_was_taken_out(database_url: str) -> None:
    """Anna's announcement went out in both chats; then the Slack chat is taken out. Cem, who moved
    out with it, presses 'Gelezen' under it there: not 'this button no longer works', but that the
    announcement is the old network's, whose list of readers no longer counts him; nothing is noted.
    Two chats on one platform: Dewi, still in the old network, presses it in the chat taken out: it
    is noted there, for her membership there, and she hears which network's announcement it was."""
    h = await taken_out(database_url, same_platform=False)
    await h.say("anna", "/mededeling De zaal is veranderd.", chat="teams")
    assert h.recorder.latest("announcement", chat="sl") is not None
    await h.say("anna", "/koppel los 2", chat="teams")
    old, _ = await networks(h)
    before = len(h.recorder.sent)
    await h.press("cem", "Gelezen", "announcement", chat="sl")
    (told,) = since(h, before)
    assert (told.kind, told.visible_to) == ("status", "cem")
    assert old.name in plain(told.text) and "mededeling 1" in plain(told.text).lower()
    assert "knop werkt niet" not in plain(told.text)
    (anna,) = await rows(h, Member, Member.network_id == old.id)
    assert [r.member_id for r in await rows(h, AnnouncementRead)] == [anna.id]  # the author's own
    await h.close()

    h = await taken_out(database_url, same_platform=True)
    await h.say("anna", "/mededeling De zaal is veranderd.", chat="a")
    await h.say("anna", "/koppel los 2", chat="a")
    old = (await networks(h))[-2]
    before = len(h.recorder.sent)
    await h.press("dewi", "Gelezen", "announcement", chat="b")
    (thanks,) = since(h, before)
    assert thanks.visible_to == "dewi" and old.name in plain(thanks.text) and "gelezen" in plain(thanks.text)
    (dewi,) = await rows(h, Member, Member.user_id == "dewi", Member.network_id == old.id)
    assert dewi.id in [r.member_id for r in await rows(h, AnnouncementRead)]
    await h.say("anna", "/mededeling 1", chat="a")
    assert "Gelezen door: Anna de Vries, Dewi Santoso" in plain(h.recorder.latest("status", to="dm:anna").text)
    await h.close()


async def test_gelezen_typed_in_a_chat_taken_out_reads_the_announcement_posted_there(database_url: str) -> None:
    """The announcement said "typ /gelezen 1" in both chats; then the Slack chat is taken out. Typed
    there, /gelezen 1 reaches the new network, which has no announcement 1: it is traced to the one
    posted in this chat, like the Gelezen button. Cem (moved out with the chat) hears it is the old
    network's and nothing is noted; Dewi (still in the old network) is counted there. Once the new
    network posts its own announcement 1 in the chat, /gelezen 1 there is that one."""
    h = await taken_out(database_url, same_platform=False)
    await h.say("anna", "/mededeling De zaal is veranderd.", chat="teams")
    await h.say("anna", "/koppel los 2", chat="teams")
    old, _ = await networks(h)
    before = len(h.recorder.sent)
    await h.say("cem", "/gelezen 1", chat="sl")
    (told,) = since(h, before)  # was "Ik vind geen mededeling met nummer 1."
    assert told.kind == "status" and plain(told.text) == (
        f"Mededeling 1 is van {old.name}. Deze chat hoort daar niet meer bij. "
        "Daarom noteer ik daar niet dat je hem gelezen hebt.")
    (anna,) = await rows(h, Member, Member.network_id == old.id)
    assert [r.member_id for r in await rows(h, AnnouncementRead)] == [anna.id]
    await h.close()

    h = await taken_out(database_url, same_platform=True)
    await h.say("anna", "/mededeling De zaal is veranderd.", chat="a")
    await h.say("anna", "/koppel los 2", chat="a")
    old, new = (await networks(h))[-2:]
    before = len(h.recorder.sent)
    await h.say("dewi", "/gelezen 1", chat="b")
    thanks = since(h, before)[-1]  # after the word that Dewi, the first to ask, is the new network's trekker
    assert plain(thanks.text) == f"Dank je, mededeling 1 van {old.name} staat bij jou als gelezen."
    (dewi,) = await rows(h, Member, Member.user_id == "dewi", Member.network_id == old.id)
    (first,) = await rows(h, Announcement, Announcement.network_id == old.id)
    assert dewi.id in [r.member_id for r in await rows(h, AnnouncementRead, AnnouncementRead.announcement_id == first.id)]
    await h.say("dewi", "/mededeling Volgende week geen bijeenkomst.", chat="b")
    (second,) = await rows(h, Announcement, Announcement.network_id == new.id)
    assert second.nr == 1 and second.state == "posted"
    await h.say("anna", "/gelezen 1", chat="b")
    assert plain(h.recorder.sent[-1].text) == "Dank je, mededeling 1 staat bij jou als gelezen."
    readers = await rows(h, AnnouncementRead, AnnouncementRead.announcement_id == second.id)
    assert len(readers) == 2  # Dewi, its author, and Anna, in the new network
    anna_old = next(m for m in await rows(h, Member) if m.user_id == "anna" and m.network_id == old.id)
    assert anna_old.id not in [r.member_id for r in readers]
    await h.close()


async def old_networks_questions(h: Harness, chat: str) -> None:
    """The old network asks in both chats (celebrate prompt, input question for a session, goal and
    intention prompts), then its second chat is taken out."""
    await h.say("anna", "/ritme stil uit", chat=chat)
    await h.say("anna", "/bijeenkomst 2026-02-19 14:00-16:00 Buurthuis De Linde", chat=chat)
    await h.advance(local(2026, 2, 17, 12, 0))
    for kind in ("celebrate_prompt", "pre_session_question", "goal_prompt", "intention_prompt"):
        assert {s.chat for s in h.recorder.sent if s.kind == kind} == set(h.chats), kind
    await h.say("anna", "/koppel los 2", chat=chat)


REPLIES = {"celebrate_prompt": "De wijkagent kwam langs!", "pre_session_question": "Ik neem een casus mee.",
           "goal_prompt": "Ik vraag nu eerst door.", "intention_prompt": "Het past nog goed."}


async def test_replies_in_a_chat_taken_out_to_what_the_old_network_asked_are_kept_there_or_not_at_all(
        database_url: str) -> None:
    """After the Slack chat is taken out, Cem (who moved with it) replies there to what the old
    network asked in it before: a celebration, input for its session, a reflection on its goals and
    its intention. None of it belongs to his new network, and the old one no longer counts him: it
    is kept nowhere, and he hears why, only he (as for its weekly question). Two chats on one
    platform: Dewi, still in the old network, replies in the chat taken out: each is kept in the old
    network, as hers there."""
    h = await taken_out(database_url, same_platform=False)
    await old_networks_questions(h, "teams")
    old, _ = await networks(h)
    for kind, text in REPLIES.items():
        before = len(h.recorder.sent)
        await h.say("cem", text, chat="sl", reply_to=kind)
        (told,) = since(h, before)
        assert (told.kind, told.visible_to) == ("status", "cem"), kind
        assert old.name in plain(told.text) and "niet" in plain(told.text), kind
    assert [c for c in await rows(h, Celebration) if c.source == "prompt"] == []
    assert await rows(h, MeetingInput) == [] and await rows(h, Reflection) == []
    await h.close()

    h = await taken_out(database_url, same_platform=True)
    await old_networks_questions(h, "a")
    old, new = (await networks(h))[-2:]
    for kind, text in REPLIES.items():
        before = len(h.recorder.sent)
        await h.say("dewi", text, chat="b", reply_to=kind)
        assert [s for s in since(h, before) if s.kind != "status" or s.visible_to != "dewi"] == [], kind
    (dewi,) = await rows(h, Member, Member.user_id == "dewi", Member.network_id == old.id)
    (celebration,) = [c for c in await rows(h, Celebration) if c.source == "prompt"]
    assert (celebration.network_id, celebration.member_id) == (old.id, dewi.id)
    (given,) = await rows(h, MeetingInput)
    assert (given.member_id, given.text) == (dewi.id, "Ik neem een casus mee.")
    reflections = await rows(h, Reflection, order=Reflection.id)
    assert [(r.network_id, r.member_id, r.kind) for r in reflections] == [(old.id, dewi.id, "goal"),
                                                                          (old.id, dewi.id, "intention")]
    assert new.id != old.id
    await h.close()


async def test_a_goal_answered_privately_after_the_chat_was_taken_out_goes_to_the_network_that_asked(
        database_url: str) -> None:
    """The old network asked Cem and Anna privately about their own learning goals; then the Slack
    chat is taken out and Cem moves with it. His private answer was kept as a reflection of his new
    network; the question was the old network's, which no longer counts him: it is not kept, and he
    hears so (as for its weekly question). Anna's answer from her Slack account (she stays, on
    Teams) is her reflection in the old network."""
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [dict(TEAMS_PEOPLE[0], chats=["sl", "teams"]), dict(TEAMS_PEOPLE[1], chats=["teams"]),
                                  dict(TEAMS_PEOPLE[2], chats=["sl"])], chats=TWO_PLATFORMS)
    await h.say("anna", "/ritme stil uit", chat="teams")
    await h.say("cem", "/leerdoel Beter luisteren naar ouders", chat="sl")
    await h.say("anna", "/leerdoel Eerst vragen, dan pas helpen", chat="teams")
    await h.advance(local(2026, 2, 2, 12, 0))
    assert {s.to for s in h.recorder.sent if s.kind == "goal_prompt" and s.to != "group"} == {"dm:anna", "dm:cem"}
    await h.say("anna", "/koppel los 2", chat="teams")
    old, new = await networks(h)

    before = len(h.recorder.sent)
    await h.say("cem", "Ik vraag nu eerst door voor ik iets zeg.", chat="sl", private=True)
    (told,) = dms(h, before, "cem")
    assert told.kind == "status" and old.name in plain(told.text) and "niet" in plain(told.text)
    assert await rows(h, Reflection) == []

    before = len(h.recorder.sent)
    await h.say("anna", "Het lukt steeds beter.", chat="sl", private=True)
    (thanks,) = dms(h, before, "anna")
    assert thanks.kind == "status"
    (reflection,) = await rows(h, Reflection)
    (anna,) = await rows(h, Member, Member.network_id == old.id, Member.name == "Anna de Vries")
    assert (reflection.network_id, reflection.member_id, reflection.kind) == (old.id, anna.id, "goal")
    assert new.id != old.id
    await h.close()


async def test_a_member_who_moved_out_answers_the_new_networks_question_privately_after_the_old_reminder(
        database_url: str) -> None:
    """Cem got the old network's reminder on Slack, then moved out with the Slack chat. Its new
    network asks its own weekly question; his private answer after that is an answer to it (the
    newest question he was asked), not refused as one for the network he left."""
    h = await Harness.open(database_url, local(2026, 1, 5, 8, 0))
    await h.setup(dict(NETWORK), [dict(TEAMS_PEOPLE[0], chats=["sl", "teams"]), dict(TEAMS_PEOPLE[1], chats=["teams"]),
                                  dict(TEAMS_PEOPLE[2], chats=["sl"])], chats=TWO_PLATFORMS)
    await h.advance(local(2026, 1, 8, 12, 0))
    assert h.recorder.latest("reminder", to="dm:cem") is not None
    await h.say("anna", "/koppel los 2", chat="teams")
    await h.advance(local(2026, 1, 13, 12, 0))  # the new network has asked its own weekly question
    old, new = await networks(h)
    assert h.recorder.latest("nudge", chat="sl").at == local(2026, 1, 13, 10, 0)
    before = len(h.recorder.sent)
    await h.say("cem", "Bij ons in de wijk vooral.", chat="sl", private=True)
    (kept,) = dms(h, before, "cem")
    assert old.name not in plain(kept.text) and "bewaard" in plain(kept.text)
    (answer,) = await rows(h, Answer)
    (cem,) = await rows(h, Member, Member.user_id == "cem")
    assert (cem.network_id, answer.member_id, answer.text) == (new.id, cem.id, "Bij ons in de wijk vooral.")
    await h.close()
