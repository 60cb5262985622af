"""The figures of a report, gathered from the database into plain data (no ORM rows, no language).

What may appear is decided here, once, for every way a report is sent (privately or in the
group, and wherever the trekker forwards it):

- no member's name, and no member's perspective one by one (only counts per role and perspective);
- reflection answers as counts and recurring words; an answer's text (without name) only when its
  author allowed quoting (``/privacy citeren ja``), as in the harvest;
- celebrations the same way: the text only when its author allowed quoting; milestones are
  described by what they mark, not by the (named) message the bot posted;
- an action-learning round as figures and question themes, never the case that was brought in
  (practice cases from the social domain stay in the group);
- the network's own records as they were written for it: intention, ambition, decisions, ideas,
  actions and their outcomes, sessions and their places;
- and in every free text that does appear, members' names are replaced by ``[naam]``.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import i18n
from bot.features.network import MAX_GROUP, MIN_GROUP, PERSPECTIVES
from bot.features.report.period import Period
from bot.features.rhythm import SESSION_CATEGORY, library, participants, shorten, themes
from bot.guard import Label
from bot.models import (
    Action,
    Answer,
    Celebration,
    LogEntry,
    Meeting,
    MeetingInput,
    Member,
    Network,
    Nudge,
    Reflection,
    Round,
    RoundEntry,
)

MAX_QUOTES = 5
QUOTE_LENGTH = 200
MAX_THEMES = 8
#: the framework's seven aspects and Kolb's four stages, in the question library's order
FAMILIES = ("aspect", "kolb")


@dataclass(frozen=True)
class Week:
    """The weekly questions in one calendar week (Monday first)."""

    monday: date
    questions: int
    answers: int
    answered: int  # members who answered at least one of the week's questions
    members: int  # members who counted: in the network and not paused (rhythm.participants)


@dataclass(frozen=True)
class Coverage:
    """One aspect of the framework or one stage of Kolb's cycle: questions asked and answers."""

    key: str
    family: str
    questions: int
    answers: int


@dataclass(frozen=True)
class Session:
    """A session in the period."""

    starts_at: datetime
    ends_at: datetime
    place: str
    cancelled: bool
    held: bool
    inputs: int  # members who gave input beforehand


@dataclass(frozen=True)
class ActionItem:
    """An action: what, by when, its state now and how it went."""

    text: str
    due: date | None
    state: str
    outcome: str
    created_at: datetime


@dataclass(frozen=True)
class RoundItem:
    """An action-learning round, without its case."""

    nr: int
    started_at: datetime
    state: str
    questions: int  # open questions asked in step 2
    ideas: int
    question_themes: tuple[str, ...]
    actions: tuple[ActionItem, ...]


@dataclass(frozen=True)
class CelebrationItem:
    """Something celebrated: ``text`` (a quote, with consent) or a milestone ``kind``."""

    at: datetime
    text: str = ""
    milestone: str = ""
    milestone_value: str = ""


@dataclass(frozen=True)
class LogItem:
    """A decision or an idea from the log."""

    kind: str
    nr: int
    at: datetime
    text: str
    reason: str
    status: str


