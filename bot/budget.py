"""The message budget (PRODUCT §3.2; seed 000: learning cannot be forced, only its conditions
improved): how much the bot says on its own initiative, decided in one place for every feature.

Every planned job passes :func:`admit` before it runs and :func:`settle` after it ran (both called
by :func:`bot.core.network_job`); messages written while handling a member's event pass
:func:`settle` too (only milestones are shaped there). The rules, per network:

* At most :data:`ORDINARY_WEEK` bot-initiated posts in the group in an ordinary week and
  :data:`SESSION_WEEK` in a week with a session or its preparation (ISO weeks, local time).
* Never two bot-initiated posts within :data:`GAP`: posts due within that window are merged into
  one post (at most one of them may ask for replies); otherwise the later one is moved.
* Nothing bot-initiated (in the group or privately) in the hour before a session, nor during it:
  it is moved to after the session.
* At most one harvest a week.
* What does not fit waits (moves to the next week) or rides along, by :data:`PRIORITY`: the
  session's digest and input question first, then the weekly question, the question after a
  session, the harvest, the celebrate prompt, the intention prompt and the goal prompt.
  Milestones never get a moment of their own: they ride along with the next post (or with the
  member's post that caused them). Posts tied to one session (digest, input question, the
  question after it) are left out rather than moved a week.
* Privately: a reminder or a goal question is left out when the member already had a message
  from the bot that week (answers to a member's own commands and reports do not count).

The ledger (:class:`~bot.models.BudgetEntry`) keeps what was posted, merged, moved, held or left
out, without text; ``/ritme`` shows it (:func:`lines`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
)

from bot import i18n
from bot.events import Outgoing
from bot.jobs import planned_before
from bot.markup import Markup
from bot.models import BudgetEntry, HeldPost, Job, Meeting, Member, OutboxMessage, Round, UTCDateTime
from bot.timeutil import format_when, local, next_working_time, tz

if TYPE_CHECKING:
    from bot.core import Ctx
    from bot.jobs import JobContext

GAP = timedelta(minutes=30)
BEFORE_SESSION = timedelta(hours=1)
ORDINARY_WEEK = 3
SESSION_WEEK = 5
#: bot-initiated private messages per member per week that a reminder or goal question may add to
PRIVATE_PER_MEMBER = 1

#: bot-initiated group posts, highest priority first
PRIORITY = ("digest", "pre_session_question", "nudge", "after_session_question", "harvest",
            "celebrate_prompt", "intention_prompt", "goal_prompt", "milestone")
#: posts that ask for replies: two of them never share one post (a reply could answer only one)
ASKING = frozenset({"nudge", "pre_session_question", "after_session_question", "celebrate_prompt",
                    "goal_prompt", "intention_prompt"})
#: posts that never get a moment of their own
RIDERS = frozenset({"milestone"})
#: posts tied to one session: left out, not moved a week, when the week is full
SESSION_BOUND = frozenset({"digest", "pre_session_question", "after_session_question"})
#: the group post each planned job kind makes
JOB_POSTS = {"nudge": "nudge", "harvest": "harvest", "goal_prompt": "goal_prompt",
             "intention_prompt": "intention_prompt", "celebrate_prompt": "celebrate_prompt",
             "pre_session": "pre_session_question", "digest": "digest", "after_session": "after_session_question"}
#: planned jobs that only write privately (they still keep the hour before a session free)
PRIVATE_JOBS = frozenset({"reminder", "action_followup", "report"})
#: private messages the bot sends on its own initiative
PRIVATE_KINDS = frozenset({"reminder", "goal_prompt", "newcomer_briefing", "newcomer_notice", "quiet_member",
                           "digest", "action_followup"})
#: private messages left out when the member already had one from the bot that week
PRIVATE_OPTIONAL = frozenset({"reminder", "goal_prompt"})
#: how many merged, moved, held or left-out posts /ritme lists
RECENT = 5


# ---------------------------------------------------------------------------- weeks
def week_of(ctx: Ctx, at: datetime) -> tuple[datetime, datetime, str]:
    """The ISO week (local time) around ``at``: its start, its end (both UTC) and its key."""
    loc = local(ctx.network, at)
    monday = loc.date() - timedelta(days=loc.weekday())
    start = datetime.combine(monday, time(0), tz(ctx.network)).astimezone(UTC)
    end = datetime.combine(monday + timedelta(days=7), time(0), tz(ctx.network)).astimezone(UTC)
    iso = loc.isocalendar()
    return start, end, f"{iso.year}-W{iso.week:02d}"


async def session_week(ctx: Ctx, start: datetime, end: datetime) -> bool:
    """A session starts in the week, or its input question or digest is due in it."""
    params = {"network": ctx.network.id, "start": start, "end": end}
    if await ctx.session.scalar(_MEETING_IN, params) is not None:
        return True
    return await ctx.session.scalar(_PREPARATION_IN, params) is not None


#: :func:`session_week`'s two queries, built once (building costs as much as running)
_MEETING_IN = select(Meeting.id).where(
    Meeting.network_id == bindparam("network"), Meeting.cancelled.is_(False),
    Meeting.starts_at >= bindparam("start"), Meeting.starts_at < bindparam("end")).limit(1)
_PREPARATION_IN = select(Job.id).where(
    Job.network_id == bindparam("network"), Job.kind.in_(("pre_session", "digest")), Job.state != "skipped",
    Job.due_at >= bindparam("start"), Job.due_at < bindparam("end")).limit(1)


async def week_cap(ctx: Ctx, at: datetime) -> int:
    """How many bot-initiated group posts the week around ``at`` allows."""
    start, end, _ = week_of(ctx, at)
    return SESSION_WEEK if await session_week(ctx, start, end) else ORDINARY_WEEK


async def posted(ctx: Ctx, start: datetime, end: datetime, kinds: tuple[str, ...] | None = None,
                 merged: bool = False) -> int:
    """Bot-initiated group posts between ``start`` and ``end`` (of ``kinds``; with ``merged``,
    posts that went out inside another one count too)."""
    actions = ("posted", "merged") if merged else ("posted",)
    week = _week(ctx)
    if week is not None and (week.start, week.end) == (start, end):
        return sum(n for (kind, action), n in week.this_week.items()
                   if action in actions and (kinds is None or kind in kinds))
    query = select(func.count(BudgetEntry.id)).where(
        BudgetEntry.network_id == ctx.network.id, BudgetEntry.action.in_(actions),
        BudgetEntry.at >= start, BudgetEntry.at < end)
    if kinds is not None:
        query = query.where(BudgetEntry.kind.in_(kinds))
    return await ctx.session.scalar(query) or 0


#: how many private messages of ``:kind`` member ``:member`` had (built once)
_PRIVATE_OF_KIND = select(func.count(OutboxMessage.id)).where(
    OutboxMessage.member_id == bindparam("member"), OutboxMessage.kind == bindparam("kind"),
    OutboxMessage.chat_id.is_(None))


async def occurrence(ctx: Ctx, kind: str, member: Member | None = None) -> int:
    """How often a recurring text went out before (chooses its phrasing: never the same twice in a
    row, and the same for the same history, so ``simulate`` stays reproducible)."""
    if member is not None:
        return await ctx.session.scalar(_PRIVATE_OF_KIND, {"member": member.id, "kind": kind}) or 0
    week = _week(ctx)
    if week is not None:
        return week.totals[kind]
    return await ctx.session.scalar(select(func.count(BudgetEntry.id)).where(
        BudgetEntry.network_id == ctx.network.id, BudgetEntry.kind == kind,
        BudgetEntry.action.in_(("posted", "merged")))) or 0


def left_out(ctx: Ctx, kind: str, why: str) -> None:
    """Note that a feature left its own post out (``why`` names a ``budget.why`` text), for ``/ritme``."""
    _log(ctx, kind, "dropped", why)


def _log(ctx: Ctx, kind: str, action: str, detail: str = "", moved_to: datetime | None = None) -> None:
    entry = BudgetEntry(network_id=ctx.network.id, at=ctx.now, week=week_of(ctx, ctx.now)[2], kind=kind,
                        action=action, detail=detail, moved_to=moved_to)
    ctx.session.add(entry)
    week = _week(ctx)
    if week is not None:  # what a query would now find, as the entry is flushed before it
        week.entries.append(entry)
        week.this_week[(kind, action)] += 1
        if action in ("posted", "merged"):
            week.totals[kind] += 1
        if action == "posted" and (week.last_posted is None or ctx.now > week.last_posted):
            week.last_posted = ctx.now
        if action == "held":
            week.held = True


# ---------------------------------------------------------------------------- what a job reads once
class MeetingTimes(NamedTuple):
    """When a session starts and ends (what the budget and the rhythm need of a :class:`~bot.models.Meeting`)."""

    starts_at: datetime
    ends_at: datetime
    id: int


@dataclass
class Week:
    """What the budget decides a planned post by, read in one statement when the job is admitted
    (:func:`_read_week`) and kept up to date by :func:`_log` for the rest of the transaction:
    :func:`posted` and :func:`occurrence` answer from it instead of querying the ledger again."""

    #: the job's moment and the ISO week around it (UTC)
    now: datetime
    start: datetime
    end: datetime
    #: sessions not cancelled that start in the week or have not ended: (starts_at, ends_at, id)
    meetings: list[MeetingTimes] = field(default_factory=list)
    #: planned group posts and session ends due in the week, and those still to run that are due
    #: within :data:`GAP` (:func:`_merge_due`): (id, kind, state, due_at)
    jobs: list[tuple[int, str, str, datetime]] = field(default_factory=list)
    #: ledger entries of the week per (kind, action)
    this_week: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: posted or merged entries ever, per kind
    totals: Counter[str] = field(default_factory=Counter)
    #: the latest posted entry ever
    last_posted: datetime | None = None
    #: whether the network has held posts
    held: bool = False
    #: whether an action-learning round is open (running or paused) in one of the network's chats
    round_open: bool = False
    #: the ledger entries :func:`_log` added since (see :func:`pending_entries`)
    entries: list[BudgetEntry] = field(default_factory=list)


def pending_entries(ctx: Ctx) -> list[BudgetEntry]:
    """The ledger entries the job added for its network while its :class:`Week` was read (those a
    query since has flushed included: :func:`bot.database.defer_pending` takes only the others)."""
    week = _week(ctx)
    return week.entries if week is not None else []


#: ``session.info`` key of the :class:`Week` read for a network in this transaction
_WEEK = "bamboe.budget.week"
_TEXT, _WHEN, _COUNT = cast(null(), String), cast(null(), UTCDateTime()), cast(null(), Integer)
_IN_WEEK = and_(BudgetEntry.at >= bindparam("start"), BudgetEntry.at < bindparam("end"))
#: one statement for everything :func:`admit`, :func:`settle` and :func:`round_open` read (rows:
#: source, kind, state or action, time, end time, id or count, count in the week); built once, with
#: bound parameters
_READ_WEEK = union_all(
    select(literal_column("'m'", String), _TEXT, _TEXT, Meeting.starts_at, Meeting.ends_at, Meeting.id, _COUNT)
    .where(Meeting.network_id == bindparam("network_id"), Meeting.cancelled.is_(False),
           or_(and_(Meeting.starts_at >= bindparam("start"), Meeting.starts_at < bindparam("end")),
               Meeting.ends_at > bindparam("now"))),
    select(literal_column("'j'", String), Job.kind, Job.state, Job.due_at, _WHEN, Job.id, _COUNT)
    .where(Job.network_id == bindparam("network_id"), Job.kind.in_([*JOB_POSTS, "session_end"]),
           or_(and_(Job.due_at >= bindparam("start"), Job.due_at < bindparam("end")),
               and_(Job.state.in_(("pending", "claimed")), Job.due_at <= bindparam("soon")))),
    select(literal_column("'l'", String), BudgetEntry.kind, BudgetEntry.action, func.max(BudgetEntry.at), _WHEN,
           func.count(BudgetEntry.id), func.sum(case((_IN_WEEK, 1), else_=0)))
    .where(BudgetEntry.network_id == bindparam("network_id")).group_by(BudgetEntry.kind, BudgetEntry.action),
    select(literal_column("'h'", String), _TEXT, _TEXT, _WHEN, _WHEN, func.count(HeldPost.id), _COUNT)
    .where(HeldPost.network_id == bindparam("network_id")),
    select(literal_column("'r'", String), _TEXT, _TEXT, _WHEN, _WHEN, func.count(Round.id), _COUNT)
    .where(Round.network_id == bindparam("network_id"), Round.active_chat.is_not(None)),
)


def _week(ctx: Ctx) -> Week | None:
    """The :class:`Week` read for this job's network and moment, if any."""
    week = ctx.session.info.get(_WEEK, {}).get(ctx.network.id)
    return week if week is not None and week.now == ctx.now else None


