"""Answers only the asker may see (they name or count members, or hold the asker's own private
data): shown to them alone in the group where their platform can (Slack, the console), sent to
them privately where it cannot (Telegram, Teams, Matrix), with a neutral pointer in the group
that names nobody. Assertions are about what the bot sent and stored.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from adapters.console.harness import NO_EPHEMERAL, PLATFORM, Harness, Sent
from bamboe.features import FEATURES
from bot.core import Ctx
from bot.events import ChatRef, Person
from bot.markup import plain
from bot.models import Member, Network, OutboxMessage
from bot.platform import Capabilities
from bot.registry import Registry
from tests.conftest import MEMBERS, NETWORK, local
from tests.test_rhythm import command, rows

POINTER = "Dit antwoord stuur ik je in een persoonlijk bericht."
NAMES = [m["name"] for m in MEMBERS]


async def open_on(sqlite_url: str, platform: str) -> Harness:
    """The six members in one group chat on ``platform`` (a label: the core treats it as that platform)."""
    h = await Harness.open(sqlite_url, local(2026, 1, 5, 8, 0))
    if platform == PLATFORM:
        await h.setup(dict(NETWORK), [dict(m) for m in MEMBERS])
    else:
        await h.setup(dict(NETWORK), [dict(m) for m in MEMBERS], chats=[{"id": "g", "platform": platform}])
    return h


def in_group_naming_someone(replies: list[Sent]) -> list[Sent]:
    return [s for s in replies if s.to == "group" and any(name in plain(s.text) for name in NAMES)]


async def announce_and_read(h: Harness) -> None:
    await h.advance(local(2026, 1, 5, 11, 0))
    await command(h, "anna", "/mededeling De bijeenkomst is in zaal 2.")
    await h.press("cem", "Gelezen", on="announcement")


@pytest.mark.parametrize("platform", sorted(NO_EPHEMERAL))
async def test_without_ephemeral_answers_the_read_list_goes_privately(sqlite_url: str, platform: str) -> None:
    h = await open_on(sqlite_url, platform)
    try:
        await announce_and_read(h)
        replies = await command(h, "anna", "/mededeling 1")
        assert [(s.kind, s.to) for s in replies] == [("status", "dm:anna"), ("hint", "group")]
        overview, pointer = (plain(s.text) for s in replies)
        assert "Gelezen door: Anna de Vries, Cem Yilmaz" in overview
        assert "Nog niet gelezen: Bram Peters, Dewi Santoso, Els Janssen, Fleur Bakker" in overview
        assert overview.endswith("Alleen jij ziet dit.")  # true: it is a private chat
        assert pointer == POINTER and replies[1].visible_to == "anna"
        assert in_group_naming_someone(replies) == []
        stored = await rows(h, OutboxMessage, OutboxMessage.kind == "status", OutboxMessage.user_id == "anna")
        assert [(r.chat_id, r.ephemeral) for r in stored if "Nog niet gelezen" in r.text] == [(None, False)]

        # the trekker's list counts who read each announcement: privately too
        listing = await command(h, "anna", "/mededeling")
        assert [(s.kind, s.to) for s in listing] == [("status", "dm:anna"), ("hint", "group")]
        assert "(gelezen door 2 van de 6 leden)" in plain(listing[0].text)
        assert not [s for s in listing if s.to == "group" and "gelezen door" in plain(s.text)]
        # anyone else's list counts nobody: it stays an answer in the group
        (other,) = await command(h, "cem", "/mededeling")
        assert (other.to, other.visible_to) == ("group", "cem") and "gelezen door" not in plain(other.text)

        # your own learning goal is yours alone
        await h.say("cem", "/leerdoel Minder snel oplossingen")
        goals = await command(h, "cem", "/leerdoel")
        assert [(s.kind, s.to) for s in goals] == [("status", "dm:cem"), ("hint", "group")]
        assert "Minder snel oplossingen" in plain(goals[0].text)
        assert not [s for s in h.recorder.sent if s.to == "group" and "Minder snel" in plain(s.text)]
    finally:
        await h.close()


@pytest.mark.parametrize("platform", [PLATFORM, "slack"])
async def test_with_ephemeral_answers_the_read_list_stays_in_the_group_for_the_asker(
        sqlite_url: str, platform: str) -> None:
    h = await open_on(sqlite_url, platform)
    try:
        await announce_and_read(h)
        (overview,) = await command(h, "anna", "/mededeling 1")
        assert (overview.kind, overview.to, overview.visible_to) == ("status", "group", "anna")
        assert "Nog niet gelezen: Bram Peters" in plain(overview.text)
        (listing,) = await command(h, "anna", "/mededeling")
        assert (listing.to, listing.visible_to) == ("group", "anna") and "gelezen door" in plain(listing.text)
        assert not [s for s in h.recorder.sent if s.to.startswith("dm:") or POINTER in plain(s.text)]
    finally:
        await h.close()


def test_the_harness_knows_which_platforms_have_no_ephemeral_answers() -> None:
    """The labels the console harness treats as "no ephemeral answers" are the adapters' own say."""
    from adapters.matrix.adapter import MatrixAdapter
    from adapters.slack.adapter import SlackSender
    from adapters.teams.adapter import TeamsAdapter
    from adapters.telegram.adapter import TelegramAdapter

    declared = {"matrix": MatrixAdapter, "slack": SlackSender, "teams": TeamsAdapter, "telegram": TelegramAdapter}
    assert {p for p, cls in declared.items() if not cls.capabilities.ephemeral} == NO_EPHEMERAL


def _ctx(platforms: dict[str, Capabilities], *, private: bool = False) -> Ctx:
    member = Member(id=1, network_id=1, platform="chat", user_id="u1", name="Anna de Vries", role="trekker",
                    active=True)
    return Ctx(None, datetime(2026, 1, 5), Network(id=1, language="en"), [], member,  # type: ignore[arg-type]
               ChatRef("chat", "u1" if private else "g1", "", private=private), "m1", Person("u1", "Anna"),
               features=Registry.of(FEATURES), platforms=platforms)


def test_a_platform_the_core_was_not_told_about_gets_confidential_answers_privately() -> None:
    ctx = _ctx({})
    ctx.confidential("status", "Not read yet: Bram")
    private, pointer = ctx.out
    assert (private.address.chat_id, private.address.user_id, private.ephemeral) == (None, "u1", False)
    assert (pointer.address.chat_id, pointer.ephemeral, pointer.reply_to) == ("g1", True, "m1")
    assert str(pointer.text) == "I am sending you this answer in a private message."
    ephemeral = _ctx({"chat": Capabilities(ephemeral=True)})
    ephemeral.confidential("status", "Not read yet: Bram")
    (only,) = ephemeral.out
    assert (only.address.chat_id, only.address.user_id, only.ephemeral) == ("g1", "u1", True)
    in_private = _ctx({}, private=True)
    in_private.confidential("status", "Not read yet: Bram")
    (answer,) = in_private.out  # asked in a private chat: answered there, no pointer
    assert (answer.address.chat_id, answer.address.user_id) == (None, "u1")
