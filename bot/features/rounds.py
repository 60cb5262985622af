"""``/actieleren``: action-learning rounds in five steps (seed 004, Movisie; PRODUCT §2.3).

1 Inbreng (case and development question) → 2 Open vragen (guarded: anything but an open question
gets a private hint) → 3 Richtingen (ideas) → 4 Actie-eigenaar (``/actie``) → 5 Actie (the record).
A facilitator moves on with ``/volgende`` or a timebox does; actions are followed up on their due
date (plan-do-check-act) and the owner's answer is shared with the group.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError

from bot.core import LEADS, Ctx, network_job
from bot.directory import active_members, identities_of
from bot.events import Button, MessageIn
from bot.features.link import chat_label
from bot.features.network import find_member, next_meeting
from bot.features.rhythm import (
    ANSWERABLE,
    REFLECTIONS,
    answer_in,
    answered_elsewhere,
    open_private_question,
    reply_origin,
    shorten,
    themes,
)
from bot.guard import Label, classify
from bot.jobs import JobContext, JobKind, plan
from bot.markup import Markup
from bot.models import Action, Job, Member, OutboxMessage, Round, RoundEntry
from bot.numbers import by_id, by_nr, next_nr
from bot.parsing import (
    RELATIVE_WORDS,
    UserError,
    ascii_digits,
    button_number,
    check_ahead,
    looks_like_date,
    number,
    take_date,
    take_due_date,
)
from bot.registry import Command, Feature
from bot.schedule import local_at
from bot.timeutil import format_date, format_short_date, local, next_working_time

#: the invitation names at most this many members who had no turn yet (and says how many more)
SUGGEST_MAX = 8
STEPS = 5
MAX_TIMEBOX = 120
#: a /volgende this soon after the timebox moved the round on was meant for the step before: it skips nothing
NEXT_GRACE = timedelta(seconds=10)
MAX_ACTION = 500
FOLLOWUP_TIME = "10:00"
#: the case's first line in a round's record
CASE_LINE = 160
#: the words for minutes after a timebox's number (``10m``, ``10 min``, ``10 minuten``, ``1 minuut``)
MINUTE_WORDS = ("m", "min", "min.", "mins", "minuut", "minuten", "minute", "minutes")
# re.ASCII after bot.parsing.ascii_digits; any length, so "99999999m" is a timebox out of range; a sign
# or a decimal ("-5m", "1,5m") is a timebox too, one that cannot be
_TIMEBOX = re.compile(r"^([-+]?)(\d+)([.,]\d+)?\s*(" + "|".join(re.escape(w) for w in MINUTE_WORDS) + ")?$",
                      re.ASCII)


# ---------------------------------------------------------------------------- helpers
async def active_round(ctx: Ctx) -> Round | None:
    """The open round in the chat the event came from; from a private chat, the open round in the
    network's chats, or when several chats run one, the one the member leads (facilitator); when that
    does not decide, a :class:`UserError` asking to type it in the round's chat."""
    here = [c.id for c in ctx.chats if ctx.source is not None and c.chat_id == ctx.source.chat_id]
    if here:
        return await ctx.session.scalar(_OPEN_IN, {"chats": here})
    rounds = list(await ctx.session.scalars(_OPEN_ALL, {"chats": [c.id for c in ctx.chats]}))
    if len(rounds) > 1 and ctx.member is not None:
        led = [r for r in rounds if r.facilitator_id == ctx.member.id]
        rounds = led if len(led) == 1 else rounds
    if len(rounds) > 1:
        raise UserError("errors.round_which_chat")
    return rounds[0] if rounds else None


#: an open round in one of the chats ``:chats`` (built once: building costs as much as running)
_OPEN_IN = select(Round).where(Round.active_chat.in_(bindparam("chats", expanding=True))).limit(1)
#: every open round in the chats ``:chats``
_OPEN_ALL = select(Round).where(Round.active_chat.in_(bindparam("chats", expanding=True))).order_by(Round.id)


async def member_name(ctx: Ctx, member_id: int | None) -> str:
    """A member's name, or a neutral word when unknown."""
    member = await ctx.session.get(Member, member_id) if member_id else None
    return member.name if member else ctx.t("rounds.someone")


async def _announce(ctx: Ctx, rnd: Round, text: str, buttons: tuple[Button, ...] = ()) -> None:
    """Post in the chat the round runs in (a network's other chats only hear that it started),
    in the round's thread once its first message is out: the platform's thread where it has them."""
    chats = [c for c in ctx.chats if c.id == rnd.chat_id]
    ctx.group("actieleren", text, buttons=buttons, meta={"step": max(1, rnd.step), "round": rnd.id},
              chats=chats, thread=await _round_thread(ctx, rnd, chats))


async def _round_thread(ctx: Ctx, rnd: Round, chats: list) -> str | None:
    """The platform id of the round's first message (rounds in one chat never overlap, so it is the
    first round message posted there since the round started); None until it has been sent."""
    if not chats:
        return None
    first = await ctx.session.scalar(select(OutboxMessage).where(
        OutboxMessage.network_id == ctx.network.id, OutboxMessage.kind == "actieleren",
        OutboxMessage.platform == chats[0].platform, OutboxMessage.chat_id == chats[0].chat_id,
        OutboxMessage.created_at >= rnd.started_at).order_by(OutboxMessage.id).limit(1))
    if first is None or (first.meta or {}).get("round") != rnd.id:
        return None
    return first.thread or first.platform_message_id


