"""The reflection rhythm: the weekly nudge, answers, one reminder, the harvest, learning goals
and the periodic look back at the network's intention (PRODUCT §2.2; seed 003 Table 1, seed 004
on Kolb, Derksen and why/what-for questions).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, cached_property
from importlib import resources
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, exists, insert, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from bot import budget, directory, i18n
from bot.core import Ctx, network_job
from bot.database import defer_update
from bot.directory import active_members
from bot.events import MessageDeleted, MessageEdited, MessageIn
from bot.features.network import next_meeting
from bot.i18n import load_yaml
from bot.jobs import DEFAULT_GRACE, JobContext, JobKind, in_planning, job_state, plan, plan_all, unplan
from bot.markup import Markup
from bot.models import (
    Answer,
    CustomQuestion,
    Job,
    Member,
    Network,
    Nudge,
    OutboxMessage,
    Reflection,
    conversation_key,
    message_ref,
)
from bot.parsing import UserError, first_word, hhmm, parse_duration, parse_time, parse_weekday
from bot.registry import Command, Feature
from bot.schedule import is_public_holiday, local_at, weekly_fire_time
from bot.timeutil import (
    add_local,
    format_short_date,
    format_when,
    in_quiet_hours,
    local,
    next_open_time,
    next_working_time,
)

MAX_QUESTION = 300
#: how often a group message held back by a running action-learning round looks again
ROUND_RECHECK = timedelta(minutes=10)
MAX_GOAL = 500
#: recurring prompts are planned on this weekday/time (Thursday 10:00), away from the nudge
PROMPT_WEEKDAY, PROMPT_TIME = 3, "10:00"
OFF_WORDS = ("uit", "off", "stop")
#: weekday abbreviations as /ritme takes them (Monday first)
DAYS = ("ma", "di", "wo", "do", "vr", "za", "zo")
#: the category of the after-session question (a reflection, but not the weekly rhythm)
SESSION_CATEGORY = "session"
ON_WORDS = ("aan", "on")
#: ``/ritme macht aan|uit``: questions about power and money in the rotation
POWER_WORDS = ("macht", "power")


# ---------------------------------------------------------------------------- question library
@dataclass(frozen=True)
class Question:
    """A reflection question from the library (texts per language)."""

    id: str
    category: str
    type: str
    texts: dict[str, str]
    #: about power or money: asked only when the trekker turns such questions on
    power: bool = False


@dataclass(frozen=True)
class Library:
    """The question library: categories in rotation order, questions per category."""

    categories: tuple[str, ...]
    names: dict[str, dict[str, str]]
    by_category: dict[str, tuple[Question, ...]]

    def pick(self, n: int, power: bool = False) -> Question:
        """The ``n``-th library question of a network: walks every category before repeating one,
        and every question before repeating any (one season = all questions once). Questions about
        power and money only come when the network turned them on (``power``)."""
        category = self.categories[n % len(self.categories)]
        questions = [q for q in self.by_category[category] if power or not q.power] or self.by_category[category]
        return questions[(n // len(self.categories)) % len(questions)]

    @property
    def season_length(self) -> int:
        """How many nudges before any question repeats."""
        return len(self.categories) * min(len(q) for q in self.by_category.values())

    @cached_property
    def by_id(self) -> dict[str, Question]:
        """Every question by its id."""
        return {q.id: q for qs in self.by_category.values() for q in qs}


@cache
def library() -> Library:
    """The question library from ``prompts/questions.yaml`` (read once)."""
    data = load_yaml(resources.files("prompts").joinpath("questions.yaml").read_text(encoding="utf-8"))
    categories = tuple(c["key"] for c in data["categories"])
    names = {c["key"]: {"nl": c["nl"], "en": c["en"], "family": c["family"]} for c in data["categories"]}
    grouped: dict[str, list[Question]] = {c: [] for c in categories}
    for q in data["questions"]:
        grouped[q["category"]].append(Question(q["id"], q["category"], q["type"], {"nl": q["nl"], "en": q["en"]},
                                               bool(q.get("power", False))))
    return Library(categories, names, {c: tuple(qs) for c, qs in grouped.items()})


# ---------------------------------------------------------------------------- planning
def next_nudge_time(network: Network, after: datetime) -> tuple[datetime, str]:
    """When the next nudge goes out after ``after``, and its week key.

    The weekly time is local (DST-safe); a Dutch public holiday or weekend moves it to the next
    working day at the same time; quiet hours move it to their end.
    """
    fire = weekly_fire_time(network.nudge_weekday, network.nudge_time, network.timezone, after)
    loc = local(network, fire)
    iso = loc.isocalendar()
    key = f"{iso.year}-W{iso.week:02d}"
    day = loc.date()
    while is_public_holiday(day) or (day != loc.date() and day.weekday() >= 5):
        day += timedelta(days=1)
    if day != loc.date():
        fire = local_at(day, network.nudge_time, network.timezone)
    return next_open_time(network, fire), key


def every_weeks_time(network: Network, weeks: int, after: datetime, weekday: int = PROMPT_WEEKDAY,
                     at: str = PROMPT_TIME) -> datetime:
    """The next prompt time on the ``weeks``-week grid counted from the network's start (on
    ``weekday`` at ``at``, local time); a Dutch public holiday moves it to the next grid day."""
    start = local(network, network.created_at).date()
    start -= timedelta(days=(start.weekday() - weekday) % 7)  # that weekday in the start week
    step = timedelta(weeks=weeks)
    k = max(1, (local(network, after).date() - start) // step)
    while True:
        day = start + k * step
        candidate = local_at(day, at, network.timezone)
        if candidate > after and not is_public_holiday(day):
            return next_open_time(network, candidate)
        k += 1


async def plan_nudge(session, network: Network, after: datetime,  # noqa: ANN001
                     also: Sequence[dict[str, Any]] = ()) -> datetime | None:
    """Plan the next weekly nudge (nothing when switched off); return when it is due. ``also``:
    other jobs to plan with it (rows as :func:`bot.jobs.plan` takes them), in the same statement.

    A week whose nudge already ran (e.g. the day was moved later after it went out) gets the
    following week's instead, so the rhythm neither doubles up nor stops.
    """
    if network.nudge_weekday is None:
        await plan_all(session, list(also))
        return None
    due, week = next_nudge_time(network, after)
    key = f"nudge:{network.id}:{week}"
    if in_planning(session):  # the states of new networks' jobs are known there without a query
        state = await job_state(session, key, network.id)
        if state is not None and state != "pending":
            due, week = next_nudge_time(network, due)
        await plan_all(session, [*also, _nudge_row(network, due, week)])
        return due
    # plan it first (one statement); only a week whose key exists already has its state read
    if key in await plan_all(session, [*also, _nudge_row(network, due, week)]):
        return due
    state = await job_state(session, key, network.id)
    if state is not None and state != "pending":
        due, week = next_nudge_time(network, due)
    await plan(session, **_nudge_row(network, due, week))
    return due


def _nudge_row(network: Network, due: datetime, week: str) -> dict[str, Any]:
    return {"key": f"nudge:{network.id}:{week}", "network_id": network.id, "kind": "nudge", "due_at": due}


async def plan_prompt(session, network: Network, kind: str, after: datetime) -> None:  # noqa: ANN001
    """Plan the next goal or intention prompt."""
    weeks = network.goal_weeks if kind == "goal_prompt" else network.intention_weeks
    if weeks <= 0:
        return
    due = every_weeks_time(network, weeks, after)
    await plan(session, key=f"{kind}:{network.id}:{local(network, due).date().isoformat()}",
               network_id=network.id, kind=kind, due_at=due)


async def plan_rhythm(session, network: Network, now: datetime, replan: bool = False) -> None:  # noqa: ANN001
    """Plan the weekly question and the goal and intention prompts (after creation or a settings change)."""
    if replan:
        for kind in ("nudge", "goal_prompt", "intention_prompt"):
            await unplan(session, network.id, kind)
    await plan_nudge(session, network, now)
    await plan_prompt(session, network, "goal_prompt", now)
    await plan_prompt(session, network, "intention_prompt", now)


async def busy_until(ctx: Ctx, at: datetime) -> tuple[datetime, str] | None:
    """When a group message due at ``at`` may go out instead, and why: after the session it would
    interrupt (``session``), after quiet hours (``quiet``), or, for one due now, after the
    action-learning round running (or paused) in one of the network's chats (``round``: a round has
    no known end, so it is looked at again every :data:`ROUND_RECHECK`); None when ``at`` is fine."""
    meeting = await (budget.next_meeting(ctx) if at == ctx.now else next_meeting(ctx.session, ctx.network.id, at))
    if meeting is not None and meeting.starts_at <= at:
        return next_open_time(ctx.network, meeting.ends_at), "session"
    if in_quiet_hours(ctx.network, at):
        return next_open_time(ctx.network, at), "quiet"
    if at <= ctx.now and await budget.round_open(ctx):
        return ctx.now + ROUND_RECHECK, "round"
    return None


async def postpone_if_busy(ctx: Ctx, jc: JobContext) -> bool:
    """Hold a group message while a session is on or in quiet hours; True when postponed."""
    busy = await busy_until(ctx, ctx.now)
    if busy is not None:
        jc.postpone_to = busy[0]
    return busy is not None


def eligible(member: Member, at: datetime) -> bool:
    """Counts for a nudge sent at ``at``: a member then (joined, not left yet) and not paused then."""
    member_then = member.joined_at <= at and (member.active if member.left_at is None else member.left_at > at)
    return member_then and not paused(member, at)


def paused(member: Member, at: datetime) -> bool:
    """True while one of ``member``'s pauses held at ``at``: from when it began until it ended. The
    latest is on the member row (``paused_from``, ``paused_until``), the earlier ones are in
    ``earlier_pauses`` (read only for a member who has any: most have none)."""
    if _latest_holds(member, at):
        return True
    return bool(member.earlier_pauses) and any(
        (start is None or datetime.fromisoformat(start) <= at) and at < datetime.fromisoformat(end)
        for start, end in member.earlier_pauses)


def _latest_holds(member: Member, at: datetime) -> bool:
    """Whether ``member``'s latest pause held at ``at``."""
    return bool(member.paused_until and member.paused_until > at
                and (member.paused_from is None or member.paused_from <= at))


