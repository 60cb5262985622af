"""A member's deleted or edited message: the answer it gave goes, or follows the new text (through
the same privacy screen as a new answer), and nothing is said in the group."""

from __future__ import annotations

import io
import json

from sqlalchemy import select

from adapters.console.harness import Harness
from bot.core import MAX_TEXT
from bot.markup import plain
from bot.models import Answer, MeetingInput, Member
from tests.conftest import local
from tests.test_privacy import harness_export
from tests.test_rhythm import command, rows, sent

CASE = "Mevrouw Jansen belde over haar schulden, wat nu?"


async def _answers(h: Harness) -> list[tuple[str, str]]:
    """(member's user id, text) of every stored answer, in order."""
    users = {m.id: m.user_id for m in await rows(h, Member)}
    return [(users.get(a.member_id), a.text) for a in await rows(h, Answer, order=Answer.id)]


async def test_a_deleted_answer_is_gone_and_the_harvest_does_not_count_it(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 11, 0))
    case = await harness.say("cem", CASE, reply_to="nudge")
    await harness.say("dewi", "Armoede in de buurt is groter dan ik dacht.", reply_to="nudge")
    before = len(harness.recorder.sent)
    await harness.delete(case)
    assert harness.recorder.sent[before:] == []  # nothing said, in the group or to anyone
    assert await _answers(harness) == [("dewi", "Armoede in de buurt is groter dan ik dacht.")]
    await harness.advance(local(2026, 1, 13, 11, 0))
    (harvest,) = sent(harness, "harvest")
    assert "1 antwoord" in plain(harvest.text) and "Jansen" not in plain(harvest.text)


async def test_an_edited_answer_keeps_the_new_text_masked_like_a_new_answer(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 11, 0))
    case = await harness.say("cem", CASE, reply_to="nudge")
    before = len(harness.recorder.sent)
    await harness.edit("cem", case, "  Een bewoner belde over schulden, bel me op 06-12345678.  ")
    (answer,) = await _answers(harness)
    assert answer[0] == "cem" and "Jansen" not in answer[1] and "12345678" not in answer[1]
    assert answer[1].startswith("Een bewoner belde over schulden")  # stripped, as a new answer is
    new = harness.recorder.sent[before:]
    assert [(s.kind, s.to) for s in new] == [("privacy", "dm:cem")]  # the hint, privately; nothing in the group
    before = len(harness.recorder.sent)
    await harness.edit("cem", case, "Een bewoner belde over schulden.")
    assert await _answers(harness) == [("cem", "Een bewoner belde over schulden.")]
    assert harness.recorder.sent[before:] == []


async def test_an_edit_that_empties_the_answer_or_is_too_long_deletes_it(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 11, 0))
    case = await harness.say("cem", CASE, reply_to="nudge")
    other = await harness.say("dewi", "Uit nieuwsgierigheid.", reply_to="nudge")
    await harness.edit("cem", case, " \u200b ")
    await harness.edit("dewi", other, "x" * (MAX_TEXT + 1))
    assert await _answers(harness) == []
    assert sent(harness, "error") == [] and sent(harness, "hint") == []


async def test_only_the_author_edits_an_answer_and_other_messages_change_nothing(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 11, 0))
    case = await harness.say("cem", CASE, reply_to="nudge")
    chat = await harness.say("dewi", "Goedemorgen allemaal!")  # not an answer
    before = len(harness.recorder.sent)
    await harness.edit("dewi", case, "Iets anders.")  # a replacement by someone else (Matrix allows sending it)
    await harness.edit("dewi", chat, "Goedemiddag allemaal!")
    await harness.delete(chat)
    assert await _answers(harness) == [("cem", CASE)]
    assert harness.recorder.sent[before:] == []


