"""The conformance suite: what every platform adapter does, proven through its real SDK against
its stand-in with the real core and a migrated database.

The tests speak only the driver protocol (``driver.py``) and decide what to expect from
``driver.capabilities``, never from a platform's name.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from bot.events import Attachment, Button
from bot.markup import TYPED
from bot.models import Answer, Chat, Member, Network, OutboxMessage, Round
from tests.contract.driver import AMS, GROUP, PEOPLE, Driver, private, readable

#: echoed into the group by ``/netwerk naam``: every way a platform could format or ping
ECHO = "*vet* _schuin_ ~weg~ `code` @channel @here <!here> <!channel> @room <at>Anna</at> <b>x</b> &amp; <@U1> [a](b)"


async def member(driver: Driver, user: str) -> Member:
    """The member row of ``user``."""
    (found,) = await driver.rows(Member, Member.user_id == driver.user_id(user))
    return found


# ---------------------------------------------------------------------------- bot added and removed
async def test_the_bot_added_makes_the_group_a_network_and_says_hello(driver: Driver) -> None:
    await driver.add_bot("anna")
    welcome = await driver.delivered("help")
    (chat,) = await driver.rows(Chat)
    assert (chat.platform, chat.chat_id) == (driver.platform, driver.chat_id)
    (network,) = await driver.rows(Network)
    assert network.name  # named after the group
    anna = await member(driver, "anna")
    assert anna.role == "trekker" and anna.name == PEOPLE["anna"]
    assert "Bamboe" in welcome.text and welcome.to == GROUP and welcome.visible_to is None
    await driver.settle()
    assert len(driver.find(GROUP)) == 1  # one welcome, however many events the platform sent


async def test_the_bot_removed_gets_no_answer_the_chat_leaves_and_the_group_refuses_it(group: Driver) -> None:
    """The platform's removal reaches the core (BotRemoved): the chat leaves its network and its
    members, in no other chat of it, leave too; nothing goes to the group, only the trekker hears
    privately; a message planned before that was handled (say by another replica) is refused by
    the platform and not tried again."""
    network, before = await group.network_id(), len(group.sent())
    await group.remove_bot("anna")
    await group.until_rows(Member, Member.user_id == group.user_id("cem"), Member.active.is_(False),
                           what="Cem gone with the chat")
    assert await group.rows(Chat, Chat.platform == group.platform, Chat.chat_id == group.chat_id) == []
    await group.delivered("link", private("anna"))
    await group.settle()
    assert [s.to for s in group.sent()[before:]] == [private("anna")]
    planned = await group.post("Na het vertrek", network=network)
    (row,) = await group.until_rows(OutboxMessage, OutboxMessage.id == planned.outbox_id,
                                    OutboxMessage.state == "failed", what="the refused message")
    assert not group.find(GROUP, "Na het vertrek")
    await group.settle()
    (row,) = await group.rows(OutboxMessage, OutboxMessage.id == planned.outbox_id)
    assert row.state == "failed"  # refused for good: not tried again


async def test_the_trekker_who_left_with_the_chat_brings_it_back_with_the_command_from_her_note(
        group: Driver) -> None:
    """Anna, the trekker, was only in the group that removed the bot: she hears privately what
    happened and the command that brings the group back, written as it is typed in the group on
    this platform; Bram and Cem hear nothing. She adds the bot again and types it: the group is
    in its network again, and she is its trekker."""
    network, before = await group.network_id(), len(group.sent())
    await group.remove_bot("anna")
    note = readable((await group.delivered("link", private("anna"))).text)
    assert "Je zat alleen in die chat" in note and "24 uur geldig" in note
    code = re.search(r"koppel ([A-Z0-9]{4}-[A-Z0-9]{4})", note)[1]
    typed = TYPED.get(group.platform, ("/{}",))[0].format(f"koppel {code}")
    assert f"typ daar {typed}." in note
    (anna,) = await group.rows(Member, Member.user_id == group.user_id("anna"))
    assert (anna.role, anna.active) == ("trekker", False)
    await group.settle()
    assert [s.to for s in group.sent()[before:]] == [private("anna")]
    await group.add_bot("anna")
    await group.until_rows(Chat, Chat.platform == group.platform, Chat.chat_id == group.chat_id,
                           what="the group met again")
    await group.group_message("anna", f"/koppel {code}")
    await group.until_rows(Chat, Chat.platform == group.platform, Chat.chat_id == group.chat_id,
                           Chat.network_id == network, what="the group back in its network")
    (anna,) = await group.rows(Member, Member.user_id == group.user_id("anna"))
    assert (anna.network_id, anna.role, anna.active) == (network, "trekker", True)
    assert "hoort nu bij" in readable((await group.delivered("link")).text)


async def test_the_group_renamed_renames_its_network_silently_until_the_trekker_names_it(group: Driver) -> None:
    """The platform's rename event reaches the core (ChatRenamed): the network named after the
    group takes the new title, without a word in the group; /netwerk shows it. Once the trekker
    chose a name (/netwerk naam), a rename keeps the chat's title current and the name as it is."""
    before = len(group.sent())
    await group.rename("armoede-venlo-noord")
    await group.until_rows(Network, Network.name == "armoede-venlo-noord", what="the network renamed")
    assert [c.title for c in await group.rows(Chat)] == ["armoede-venlo-noord"]
    await group.settle()
    assert group.sent()[before:] == []  # calm: nothing in the group, nothing privately
    await group.group_message("bram", "/netwerk")
    assert "armoede-venlo-noord" in readable((await group.delivered("status")).text)
    await group.group_message("anna", "/netwerk naam Armoede Venlo")
    await group.until_rows(Network, Network.name == "Armoede Venlo", what="the name Anna chose")
    await group.rename("buurt-noord")
    await group.until_rows(Chat, Chat.title == "buurt-noord", what="the chat's new title")
    assert [n.name for n in await group.rows(Network)] == ["Armoede Venlo"]