async def _read_week(ctx: Ctx) -> Week:
    """Read the network's :class:`Week` around ``ctx.now`` (one statement) and keep it for the transaction."""
    start, end, _ = week_of(ctx, ctx.now)
    week = Week(ctx.now, start, end)
    session = ctx.session
    if session.new or session.dirty or session.deleted:  # what the ORM's autoflush would write first
        await session.flush()
    rows = await (await session.connection()).execute(  # Core: plain rows, no ORM result to build
        _READ_WEEK, {"network_id": ctx.network.id, "start": start, "end": end, "now": ctx.now, "soon": ctx.now + GAP})
    for source, kind, what, at, until, n, in_week in rows:
        if source == "m":
            week.meetings.append(MeetingTimes(at, until, n))
        elif source == "j":
            week.jobs.append((n, kind, what, at))
        elif source == "l":
            week.this_week[(kind, what)] += in_week or 0
            if what in ("posted", "merged"):
                week.totals[kind] += n
            if what == "posted" and (week.last_posted is None or at > week.last_posted):
                week.last_posted = at
        elif source == "h":
            week.held = bool(n)
        else:
            week.round_open = bool(n)
    week.meetings.sort(key=lambda m: (m.starts_at, m.id))
    ctx.session.info.setdefault(_WEEK, {})[ctx.network.id] = week
    return week