#: a pause's span: from (None: from before 0017, taken to have always held) until
Pause = tuple[datetime | None, datetime]


def earlier_pauses(member: Member) -> list[Pause]:
    """``member``'s earlier pauses (over before the latest began), earliest first."""
    return [(None if start is None else datetime.fromisoformat(start), datetime.fromisoformat(end))
            for start, end in member.earlier_pauses or ()]


def pauses(member: Member) -> list[Pause]:
    """All of ``member``'s pauses, the earlier ones first and the latest last."""
    latest: list[Pause] = [] if member.paused_until is None else [(member.paused_from, member.paused_until)]
    return earlier_pauses(member) + latest


def keep_pauses(member: Member, spans: Iterable[Pause]) -> None:
    """Store ``spans`` as ``member``'s pauses: those that overlap or touch as one, those that lasted
    no time not at all; the one that ends last is the latest (on the member row, where ``/pauze``
    reads and lengthens it), the others are the earlier ones."""
    merged: list[list[Any]] = []
    for start, end in sorted(spans, key=lambda p: (p[0] or _DAWN, p[1])):
        if start is not None and start >= end:
            continue
        if merged and (start is None or start <= merged[-1][1]):
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    member.paused_from, member.paused_until = merged.pop() if merged else (None, None)
    member.earlier_pauses = [[None if start is None else _utc(start), _utc(end)] for start, end in merged] or None


#: earlier than any pause (for ordering the pauses from before 0017, which have no start)
_DAWN = datetime.min.replace(tzinfo=UTC)


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def participants(members: Iterable[Member], at: datetime,
                 answerers: Iterable[int | None]) -> tuple[set[object], set[object]]:
    """Who counts for a weekly question sent at ``at``, and who of them answered (``answerers``: the
    answers' member ids). Counted are the members eligible then and anyone who answered anyway, so
    the answered are always among the counted; an erased member's answer (no member id) counts as one
    person. ``members`` are all of the network's members (also those who left): an answer of someone
    who is not among them any more (they moved out with a chat taken out by ``/koppel los``) counts
    no more than they do, so they and their answers leave this network's figures together. The one
    rule for participation: ``/status`` and the report both use it."""
    members = list(members)
    ours = {m.id for m in members}
    answered: set[object] = {m if m is not None else object() for m in answerers if m is None or m in ours}
    return {m.id for m in members if eligible(m, at)} | answered, answered


# ---------------------------------------------------------------------------- jobs
#: a weekly question sent (built once)
_ADD_NUDGE = insert(Nudge.__table__).returning(Nudge.__table__.c.id)
#: a facilitator's first question not asked yet (built once)
_CUSTOM = CustomQuestion.__table__
_NEXT_CUSTOM = (select(_CUSTOM.c.id, _CUSTOM.c.text).where(_CUSTOM.c.network_id == bindparam("network_id"),
                                                          _CUSTOM.c.asked_at.is_(None)).order_by(_CUSTOM.c.id).limit(1))
_ASKED = update(_CUSTOM).where(_CUSTOM.c.id == bindparam("custom_id")).values(asked_at=bindparam("asked_at"))


