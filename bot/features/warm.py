"""Keeping the network warm: celebrating, milestones, briefing newcomers, members who leave and
members who go quiet (PRODUCT §2.4; seed 001: "praten, delen, vieren en terug naar de bedoeling",
set the bar for celebrating low, brief newcomers yourself).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from bot import budget, i18n
from bot.core import Ctx, network_job
from bot.directory import active_members
from bot.events import MessageIn
from bot.features import rhythm
from bot.features.network import next_meeting
from bot.jobs import JobContext, JobKind, plan, unplan
from bot.markup import Markup, plain
from bot.models import Action, Answer, Celebration, LogEntry, Meeting, Member, Network, Nudge, OutboxMessage
from bot.parsing import UserError, hhmm, number, parse_time, parse_weekday
from bot.registry import Command, Feature
from bot.schedule import local_at
from bot.timeutil import format_short_date, format_when, local, next_open_time

MAX_CELEBRATION = 500
#: after how many weekly questions without an answer the trekker may hear of a quiet member
QUIET_RANGE = (2, 10)
#: reflection answers in the whole network that are worth a milestone
ANSWER_MILESTONES = (10, 25, 50, 100, 250)
#: a member who joins later than this after the network started is a newcomer
NEWCOMER_AFTER = timedelta(days=1)
#: how many recent celebrations ``/vier`` shows
LOG_LENGTH = 10
#: a member's own celebration this recent makes the invitation to celebrate superfluous
CELEBRATED_LATELY = timedelta(days=3)


# ---------------------------------------------------------------------------- celebrate prompt
async def plan_celebrate(session, network: Network, after: datetime) -> datetime | None:  # noqa: ANN001
    """Plan the next celebrate prompt (every ``celebrate_weeks`` weeks); None when switched off."""
    if network.celebrate_weekday is None or network.celebrate_weeks <= 0:
        return None
    due = rhythm.every_weeks_time(network, network.celebrate_weeks, after, network.celebrate_weekday,
                                  network.celebrate_time)
    await plan(session, key=f"celebrate_prompt:{network.id}:{local(network, due).date().isoformat()}",
               network_id=network.id, kind="celebrate_prompt", due_at=due)
    return due


async def plan_anniversary(session, network: Network) -> None:  # noqa: ANN001
    """Plan the milestone for the network's first year (10:00 local on the day, or the next open time)."""
    start = local(network, network.created_at).date()
    try:
        day = start.replace(year=start.year + 1)
    except ValueError:  # 29 February
        day = start + timedelta(days=365)
    due = next_open_time(network, local_at(day, "10:00", network.timezone))
    await plan(session, key=f"anniversary:{network.id}", network_id=network.id, kind="anniversary", due_at=due)


async def plan_warm(session, network: Network, now: datetime, replan: bool) -> None:  # noqa: ANN001
    """Plan this feature's recurring work (a planner of the feature)."""
    if replan:
        await unplan(session, network.id, "celebrate_prompt")
    await plan_celebrate(session, network, now)
    await plan_anniversary(session, network)


@network_job
async def run_celebrate_prompt(ctx: Ctx, jc: JobContext) -> None:
    """Every other Friday afternoon: what went well, however small? Not when a member celebrated
    something in the last few days: the group is celebrating already, and the invitation would be a
    second post about the same thing (it comes again at its next moment)."""
    if await rhythm.postpone_if_busy(ctx, jc):
        return
    if await ctx.session.scalar(select(Celebration.id).where(
            Celebration.network_id == ctx.network.id, Celebration.source != "milestone",
            Celebration.created_at > ctx.now - CELEBRATED_LATELY).limit(1)) is not None:
        budget.left_out(ctx, "celebrate_prompt", "celebrated")
        await plan_celebrate(ctx.session, ctx.network, jc.job.due_at)
        return
    ctx.group("celebrate_prompt", i18n.vary(ctx.lang, "warm.celebrate_prompt",
                                            await budget.occurrence(ctx, "celebrate_prompt")))
    await plan_celebrate(ctx.session, ctx.network, jc.job.due_at)
    await plan_anniversary(ctx.session, ctx.network)  # networks from before this feature get theirs too


async def _skip_celebrate(jc: JobContext) -> None:
    network = await jc.session.get(Network, jc.job.network_id)
    if network is not None:
        await plan_celebrate(jc.session, network, jc.now)