def _parse_timebox(word: str) -> int | None:
    m = _TIMEBOX.match(ascii_digits(word.strip().lower()))
    if not m:
        return None
    if m[1] or m[3] or len(m[2]) > 3 or not 1 <= int(m[2]) <= MAX_TIMEBOX:
        raise UserError("errors.bad_timebox", max=MAX_TIMEBOX)
    return int(m[2])


def _take_timebox(words: list[str]) -> tuple[int | None, list[str]]:
    """The timebox at the end of ``/actieleren``'s words (``10m``, ``10``, ``10 minuten``) and the
    words before it (the name)."""
    if len(words) >= 2 and words[-1].lower() in MINUTE_WORDS and _TIMEBOX.match(ascii_digits(words[-2])):
        return _parse_timebox(words[-2] + words[-1]), words[:-2]
    if words and (minutes := _parse_timebox(words[-1])) is not None:
        return minutes, words[:-1]
    return None, words


async def _plan_timebox(ctx: Ctx, rnd: Round, seconds: float | None = None) -> None:
    """Plan the step's end (and a warning a minute before) when the round has a timebox."""
    if not rnd.timebox_minutes or rnd.state != "running" or not 1 <= rnd.step < STEPS:
        return  # step 0 waits for a volunteer, without a clock
    length = timedelta(seconds=seconds) if seconds is not None else timedelta(minutes=rnd.timebox_minutes)
    end = ctx.now + length
    # keys carry the start time, so a step resumed after a pause gets fresh jobs
    tag = f"{rnd.id}:{rnd.step}:{int(ctx.now.timestamp())}"
    await plan(ctx.session, key=f"round_step:{tag}", network_id=ctx.network.id, kind="round_step", due_at=end,
               payload={"round": rnd.id, "step": rnd.step})
    if length > timedelta(minutes=1):
        await plan(ctx.session, key=f"round_warn:{tag}", network_id=ctx.network.id, kind="round_warn",
                   due_at=end - timedelta(minutes=1), payload={"round": rnd.id, "step": rnd.step})


async def _cancel_timebox(ctx: Ctx, rnd: Round, running: int | None = None) -> None:
    """Drop this round's planned step end and warning (another chat of the network may run a round too);
    never the job ``running`` (the step end that is running now: the dispatcher marks it done)."""
    await ctx.session.execute(delete(Job).where(
        Job.network_id == ctx.network.id, Job.state == "pending", Job.id != (running or 0),
        Job.key.like(f"round_step:{rnd.id}:%") | Job.key.like(f"round_warn:{rnd.id}:%")))


# ---------------------------------------------------------------------------- steps
async def _enter_step(ctx: Ctx, rnd: Round, step: int, running: int | None = None) -> None:
    """Move the round to ``step`` and announce it in the group (``running``: the step-end job moving it)."""
    await _cancel_timebox(ctx, rnd, running)
    rnd.step = step
    rnd.step_started_at = ctx.now
    bringer = await member_name(ctx, rnd.bringer_id)
    if step == STEPS:
        await _close(ctx, rnd)
        return
    timebox = ctx.t("rounds.timebox", count=rnd.timebox_minutes) if rnd.timebox_minutes else ""
    # step 4's example names the real bringer: {/actie Cem belt de school binnen 2 weken}
    await _announce(ctx, rnd, ctx.t(f"rounds.step{step}", bringer=bringer, timebox=Markup(timebox),
                                    first=bringer.split(" ")[0]))
    await _plan_timebox(ctx, rnd)


async def _close(ctx: Ctx, rnd: Round) -> None:
    """Step 5: the round's record in the group; the round closes."""
    entries = list(await ctx.session.scalars(select(RoundEntry).where(RoundEntry.round_id == rnd.id)
                                             .order_by(RoundEntry.id)))
    actions = list(await ctx.session.scalars(select(Action).where(Action.round_id == rnd.id).order_by(Action.id)))
    await _announce(ctx, rnd, await record_text(ctx, rnd, entries, actions))
    rnd.state, rnd.active_chat, rnd.ended_at = "closed", None, ctx.now


def _development_question(case: str) -> str:
    """The bringer's own question in the case: its last sentence that asks something."""
    asks = [part for part in _SENTENCE.split(case) if part.rstrip().endswith("?")]
    return asks[-1].strip() if asks else ""


_SENTENCE = re.compile(r"(?<=[.!?])\s+")
# the bringer's own label before their question ("Mijn vraag: …"): the record's line already says it
_QUESTION_LABEL = re.compile(r"^(?:(?:mijn|onze|de|my|our|the)\s+)?(?:leer)?(?:vraag|question)\s*:\s*",
                             re.IGNORECASE)


def _unlabelled(question: str) -> str:
    """``Mijn vraag: hoe …?`` → ``Hoe …?``, for the record's 'Vraag van de inbrenger:' line only."""
    rest = _QUESTION_LABEL.sub("", question, count=1)
    return rest[:1].upper() + rest[1:] if rest and rest != question else question


