"""Keeping the network warm: the celebrate prompt and /vier, milestones (each at most once),
newcomers' briefing and the trekker's notice, leaving, and quiet members (privately, once per
quiet spell). Assertions are about what the bot sent and stored; time moves on the virtual clock.
"""

from __future__ import annotations

from sqlalchemy import update

from adapters.console.harness import Harness
from bot.markup import plain
from bot.models import Celebration, Job, Member, OutboxMessage
from tests.conftest import local, texts
from tests.test_rhythm import at_local, command, member, network, only_error_for, rows, sent

OTHERS = ["anna", "bram", "cem", "els", "fleur"]  # everyone but dewi


async def answer_nudges(h: Harness, until, who: list[str]) -> None:  # noqa: ANN001
    """Advance to ``until``; ``who`` answer every nudge as soon as it is posted."""
    while True:
        due = await h.core.dispatcher.next_due()
        if due is None or due > until:
            break
        before = len(sent(h, "nudge"))
        await h.advance(due)
        if len(sent(h, "nudge")) > before:
            for person in who:
                await h.say(person, f"Antwoord van {person} over samenwerking met ouders.", reply_to="nudge")
    await h.advance(until)


# ---------------------------------------------------------------------------- celebrate
async def test_celebrate_prompt_every_other_friday_at_15(harness: Harness) -> None:
    await harness.advance(local(2026, 2, 21, 12, 0))
    prompts = sent(harness, "celebrate_prompt")
    assert [at_local(s) for s in prompts] == [local(2026, 1, 16, 15, 0), local(2026, 1, 30, 15, 0),
                                              local(2026, 2, 13, 15, 0)]
    assert all(s.to == "group" and "vier" in s.text for s in prompts)
    assert len({s.text for s in prompts}) == 3  # three phrasings, never the same twice in a row


async def test_no_invitation_to_celebrate_right_after_a_member_celebrated(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 15, 16, 0))
    await command(harness, "cem", "/vier de school belt nu zelf als er iets is")
    await harness.advance(local(2026, 1, 31, 12, 0))
    # the Friday after: the group had just celebrated, so no second post about celebrating; two weeks on it comes
    assert [at_local(s) for s in sent(harness, "celebrate_prompt")] == [local(2026, 1, 30, 15, 0)]
    await command(harness, "anna", "/ritme")
    assert "vr 16 jan 2026 15:00: de vraag om te vieren overgeslagen (er werd net gevierd)" in texts(harness)[-1]


async def test_celebrate_rhythm_can_change_and_stop(harness: Harness) -> None:
    only_error_for(await command(harness, "cem", "/ritme vieren do 16:00 1"), "cem")
    replies = await command(harness, "bram", "/ritme vieren do 16:00 1")
    assert [s.kind for s in replies] == ["status"] and "elke week op donderdag om 16:00" in texts(harness)[-1]
    await harness.advance(local(2026, 1, 16, 0, 0))
    assert [at_local(s) for s in sent(harness, "celebrate_prompt")] == [local(2026, 1, 8, 16, 0),
                                                                          local(2026, 1, 15, 16, 0)]
    await command(harness, "anna", "/ritme vieren uit")
    await harness.advance(local(2026, 3, 1, 0, 0))
    assert len(sent(harness, "celebrate_prompt")) == 2
    assert (await network(harness)).celebrate_weekday is None
    await command(harness, "anna", "/ritme")
    assert "De vraag om te vieren staat uit" in texts(harness)[-1]


async def test_vier_posts_in_the_group_and_keeps_a_log(harness: Harness) -> None:
    replies = await command(harness, "cem", "/vier we hebben de casus van de school samen in kaart gebracht")
    assert [(s.kind, s.to) for s in replies] == [("celebrate", "group")]
    assert "Cem Yilmaz viert: we hebben de casus" in texts(harness)[-1]
    await harness.advance(local(2026, 1, 16, 15, 0))
    before = len(harness.recorder.sent)
    await harness.say("dewi", "Dat ik eindelijk de wijkagent sprak!", reply_to="celebrate_prompt")
    assert len(harness.recorder.sent) == before  # a reply to the prompt is kept, not echoed
    stored = await rows(harness, Celebration, order=Celebration.id)
    assert [(c.source, c.text) for c in stored] == [
        ("vier", "we hebben de casus van de school samen in kaart gebracht"),
        ("prompt", "Dat ik eindelijk de wijkagent sprak!")]
    await command(harness, "els", "/vier")
    log = texts(harness)[-1]
    assert log.index("wijkagent") < log.index("casus van de school")  # newest first
    assert harness.recorder.sent[-1].visible_to == "els"