async def _choose(ctx: Ctx) -> tuple[str, str, str]:
    """(question id, category, text) for the next nudge: a facilitator's own question first."""
    # Core: no ORM object to build, and no autoflush needed (only commands add these rows)
    connection = await ctx.session.connection()
    custom = (await connection.execute(_NEXT_CUSTOM, {"network_id": ctx.network.id})).first()
    if custom is not None:
        await connection.execute(_ASKED, {"custom_id": custom.id, "asked_at": ctx.now})
        return f"custom-{custom.id}", "eigen", custom.text
    q = library().pick(ctx.network.nudge_count, power=ctx.network.power_questions)
    # written with the job's own row (nothing reads it back from the table); the loaded network
    # shows the count as written
    defer_update(ctx.session, Network.__table__, ctx.network.id, {"nudge_count": ctx.network.nudge_count + 1})
    set_committed_value(ctx.network, "nudge_count", ctx.network.nudge_count + 1)
    return q.id, q.category, q.texts[ctx.lang]


def category_name(lang: str, category: str) -> str:
    """A category's display name (``eigen`` for a facilitator's own question)."""
    if category == "eigen":
        return i18n.t(lang, "rhythm.own_question")
    return library().names[category][lang]


@network_job
async def run_nudge(ctx: Ctx, jc: JobContext) -> None:
    """Post the week's reflection question, then plan its reminder, harvest and the next nudge."""
    if await postpone_if_busy(ctx, jc):
        return
    if not ctx.chats:  # every chat removed the bot: nobody to ask this week (a chat may come back)
        await plan_nudge(ctx.session, ctx.network, jc.job.due_at)
        return
    net = ctx.network
    qid, category, text = await _choose(ctx)
    theme = ""
    month = f"{local(net, ctx.now):%Y-%m}"
    if net.theme and net.theme_month == month:
        theme = ctx.t("rhythm.theme_line", theme=net.theme)
    footer = i18n.vary(ctx.lang, "rhythm.nudge_footer", await budget.occurrence(ctx, "nudge"))
    ctx.group("nudge", ctx.t("rhythm.nudge", category=category_name(ctx.lang, category), theme=Markup(theme),
                             question=text, footer=footer))
    # inserted on its own for its id (the other writes are flushed once, with the job's row)
    nudge_id = await (await ctx.session.connection()).scalar(
        _ADD_NUDGE, {"network_id": net.id, "question_id": qid, "category": category, "sent_at": ctx.now})
    ctx.out[-1].meta["nudge"] = nudge_id
    remind_at = next_working_time(net, ctx.now + timedelta(hours=net.reminder_hours))
    next_due, _ = next_nudge_time(net, jc.job.due_at)
    rows = []
    if remind_at < next_due:
        rows.append({"key": f"reminder:{nudge_id}", "network_id": net.id, "kind": "reminder",
                     "due_at": remind_at, "payload": {"nudge": nudge_id}})
    rows.append({"key": f"harvest:{nudge_id}", "network_id": net.id, "kind": "harvest",
                 "due_at": await harvest_time(ctx, remind_at, next_due), "payload": {"nudge": nudge_id}})
    await plan_nudge(ctx.session, net, jc.job.due_at, also=rows)  # the three in one statement


async def harvest_time(ctx: Ctx, remind_at: datetime, next_nudge: datetime) -> datetime:
    """The harvest goes out with the next weekly question, or with the digest of a session that
    comes first (the budget merges them into one post), and never before the reminder."""
    meeting = await budget.next_meeting(ctx)
    if meeting is not None and meeting.starts_at < next_nudge:
        digest = await ctx.session.scalar(select(Job.due_at).where(Job.key == f"digest:{meeting.id}",
                                                                   Job.state == "pending"))
        if digest is not None and remind_at + timedelta(hours=4) <= digest < next_nudge:
            return digest
    return next_nudge


async def _skip_nudge(jc: JobContext) -> None:
    network = await jc.session.get(Network, jc.job.network_id)
    if network is not None:
        # plan from the grace window back, so this week's nudge still goes out if it is only a bit late
        await plan_nudge(jc.session, network, jc.now - DEFAULT_GRACE)


async def _nudge_and_answers(ctx: Ctx, nudge_id: int) -> tuple[Nudge | None, list[Answer]]:
    nudge = await ctx.session.get(Nudge, nudge_id)
    if nudge is None:
        return None, []
    answers = list(await ctx.session.scalars(_ANSWERS_TO, {"nudge": nudge_id}))
    return nudge, answers


#: the answers to weekly question ``:nudge`` (built once)
_ANSWERS_TO = select(Answer).where(Answer.nudge_id == bindparam("nudge"))


async def nudge_question(ctx: Ctx, nudge: Nudge) -> str:
    """The question a nudge asked (a facilitator's own, or the library's in the network's language)."""
    if nudge.category == SESSION_CATEGORY:
        return i18n.t(ctx.lang, "toolkit.after_session_question_short")
    if nudge.question_id.startswith("custom-"):
        custom = await ctx.session.get(CustomQuestion, int(nudge.question_id.removeprefix("custom-")))
        return custom.text if custom else ""
    q = library().by_id.get(nudge.question_id)
    return q.texts[ctx.lang] if q else ""


#: no reminder after this many unanswered questions in a row (they resume after an answer)
REMINDER_STREAK = 2

#: :func:`reminder_history`'s three queries, built once (building costs as much as running): the
#: network's weekly questions before ``:before`` (sent ``:sent``), newest first; the questions the
#: members ``:members`` answered; the reminders they had
_EARLIER_NUDGES = select(Nudge.id, Nudge.sent_at).where(
    Nudge.network_id == bindparam("network"), Nudge.category != SESSION_CATEGORY, Nudge.id != bindparam("before"),
    Nudge.sent_at <= bindparam("sent")).order_by(Nudge.sent_at.desc())
_ANSWERED = select(Answer.member_id, Answer.nudge_id).where(Answer.member_id.in_(bindparam("members", expanding=True)))
_REMINDERS = select(OutboxMessage.member_id, OutboxMessage.meta).where(
    OutboxMessage.member_id.in_(bindparam("members", expanding=True)), OutboxMessage.kind == "reminder",
    OutboxMessage.chat_id.is_(None))


async def reminder_history(ctx: Ctx, members: list[Member], before: Nudge) -> dict[int, tuple[int, int]]:
    """For each of ``members``: how many weekly questions before ``before`` they were reminded of
    and left unanswered, in a row (a question they were not reminded of, e.g. during a pause or
    before they joined, neither counts nor breaks the row; an answer ends it), and how many
    reminders they had in all. Three queries, whatever the number of members."""
    ids = [m.id for m in members]
    if not ids:
        return {}
    nudges = list(await ctx.session.execute(_EARLIER_NUDGES, {
        "network": ctx.network.id, "before": before.id, "sent": before.sent_at}))
    answered = set(await ctx.session.execute(_ANSWERED, {"members": ids}))
    reminded: dict[int, set[Any]] = {i: set() for i in ids}
    count: Counter[int] = Counter()
    for member_id, meta in await ctx.session.execute(_REMINDERS, {"members": ids}):
        reminded[member_id].add((meta or {}).get("nudge"))
        count[member_id] += 1
    history = {}
    for member in members:
        streak = 0
        for nudge_id, sent_at in nudges:
            if sent_at < member.joined_at:
                break  # older ones too: newest first
            if (member.id, nudge_id) in answered:
                break
            if nudge_id in reminded[member.id]:
                streak += 1
                if streak >= REMINDER_STREAK:
                    break
        history[member.id] = (streak, count[member.id])
    return history


