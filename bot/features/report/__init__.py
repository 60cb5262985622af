"""``/rapport``: how the network is learning, at a glance — a chart (PNG) and a document (HTML and
PDF) a trekker can forward to their alderman without editing (PRODUCT §2.6; seed 001 l.70: set
the shared ambition and monitor progress, so the municipality's representative keeps support).

Privately by default, in the group with ``/rapport groep``; the files are the same either way and
hold no member's name (what may appear is decided in :mod:`bot.features.report.data`). Every month
the trekker gets one privately (``/ritme rapport …`` changes the day or stops it).

The package's modules: :mod:`~bot.features.report.period` reads the period people type,
:mod:`~bot.features.report.data` gathers the figures from the database,
:mod:`~bot.features.report.document` turns them into one plain-text document model in the
network's language, and :mod:`~bot.features.report.chart`, :mod:`~bot.features.report.page`
(HTML) and :mod:`~bot.features.report.pdf` render it. Pillow (the chart) and fpdf2 (the PDF) are
imported only when a report is rendered, so starting the bot (and the benchmark's 10,000 networks)
does not pay for them. The DejaVu Sans files they use are in ``fonts/``.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from bot.core import LEADS, Ctx, network_job
from bot.directory import active_members
from bot.events import Attachment
from bot.features import rhythm
from bot.features.report.period import Period, month_period, parse_period, previous_month
from bot.jobs import JobContext, JobKind, job_state, plan, unplan
from bot.markup import Markup
from bot.models import Member, Network
from bot.parsing import UserError, hhmm, number, parse_time
from bot.registry import Command, Feature
from bot.schedule import is_public_holiday, local_at
from bot.timeutil import format_when, in_quiet_hours, local, next_open_time

if TYPE_CHECKING:
    from bot.features.report.data import ReportData

GROUP_WORDS = ("groep", "group", "chat")
PRIVATE_WORDS = ("privé", "prive", "private", "dm")
#: the monthly report may fall on day 1-28 of a month (every month has those)
REPORT_DAYS = (1, 28)
#: a sample weekday to check a report time against the nightly quiet hours (a Wednesday)
_SAMPLE_DAY = date(2026, 1, 7)


# ---------------------------------------------------------------------------- rendering
async def report_files(data: ReportData) -> tuple[Attachment, ...]:
    """The chart, page and PDF for ``data``.

    Rendering takes about a second of CPU, so it runs in a worker thread: the event loop keeps
    serving other chats meanwhile (the handler's transaction stays open; on SQLite that briefly
    holds its write lock, which is why the work per report is kept small).
    """
    from bot.features.report.render import attachments, render

    rendered = await asyncio.to_thread(render, data)
    return attachments(data, rendered)


def summary(ctx: Ctx, data: ReportData) -> Markup:
    """The report's key figures for the chat message."""
    from bot.features.report.document import percent

    comp = data.composition
    missing = ", ".join(str(ctx.t(f"perspectives.{p}")) for p in comp.missing)
    return ctx.t(
        "report.summary",
        sessions=sum(s.held for s in data.sessions),
        questions=data.questions,
        answers=data.answers,
        share=percent(data.participation),
        session_questions=data.session_questions,
        session_answers=data.session_answers,
        rounds=len(data.rounds),
        done=data.actions_done,
        open=data.actions_open,
        celebrations=data.celebrations_total,
        reflections=data.reflections,
        decisions=len(data.decisions),
        ideas=len(data.ideas),
        size=comp.size,
        missing=ctx.t("report.summary_missing", missing=missing) if missing else Markup(""),
    )


def started(network: Network) -> date:
    """The network's first day on its own calendar."""
    return local(network, network.created_at).date()


# ---------------------------------------------------------------------------- /rapport
async def cmd_report(ctx: Ctx, args: str) -> None:
    """``/rapport [groep] [<periode>]`` (trekker, procesbegeleider): the report for a period,
    privately (default) or in the group."""
    from bot.features.report.data import gather
    from bot.features.report.document import period_text

    member = ctx.require(*LEADS)
    words = args.split()
    to_group = bool(words) and words[0].lower() in GROUP_WORDS
    if words and (to_group or words[0].lower() in PRIVATE_WORDS):
        words = words[1:]
    net = ctx.network
    period = parse_period(" ".join(words), local(net, ctx.now).date(), started(net), ctx.lang)
    data = await gather(ctx.session, net, period, ctx.now)
    files = await report_files(data)
    params = {"network": net.name, "period": period_text(data), "summary": summary(ctx, data)}
    meta = {"scrub": "content"}  # the files are not kept in the outbox once sent
    if to_group:
        ctx.group("report", ctx.t("report.group_message", who=member.name, **params), files=files, meta=meta)
        return
    ctx.private(member, "report", ctx.t("report.message", **params), files=files, meta=meta)
    if ctx.source is not None and not ctx.source.private:
        ctx.reply("status", ctx.t("report.sent_private"))


# ---------------------------------------------------------------------------- the monthly report
def report_due(network: Network, month: date) -> datetime:
    """When ``month``'s report moment is: the first working day (no weekend, no Dutch public
    holiday) on or after the network's report day, at its report time, outside quiet hours."""
    day = month.replace(day=network.report_day or 1)
    while day.weekday() >= 5 or is_public_holiday(day):
        day += timedelta(days=1)
    return next_open_time(network, local_at(day, network.report_time, network.timezone))