_NEXT_MEETING = (select(Meeting.starts_at, Meeting.ends_at, Meeting.id)
                 .where(Meeting.network_id == bindparam("network_id"), Meeting.cancelled.is_(False),
                        Meeting.ends_at > bindparam("now")).order_by(Meeting.starts_at, Meeting.id).limit(1))


async def next_meeting(ctx: Ctx) -> MeetingTimes | None:
    """The next session at ``ctx.now`` that has not ended and is not cancelled (as
    :func:`bot.features.network.next_meeting`), from the job's :class:`Week` when it was read:
    sessions change only by commands, never inside a job's transaction."""
    week = _week(ctx)
    if week is not None:
        return next((m for m in week.meetings if m.ends_at > ctx.now), None)
    row = (await ctx.session.execute(_NEXT_MEETING, {"network_id": ctx.network.id, "now": ctx.now})).first()
    return MeetingTimes(*row) if row is not None else None


#: an action-learning round open in one of a network's chats
_OPEN_ROUND = select(Round.id).where(Round.network_id == bindparam("network_id"),
                                     Round.active_chat.is_not(None)).limit(1)


async def round_open(ctx: Ctx) -> bool:
    """Whether an action-learning round is open (running or paused) in one of the network's chats,
    from the job's :class:`Week` when it was read: rounds start and end by commands and their own
    jobs, never inside a group post's transaction. Otherwise a plain read on the session's
    connection, with no autoflush of what the transaction wrote so far."""
    week = _week(ctx)
    if week is not None:
        return week.round_open
    return await (await ctx.session.connection()).scalar(_OPEN_ROUND, {"network_id": ctx.network.id}) is not None