async def test_a_private_answer_follows_its_message_and_erasure_cuts_the_link(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 11, 0))
    private = await harness.say("cem", CASE, private=True)  # the week's question still open: this answers it
    await harness.say("dewi", "Uit nieuwsgierigheid.", reply_to="nudge")
    await harness.edit("cem", private, "Een bewoner belde over schulden.")
    assert ("cem", "Een bewoner belde over schulden.") in await _answers(harness)
    dewi = await harness.say("els", "Ook uit nieuwsgierigheid.", reply_to="nudge")
    await harness.say("els", "/vergeetmij ja", private=True)
    (erased,) = await rows(harness, Answer, Answer.member_id.is_(None))
    assert (erased.text, erased.message_ref) == ("", None)  # an erased answer is no longer found
    await harness.edit("els", dewi, "Terug?")
    (erased,) = await rows(harness, Answer, Answer.member_id.is_(None))
    assert erased.text == ""
    await harness.delete(private)
    assert await _answers(harness) == [("dewi", "Uit nieuwsgierigheid."), (None, "")]


async def test_session_input_follows_its_message_from_a_reply_or_the_command(harness: Harness) -> None:
    await command(harness, "anna", "/bijeenkomst 2026-01-15 14:00-16:00 Buurthuis De Linde")
    await harness.advance(local(2026, 1, 12, 10, 0))
    reply = await harness.say("cem", "Mevrouw Jansen belde over haar schulden.", reply_to="pre_session_question")
    typed = await harness.say("els", "/inbreng Ik neem de casus van meneer Bakker mee.", private=True)
    other = await harness.say("dewi", "Scholen en ouders praten te weinig.", reply_to="pre_session_question")
    before = len(harness.recorder.sent)
    await harness.edit("cem", reply, "Een bewoner belde over schulden.")
    await harness.edit("els", typed, "/inbreng Ik neem een casus over een gezin mee.")
    await harness.edit("cem", other, "Niet van Cem.")  # not the author: nothing changes
    assert sorted(i.text for i in await rows(harness, MeetingInput)) == [
        "Een bewoner belde over schulden.", "Ik neem een casus over een gezin mee.",
        "Scholen en ouders praten te weinig."]
    await harness.delete(reply)
    await harness.edit("els", typed, "/inbreng")
    assert [i.text for i in await rows(harness, MeetingInput)] == ["Scholen en ouders praten te weinig."]
    assert harness.recorder.sent[before:] == []


async def test_the_export_shows_the_edited_answer_and_its_message(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 11, 0))
    case = await harness.say("cem", CASE, reply_to="nudge")
    await harness.edit("cem", case, "Een bewoner belde over schulden.")
    export = await harness_export(harness, "cem")
    (answer,) = json.loads(export.files[0][2])["answers"]
    assert answer["answer"] == "Een bewoner belde over schulden." and answer["message"].endswith(f":{case}")
    assert "Jansen" not in json.dumps(json.loads(export.files[0][2]))


async def test_a_scenario_edits_and_deletes_a_members_latest_messages(sqlite_url: str) -> None:
    from adapters.console import simulate
    from bot.database import Database, create_engine

    body = ("network: {name: X}\nmembers: [{id: a, role: trekker}, {id: c}, {id: d}]\nstart: '2026-01-05T08:00'\n"
            "steps:\n"
            "  - {at: '2026-01-06T11:00', from: c, reply_to: nudge, text: 'Mevrouw Jansen belde.'}\n"
            "  - {at: '2026-01-06T11:01', from: d, reply_to: nudge, text: 'Wij leerden veel.'}\n"
            "  - {at: '2026-01-06T11:02', from: d, text: 'Koffie?'}\n"
            "  - {at: '2026-01-06T11:03', from: c, edit: last, text: 'Een bewoner belde.'}\n"
            "  - {at: '2026-01-06T11:04', from: d, delete: 2}\n")
    await simulate.run(simulate.load(body), database_url=sqlite_url, out=io.StringIO())
    db = Database(create_engine(sqlite_url))
    try:
        async with db.transaction() as s:
            assert list(await s.scalars(select(Answer.text))) == ["Een bewoner belde."]
    finally:
        await db.close()