@network_job
async def run_reminder(ctx: Ctx, jc: JobContext) -> None:
    """One short private reminder to each eligible member who has not answered yet; none to a
    member who left the last two questions unanswered (until they answer again), and none to a
    member the trekker has been told is quiet. Never in quiet hours or on a public holiday."""
    if (open_at := next_working_time(ctx.network, ctx.now)) > ctx.now:
        jc.postpone_to = open_at
        return
    nudge, answers = await _nudge_and_answers(ctx, jc.job.payload["nudge"])
    if nudge is None:
        return
    answered = {a.member_id for a in answers}
    members = [m for m in await active_members(ctx.session, ctx.network.id) if m.id not in answered
               and eligible(m, nudge.sent_at) and eligible(m, ctx.now) and m.quiet_noted_at is None]
    history = await reminder_history(ctx, members, nudge)
    for member in members:
        streak, reminders = history[member.id]
        if streak >= REMINDER_STREAK:
            continue
        ctx.private(member, "reminder", i18n.vary(ctx.lang, "rhythm.reminder", reminders,
                                                  name=member.name.split(" ")[0]), meta={"nudge": nudge.id})


STOPWORDS_FILE = "stopwords.yaml"
MAX_QUOTES = 2
QUOTE_LENGTH = 200


def shorten(text: str, limit: int = QUOTE_LENGTH) -> str:
    """One line of at most ``limit`` characters, cut at a word."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


@cache
def _stopwords() -> frozenset[str]:
    data = load_yaml(resources.files("prompts").joinpath(STOPWORDS_FILE).read_text(encoding="utf-8"))
    return frozenset(w for words in data.values() for w in words)


_WORD = re.compile(r"[^\W\d_]{4,}", re.UNICODE)


#: themes are only looked for in at least this many answers
MIN_ANSWERS_FOR_THEMES = 3


def themes(texts: list[str], limit: int = 5, question: str = "") -> list[str]:
    """Words that come back in at least two answers (no stop words, no numbers), most shared first;
    nothing from fewer than :data:`MIN_ANSWERS_FOR_THEMES` answers.

    Deliberately modest: a theme only counts when several people used it, so one person's
    words (or a name they mentioned) never end up in the group's harvest.
    """
    texts = [t for t in texts if t and t.strip()]
    if len(texts) < MIN_ANSWERS_FOR_THEMES:
        return []
    stop = _stopwords() | {w.lower() for w in _WORD.findall(question)}
    per_answer = [{w.lower() for w in _WORD.findall(t)} - stop for t in texts]
    # a word and its plural in -s are one theme ("student" and "students", "ouder" and "ouders"),
    # shown in the form most answers used (the plural when as many used each)
    found = set().union(*per_answer)
    theme = {w: w[:-1] if w.endswith("s") and w[:-1] in found else w for w in found}
    counts = Counter(t for words in per_answer for t in {theme[w] for w in words})
    forms = Counter(w for words in per_answer for w in words)
    shown: dict[str, str] = {}
    for w in sorted(found):
        t = theme[w]
        if t not in shown or (forms[w], len(w)) > (forms[shown[t]], len(shown[t])):
            shown[t] = w
    return [shown[w] for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], shown[kv[0]])) if c >= 2][:limit]


@network_job
async def run_harvest(ctx: Ctx, jc: JobContext) -> None:
    """Post the harvest of a nudge: how many answered, the recurring themes, and up to two short
    quotes (without names) from members who allowed quoting (``/privacy citeren ja``)."""
    if await postpone_if_busy(ctx, jc):
        return
    nudge, answers = await _nudge_and_answers(ctx, jc.job.payload["nudge"])
    if nudge is None or nudge.harvested:
        return
    nudge.harvested = True
    await ctx.features.emit("harvest", ctx, nudge)
    if not answers:
        return  # nothing to harvest; never call out who did not answer
    members = await active_members(ctx.session, ctx.network.id)
    question = await nudge_question(ctx, nudge)
    words = themes([a.text for a in answers], question=question)
    lines = [ctx.t("rhythm.harvest", question=question, count=len(answers))]
    if words:
        lines.append(ctx.t("rhythm.harvest_themes", themes=", ".join(words)))
    consenting = {m.id for m in members if m.quote_consent}
    quotes = [a.text for a in answers if a.member_id in consenting and a.text][:MAX_QUOTES]
    lines += [ctx.t("rhythm.harvest_quote", text=shorten(q)) for q in quotes]
    lines.append(i18n.vary(ctx.lang, "rhythm.harvest_outro", await budget.occurrence(ctx, "harvest")))
    ctx.group("harvest", Markup("\n".join(lines)), meta={"nudge": nudge.id})




@network_job
async def run_goal_prompt(ctx: Ctx, jc: JobContext) -> None:
    """Every few weeks: look at the personal and the group learning goals. A member with a goal of
    their own is asked about it privately (their goal is private), so the group post then asks about
    what the group learned instead of asking them the same again (a member the trekker was told is
    quiet is not asked privately, as they get no reminders). That the group has no goal yet is
    said once, on the first of these posts: repeated every few weeks it would nag in public."""
    if await postpone_if_busy(ctx, jc):
        return
    net = ctx.network
    lines = [ctx.t("rhythm.goal_title")]
    if net.group_goal:
        lines.append(ctx.t("rhythm.goal_group", goal=net.group_goal))
    elif await budget.occurrence(ctx, "goal_prompt") == 0:
        lines.append(ctx.t("rhythm.goal_group_none"))
    members = await active_members(ctx.session, net.id)
    # like reminders, not to a member the trekker was told is quiet: the trekker reaches out instead
    asked = [m for m in members if m.goal and eligible(m, ctx.now) and m.quiet_noted_at is None]
    if not asked:
        lines.append(ctx.t("rhythm.goal_own"))
    elif all(m.goal for m in members):  # nobody to invite to write a goal down
        lines.append(ctx.t("rhythm.goal_own_private"))
    else:
        lines.append(Markup(" ".join([ctx.t("rhythm.goal_own_private"), ctx.t("rhythm.goal_invite")])))
    ctx.group("goal_prompt", Markup("\n".join(lines)))
    for member in asked:
        n = await budget.occurrence(ctx, "goal_prompt", member)
        ctx.private(member, "goal_prompt", i18n.vary(ctx.lang, "rhythm.goal_private", n, goal=member.goal))
    await plan_prompt(ctx.session, net, "goal_prompt", jc.job.due_at)


@network_job
async def run_intention_prompt(ctx: Ctx, jc: JobContext) -> None:
    """Every few weeks: recall the network's intention and ambition and ask whether they still fit."""
    if await postpone_if_busy(ctx, jc):
        return
    net = ctx.network
    empty = ctx.t("common.not_set")
    ctx.group("intention_prompt", ctx.t("rhythm.intention_prompt", intention=net.intention or empty,
                                        ambition=net.ambition or empty))
    await plan_prompt(ctx.session, net, "intention_prompt", jc.job.due_at)