# ---------------------------------------------------------------------------- before a job runs
async def _session_near(ctx: Ctx, at: datetime) -> Meeting | None:
    """The session that starts within the hour after ``at`` or is on at ``at``."""
    return await ctx.session.scalar(select(Meeting).where(
        Meeting.network_id == ctx.network.id, Meeting.cancelled.is_(False),
        Meeting.starts_at <= at + BEFORE_SESSION, Meeting.ends_at > at).order_by(Meeting.starts_at).limit(1))


def _move(ctx: Ctx, jc: JobContext, kind: str, to: datetime, why: str) -> str:
    to = next_working_time(ctx.network, to)  # past quiet hours and public holidays
    jc.postpone_to = to
    _log(ctx, kind, "moved", why, to)
    return "moved"


async def admit(ctx: Ctx, jc: JobContext) -> str:
    """Whether a planned job may run now: ``run``, ``hold`` (run, but its post waits to ride along
    with the next one), ``moved`` (``jc.postpone_to`` is set) or ``skip`` (left out).

    A group post reads what it is decided by in one statement (:class:`Week`)."""
    kind = JOB_POSTS.get(jc.job.kind)
    if kind is None and jc.job.kind not in PRIVATE_JOBS:
        return "run"
    if kind is None:
        meeting = await _session_near(ctx, ctx.now)
        if meeting is not None:
            return _move(ctx, jc, jc.job.kind, meeting.ends_at, "session")
        return "run"
    week = await _read_week(ctx)
    now, start, end = ctx.now, week.start, week.end
    near = next((m for m in week.meetings if m.starts_at <= now + BEFORE_SESSION and m.ends_at > now), None)
    if near is not None:
        return _move(ctx, jc, kind, near.ends_at, "session")
    last = week.last_posted
    if last is not None and now - last < GAP:
        if kind == "harvest":
            return "hold"
        return _move(ctx, jc, kind, last + GAP, "gap")
    if kind == "harvest" and await posted(ctx, start, end, ("harvest",), merged=True):
        return "hold"
    session = any(start <= m.starts_at < end for m in week.meetings) or any(
        k in ("pre_session", "digest") and state != "skipped" and start <= due < end for _, k, state, due in week.jobs)
    cap = SESSION_WEEK if session else ORDINARY_WEEK
    if await posted(ctx, start, end) + _reserved(week, jc, kind) + 1 > cap:
        if kind == "harvest":
            return "hold"
        if kind in SESSION_BOUND:
            _log(ctx, kind, "dropped", "week")
            return "skip"
        return _move(ctx, jc, kind, now + timedelta(weeks=1), "week")
    return "run"