async def record_text(ctx: Ctx, rnd: Round, entries: list[RoundEntry], actions: list[Action],
                      read_back: bool = False) -> Markup:
    """The short record of a round: case in one line and the bringer's own question (kept whole),
    question themes, every idea (minority ideas too), actions. ``read_back``: for ``/ronde``, with
    a plain title instead of step 5's "… is rond"."""
    case = " ".join(e.text for e in entries if e.step == 1).strip()
    case = " ".join(case.split())
    question = _development_question(case) if len(case) > CASE_LINE else ""
    if question == case:  # the case is its question: shown whole
        case, question = shorten(case, MAX_ACTION), ""
    # a long case is cut, but never its question (usually last): that line is kept whole
    case_line = shorten(case.replace(question, "").strip() if question else case, CASE_LINE)
    question = shorten(_unlabelled(question), MAX_ACTION)
    questions = [e.text for e in entries if e.step == 2 and e.label == Label.OPEN.value]
    ideas = [e.text for e in entries if e.step == 3]
    empty = ctx.t("rounds.nothing")
    bringer = await member_name(ctx, rnd.bringer_id)
    title = ctx.t("rounds.record_title_back", nr=rnd.nr, bringer=bringer,
                  date=format_short_date(ctx.lang, local(ctx.network, rnd.started_at).date()),
                  state=ctx.t(f"rounds.state.{rnd.state}")) \
        if read_back else ctx.t("rounds.record_title", nr=rnd.nr, bringer=bringer)
    lines = [title, ctx.t("rounds.record_case", case=case_line or empty)]
    if question:
        lines.append(ctx.t("rounds.record_case_question", question=question))
    words = themes(questions)
    if not questions:  # "Vragen: nog geen.", not "Vragen: 0 open vragen."
        lines.append(ctx.t("rounds.record_questions_none"))
    elif len(questions) < 2:  # one: nothing that several questions could share
        lines.append(ctx.t("rounds.record_questions_few", count=len(questions)))
    else:
        lines.append(ctx.t("rounds.record_questions", count=len(questions),
                           themes=", ".join(words) if words else ctx.t("rounds.no_themes")))
    lines.append(ctx.t("rounds.record_ideas", count=len(ideas)) if ideas else ctx.t("rounds.record_ideas_none"))
    lines += [ctx.t("rounds.record_idea", text=shorten(idea, 200)) for idea in ideas]
    if actions:
        for action in actions:
            lines.append(await action_line(ctx, action))
    else:
        lines.append(ctx.t("rounds.record_no_action"))
    return Markup("\n".join(lines))


async def action_line(ctx: Ctx, action: Action) -> Markup:
    """``#3 Cem: belt de school (voor 17-02-2026)``."""
    due = ctx.t("rounds.due", date=format_short_date(ctx.lang, action.due_date)) if action.due_date else ""
    return ctx.t("rounds.action_line", nr=action.nr, owner=await member_name(ctx, action.owner_id),
                 text=action.text, due=Markup(due), state=ctx.t(f"rounds.action_state.{action.state}"))


# ---------------------------------------------------------------------------- commands
async def cmd_start(ctx: Ctx, args: str) -> None:
    """``/actieleren [<lid>] [<timebox>]`` (trekker, procesbegeleider)."""
    if ctx.source is None or ctx.source.private:
        raise UserError("errors.round_in_group")
    if await active_round(ctx) is not None:
        raise UserError("errors.round_running")
    timebox, words = _take_timebox(args.split())
    bringer = await find_member(ctx, " ".join(words)) if words else None
    chat = next(c for c in ctx.chats if c.chat_id == ctx.source.chat_id)
    rnd = Round(network_id=ctx.network.id, chat_id=chat.id, active_chat=chat.id, facilitator_id=ctx.member.id,
                bringer_id=bringer.id if bringer else None, timebox_minutes=timebox, started_at=ctx.now)
    try:
        async with ctx.session.begin_nested():
            rnd.nr = await next_nr(ctx.session, ctx.network.id, "round")
            ctx.session.add(rnd)
    except IntegrityError:  # another facilitator started one at the same moment
        raise UserError("errors.round_running") from None
    others = [c for c in ctx.chats if c.id != chat.id]
    if others:  # a network with several chats: the others hear once that a round is on, and where
        ctx.group("round_elsewhere", ctx.t("link.round_elsewhere", chat=chat_label(ctx, chat),
                                           facilitator=ctx.member.name), chats=others)
    if bringer is not None:
        await _enter_step(ctx, rnd, 1)
        return
    rnd.step = 0
    hint = await _fair_suggestions(ctx)
    await _announce(ctx, rnd, ctx.t("rounds.invite", facilitator=ctx.member.name, suggest=Markup(hint)),
              (Button(ctx.t("rounds.volunteer_button"), f"round:volunteer:{rnd.id}"),))


async def _fair_suggestions(ctx: Ctx) -> Markup:
    """The line naming who brought the fewest cases so far (nobody had a turn: everyone), by name;
    beyond :data:`SUGGEST_MAX` names it says how many more there are. Empty when nobody else is there."""
    counts = dict((await ctx.session.execute(select(Round.bringer_id, func.count(Round.id)).where(
        Round.network_id == ctx.network.id, Round.bringer_id.is_not(None)).group_by(Round.bringer_id))).all())
    members = [m for m in await active_members(ctx.session, ctx.network.id) if m.id != ctx.member.id]
    if not members:
        return Markup("")
    fewest = min(counts.get(m.id, 0) for m in members)
    names = sorted((m.name for m in members if counts.get(m.id, 0) == fewest), key=str.casefold)
    key = "rounds.suggest" if fewest == 0 else "rounds.suggest_fewest"
    if len(names) > SUGGEST_MAX:
        return ctx.t(f"{key}_some", names=", ".join(names[:SUGGEST_MAX]), count=len(names) - SUGGEST_MAX)
    return ctx.t(key, names=", ".join(names))