async def test_vier_refuses_what_is_too_long_and_stores_nothing(harness: Harness) -> None:
    only_error_for(await command(harness, "cem", "/vier " + "x" * 600), "cem")
    assert await rows(harness, Celebration) == []


# ---------------------------------------------------------------------------- milestones
async def test_tenth_answer_is_a_milestone_once(harness: Harness) -> None:
    await answer_nudges(harness, local(2026, 1, 16, 16, 0), ["anna", "bram", "cem", "dewi", "els", "fleur"])
    # 2 nudges × 6 answers = 12; the 10th answer made the milestone, the 11th and 12th did not. It rides
    # along with the bot's next post (the celebrate prompt), not in a post of its own (the message budget)
    (ms,) = sent(harness, "milestone")
    assert ms.to == "group" and ms.kind == "celebrate_prompt" and "al 10 keer" in texts(harness, "milestone")[0]
    assert [c.key for c in await rows(harness, Celebration)] == ["answers:10"]


async def test_newcomers_first_answer_is_celebrated_once(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 8, 9, 0))
    await harness.join("gijs", "Gijs de Vries")
    await harness.advance(local(2026, 1, 13, 10, 0))
    await harness.say("gijs", "Ik zie veel overlap met mijn werk als jongerenwerker.", reply_to="nudge")
    await harness.say("gijs", "En nog een gedachte.", reply_to="nudge")
    # a founder's first answer is no newcomer's milestone
    await harness.say("cem", "Mijn eerste antwoord.", reply_to="nudge")
    assert sent(harness, "milestone") == []  # it waits for the bot's next post
    await harness.advance(local(2026, 1, 16, 15, 0))
    (ms,) = sent(harness, "milestone")
    assert plain(ms.text).startswith(
        "🏅 Mijlpaal! Gijs de Vries gaf voor het eerst antwoord op de weekvraag. Welkom in het gesprek!")


async def test_third_session_is_a_milestone_and_the_fourth_is_not(harness: Harness) -> None:
    for day in (7, 14, 21, 28):
        await command(harness, "anna", f"/bijeenkomst 2026-01-{day} 14:00-16:00 Buurthuis")
    await harness.advance(local(2026, 1, 21, 15, 59))
    assert sent(harness, "milestone") == []
    await harness.advance(local(2026, 1, 21, 17, 0))
    (ms,) = sent(harness, "milestone")  # rides along with the question after the session
    assert at_local(ms) == local(2026, 1, 21, 17, 0) and ms.kind == "after_session_question"
    assert "drie keer bij elkaar" in texts(harness, "milestone")[0]
    await harness.advance(local(2026, 1, 29, 12, 0))
    assert len(sent(harness, "milestone")) == 1


async def test_cancelled_sessions_do_not_count(harness: Harness) -> None:
    for day in (7, 14, 21):
        await command(harness, "anna", f"/bijeenkomst 2026-01-{day} 14:00-16:00 Buurthuis")
    meetings = [s for s in harness.recorder.sent if s.kind == "session"]
    assert len(meetings) == 3
    await command(harness, "anna", "/bijeenkomst annuleer 2")
    await harness.advance(local(2026, 1, 22, 12, 0))
    assert sent(harness, "milestone") == []


async def test_a_year_since_the_start_is_a_milestone(harness: Harness) -> None:
    (job,) = await rows(harness, Job, Job.kind == "anniversary")
    assert at_local_dt(job.due_at) == local(2027, 1, 5, 10, 0)
    async with harness.db.transaction() as s:  # bring the anniversary forward instead of simulating a year
        await s.execute(update(Job).where(Job.id == job.id).values(due_at=local(2026, 1, 5, 10, 0)))
    await harness.advance(local(2026, 1, 6, 10, 0))
    (ms,) = sent(harness, "milestone")  # rides along with the next weekly question
    assert ms.kind == "nudge" and plain(ms.text).startswith(
        "🏅 Mijlpaal! Lerend netwerk Test bestaat een jaar! Wat is er in dat jaar veranderd, voor jou? "
        "Vertel het met /vier …")