# ---------------------------------------------------------------------------- celebrations
async def cmd_celebrate(ctx: Ctx, args: str) -> None:
    """``/vier <tekst>``: celebrate something in the group; ``/vier`` shows what was celebrated."""
    text = args.strip()
    if not text:
        await _show_log(ctx)
        return
    member = ctx.require()
    if len(text) > MAX_CELEBRATION:
        raise UserError("errors.value_too_long", limit=MAX_CELEBRATION)
    ctx.session.add(Celebration(network_id=ctx.network.id, member_id=member.id, source="vier", text=text,
                                created_at=ctx.now))
    ctx.group("celebrate", ctx.t("warm.celebrated", name=member.name, text=text))


async def _show_log(ctx: Ctx) -> None:
    rows = list(await ctx.session.execute(
        select(Celebration, Member.name).outerjoin(Member, Member.id == Celebration.member_id)
        .where(Celebration.network_id == ctx.network.id)
        .order_by(Celebration.created_at.desc(), Celebration.id.desc()).limit(LOG_LENGTH)))
    if not rows:
        ctx.reply("status", ctx.t("warm.log_empty"))
        return
    lines = [ctx.t("warm.log_title")]
    for celebration, name in rows:
        day = local(ctx.network, celebration.created_at).date()
        lines.append(ctx.t("warm.log_line", date=format_short_date(ctx.lang, day, year=False),
                           who=name or ctx.t("warm.the_network"), text=celebration.text))
    ctx.reply("status", Markup("\n".join(lines)))


async def on_celebrate_reply(ctx: Ctx, msg: MessageIn) -> bool:
    """A reply to the celebrate prompt is kept in the celebrations log (it is already in the chat),
    of the network that asked (:func:`bot.features.rhythm.reply_where_asked`)."""
    origin = await rhythm.reply_origin(ctx, msg)
    if origin is None or origin.kind != "celebrate_prompt":
        return False
    if await rhythm.reply_where_asked(ctx, origin, msg.text.strip()):
        return True
    text = msg.text.strip()[:MAX_CELEBRATION]
    if text:
        ctx.session.add(Celebration(network_id=ctx.network.id, member_id=ctx.member.id, source="prompt",
                                    text=text, created_at=ctx.now))
    return True


# ---------------------------------------------------------------------------- milestones
async def milestone(ctx: Ctx, key: str, text: Markup, about: Member | None = None,
                    log_text: Markup | None = None) -> bool:
    """Propose to celebrate a milestone, at most once per network (``key``); True when new. The
    budget lets it ride along with the post that caused it or with the next bot post. ``log_text``
    is what the celebrations log keeps when the post itself says less (it rides along with a post
    that already tells what happened)."""
    exists = await ctx.session.scalar(select(Celebration.id).where(
        Celebration.network_id == ctx.network.id, Celebration.key == key))
    if exists is not None:
        return False
    try:
        async with ctx.session.begin_nested():
            ctx.session.add(Celebration(network_id=ctx.network.id, source="milestone", key=key,
                                        text=plain(log_text or text), created_at=ctx.now))
    except IntegrityError:  # another process noticed the same milestone a moment earlier
        return False
    ctx.group("milestone", ctx.t("warm.milestone", text=text), meta={"about": about.id} if about else None)
    return True


def is_newcomer(network: Network, member: Member) -> bool:
    """Joined the network well after it started (not one of its founders)."""
    return member.joined_at > network.created_at + NEWCOMER_AFTER


async def on_answer(ctx: Ctx, member: Member) -> None:
    """After an answer: the member is no longer quiet; newcomer's first answer; answer counts."""
    if member.quiet_noted_at is not None:  # set only when it changes: setting it leaves the member to flush
        member.quiet_noted_at = None
    if is_newcomer(ctx.network, member) and await ctx.session.scalar(_MEMBER_ANSWERS, {"member": member.id}) == 1:
        await milestone(ctx, f"first_answer:{member.id}", ctx.t("warm.ms_first_answer", name=member.name), member)
    total = await ctx.session.scalar(_NETWORK_ANSWERS, {"network": ctx.network.id})
    if total in ANSWER_MILESTONES:
        await milestone(ctx, f"answers:{total}", ctx.t("warm.ms_answers", count=total))


#: how many answers member ``:member`` gave, and network ``:network`` had (built once: building a
#: statement costs as much as running it, and one of them runs after every answer)
_MEMBER_ANSWERS = select(func.count(Answer.id)).where(Answer.member_id == bindparam("member"))
_NETWORK_ANSWERS = (select(func.count(Answer.id)).join(Nudge, Nudge.id == Answer.nudge_id)
                    .where(Nudge.network_id == bindparam("network")))


