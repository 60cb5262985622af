"""/actieleren: role gate, step order, the guard's private hints, timeboxes, concurrency, /stop, follow-up."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from adapters.console.harness import Harness
from bot.events import MessageIn
from bot.markup import plain
from bot.models import Action, Answer, Celebration, Job, Member, Round, RoundEntry
from tests.conftest import local, texts


def last(h: Harness):
    return h.recorder.sent[-1]


def round_msgs(h: Harness):
    return [s for s in h.recorder.sent if s.kind == "actieleren"]


async def rows(h: Harness, model):
    async with h.db.transaction() as s:
        return list(await s.scalars(select(model).order_by(model.id)))


async def run_round_to_step2(h: Harness, bringer="cem"):
    await h.say("bram", f"/actieleren {bringer}")
    await h.say(bringer, "Een gezin met schulden komt niet meer naar afspraken. Mijn vraag: hoe houd ik contact?")
    await h.say("bram", "/volgende")


async def test_only_leads_start_a_round(harness):
    await harness.say("cem", "/actieleren")
    assert last(harness).kind == "error" and "trekker" in last(harness).text and "procesbegeleider" in last(harness).text
    assert await rows(harness, Round) == []
    await harness.say("anna", "/actieleren")
    invite = last(harness)
    assert invite.kind == "actieleren" and invite.meta["step"] == 1 and invite.buttons[0][0] == "Ik breng een casus in"
    assert "/casus" in invite.text
    assert "Bram Peters" in invite.text  # fair suggestion: people who never brought a case


async def test_volunteer_by_button_then_steps_in_order(harness):
    await harness.say("bram", "/actieleren")
    await harness.press("dewi", "Ik breng een casus in", "actieleren")
    await harness.press("cem", "Ik breng een casus in", "actieleren")
    assert last(harness).kind == "error"  # someone already brings the case
    await harness.say("dewi", "Een leerling vertelt over geldzorgen thuis.")
    await harness.say("cem", "Ik luister mee")  # not stored: only the bringer tells the case
    for _ in range(4):
        await harness.say("bram", "/volgende")
    steps = [(s.meta["step"], s.meta["round"]) for s in round_msgs(harness)]
    assert [st for st, _ in steps] == [1, 1, 2, 3, 4, 5]
    assert len({r for _, r in steps}) == 1
    record = round_msgs(harness)[-1].text
    assert "Een leerling vertelt over geldzorgen thuis." in record and "Dewi Santoso" in record
    rnd = (await rows(harness, Round))[0]
    assert rnd.state == "closed" and rnd.active_chat is None
    entries = await rows(harness, RoundEntry)
    assert [(e.step, e.text) for e in entries] == [(1, "Een leerling vertelt over geldzorgen thuis.")]


async def test_guard_hints_privately_and_says_nothing_in_the_group(harness):
    await run_round_to_step2(harness)
    before_group = len([s for s in harness.recorder.sent if s.to == "group"])
    await harness.say("dewi", "Wat maakt het contact voor jou zo lastig?")
    await harness.say("els", "Heb je al geprobeerd om de school te bellen?")
    await harness.say("anna", "Is de moeder op de hoogte?")
    await harness.say("fleur", "Je moet gewoon een huisbezoek doen.")
    await harness.say("dewi", "Why don't you call the school?")
    hints = [s for s in harness.recorder.sent if s.kind == "hint"]
    assert [h.to for h in hints] == ["dm:els", "dm:anna", "dm:fleur", "dm:dewi"]
    assert "stap 3" in hints[0].text and "ja of nee" in hints[1].text
    assert len([s for s in harness.recorder.sent if s.to == "group"]) == before_group
    labels = [(e.member_id is not None, e.label) for e in await rows(harness, RoundEntry) if e.step == 2]
    assert [label for _, label in labels] == ["open", "advice_question", "closed", "statement", "advice_question"]


async def test_the_bringer_answers_and_the_facilitator_guides_without_hints_or_ideas(harness):
    """Step 2: the group asks, the bringer answers; step 3: the group offers directions while the
    bringer listens. The bringer's and the facilitator's own messages are no questions or ideas."""
    await run_round_to_step2(harness)  # bram leads, cem brings the case
    await harness.say("dewi", "Wat merkt de school precies?")
    await harness.say("cem", "De oudste komt vaak te laat en heeft geen lunch bij zich.")
    await harness.say("bram", "Goed zo, mooie vragen allemaal.")
    await harness.say("els", "Je moet gewoon een huisbezoek doen.")
    assert [s.to for s in harness.recorder.sent if s.kind == "hint"] == ["dm:els"]
    await harness.say("bram", "/volgende")
    await harness.say("els", "Laat haar zelf kiezen waar jullie afspreken.")
    await harness.say("cem", "Dank je, goed idee!")
    await harness.say("bram", "Nog twee minuten voor deze stap.")
    await harness.say("bram", "/volgende")
    await harness.say("bram", "/volgende")
    record = round_msgs(harness)[-1].text
    assert "Ideeën:* 1 idee" in record and "Laat haar zelf kiezen waar jullie afspreken." in record
    assert "Dank je" not in record and "Nog twee minuten" not in record
    assert "Vragen:* 1 open vraag.\n" in record  # one question shares no words: no "Wat terugkwam: geen …"
    assert "Wat terugkwam" not in record
    stored = [(e.step, e.text) for e in await rows(harness, RoundEntry) if e.step > 1]
    assert stored == [(2, "Wat merkt de school precies?"), (2, "Je moet gewoon een huisbezoek doen."),
                      (3, "Laat haar zelf kiezen waar jullie afspreken.")]


async def member_id(h: Harness, name: str) -> int:
    return next(m.id for m in await rows(h, Member) if m.name == name)


async def run_round_to_step4(h: Harness, bringer="cem"):
    await run_round_to_step2(h, bringer)
    await h.say("bram", "/volgende")
    await h.say("bram", "/volgende")


async def test_an_action_names_a_whole_name_and_ik_is_the_sender(harness):
    await run_round_to_step4(harness)
    await harness.say("dewi", "/actie De intern begeleider bellen voor vrijdag")  # "De" is no Dewi
    await harness.say("dewi", "/actie Ik zoek de folder van schuldhulp op voor morgen")
    await harness.say("bram", "/actie dewi belt de school")
    await harness.say("bram", "/actie Els Janssen belt de wijkagent")
    await harness.say("bram", "/actie El belt de huisarts")  # a prefix names nobody: the bringer does it
    await harness.say("bram", "/volgende")
    actions = await rows(harness, Action)
    got = [(a.text, a.owner_id) for a in actions]
    ids = {m: await member_id(harness, name) for m, name in
           (("cem", "Cem Yilmaz"), ("dewi", "Dewi Santoso"), ("els", "Els Janssen"))}
    assert got == [("De intern begeleider bellen", ids["cem"]),
                   ("Ik zoek de folder van schuldhulp op", ids["dewi"]),
                   ("belt de school", ids["dewi"]), ("belt de wijkagent", ids["els"]),
                   ("El belt de huisarts", ids["cem"])]
    assert "Actie 2:* Dewi Santoso: Ik zoek de folder van schuldhulp op" in round_msgs(harness)[-1].text
    await harness.advance(local(2026, 1, 6, 12, 0))
    followups = [s for s in harness.recorder.sent if s.kind == "action_followup"]
    assert [(f.to, "folder" in f.text) for f in followups] == [("dm:dewi", True)]
    await harness.say("dewi", "/actie 2 klaar Ligt bij de balie.")  # her own action: she closes it
    assert last(harness).to == "group" and "Ligt bij de balie." in last(harness).text
    assert (await rows(harness, Action))[1].state == "done"


async def test_an_english_action_starting_with_i_is_the_senders(harness):
    await harness.say("anna", "/network language en")
    await harness.join("ivo", "Ivo de Boer")  # "I" used to match Ivo by prefix
    await run_round_to_step4(harness)
    await harness.say("els", "/action I will call the school by Friday")
    (action,) = await rows(harness, Action)
    assert (action.text, action.owner_id) == ("I will call the school", await member_id(harness, "Els Janssen"))
    assert "Els Janssen: I will call the school" in last(harness).text


async def test_when_the_owner_left_the_sender_gets_it_and_the_facilitator_hears(harness):
    await run_round_to_step4(harness)
    await harness.say("bram", "/actie Cem belt de wijkagent voor morgen")
    await harness.leave("cem")
    await harness.say("bram", "/actie zoekt de folder op voor morgen")  # no name, the bringer left: bram
    actions = await rows(harness, Action)
    assert actions[1].owner_id == await member_id(harness, "Bram Peters")
    assert "Bram Peters: zoekt de folder op" in last(harness).text
    await harness.advance(local(2026, 1, 6, 12, 0))
    sent = [s for s in harness.recorder.sent if s.kind == "action_followup"]
    assert [s.to for s in sent] == ["dm:bram", "dm:bram"]  # cem's action to the facilitator, and his own
    left = next(s.text for s in sent if "wijkagent" in s.text)
    assert "niet meer in het netwerk" in left and "vervallen" in left and not [s for s in sent if s.to == "dm:cem"]
    actions = await rows(harness, Action)
    assert [a.state for a in actions] == ["dropped", "open"]


async def test_still_going_plans_one_more_follow_up_and_says_when(harness):
    await run_round_to_step4(harness)
    await harness.say("cem", "/actie Ik bel de school voor morgen")
    await harness.say("bram", "/volgende")
    await harness.advance(local(2026, 1, 6, 12, 0))
    await harness.press("cem", "Loopt nog", "action_followup")
    assert "Op di 20 jan 2026 vraag ik opnieuw hoe het gaat." in last(harness).text
    await harness.press("cem", "Loopt nog", "action_followup")  # twice: still one more follow-up
    await harness.advance(local(2026, 1, 21, 12, 0))
    followups = [s for s in harness.recorder.sent if s.kind == "action_followup"]
    assert [(f.to, f.at) for f in followups] == [("dm:cem", local(2026, 1, 6, 10, 0)),
                                                 ("dm:cem", local(2026, 1, 20, 10, 0))]


LONG_CASE = ("Een moeder met drie kinderen heeft al maanden huurachterstand en komt niet meer naar afspraken. "
             "School maakt zich zorgen over de oudste, die vaak te laat komt. "
             "Mijn vraag: hoe blijf ik in contact zonder dat ze zich gecontroleerd voelt?")


async def test_the_record_keeps_every_idea_and_the_bringers_question(harness):
    await harness.say("bram", "/actieleren cem")
    await harness.say("cem", LONG_CASE)
    await harness.say("bram", "/volgende")
    await harness.say("bram", "/volgende")
    ideas = [f"Idee {n}: iets anders proberen." for n in range(1, 8)]
    for n, idea in enumerate(ideas):
        await harness.say(("dewi", "els", "anna")[n % 3], idea)
    await harness.say("bram", "/volgende")
    await harness.say("bram", "/volgende")
    record = round_msgs(harness)[-1].text
    assert "7 ideeën" in record and all(f"• {idea}" in record for idea in ideas)
    # the bringer's own "Mijn vraag:" is not said twice after the record's label
    assert "*Vraag van de inbrenger:* Hoe blijf ik in contact zonder dat ze zich gecontroleerd voelt?" in record
    assert "Mijn vraag" not in record
    assert "Stap 5 van 5" in record and "is rond" in record
    await harness.say("els", "/ronde 1")
    back = last(harness).text
    assert "Stap 5 van 5" not in back and "is rond" not in back and "Dank jullie wel" not in back
    assert back.startswith("🔄 *Ronde 1* · 05-01-2026 · casus van Cem Yilmaz (rond)")
    assert "Idee 7: iets anders proberen." in back and "zich gecontroleerd voelt?" in back


@pytest.mark.parametrize("lang, label, line", [
    ("nl", "vraag :", "*Vraag van de inbrenger:* Hoe blijf ik in contact zonder dat ze zich gecontroleerd voelt?"),
    ("nl", "MIJN LEERVRAAG:", "*Vraag van de inbrenger:* Hoe blijf ik in contact zonder dat ze zich gecontroleerd voelt?"),
    ("en", "My question:", "*The case bringer's question:* Hoe blijf ik in contact zonder dat ze zich gecontroleerd voelt?"),
    ("en", "QUESTION:", "*The case bringer's question:* Hoe blijf ik in contact zonder dat ze zich gecontroleerd voelt?"),
])
async def test_the_bringers_own_question_label_is_left_out_of_the_record_only(harness, lang, label, line):
    if lang == "en":
        await harness.say("anna", "/network language en")
    case = LONG_CASE.replace("Mijn vraag:", label)
    await harness.say("bram", "/actieleren cem")
    await harness.say("cem", case)
    for _ in range(4):
        await harness.say("bram", "/volgende")
    record = round_msgs(harness)[-1].text
    assert line in record and label not in record
    assert [e.text for e in await rows(harness, RoundEntry) if e.step == 1] == [case]  # stored as said


@pytest.mark.parametrize("lang, questions, ideas", [("nl", "*Vragen:* geen.", "*Ideeën:* geen."),
                                                    ("en", "*Questions:* none.", "*Ideas:* none.")])
async def test_a_record_without_questions_or_ideas_says_none_not_zero(harness, lang, questions, ideas):
    if lang == "en":
        await harness.say("anna", "/network language en")
    await harness.say("bram", "/actieleren cem")
    await harness.say("cem", "Een leerling vertelt over geldzorgen thuis.")
    for _ in range(4):
        await harness.say("bram", "/volgende")
    lines = round_msgs(harness)[-1].text.splitlines()
    assert questions in lines and ideas in lines  # was "Vragen: 0 open vragen." and "Ideeën: 0 ideeën"
    assert not any(" 0 " in line for line in lines)


async def test_an_action_just_after_the_round_belongs_to_it(harness):
    await run_round_to_step4(harness)
    await harness.say("bram", "/volgende")
    assert "Dat kan alsnog met /actie" in round_msgs(harness)[-1].text
    await harness.say("cem", "/actie Ik bel de school")
    await harness.say("els", "/ronde 1")
    assert "Cem Yilmaz: Ik bel de school" in last(harness).text and "nog geen actie" not in last(harness).text
    harness.clock.set(harness.clock.now() + timedelta(hours=3))
    await harness.say("cem", "/actie Ik mail de wijkagent")  # hours later: an action of its own
    rnd = (await rows(harness, Round))[0]
    assert [a.round_id for a in await rows(harness, Action)] == [rnd.id, None]


async def test_step_texts_name_the_bringer_and_a_one_minute_step_promises_no_warning(harness):
    await harness.say("bram", "/actieleren dewi 1m")
    assert "Deze stap duurt 1 minuut." in last(harness).text and "van tevoren" not in last(harness).text
    await harness.say("dewi", "Een leerling vertelt over geldzorgen thuis.")
    for _ in range(3):
        await harness.say("bram", "/volgende")
    step4 = round_msgs(harness)[-1]
    assert step4.meta["step"] == 4 and "/actie Dewi belt de school binnen 2 weken" in step4.text
    assert "Cem" not in step4.text


async def test_next_from_others_or_outside_a_round(harness):
    await harness.say("bram", "/volgende")
    assert last(harness).kind == "error" and "/actieleren" in last(harness).text
    await run_round_to_step2(harness)
    await harness.say("cem", "/volgende")
    assert last(harness).kind == "error" and last(harness).visible_to == "cem"
    assert (await rows(harness, Round))[0].step == 2


async def test_one_round_per_chat_even_when_started_at_once(harness):
    await harness.say("anna", "/actieleren cem")
    await harness.say("bram", "/actieleren dewi")
    assert last(harness).kind == "error" and "al een ronde" in last(harness).text
    assert len(await rows(harness, Round)) == 1


async def test_concurrent_starts_give_one_round(harness):
    await harness.say("anna", "/status")  # the chat exists
    chat = harness.chat
    events = [MessageIn(chat, harness.person(who), f"/actieleren {bringer}") for who, bringer in
              (("anna", "cem"), ("bram", "dewi"))]
    results = await asyncio.gather(*(harness.core.handle(e) for e in events), return_exceptions=True)
    await harness.delivery.flush()
    assert not [r for r in results if isinstance(r, Exception) and "UNIQUE" not in str(r) and "unique" not in str(r)]
    assert len(await rows(harness, Round)) == 1
    assert len([s for s in round_msgs(harness) if s.meta["step"] == 1]) == 1


async def test_timebox_moves_on_and_warns_a_minute_before(harness):
    await harness.say("bram", "/actieleren cem 5m")
    start = harness.clock.now()
    await harness.advance(start + timedelta(minutes=21))
    msgs = [(round((s.at - start).total_seconds() / 60), s.meta["step"], "Nog één minuut" in s.text) for s in round_msgs(harness)]
    assert msgs == [(0, 1, False), (4, 1, True), (5, 2, False), (9, 2, True), (10, 3, False), (14, 3, True),
                    (15, 4, False), (19, 4, True), (20, 5, False)]


async def test_a_one_minute_timebox_goes_through_every_step_by_itself(harness):
    await harness.say("bram", "/actieleren cem 1m")
    start = harness.clock.now()
    await harness.advance(start + timedelta(minutes=5))
    assert [(round((s.at - start).total_seconds() / 60), s.meta["step"]) for s in round_msgs(harness)] == \
        [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    steps = [(j.key.split(":")[2], j.state) for j in await rows(harness, Job) if j.kind == "round_step"]
    assert steps == [("1", "done"), ("2", "done"), ("3", "done"), ("4", "done")]  # each step end ran, none deleted


async def test_pause_freezes_the_timebox_and_resume_continues(harness):
    await harness.say("bram", "/actieleren cem 10m")
    start = harness.clock.now()
    await harness.advance(start + timedelta(minutes=4))
    await harness.say("bram", "/pauze")
    assert "pauze" in last(harness).text and last(harness).kind == "actieleren"
    await harness.advance(start + timedelta(minutes=60))
    assert [s.meta["step"] for s in round_msgs(harness)] == [1, 1]  # nothing moved while paused
    await harness.say("bram", "/verder")
    await harness.advance(start + timedelta(minutes=66, seconds=30))
    assert [s.meta["step"] for s in round_msgs(harness)][-1] == 2  # 6 minutes were left
    await harness.say("cem", "/pauze")
    assert last(harness).kind == "error"  # a deelnemer's bare /pauze is their own pause (needs a duration)


async def test_resume_before_a_volunteer_keeps_waiting_without_a_timer(harness):
    await harness.say("bram", "/actieleren 5m")
    await harness.say("bram", "/pauze")
    await harness.say("bram", "/verder")
    assert "weer op" in last(harness).text
    assert [j for j in await rows(harness, Job) if j.kind.startswith("round_")] == []  # no step-0 timebox
    await harness.advance(harness.clock.now() + timedelta(minutes=30))
    await harness.say("cem", "/casus")
    assert [s.meta["step"] for s in round_msgs(harness)][-1] == 1 and "Cem" in last(harness).text
    assert (await rows(harness, Round))[0].bringer_id is not None


async def test_volunteering_during_a_pause_waits_for_resume_and_keeps_the_case(harness):
    await harness.say("bram", "/actieleren 5m")
    await harness.say("bram", "/pauze")
    await harness.say("cem", "/casus")
    assert "stap 1 begint met /verder" in last(harness).text
    assert [s.meta["step"] for s in round_msgs(harness)] == [1, 1, 1]  # invitation, pause, the volunteer noted
    assert (await rows(harness, Round))[0].step == 0
    await harness.say("bram", "/verder")
    assert [s.meta["step"] for s in round_msgs(harness)][-1] == 1 and "Inbreng" in last(harness).text
    await harness.say("cem", "Een gezin met schulden komt niet meer naar afspraken.")
    assert [e.text for e in await rows(harness, RoundEntry)] == ["Een gezin met schulden komt niet meer naar afspraken."]
    start = harness.clock.now()
    await harness.advance(start + timedelta(minutes=5))
    assert (await rows(harness, Round))[0].step == 2  # the timebox runs from /verder


async def test_next_just_after_the_timebox_moved_on_skips_nothing(harness):
    await harness.say("bram", "/actieleren cem 3m")
    start = harness.clock.now()
    await harness.advance(start + timedelta(minutes=3))
    await harness.say("bram", "/volgende")  # typed for step 1, arrives as step 2 begins
    assert "Ik sla daarom geen stap over" in last(harness).text
    assert [s.meta["step"] for s in round_msgs(harness)] == [1, 1, 2]
    await harness.advance(start + timedelta(minutes=3, seconds=20))
    await harness.say("bram", "/volgende")  # later: a real move
    assert [s.meta["step"] for s in round_msgs(harness)] == [1, 1, 2, 3]


async def test_stop_keeps_what_was_said(harness):
    await run_round_to_step2(harness)
    await harness.say("dewi", "Wat maakt het lastig?")
    await harness.say("cem", "/stop")
    assert last(harness).kind == "error"
    await harness.say("bram", "/stop")
    rnd = (await rows(harness, Round))[0]
    assert rnd.state == "stopped" and rnd.active_chat is None
    assert len(await rows(harness, RoundEntry)) == 2
    await harness.say("bram", "/actieleren dewi")  # a new round can start
    assert len(await rows(harness, Round)) == 2


async def test_action_owner_date_and_follow_up(harness):
    await run_round_to_step2(harness)
    await harness.say("cem", "/actie bel de intern begeleider")
    assert last(harness).kind == "error"  # actions belong to steps 3 and 4, not to the questions
    await harness.say("bram", "/volgende")
    await harness.say("dewi", "De intern begeleider kan helpen.")
    await harness.say("bram", "/volgende")
    await harness.say("cem", "/actie bel de intern begeleider voor over 2 weken")
    await harness.say("bram", "/actie Dewi zoekt de folder van de schuldhulp op voor 2026-01-30")
    await harness.say("bram", "/volgende")
    actions = await rows(harness, Action)
    assert [(a.text, a.due_date.isoformat()) for a in actions] == [
        ("bel de intern begeleider", "2026-01-19"), ("zoekt de folder van de schuldhulp op", "2026-01-30")]
    record = round_msgs(harness)[-1].text
    assert "bel de intern begeleider" in record and "Dewi Santoso" in record
    await harness.advance(local(2026, 1, 19, 12, 0))
    followups = [s for s in harness.recorder.sent if s.kind == "action_followup"]
    assert [(f.to, f.at) for f in followups] == [("dm:cem", local(2026, 1, 19, 10, 0))]
    assert [b for b, _ in followups[0].buttons] == ["Gelukt, klaar", "Loopt nog"]
    await harness.say("cem", f"/actie {actions[0].id} klaar Het gesprek was fijn.")
    shared = harness.recorder.sent[-1]  # the milestone rides along in the same post (the message budget)
    assert shared.to == "group" and shared.kind == "action_followup" and "Het gesprek was fijn." in shared.text
    assert shared.meta["merged"] == ["milestone"] and "Mijlpaal" in shared.text
    assert "bel de intern begeleider" in shared.text
    # the milestone does not say again who completed the action, nor ask how it went: the post just did
    assert shared.text.count("Cem Yilmaz") == 1 and shared.text.count("afgerond") == 1
    assert plain(shared.text).endswith("Het gesprek was fijn.\n\n🏅 Mijlpaal! Dat is iets om te vieren!")
    (logged,) = [c for c in await rows(harness, Celebration) if c.source == "milestone"]
    assert logged.text == "Cem Yilmaz heeft een actie afgerond: bel de intern begeleider"
    assert (await rows(harness, Action))[0].state == "done"


async def test_follow_up_due_on_a_holiday_comes_the_next_working_day(harness):
    await harness.say("bram", "/actie Dewi belt de schuldhulp voor 2026-04-27")  # King's Day
    (action,) = await rows(harness, Action)
    assert action.due_date.isoformat() == "2026-04-27"
    await harness.advance(local(2026, 4, 29, 12, 0))
    followups = [s for s in harness.recorder.sent if s.kind == "action_followup"]
    assert [(f.to, f.at) for f in followups] == [("dm:dewi", local(2026, 4, 28, 10, 0))]


async def test_followup_button_and_reading_rounds_back(harness):
    await run_round_to_step2(harness)
    await harness.say("bram", "/volgende")
    await harness.say("bram", "/volgende")
    await harness.say("cem", "/actie bel de school voor morgen")
    await harness.say("bram", "/volgende")
    await harness.advance(harness.clock.now() + timedelta(days=2))
    await harness.press("cem", "Gelukt, klaar", "action_followup")
    assert last(harness).to == "group" and "afgerond" in last(harness).text
    # nothing written about how it went: then the milestone asks the owner what it brought
    assert plain(last(harness).text).endswith("🏅 Mijlpaal! Dat is iets om te vieren! "
                                              "Cem Yilmaz, wat heeft het opgeleverd?")
    await harness.say("els", "/rondes")
    assert "1. " in last(harness).text and "Een gezin met schulden" in last(harness).text
    await harness.say("els", "/ronde 1")
    assert "bel de school" in last(harness).text and "klaar" in last(harness).text
    await harness.say("els", "/ronde 99")
    assert last(harness).kind == "error"


async def test_round_texts_in_english(harness):
    await harness.say("anna", "/network language en")
    await harness.say("anna", "/actionlearning")
    assert "Who brings a case?" in last(harness).text and last(harness).buttons[0][0] == "I'll bring a case"
    assert texts(harness, "actieleren")


def suggestion(h: Harness) -> str:
    """The last line of the latest round invitation: who might bring a case."""
    return texts(h, "actieleren")[-1].splitlines()[-1]


async def test_invitation_names_everyone_who_had_no_turn_yet(harness):
    await harness.say("anna", "/actieleren")
    assert suggestion(harness) == ("Nog niet eerder aan de beurt: Bram Peters, Cem Yilmaz, Dewi Santoso, "
                                   "Els Janssen, Fleur Bakker.")
    await harness.say("anna", "/stop")
    for who in ("bram", "cem", "dewi", "els"):  # four of them bring a case
        await harness.say("anna", f"/actieleren {who}")
        await harness.say("anna", "/stop")
    await harness.say("anna", "/actieleren")
    assert suggestion(harness) == "Nog niet eerder aan de beurt: Fleur Bakker."
    await harness.say("anna", "/stop")
    await harness.say("anna", "/actieleren fleur")
    await harness.say("anna", "/stop")
    await harness.say("anna", "/actieleren")  # everyone had one turn: no "not had a turn yet"
    assert suggestion(harness) == ("Het minst vaak aan de beurt geweest: Bram Peters, Cem Yilmaz, Dewi Santoso, "
                                   "Els Janssen, Fleur Bakker.")


@pytest.mark.parametrize("lang, expected", [
    ("nl", "Nog niet eerder aan de beurt, onder anderen: Bram Peters, Cem Yilmaz, Dewi Santoso, Els Janssen, "
           "Fleur Bakker, Gijs Smit, Hanna Vos, Ivo de Boer (en nog 2)."),
    ("en", "Not had a turn yet, among others: Bram Peters, Cem Yilmaz, Dewi Santoso, Els Janssen, Fleur Bakker, "
           "Gijs Smit, Hanna Vos, Ivo de Boer (and 2 more)."),
])
async def test_invitation_says_how_many_more_when_the_list_is_long(harness, lang, expected):
    if lang == "en":
        await harness.say("anna", "/netwerk taal en")
    for i, name in enumerate(("Gijs Smit", "Hanna Vos", "Ivo de Boer", "Joke Mulder", "Karim Bouali")):
        await harness.join(f"new{i}", name)
    await harness.say("anna", "/actieleren")
    assert suggestion(harness) == expected


async def test_a_private_next_moves_the_round_the_member_leads_or_asks_which(sqlite_url):
    h = await Harness.open(sqlite_url, local(2026, 1, 5, 8, 0))
    await h.setup({"name": "Netwerk"}, [
        {"id": "anna", "name": "Anna de Vries", "role": "trekker", "chats": ["teams", "buurt"]},
        {"id": "bram", "name": "Bram Peters", "role": "procesbegeleider", "chats": ["teams"]},
        {"id": "els", "name": "Els Janssen", "role": "trekker", "chats": ["teams"]},
        {"id": "cem", "name": "Cem Yilmaz", "chats": ["teams"]},
        {"id": "dewi", "name": "Dewi Santoso", "chats": ["buurt"]},
    ], chats=[{"id": "teams", "platform": "teams", "title": "Professionals"},
              {"id": "buurt", "platform": "telegram", "title": "Buurt"}])
    await h.say("anna", "/actieleren Dewi", chat="buurt")
    await h.say("bram", "/actieleren Cem")
    await h.say("bram", "/volgende", private=True)
    assert [r.step for r in await rows(h, Round)] == [1, 2]  # Bram's round (teams) moved, Anna's did not
    await h.say("els", "/volgende", private=True)  # leads neither round
    assert "meer dan één groep" in last(h).text and last(h).to == "dm:els"
    assert [r.step for r in await rows(h, Round)] == [1, 2]
    await h.say("anna", "/volgende", private=True)
    assert [r.step for r in await rows(h, Round)] == [2, 2]
    await h.close()


async def test_a_reply_to_the_weekly_question_during_a_round_is_an_answer(harness):
    await harness.advance(local(2026, 1, 6, 10, 0))
    assert harness.recorder.latest("nudge") is not None
    await harness.say("bram", "/actieleren cem")
    await harness.say("cem", "Bij ons in de wijk merken we het als eerste.", reply_to="nudge")
    assert [a.text for a in await rows(harness, Answer)] == ["Bij ons in de wijk merken we het als eerste."]
    assert await rows(harness, RoundEntry) == []
    await harness.say("cem", "Een gezin met schulden komt niet meer naar afspraken.")
    assert [e.text for e in await rows(harness, RoundEntry)] == ["Een gezin met schulden komt niet meer naar afspraken."]


async def test_the_weekly_question_waits_until_the_round_is_over(harness):
    """The bot's own group messages do not break into a running (or paused) round: the weekly
    question due at Tuesday 10:00 goes out once the round has stopped, looked at every ten minutes."""
    await harness.advance(local(2026, 1, 6, 9, 50))
    await harness.say("bram", "/actieleren cem")
    await harness.say("cem", "/casus")
    await harness.advance(local(2026, 1, 6, 10, 25))
    assert [s for s in harness.recorder.sent if s.kind == "nudge"] == []
    await harness.say("bram", "/stop")
    await harness.advance(local(2026, 1, 6, 10, 45))
    (nudge,) = [s for s in harness.recorder.sent if s.kind == "nudge"]
    assert local(2026, 1, 6, 10, 25) < nudge.at <= local(2026, 1, 6, 10, 40)