async def _volunteer(ctx: Ctx, rnd: Round) -> None:
    if rnd.step != 0 or rnd.bringer_id is not None:
        raise UserError("errors.round_has_bringer")
    rnd.bringer_id = ctx.require().id
    if rnd.state == "paused":  # noted; the case is told once the round goes on (/verder)
        await _announce(ctx, rnd, ctx.t("rounds.volunteer_paused", bringer=ctx.member.name))
        return
    await _enter_step(ctx, rnd, 1)


async def cmd_case(ctx: Ctx, args: str) -> None:
    """``/casus``: volunteer to bring the case (text fallback for the button)."""
    rnd = await active_round(ctx)
    if rnd is None:
        raise UserError("errors.no_round")
    await _volunteer(ctx, rnd)


async def on_volunteer_button(ctx: Ctx, rest: str) -> None:
    """The "Ik breng een casus in" button."""
    rnd = await active_round(ctx)
    if rnd is None or str(rnd.id) != rest.removeprefix("volunteer:"):
        raise UserError("errors.no_round")
    await _volunteer(ctx, rnd)


async def _lead_round(ctx: Ctx) -> Round:
    rnd = await active_round(ctx)
    if rnd is None:
        raise UserError("errors.no_round")
    member = ctx.require()
    if member.role not in LEADS and member.id != rnd.facilitator_id:
        raise UserError("errors.round_lead_only")
    return rnd


async def cmd_next(ctx: Ctx, args: str) -> None:
    """``/volgende``: the facilitator moves the round to its next step (or resumes a paused one)."""
    rnd = await _lead_round(ctx)
    if rnd.step == 0 and rnd.bringer_id is None:
        raise UserError("errors.round_needs_bringer")
    if rnd.state == "paused":
        rnd.state, rnd.paused_left = "running", None
    elif await _moved_by_timer_just_now(ctx, rnd):  # meant for the step the timebox just ended
        ctx.reply("status", ctx.t("rounds.next_too_soon", step=rnd.step))
        return
    await _enter_step(ctx, rnd, rnd.step + 1)


async def _moved_by_timer_just_now(ctx: Ctx, rnd: Round) -> bool:
    """True when the timebox moved the round into its current step less than :data:`NEXT_GRACE` ago
    (its step-end job ran then): a ``/volgende`` now was typed for the step before and skips nothing."""
    if rnd.step < 2 or rnd.step_started_at is None or ctx.now - rnd.step_started_at > NEXT_GRACE:
        return False
    return await ctx.session.scalar(select(Job.id).where(
        Job.network_id == ctx.network.id, Job.kind == "round_step", Job.state == "done",
        Job.key.like(f"round_step:{rnd.id}:{rnd.step - 1}:%"),
        Job.finished_at >= ctx.now - NEXT_GRACE).limit(1)) is not None


async def pause_round(ctx: Ctx) -> bool:
    """``/pauze`` without arguments by a lead during a round pauses the round. True when it did."""
    rnd = await active_round(ctx)
    if rnd is None or ctx.member is None or ctx.member.role not in LEADS:
        return False
    if rnd.state == "paused":
        raise UserError("errors.round_already_paused")
    await _cancel_timebox(ctx, rnd)
    if rnd.timebox_minutes and rnd.step_started_at:
        spent = (ctx.now - rnd.step_started_at).total_seconds()
        rnd.paused_left = max(60, int(rnd.timebox_minutes * 60 - spent))
    rnd.state = "paused"
    await _announce(ctx, rnd, ctx.t("rounds.paused", who=ctx.member.name))
    return True


async def cmd_resume(ctx: Ctx, args: str) -> None:
    """``/verder``: continue a paused round in the same step."""
    rnd = await _lead_round(ctx)
    if rnd.state != "paused":
        raise UserError("errors.round_not_paused")
    rnd.state = "running"
    if rnd.step == 0 and rnd.bringer_id is not None:  # someone volunteered during the pause: the case starts now
        await _announce(ctx, rnd, ctx.t("rounds.resumed", who=ctx.member.name))
        rnd.paused_left = None
        await _enter_step(ctx, rnd, 1)
        return
    rnd.step_started_at = ctx.now - (timedelta(minutes=rnd.timebox_minutes or 0)
                                     - timedelta(seconds=rnd.paused_left or 0))
    await _announce(ctx, rnd, ctx.t("rounds.resumed", who=ctx.member.name))
    await _plan_timebox(ctx, rnd, rnd.paused_left)
    rnd.paused_left = None


async def cmd_stop(ctx: Ctx, args: str) -> None:
    """``/stop``: end the round now; what was said is kept."""
    rnd = await _lead_round(ctx)
    await _cancel_timebox(ctx, rnd)
    rnd.state, rnd.active_chat, rnd.ended_at = "stopped", None, ctx.now
    await _announce(ctx, rnd, ctx.t("rounds.stopped", who=ctx.member.name))


#: words before an action's due date: ``voor 17 februari``, ``by Friday``
DUE_WORDS = ("voor", "by", "before", "uiterlijk")