def _reserved(week: Week, jc: JobContext, kind: str) -> int:
    """Moments still planned this week for posts of higher priority than ``kind`` (posts within
    :data:`GAP` of each other count once: they will be merged)."""
    higher = set(PRIORITY[:PRIORITY.index(kind)])
    job_kinds = {j for j, post in JOB_POSTS.items() if post in higher}
    now, end = week.now, week.end
    dues = [due for job_id, k, state, due in week.jobs
            if k in job_kinds and state in ("pending", "claimed") and job_id != jc.job.id and now <= due < end]
    if "after_session_question" in higher:  # planned only when its session ends
        dues += [due + timedelta(hours=1) for _, k, state, due in week.jobs
                 if k == "session_end" and state == "pending" and now <= due < end - timedelta(hours=1)]
    return _moments(dues)


def _moments(dues: list[datetime]) -> int:
    """How many posts ``dues`` make (those within :data:`GAP` of each other are merged)."""
    moments, last = 0, None
    for due in sorted(dues):
        if last is None or due - last > GAP:
            moments += 1
            last = due
    return moments


# ---------------------------------------------------------------------------- after it ran
def _is_post(msg: Outgoing) -> bool:
    return msg.address.chat_id is not None and not msg.ephemeral and msg.kind in PRIORITY


