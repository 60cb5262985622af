"""The budget reads a planned post's week once (``bot.budget.Week``): its answers are those of the
ledger, session and job queries they replace, on both backends, also after entries are added."""

from datetime import timedelta

from bamboe.features import FEATURES
from bot import budget
from bot.core import Ctx
from bot.database import Database, create_engine, upgrade
from bot.features.network import next_meeting
from bot.jobs import JobContext
from bot.models import BudgetEntry, HeldPost, Job, Meeting, Network
from bot.registry import Registry
from tests.conftest import local

NOW = local(2026, 3, 4, 12, 0)  # a Wednesday; the ISO week runs from Monday 2 March


def entry(network: Network, at, kind: str, action: str) -> BudgetEntry:  # noqa: ANN001
    return BudgetEntry(network_id=network.id, at=at, week="", kind=kind, action=action)


async def answers(ctx: Ctx) -> dict:
    """What the budget's readers answer for ``ctx`` (from the week when it was read)."""
    start, end, _ = budget.week_of(ctx, ctx.now)
    meeting = await budget.next_meeting(ctx)
    return {
        "posted": await budget.posted(ctx, start, end),
        "harvests": await budget.posted(ctx, start, end, ("harvest",), merged=True),
        "nudges": await budget.posted(ctx, start, end, ("nudge",), merged=True),
        "occurrence": {k: await budget.occurrence(ctx, k) for k in ("nudge", "harvest", "digest", "goal_prompt")},
        "next_meeting": meeting and (meeting.starts_at, meeting.ends_at, meeting.id),
    }


async def test_the_week_read_once_answers_like_the_queries(database_url: str) -> None:
    db = Database(create_engine(database_url))
    await upgrade(db.engine)
    try:
        async with db.transaction() as s:
            net = Network(name="Week", created_at=NOW - timedelta(weeks=10))
            other = Network(name="Other", created_at=NOW - timedelta(weeks=10))
            s.add_all([net, other])
            await s.flush()
            monday = local(2026, 3, 2, 10, 0)
            s.add_all([
                entry(net, monday, "nudge", "posted"),
                entry(net, monday, "harvest", "merged"),
                entry(net, monday + timedelta(days=1), "goal_prompt", "moved"),
                entry(net, monday - timedelta(minutes=1), "digest", "posted"),  # Monday 9:59 is this week
                entry(net, local(2026, 3, 1, 23, 0), "nudge", "posted"),  # last Sunday: last week
                entry(net, local(2026, 2, 23, 10, 0), "harvest", "posted"),
                entry(net, local(2026, 2, 23, 10, 0), "nudge", "merged"),
                entry(other, monday, "nudge", "posted"),  # another network's
                Meeting(network_id=net.id, nr=1, starts_at=monday + timedelta(hours=4),
                        ends_at=monday + timedelta(hours=6), place=""),  # this week, over
                Meeting(network_id=net.id, nr=2, starts_at=NOW + timedelta(days=7),
                        ends_at=NOW + timedelta(days=7, hours=2), place=""),
                Meeting(network_id=net.id, nr=3, starts_at=NOW + timedelta(days=2),
                        ends_at=NOW + timedelta(days=2, hours=2), place="", cancelled=True),
                Meeting(network_id=other.id, nr=1, starts_at=NOW + timedelta(days=1),
                        ends_at=NOW + timedelta(days=1, hours=2), place=""),
                HeldPost(network_id=net.id, kind="milestone", text="x", created_at=monday),
            ])
            job = Job(key="nudge:week", network_id=net.id, kind="nudge", due_at=NOW)
            s.add(job)
            await s.flush()
            ctx = Ctx(s, NOW, net, [], None, features=Registry(FEATURES))
            by_query = await answers(ctx)
            assert by_query == {
                "posted": 2, "harvests": 1, "nudges": 1,
                "occurrence": {"nudge": 3, "harvest": 2, "digest": 1, "goal_prompt": 0},
                "next_meeting": by_query["next_meeting"],
            }
            expected = await next_meeting(s, net.id, NOW)
            assert by_query["next_meeting"] == (expected.starts_at, expected.ends_at, expected.id)
            assert expected.nr == 2

            await budget.admit(ctx, JobContext(s, job, NOW, features=ctx.features))  # reads the week
            week = budget._week(ctx)
            assert week is not None and week.held and week.last_posted == monday
            assert await answers(ctx) == by_query

            budget._log(ctx, "nudge", "posted")  # kept up to date as the ledger grows
            budget._log(ctx, "harvest", "merged", "nudge")
            budget._log(ctx, "celebrate_prompt", "held")
            from_week = await answers(ctx)
            s.info.pop("bamboe.budget.week")
            assert from_week == await answers(ctx) != by_query
            assert from_week["posted"] == 3 and from_week["occurrence"]["harvest"] == 3
    finally:
        await db.close()