@dataclass(frozen=True)
class Composition:
    """The group at the end of the period, in counts only."""

    size: int
    roles: dict[str, int]
    perspectives: dict[str, int]  # every BOPOG perspective, 0 when missing
    unknown_perspective: int
    joined: int  # newcomers during the period
    left: int

    @property
    def size_verdict(self) -> str:
        """``ok``, ``small`` or ``large`` against 5-20."""
        return "ok" if MIN_GROUP <= self.size <= MAX_GROUP else ("small" if self.size < MIN_GROUP else "large")

    @property
    def missing(self) -> list[str]:
        """BOPOG perspectives nobody in the group brings."""
        return [p for p in PERSPECTIVES if not self.perspectives.get(p)]


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows, language-free."""

    network: str
    intention: str
    ambition: str
    group_goal: str
    language: str
    timezone: str
    period: Period
    made_at: datetime
    started: date
    weeks: tuple[Week, ...]
    coverage: tuple[Coverage, ...]
    other_questions: int  # weekly questions outside the aspects and Kolb: Derksen's dimensions, own questions
    questions: int  # weekly questions (not the question after a session: session_questions)
    answers: int  # answers to the weekly questions
    answered: int  # members who answered a weekly question at least once, out of ``counted``
    themes: tuple[str, ...]
    quotes: tuple[str, ...]
    sessions: tuple[Session, ...]
    next_session: Session | None
    rounds: tuple[RoundItem, ...]
    actions: tuple[ActionItem, ...]  # outside the rounds above, open at some moment of the period
    actions_opened: int
    actions_done: int
    actions_open: int  # at the end of the period
    celebrations: tuple[CelebrationItem, ...]
    celebrations_total: int
    decisions: tuple[LogItem, ...]
    ideas: tuple[LogItem, ...]
    composition: Composition
    #: members' replies to the goal and intention prompts (their own reflections)
    reflections: int = 0
    #: members who counted for at least one weekly question (in the network and not paused when it
    #: came, or who answered it anyway): the ``answered`` are among them
    counted: int = 0
    #: the questions after a session ("what do you take with you?") and their answers
    session_questions: int = 0
    session_answers: int = 0

    @property
    def empty(self) -> bool:
        """Nothing happened in the period (a monthly report is then not sent)."""
        return not (
            self.questions
            or self.session_questions
            or self.sessions
            or self.rounds
            or self.actions
            or self.celebrations_total
            or self.decisions
            or self.ideas
            or self.composition.joined
            or self.composition.left
        )

    @property
    def participation(self) -> float | None:
        """The average share of the counted members who answered, over the weeks with a weekly question."""
        shares = [w.answered / w.members for w in self.weeks if w.questions and w.members]
        return sum(shares) / len(shares) if shares else None

    @property
    def zone(self) -> ZoneInfo:
        """The network's time zone."""
        return ZoneInfo(self.timezone)


def redactor(names: list[str], replacement: str) -> tuple[Callable[[str], str], Callable[[list[str]], list[str]]]:
    """Functions that take members' names (full and first, three letters or more) out of free text
    written for the network (a decision "Cem belt de school" becomes "[naam] belt de school"), and
    out of a list of recurring words."""
    found = set()
    for name in names:
        parts = name.split()
        found.update(n for n in (" ".join(parts), parts[0] if parts else "") if len(n) >= 3)
    if not found:
        return (lambda value: value), (lambda words: list(words))
    pattern = re.compile(
        r"(?<!\w)(?:" + "|".join(re.escape(n) for n in sorted(found, key=len, reverse=True)) + r")(?!\w)"
    )
    lower = {n.casefold() for n in found}
    return (lambda value: pattern.sub(replacement, value)), (
        lambda words: [w for w in words if w.casefold() not in lower]
    )


def bounds(network: Network, period: Period) -> tuple[datetime, datetime]:
    """The period as instants: from local midnight of its first day to the midnight after its last
    (a period ending today takes in everything so far, up to the moment the report is made)."""
    zone = ZoneInfo(network.timezone)
    start = datetime.combine(period.start, time(0), zone).astimezone(UTC)
    return start, datetime.combine(period.end + timedelta(days=1), time(0), zone).astimezone(UTC)


def _in(start: datetime, end: datetime, column):  # noqa: ANN001, ANN202
    return (column >= start) & (column < end)


def _present(member: Member, at: datetime) -> bool:
    """In the network at ``at`` (joined, and not left yet)."""
    return member.joined_at <= at and (member.left_at is None or member.left_at > at)