def _rank(kind: str) -> int:
    return PRIORITY.index(kind) if kind in PRIORITY else len(PRIORITY)


#: the jobs due within :data:`GAP` that could join a post (:func:`_merge_due`), built once
_MERGE = select(Job).where(
    Job.network_id == bindparam("network_id"), Job.kind.in_(list(JOB_POSTS)), Job.state.in_(("pending", "claimed")),
    Job.id != bindparam("job_id"), Job.due_at <= bindparam("soon")).order_by(Job.due_at, Job.id)
_MERGE_LOCKED = _MERGE.with_for_update(skip_locked=True)


async def _merge_due(ctx: Ctx, jc: JobContext, kinds: set[str]) -> None:
    """Run the jobs due within :data:`GAP` whose posts can join this one, and add their messages."""
    from bot.core import Ctx as CoreCtx
    from bot.jobs import JobContext as Context

    week = _week(ctx)
    soon = ctx.now + GAP
    if week is not None and not planned_before(ctx.session, soon) and not any(
            k in JOB_POSTS and state in ("pending", "claimed") and job_id != jc.job.id and due <= soon
            for job_id, k, state, due in week.jobs):
        return  # none was due when the week was read, and none was planned since
    start, end, _ = week_of(ctx, ctx.now)
    query = _MERGE_LOCKED if ctx.session.bind.dialect.name == "postgresql" else _MERGE
    for job in list(await ctx.session.scalars(query, {"network_id": ctx.network.id, "job_id": jc.job.id,
                                                      "soon": soon})):
        kind = JOB_POSTS[job.kind]
        kind_of = ctx.features.jobs.get(job.kind) if ctx.features is not None else None
        inner = getattr(kind_of.run, "inner", None) if kind_of is not None else None
        if inner is None or (kind in ASKING and kinds & ASKING):
            continue
        if kind == "harvest" and await posted(ctx, start, end, ("harvest",), merged=True):
            continue
        other = CoreCtx(ctx.session, ctx.now, ctx.network, ctx.chats, None, features=ctx.features)
        jc_other = Context(ctx.session, job, ctx.now, features=ctx.features)
        await inner(other, jc_other)
        if jc_other.postpone_to is not None:
            job.due_at, job.state, job.lease_until = jc_other.postpone_to, "pending", None
            continue
        job.state, job.lease_until, job.finished_at = "done", None, ctx.now
        ctx.out.extend(other.out)
        kinds |= {m.kind for m in other.out if _is_post(m)}


async def _hold(ctx: Ctx, posts: list[Outgoing]) -> None:
    """Keep ``posts`` (one text per kind) to ride along with the next bot post."""
    seen = set()
    for msg in posts:
        if msg.kind in seen:
            continue
        seen.add(msg.kind)
        ctx.session.add(HeldPost(network_id=ctx.network.id, member_id=msg.meta.get("about"), kind=msg.kind,
                                 text=str(msg.text), meta={k: v for k, v in msg.meta.items() if k != "about"},
                                 created_at=ctx.now))
        _log(ctx, msg.kind, "held")
    ctx.out[:] = [m for m in ctx.out if m not in posts]