def _replan_prompt(kind: str):  # noqa: ANN202
    async def skip(jc: JobContext) -> None:
        network = await jc.session.get(Network, jc.job.network_id)
        if network is not None:
            await plan_prompt(jc.session, network, kind, jc.now)

    return skip


JOB_KINDS = {
    "nudge": JobKind(run_nudge, skip=_skip_nudge),
    "reminder": JobKind(run_reminder, grace=timedelta(hours=12)),
    "harvest": JobKind(run_harvest, grace=timedelta(days=2)),
    "goal_prompt": JobKind(run_goal_prompt, skip=_replan_prompt("goal_prompt")),
    "intention_prompt": JobKind(run_intention_prompt, skip=_replan_prompt("intention_prompt")),
}


# ---------------------------------------------------------------------------- answers
async def reply_origin(ctx: Ctx, msg: MessageIn) -> Row | None:
    """The kind, meta and network of the bot's message that ``msg`` replies to (Telegram reply, Slack
    thread), if any; looked up once per event (several features' message hooks ask)."""
    if not msg.reply_to or ctx.source is None or ctx.member is None:
        return None
    if "reply_origin" not in ctx.memo:
        ctx.memo["reply_origin"] = await posted_here(ctx, msg.reply_to)
    return ctx.memo["reply_origin"]


async def posted_here(ctx: Ctx, message_id: str | None) -> Row | None:
    """The kind, meta and network of the bot's message ``message_id`` in the group chat of this
    event (the one replied to, or the one whose button was pressed), if any."""
    if not message_id or ctx.source is None or ctx.source.private:
        return None
    return (await ctx.session.execute(_REPLIED_TO, {
        "platform": ctx.source.platform, "chat": ctx.source.chat_id, "message": message_id})).first()


#: the kind, meta and network of the bot's message ``:message`` in chat ``:platform``/``:chat`` (columns, not
#: the row as an object: its text and files are not needed; built once: building a statement costs
#: as much as running it)
_REPLIED_TO = select(OutboxMessage.kind, OutboxMessage.meta, OutboxMessage.network_id).where(
    OutboxMessage.platform == bindparam("platform"), OutboxMessage.chat_id == bindparam("chat"),
    OutboxMessage.platform_message_id == bindparam("message"))


#: bot messages whose replies are reflection answers (the weekly nudge, the after-session question)
ANSWERABLE = ("nudge", "after_session_question")
#: bot messages whose replies are a member's own reflection on the goals or the intention
REFLECTIONS = {"goal_prompt": "goal", "intention_prompt": "intention"}
MAX_REFLECTION = 1500
#: how long a private question of the bot stays open for a plain private reply
PRIVATE_ANSWER_WINDOW = timedelta(days=14)


async def store_answer(ctx: Ctx, nudge_id: int, text: str) -> bool:
    """Store a member's answer to a nudge and tell the other features (the row is written at once:
    what they count next includes it). The member's message it came from is kept with it (only
    its platform id), so deleting or editing that message deletes or changes the answer. False
    (nothing stored) when the nudge is gone: its network was absorbed by ``/koppel <code>``."""
    ref = message_ref(ctx.source, ctx.message_id)
    stored = await (await ctx.session.connection()).execute(_ADD_ANSWER, {
        "nudge_id": nudge_id, "member_id": ctx.member.id, "text": text, "created_at": ctx.now,
        "message_ref": ref})
    if not stored.rowcount:
        return False
    await ctx.features.emit("answer", ctx, ctx.member)
    return True


#: one answer, as a plain INSERT (nothing in the transaction needs it as an ORM object; the unit
#: of work would cost more than the statement, after every answer), and only while its nudge
#: exists: that check costs no round trip of its own
_ANSWER = Answer.__table__.c
_ADD_ANSWER = insert(Answer.__table__).from_select(
    ["nudge_id", "member_id", "text", "created_at", "message_ref"],
    select(*(bindparam(name, type_=_ANSWER[name].type)
             for name in ("nudge_id", "member_id", "text", "created_at", "message_ref")))
    .where(exists().where(Nudge.id == bindparam("nudge_id"))))


async def on_message_deleted(ctx: Ctx, event: MessageDeleted) -> None:
    """The member's message was deleted on the platform: the answer it gave goes with it (it no
    longer counts and is never quoted). Nothing is said."""
    ref = message_ref(event.chat, event.message_id)
    await ctx.session.execute(delete(Answer).where(Answer.message_ref == ref))


async def edited_by_author(ctx: Ctx, member_id: int | None, event: MessageEdited) -> bool:
    """True when ``event`` comes from one of the accounts of member ``member_id`` (the author of
    what was kept; None once erased): only an author's own edit changes what they wrote."""
    author = await ctx.session.get(Member, member_id) if member_id is not None else None
    return author is not None and (event.chat.platform, event.person.user_id) in \
        await directory.identities_of(ctx.session, author)


async def on_message_edited(ctx: Ctx, event: MessageEdited) -> None:
    """The member edited the message an answer came from: the answer becomes the new text (screened
    by the core like a new message's); an edit that leaves no text deletes it. Only its author's
    edit counts (on Matrix anyone can send a replacement event). Nothing is said."""
    ref = message_ref(event.chat, event.message_id)
    answer = await ctx.session.scalar(select(Answer).where(Answer.message_ref == ref).limit(1))
    if answer is None or not await edited_by_author(ctx, answer.member_id, event):
        return
    text = event.text.strip()
    if text:
        answer.text = text
    else:
        await ctx.session.delete(answer)


def store_reflection(ctx: Ctx, kind: str, text: str) -> None:
    """Keep a member's reply to the goal or intention prompt as their own reflection."""
    ctx.session.add(Reflection(network_id=ctx.network.id, member_id=ctx.member.id, kind=kind,
                               text=text[:MAX_REFLECTION], created_at=ctx.now))