def at_local_dt(value):  # noqa: ANN001, ANN201
    from tests.conftest import AMS

    return value.astimezone(AMS)


# ---------------------------------------------------------------------------- newcomers
async def test_newcomer_gets_a_private_briefing_and_the_trekker_a_private_notice(harness: Harness) -> None:
    await command(harness, "anna", "/bijeenkomst 2026-01-07 14:00-16:00 Buurthuis De Linde")
    await command(harness, "anna", "/bijeenkomst 2026-01-21 14:00-16:00 Wijkcentrum Oost")
    await command(harness, "anna", "/besluit we starten met twee scholen omdat ouders dat vroegen")
    await command(harness, "cem", "/actie Cem belt de intern begeleider voor 2026-02-01")
    await answer_nudges(harness, local(2026, 1, 15, 9, 0), ["anna", "bram", "cem"])
    before = len(harness.recorder.sent)
    await harness.join("gijs", "Gijs de Vries")
    new = harness.recorder.sent[before:]
    assert [(s.kind, s.to) for s in new] == [("newcomer_briefing", "dm:gijs"), ("newcomer_notice", "dm:anna")]
    briefing = texts(harness, "newcomer_briefing")[0]
    for part in ("Welkom Gijs", "Samen leren over armoede.", "Eén aanpak.", "Tot nu toe 1 bijeenkomst",
                 "we starten met twee scholen", "belt de intern begeleider", "ouders",
                 "De volgende bijeenkomst: wo 21 jan 2026 14:00", "Wijkcentrum Oost"):
        assert part in briefing, part
    notice = texts(harness, "newcomer_notice")[0]
    assert "Gijs de Vries is nieuw" in notice and "wo 21 jan 2026" in notice and "voorstelrondje" in notice
    assert notice.count("Gijs") == 1  # not "Ik heb Gijs de Vries persoonlijk bijgepraat" after it
    assert not any(s.to == "group" for s in new)


async def test_leaving_member_gets_nothing_more_and_stops_counting(harness: Harness) -> None:
    await harness.advance(local(2026, 1, 6, 10, 0))
    async with harness.db.transaction() as s:  # a private message still waiting for delivery
        els = await member(harness, "els")
        s.add(OutboxMessage(network_id=els.network_id, platform="console", chat_id=None, user_id="els",
                            member_id=els.id, kind="status", text="x", created_at=harness.clock.now()))
    await harness.leave("els")
    await harness.advance(local(2026, 1, 9, 12, 0))
    assert [s.to for s in sent(harness, "reminder")] and "dm:els" not in [s.to for s in harness.recorder.sent]
    (row,) = await rows(harness, OutboxMessage, OutboxMessage.user_id == "els")
    assert row.state == "cancelled"
    await command(harness, "anna", "/status")
    assert "5 leden" in texts(harness)[-1]
    assert not (await member(harness, "els")).active


# ---------------------------------------------------------------------------- quiet members
async def test_quiet_member_is_mentioned_privately_to_the_trekker_once_per_spell(harness: Harness) -> None:
    await answer_nudges(harness, local(2026, 1, 25, 12, 0), OTHERS)
    assert sent(harness, "quiet_member") == []  # two nudges missed so far
    await answer_nudges(harness, local(2026, 1, 26, 12, 0), OTHERS)
    assert sent(harness, "quiet_member") == []
    await answer_nudges(harness, local(2026, 1, 27, 12, 0), OTHERS)  # the third nudge's harvest
    (note,) = sent(harness, "quiet_member")
    assert note.to == "dm:anna" and at_local(note) == local(2026, 1, 27, 10, 0)
    assert "Dewi" in note.text and "3 weekvragen" in texts(harness, "quiet_member")[0]
    assert not any("stil" in t.lower() or "niet beantwoord" in t for t in texts(harness, to="group"))
    assert not any(s.to == "dm:dewi" and s.kind == "quiet_member" for s in harness.recorder.sent)
    await answer_nudges(harness, local(2026, 2, 16, 12, 0), OTHERS)
    assert len(sent(harness, "quiet_member")) == 1  # at most once per quiet spell
    # dewi answers: the spell ends; three more silent weeks start a new one
    await harness.advance(local(2026, 2, 17, 10, 0))
    await harness.say("dewi", "Sorry, het was druk. Ik ben er weer.", reply_to="nudge")
    assert (await member(harness, "dewi")).quiet_noted_at is None
    await answer_nudges(harness, local(2026, 3, 17, 12, 0), OTHERS)
    assert [s.to for s in sent(harness, "quiet_member")] == ["dm:anna", "dm:anna"]
    # the trekker read the explanation the first time; the next note says it shorter, not the same again
    first, again = (plain(s.text) for s in sent(harness, "quiet_member"))
    assert "Dat kan van alles betekenen" in first and "Dat kan van alles betekenen" not in again
    assert again == ("🤫 Dewi Santoso heeft de laatste 3 weekvragen niet beantwoord. Van mij geen "
                     "herinneringen meer tot er weer een antwoord komt. Een persoonlijk berichtje kan helpen. "
                     "Alleen jij ziet dit.")
    assert first.count("Dewi") == 1 and again.count("Dewi") == 1  # the name once, not twice in a row