#: private bot messages to each of ``:users`` of network ``:network`` since ``:start`` (built once:
#: building a statement costs as much as running it)
_PRIVATE_SINCE = select(OutboxMessage.user_id, func.count(OutboxMessage.id)).where(
    OutboxMessage.network_id == bindparam("network"), OutboxMessage.user_id.in_(bindparam("users", expanding=True)),
    OutboxMessage.chat_id.is_(None), OutboxMessage.kind.in_(sorted(PRIVATE_KINDS)),
    OutboxMessage.created_at >= bindparam("start")).group_by(OutboxMessage.user_id)


def _is_private(msg: Outgoing) -> bool:
    return msg.address.chat_id is None and msg.kind in PRIVATE_KINDS and msg.address.user_id is not None


async def _limit_private(ctx: Ctx) -> None:
    """Leave out a reminder or goal question for a member who already had a bot message this week."""
    users = sorted({msg.address.user_id for msg in ctx.out if _is_private(msg)})
    if not users:
        return
    start, _, _ = week_of(ctx, ctx.now)
    counted = dict.fromkeys(users, 0)
    counted.update((await ctx.session.execute(
        _PRIVATE_SINCE, {"network": ctx.network.id, "users": users, "start": start})).all())
    keep = []
    for msg in ctx.out:
        if not _is_private(msg):
            keep.append(msg)
            continue
        user = msg.address.user_id
        if msg.kind in PRIVATE_OPTIONAL and counted[user] >= PRIVATE_PER_MEMBER:
            _log(ctx, msg.kind, "dropped", "private")
            continue
        counted[user] += 1
        keep.append(msg)
    ctx.out[:] = keep


def _combine(ctx: Ctx, posts: list[Outgoing], held: list[HeldPost]) -> Outgoing:
    """One post per chat: riders and information first (by priority), the question last."""
    ordered = sorted(posts, key=lambda m: (m.kind in ASKING, _rank(m.kind)))
    head = next((m for m in ordered if m.kind in ASKING), ordered[0] if ordered else None)
    texts = [h.text for h in held] + [str(m.text) for m in ordered]
    meta: dict = {}
    for h in held:
        meta.update(h.meta)
    buttons: list = []
    for m in ordered:
        meta.update(m.meta)
        buttons += [b for b in m.buttons if b not in buttons]
    if head is None:
        raise ValueError("nothing to combine")
    meta.update(head.meta)
    others = [m.kind for m in ordered if m is not head] + [h.kind for h in held]
    if others:
        meta["merged"] = others
    return replace(head, text=Markup("\n\n".join(texts)), buttons=tuple(buttons), meta=meta)


async def settle(ctx: Ctx, jc: JobContext | None = None, decision: str = "run") -> None:
    """Shape what a job (``jc``) or a member's event (``jc`` None) is about to send."""
    if jc is not None:
        await _limit_private(ctx)
    posts = [m for m in ctx.out if _is_post(m)]
    if not posts:
        return
    riders = [m for m in posts if m.kind in RIDERS]
    own = [m for m in posts if m.kind not in RIDERS]
    if jc is None:  # a member's event: a milestone joins the post it caused, or waits
        if riders and not [m for m in ctx.out if m.address.chat_id is not None and not m.ephemeral
                           and m.kind not in RIDERS]:
            await _hold(ctx, riders)
        elif riders:
            _merge_into_member_post(ctx, riders)
        return
    if decision == "hold" or not own:
        await _hold(ctx, posts)
        return
    await _merge_due(ctx, jc, {m.kind for m in own})
    posts = [m for m in ctx.out if _is_post(m)]
    week = _week(ctx)
    held = [] if week is not None and not week.held else list(await ctx.session.scalars(
        select(HeldPost).where(HeldPost.network_id == ctx.network.id).order_by(HeldPost.id)))
    start, end, _ = week_of(ctx, ctx.now)
    if any(m.kind == "harvest" for m in posts) or await posted(ctx, start, end, ("harvest",), merged=True):
        held = [h for h in held if h.kind != "harvest"]  # at most one harvest a week: it waits
    chats = {m.address for m in posts}
    combined = {}
    for address in chats:
        mine = [m for m in posts if m.address == address]
        combined[address] = _combine(ctx, mine, held)
    first = combined[next(iter(chats))]
    _log(ctx, first.kind, "posted")
    for kind in first.meta.get("merged", []):
        _log(ctx, kind, "merged", first.kind)
    for h in held:
        await ctx.session.execute(delete(HeldPost).where(HeldPost.id == h.id))
    out, done = [], set()
    for msg in ctx.out:
        if _is_post(msg):
            if msg.address not in done:
                out.append(combined[msg.address])
                done.add(msg.address)
            continue
        out.append(msg)
    ctx.out[:] = out