async def gather(session: AsyncSession, network: Network, period: Period, now: datetime) -> ReportData:
    """Collect the report's figures for ``period``."""
    start, end = bounds(network, period)
    zone = ZoneInfo(network.timezone)
    nid = network.id
    members = list(await session.scalars(select(Member).where(Member.network_id == nid)))
    consenting = {m.id for m in members if m.quote_consent}
    clean, clean_words = redactor([m.name for m in members], i18n.raw(network.language, "report.name_removed"))

    # ---------------------------------------------------------------- reflections
    all_nudges = list(
        await session.scalars(
            select(Nudge)
            .where(Nudge.network_id == nid, _in(start, end, Nudge.sent_at))
            .order_by(Nudge.sent_at, Nudge.id)
        )
    )
    all_answers = (
        list(
            await session.scalars(
                select(Answer)
                .where(Answer.nudge_id.in_([n.id for n in all_nudges]))
                .order_by(Answer.created_at, Answer.id)
            )
        )
        if all_nudges
        else []
    )
    by_nudge: dict[int, list[Answer]] = defaultdict(list)
    for a in all_answers:
        by_nudge[a.nudge_id].append(a)
    # the weekly questions; the question after a session is counted apart, as in /status
    nudges = [n for n in all_nudges if n.category != SESSION_CATEGORY]
    after_session = [n for n in all_nudges if n.category == SESSION_CATEGORY]
    answers = [a for n in nudges for a in by_nudge[n.id]]

    def counts(items: list[Nudge]) -> tuple[set[object], set[object]]:
        """Members who counted for any of these questions, and those of them who answered."""
        counted: set[object] = set()
        answered: set[object] = set()
        for n in items:
            c, a = participants(members, n.sent_at, (x.member_id for x in by_nudge[n.id]))
            counted |= c
            answered |= a
        return counted, answered

    weeks = []
    monday = period.start - timedelta(days=period.start.weekday())
    while monday <= period.end:
        week_start = max(datetime.combine(monday, time(0), zone).astimezone(UTC), start)
        week_end = min(datetime.combine(monday + timedelta(days=7), time(0), zone).astimezone(UTC), end)
        mine = [n for n in nudges if week_start <= n.sent_at < week_end]
        mine_answers = [a for n in mine for a in by_nudge[n.id]]
        partial = monday < period.start or monday + timedelta(days=6) > period.end
        if mine or not partial:  # a bit of a week at either end without a question is left out
            if mine:
                counted, answered = counts(mine)
            else:  # no question: who would have counted at the week's end
                counted, answered = participants(members, max(week_start, week_end - timedelta(seconds=1)), ())
            weeks.append(Week(monday, len(mine), len(mine_answers), len(answered), len(counted)))
        monday += timedelta(days=7)

    lib = library()
    asked: Counter[str] = Counter(n.category for n in nudges)
    answered_by_cat: Counter[str] = Counter()
    for n in nudges:
        answered_by_cat[n.category] += len(by_nudge[n.id])
    coverage = tuple(
        Coverage(c, lib.names[c]["family"], asked[c], answered_by_cat[c])
        for family in FAMILIES
        for c in lib.categories
        if lib.names[c]["family"] == family
    )
    covered = {c.key for c in coverage}
    counted, answered = counts(nudges)
    quotes: list[str] = []
    for n in all_nudges:
        for a in by_nudge[n.id]:
            if a.member_id in consenting and a.text.strip() and len(quotes) < MAX_QUOTES:
                quotes.append(shorten(clean(a.text), QUOTE_LENGTH))
                break  # one per question: voices from several weeks

    # ---------------------------------------------------------------- sessions
    meetings = list(
        await session.scalars(
            select(Meeting)
            .where(Meeting.network_id == nid, _in(start, end, Meeting.starts_at))
            .order_by(Meeting.starts_at)
        )
    )
    inputs: Counter[int] = Counter()
    if meetings:
        given = await session.execute(
            select(MeetingInput.meeting_id, MeetingInput.member_id)
            .distinct()
            .where(MeetingInput.meeting_id.in_([m.id for m in meetings]))
        )
        inputs.update(meeting_id for meeting_id, _ in given)
    sessions = tuple(
        Session(m.starts_at, m.ends_at, clean(m.place), m.cancelled, not m.cancelled and m.ends_at <= now, inputs[m.id])
        for m in meetings
    )
    nxt = await session.scalar(
        select(Meeting)
        .where(Meeting.network_id == nid, Meeting.cancelled.is_(False), Meeting.starts_at >= max(end, now))
        .order_by(Meeting.starts_at)
        .limit(1)
    )
    next_session = Session(nxt.starts_at, nxt.ends_at, clean(nxt.place), False, False, 0) if nxt else None

    # ---------------------------------------------------------------- rounds and actions
    def item(a: Action) -> ActionItem:
        return ActionItem(clean(a.text), a.due_date, a.state, clean(a.outcome), a.created_at)

    rounds_rows = list(
        await session.scalars(
            select(Round)
            .where(Round.network_id == nid, _in(start, end, Round.started_at))
            .order_by(Round.started_at, Round.id)
        )
    )
    round_ids = [r.id for r in rounds_rows]
    entries = (
        list(await session.scalars(select(RoundEntry).where(RoundEntry.round_id.in_(round_ids)))) if round_ids else []
    )
    # every action that was open at some moment of the period (created before its end, not closed before it)
    actions = list(
        await session.scalars(
            select(Action)
            .where(
                Action.network_id == nid,
                Action.created_at < end,
                or_(Action.state == "open", Action.closed_at.is_(None), Action.closed_at >= start),
            )
            .order_by(Action.created_at, Action.id)
        )
    )
    rounds = []
    for r in rounds_rows:
        questions = [e.text for e in entries if e.round_id == r.id and e.step == 2 and e.label == Label.OPEN.value]
        ideas = [e for e in entries if e.round_id == r.id and e.step == 3]
        rounds.append(
            RoundItem(
                r.nr,
                r.started_at,
                r.state,
                len(questions),
                len(ideas),
                tuple(clean_words(themes(questions))),
                tuple(item(a) for a in actions if a.round_id == r.id),
            )
        )
    other_actions = tuple(item(a) for a in actions if a.round_id not in round_ids)
    opened = sum(start <= a.created_at < end for a in actions)
    done = sum(a.state == "done" and a.closed_at is not None and start <= a.closed_at < end for a in actions)
    still_open = sum(a.state == "open" or (a.closed_at is not None and a.closed_at >= end) for a in actions)

    # ---------------------------------------------------------------- celebrations, log, group
    celebration_rows = list(
        await session.scalars(
            select(Celebration)
            .where(Celebration.network_id == nid, _in(start, end, Celebration.created_at))
            .order_by(Celebration.created_at, Celebration.id)
        )
    )
    celebrations = []
    for c in celebration_rows:
        if c.source == "milestone":
            kind, _, value = (c.key or "").partition(":")
            if kind == "action":
                action = next((a for a in actions if str(a.id) == value), None)
                value = clean(action.text) if action else ""
            celebrations.append(CelebrationItem(c.created_at, milestone=kind or "other", milestone_value=value))
        elif c.member_id in consenting and c.text.strip():
            celebrations.append(CelebrationItem(c.created_at, text=shorten(clean(c.text), QUOTE_LENGTH)))
    log = list(
        await session.scalars(
            select(LogEntry)
            .where(LogEntry.network_id == nid, _in(start, end, LogEntry.created_at))
            .order_by(LogEntry.kind, LogEntry.nr)
        )
    )
    entries_log = [
        LogItem(e.kind, e.nr, e.created_at, clean(e.text), clean(e.reason or e.status_reason), e.status) for e in log
    ]

    present = [m for m in members if _present(m, end - timedelta(seconds=1))]
    perspectives = {p: sum(m.perspective == p for m in present) for p in PERSPECTIVES}
    first_day = network.created_at + timedelta(days=1)
    composition = Composition(
        size=len(present),
        roles={r: sum(m.role == r for m in present) for r in ("trekker", "procesbegeleider", "deelnemer")},
        perspectives=perspectives,
        unknown_perspective=sum(m.perspective not in PERSPECTIVES for m in present),
        joined=sum(start <= m.joined_at < end and m.joined_at > first_day for m in members),
        left=sum(m.left_at is not None and start <= m.left_at < end for m in members),
    )

    return ReportData(
        network=network.name,
        intention=clean(network.intention),
        ambition=clean(network.ambition),
        group_goal=clean(network.group_goal),
        language=network.language,
        timezone=network.timezone,
        period=period,
        made_at=now,
        started=network.created_at.astimezone(zone).date(),
        weeks=tuple(weeks),
        coverage=coverage,
        other_questions=sum(v for k, v in asked.items() if k not in covered),
        questions=len(nudges),
        answers=len(answers),
        answered=len(answered),
        themes=tuple(clean_words(themes([a.text for a in all_answers], MAX_THEMES + 4))[:MAX_THEMES]),
        quotes=tuple(quotes),
        sessions=sessions,
        next_session=next_session,
        rounds=tuple(rounds),
        actions=other_actions,
        actions_opened=opened,
        actions_done=done,
        actions_open=still_open,
        celebrations=tuple(celebrations),
        celebrations_total=len(celebration_rows),
        decisions=tuple(e for e in entries_log if e.kind == "decision"),
        ideas=tuple(e for e in entries_log if e.kind == "idea"),
        composition=composition,
        reflections=await session.scalar(select(func.count(Reflection.id)).where(
            Reflection.network_id == nid, _in(start, end, Reflection.created_at))) or 0,
        counted=len(counted),
        session_questions=len(after_session),
        session_answers=sum(len(by_nudge[n.id]) for n in after_session),
    )