# ---------------------------------------------------------------------------- members
async def test_members_join_and_leave(group: Driver) -> None:
    cem = await member(group, "cem")
    assert cem.active and cem.name == PEOPLE["cem"] and cem.role == "deelnemer"
    await group.leave("cem")
    await group.until_rows(Member, Member.user_id == group.user_id("cem"), Member.active.is_(False),
                           what="Cem gone")
    bram = await member(group, "bram")
    assert bram.active


# ---------------------------------------------------------------------------- commands
async def test_a_command_in_the_group_is_answered_to_the_asker(group: Driver) -> None:
    asked = await group.group_message("anna", "/status")
    answer = await group.delivered("status")
    assert "Lerend netwerk" in answer.text or (await group.rows(Network))[0].name in answer.text
    if group.capabilities.ephemeral:
        assert answer.visible_to == "anna"
    else:
        assert answer.visible_to is None
        if group.capabilities.replies:
            assert answer.reply_to == asked
    await group.settle()
    assert len(await group.rows(OutboxMessage, OutboxMessage.kind == "status")) == 1


async def test_a_private_message_is_answered_privately(group: Driver) -> None:
    await group.private_message("bram", "/status")
    answer = await group.delivered("status", private("bram"))
    assert answer.visible_to is None and answer.reply_to is None and answer.thread is None
    assert not [s for s in group.find(GROUP) if s.visible_to == "bram"]


async def test_an_answer_that_names_members_reaches_the_asker_alone(group: Driver) -> None:
    """The trekker's read list names who has not read an announcement: shown to the trekker alone
    in the group where the platform can, otherwise sent privately with a pointer that names nobody."""
    await group.group_message("anna", "/mededeling De zaal is veranderd.")
    await group.delivered("announcement")
    await group.group_message("anna", "/mededeling 1")
    if group.capabilities.ephemeral:
        overview = await group.delivered("status")
        assert overview.visible_to == "anna"
    else:
        overview = await group.delivered("status", private("anna"))
        pointer = await group.delivered("hint")
        assert "persoonlijk bericht" in readable(pointer.text)
        assert not [name for name in PEOPLE.values() if name in readable(pointer.text)]
    assert f"Nog niet gelezen: {PEOPLE['bram']}, {PEOPLE['cem']}" in readable(overview.text)
    await group.settle()
    in_group = [s.visible_to for s in group.find(GROUP, "Nog niet gelezen")]
    assert in_group == (["anna"] if group.capabilities.ephemeral else [])


async def test_a_confidential_answer_waits_until_the_asker_starts_a_private_chat(group: Driver) -> None:
    """Where the group cannot show an answer to one person and the bot cannot open a private chat,
    the read list waits for the trekker to write the bot; the group hears how, and no names."""
    if group.capabilities.ephemeral or group.capabilities.opens_private:
        pytest.skip("only where an answer for one person has to wait for a private chat")
    group.not_started("anna")
    await group.group_message("anna", "/mededeling De zaal is veranderd.")
    await group.delivered("announcement")
    await group.group_message("anna", "/mededeling 1")
    note = await group.delivered("start_private")
    assert PEOPLE["anna"] in readable(note.text)
    (waiting,) = await group.until_rows(OutboxMessage, OutboxMessage.state == "waiting")
    assert waiting.kind == "status" and waiting.chat_id is None and "Nog niet gelezen" in waiting.text
    await group.delivered("hint")
    await group.settle()
    assert not group.find(GROUP, "Nog niet gelezen") and not group.find(private("anna"))
    await group.private_message("anna", "/start")
    overview = await group.delivered("status", private("anna"))
    assert f"Nog niet gelezen: {PEOPLE['bram']}, {PEOPLE['cem']}" in readable(overview.text)