async def on_action_done(ctx: Ctx, action: Action) -> None:
    """A completed action from action learning is worth celebrating. The milestone rides along with
    the group post that says who completed which action and how it went, so its own line does not
    repeat that; it asks what it brought only when the owner wrote nothing about it."""
    owner = await ctx.session.get(Member, action.owner_id) if action.owner_id else None
    name = owner.name if owner else ctx.t("rounds.someone")
    key = "warm.ms_action" if action.outcome or owner is None else "warm.ms_action_ask"
    await milestone(ctx, f"action:{action.id}", ctx.t(key, name=name), owner,
                    log_text=ctx.t("warm.ms_action_log", name=name, text=action.text))


async def on_session_end(ctx: Ctx, meeting: Meeting) -> None:
    """The network's third session (seed 001 names it as something to celebrate)."""
    held_count = await ctx.session.scalar(select(func.count(Meeting.id)).where(
        Meeting.network_id == ctx.network.id, Meeting.cancelled.is_(False), Meeting.ends_at <= ctx.now))
    if held_count == 3:
        await milestone(ctx, "sessions:3", ctx.t("warm.ms_third_session"))


@network_job
async def run_anniversary(ctx: Ctx, jc: JobContext) -> None:
    """A year since the network started."""
    if await rhythm.postpone_if_busy(ctx, jc):
        return
    await milestone(ctx, "anniversary:1", ctx.t("warm.ms_anniversary", name=ctx.network.name))


# ---------------------------------------------------------------------------- newcomers
async def on_join(ctx: Ctx, member: Member) -> None:
    """Brief the newcomer privately and tell the trekker, so they can introduce them at the next
    session instead of a round of introductions (seed 001). A member who joins another chat of the
    network they are already in (their membership did not begin now) is no newcomer: nothing."""
    if member.joined_at != ctx.now:
        return
    ctx.private(member, "newcomer_briefing", await briefing(ctx, member))
    if not is_newcomer(ctx.network, member):
        return
    nxt = await next_meeting(ctx.session, ctx.network.id, ctx.now)
    when = format_when(ctx.network, nxt.starts_at) if nxt else ctx.t("warm.no_session_yet")
    for lead in await active_members(ctx.session, ctx.network.id):
        if lead.role == "trekker" and lead.id != member.id:
            ctx.private(lead, "newcomer_notice", ctx.t("warm.newcomer_notice", name=member.name, when=when))


async def briefing(ctx: Ctx, member: Member) -> Markup:
    """The route so far: intention, ambition, sessions, decisions, open actions, themes, next session."""
    net = ctx.network
    empty = ctx.t("common.not_set")
    lines = [ctx.t("warm.briefing_title", name=member.name.split(" ")[0], network=net.name),
             ctx.t("warm.briefing_intention", intention=net.intention or empty, ambition=net.ambition or empty)]
    held_meetings = list(await ctx.session.scalars(select(Meeting).where(
        Meeting.network_id == net.id, Meeting.cancelled.is_(False), Meeting.ends_at <= ctx.now)
        .order_by(Meeting.starts_at)))
    if held_meetings:
        lines.append(ctx.t("warm.briefing_sessions", count=len(held_meetings),
                           last=format_when(net, held_meetings[-1].starts_at)))
    else:
        lines.append(ctx.t("warm.briefing_no_sessions"))
    decisions = list(await ctx.session.scalars(select(LogEntry).where(
        LogEntry.network_id == net.id, LogEntry.kind == "decision").order_by(LogEntry.nr.desc()).limit(3)))
    if decisions:
        lines.append(ctx.t("warm.briefing_decisions"))
        lines += [ctx.t("warm.bullet", text=d.text) for d in reversed(decisions)]
    actions = list(await ctx.session.scalars(select(Action).where(
        Action.network_id == net.id, Action.state == "open").order_by(Action.id).limit(5)))
    if actions:
        lines.append(ctx.t("warm.briefing_actions"))
        lines += [ctx.t("warm.bullet", text=a.text) for a in actions]
    words = await recent_themes(ctx)
    if words:
        lines.append(ctx.t("warm.briefing_themes", themes=", ".join(words)))
    nxt = await next_meeting(ctx.session, net.id, ctx.now)
    lines.append(ctx.t("warm.briefing_next", when=format_when(net, nxt.starts_at), place=nxt.place) if nxt
                 else ctx.t("warm.briefing_next_none"))
    lines.append(ctx.t("warm.briefing_outro"))
    return Markup("\n".join(lines))