async def plan_report(session, network: Network, after: datetime) -> datetime | None:  # noqa: ANN001
    """Plan the next monthly report after ``after`` (nothing when switched off); return when it is due.

    The job's key names the month reported on, so a month's report is sent at most once, also
    when the day is changed after it went out.
    """
    if network.report_day is None:
        return None
    month = local(network, after).date().replace(day=1)
    for _ in range(3):
        due = report_due(network, month)
        reported, reported_end = previous_month(month)
        key = f"report:{network.id}:{reported:%Y-%m}"
        if due > after and reported_end >= started(network):
            state = await job_state(session, key, network.id)
            if state == "pending":  # already planned (the weekly harvest asks again: one query)
                return due
            if state is None:
                await plan(
                    session,
                    key=key,
                    network_id=network.id,
                    kind="report",
                    due_at=due,
                    payload={"month": f"{reported:%Y-%m}"},
                )
                return due
        month = month_period(month.year + (month.month == 12), month.month % 12 + 1)[0]
    return None


async def plan_reports(session, network: Network, now: datetime, replan: bool) -> None:  # noqa: ANN001
    """This feature's recurring work (a planner of the feature)."""
    if replan:
        await unplan(session, network.id, "report")
    await plan_report(session, network, now)


async def on_harvest(ctx: Ctx, nudge: object) -> None:
    """Networks from before this feature get their monthly report planned too (planning is idempotent)."""
    await plan_report(ctx.session, ctx.network, ctx.now)


def recipients(members: list[Member]) -> list[Member]:
    """The monthly report goes to the trekker(s); without one, to the procesbegeleider(s)."""
    return [m for m in members if m.role == "trekker"] or [m for m in members if m.role == "procesbegeleider"]


@network_job
async def run_monthly_report(ctx: Ctx, jc: JobContext) -> None:
    """The previous calendar month's report, privately to the trekker; nothing when nothing happened."""
    from bot.features.report.data import gather
    from bot.features.report.document import period_text

    net = ctx.network
    if net.report_day is None:
        return
    if in_quiet_hours(net, ctx.now):
        jc.postpone_to = next_open_time(net, ctx.now)
        return
    year, month = (int(x) for x in jc.job.payload["month"].split("-"))
    first, last = month_period(year, month)
    begin = started(net)
    to = recipients(await active_members(ctx.session, net.id))
    if last >= begin and to:
        data = await gather(ctx.session, net, Period(max(first, begin), last, first < begin), ctx.now)
        if not data.empty:
            files = await report_files(data)
            text = ctx.t("report.monthly", network=net.name, period=period_text(data), summary=summary(ctx, data))
            for member in to:
                ctx.private(member, "report", text, files=files, meta={"scrub": "content"})
    await plan_report(ctx.session, net, jc.job.due_at)


async def _skip_report(jc: JobContext) -> None:
    network = await jc.session.get(Network, jc.job.network_id)
    if network is not None:
        await plan_report(jc.session, network, jc.now)


# ---------------------------------------------------------------------------- /ritme rapport
def _when_words(ctx: Ctx) -> Markup:
    net = ctx.network
    if net.report_day == 1:
        return ctx.t("report.when_first", time=net.report_time)
    return ctx.t("report.when_day", day=net.report_day, time=net.report_time)


async def set_report(ctx: Ctx, rest: list[str]) -> None:
    """``/ritme rapport <dag> [<HH:MM>]``, ``/ritme rapport uit`` or ``aan``: the monthly report."""
    net = ctx.network
    words = [w.lower() for w in rest]
    if len(words) == 1 and words[0] in rhythm.OFF_WORDS:
        net.report_day = None
        await unplan(ctx.session, net.id, "report")
        ctx.reply("status", ctx.t("report.monthly_off"))
        return
    if len(words) == 1 and words[0] in rhythm.ON_WORDS:
        words = [str(net.report_day or 1)]
    if not 1 <= len(words) <= 2:
        raise UserError("errors.usage", usage=ctx.t("help.commands.ritme.usage"))
    low, high = REPORT_DAYS
    day = number(words[0])
    if day is None or not low <= day <= high:
        raise UserError("errors.report_day", low=low, high=high)
    at = hhmm(parse_time(words[1])) if len(words) == 2 else net.report_time
    if in_quiet_hours(net, local_at(_SAMPLE_DAY, at, net.timezone)):
        raise UserError("errors.rhythm_in_quiet_hours", start=net.quiet_start, end=net.quiet_end)
    net.report_day, net.report_time = day, at
    await unplan(ctx.session, net.id, "report")
    due = await plan_report(ctx.session, net, ctx.now)
    ctx.reply(
        "status",
        ctx.t(
            "report.monthly_set", when=_when_words(ctx), next=format_when(net, due) if due else ctx.t("common.not_set")
        ),
    )


def rhythm_lines(ctx: Ctx) -> list[Markup]:
    """This feature's line in ``/ritme``."""
    if ctx.network.report_day is None:
        return [ctx.t("report.show_off")]
    return [ctx.t("report.show", when=_when_words(ctx))]


JOB_KINDS = {"report": JobKind(run_monthly_report, grace=timedelta(days=2), skip=_skip_report)}

FEATURE = Feature(
    "report",
    commands=(Command("rapport", cmd_report, ("report",), roles=LEADS),),
    jobs=JOB_KINDS,
    planners=(plan_reports,),
    listens={"harvest": (on_harvest,)},
    rhythm_options=dict.fromkeys(("rapport", "report", "maandrapport"), set_report),
    rhythm_lines=(rhythm_lines,),
    shown_kinds=("report",),
)
