"""Sessions (bijeenkomsten): ``/bijeenkomst`` plans, lists and cancels them."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from sqlalchemy import bindparam, select

from bot.core import Ctx
from bot.markup import Markup
from bot.models import Meeting, Network
from bot.numbers import by_nr, next_nr
from bot.parsing import (
    WEEKDAYS,
    UserError,
    ascii_digits,
    check_ahead,
    looks_like_date,
    number,
    parse_time,
    parse_time_range,
    take_date,
    take_due_date,
)
from bot.registry import Command, Feature
from bot.timeutil import add_local, format_date, format_time, format_when, local, local_instant

DEFAULT_LENGTH = timedelta(hours=2)
MAX_PLACE = 300
CANCEL_WORDS = ("annuleer", "annuleren", "cancel", "afzeggen")
#: PostgreSQL: the network's row, locked so that two transactions planning in one network take turns
#: (``FOR NO KEY UPDATE``: other transactions' inserts of rows that refer to the network do not wait)
_PLANNING_TURN = select(Network.id).where(Network.id == bindparam("network_id")).with_for_update(key_share=True)


#: words before a session's start (``om 14:00``, ``van 14:00 tot 16:00``) and between its start and end
BEFORE_START = ("om", "van", "at", "from")
BETWEEN = ("-", "tot", "to", "until", "till")
HOUR_WORDS = ("uur", "o'clock")
#: the dashes a phone or a word processor puts in for ``-`` (en dash, em dash, minus, non-breaking hyphen)
_DASHES = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2011": "-"})
#: a word that is meant as a time on a clock (``16:00``, ``16.30``, ``16u``, ``16``), right or wrong
_CLOCKISH = re.compile(r"[0-9]{1,2}(?:[:.][0-9]{1,2}|[uh])?", re.ASCII)


def _take_day(ctx: Ctx, words: list[str], today: date) -> tuple[date, int]:
    """The session's date, also after its weekday (``dinsdag 10 februari``, ``di 10-2``); a weekday
    that is not the date's is refused, since one of the two is a mistake. A weekday alone
    (``vrijdag 14:00``) is the coming one, as for an action's date (:func:`take_due_date`)."""
    weekday = WEEKDAYS.get(words[0].lower().rstrip(",."))
    if weekday is None:
        return take_date(words, today)
    if len(words) < 2 or not looks_like_date(words[1:]):
        return take_due_date(words, today)
    day, used = take_date(words[1:], today)
    if day.weekday() != weekday:
        raise UserError("errors.weekday_mismatch", date=format_date(ctx.network, day), typed=words[0][:20],
                        weekday=ctx.t(f"calendar.weekdays.{day.weekday()}"))
    return day, used + 1


def _take_times(words: list[str], at: int) -> tuple[time, time | None, int]:
    """The session's start and end from ``words[at:]``: ``14:00``, ``14:00-16:00``, also written
    ``om 14:00``, ``14:00 - 16:00``, ``14:00 tot 16:00``, ``van 14:00 tot 16:00``, with an en dash
    (``14:00–16:00``) or a comma after it; and where the place begins. Before, ``14:00 - 16:00``
    planned 14:00 to the default end with "- 16:00" as the place."""
    def clean(word: str) -> str:
        return ascii_digits(word.translate(_DASHES)).rstrip(",")

    if words[at].lower() in BEFORE_START and at + 1 < len(words) and _CLOCKISH.fullmatch(clean(words[at + 1])):
        at += 1
    first = clean(words[at])
    if first.endswith("-") and at + 1 < len(words) and _CLOCKISH.fullmatch(clean(words[at + 1])):
        start, end, at = parse_time(first[:-1]), parse_time(clean(words[at + 1])), at + 2  # "14:00- 16:00"
    elif (at + 2 < len(words) and clean(words[at + 1]).lower() in BETWEEN
            and _CLOCKISH.fullmatch(clean(words[at + 2])) and "-" not in first):
        start, end, at = parse_time(first), parse_time(clean(words[at + 2])), at + 3
    else:
        (start, end), at = parse_time_range(first), at + 1
    if at < len(words) and words[at].lower().rstrip(",") in HOUR_WORDS:  # "om 14 uur", "van 14 tot 16 uur"
        at += 1
    return start, end, at


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
    today = local(ctx.network, ctx.now).date()
    day, used = _take_day(ctx, words, today)
    if len(words) <= used:
        raise UserError("errors.missing_time", usage=ctx.t("help.commands.bijeenkomst.usage"))
    start_t, end_t, used = _take_times(words, used)
    place = " ".join(words[used:]).strip()
    if not place:
        raise UserError("errors.missing_place", usage=ctx.t("help.commands.bijeenkomst.usage"))
    if len(place) > MAX_PLACE:
        raise UserError("errors.value_too_long", limit=MAX_PLACE)
    starts = _instant(ctx, day, start_t)
    ends = _instant(ctx, day, end_t) if end_t else add_local(ctx.network, starts, DEFAULT_LENGTH)
    if ends == starts:
        raise UserError("errors.end_equals_start")
    if ends < starts:
        raise UserError("errors.end_before_start")
    if starts <= ctx.now:
        raise UserError("errors.in_the_past", value=format_when(ctx.network, starts))
    check_ahead(day, local(ctx.network, ctx.now).date(), format_when(ctx.network, starts))
    await _take_planning_turn(ctx)
    clash = await ctx.session.scalar(select(Meeting).where(
        Meeting.network_id == ctx.network.id, Meeting.cancelled.is_(False),
        Meeting.starts_at < ends, Meeting.ends_at > starts).order_by(Meeting.starts_at).limit(1))
    if clash is not None:
        raise UserError("errors.meeting_overlap", line=describe(ctx, clash), nr=clash.nr)
    meeting = Meeting(network_id=ctx.network.id, nr=await next_nr(ctx.session, ctx.network.id, "meeting"),
                      starts_at=starts, ends_at=ends, place=place, created_by=ctx.member.id if ctx.member else None)
    ctx.session.add(meeting)
    await ctx.session.flush()
    await ctx.features.emit("meeting_planned", ctx, meeting)
    ctx.group("session", ctx.t("meetings.planned", line=describe(ctx, meeting)))


async def _take_planning_turn(ctx: Ctx) -> None:
    """Wait until no other transaction is planning a session in the network, so the overlap check
    that follows sees every session planned before it: without this, two replicas (or two concurrent
    transactions) could each check, find no clash, and both store theirs. On PostgreSQL a row lock
    on the network, held to the end of the transaction (at PostgreSQL's default READ COMMITTED the
    check, a later statement, then sees the other's committed session). SQLite needs nothing: every
    transaction begins with ``BEGIN IMMEDIATE`` (:mod:`bot.database`), so only one writes at a time
    and it sees all that was committed before."""
    if ctx.session.bind.dialect.name == "postgresql":
        await ctx.session.execute(_PLANNING_TURN, {"network_id": ctx.network.id})


def _instant(ctx: Ctx, day: date, at: time) -> datetime:
    """The instant of ``at`` on ``day`` in the network's time zone; a time the clocks skip that
    night is refused (one that occurs twice is the first, see ``local_instant``)."""
    instant = local_instant(ctx.network, day, at)
    if instant is None:
        raise UserError("errors.time_skipped", time=f"{at:%H:%M}", date=format_date(ctx.network, day))
    return instant


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