def _take_due(words: list[str], today: date) -> tuple[list[str], date | None]:
    """Split the due date off the end of an action: ``… voor <datum>`` / ``… by <date>``, or a
    period of its own (``… over 2 weken``, ``… binnen 2 weken``, ``… in 2 weeks``).

    After ``voor``/``by`` words that can only be a date (``2026-02-30``, ``gisteren``) but are no
    date that exists are a :class:`UserError` about that date; other words (``voor de kinderen``)
    stay part of the action's text."""
    for i in range(len(words) - 1, -1, -1):
        low = words[i].lower()
        rest = words[i + 1:]
        if low in DUE_WORDS and rest:
            try:
                due, used = take_due_date(rest, today)
            except UserError:
                if looks_like_date(rest):
                    raise
                continue
            if used == len(rest):
                return words[:i], due
        elif low in RELATIVE_WORDS and i == len(words) - 3 and looks_like_date(words[i:]):
            due, _ = take_date(words[i:], today)
            before = i - 1 if i > 0 and words[i - 1].lower() in DUE_WORDS else i  # "voor over 2 weken"
            return words[:before], due
    return words, None


async def cmd_action(ctx: Ctx, args: str) -> None:
    """``/actie [<lid>] <wat> [voor <datum>]``; ``/actie <nr> klaar [hoe ging het]``; ``/actie``: list."""
    member = ctx.require()
    words = args.split()
    if not words:
        await _list_actions(ctx)
        return
    if (len(words) >= 2 and words[1].lower().rstrip(".,;:!") in DONE_WORDS  # "1 klaar", "1 klaar!"
            and (key := number(words[0].lstrip("#"))) is not None):
        await _finish_action(ctx, await by_nr(ctx.session, Action, ctx.network.id, key), words[0].lstrip("#"),
                             " ".join(words[2:]))
        return
    rnd = await active_round(ctx)
    if rnd is not None and rnd.step not in (3, 4):
        raise UserError("errors.action_step")
    today = local(ctx.network, ctx.now).date()
    words, due = _take_due(words, today)
    if due is not None and due < today:
        raise UserError("errors.in_the_past", value=format_short_date(ctx.lang, due))
    if due is not None:
        check_ahead(due, today, format_short_date(ctx.lang, due))
    # just after a round closed its record says "Dat kan alsnog met /actie": the action is that round's
    of_round = rnd or await _just_closed_round(ctx)
    owner = None
    if len(words) > 1:
        owner, used = await _named_owner(ctx, words)
        words = words[used:]
    if owner is None:
        bringer = await ctx.session.get(Member, of_round.bringer_id) if of_round and of_round.bringer_id else None
        # the bringer does it, unless they left the network: then whoever records it
        owner_id = bringer.id if bringer is not None and bringer.active else member.id
    else:
        owner_id = owner.id
    text = " ".join(words).strip()
    if len(text) < 3:
        raise UserError("errors.usage", usage=ctx.t("help.commands.actie.usage"))
    if len(text) > MAX_ACTION:
        raise UserError("errors.value_too_long", limit=MAX_ACTION)
    action = Action(network_id=ctx.network.id, nr=await next_nr(ctx.session, ctx.network.id, "action"),
                    round_id=of_round.id if of_round else None, owner_id=owner_id, text=text, due_date=due,
                    created_at=ctx.now)
    ctx.session.add(action)
    await ctx.session.flush()
    ask = await followup_time(ctx, due)
    await plan(ctx.session, key=f"action_followup:{action.id}", network_id=ctx.network.id, kind="action_followup",
               due_at=ask, payload={"action": action.id})
    line = await action_line(ctx, action)
    # without a date there is no agreed day: say when the bot will ask instead
    recorded = ctx.t("rounds.action_recorded", line=line) if due is not None else \
        ctx.t("rounds.action_recorded_undated", line=line,
              when=format_date(ctx.network, local(ctx.network, ask).date()))
    if rnd is not None:
        await _announce(ctx, rnd, recorded)
    else:
        ctx.group("status", recorded)


#: first words of an action that mean the sender: ``/actie Ik bel de school``, ``/action I will call``
SELF_WORDS = ("ik", "i")
#: how long after a round closed an ``/actie`` in its chat still belongs to it
JUST_CLOSED = timedelta(hours=2)


async def _named_owner(ctx: Ctx, words: list[str]) -> tuple[Member | None, int]:
    """Who an action's first words name, and how many of the words that took: ``Ik``/``I`` is the
    sender (the words stay the action's text), a mention or user id, a whole first name or a full
    name (case-insensitive). Never a prefix: ``De intern begeleider …`` is no Dewi. (None, 0) when
    the words name nobody."""
    first = words[0].casefold()
    if first in SELF_WORDS:
        return ctx.member, 0
    if first.startswith(("@", "<@")):
        return await find_member(ctx, words[0]), 1
    members = await active_members(ctx.session, ctx.network.id)
    full = [m for m in members if " ".join(words[:len(m.name.split())]).casefold() == m.name.casefold()
            and len(m.name.split()) < len(words)]
    if full:
        best = max(full, key=lambda m: len(m.name.split()))
        return best, len(best.name.split())
    hits = [m for m in members if first in (m.user_id.casefold(), m.name.casefold().split(" ")[0])]
    if len(hits) > 1:
        raise UserError("errors.ambiguous_member", value=words[0][:80],
                        names=", ".join(h.name for h in hits))
    return (hits[0], 1) if hits else (None, 0)


async def _just_closed_round(ctx: Ctx) -> Round | None:
    """The round that closed in this group chat within :data:`JUST_CLOSED`, if any."""
    if ctx.source is None or ctx.source.private:
        return None
    here = [c.id for c in ctx.chats if c.chat_id == ctx.source.chat_id]
    if not here:
        return None
    return await ctx.session.scalar(select(Round).where(
        Round.network_id == ctx.network.id, Round.chat_id.in_(here), Round.state == "closed",
        Round.ended_at >= ctx.now - JUST_CLOSED).order_by(Round.ended_at.desc()).limit(1))


