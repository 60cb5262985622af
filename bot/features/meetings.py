"""Sessions (bijeenkomsten): ``/bijeenkomst`` plans, lists and cancels them."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.core import Ctx
from bot.markup import Markup
from bot.models import Meeting
from bot.numbers import by_nr, next_nr
from bot.parsing import UserError, number, parse_time_range, take_date
from bot.registry import Command, Feature
from bot.timeutil import format_time, format_when, local

DEFAULT_LENGTH = timedelta(hours=2)
MAX_PLACE = 300
CANCEL_WORDS = ("annuleer", "annuleren", "cancel", "afzeggen")


async def upcoming(ctx: Ctx) -> list[Meeting]:
    """Sessions that have not ended, soonest first."""
    return list(await ctx.session.scalars(select(Meeting).where(
        Meeting.network_id == ctx.network.id, Meeting.cancelled.is_(False), Meeting.ends_at > ctx.now)
        .order_by(Meeting.starts_at)))


def describe(ctx: Ctx, meeting: Meeting) -> Markup:
    """One line: number, date, time span and place."""
    return ctx.t("meetings.line", nr=meeting.nr, when=format_when(ctx.network, meeting.starts_at),
                 end=format_time(ctx.network, meeting.ends_at), place=meeting.place)


async def cmd_meeting(ctx: Ctx, args: str) -> None:
    """``/bijeenkomst [<datum> <begin>[-<eind>] <plaats> | annuleer <nr>]``."""
    words = args.split()
    if not words:
        meetings = await upcoming(ctx)
        if not meetings:
            ctx.reply("status", ctx.t("meetings.none"))
        else:
            lines = [ctx.t("meetings.list_title")] + [describe(ctx, m) for m in meetings]
            ctx.reply("status", Markup("\n".join(lines)))
        return
    ctx.require("trekker")
    if words[0].lower() in CANCEL_WORDS:
        await _cancel(ctx, words[1:])
        return
    zone = ZoneInfo(ctx.network.timezone)
    today = local(ctx.network, ctx.now).date()
    day, used = take_date(words, today)
    if len(words) <= used:
        raise UserError("errors.missing_time", usage=ctx.t("help.commands.bijeenkomst.usage"))
    start_t, end_t = parse_time_range(words[used])
    place = " ".join(words[used + 1:]).strip()
    if not place:
        raise UserError("errors.missing_place", usage=ctx.t("help.commands.bijeenkomst.usage"))
    if len(place) > MAX_PLACE:
        raise UserError("errors.value_too_long", limit=MAX_PLACE)
    starts = datetime.combine(day, start_t, zone)
    ends = datetime.combine(day, end_t, zone) if end_t else starts + DEFAULT_LENGTH
    if ends <= starts:
        raise UserError("errors.end_before_start")
    if starts <= ctx.now:
        raise UserError("errors.in_the_past", value=format_when(ctx.network, starts))
    meeting = Meeting(network_id=ctx.network.id, nr=await next_nr(ctx.session, ctx.network.id, "meeting"),
                      starts_at=starts, ends_at=ends, place=place, created_by=ctx.member.id if ctx.member else None)
    ctx.session.add(meeting)
    await ctx.session.flush()
    await ctx.features.emit("meeting_planned", ctx, meeting)
    ctx.group("session", ctx.t("meetings.planned", line=describe(ctx, meeting)))


async def _cancel(ctx: Ctx, words: list[str]) -> None:
    key = number(words[0].lstrip("#")) if words else None
    if key is None:
        raise UserError("errors.usage", usage=ctx.t("help.commands.bijeenkomst.usage"))
    meeting = await by_nr(ctx.session, Meeting, ctx.network.id, key)
    if meeting is None or meeting.cancelled:
        raise UserError("errors.unknown_meeting", nr=words[0][:12])
    meeting.cancelled = True
    ctx.group("session", ctx.t("meetings.cancelled", line=describe(ctx, meeting)))


#: emits ``meeting_planned`` (ctx, meeting) after a session is planned (other features plan their work then)
FEATURE = Feature("meetings", commands=(Command("bijeenkomst", cmd_meeting, ("session", "sessie", "meeting")),))