async def on_reply(ctx: Ctx, msg: MessageIn) -> bool:
    """A reply to a nudge is an answer; a reply to the goal or intention prompt a reflection; in
    the network that asked (:func:`reply_where_asked`)."""
    origin = await reply_origin(ctx, msg)
    if origin is None:
        return False
    text = msg.text.strip()
    answerable = origin.kind in ANSWERABLE and "nudge" in (origin.meta or {})
    if origin.kind not in REFLECTIONS and not answerable:
        return False
    if await reply_where_asked(ctx, origin, text):
        return True
    if origin.kind in REFLECTIONS:
        if text:
            store_reflection(ctx, REFLECTIONS[origin.kind], text)
        return True
    if text and not await store_answer(ctx, origin.meta["nudge"], text):
        # asked by this chat's network before /koppel <code> brought the chat here: that network,
        # its questions with it, is gone
        ctx.reply("status", ctx.t("rhythm.answer_gone", network=ctx.network.name))
    return True


async def member_there(ctx: Ctx, network_id: int) -> Member | None:
    """The active membership in network ``network_id`` of the account this event comes from."""
    member = await directory.find_by_platform_id(ctx.session, network_id, ctx.source.platform, ctx.person.user_id)
    return member if member is not None and member.active else None


async def reply_where_asked(ctx: Ctx, origin: Row, text: str) -> bool:
    """A reply with ``text`` to ``origin``, what another network asked in this chat before the chat
    was taken out of it with ``/koppel los`` (a weekly question, a celebration, input for a
    session, a reflection): when the member is still in that network (through another chat), the
    rest of the event is handled there, as them (:func:`answer_in`), and this returns False; when
    they are not (they moved out with the chat, or joined it later), that network no longer counts
    them nor what they write, and it is not this chat's network's either: nothing is kept, they
    hear so (only they), and this returns True. Every reply hook that keeps a reply asks this first."""
    if not text or origin.network_id is None or origin.network_id == ctx.network.id:
        return False
    there = await member_there(ctx, origin.network_id)
    if there is not None:
        await answer_in(ctx, origin.network_id, there)
        return False
    return await _not_kept_there(ctx, origin.network_id)


async def _not_kept_there(ctx: Ctx, network_id: int) -> bool:
    """Tell the member (only them) that what they answered was network ``network_id``'s question,
    which no longer counts them, so it is not kept. True: the event is handled."""
    network = await ctx.session.get(Network, network_id)
    ctx.reply("status", ctx.t("rhythm.answer_moved", network=network.name))
    return True


#: private messages of the bot that ask a question: a plain private reply answers the latest one
PRIVATE_QUESTIONS = ("reminder", "goal_prompt", "action_followup")


async def open_private_question(ctx: Ctx) -> OutboxMessage | None:
    """The latest question the bot asked this member privately in the last two weeks, if any
    (the action-learning feature answers its follow-up itself, with the same rule), found by the
    private chats it went to: those of the member's accounts and of the account they write from,
    whichever network asked. A question of a network their chat left with ``/koppel los``, or of
    another network they are in on this platform (a private chat belongs to the membership joined
    last), is answered there (:func:`answer_in`), not taken for one of the network the private
    chat belongs to."""
    if ctx.member is None or ctx.source is None or not ctx.source.private or ctx.person is None:
        return None
    if "private_question" not in ctx.memo:
        # by conversation: an index range (ix_outbox_chat_queue) per account, not a scan of the outbox
        accounts = {*await directory.identities_of(ctx.session, ctx.member), (ctx.source.platform, ctx.person.user_id)}
        ctx.memo["private_question"] = await ctx.session.scalar(select(OutboxMessage).where(
            or_(*(and_(OutboxMessage.platform == platform, OutboxMessage.chat_key == conversation_key(None, user))
                  for platform, user in sorted(accounts))),
            OutboxMessage.chat_id.is_(None), OutboxMessage.kind.in_(PRIVATE_QUESTIONS),
            OutboxMessage.created_at >= ctx.now - PRIVATE_ANSWER_WINDOW).order_by(OutboxMessage.id.desc()).limit(1))
    return ctx.memo["private_question"]


async def asked_there(ctx: Ctx, origin: OutboxMessage) -> Member | None:
    """Who the private question ``origin`` of another network asked, in that network: the
    membership it went to while still active there, else the active membership there of the
    account this message comes from; None when this person is no longer in that network (they
    moved out with a chat taken out by ``/koppel los``)."""
    member = await ctx.session.get(Member, origin.member_id) if origin.member_id is not None else None
    if member is not None and member.active and member.network_id == origin.network_id:
        return member
    return await member_there(ctx, origin.network_id)


async def answer_in(ctx: Ctx, network_id: int, member: Member) -> Callable[[], None]:
    """Handle the rest of this event in network ``network_id``, as ``member``: an answer to a
    question that network asked (a follow-up, a reminder) is kept there and what the bot says about
    it is that network's (its group hears of a finished action), also when the private chat belongs
    to another membership. Returns what switches back, for a hook that then does not take the
    event after all. Only before anything was said for the event (it would go out as the other
    network's)."""
    before = ctx.network, ctx.chats, ctx.member
    network, chats = await directory.network_with_chats(ctx.session, network_id)
    ctx.network, ctx.chats, ctx.member = network, chats, member
    ctx.memo["answered_from"] = before[0].id

    def back() -> None:
        ctx.network, ctx.chats, ctx.member = before
        ctx.memo.pop("answered_from", None)

    return back


def answered_elsewhere(ctx: Ctx) -> bool:
    """True when :func:`answer_in` moved this event to the network that asked."""
    return "answered_from" in ctx.memo


async def on_private_message(ctx: Ctx, msg: MessageIn) -> bool:
    """A plain private message after a private question of the bot is the answer to it (the
    action follow-up, the reminder of the weekly question, the goal question), in the network
    that asked it."""
    if ctx.member is None or ctx.source is None or not ctx.source.private or not msg.text.strip():
        return False
    origin = await open_private_question(ctx)
    back = there = None
    if origin is not None and origin.network_id != ctx.network.id:
        there = await asked_there(ctx, origin)
        if there is None and origin.member_id != ctx.member.id:
            origin = None  # it asked a membership this person no longer has
    if origin is not None and origin.kind in PRIVATE_ANSWERS:
        if there is not None:
            back = await answer_in(ctx, origin.network_id, there)
        elif origin.network_id != ctx.network.id:
            # this membership moved out with a chat taken out by /koppel los: that network no longer
            # counts them, nor their answers (to its weekly question, about their goal); this
            # network's own question is another one, which takes the message once asked after
            # that network's question (the newest question they had)
            nudge = await _waiting_question(ctx)
            if nudge is None or nudge.sent_at <= origin.created_at:
                return await _not_kept_there(ctx, origin.network_id)
            return await _keep_private_answer(ctx, nudge, msg.text.strip())  # this network asked since
        if await PRIVATE_ANSWERS[origin.kind](ctx, origin, msg.text.strip()):
            return True
    elif origin is not None:
        return False  # another feature's question (the action follow-up)
    # no open private question: while this week's question waits for their answer, this is it
    nudge = await _waiting_question(ctx)
    if nudge is not None:
        return await _keep_private_answer(ctx, nudge, msg.text.strip())
    if back is not None:  # not taken here after all: the other features see it as it came
        back()
    return False