async def followup_time(ctx: Ctx, due: date | None) -> datetime:
    """On the due date at 10:00 (outside quiet hours; a public holiday moves it a day); without a
    date, before the next session, or in two weeks when none is planned."""
    if due is not None:
        return next_working_time(ctx.network, local_at(due, FOLLOWUP_TIME, ctx.network.timezone))
    meeting = await next_meeting(ctx.session, ctx.network.id, ctx.now + timedelta(days=1))
    if meeting is not None:
        day_before = local(ctx.network, meeting.starts_at).date() - timedelta(days=1)
        return next_working_time(ctx.network, local_at(day_before, FOLLOWUP_TIME, ctx.network.timezone))
    two_weeks = local(ctx.network, ctx.now).date() + timedelta(days=14)
    return next_working_time(ctx.network, local_at(two_weeks, FOLLOWUP_TIME, ctx.network.timezone))


DONE_WORDS = ("klaar", "gedaan", "done", "afgerond")


async def _finish_action(ctx: Ctx, action: Action | None, asked: str, outcome: str) -> None:
    """Mark ``action`` (the network's action the member asked for as ``asked``) done."""
    if action is None:
        raise UserError("errors.unknown_action", nr=asked[:12])
    member = ctx.require()
    if member.id != action.owner_id and member.role not in LEADS:
        raise UserError("errors.action_owner_only")
    if action.state == "done":
        raise UserError("errors.action_already_done")
    if len(outcome) > MAX_ACTION:
        raise UserError("errors.value_too_long", limit=MAX_ACTION)
    action.state, action.outcome, action.closed_at = "done", outcome.strip(), ctx.now
    owner = await member_name(ctx, action.owner_id)
    how = ctx.t("rounds.outcome", outcome=action.outcome) if action.outcome else ""
    ctx.group("action_followup", ctx.t("rounds.action_done", owner=owner, text=action.text, how=Markup(how)),
              meta={"action": action.id})
    await ctx.features.emit("action_done", ctx, action)


async def _list_actions(ctx: Ctx) -> None:
    actions = list(await ctx.session.scalars(select(Action).where(
        Action.network_id == ctx.network.id, Action.state == "open").order_by(Action.id)))
    if not actions:
        ctx.reply("status", ctx.t("rounds.no_actions"))
        return
    lines = [ctx.t("rounds.actions_title")] + [await action_line(ctx, a) for a in actions]
    ctx.reply("status", Markup("\n".join(lines)))


async def cmd_rounds(ctx: Ctx, args: str) -> None:
    """``/rondes``: the rounds so far."""
    rounds = list(await ctx.session.scalars(select(Round).where(Round.network_id == ctx.network.id)
                                            .order_by(Round.id)))
    if not rounds:
        ctx.reply("status", ctx.t("rounds.none"))
        return
    lines = [ctx.t("rounds.list_title")]
    for rnd in rounds:
        first = await ctx.session.scalar(select(RoundEntry.text).where(
            RoundEntry.round_id == rnd.id, RoundEntry.step == 1).order_by(RoundEntry.id).limit(1))
        lines.append(ctx.t("rounds.list_line", nr=rnd.nr,
                           date=format_short_date(ctx.lang, local(ctx.network, rnd.started_at).date()),
                           bringer=await member_name(ctx, rnd.bringer_id),
                           case=shorten(first, 80) if first else ctx.t("rounds.nothing"),
                           state=ctx.t(f"rounds.state.{rnd.state}")))
    lines.append(ctx.t("rounds.list_outro"))
    ctx.reply("status", Markup("\n".join(lines)))


async def cmd_round(ctx: Ctx, args: str) -> None:
    """``/ronde <nr>``: read a round back."""
    nr = args.strip().lstrip("#")
    key = number(nr)
    if key is None:
        raise UserError("errors.usage", usage=ctx.t("help.commands.ronde.usage"))
    rnd = await by_nr(ctx.session, Round, ctx.network.id, key)
    if rnd is None:
        raise UserError("errors.unknown_round", nr=nr[:12])
    entries = list(await ctx.session.scalars(select(RoundEntry).where(RoundEntry.round_id == rnd.id)
                                             .order_by(RoundEntry.id)))
    actions = list(await ctx.session.scalars(select(Action).where(Action.round_id == rnd.id).order_by(Action.id)))
    text = await record_text(ctx, rnd, entries, actions, read_back=True)
    outcomes = [ctx.t("rounds.outcome_line", nr=a.nr, outcome=a.outcome) for a in actions if a.outcome]
    ctx.reply("status", Markup("\n".join([text, *outcomes])))


