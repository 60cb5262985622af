"""The message budget (PRODUCT §3.2, issue 18), measured on a whole season.

``examples/seizoen-16-weken.yaml`` runs sixteen weeks with ten members, four sessions, a newcomer, a
leaver, a holiday and an action-learning round through ``bamboe simulate``'s runner; the tests read
the transcript (what the bot really sent) and check every rule of the budget, the reminders that know
when to stop, the variety of recurring texts, and that answers given privately are kept.
:func:`measure` is also what ``docs/voice.md``'s figures come from.
"""

from __future__ import annotations

import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from adapters.console import simulate
from bot import budget
from bot.database import Database, create_engine
from bot.models import Action, Answer, BudgetEntry, Member, Reflection

SEASON = Path(__file__).parent.parent / "examples" / "seizoen-16-weken.yaml"
AMS = ZoneInfo("Europe/Amsterdam")
GROUP_KINDS = set(budget.PRIORITY)
SESSIONS = [("2026-03-18T14:00", "2026-03-18T16:00"), ("2026-04-15T14:00", "2026-04-15T16:00"),
            ("2026-05-19T14:00", "2026-05-19T16:00"), ("2026-06-11T19:00", "2026-06-11T21:00")]


@dataclass
class Figures:
    """What a season's transcript shows about the bot's own initiative."""

    posts_per_week: dict[str, int] = field(default_factory=dict)
    session_weeks: set[str] = field(default_factory=set)
    private_per_member_week: float = 0.0
    private_max_member_week: int = 0
    reminders: Counter = field(default_factory=Counter)
    close_pairs: int = 0
    before_session: int = 0
    harvest_weeks: Counter = field(default_factory=Counter)

    @property
    def busiest(self) -> int:
        """The most bot posts in one week."""
        return max(self.posts_per_week.values(), default=0)

    @property
    def average(self) -> float:
        """Bot posts per week on average."""
        return sum(self.posts_per_week.values()) / max(1, len(self.posts_per_week))


def week(at: datetime) -> str:
    iso = at.astimezone(AMS).isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def kinds(line: dict) -> set[str]:
    return {line["kind"], *line.get("merged", [])}


def measure(lines: list[dict], members: int, weeks: int = 16,
            session_times: list[tuple[str, str]] = SESSIONS) -> Figures:
    """The budget's figures for a transcript of ``weeks`` weeks with ``members`` members and
    sessions at ``session_times`` (local start and end)."""
    fig = Figures()
    start = datetime.fromisoformat(lines[0]["at"])
    monday = (start - timedelta(days=start.weekday())).replace(hour=0, minute=0, second=0)
    for w in range(weeks):
        fig.posts_per_week[week(monday + timedelta(weeks=w))] = 0
    sessions = [(datetime.fromisoformat(a).replace(tzinfo=AMS), datetime.fromisoformat(b).replace(tzinfo=AMS))
                for a, b in session_times]
    fig.session_weeks = {week(s) for s, _ in sessions}
    posts = [(datetime.fromisoformat(x["at"]), x) for x in lines if x["to"] == "group" and x["kind"] in GROUP_KINDS]
    for at, line in posts:
        fig.posts_per_week[week(at)] = fig.posts_per_week.get(week(at), 0) + 1
        if kinds(line) & {"digest", "pre_session_question"}:
            fig.session_weeks.add(week(at))
        if "harvest" in kinds(line):
            fig.harvest_weeks[week(at)] += 1
    fig.close_pairs = sum(1 for (a, _), (b, _) in zip(posts, posts[1:], strict=False) if b - a < budget.GAP)
    private = [(datetime.fromisoformat(x["at"]), x) for x in lines
               if x["to"].startswith("dm:") and x["kind"] in budget.PRIVATE_KINDS]
    per_member_week = Counter((x["to"], week(at)) for at, x in private)
    fig.private_per_member_week = len(private) / members / weeks
    fig.private_max_member_week = max(per_member_week.values(), default=0)
    fig.reminders = Counter(x["to"] for _, x in private if x["kind"] == "reminder")
    own = posts + private
    fig.before_session = sum(1 for at, _ in own for s, e in sessions if s - budget.BEFORE_SESSION <= at < e)
    return fig