async def recent_themes(ctx: Ctx, weeks: int = 6) -> list[str]:
    """Words that came back in several reflection answers of the last weeks."""
    texts = list(await ctx.session.scalars(select(Answer.text).join(Nudge, Nudge.id == Answer.nudge_id).where(
        Nudge.network_id == ctx.network.id, Nudge.sent_at >= ctx.now - timedelta(weeks=weeks))))
    return rhythm.themes(texts)


async def on_leave(ctx: Ctx, member: Member) -> None:
    """A member who left gets nothing more: private messages not yet sent are dropped."""
    await ctx.session.execute(update(OutboxMessage).where(
        OutboxMessage.member_id == member.id, OutboxMessage.chat_id.is_(None),
        OutboxMessage.state.in_(("pending", "waiting"))).values(state="cancelled"))


# ---------------------------------------------------------------------------- quiet members
#: the network's latest ``:limit`` weekly questions up to ``:sent``, and who answered ``:nudges``
#: (built once: building a statement costs as much as running it)
_LATEST_NUDGES = select(Nudge).where(
    Nudge.network_id == bindparam("network"), Nudge.category != rhythm.SESSION_CATEGORY,
    Nudge.sent_at <= bindparam("sent")).order_by(Nudge.sent_at.desc()).limit(bindparam("limit"))
_ANSWERS_OF = select(Answer.nudge_id, Answer.member_id).where(Answer.nudge_id.in_(bindparam("nudges", expanding=True)))


async def check_quiet(ctx: Ctx, nudge: Nudge) -> None:
    """When a nudge's window closes: a member who left the last few nudges unanswered is mentioned
    privately to the trekker, once per quiet spell — never in the group, never to the member."""
    n = ctx.network.quiet_after
    if n <= 0:
        return
    nudges = list(await ctx.session.scalars(_LATEST_NUDGES, {"network": ctx.network.id, "sent": nudge.sent_at,
                                                             "limit": 4 * n}))
    answered = {(nid, mid) for nid, mid in await ctx.session.execute(_ANSWERS_OF, {"nudges": [x.id for x in nudges]})}
    members = await active_members(ctx.session, ctx.network.id)
    # not who is paused now, though the pause began after this question
    counted = [m for m in members if rhythm.eligible(m, nudge.sent_at) and not rhythm.paused(m, ctx.now)]
    newly = []
    for member in counted:
        theirs = [x for x in nudges if rhythm.eligible(member, x.sent_at)][:n]
        if len(theirs) == n and not any((x.id, member.id) in answered for x in theirs):
            if member.quiet_noted_at is None:
                newly.append(member)
        elif member.quiet_noted_at is not None:
            member.quiet_noted_at = None  # answered lately: a new quiet spell may start later
    quiet = [m for m in counted if m.quiet_noted_at is not None] + newly
    if len(newly) > 1 and 2 * len(quiet) > len(counted):
        # most of the group is quiet: that says more about the rhythm than about people
        for lead in [m for m in members if m.role == "trekker"]:
            key = "warm.quiet_all" if len(quiet) == len(counted) else "warm.quiet_many"  # not "6 van de 6"
            ctx.private(lead, "quiet_member", ctx.t(key, quiet=len(quiet), total=len(counted), count=n))
    else:  # one message per lead, however many went quiet at once
        notes: dict[int, tuple[Member, list[Member]]] = {}
        for member in newly:
            leads = [m for m in members if m.role == "trekker" and m.id != member.id] or \
                    [m for m in members if m.role == "procesbegeleider" and m.id != member.id]
            for lead in leads:
                notes.setdefault(lead.id, (lead, []))[1].append(member)
        for lead, quiet_ones in notes.values():
            # the first note explains (it can mean anything, reach out); later ones say it shorter, varied
            before = await budget.occurrence(ctx, "quiet_member", lead) if n > 1 else 0
            if len(quiet_ones) == 1:
                name = quiet_ones[0].name
                text = i18n.vary(ctx.lang, "warm.quiet_member_again", before - 1, name=name, count=n) if before \
                    else ctx.t("warm.quiet_member", name=name, count=n)
            else:
                names = ctx.t("common.and_list", first=", ".join(m.name for m in quiet_ones[:-1]),
                              last=quiet_ones[-1].name)
                text = i18n.vary(ctx.lang, "warm.quiet_members_again", before - 1, names=names, count=n) if before \
                    else ctx.t("warm.quiet_members", names=names, count=n)
            ctx.private(lead, "quiet_member", text)
    for member in newly:
        member.quiet_noted_at = ctx.now