# ---------------------------------------------------------------------------- messages
async def on_round_message(ctx: Ctx, msg: MessageIn) -> bool:
    """A plain message in the chat while a round runs belongs to the round's current step."""
    if ctx.member is None or ctx.source is None or ctx.source.private:
        return False
    if ctx.open_rounds is not None and not any(c.id in ctx.open_rounds for c in ctx.chats
                                               if c.chat_id == ctx.source.chat_id):
        return False  # read with the event's network: no round open here (nothing before this hook opens one)
    rnd = await active_round(ctx)
    if rnd is None or rnd.state != "running" or rnd.step == 0:
        return False
    origin = await reply_origin(ctx, msg)
    if origin is not None and (origin.kind in ANSWERABLE or origin.kind in REFLECTIONS):
        return False  # a reply to the weekly question (or a reflection prompt) is an answer to it
    text = msg.text.strip()
    if not text:
        return True
    label = ""
    if rnd.step == 1:
        if ctx.member.id != rnd.bringer_id:
            return True  # others listen while the case is told; nothing is stored
    elif rnd.step in (2, 3) and ctx.member.id in (rnd.bringer_id, rnd.facilitator_id):
        # step 2: the group asks and the bringer answers; step 3: the group offers directions while
        # the bringer listens. The bringer's answers and the facilitator's remarks are no questions or
        # ideas: no hint, nothing stored
        return True
    elif rnd.step == 2:
        label = classify(text).value
        if label != Label.OPEN.value:
            ctx.private(ctx.member, "hint", ctx.t(f"rounds.hint_{label}", example=ctx.t("rounds.hint_example")))
    ctx.session.add(RoundEntry(round_id=rnd.id, member_id=ctx.member.id, step=rnd.step, label=label, text=text,
                               created_at=ctx.now))
    return True


# ---------------------------------------------------------------------------- jobs
@network_job
async def run_step_end(ctx: Ctx, jc: JobContext) -> None:
    """The timebox of a step ran out: move on (when the round is still in that step)."""
    rnd = await ctx.session.get(Round, jc.job.payload["round"])
    if rnd is None or rnd.state != "running" or rnd.step != jc.job.payload["step"]:
        return
    await _enter_step(ctx, rnd, rnd.step + 1, running=jc.job.id)


@network_job
async def run_step_warning(ctx: Ctx, jc: JobContext) -> None:
    """One minute left in this step."""
    rnd = await ctx.session.get(Round, jc.job.payload["round"])
    if rnd is None or rnd.state != "running" or rnd.step != jc.job.payload["step"]:
        return
    await _announce(ctx, rnd, ctx.t("rounds.one_minute"))


@network_job
async def run_followup(ctx: Ctx, jc: JobContext) -> None:
    """Ask the action's owner, privately, how it went (plan-do-check-act); never in quiet hours or
    on a public holiday."""
    if (open_at := next_working_time(ctx.network, ctx.now)) > ctx.now:
        jc.postpone_to = open_at
        return
    action = await ctx.session.get(Action, jc.job.payload["action"])
    if action is None or action.state != "open":
        return
    owner = await ctx.session.get(Member, action.owner_id) if action.owner_id else None
    if owner is not None and owner.network_id != ctx.network.id:
        return  # moved out with an unlinked chat: this network cannot take their reply any more
    if owner is None or not owner.active:
        await _drop_left_action(ctx, action)
        return
    ctx.private(owner, "action_followup", ctx.t("rounds.followup", name=owner.name.split(" ")[0],
                                                line=await action_line(ctx, action)),
                buttons=(Button(ctx.t("rounds.followup_done_button"), f"action:done:{action.id}"),
                         Button(ctx.t("rounds.followup_busy_button"), f"action:busy:{action.id}")),
                meta={"action": action.id})


async def _drop_left_action(ctx: Ctx, action: Action) -> None:
    """The owner left the network: the action lapses, and the round's facilitator (or else a trekker
    or procesbegeleider) hears it privately, so someone can take it on with a new ``/actie``."""
    line = await action_line(ctx, action)  # before: it says who had it
    action.state, action.closed_at = "dropped", ctx.now
    rnd = await ctx.session.get(Round, action.round_id) if action.round_id else None
    facilitator = await ctx.session.get(Member, rnd.facilitator_id) if rnd and rnd.facilitator_id else None
    if facilitator is None or not facilitator.active:
        leads = [m for m in await active_members(ctx.session, ctx.network.id) if m.role in LEADS]
        facilitator = min(leads, key=lambda m: (LEADS.index(m.role), m.id)) if leads else None
    if facilitator is not None:
        ctx.private(facilitator, "action_followup", ctx.t("rounds.followup_owner_left", line=line,
                                                          name=facilitator.name.split(" ")[0]),
                    meta={"action": action.id})


async def _plan_next_followup(ctx: Ctx, action: Action) -> datetime:
    """"Still going": ask once more, before the next session or in two weeks (plan-do-check-act)."""
    ask = await followup_time(ctx, None)
    await ctx.session.execute(delete(Job).where(
        Job.network_id == ctx.network.id, Job.state == "pending", Job.key.like(f"action_followup:{action.id}:%")))
    await plan(ctx.session, key=f"action_followup:{action.id}:{int(ctx.now.timestamp())}",
               network_id=ctx.network.id, kind="action_followup", due_at=ask, payload={"action": action.id})
    return ask


