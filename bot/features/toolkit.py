"""The trekker's toolkit: announcements outside session time, input before a session and the
digest the day before, the question after it, the log of decisions and ideas, the ambition
(PRODUCT §2.5; seed 001: announcements at the end or sent beforehand, ask for input before a
session and summarise it, record who decides and keep minority ideas too, set the ambition).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, select

from bot import budget, i18n
from bot.core import Ctx, network_job, split_command
from bot.directory import active_members
from bot.events import Button, MessageDeleted, MessageEdited, MessageIn
from bot.features import rhythm
from bot.features.network import find_member, next_meeting
from bot.jobs import JobContext, JobKind, plan
from bot.markup import Markup
from bot.models import (
    Action,
    Announcement,
    AnnouncementRead,
    LogEntry,
    Meeting,
    MeetingInput,
    Member,
    Network,
    Nudge,
    OutboxMessage,
    message_ref,
)
from bot.numbers import next_nr
from bot.parsing import (
    UserError,
    ascii_digits,
    button_number,
    check_ahead,
    looks_like_date,
    number,
    parse_time,
    take_date,
)
from bot.registry import Command, Feature
from bot.schedule import is_public_holiday, local_at
from bot.timeutil import (
    format_date,
    format_short_date,
    format_time,
    format_when,
    in_quiet_hours,
    local,
    local_instant,
    next_open_time,
)

MAX_ANNOUNCEMENT = 2000
MAX_ENTRY = 1000
MAX_INPUT = 1500
#: how long before a session its input question may still go out, and its digest
LATEST_INPUT = timedelta(days=1)
LATEST_DIGEST = timedelta(hours=3)
#: the input question is skipped when the digest (which also invites input) follows within this
INPUT_BEFORE_DIGEST = timedelta(hours=12)
#: the digest points to announcements posted since the previous session, at most this long ago
DIGEST_ANNOUNCEMENTS = timedelta(weeks=4)
#: a session ending after this local hour gets its after-session question the next morning
EVENING_HOUR = 18
NEXT_MORNING = "09:00"
AT_WORDS = ("om", "op", "at", "on")
#: how many working days before a session its input question may go out at most
MAX_PREP_DAYS = 14
CANCEL_WORDS = ("annuleer", "annuleren", "cancel")
BECAUSE_WORDS = (" omdat ", " want ", " because ", " reden: ", " reason: ")
#: conjunctions that begin a subordinate clause: the reason keeps them
KEEP_CONJUNCTION = ("omdat", "because")
NOT_CHOSEN = (("niet", "gekozen"), ("not", "chosen"))
CHOSEN = (("gekozen",), ("chosen",))
PREVIEW = 80


def preview(text: str) -> str:
    """The first words of a long text."""
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW else text[:PREVIEW].rsplit(" ", 1)[0] + "…"


# ---------------------------------------------------------------------------- announcements
async def cmd_announce(ctx: Ctx, args: str) -> None:
    """``/mededeling <tekst>``, ``/mededeling om <datum> <HH:MM> <tekst>``, ``/mededeling <nr>``
    (who read it), ``/mededeling annuleer <nr>``; ``/mededeling`` lists the recent ones."""
    words = args.split()
    if not words:
        await _list_announcements(ctx)
        return
    member = ctx.require("trekker")
    first = words[0].lower()
    if len(words) == 1 and (nr := number(first.lstrip("#"))) is not None:
        await _show_reads(ctx, nr)
        return
    if first in CANCEL_WORDS:
        await _cancel_announcement(ctx, words[1:])
        return
    due = ctx.now
    text = args.strip()
    today = local(ctx.network, ctx.now).date()
    if (when := _plans(words, today)) is not None:
        day, _ = take_date(words[1:], today)
        if len(words) < when + 1:
            raise UserError("errors.usage", usage=ctx.t("help.commands.mededeling.usage"))
        at = parse_time(words[when])
        due = local_instant(ctx.network, day, at)
        if due is None:
            raise UserError("errors.time_skipped", time=f"{at:%H:%M}", date=format_date(ctx.network, day))
        if due <= ctx.now:
            raise UserError("errors.in_the_past", value=format_when(ctx.network, due))
        check_ahead(day, today, format_when(ctx.network, due))
        text = " ".join(words[when + 1:])
    if len(text) < 2:
        raise UserError("errors.usage", usage=ctx.t("help.commands.mededeling.usage"))
    if len(text) > MAX_ANNOUNCEMENT:
        raise UserError("errors.value_too_long", limit=MAX_ANNOUNCEMENT)
    nr = await next_nr(ctx.session, ctx.network.id, "announcement")
    ann = Announcement(network_id=ctx.network.id, nr=nr, author_id=member.id, text=text, due_at=due,
                       created_at=ctx.now)
    ctx.session.add(ann)
    await ctx.session.flush()
    payload = {"announcement": ann.id}
    goes_out, why = await going_out(ctx, due)
    if due == ctx.now:
        if why is None:
            _post(ctx, ann, member)
            return
        ann.due_at, payload["held"] = goes_out, True
        ctx.private(member, "status", ctx.t(f"toolkit.announcement_held_{why}", nr=nr, **moment(ctx, goes_out)))
    elif why is None:
        ctx.reply("status", ctx.t("toolkit.announcement_planned", nr=nr, **moment(ctx, due)))
    else:
        # said at once: the job finds the new time free and says nothing more (unless a session
        # planned since then holds it again)
        ann.due_at = goes_out
        if why == "quiet" and ctx.network.quiet_weekends and local(ctx.network, due).weekday() >= 5:
            why = "weekend"
        ctx.reply("status", ctx.t(f"toolkit.announcement_planned_{why}", nr=nr, **moment(ctx, goes_out),
                                  asked=format_when(ctx.network, due), start=ctx.network.quiet_start,
                                  end=ctx.network.quiet_end))
    await plan(ctx.session, key=f"announcement:{ann.id}", network_id=ctx.network.id, kind="announcement",
               due_at=ann.due_at, payload=payload)


def moment(ctx: Ctx, instant: datetime) -> dict[str, str]:
    """``date`` and ``time`` of ``instant`` for a text that names them apart, so that it reads as
    people say it: "op di 19 jan 2026 om 14:00", "on Tue 19 Jan 2026 at 14:00"."""
    return {"date": format_date(ctx.network, local(ctx.network, instant).date()),
            "time": format_time(ctx.network, instant)}


def _plans(words: list[str], today: date) -> int | None:
    """Where the time stands in ``/mededeling om|op <date> [om] <time> <text>``, or None when the
    words are an announcement that happens to begin with such a word ("Op 5 februari is er geen
    bijeenkomst.", "Om 10 uur begint de markt."): planning takes a date followed by a time. A
    wrong date before a time (``om 2026-02-30 09:00``) and a date with nothing after it still count
    as an attempt to plan, so the trekker hears what is wrong instead of the text going out now."""
    if len(words) < 2 or words[0].lower() not in AT_WORDS:
        return None
    try:
        _, used = take_date(words[1:], today)
    except UserError:
        return 2 if looks_like_date(words[1:]) and any(_clock_shaped(w) for w in words[2:5]) else None
    when = 1 + used
    if when < len(words) and words[when].lower() in ("om", "at") and when + 1 < len(words):
        when += 1  # "op 5 februari om 09:00"
    # a date and then a wrong clock time ("om morgen 25:00", "9:75") is a plan too: parse_time says
    # what is wrong, instead of the text going out to everyone now
    return when if when >= len(words) or _clock_shaped(words[when]) else None


#: what a member writes as a time on a clock, right or wrong: ``09:00``, ``9.30``, ``9u``, ``25:00``
_CLOCK_SHAPE = re.compile(r"[0-9]{1,2}(?:[:.][0-9]{1,2}|u)", re.ASCII)


def _clock_shaped(word: str) -> bool:
    """A time written as on a clock (``09:00``, ``9.30``, ``9u``), also one that cannot be
    (``25:00``); a bare number is not one here ("om 10 uur begint de markt" is a sentence, not a
    plan), nor a number such as ``3.000``."""
    return _CLOCK_SHAPE.fullmatch(ascii_digits(word.lower())) is not None


async def going_out(ctx: Ctx, at: datetime) -> tuple[datetime, str | None]:
    """When an announcement due at ``at`` really goes into the group, by the rule that holds it
    back when it falls due (:func:`bot.features.rhythm.busy_until`: after a session, after quiet
    hours, again until neither holds), and why it moves first (``session``, ``quiet``; None: it
    goes out at ``at``)."""
    why = None
    for _ in range(10):
        busy = await rhythm.busy_until(ctx, at)
        if busy is None:
            break
        at, why = busy[0], why or busy[1]
    return at, why


def _post(ctx: Ctx, ann: Announcement, author: Member | None) -> None:
    ann.state, ann.posted_at = "posted", ctx.now
    if author is not None:  # the author has read their own announcement
        ctx.session.add(AnnouncementRead(announcement_id=ann.id, member_id=author.id, read_at=ctx.now))
    name = author.name if author else ctx.t("roles.trekker")
    ctx.group("announcement", ctx.t("toolkit.announcement", nr=ann.nr, author=name, text=ann.text),
              buttons=(Button(ctx.t("toolkit.read_button"), f"ann:read:{ann.id}"),),
              meta={"announcement": ann.id})


@network_job
async def run_announcement(ctx: Ctx, jc: JobContext) -> None:
    """Post a planned announcement, unless a session is on or it is quiet: then hold it and tell
    the trekker privately (once)."""
    ann = await ctx.session.get(Announcement, jc.job.payload["announcement"])
    if ann is None or ann.state != "planned":
        return
    author = await ctx.session.get(Member, ann.author_id) if ann.author_id else None
    held = await rhythm.busy_until(ctx, ctx.now)
    if held is not None:
        jc.postpone_to = ann.due_at = held[0]
        if not jc.job.payload.get("held") and author is not None:
            jc.job.payload = {**jc.job.payload, "held": True}
            ctx.private(author, "status", ctx.t(f"toolkit.announcement_held_{held[1]}", nr=ann.nr,
                                                **moment(ctx, held[0])))
        return
    _post(ctx, ann, author)


async def _cancel_announcement(ctx: Ctx, words: list[str]) -> None:
    ann = await _announcement(ctx, words[0] if words else "")
    if ann.state != "planned":
        raise UserError("errors.announcement_not_planned", nr=ann.nr)
    ann.state = "cancelled"
    ctx.reply("status", ctx.t("toolkit.announcement_cancelled", nr=ann.nr))


async def _announcement(ctx: Ctx, token: str) -> Announcement:
    token = token.lstrip("#")
    nr = number(token)
    ann = await ctx.session.scalar(select(Announcement).where(
        Announcement.network_id == ctx.network.id, Announcement.nr == nr)) if nr is not None else None
    if ann is None:
        raise UserError("errors.unknown_announcement", nr=token[:12] or "?")
    return ann


async def readers(ctx: Ctx, ann: Announcement) -> tuple[list[Member], list[Member]]:
    """Active members who read ``ann`` and who did not yet (members who joined later not counted)."""
    read_ids = set(await ctx.session.scalars(select(AnnouncementRead.member_id).where(
        AnnouncementRead.announcement_id == ann.id)))
    members = [m for m in await active_members(ctx.session, ctx.network.id)
               if m.joined_at <= (ann.posted_at or ctx.now) or m.id in read_ids]
    return [m for m in members if m.id in read_ids], [m for m in members if m.id not in read_ids]


async def _show_reads(ctx: Ctx, nr: int) -> None:
    ann = await _announcement(ctx, str(nr))
    done, todo = await readers(ctx, ann)
    nobody = ctx.t("toolkit.nobody")
    ctx.confidential("status", ctx.t("toolkit.reads", nr=ann.nr, text=preview(ann.text),
                                     read=", ".join(m.name for m in done) or nobody,
                                     unread=", ".join(m.name for m in todo) or nobody))


async def _list_announcements(ctx: Ctx) -> None:
    rows = list(await ctx.session.scalars(select(Announcement).where(
        Announcement.network_id == ctx.network.id, Announcement.state != "cancelled")
        .order_by(Announcement.nr.desc()).limit(5)))
    if not rows:
        ctx.reply("status", ctx.t("toolkit.announcements_none"))
        return
    lines = [ctx.t("toolkit.announcements_title")]
    counted = False  # the trekker's list counts who read each announcement: for the trekker alone
    for ann in rows:
        if ann.state == "planned":
            lines.append(ctx.t("toolkit.announcement_line_planned", nr=ann.nr, text=preview(ann.text),
                               when=format_when(ctx.network, ann.due_at)))
        else:
            if ctx.member is not None and ctx.member.role == "trekker":
                done, todo = await readers(ctx, ann)
                # the form follows the members counted ("van 1 lid", "van de 6 leden")
                lines.append(ctx.t("toolkit.announcement_line_reads", nr=ann.nr, text=preview(ann.text),
                                   readers=len(done), count=len(done) + len(todo)))
                counted = True
            else:
                lines.append(ctx.t("toolkit.announcement_line", nr=ann.nr, text=preview(ann.text)))
    (ctx.confidential if counted else ctx.reply)("status", Markup("\n".join(lines)))


async def mark_read(ctx: Ctx, ann: Announcement, thanks: Markup | None = None) -> None:
    """Record that the acting member read ``ann`` (once), and say so (``thanks``, or the usual)."""
    member = ctx.require()
    if ann.state != "posted":
        raise UserError("errors.unknown_announcement", nr=str(ann.nr))
    exists = await ctx.session.scalar(select(AnnouncementRead.id).where(
        AnnouncementRead.announcement_id == ann.id, AnnouncementRead.member_id == member.id))
    if exists is None:
        ctx.session.add(AnnouncementRead(announcement_id=ann.id, member_id=member.id, read_at=ctx.now))
    ctx.reply("status", thanks or ctx.t("toolkit.read_thanks", nr=ann.nr))


async def on_read_button(ctx: Ctx, rest: str) -> None:
    """The "gelezen" button: ``ann:read:<id>``. Pressed under an announcement another network
    posted in this chat before ``/koppel los`` took the chat out of it, it counts there, for the
    presser's membership there (:func:`bot.features.rhythm.answer_in`); a presser who is not in
    that network (they moved out with the chat, or joined it later) is not counted among its
    readers, and hears so."""
    what, _, ann_id = rest.partition(":")
    key = button_number(ann_id)
    ann = await ctx.session.get(Announcement, key) if what == "read" and key is not None else None
    if ann is not None and ann.network_id != ctx.network.id:
        await _read_elsewhere(ctx, ann)
        return
    if ann is None:
        raise UserError("errors.unknown_button")
    await mark_read(ctx, ann)


async def _read_elsewhere(ctx: Ctx, ann: Announcement) -> None:
    """The press on ``ann``, another network's announcement: only under the very message it was
    posted as in this chat (a button of another network's announcement anywhere else is no button
    of this chat's)."""
    posted = await rhythm.posted_here(ctx, ctx.message_id)
    if posted is None or posted.kind != "announcement" or posted.network_id != ann.network_id \
            or (posted.meta or {}).get("announcement") != ann.id:
        raise UserError("errors.unknown_button")
    await _read_for_network(ctx, ann)


async def _read_for_network(ctx: Ctx, ann: Announcement) -> None:
    """``ann`` (another network's, posted in this chat before it was taken out) read: noted there for
    the member's membership there, or, for someone not in that network, told why not."""
    network = await ctx.session.get(Network, ann.network_id)
    there = await rhythm.member_there(ctx, ann.network_id)
    if there is None:
        ctx.reply("status", ctx.t("toolkit.read_moved", nr=ann.nr, network=network.name))
        return
    await rhythm.answer_in(ctx, ann.network_id, there)
    await mark_read(ctx, ann, thanks=ctx.t("toolkit.read_thanks_elsewhere", nr=ann.nr, network=network.name))


async def cmd_read(ctx: Ctx, args: str) -> None:
    """``/gelezen [<nr>]``: the text fallback of the button (default: the latest announcement)."""
    token = args.strip()
    if token and ctx.source is not None and not ctx.source.private:
        ann = await _numbered_here(ctx, token.split()[0])
        if ann.network_id != ctx.network.id:
            await _read_for_network(ctx, ann)
            return
    elif token:
        ann = await _announcement(ctx, token.split()[0])
    else:
        ann = await ctx.session.scalar(select(Announcement).where(
            Announcement.network_id == ctx.network.id, Announcement.state == "posted")
            .order_by(Announcement.posted_at.desc()).limit(1))
        if ann is None:
            raise UserError("errors.no_announcement")
    await mark_read(ctx, ann)


async def _numbered_here(ctx: Ctx, token: str) -> Announcement:
    """The announcement ``/gelezen <nr>`` in a group chat means: the network's own number ``nr``
    when it was posted in this chat; else, in a chat taken out of another network (``/koppel los``),
    that network's announcement ``nr`` posted here, whose text said "typ /gelezen <nr>" (the latest,
    if several); else the network's own (posted before this chat joined, or its trace is gone)."""
    token = token.lstrip("#")  # "#3" is 3, also in the answer that there is none
    nr = number(token)
    if nr is None:
        return await _announcement(ctx, token)
    own = await ctx.session.scalar(select(Announcement).where(
        Announcement.network_id == ctx.network.id, Announcement.nr == nr))
    metas = await ctx.session.scalars(select(OutboxMessage.meta).where(
        OutboxMessage.platform == ctx.source.platform, OutboxMessage.chat_id == ctx.source.chat_id,
        OutboxMessage.kind == "announcement"))
    here = {m["announcement"] for m in metas if isinstance(m, dict) and isinstance(m.get("announcement"), int)}
    if own is not None and own.id in here:
        return own
    before = await ctx.session.scalar(select(Announcement).where(
        Announcement.id.in_(here), Announcement.network_id != ctx.network.id, Announcement.nr == nr)
        .order_by(Announcement.posted_at.desc()).limit(1)) if here else None
    if before is not None:
        return before
    if own is None:
        raise UserError("errors.unknown_announcement", nr=token[:12] or "?")
    return own


# ---------------------------------------------------------------------------- sessions
async def on_meeting_planned(ctx: Ctx, meeting: Meeting) -> None:
    """Plan the input question, the digest, and the end of the session."""
    net = ctx.network
    day = local(net, meeting.starts_at).date()
    digest = max(working_day_before(net, day, 1), ctx.now)
    if meeting.starts_at - digest >= LATEST_DIGEST:
        await _plan_meeting_job(ctx, meeting, "digest", digest)
    if net.pre_session_days > 0:
        ask = working_day_before(net, day, net.pre_session_days)
        if digest - ask < INPUT_BEFORE_DIGEST:  # e.g. both on the Friday before a Monday session
            ask = working_day_before(net, local(net, ask).date(), 1)
        ask = max(ask, ctx.now)
        if meeting.starts_at - ask >= LATEST_INPUT and digest - ask >= INPUT_BEFORE_DIGEST:
            await _plan_meeting_job(ctx, meeting, "pre_session", ask)
    await _plan_meeting_job(ctx, meeting, "session_end", meeting.ends_at)


def working_day_before(network: Network, day: date, days: int) -> datetime:
    """``days`` working days before ``day`` at the network's digest time: weekends (when they are
    quiet), public holidays and days whose digest time is in quiet hours do not count."""
    candidate, left = day, max(days, 1)
    for _ in range(7 * left + 14):
        candidate -= timedelta(days=1)
        at = local_at(candidate, network.digest_time, network.timezone)
        if not in_quiet_hours(network, at) and not is_public_holiday(candidate):
            left -= 1
            if left == 0:
                return at
    return local_at(day - timedelta(days=days), network.digest_time, network.timezone)


async def _plan_meeting_job(ctx: Ctx, meeting: Meeting, kind: str, due: datetime) -> None:
    await plan(ctx.session, key=f"{kind}:{meeting.id}", network_id=ctx.network.id, kind=kind,
               due_at=next_open_time(ctx.network, due) if kind != "session_end" else due,
               payload={"meeting": meeting.id})


async def _meeting(ctx: Ctx, jc: JobContext) -> Meeting | None:
    meeting = await ctx.session.get(Meeting, jc.job.payload["meeting"])
    return None if meeting is None or meeting.cancelled else meeting


@network_job
async def run_pre_session(ctx: Ctx, jc: JobContext) -> None:
    """A few days before: what do you bring, or why does the issue matter to you now?"""
    meeting = await _meeting(ctx, jc)
    if meeting is None or meeting.starts_at <= ctx.now or await rhythm.postpone_if_busy(ctx, jc):
        return
    n = await budget.occurrence(ctx, "pre_session_question")
    ctx.group("pre_session_question", i18n.vary(ctx.lang, "toolkit.pre_session", n, place=meeting.place,
                                                when=format_when(ctx.network, meeting.starts_at)),
              meta={"meeting": meeting.id})


async def save_input(ctx: Ctx, meeting: Meeting, text: str) -> None:
    """Store what a member brings to ``meeting``."""
    member = ctx.require()
    if len(text) > MAX_INPUT:
        raise UserError("errors.value_too_long", limit=MAX_INPUT)
    ref = message_ref(ctx.source, ctx.message_id)
    ctx.session.add(MeetingInput(meeting_id=meeting.id, member_id=member.id, text=text, created_at=ctx.now,
                                 message_ref=ref))


#: the commands whose text is a member's input (an edit of ``/inbreng …`` keeps what follows it)
INPUT_COMMANDS = ("inbreng", "input")


async def on_message_deleted(ctx: Ctx, event: MessageDeleted) -> None:
    """The member's message was deleted on the platform: the input it gave goes with it."""
    ref = message_ref(event.chat, event.message_id)
    await ctx.session.execute(delete(MeetingInput).where(MeetingInput.message_ref == ref))


async def on_message_edited(ctx: Ctx, event: MessageEdited) -> None:
    """The member edited the message their input came from (a reply to the input question, or
    ``/inbreng …``): the input becomes the new text, screened by the core; an edit that leaves
    none, or more than a new input may hold, deletes it. Only its author's edit counts."""
    ref = message_ref(event.chat, event.message_id)
    kept = await ctx.session.scalar(select(MeetingInput).where(MeetingInput.message_ref == ref).limit(1))
    if kept is None or not await rhythm.edited_by_author(ctx, kept.member_id, event):
        return
    text = event.text
    parsed = split_command(text, addressed=True, table=ctx.features)
    if parsed is not None and parsed[0] in INPUT_COMMANDS:
        text = parsed[1]
    text = text.strip()
    if text and len(text) <= MAX_INPUT:
        kept.text = text
    else:
        await ctx.session.delete(kept)


async def on_input_reply(ctx: Ctx, msg: MessageIn) -> bool:
    """A reply to the input question is input for that session (in the network that asked,
    :func:`bot.features.rhythm.reply_where_asked`)."""
    origin = await rhythm.reply_origin(ctx, msg)
    if origin is None or origin.kind != "pre_session_question":
        return False
    if await rhythm.reply_where_asked(ctx, origin, msg.text.strip()):
        return True
    meeting = await ctx.session.get(Meeting, (origin.meta or {}).get("meeting", 0))
    if meeting is not None and not meeting.cancelled and msg.text.strip():
        await save_input(ctx, meeting, msg.text.strip())
    return True


async def cmd_input(ctx: Ctx, args: str) -> None:
    """``/inbreng <tekst>``: what you bring to the next session (also privately)."""
    text = args.strip()
    meeting = await next_meeting(ctx.session, ctx.network.id, ctx.now)
    if meeting is None:
        raise UserError("errors.no_meeting_for_input")
    if not text:
        raise UserError("errors.usage", usage=ctx.t("help.commands.inbreng.usage"))
    await save_input(ctx, meeting, text)
    ctx.reply("status", ctx.t("toolkit.input_thanks", when=format_when(ctx.network, meeting.starts_at)))


async def inputs(ctx: Ctx, meeting: Meeting) -> list[tuple[MeetingInput, str]]:
    """The input for ``meeting`` with the writers' names."""
    rows = await ctx.session.execute(select(MeetingInput, Member.name).outerjoin(
        Member, Member.id == MeetingInput.member_id).where(MeetingInput.meeting_id == meeting.id)
        .order_by(MeetingInput.id))
    return [(row, name or ctx.t("rounds.someone")) for row, name in rows]


@network_job
async def run_digest(ctx: Ctx, jc: JobContext) -> None:
    """The day before: the session's time and place, the ambition, a summary of the input,
    announcements not yet read by everyone, open actions and newcomers; the input itself to the
    trekker privately, so they can open the session with a summary (seed 001)."""
    meeting = await _meeting(ctx, jc)
    if meeting is None or meeting.starts_at <= ctx.now or await rhythm.postpone_if_busy(ctx, jc):
        return
    net = ctx.network
    when = format_when(net, meeting.starts_at)
    day, see = session_day(ctx, meeting.starts_at)
    if 1 < (local(net, meeting.starts_at).date() - local(net, ctx.now).date()).days < 7:
        when = when.split(" ", 1)[1]  # the day already names the weekday: "maandag bijeenkomst 19 jan"
    lines = [ctx.t("toolkit.digest_title", day=day, when=when, end=f"{local(net, meeting.ends_at):%H:%M}",
                   place=meeting.place)]
    if net.ambition:
        lines.append(ctx.t("toolkit.digest_ambition", ambition=net.ambition))
    given = await inputs(ctx, meeting)
    writers = {row.member_id for row, _ in given}
    if given:
        words = rhythm.themes([row.text for row, _ in given])
        lines.append(ctx.t("toolkit.digest_input", count=len(writers)))
        if words:
            lines.append(ctx.t("toolkit.digest_input_themes", themes=", ".join(words)))
    else:
        lines.append(ctx.t("toolkit.digest_no_input"))
    unread, counts = [], []
    for ann in await still_relevant(ctx):
        done, todo = await readers(ctx, ann)
        if todo:  # the group sees which ones to read; only the trekker sees how many did
            unread.append(ctx.t("toolkit.digest_announcement", nr=ann.nr, text=preview(ann.text)))
            counts.append(ctx.t("toolkit.digest_private_read", nr=ann.nr, readers=len(done),
                                count=len(done) + len(todo)))
    if unread:
        lines += [ctx.t("toolkit.digest_unread")] + unread
    from bot.features.rounds import action_line

    actions = list(await ctx.session.scalars(select(Action).where(
        Action.network_id == net.id, Action.state == "open").order_by(Action.due_date, Action.id).limit(8)))
    if actions:
        lines += [ctx.t("toolkit.digest_actions")] + [await action_line(ctx, a) for a in actions]
    newcomers = await _newcomers(ctx, meeting)
    if newcomers:
        lines.append(ctx.t("toolkit.digest_newcomers", day=day, names=", ".join(m.name for m in newcomers)))
    lines.append(i18n.vary(ctx.lang, "toolkit.digest_outro", await budget.occurrence(ctx, "digest"), see=see))
    ctx.group("digest", Markup("\n".join(lines)), meta={"meeting": meeting.id})
    if not given and not counts:
        return
    summary = [ctx.t("toolkit.digest_private_title", when=when)]
    if given:
        summary.append(ctx.t("toolkit.digest_private_input", count=len(writers)))
        summary += [ctx.t("toolkit.digest_private_line", name=name, text=row.text) for row, name in given]
    summary += counts
    summary.append(ctx.t("toolkit.digest_private_outro") if given else ctx.t("toolkit.digest_private_outro_reads"))
    for lead in await active_members(ctx.session, net.id):
        if lead.role == "trekker":
            ctx.private(lead, "digest", Markup("\n".join(summary)), meta={"meeting": meeting.id})


def session_day(ctx: Ctx, starts: datetime) -> tuple[Markup, Markup]:
    """When a session is, counted from now on the network's calendar (``morgen``, ``maandag``,
    ``over 8 dagen``), and the matching goodbye (``Tot morgen``, ``Tot maandag``): the digest may
    go out days before when a weekend, a public holiday or the message budget moved it earlier."""
    net = ctx.network
    day = local(net, starts).date()
    days = (day - local(net, ctx.now).date()).days
    form = "today" if days <= 0 else "tomorrow" if days == 1 else "weekday" if days < 7 else "later"
    weekday = i18n.raw(ctx.lang, "calendar.weekdays")[day.weekday()]
    return (ctx.t(f"toolkit.digest_day.{form}", weekday=weekday, n=days),
            ctx.t(f"toolkit.digest_see.{form}", weekday=weekday, n=days))


async def still_relevant(ctx: Ctx) -> list[Announcement]:
    """The posted announcements a digest may still point to: posted since the previous session
    ended (and in the last :data:`DIGEST_ANNOUNCEMENTS`), and not about a day that has passed —
    one naming calendar dates (:func:`named_dates`) that are all before today is left out."""
    previous = await ctx.session.scalar(select(func.max(Meeting.ends_at)).where(
        Meeting.network_id == ctx.network.id, Meeting.cancelled.is_(False), Meeting.ends_at <= ctx.now))
    since = max(previous or ctx.network.created_at, ctx.now - DIGEST_ANNOUNCEMENTS)
    today = local(ctx.network, ctx.now).date()
    posted = await ctx.session.scalars(select(Announcement).where(
        Announcement.network_id == ctx.network.id, Announcement.state == "posted",
        Announcement.posted_at >= since).order_by(Announcement.nr))
    relevant = []
    for ann in posted:
        days = named_dates(ann.text, local(ctx.network, ann.posted_at).date())
        if not days or max(days) >= today:
            relevant.append(ann)
    return relevant


def named_dates(text: str, posted: date) -> list[date]:
    """The calendar dates a text names: ``2026-01-15``, ``15-1-2026``, ``15/1``, ``15 januari
    [2026]`` (without a year: on or after ``posted``, the day it was written). Words such as
    ``morgen`` or ``vandaag`` are not counted ("de presentatie van vandaag" stays worth reading), nor
    anything with a dot (``10.30`` is a time)."""
    words = [w.strip(".,;:!?()\"'") for w in text.split()]
    found = []
    for i, word in enumerate(words):
        if not word[:1].isdigit() or "." in word:
            continue
        try:
            day, _ = take_date(words[i:], posted)
        except UserError:
            continue
        found.append(day)
    return found


async def _newcomers(ctx: Ctx, meeting: Meeting) -> list[Member]:
    """Members who joined since the previous session (or in the last four weeks)."""
    previous = await ctx.session.scalar(select(func.max(Meeting.ends_at)).where(
        Meeting.network_id == ctx.network.id, Meeting.cancelled.is_(False), Meeting.ends_at <= ctx.now))
    since = max(previous or ctx.network.created_at, ctx.network.created_at + timedelta(days=1),
                ctx.now - timedelta(weeks=4))
    return [m for m in await active_members(ctx.session, ctx.network.id) if m.joined_at > since]


@network_job
async def run_session_end(ctx: Ctx, jc: JobContext) -> None:
    """The session is over: plan the question about what people take with them (Kolb: reflect
    after the experience) for this evening or tomorrow morning, and tell the other features."""
    meeting = await _meeting(ctx, jc)
    if meeting is None:
        return
    await ctx.features.emit("session_end", ctx, meeting)
    net = ctx.network
    end = local(net, meeting.ends_at)
    due = meeting.ends_at + timedelta(hours=1)
    if end.hour >= EVENING_HOUR or in_quiet_hours(net, due):
        due = next_working_morning(net, end.date())
    await plan(ctx.session, key=f"after_session:{meeting.id}", network_id=net.id, kind="after_session",
               due_at=next_open_time(net, due), payload={"meeting": meeting.id})


def next_working_morning(network: Network, day: date) -> datetime:
    """09:00 on the first working day after ``day``: after a Friday-evening session that is Monday
    09:00, not the end of the quiet weekend (07:00), and a public holiday is skipped too."""
    candidate = day + timedelta(days=1)
    for _ in range(14):
        if not is_public_holiday(candidate) and not (network.quiet_weekends and candidate.weekday() >= 5):
            break
        candidate += timedelta(days=1)
    return local_at(candidate, NEXT_MORNING, network.timezone)


@network_job
async def run_after_session(ctx: Ctx, jc: JobContext) -> None:
    """Ask what people take with them; answers are reflections (replies, like the weekly nudge)."""
    meeting = await _meeting(ctx, jc)
    if meeting is None or not ctx.chats or await rhythm.postpone_if_busy(ctx, jc):
        return  # (no chats: every chat of the network removed the bot)
    n = await budget.occurrence(ctx, "after_session_question")
    ctx.group("after_session_question", i18n.vary(ctx.lang, "toolkit.after_session", n,
                                                  when=format_when(ctx.network, meeting.starts_at)))
    nudge = Nudge(network_id=ctx.network.id, question_id=f"session-{meeting.id}", category=rhythm.SESSION_CATEGORY,
                  sent_at=ctx.now, harvested=True)
    ctx.session.add(nudge)
    await ctx.session.flush()
    ctx.out[-1].meta["nudge"] = nudge.id



# ---------------------------------------------------------------------------- decisions and ideas
def may_decide(network: Network, member: Member) -> bool:
    """The trekker records decisions, and the member the network named penvoerder."""
    return member.role == "trekker" or member.id == network.penvoerder_id


def _require_decider(ctx: Ctx) -> Member:
    member = ctx.require()
    if not may_decide(ctx.network, member):
        raise UserError("errors.decider_only")
    return member


def split_reason(text: str) -> tuple[str, str]:
    """``"we kiezen X omdat Y"`` → ``("we kiezen X", "omdat Y")``: a subordinate clause keeps its
    conjunction (``omdat``, ``because``), so "Waarom? Omdat ouders daarom vroegen." reads right;
    ``want``/``reden:`` start a main clause and are dropped."""
    low = f" {text.lower()} "
    for word in BECAUSE_WORDS:
        at = low.find(word)
        if at == 0:  # only a reason ("omdat …"): no decision
            return "", text.strip()[len(word) - 2:].strip()
        if at > 0:
            reason = text[at - 1 + len(word):].strip().rstrip(".")
            if word.strip() in KEEP_CONJUNCTION and reason:
                reason = f"{text[at:at + len(word) - 2].strip()} {reason}"
            return text[:at - 1].strip(" ,.;"), reason
    return text.strip(), ""


def sentence(text: str) -> str:
    """``text`` ending as a sentence: with its own full stop, question mark, exclamation mark or
    ellipsis, else a full stop added (the same in Dutch and English), so that a text can follow it
    ("… uit. Waarom? …") without a doubled or a missing full stop."""
    text = text.rstrip()
    return text if text.endswith((".", "?", "!", "…")) else f"{text}."


def clause(text: str) -> str:
    """``text`` without its own closing full stop (an ellipsis stays), for a text that goes on
    after it ("… uit (gekozen).")."""
    text = text.rstrip()
    return text[:-1].rstrip() if text.endswith(".") and not text.endswith("..") else text


def why_line(ctx: Ctx, reason: str) -> Markup:
    """``Waarom? Omdat ouders daarom vroegen.``: the reason as its own sentence. A reason that asks
    (``Waarom? Past het wel?``) or trails off keeps its own question mark or ellipsis; no full stop
    is added after it."""
    reason = reason.strip().rstrip(".!;, ")
    return ctx.t("toolkit.why", reason=sentence(reason[:1].upper() + reason[1:]))


async def _next_nr(ctx: Ctx, kind: str) -> int:
    """Decisions and ideas are numbered separately: Besluit 1, 2 …; Idee 1, 2 …"""
    return await next_nr(ctx.session, ctx.network.id, kind)


async def cmd_decision(ctx: Ctx, args: str) -> None:
    """``/besluit <tekst> [omdat <reden>]`` records a decision; ``/besluit`` lists them."""
    if not args.strip():
        await _show_log(ctx, "decision")
        return
    member = _require_decider(ctx)
    text, reason = split_reason(args)
    if not text:
        raise UserError("errors.decision_without_text")
    if len(text) < 3:
        raise UserError("errors.usage", usage=ctx.t("help.commands.besluit.usage"))
    if len(args) > MAX_ENTRY:
        raise UserError("errors.value_too_long", limit=MAX_ENTRY)
    entry = LogEntry(network_id=ctx.network.id, nr=await _next_nr(ctx, "decision"), kind="decision",
                     author_id=member.id, text=text, reason=reason, status="decided", created_at=ctx.now)
    ctx.session.add(entry)
    why = why_line(ctx, reason) if reason else ctx.t("toolkit.why_missing")
    ctx.group("decision", ctx.t("toolkit.decision", nr=entry.nr, text=text, who=member.name, why=why))


async def cmd_idea(ctx: Ctx, args: str) -> None:
    """``/idee <tekst>`` records an idea; ``/idee <nr> gekozen|niet gekozen <reden>`` marks it."""
    words = args.split()
    if not words:
        await _show_log(ctx, "idea")
        return
    member = ctx.require()
    if len(words) > 1 and (nr := number(words[0].lstrip("#"))) is not None and _marks(words[1:]):
        await _mark_idea(ctx, nr, words[1:])
        return
    text = args.strip()
    if len(text) < 3:
        raise UserError("errors.usage", usage=ctx.t("help.commands.idee.usage"))
    if len(text) > MAX_ENTRY:
        raise UserError("errors.value_too_long", limit=MAX_ENTRY)
    entry = LogEntry(network_id=ctx.network.id, nr=await _next_nr(ctx, "idea"), kind="idea", author_id=member.id,
                     text=text, created_at=ctx.now)
    ctx.session.add(entry)
    ctx.group("idea", ctx.t("toolkit.idea", nr=entry.nr, text=text, who=member.name))


def _marks(words: list[str]) -> bool:
    """True when the words after ``/idee <nr>`` mark that idea (``gekozen``, ``niet gekozen …``, or
    one word that may be a misspelt mark); False for an idea that begins with a number ("2 keer per
    jaar een markt"), which was refused as a mark."""
    first = _status_word(words[0])
    return len(words) == 1 or first in (w for (w,) in CHOSEN) or first in (w for w, _ in NOT_CHOSEN)


def _status_word(word: str) -> str:
    return word.lower().rstrip(".,;:!")


async def _mark_idea(ctx: Ctx, nr: int, words: list[str]) -> None:
    if not may_decide(ctx.network, ctx.require()):
        raise UserError("errors.idea_mark_decider_only")
    entry = await ctx.session.scalar(select(LogEntry).where(
        LogEntry.network_id == ctx.network.id, LogEntry.nr == nr, LogEntry.kind == "idea"))
    if entry is None:
        raise UserError("errors.unknown_idea", nr=str(nr))
    low = [_status_word(w) for w in words]
    if tuple(low[:2]) in NOT_CHOSEN:
        status, reason = "not_chosen", " ".join(words[2:]).strip()
    elif tuple(low[:1]) in CHOSEN:
        status, reason = "chosen", " ".join(words[1:]).strip()
    else:
        raise UserError("errors.usage", usage=ctx.t("help.commands.idee.usage"))
    if len(reason) > MAX_ENTRY:
        raise UserError("errors.value_too_long", limit=MAX_ENTRY)
    entry.status, entry.status_reason = status, reason
    text = sentence(preview(entry.text))
    ctx.group("idea", ctx.t(f"toolkit.idea_{status}_why", nr=entry.nr, text=text, why=why_line(ctx, reason))
              if reason else ctx.t(f"toolkit.idea_{status}", nr=entry.nr, text=text))


async def _show_log(ctx: Ctx, kind: str | None) -> None:
    query = select(LogEntry, Member.name).outerjoin(Member, Member.id == LogEntry.author_id).where(
        LogEntry.network_id == ctx.network.id)
    if kind:
        query = query.where(LogEntry.kind == kind)
    rows = list(await ctx.session.execute(query.order_by(LogEntry.created_at.desc(), LogEntry.id.desc()).limit(30)))
    if not rows:
        ctx.reply("status", ctx.t("toolkit.log_empty"))
        return
    lines = [ctx.t("toolkit.log_title")]
    for entry, name in reversed(rows):
        reason = entry.reason or entry.status_reason
        # an idea's text stands before "(gekozen)." and loses its own full stop; a decision's ends the sentence
        params = {"nr": entry.nr, "text": sentence(entry.text) if entry.kind == "decision" else clause(entry.text),
                  "who": name or ctx.t("rounds.someone"),
                  "date": format_short_date(ctx.lang, local(ctx.network, entry.created_at).date(), year=False),
                  "status": ctx.t(f"toolkit.status.{entry.status}")}
        lines.append(ctx.t(f"toolkit.log_{entry.kind}_why", **params, why=why_line(ctx, reason))
                     if reason else ctx.t(f"toolkit.log_{entry.kind}", **params))
    ctx.reply("status", Markup("\n".join(lines)))


async def cmd_log(ctx: Ctx, args: str) -> None:
    """``/logboek``: decisions and ideas, the ideas not chosen included."""
    await _show_log(ctx, None)


async def cmd_penvoerder(ctx: Ctx, args: str) -> None:
    """``/penvoerder <naam>`` (trekker): who may record decisions besides the trekker; ``uit`` clears."""
    token = args.strip()
    net = ctx.network
    if not token:
        who = await ctx.session.get(Member, net.penvoerder_id) if net.penvoerder_id else None
        ctx.reply("status", ctx.t("toolkit.penvoerder_show", name=who.name) if who and who.active
                  else ctx.t("toolkit.penvoerder_none"))
        return
    ctx.require("trekker")
    if token.lower() in rhythm.OFF_WORDS:
        net.penvoerder_id = None
        ctx.group("status", ctx.t("toolkit.penvoerder_cleared"))
        return
    member = await find_member(ctx, token)
    net.penvoerder_id = member.id
    ctx.group("status", ctx.t("toolkit.penvoerder_set", name=member.name))


async def cmd_ambition(ctx: Ctx, args: str) -> None:
    """``/ambitie`` shows the shared ambition; ``/ambitie <tekst>`` (trekker) sets it."""
    text = args.strip()
    if not text:
        ctx.reply("status", ctx.t("toolkit.ambition_show", ambition=ctx.network.ambition)
                  if ctx.network.ambition else ctx.t("toolkit.ambition_none"))
        return
    member = ctx.require("trekker")
    if len(text) > MAX_ENTRY:
        raise UserError("errors.value_too_long", limit=MAX_ENTRY)
    ctx.network.ambition = text
    ctx.group("status", ctx.t("toolkit.ambition_set", ambition=text, who=member.name))


# ---------------------------------------------------------------------------- settings
async def set_session_prep(ctx: Ctx, rest: list[str]) -> None:
    """``/ritme bijeenkomst <dagen>`` (input question so many days before; 0 = not) and
    ``/ritme bijeenkomst <dagen> <HH:MM>`` (also the time of the question and the digest)."""
    days = number(rest[0].lstrip("-")) if len(rest) in (1, 2) else None
    if days is None:
        raise UserError("errors.usage", usage=ctx.t("help.commands.ritme.usage"))
    if rest[0].startswith("-") or days > MAX_PREP_DAYS:  # "/ritme bijeenkomst 20": say the range
        raise UserError("errors.prep_range", low=0, high=MAX_PREP_DAYS)
    net = ctx.network
    net.pre_session_days = days
    if len(rest) == 2:
        net.digest_time = f"{parse_time(rest[1]):%H:%M}"
    ctx.reply("status", ctx.t("toolkit.prep_set", count=net.pre_session_days, time=net.digest_time)
              if net.pre_session_days else ctx.t("toolkit.prep_set_off", time=net.digest_time))


def rhythm_lines(ctx: Ctx) -> list[Markup]:
    """This feature's line in ``/ritme``."""
    net = ctx.network
    return [ctx.t("toolkit.show_prep", count=net.pre_session_days, time=net.digest_time) if net.pre_session_days
            else ctx.t("toolkit.show_prep_off", time=net.digest_time)]


JOB_KINDS = {
    "announcement": JobKind(run_announcement, grace=timedelta(days=2)),
    "pre_session": JobKind(run_pre_session, grace=timedelta(days=1)),
    "digest": JobKind(run_digest, grace=timedelta(hours=12)),
    "session_end": JobKind(run_session_end, grace=timedelta(days=2)),
    "after_session": JobKind(run_after_session, grace=timedelta(hours=12)),
}
#: emits ``session_end`` (ctx, meeting) when a session is over
FEATURE = Feature(
    "toolkit",
    commands=(
        Command("mededeling", cmd_announce, ("announce", "announcement"), help_roles=("trekker",)),
        Command("gelezen", cmd_read, ("read",)),
        Command("inbreng", cmd_input, ("input",)),
        Command("besluit", cmd_decision, ("decision", "decide")),
        Command("idee", cmd_idea, ("idea",)),
        Command("logboek", cmd_log, ("log",)),
        Command("ambitie", cmd_ambition, ("ambition",)),
        Command("penvoerder", cmd_penvoerder, ("decider", "secretary")),
    ),
    jobs=JOB_KINDS,
    message_hooks=(on_input_reply,),
    on_edit=(on_message_edited,),
    on_delete=(on_message_deleted,),
    buttons={"ann": on_read_button},
    listens={"meeting_planned": (on_meeting_planned,)},
    rhythm_options=dict.fromkeys(("bijeenkomst", "session", "sessie"), set_session_prep),
    rhythm_lines=(rhythm_lines,),
)
