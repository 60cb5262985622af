"""A member who left the network is erased, as ``/vergeetmij`` does but telling nobody, once they
have been gone longer than the network's retention period (the nightly retention run); someone
who is still a member, or came back, keeps their history; only this network's membership goes
(a person who is still in another network stays there, reachable as before)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.console.harness import Harness
from bot.events import BotRemoved
from bot.features import privacy
from bot.models import (
    Answer,
    Celebration,
    Job,
    LinkCode,
    LogEntry,
    Member,
    MemberIdentity,
    Network,
    OutboxMessage,
)
from tests.conftest import MEMBERS, local, texts
from tests.test_privacy import DEWI_WORDS, cells_holding, dewi_does_everything
from tests.test_rhythm import command, member, rows, sent


def record_forgotten(h: Harness) -> list[str]:
    """The ids the adapters are asked to forget (the console's sender gets ``forget``)."""
    forgotten: list[str] = []

    async def forget(user_id: str) -> None:
        forgotten.append(user_id)

    h.recorder.forget = forget
    return forgotten


async def test_a_former_member_is_erased_silently_one_day_after_the_period_in_no_column_of_any_table(
        database_url: str) -> None:
    """Dewi did everything, in two linked chats (Teams and Telegram) of one network; both chats
    remove the bot, so she (with both her accounts) and everyone else left on 15 January. With a
    retention period of 1 month (30 days) she is all there on 13 February, and on 15 February
    nothing of her is in any column of any table (nor in the SQLite file), both her accounts were
    forgotten by the adapters, and nobody got a message about it."""
    h = await dewi_does_everything(database_url)
    try:
        forgotten = record_forgotten(h)
        await h.say("anna", "/privacy bewaartermijn 1")
        await h.advance(local(2026, 1, 15, 9, 0))
        await h._handle(BotRemoved(h.chats["buurt"]))  # Dewi is still in the Teams chat
        (dewi,) = await rows(h, Member, Member.name == "Dewi Santoso")
        assert dewi.active
        await h._handle(BotRemoved(h.chats["teams"]))  # now nobody is in any chat of the network
        (dewi,) = await rows(h, Member, Member.name == "Dewi Santoso")
        assert (dewi.active, dewi.left_at) == (False, local(2026, 1, 15, 9, 0))
        assert [i.user_id for i in await rows(h, MemberIdentity, MemberIdentity.member_id == dewi.id)] != []

        needles = ("dewi", "Dewi", "Santoso", *DEWI_WORDS)
        await h.advance(local(2026, 2, 13, 9, 0))  # one day before her 30 days are over: all still there
        before = await cells_holding(h, needles)
        assert {"members", "member_identities", "log_entries", "actions", "celebrations", "reflections"} <= set(before), \
            before
        (kept,) = await rows(h, Member, Member.name == "Dewi Santoso")
        assert (kept.goal, kept.user_id) == (f"eerst luisteren aan de {DEWI_WORDS[5]}", dewi.user_id)
        assert forgotten == []
        sent_before = len(h.recorder.sent)

        await h.advance(local(2026, 2, 15, 9, 0))  # one day after: erased, silently
        assert await cells_holding(h, needles) == {}
        assert await rows(h, Member, Member.id == dewi.id) == []
        assert await rows(h, MemberIdentity, MemberIdentity.member_id == dewi.id) == []
        assert await rows(h, LinkCode, LinkCode.member_id == dewi.id) == []
        (idea,) = await rows(h, LogEntry, LogEntry.kind == "idea")
        assert (idea.text, idea.author_id) == ("—", None)  # the network's log keeps its numbering
        assert await rows(h, Celebration) == []
        assert sorted(u for u in forgotten if u.startswith("dewi")) == ["dewi", "dewi-teams"]
        assert h.recorder.sent[sent_before:] == []  # nobody was told
        # the outbox rows that had the adapters forget each erased member were never sent, keep nothing
        left = await rows(h, OutboxMessage, OutboxMessage.kind == "forget")
        assert left and [(r.state, r.user_id, r.text, r.meta, r.member_id) for r in left] == [
            ("cancelled", None, "", {}, None)] * len(left)
    finally:
        await h.close()
    if database_url.startswith("sqlite"):  # nor in the file's free pages or its write-ahead log
        path = Path(database_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        assert [w for w in ("Santoso", *DEWI_WORDS) if w.encode() in raw] == []


async def test_current_and_returned_members_keep_their_history(harness: Harness) -> None:
    """Cem is still a member: his old answer goes with the retention period, he stays. Dewi left
    and came back before her period was over: she keeps her name and what she wrote. Els left and
    stayed away: she is erased the night after her period is over, and only she."""
    forgotten = record_forgotten(harness)
    await command(harness, "anna", "/privacy bewaartermijn 1")
    await harness.advance(local(2026, 1, 6, 10, 0))
    await harness.say("cem", "Een oud antwoord.", reply_to="nudge")
    await harness.say("dewi", "Ik luisterde eerst.", reply_to="nudge")
    await command(harness, "dewi", "/idee een ouderpanel")
    await command(harness, "els", "/idee een spreekuur")
    await harness.leave("dewi")
    await harness.leave("els")
    await harness.advance(local(2026, 1, 20, 10, 0))
    await harness.join("dewi", "Dewi Santoso")  # back, before her 30 days are over
    await harness.advance(local(2026, 2, 6, 4, 0))  # Els left 6 January 10:00: her 30 days ended 5 February
    assert await rows(harness, Member, Member.user_id == "els") == []
    cem, dewi = await member(harness, "cem"), await member(harness, "dewi")
    assert (cem.name, cem.active) == ("Cem Yilmaz", True)
    assert (dewi.name, dewi.active, dewi.left_at) == ("Dewi Santoso", True, None)
    ideas = {e.text: e.author_id for e in await rows(harness, LogEntry)}
    assert ideas == {"een ouderpanel": dewi.id, "—": None}  # Dewi's idea is hers; Els's anonymous
    # the answers are older than the period: gone by retention, whoever wrote them
    assert await rows(harness, Answer, Answer.text != "") == []
    assert forgotten == ["els"]
    assert sent(harness, "forget") == [] and [s for s in harness.recorder.sent if s.to == "dm:els"
                                               and s.at > local(2026, 1, 7, 0, 0)] == []
    # the next night there is nobody left to erase: nothing more happens
    await harness.advance(local(2026, 2, 7, 4, 0))
    assert forgotten == ["els"] and len(await rows(harness, Member)) == len(MEMBERS) - 1


async def test_the_night_a_former_members_period_ends_has_a_run_even_when_nothing_else_is_due(
        harness: Harness) -> None:
    """Nothing else old enough to remove: the run is still planned for the night after the leave
    passes the period (not every night, not never)."""
    await harness.leave("fleur")  # 5 January 08:00, the network's first day
    await harness.advance(local(2026, 1, 6, 4, 0))  # the first night's run plans the next
    async with harness.db.transaction() as s:
        due = list(await s.scalars(select(Job.due_at).where(Job.kind == "retention", Job.state == "pending")))
    # 12 months of 30 days after 5 January 08:00 is 31 December 2026 08:00: the night after
    assert due == [local(2027, 1, 1, 3, 0)]
    await harness.advance(local(2027, 1, 1, 4, 0))
    assert await rows(harness, Member, Member.user_id == "fleur") == []


async def test_a_person_in_two_networks_is_erased_only_where_they_left(harness: Harness) -> None:
    """Cem is also in a second network (another group on the same platform, the same account).
    He leaves the first one: a month and a day later his membership there is erased, but in the
    second network he is still a member with his name, its messages to him stay, and the adapter
    is not asked to forget his account (the second network still reaches him with it)."""
    forgotten = record_forgotten(harness)
    await command(harness, "anna", "/privacy bewaartermijn 1")
    harness.add_chat("tweede", harness.chat.platform, "Tweede netwerk")
    await harness.say("cem", "/help", chat="tweede")  # the bot meets the group: Cem is its trekker
    await command(harness, "cem", "/idee samen koken")
    await harness.leave("cem")
    networks = await rows(harness, Network, order=Network.id)
    assert len(networks) == 2
    first, second = networks
    in_second = await rows(harness, OutboxMessage, OutboxMessage.network_id == second.id,
                           OutboxMessage.user_id == "cem")
    assert in_second  # what the second network told him privately
    await harness.advance(local(2026, 2, 6, 4, 0))
    (cem,) = await rows(harness, Member, Member.user_id == "cem")
    assert (cem.network_id, cem.name, cem.active) == (second.id, "Cem Yilmaz", True)
    assert [e.text for e in await rows(harness, LogEntry, LogEntry.network_id == first.id)] == ["—"]
    kept = await rows(harness, OutboxMessage, OutboxMessage.network_id == second.id, OutboxMessage.user_id == "cem")
    assert {r.id for r in in_second} <= {r.id for r in kept}
    assert "cem" not in forgotten
    await harness.say("cem", "/mijngegevens", private=True)  # his data now: the second network's
    assert "Tweede netwerk" in texts(harness, "privacy", to="dm:cem")[-1]


async def test_a_former_member_who_never_answered_the_erasure_question_is_erased_and_then_told_nothing_is_kept(
        harness: Harness) -> None:
    """Cem left, asked /vergeetmij privately and never answered. His period passes: he is erased
    without a message, the question too. Answering it now, or asking for his data, tells him
    nothing is kept any more (not that he should use the command in the group)."""
    await command(harness, "anna", "/privacy bewaartermijn 1")
    await harness.leave("cem")
    await harness.say("cem", "/vergeetmij", private=True)
    (question,) = sent(harness, "privacy", to="dm:cem")
    assert question.buttons
    before = len(harness.recorder.sent)
    await harness.advance(local(2026, 2, 6, 4, 0))
    assert await rows(harness, Member, Member.user_id == "cem") == []
    assert [s for s in harness.recorder.sent[before:] if s.to == "dm:cem"] == []
    assert await rows(harness, OutboxMessage, OutboxMessage.user_id == "cem") == []  # the question too
    await harness.say("cem", "/vergeetmij ja", private=True)
    await harness.say("cem", "/mijngegevens", private=True)
    told = [s for s in harness.recorder.sent[before:] if s.to == "dm:cem"]
    assert [s.kind for s in told] == ["privacy", "privacy"]
    assert texts(harness, to="dm:cem")[-2:] == [
        "🔒 Ik heb geen gegevens van jou als lid van een netwerk. Er is dus niets om te laten zien of te verwijderen."] * 2
    assert await rows(harness, Member, Member.user_id == "cem") == []


async def test_an_erasure_notice_still_on_its_way_is_delivered_and_forgets(harness: Harness) -> None:
    """An erasure notice to an account (of another erasure) not delivered yet when a silent erasure
    of the same account runs: it is not removed, so it still goes out and has the account forgotten."""
    forgotten = record_forgotten(harness)
    await command(harness, "anna", "/privacy bewaartermijn 1")
    await harness.leave("cem")
    await harness.advance(local(2026, 2, 5, 2, 59))  # he left on 5 January 08:00
    assert await rows(harness, Member, Member.user_id == "cem")
    async with harness.db.transaction() as s:
        s.add(OutboxMessage(network_id=None, platform=harness.chat.platform, chat_id=None, user_id="cem",
                            kind="privacy", text="Je gegevens zijn verwijderd.", state="pending",
                            meta={"scrub": "all", "forget": [[harness.chat.platform, "cem"]]},
                            created_at=harness.clock.now()))
    await harness.advance(local(2026, 2, 5, 4, 0))
    assert await rows(harness, Member, Member.user_id == "cem") == []
    assert texts(harness, to="dm:cem")[-1] == "Je gegevens zijn verwijderd."
    assert forgotten.count("cem") >= 1
    assert await rows(harness, OutboxMessage, OutboxMessage.user_id == "cem") == []


async def test_many_former_members_are_erased_in_batches(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """One run erases at most a batch (one transaction each); a full batch has the next run follow
    at once, the same night, until all are done."""
    monkeypatch.setattr(privacy, "FORMER_BATCH", 2)
    forgotten = record_forgotten(harness)
    await command(harness, "anna", "/privacy bewaartermijn 1")
    for who in ("bram", "cem", "dewi", "els", "fleur"):
        await harness.leave(who)  # 5 January 08:00
    await harness.advance(local(2026, 2, 5, 4, 0))
    assert [m.user_id for m in await rows(harness, Member)] == ["anna"]
    assert sorted(forgotten) == ["bram", "cem", "dewi", "els", "fleur"]
    async with harness.db.transaction() as s:
        runs = [(k, st) for k, st in await s.execute(
            select(Job.key, Job.state).where(Job.kind == "retention", Job.due_at >= local(2026, 2, 5, 3, 0),
                                             Job.due_at < local(2026, 2, 6, 0, 0)).order_by(Job.id))]
    net = (await rows(harness, Network))[0].id
    assert runs == [(f"retention:{net}:2026-02-05", "done"), (f"retention:{net}:2026-02-05:1", "done"),
                    (f"retention:{net}:2026-02-05:2", "done")]


async def test_forgetme_of_a_person_in_two_networks_leaves_the_other_network_able_to_reach_them(
        harness: Harness) -> None:
    """The same account in two networks: ``/vergeetmij`` (from the second, where Cem joined last)
    erases that membership; the first network keeps him, its messages to him, and the adapter is
    not asked to forget the account it still reaches him with."""
    forgotten = record_forgotten(harness)
    await command(harness, "cem", "/mijngegevens")  # the first network's export goes to him privately
    harness.add_chat("tweede", harness.chat.platform, "Tweede netwerk")
    await harness.say("cem", "/help", chat="tweede")
    first, second = await rows(harness, Network, order=Network.id)
    in_first = await rows(harness, OutboxMessage, OutboxMessage.network_id == first.id, OutboxMessage.user_id == "cem")
    assert in_first
    await harness.say("cem", "/vergeetmij ja", private=True)
    assert "verwijderd" in texts(harness, to="dm:cem")[-1]
    (cem,) = await rows(harness, Member, Member.user_id == "cem")
    assert (cem.network_id, cem.name, cem.active) == (first.id, "Cem Yilmaz", True)
    kept = await rows(harness, OutboxMessage, OutboxMessage.network_id == first.id, OutboxMessage.user_id == "cem")
    assert {r.id for r in in_first} <= {r.id for r in kept}
    assert forgotten == []


async def test_erasing_a_former_member_keeps_what_only_contains_their_name_inside_another_word(
        harness: Harness) -> None:
    """Jan (on Telegram only a first name) left and is erased once his period is over. A
    celebration in which his name is only part of another word or name ("Janneke", "januari")
    is someone else's and stays; the one that names him goes."""
    await command(harness, "anna", "/privacy bewaartermijn 1")
    await harness.join("jan", "Jan")
    await command(harness, "anna", "/vier Dankzij Janneke draait het spreekuur")
    await command(harness, "bram", "/vier In januari kwamen er tien ouders")
    await command(harness, "cem", "/vier Jan heeft de zaal geregeld")
    await harness.leave("jan")
    await harness.advance(local(2026, 2, 10, 4, 0))
    assert await rows(harness, Member, Member.user_id == "jan") == []
    assert sorted(c.text for c in await rows(harness, Celebration)) == [
        "Dankzij Janneke draait het spreekuur", "In januari kwamen er tien ouders"]