async def on_action_button(ctx: Ctx, rest: str) -> None:
    """The follow-up's buttons (``action:done:<id>``, ``action:busy:<id>``, with the action's
    database id, which never changes): done (shared with the group) or still busy. Pressed in a
    private chat that now belongs to another network (the owner's chat was taken out with
    ``/koppel los``, or they joined another network on this platform later), it is still about
    the action, in the network it belongs to."""
    what, _, action_id = rest.partition(":")
    key = button_number(action_id)
    if key is None:
        raise UserError("errors.unknown_button")
    action = await by_id(ctx.session, Action, ctx.network.id, key)
    if action is None:
        action = await _followed_up_elsewhere(ctx, key, f"action:{rest}")
    if action is None:  # gone (erased), or not this network's
        raise UserError("errors.unknown_button")
    moved = await _owner_moved_out(ctx, action)
    if what == "done":
        await _finish_action(ctx, action, str(action.nr), action.outcome)
        if moved and ctx.member.id == action.owner_id:  # in none of its chats now: the post misses them
            ctx.reply("status", ctx.t("rounds.followup_done_moved", nr=action.nr, network=ctx.network.name))
    elif what == "busy":
        member = ctx.require()  # the button goes to the owner: pressed by someone else, it was forged
        if member.id != action.owner_id and member.role not in LEADS:
            raise UserError("errors.action_owner_only_busy")
        if action.state != "open":
            raise UserError("errors.action_already_done")
        if moved:  # this network no longer follows up their actions (run_followup): no promise
            ctx.reply("status", ctx.t("rounds.followup_busy_moved", nr=action.nr, network=ctx.network.name))
            return
        ask = await _plan_next_followup(ctx, action)
        when = format_date(ctx.network, local(ctx.network, ask).date())
        if answered_elsewhere(ctx):  # /actie typed in this private chat would reach the other network
            ctx.reply("status", ctx.t("rounds.followup_busy_elsewhere", nr=action.nr, network=ctx.network.name,
                                      when=when))
        else:
            ctx.reply("status", ctx.t("rounds.followup_busy", nr=action.nr, when=when))
    else:
        raise UserError("errors.unknown_button")


async def _followed_up_elsewhere(ctx: Ctx, key: int, payload: str) -> Action | None:
    """Action ``key`` of another network, when this press in a private chat is its owner's answer
    to its follow-up: the pressed message is one that network sent to this account with this very
    button (or the presser is one of the owner's accounts). The event is then handled in the
    action's network, as its owner (:func:`bot.features.rhythm.answer_in`)."""
    if ctx.source is None or not ctx.source.private or ctx.person is None or not 0 < key < 2**63:
        return None
    action = await ctx.session.get(Action, key)
    owner = await ctx.session.get(Member, action.owner_id) if action is not None and action.owner_id else None
    if owner is None or not owner.active:
        return None
    pressed = await ctx.session.scalar(select(OutboxMessage).where(
        OutboxMessage.platform == ctx.source.platform, OutboxMessage.chat_id.is_(None),
        OutboxMessage.user_id == ctx.person.user_id, OutboxMessage.platform_message_id == ctx.message_id,
        OutboxMessage.network_id == action.network_id).limit(1)) if ctx.message_id else None
    sent_here = pressed is not None and any(b[1] == payload for b in pressed.buttons or ())
    if not sent_here and (ctx.source.platform, ctx.person.user_id) not in await identities_of(ctx.session, owner):
        return None
    await answer_in(ctx, action.network_id, owner)
    return action


async def _owner_moved_out(ctx: Ctx, action: Action) -> bool:
    """True when the action's owner moved out of its network with a chat taken out by ``/koppel
    los`` (their membership is another network's now; the action stays in this one's list)."""
    owner = await ctx.session.get(Member, action.owner_id) if action.owner_id else None
    return owner is not None and owner.network_id != action.network_id


async def on_followup_answer(ctx: Ctx, msg: MessageIn) -> bool:
    """A plain private reply to the follow-up ("how did it go?") is the answer: kept with the
    action (in its own network, also when this private chat now belongs to another one); the owner
    then says whether it is done (and shared with the group) or still going."""
    text = msg.text.strip()
    origin = await open_private_question(ctx) if text else None
    if origin is None or origin.kind != "action_followup":
        return False
    action = await ctx.session.get(Action, (origin.meta or {}).get("action", 0))
    if action is None or action.network_id != origin.network_id or action.state != "open":
        return False
    if len(text) > MAX_ACTION:
        raise UserError("errors.value_too_long", limit=MAX_ACTION)
    if action.network_id != ctx.network.id:
        owner = await ctx.session.get(Member, action.owner_id) if action.owner_id else None
        if owner is None or not owner.active:  # (an owner who left: the next follow-up drops the action)
            return False
        await answer_in(ctx, action.network_id, owner)
    action.outcome = text
    buttons = (Button(ctx.t("rounds.followup_done_button"), f"action:done:{action.id}"),
               Button(ctx.t("rounds.followup_busy_button"), f"action:busy:{action.id}"))
    if answered_elsewhere(ctx):
        ctx.reply("status", ctx.t("rounds.followup_noted_elsewhere", nr=action.nr, network=ctx.network.name),
                  buttons=buttons)
    else:
        ctx.reply("status", ctx.t("rounds.followup_noted", nr=action.nr), buttons=buttons)
    return True


JOB_KINDS = {
    "round_step": JobKind(run_step_end, grace=None),
    "round_warn": JobKind(run_step_warning, grace=timedelta(minutes=1)),
    "action_followup": JobKind(run_followup, grace=timedelta(days=3)),
}


#: emits ``action_done`` (ctx, action) when an action is closed
FEATURE = Feature(
    "rounds",
    commands=(
        Command("actieleren", cmd_start, ("actionlearning",), roles=LEADS),
        Command("casus", cmd_case, ("case",)),
        Command("volgende", cmd_next, ("next",), help_roles=LEADS),
        Command("verder", cmd_resume, ("resume",), help_roles=LEADS),
        Command("stop", cmd_stop, help_roles=LEADS),
        Command("actie", cmd_action, ("action",)),
        Command("rondes", cmd_rounds, ("rounds",)),
        Command("ronde", cmd_round, ("round",)),
    ),
    jobs=JOB_KINDS,
    # first: while a round runs, the chat's plain messages belong to its current step
    message_hooks=(on_round_message, on_followup_answer),
    buttons={"round": on_volunteer_button, "action": on_action_button},
)