async def test_a_newcomer_is_briefed_privately(driver: Driver) -> None:
    """Where the bot may open a private chat it briefs a newcomer at once; where the platform
    refuses until the member writes first, the group gets one note and the briefing waits."""
    await driver.add_bot("anna")
    await driver.delivered("help")
    if driver.capabilities.opens_private:
        await driver.join("cem")
        briefing = await driver.delivered("newcomer_briefing", private("cem"))
        assert "Cem" in briefing.text
        return
    driver.not_started("cem")
    await driver.join("cem")
    note = await driver.delivered("start_private")
    assert PEOPLE["cem"] in note.text
    (waiting,) = await driver.until_rows(OutboxMessage, OutboxMessage.state == "waiting")
    assert waiting.kind == "newcomer_briefing" and waiting.user_id == driver.user_id("cem")
    assert not driver.find(private("cem"))
    await driver.private_message("cem", "/start")
    briefing = await driver.delivered("newcomer_briefing", private("cem"))
    assert "Cem" in briefing.text
    assert len(driver.find(GROUP, "Hoi " + PEOPLE["cem"])) == 1  # one note, not one per waiting message


# ---------------------------------------------------------------------------- the weekly question
async def test_an_answer_to_the_weekly_question_is_counted(group: Driver) -> None:
    await group.advance(datetime(2026, 1, 6, 10, 0, tzinfo=AMS))
    nudge = await group.delivered("nudge")
    assert nudge.to == GROUP and nudge.visible_to is None
    await group.group_message("cem", "Wij leerden dat luisteren helpt.", reply_to=nudge)
    (answer,) = await group.until_rows(Answer, what="the answer")
    cem = await member(group, "cem")
    assert answer.member_id == cem.id and answer.text == "Wij leerden dat luisteren helpt."


async def test_an_edited_answer_keeps_the_new_text_screened_and_nothing_is_said_in_the_group(
        group: Driver) -> None:
    await group.advance(datetime(2026, 1, 6, 10, 0, tzinfo=AMS))
    nudge = await group.delivered("nudge")
    said = await group.group_message("cem", "Mevrouw Jansen belde over haar schulden.", reply_to=nudge)
    await group.until_rows(Answer, what="the answer")
    before = len(group.sent())
    await group.edit("cem", said, "Een bewoner belde over schulden, bel 06-12345678.")
    (answer,) = await group.until_rows(Answer, Answer.text.startswith("Een bewoner"), what="the edited answer")
    assert "Jansen" not in answer.text and "12345678" not in answer.text  # masked as a new answer is
    await group.settle()
    assert {s.to for s in group.sent()[before:]} <= {private("cem")}  # the privacy hint at most, never the group
    await group.edit("cem", said, "Een bewoner belde over schulden.")
    await group.until_rows(Answer, Answer.text == "Een bewoner belde over schulden.", what="the second edit")


async def _answers_if(driver: Driver, count: int) -> list[Answer] | None:
    """The answers, once there are ``count`` of them."""
    answers = await driver.rows(Answer)
    return answers if len(answers) == count else None


async def test_a_deleted_answer_is_gone_and_nothing_is_said(group: Driver) -> None:
    if not group.sees_deletions:
        pytest.skip("the platform does not tell bots of deleted messages (docs/telegram.md)")
    await group.advance(datetime(2026, 1, 6, 10, 0, tzinfo=AMS))
    nudge = await group.delivered("nudge")
    said = await group.group_message("cem", "Mevrouw Jansen belde over haar schulden.", reply_to=nudge)
    await group.group_message("bram", "Wij leerden dat luisteren helpt.", reply_to=nudge)
    await group.until(lambda: _answers_if(group, 2), "two answers")
    before = len(group.sent())
    await group.delete("cem", said)
    await group.until(lambda: _answers_if(group, 1), "one answer left")
    await group.settle()
    (answer,) = await group.rows(Answer)
    assert answer.text == "Wij leerden dat luisteren helpt."
    assert group.sent()[before:] == []