async def _keep_private_answer(ctx: Ctx, nudge: Nudge, text: str) -> bool:
    """A plain private message kept as the member's answer to this week's question ``nudge``."""
    await store_answer(ctx, nudge.id, text)
    ctx.reply("status", ctx.t("rhythm.private_answer_kept", question=await nudge_question(ctx, nudge)))
    return True


async def _waiting_question(ctx: Ctx) -> Nudge | None:
    """This network's weekly question of the last week while it waits for the member's answer."""
    nudge = await ctx.session.scalar(select(Nudge).where(
        Nudge.network_id == ctx.network.id, Nudge.category != SESSION_CATEGORY,
        Nudge.sent_at >= ctx.now - timedelta(weeks=1)).order_by(Nudge.sent_at.desc()).limit(1))
    if nudge is None or not eligible(ctx.member, nudge.sent_at):
        return None
    done = await ctx.session.scalar(select(Answer.id).where(Answer.nudge_id == nudge.id,
                                                            Answer.member_id == ctx.member.id).limit(1))
    return nudge if done is None else None


async def _reminder_answer(ctx: Ctx, origin: OutboxMessage, text: str) -> bool:
    """A plain private reply to a reminder answers its weekly question, unless that question was
    harvested already (a newer one went out meanwhile): then it is an answer to the newer one,
    which :func:`on_private_message` looks for when this returns False."""
    nudge_id = (origin.meta or {}).get("nudge")
    nudge = await ctx.session.get(Nudge, nudge_id) if nudge_id is not None else None
    if nudge is None or nudge.harvested:
        return False
    done = await ctx.session.scalar(select(Answer.id).where(Answer.nudge_id == nudge_id,
                                                            Answer.member_id == ctx.member.id).limit(1))
    if done is not None:
        return False
    await store_answer(ctx, nudge_id, text)
    ctx.reply("status", ctx.t("rhythm.private_answer_thanks"))
    return True


async def _goal_answer(ctx: Ctx, origin: OutboxMessage, text: str) -> bool:
    done = await ctx.session.scalar(select(Reflection.id).where(
        Reflection.member_id == ctx.member.id, Reflection.kind == "goal",
        Reflection.created_at >= origin.created_at).limit(1))
    if done is not None:
        return False
    store_reflection(ctx, "goal", text)
    ctx.reply("status", ctx.t("rhythm.reflection_thanks"))
    return True


#: this feature's private questions whose plain private reply is their answer: kind → handler
PRIVATE_ANSWERS = {"reminder": _reminder_answer, "goal_prompt": _goal_answer}


# ---------------------------------------------------------------------------- commands


async def cmd_rhythm(ctx: Ctx, args: str) -> None:
    """``/ritme [reflectie <dag> <HH:MM> | reflectie uit]``: show or change the rhythm."""
    words = args.split()
    net = ctx.network
    if not words:
        ctx.reply("status", Markup("\n".join(await rhythm_lines(ctx))))
        return
    ctx.require("trekker", "procesbegeleider")
    what = words[0].lower()
    rest = words[1:]
    if what in ctx.features.rhythm_options:  # other features' ``/ritme <option> …`` settings
        await ctx.features.rhythm_options[what](ctx, rest)
        return
    if what in POWER_WORDS:
        if len(rest) != 1 or rest[0].lower() not in OFF_WORDS + ON_WORDS:
            raise UserError("errors.usage", usage=ctx.t("help.commands.ritme.usage"))
        net.power_questions = rest[0].lower() in ON_WORDS
        ctx.reply("status", ctx.t("rhythm.power_on") if net.power_questions else ctx.t("rhythm.power_off"))
        return
    if what not in ("reflectie", "reflection", "nudge"):
        raise UserError("errors.usage", usage=ctx.t("help.commands.ritme.usage"))
    if len(rest) == 1 and rest[0].lower() in OFF_WORDS:
        net.nudge_weekday = None
        await unplan(ctx.session, net.id, "nudge")
        ctx.group("status", ctx.t("rhythm.nudge_off", who=ctx.member.name))
        return
    if len(rest) == 1 and rest[0].lower() in ON_WORDS:
        rest = [DAYS[1 if net.nudge_weekday is None else net.nudge_weekday],
                net.nudge_time]
    if len(rest) != 2:
        raise UserError("errors.usage", usage=ctx.t("help.commands.ritme.usage"))
    weekday = parse_weekday(rest[0])
    at = hhmm(parse_time(rest[1]))
    sample = local_at(local(net, ctx.now).date() + timedelta(days=(weekday - local(net, ctx.now).weekday()) % 7),
                      at, net.timezone)
    if in_quiet_hours(net, sample):
        raise UserError("errors.rhythm_in_quiet_hours", start=net.quiet_start, end=net.quiet_end)
    net.nudge_weekday, net.nudge_time = weekday, at
    await unplan(ctx.session, net.id, "nudge")
    due = await plan_nudge(ctx.session, net, ctx.now)
    ctx.group("status", ctx.t("rhythm.nudge_set", who=ctx.member.name, day=ctx.t(f"calendar.weekdays.{weekday}"),
                              time=at, next=format_when(net, due)))


async def rhythm_lines(ctx: Ctx) -> list[Markup]:
    """The rhythm settings and the next planned moments."""
    net = ctx.network
    lines = [ctx.t("rhythm.show_title")]
    if net.nudge_weekday is None:
        lines.append(ctx.t("rhythm.show_nudge_off"))
    else:
        lines.append(ctx.t("rhythm.show_nudge", day=ctx.t(f"calendar.weekdays.{net.nudge_weekday}"),
                           time=net.nudge_time, hours=net.reminder_hours))
    lines.append(ctx.t("rhythm.show_prompts", goal_weeks=net.goal_weeks, intention_weeks=net.intention_weeks))
    lines.append(ctx.t("rhythm.show_power_on") if net.power_questions else ctx.t("rhythm.show_power_off"))
    for show in ctx.features.hooks("rhythm_lines"):
        lines.extend(show(ctx))
    planned = list(await ctx.session.scalars(select(Job).where(
        Job.network_id == net.id, Job.state == "pending",
        Job.kind.in_(ctx.features.shown_kinds)).order_by(Job.due_at)))
    for job in planned:
        lines.append(ctx.t("rhythm.show_next", what=ctx.t(f"rhythm.kinds.{job.kind}"),
                           when=format_when(net, job.due_at)))
    return lines + await budget.lines(ctx)