# ---------------------------------------------------------------------------- settings
async def set_celebrate(ctx: Ctx, rest: list[str]) -> None:
    """``/ritme vieren <dag> <HH:MM> [<weken>]``, ``/ritme vieren uit`` or ``aan``."""
    net = ctx.network
    words = [w.lower() for w in rest]
    if len(words) == 1 and words[0] in rhythm.OFF_WORDS:
        net.celebrate_weekday = None
        await unplan(ctx.session, net.id, "celebrate_prompt")
        ctx.group("status", ctx.t("warm.celebrate_off", who=ctx.member.name))
        return
    if len(words) == 1 and words[0] in rhythm.ON_WORDS:
        words = [rhythm.DAYS[4 if net.celebrate_weekday is None else net.celebrate_weekday], net.celebrate_time]
    weeks = number(words[2]) if len(words) == 3 else net.celebrate_weeks or 2
    if len(words) not in (2, 3) or weeks is None:
        raise UserError("errors.usage", usage=ctx.t("help.commands.ritme.usage"))
    weekday, at = parse_weekday(words[0]), hhmm(parse_time(words[1]))
    if not 1 <= weeks <= 8:
        raise UserError("errors.weeks_range", low=1, high=8)
    net.celebrate_weekday, net.celebrate_time, net.celebrate_weeks = weekday, at, weeks
    await unplan(ctx.session, net.id, "celebrate_prompt")
    due = await plan_celebrate(ctx.session, net, ctx.now)
    ctx.group("status", ctx.t("warm.celebrate_set", who=ctx.member.name, count=weeks,
                              day=ctx.t(f"calendar.weekdays.{weekday}"), time=at, next=format_when(net, due)))


async def set_quiet(ctx: Ctx, rest: list[str]) -> None:
    """``/ritme stil <aantal>`` or ``/ritme stil uit``: when the trekker hears of a quiet member."""
    words = [w.lower() for w in rest]
    if len(words) == 1 and words[0] in rhythm.OFF_WORDS:
        ctx.network.quiet_after = 0
    elif len(words) == 1 and (count := number(words[0].lstrip("-"))) is not None:
        low, high = QUIET_RANGE
        if words[0].startswith("-") or not low <= count <= high:  # "/ritme stil 1": say the range
            raise UserError("errors.quiet_range", low=low, high=high)
        ctx.network.quiet_after = count
    else:
        raise UserError("errors.usage", usage=ctx.t("help.commands.ritme.usage"))
    ctx.reply("status", ctx.t("warm.quiet_set", count=ctx.network.quiet_after) if ctx.network.quiet_after
              else ctx.t("warm.quiet_off"))


def rhythm_lines(ctx: Ctx) -> list[Markup]:
    """This feature's lines in ``/ritme``."""
    net = ctx.network
    lines = [ctx.t("warm.show_celebrate", count=net.celebrate_weeks, time=net.celebrate_time,
                   day=ctx.t(f"calendar.weekdays.{net.celebrate_weekday}")) if net.celebrate_weekday is not None
             else ctx.t("warm.show_celebrate_off")]
    lines.append(ctx.t("warm.show_quiet", count=net.quiet_after) if net.quiet_after else ctx.t("warm.show_quiet_off"))
    return lines


JOB_KINDS = {
    "celebrate_prompt": JobKind(run_celebrate_prompt, skip=_skip_celebrate),
    "anniversary": JobKind(run_anniversary, grace=timedelta(days=7)),
}
FEATURE = Feature(
    "warm",
    commands=(Command("vier", cmd_celebrate, ("celebrate",)),),
    jobs=JOB_KINDS,
    message_hooks=(on_celebrate_reply,),
    on_join=(on_join,),
    on_leave=(on_leave,),
    planners=(plan_warm,),
    listens={"action_done": (on_action_done,), "session_end": (on_session_end,), "answer": (on_answer,),
             "harvest": (check_quiet,)},
    rhythm_options={**dict.fromkeys(("vieren", "celebrate", "vier"), set_celebrate),
                    **dict.fromkeys(("stil", "quiet"), set_quiet)},
    rhythm_lines=(rhythm_lines,),
    shown_kinds=("celebrate_prompt",),
)