@pytest.fixture(scope="module")
def season(tmp_path_factory) -> tuple[list[dict], str]:  # noqa: ANN001
    """The season's transcript, and the database it left behind."""
    import asyncio

    path = tmp_path_factory.mktemp("season") / "season.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    out = io.StringIO()
    keep = simulate.Harness.close

    async def keep_open(self):  # noqa: ANN001, ANN202  # the tests read the database afterwards
        await self.db.engine.dispose()

    simulate.Harness.close = keep_open
    try:
        asyncio.run(simulate.run(simulate.load(SEASON.read_text(encoding="utf-8")), database_url=url, out=out))
    finally:
        simulate.Harness.close = keep
    return [json.loads(line) for line in out.getvalue().splitlines()], url


async def stored(url: str, model, *where) -> list:  # noqa: ANN001
    db = Database(create_engine(url))
    try:
        async with db.transaction() as s:
            return list(await s.scalars(select(model).where(*where)))
    finally:
        await db.close()


def test_the_week_never_holds_more_bot_posts_than_the_budget(season):
    lines, _ = season
    fig = measure(lines, members=10)
    assert len(fig.session_weeks) >= 4
    for key, count in fig.posts_per_week.items():
        cap = budget.SESSION_WEEK if key in fig.session_weeks else budget.ORDINARY_WEEK
        assert count <= cap, (key, count, cap)
    assert fig.busiest <= budget.SESSION_WEEK
    assert sum(fig.posts_per_week.values()) >= 16, "the weekly question still goes out every week"


def test_no_two_bot_posts_within_half_an_hour_and_none_before_a_session(season):
    fig = measure(season[0], members=10)
    assert fig.close_pairs == 0
    assert fig.before_session == 0


def test_at_most_one_harvest_a_week(season):
    fig = measure(season[0], members=10)
    assert fig.harvest_weeks and max(fig.harvest_weeks.values()) == 1


def test_private_messages_stay_under_one_per_member_per_week(season):
    fig = measure(season[0], members=10)
    assert fig.private_per_member_week <= budget.PRIVATE_PER_MEMBER
    reminders_a_week = Counter((x["to"], week(datetime.fromisoformat(x["at"])))
                               for x in season[0] if x["kind"] == "reminder")
    assert max(reminders_a_week.values()) == 1


def test_reminders_stop_after_two_unanswered_questions_and_resume_after_an_answer(season):
    lines, _ = season
    fig = measure(lines, members=10)
    assert fig.reminders["dm:jet"] == 2, "Jet never answers: two reminders, then none"
    bram = [datetime.fromisoformat(x["at"]) for x in lines if x["to"] == "dm:bram" and x["kind"] == "reminder"]
    assert bram, "Bram is reminded when he falls silent"
    assert any(at > datetime(2026, 4, 28, tzinfo=AMS) for at in bram), "after Bram answers again, reminders resume"
    for line in lines:
        if line["kind"] == "reminder":
            assert len(line["text"]) < 160, line["text"]


def test_no_reminder_to_a_member_the_trekker_was_told_is_quiet(season):
    lines, _ = season
    told = {}
    for line in lines:
        if line["kind"] == "quiet_member":
            for name, who in (("Jet Visser", "dm:jet"), ("Bram Peters", "dm:bram")):
                if name in line["text"]:
                    told.setdefault(who, datetime.fromisoformat(line["at"]))
    assert "dm:jet" in told
    bram_answers_again = datetime(2026, 4, 28, tzinfo=AMS)
    for line in lines:
        at = datetime.fromisoformat(line["at"])
        if line["kind"] == "reminder" and line["to"] in told and at > told[line["to"]]:
            assert line["to"] == "dm:bram" and at > bram_answers_again, line


def test_no_reminder_to_a_quiet_trekker_after_the_facilitator_was_told():
    # examples/warm-seizoen.yaml: Anna (trekker) stops answering; Bram hears it, and from then on
    # she gets no reminders (nor anything that asks her to answer) until she answers again
    lines = _simulate((SEASON.parent / "warm-seizoen.yaml").read_text(encoding="utf-8"))
    (noted,) = [x for x in lines if x["kind"] == "quiet_member" and "Anna de Vries" in x["text"]]
    assert noted["to"] == "dm:bram"
    told = datetime.fromisoformat(noted["at"])
    assert not [x for x in lines if x["to"] == "dm:anna" and x["kind"] in ("reminder", "goal_prompt")
                and datetime.fromisoformat(x["at"]) > told]