def _merge_into_member_post(ctx: Ctx, riders: list[Outgoing]) -> None:
    """Append milestone texts to the member's own post of the same event (e.g. an action done)."""
    out = []
    for msg in ctx.out:
        if msg in riders:
            continue
        if msg.address.chat_id is not None and not msg.ephemeral:
            extra = [str(r.text) for r in riders if r.address == msg.address]
            if extra:
                msg = replace(msg, text=Markup("\n\n".join([str(msg.text), *extra])),
                              meta={**msg.meta, "merged": [r.kind for r in riders if r.address == msg.address]})
        out.append(msg)
    ctx.out[:] = out


# ---------------------------------------------------------------------------- /ritme
async def private_average(ctx: Ctx, weeks: int = 4) -> float:
    """Bot-initiated private messages per active member per week, over the last ``weeks`` weeks."""
    since = ctx.now - timedelta(weeks=weeks)
    sent = await ctx.session.scalar(select(func.count(OutboxMessage.id)).where(
        OutboxMessage.network_id == ctx.network.id, OutboxMessage.chat_id.is_(None),
        OutboxMessage.kind.in_(PRIVATE_KINDS), OutboxMessage.created_at >= since)) or 0
    members = await ctx.session.scalar(select(func.count(Member.id)).where(
        Member.network_id == ctx.network.id, Member.active.is_(True))) or 1
    return sent / members / weeks


async def lines(ctx: Ctx) -> list[Markup]:
    """``/ritme``'s lines about the budget: this week's posts, private messages, and what was
    merged, moved, held or left out lately."""
    start, end, _ = week_of(ctx, ctx.now)
    cap = SESSION_WEEK if await session_week(ctx, start, end) else ORDINARY_WEEK
    used = await posted(ctx, start, end)
    key = "budget.week_session" if cap == SESSION_WEEK else "budget.week"
    average = await private_average(ctx)
    result = [ctx.t(key, count=used, cap=cap),
              ctx.t("budget.private", average=i18n.decimal(ctx.lang, average), cap=PRIVATE_PER_MEMBER)]
    recent = list(await ctx.session.scalars(select(BudgetEntry).where(
        BudgetEntry.network_id == ctx.network.id, BudgetEntry.action != "posted")
        .order_by(BudgetEntry.at.desc(), BudgetEntry.id.desc()).limit(RECENT)))
    if recent:
        result.append(ctx.t("budget.recent_title"))
        for entry in reversed(recent):
            what = ctx.t(f"budget.kinds.{entry.kind}") if i18n.has(ctx.lang, f"budget.kinds.{entry.kind}") \
                else Markup(entry.kind)
            other = ctx.t(f"budget.kinds.{entry.detail}") if i18n.has(ctx.lang, f"budget.kinds.{entry.detail}") \
                else Markup("")
            result.append(ctx.t(f"budget.{entry.action}", when=format_when(ctx.network, entry.at), what=what,
                                other=other, why=ctx.t(f"budget.why.{entry.detail}")
                                if i18n.has(ctx.lang, f"budget.why.{entry.detail}") else Markup(""),
                                to=format_when(ctx.network, entry.moved_to) if entry.moved_to else ""))
    result.append(ctx.t("budget.rules", ordinary=ORDINARY_WEEK, session=SESSION_WEEK))
    return result