async def test_a_message_that_answers_nothing_is_not_counted(group: Driver) -> None:
    await group.advance(datetime(2026, 1, 6, 10, 0, tzinfo=AMS))
    await group.delivered("nudge")
    await group.group_message("cem", "Wie neemt er koffie mee?")
    await group.settle()
    assert await group.rows(Answer) == []


# ---------------------------------------------------------------------------- buttons
async def test_a_choice_is_made_with_a_button_or_its_text_fallback(group: Driver) -> None:
    await group.group_message("anna", "/actieleren")
    invitation = await group.delivered("actieleren")
    choice = "Ik breng een casus in"
    if group.capabilities.buttons:
        assert choice in invitation.buttons
    else:  # numbered choices in the text, and how to choose by typing
        assert invitation.buttons == () and choice in invitation.text
    await group.press("cem", invitation, choice)
    cem = await member(group, "cem")
    await group.until_rows(Round, Round.bringer_id == cem.id, what="Cem bringing the case")


# ---------------------------------------------------------------------------- texts
def _squeezed(text: str) -> str:
    return "".join(text.split())


async def test_a_long_text_is_split_within_the_platforms_limit(group: Driver) -> None:
    limit = group.capabilities.max_text
    lines = max(40, 3 * limit // 170)  # well over the limit, in lines of about 170 characters
    text = "\n".join(f"*Regel {i}*: " + "woord & " * 20 for i in range(lines))
    before = len(group.sent())
    await group.post(text, buttons=(Button("Klaar", "contract:done"),))
    expected = _squeezed("\n".join(f"Regel {i}: " + "woord & " * 20 for i in range(lines)))

    await group.delivered("contract")  # the row is recorded as sent once every part was accepted
    parts = [s for s in group.sent()[before:] if s.to == GROUP]
    assert _squeezed("".join(s.text for s in parts)) == expected, [len(s.text) for s in parts]
    if limit:
        assert len(parts) > 1
        assert all(len(p.text) <= limit for p in parts), [len(p.text) for p in parts]
    else:
        assert len(parts) == 1
    assert "*" not in "".join(p.text for p in parts)  # the bold of each line stays bold in its part
    if group.capabilities.buttons:
        assert [bool(p.buttons) for p in parts] == [False] * (len(parts) - 1) + [True]


async def test_echoed_user_text_neither_pings_nor_formats(group: Driver) -> None:
    await group.group_message("anna", f"/netwerk naam {ECHO}")
    changed = await group.until(lambda: group.find(GROUP, "veranderd in"), "the group told of the new name")
    await group.group_message("anna", "/netwerk")
    shown = await group.delivered("status")
    for sent in (*changed, shown):
        assert ECHO in readable(sent.text), sent.wire
        assert sent.pings == (), sent.wire
    for sent in group.sent():
        assert sent.pings == (), sent.wire


# ---------------------------------------------------------------------------- files
async def test_a_file_arrives_with_its_message(group: Driver) -> None:
    data = b"%PDF-1.7 verslag \x00\xff"
    await group.post("Het verslag", files=(Attachment("verslag.pdf", "application/pdf", data),))
    if not group.capabilities.files:
        await group.until(lambda: group.find(GROUP, "Het verslag"), "the text")
        return
    (with_file,) = await group.until(lambda: [s for s in group.find(GROUP) if s.files], "the file")
    assert [(f.name, f.data) for f in with_file.files] == [("verslag.pdf", data)]
    assert group.find(GROUP, "Het verslag")


# ---------------------------------------------------------------------------- faults
async def test_a_429_is_honoured(group: Driver) -> None:
    group.fail_next_with_429(3)
    await group.post("Na de pauze")
    (after,) = await group.until(lambda: group.find(GROUP, "Na de pauze"), "the message after the pause")
    (refused,) = group.throttled()
    assert after.at is not None and after.at - refused >= timedelta(seconds=3)
    await group.settle()
    assert len(group.find(GROUP, "Na de pauze")) == 1


async def test_what_a_member_did_while_the_database_was_down_is_delivered_again(group: Driver) -> None:
    await group.advance(datetime(2026, 1, 6, 10, 0, tzinfo=AMS))
    nudge = await group.delivered("nudge")
    await group.drained()
    before = len(group.sent())
    async with group.database_down():
        await group.group_message("cem", "Wij leerden dat luisteren helpt.", reply_to=nudge)
        await group.settle()
        assert len(group.sent()) == before  # nothing answered, nothing half-done
    (answer,) = await group.until_rows(Answer, what="the answer, handled once the database is back")
    cem = await member(group, "cem")
    assert answer.member_id == cem.id and answer.text == "Wij leerden dat luisteren helpt."
    await group.settle()
    assert len(await group.rows(Answer)) == 1  # delivered again, handled once