def test_recurring_texts_never_repeat_twice_in_a_row(season):
    lines, _ = season
    series: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        if line["kind"] == "reminder":
            series[line["to"]].append(line["text"])
        elif line["to"] == "group" and line["kind"] == "celebrate_prompt":
            series["celebrate"].append(line["text"])
        elif line["to"] == "group" and "nudge" in kinds(line):
            series["nudge footer"].append(line["text"].splitlines()[-1])
    assert series["celebrate"] and series["nudge footer"]
    for name, texts in series.items():
        for a, b in zip(texts, texts[1:], strict=False):
            assert a != b, (name, a)


async def test_private_answers_are_kept(season):
    _, url = season
    (hanna,) = await stored(url, Member, Member.user_id == "hanna")
    answers = await stored(url, Answer, Answer.member_id == hanna.id)
    assert len(answers) == 2, "both private replies to a reminder count as answers"
    (action,) = await stored(url, Action)
    assert action.state == "done" and "school" in action.outcome


async def test_the_ledger_shows_what_was_merged_and_moved(season):
    lines, url = season
    entries = await stored(url, BudgetEntry)
    actions = Counter(e.action for e in entries)
    assert actions["posted"] == sum(1 for x in lines if x["to"] == "group" and x["kind"] in GROUP_KINDS)
    assert actions["merged"] > 0
    ritme = [x for x in lines if x["kind"] == "status" and "🗓️" in x["text"]][-1]["text"]
    assert "van de 3" in ritme or "van de 5" in ritme


async def test_replies_to_the_goal_prompt_are_reflections(season):
    _, url = season
    reflections = await stored(url, Reflection)
    assert {r.kind for r in reflections} >= {"goal"}


def _simulate(text: str) -> list[dict]:
    """The transcript of a small scenario (``bamboe simulate``'s runner, a fresh database)."""
    import asyncio

    out = io.StringIO()
    asyncio.run(simulate.run(simulate.load(text), database_url=None, out=out))
    return [json.loads(line) for line in out.getvalue().splitlines()]


MEMBERS = """members:
  - {id: anna, name: "Anna de Vries", role: trekker, perspective: beleid}
  - {id: bram, name: "Bram Peters", role: procesbegeleider, perspective: onderzoek}
  - {id: cem, name: "Cem Yilmaz", perspective: professional}
  - {id: dewi, name: "Dewi Santoso", perspective: onderwijs}
"""


def test_a_post_moved_a_week_skips_public_holidays():
    # two sessions fill the week of 15 December, so the celebrate prompt of Friday 18 December
    # moves a week: onto Christmas Day, and then Boxing Day (a Saturday) before the next working day
    lines = _simulate('network: {name: "Edge", language: nl, timezone: Europe/Amsterdam}\n' + MEMBERS + """
start: "2026-12-07T08:00"
steps:
  - {at: "2026-12-07T09:00", from: anna, text: "/bijeenkomst 2026-12-15 10:45-12:00 Buurthuis"}
  - {at: "2026-12-07T09:01", from: anna, text: "/bijeenkomst 2026-12-17 10:30-11:30 Online"}
  - {until: "2027-01-01T12:00"}
""")
    bot_lines = [x for x in lines if not x["kind"].startswith("session")]
    days = {datetime.fromisoformat(x["at"]).date().isoformat() for x in bot_lines}
    assert not days & {"2026-12-25", "2026-12-26"}
    celebrate = [x for x in lines if x["to"] == "group" and "celebrate_prompt" in kinds(x)]
    assert celebrate and datetime.fromisoformat(celebrate[0]["at"]).date().isoformat() == "2026-12-28"


def test_the_monthly_report_waits_until_the_session_is_over():
    lines = _simulate('network: {name: "Edge5", language: en, timezone: Europe/Amsterdam}\n' + MEMBERS + """
start: "2027-02-08T08:00"
steps:
  - {at: "2027-02-08T09:00", from: anna, text: "/session 2027-03-01 09:30-10:30 Online"}
  - {until: "2027-03-01T12:00"}
""")
    start, end = datetime(2027, 3, 1, 8, 30, tzinfo=AMS), datetime(2027, 3, 1, 10, 30, tzinfo=AMS)
    assert not [x for x in lines if start <= datetime.fromisoformat(x["at"]) < end]
    report = [x for x in lines if x["kind"] == "report"]
    assert [(x["to"], x["at"]) for x in report] == [("dm:anna", "2027-03-01T10:30:00+01:00")]