async def cmd_question(ctx: Ctx, args: str) -> None:
    """``/vraag toevoegen <tekst>``: add an own question; ``/vraag``: list the waiting ones."""
    sub, text = first_word(args)
    if not sub:
        waiting = list(await ctx.session.scalars(select(CustomQuestion).where(
            CustomQuestion.network_id == ctx.network.id, CustomQuestion.asked_at.is_(None))
            .order_by(CustomQuestion.id)))
        if not waiting:
            ctx.reply("status", ctx.t("rhythm.questions_none"))
        else:
            lines = [ctx.t("rhythm.questions_title")]
            lines += [ctx.t("rhythm.question_line", nr=i + 1, text=q.text) for i, q in enumerate(waiting)]
            ctx.reply("status", Markup("\n".join(lines)))
        return
    if sub.lower() not in ("toevoegen", "add", "nieuw", "new"):
        raise UserError("errors.usage", usage=ctx.t("help.commands.vraag.usage"))
    ctx.require("trekker", "procesbegeleider")
    text = text.strip()
    if len(text) < 5:
        raise UserError("errors.usage", usage=ctx.t("help.commands.vraag.usage"))
    if len(text) > MAX_QUESTION:
        raise UserError("errors.value_too_long", limit=MAX_QUESTION)
    ctx.session.add(CustomQuestion(network_id=ctx.network.id, text=text, added_by=ctx.member.id,
                                   created_at=ctx.now))
    ctx.reply("status", ctx.t("rhythm.question_added"))


async def cmd_theme(ctx: Ctx, args: str) -> None:
    """``/thema <tekst>``: set the theme of the month; ``/thema uit`` clears it; ``/thema`` shows it."""
    net = ctx.network
    month = f"{local(net, ctx.now):%Y-%m}"
    text = args.strip()
    if not text:
        if net.theme and net.theme_month == month:
            ctx.reply("status", ctx.t("rhythm.theme_show", theme=net.theme))
        else:
            ctx.reply("status", ctx.t("rhythm.theme_none"))
        return
    ctx.require("trekker", "procesbegeleider")
    if text.lower() in OFF_WORDS:
        net.theme, net.theme_month = "", ""
        ctx.reply("status", ctx.t("rhythm.theme_cleared"))
        return
    if len(text) > MAX_QUESTION:
        raise UserError("errors.value_too_long", limit=MAX_QUESTION)
    net.theme, net.theme_month = text, month
    ctx.group("status", ctx.t("rhythm.theme_set", theme=text, who=ctx.member.name))


async def cmd_pause(ctx: Ctx, args: str) -> None:
    """``/pauze <duur>`` pauses nudges and reminders for yourself; ``/pauze uit`` ends it."""
    member = ctx.require()
    value = args.strip()
    if not value:
        from bot.features.rounds import pause_round

        if await pause_round(ctx):  # a lead's bare /pauze during an action-learning round pauses the round
            return
        if _latest_holds(member, ctx.now):
            ctx.reply("status", ctx.t("rhythm.paused_until", until=format_when(ctx.network, member.paused_until)))
        else:
            raise UserError("errors.usage", usage=ctx.t("help.commands.pauze.usage"))
        return
    if value.lower() in OFF_WORDS:
        if not _latest_holds(member, ctx.now):  # no pause to end: no "welcome back"
            ctx.reply("status", ctx.t("rhythm.pause_none"))
            return
        member.paused_until = ctx.now  # ended now: the questions asked meanwhile stay uncounted
        ctx.reply("status", ctx.t("rhythm.pause_ended"))
        return
    until = add_local(ctx.network, ctx.now, parse_duration(value))  # same local time, also across DST
    if _latest_holds(member, ctx.now):  # longer (or shorter): the pause keeps its start
        member.paused_until = until
    else:  # a new pause; the one before, over now, is kept as an earlier one (and still counts)
        keep_pauses(member, [*pauses(member), (ctx.now, until)])
    ctx.reply("status", ctx.t("rhythm.paused", until=format_when(ctx.network, member.paused_until)))


async def cmd_goal(ctx: Ctx, args: str) -> None:
    """``/leerdoel <tekst>`` (own goal), ``/leerdoel groep <tekst>`` (the group's), ``/leerdoel`` shows."""
    member = ctx.require()
    text = args.strip()
    empty = ctx.t("common.not_set")
    if not text:
        ctx.confidential("status", ctx.t("rhythm.goals_show", own=member.goal or empty,  # their own goal is private
                                         group=ctx.network.group_goal or empty))
        return
    first, rest = first_word(text)
    if first.lower() in ("groep", "group"):
        ctx.require("trekker", "procesbegeleider")
        rest = rest.strip()
        if not rest:
            raise UserError("errors.usage", usage=ctx.t("help.commands.leerdoel.usage"))
        if len(rest) > MAX_GOAL:
            raise UserError("errors.value_too_long", limit=MAX_GOAL)
        ctx.network.group_goal = rest
        ctx.group("status", ctx.t("rhythm.group_goal_set", goal=rest, who=member.name))
        return
    if len(text) > MAX_GOAL:
        raise UserError("errors.value_too_long", limit=MAX_GOAL)
    member.goal = text
    ctx.private(member, "status", ctx.t("rhythm.goal_set", goal=text))


# ---------------------------------------------------------------------------- status
async def status_lines(ctx: Ctx) -> list[Markup]:
    """Participation in the last four nudges, for ``/status``."""
    nudges = list(await ctx.session.scalars(select(Nudge).where(Nudge.network_id == ctx.network.id,
                                                                Nudge.category != SESSION_CATEGORY)
                                            .order_by(Nudge.sent_at.desc()).limit(4)))
    if not nudges:
        return [ctx.t("status.participation_none")]
    parts = []
    members = list(await ctx.session.scalars(select(Member).where(Member.network_id == ctx.network.id)))
    for nudge in reversed(nudges):
        answerers = await ctx.session.scalars(select(Answer.member_id).where(Answer.nudge_id == nudge.id))
        total, answered = participants(members, nudge.sent_at, answerers)
        parts.append(ctx.t("status.participation_item",
                           date=format_short_date(ctx.lang, local(ctx.network, nudge.sent_at).date(), year=False),
                           answered=len(answered), total=len(total)))
    return [ctx.t("status.participation", items=Markup(", ".join(parts)))]


#: emits ``harvest`` (ctx, nudge) when a question's answering window closes, ``answer`` (ctx, member)
#: after an answer is stored
FEATURE = Feature(
    "rhythm",
    commands=(
        Command("ritme", cmd_rhythm, ("rhythm",)),
        Command("vraag", cmd_question, ("question",)),
        Command("thema", cmd_theme, ("theme",)),
        Command("pauze", cmd_pause, ("pause",)),
        Command("leerdoel", cmd_goal, ("goal",)),
    ),
    jobs=JOB_KINDS,
    message_hooks=(on_reply, on_private_message),
    on_edit=(on_message_edited,),
    on_delete=(on_message_deleted,),
    planners=(plan_rhythm,),
    shown_kinds=("nudge", "goal_prompt", "intention_prompt"),
)