async def test_a_member_the_trekker_was_told_is_quiet_gets_no_personal_goal_question(harness: Harness) -> None:
    await command(harness, "dewi", "/leerdoel Vaker doorvragen")
    await command(harness, "cem", "/leerdoel Beter luisteren naar ouders")
    await answer_nudges(harness, local(2026, 1, 30, 12, 0), OTHERS)
    assert [(s.to, at_local(s)) for s in sent(harness, "quiet_member")] == [("dm:anna", local(2026, 1, 27, 10, 0))]
    (group,) = sent(harness, "goal_prompt", to="group")
    assert at_local(group) == local(2026, 1, 29, 10, 0)
    # two days after the trekker heard dewi is quiet: no personal question for dewi, as no reminders either
    assert [s.to for s in sent(harness, "goal_prompt") if s.to != "group"] == ["dm:cem"]


async def test_paused_and_departed_members_are_not_quiet(harness: Harness) -> None:
    await harness.say("dewi", "/pauze 4w")
    await harness.leave("fleur")
    await answer_nudges(harness, local(2026, 1, 27, 12, 0), ["anna", "bram", "cem", "els"])
    assert sent(harness, "quiet_member") == []


async def test_a_quiet_trekker_is_mentioned_to_the_procesbegeleider(harness: Harness) -> None:
    await answer_nudges(harness, local(2026, 1, 27, 12, 0), ["bram", "cem", "dewi", "els", "fleur"])
    assert [(s.to, "Anna" in s.text) for s in sent(harness, "quiet_member")] == [("dm:bram", True)]


async def test_quiet_threshold_can_change_or_stop(harness: Harness) -> None:
    only_error_for(await command(harness, "cem", "/ritme stil 2"), "cem")
    await command(harness, "anna", "/ritme stil 2")
    assert (await network(harness)).quiet_after == 2
    await answer_nudges(harness, local(2026, 1, 20, 12, 0), OTHERS)
    assert [s.to for s in sent(harness, "quiet_member")] == ["dm:anna"]
    await command(harness, "anna", "/ritme stil uit")
    assert (await network(harness)).quiet_after == 0
    only_error_for(await command(harness, "anna", "/ritme stil 1"), "anna")
    assert (await rows(harness, Member, Member.user_id == "dewi"))[0].quiet_noted_at is not None


async def test_when_most_of_the_group_is_quiet_the_trekker_gets_one_note_about_the_rhythm(harness: Harness) -> None:
    await answer_nudges(harness, local(2026, 1, 27, 12, 0), ["anna", "bram"])
    (note,) = sent(harness, "quiet_member")
    assert note.to == "dm:anna" and "4 van de 6 leden" in texts(harness, "quiet_member")[0]
    assert not any(name in note.text for name in ("Cem", "Dewi", "Els", "Fleur"))
    await answer_nudges(harness, local(2026, 2, 10, 12, 0), ["anna", "bram"])
    assert len(sent(harness, "quiet_member")) == 1


async def test_when_nobody_answers_the_note_does_not_count_the_trekker_among_six_of_six(harness: Harness) -> None:
    await answer_nudges(harness, local(2026, 1, 27, 12, 0), [])
    (note,) = sent(harness, "quiet_member")
    assert note.to == "dm:anna"
    assert plain(note.text).startswith("🤫 Op de laatste 3 weekvragen kwam van niemand een antwoord. Dat zegt meer "
                                       "over het ritme dan over mensen.")
    assert "van de 6" not in note.text
