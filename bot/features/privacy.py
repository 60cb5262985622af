"""Privacy and trust (PRODUCT §2.7): personal-data warnings, consent to be quoted, export
(``/mijngegevens``), erasure (``/vergeetmij``) and retention.

What is stored, why and for how long is written down in ``docs/privacy.md``; keep it in step.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, true, update

from bot import directory, i18n
from bot import privacy as detect
from bot.core import Ctx, network_job
from bot.database import scrub_sqlite_wal
from bot.events import Address, Attachment, Button, MessageIn, Outgoing
from bot.features import rhythm
from bot.jobs import JobContext, JobKind, plan
from bot.markup import Markup, escape
from bot.models import (
    Action,
    Announcement,
    AnnouncementRead,
    Answer,
    Celebration,
    Chat,
    ChatPresence,
    CustomQuestion,
    HeldPost,
    Job,
    LinkCode,
    LogEntry,
    Meeting,
    MeetingInput,
    Member,
    Network,
    Nudge,
    OutboxMessage,
    Reflection,
    Round,
    RoundEntry,
)
from bot.parsing import UserError, number
from bot.registry import Command, Feature
from bot.schedule import local_at
from bot.timeutil import format_when, local

YES = ("ja", "yes", "j", "y")
NO = ("nee", "no", "n")
RETENTION_RANGE = (1, 60)
#: the unit a retention may be written with (``/privacy bewaartermijn 12 maanden``)
MONTH_WORDS = ("maand", "maanden", "month", "months", "mnd", "m")
#: the retention job runs daily at this local time (no message is sent)
RETENTION_TIME = "03:00"
ERASED = "—"
#: former members one retention run erases at most (one transaction); a full batch has the next run follow
FORMER_BATCH = 50
#: how many of the latest answers the readable export quotes (the JSON file has them all)
EXPORT_LATEST = 5

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- personal-data warning
def screen(ctx: Ctx, msg: MessageIn) -> MessageIn:
    """Mask what looks like a citizen's personal data before anything is stored, and ask the author
    privately to anonymise their message (the platform still shows what they wrote)."""
    findings = detect.find(msg.text)
    if not findings:
        return msg
    labels = {k: str(ctx.t(f"privacy.kinds.{k}")) for k in detect.KINDS}
    masked = detect.mask(msg.text, findings, labels)
    kinds = sorted({f.kind for f in findings}, key=detect.KINDS.index)
    hint = ctx.t("privacy.pii_hint", kinds=", ".join(labels[k] for k in kinds))
    if ctx.member is not None:
        ctx.private(ctx.member, "privacy", hint)
    else:
        ctx.reply("privacy", hint)
    return MessageIn(msg.chat, msg.sender, masked, msg.message_id, msg.reply_to)


# ---------------------------------------------------------------------------- /privacy
def _months(ctx: Ctx) -> Markup:
    """The network's retention period as a counted text (``1 maand``, ``12 maanden``)."""
    return ctx.t("privacy.months", count=ctx.network.retention_months)


def consent(ctx: Ctx, member: Member) -> Markup:
    """The member's choice on being quoted, in words."""
    return ctx.t("privacy.consent_yes" if member.quote_consent else "privacy.consent_no")


async def cmd_privacy(ctx: Ctx, args: str) -> None:
    """``/privacy``: what is kept and your choice on quoting; ``/privacy citeren ja|nee``;
    ``/privacy bewaartermijn <maanden>`` (trekker)."""
    member = ctx.require()
    words = [w.lower().rstrip(".,;:!") for w in args.split()]  # "citeren ja!", "bewaartermijn 12."
    if not words:
        ctx.reply("status", ctx.t("privacy.show", months=_months(ctx), consent=consent(ctx, member)))
        return
    if words[0] in ("citeren", "quote", "quotes") and len(words) == 2 and words[1] in YES + NO:
        member.quote_consent = words[1] in YES
        ctx.reply("status", ctx.t("privacy.quote_set_yes" if member.quote_consent else "privacy.quote_set_no"))
        return
    if words[0] in ("bewaartermijn", "retention") and (
            len(words) == 2 or (len(words) == 3 and words[2] in MONTH_WORDS)):  # "12" or "12 maanden"
        ctx.require("trekker")
        low, high = RETENTION_RANGE
        months = number(words[1])
        if months is None or not low <= months <= high:
            raise UserError("errors.retention_range", low=low, high=high)
        ctx.network.retention_months = months
        await replan_retention(ctx.session, ctx.network, ctx.now)
        ctx.group("status", ctx.t("privacy.retention_set", months=_months(ctx),
                                  who=member.name))
        return
    raise UserError("errors.usage", usage=ctx.t("help.commands.privacy.usage"))


# ---------------------------------------------------------------------------- their own data
async def _self(ctx: Ctx) -> Member | None:
    """The acting member; in a private chat also someone who left their network: what is kept
    about them (their name, what they wrote) is still there, so they may still see and erase it.
    None (and they hear that nothing is kept about them) for someone in a private chat who is a
    member nowhere, and no longer a former one either (e.g. erased once the retention period
    after leaving had passed, and now pressing the button of an old ``/vergeetmij`` question)."""
    if ctx.member is None and ctx.former is not None:
        network, chats = await directory.network_with_chats(ctx.session, ctx.former.network_id)
        if network is not None:
            ctx.network, ctx.chats, ctx.member = network, chats, ctx.former
    if ctx.member is None and ctx.network.id == 0:
        ctx.reply("privacy", ctx.t("privacy.nothing_kept"))
        return None
    return ctx.require()


def _privately(ctx: Ctx, member: Member, kind: str, text: str, **kw: Any) -> None:
    """:meth:`Ctx.private` to the acting member, also when they left the network (:meth:`Ctx.farewell`)."""
    (ctx.private if member.active else ctx.farewell)(member, kind, text, **kw)


# ---------------------------------------------------------------------------- export
async def collect(ctx: Ctx, member: Member) -> dict[str, Any]:
    """Everything stored about ``member``, as plain data."""
    s = ctx.session

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    identities = await directory.identities_of(s, member)
    answers = await s.execute(select(Answer, Nudge).join(Nudge, Nudge.id == Answer.nudge_id)
                              .where(Answer.member_id == member.id).order_by(Answer.created_at))
    data: dict[str, Any] = {
        "network": ctx.network.name,
        "profile": {"name": member.name, "platform": member.platform, "platform_user_id": member.user_id,
                    "linked_accounts": [{"platform": p, "platform_user_id": u} for p, u in identities[1:]],
                    "role": member.role, "perspective": member.perspective, "active": member.active,
                    "joined_at": when(member.joined_at), "left_at": when(member.left_at),
                    "paused_from": when(member.paused_from), "paused_until": when(member.paused_until),
                    "earlier_pauses": [{"from": when(start), "until": when(end)}
                                       for start, end in rhythm.earlier_pauses(member)],
                    "learning_goal": member.goal, "quote_consent": member.quote_consent,
                    "penvoerder": ctx.network.penvoerder_id == member.id,
                    "trekker_told_you_went_quiet_at": when(member.quiet_noted_at)},
        "chats": [c.title or ctx.network.name for c in await s.scalars(
            select(Chat).join(ChatPresence, ChatPresence.chat_id == Chat.id)
            .where(Chat.network_id == ctx.network.id,
                   or_(*((Chat.platform == p) & (ChatPresence.user_id == u) for p, u in identities)))
            .order_by(Chat.id).distinct())],
        "link_codes": [{"kind": c.kind, "at": when(c.created_at), "valid_until": when(c.expires_at),
                        "used_at": when(c.used_at)}
                       for c in await s.scalars(select(LinkCode).where(LinkCode.member_id == member.id)
                                                .order_by(LinkCode.created_at))],
        # with the platform message each came from (kept so that deleting or editing it follows)
        "answers": [{"question": await rhythm.nudge_question(ctx, n), "answer": a.text, "at": when(a.created_at),
                     "message": a.message_ref} for a, n in answers],
        "session_input": [{"session": when(m.starts_at), "text": i.text, "at": when(i.created_at),
                           "message": i.message_ref}
                          for i, m in await s.execute(
                              select(MeetingInput, Meeting).join(Meeting, Meeting.id == MeetingInput.meeting_id)
                              .where(MeetingInput.member_id == member.id))],
        "ideas_and_decisions": [{"kind": e.kind, "nr": e.nr, "text": e.text, "reason": e.reason, "status": e.status,
                                 "at": when(e.created_at)}
                                for e in await s.scalars(select(LogEntry).where(LogEntry.author_id == member.id))],
        "actions": [{"nr": a.nr, "text": a.text, "due": a.due_date.isoformat() if a.due_date else None,
                     "state": a.state, "outcome": a.outcome}
                    for a in await s.scalars(select(Action).where(Action.owner_id == member.id))],
        "celebrations": [{"text": c.text, "at": when(c.created_at)}
                         for c in await s.scalars(select(Celebration).where(Celebration.member_id == member.id))],
        "action_learning_contributions": [{"step": e.step, "text": e.text, "at": when(e.created_at)}
                                          for e in await s.scalars(select(RoundEntry).where(
                                              RoundEntry.member_id == member.id))],
        "announcements": [{"nr": a.nr, "text": a.text, "at": when(a.created_at)}
                          for a in await s.scalars(select(Announcement).where(Announcement.author_id == member.id))],
        "reflections": [{"about": r.kind, "text": r.text, "at": when(r.created_at)}
                        for r in await s.scalars(select(Reflection).where(Reflection.member_id == member.id)
                                                 .order_by(Reflection.created_at))],
        "questions_added": [{"text": q.text, "at": when(q.created_at), "asked_at": when(q.asked_at)}
                            for q in await s.scalars(select(CustomQuestion).where(CustomQuestion.added_by == member.id)
                                                     .order_by(CustomQuestion.created_at))],
        "announcements_read": [{"nr": nr, "at": when(at)} for nr, at in await s.execute(
            select(Announcement.nr, AnnouncementRead.read_at)
            .join(Announcement, Announcement.id == AnnouncementRead.announcement_id)
            .where(AnnouncementRead.member_id == member.id).order_by(AnnouncementRead.read_at))],
    }
    return data


async def cmd_export(ctx: Ctx, args: str) -> None:
    """``/mijngegevens``: everything stored about you, privately, readable plus a JSON file (also
    after you left the network, from a private chat)."""
    member = await _self(ctx)
    if member is None:
        return
    data = await collect(ctx, member)
    p = data["profile"]
    unset = ctx.t("common.not_set")
    lines = [ctx.t("privacy.export_title", network=ctx.network.name),
             ctx.t("privacy.export_profile", name=p["name"], role=ctx.t(f"roles.{p['role']}"),
                   perspective=ctx.t(f"perspectives.{p['perspective']}") if p["perspective"] else unset,
                   joined=format_when(ctx.network, member.joined_at), goal=p["learning_goal"] or unset,
                   consent=consent(ctx, member))]
    for key in ("answers", "reflections", "session_input", "ideas_and_decisions", "actions", "celebrations",
                "action_learning_contributions", "announcements", "questions_added", "announcements_read"):
        lines.append(ctx.t("privacy.export_count", what=ctx.t(f"privacy.parts.{key}"), count=len(data[key])))
    latest = data["answers"][-EXPORT_LATEST:]
    if latest:  # under their own heading, so they do not read as part of the last count
        lines.append(ctx.t("privacy.export_answers_title", count=len(latest)))
    for item in latest:
        lines.append(ctx.t("privacy.export_answer", text=rhythm.shorten(item["answer"], 120)))
    lines.append(ctx.t("privacy.export_outro", months=_months(ctx)))
    name = f"{i18n.raw(ctx.lang, 'privacy.export_file')}-{local(ctx.network, ctx.now):%Y-%m-%d}.json"
    file = Attachment(name, "application/json", json.dumps(data, ensure_ascii=False, indent=2).encode())
    _privately(ctx, member, "privacy", Markup("\n".join(lines)), files=(file,), meta={"scrub": "content"})


# ---------------------------------------------------------------------------- erasure
async def cmd_forget(ctx: Ctx, args: str) -> None:
    """``/vergeetmij``: asks for confirmation (button, or ``/vergeetmij ja``), then erases;
    ``/vergeetmij nee`` erases nothing. Also after you left the network, from a private chat."""
    member = await _self(ctx)
    if member is None:
        return
    answer = args.strip().lower()
    if answer in YES:
        await erase(ctx, member)
        return
    if answer in NO:
        _privately(ctx, member, "privacy", ctx.t("privacy.forget_cancelled"))
        return
    _privately(ctx, member, "privacy", ctx.t("privacy.forget_confirm"), buttons=(
        Button(ctx.t("privacy.forget_yes"), "forget:yes"), Button(ctx.t("privacy.forget_no"), "forget:no")))


async def on_forget_button(ctx: Ctx, rest: str) -> None:
    """The confirmation buttons of ``/vergeetmij``."""
    member = await _self(ctx)
    if member is None:
        return
    if rest == "yes":
        await erase(ctx, member)
    else:
        _privately(ctx, member, "privacy", ctx.t("privacy.forget_cancelled"))


async def erase(ctx: Ctx, member: Member, *, silent: bool = False) -> bool:
    """Remove the member's personal data everywhere, keeping only anonymous counts (their answers
    stay as empty rows, so the participation figures still add up).

    Only this network's membership goes: an account that a member of another network also has
    keeps that network's messages to it, and the adapters are asked to forget only the accounts
    no other membership has. An erasure notice still on its way (of an earlier erasure) stays, so
    it is still delivered and its accounts forgotten. ``silent`` (a former member's data past
    the retention period, :func:`run_retention`): nobody is told; the one outbox row it leaves is
    never sent, only has the adapters forget the person once it is done (``bot.delivery``).

    Safe when another transaction erases the same person at the same moment (the nightly run and
    ``/vergeetmij``, or two presses of its button on two replicas): the member's row is locked
    first (PostgreSQL; SQLite's writers take turns anyway), so the later erasure waits for the
    earlier one and then finds them gone: it changes nothing and, unless ``silent``, tells the
    person the same as the erasure itself. Returns whether this call erased them."""
    s = ctx.session
    mid, platform, user_id = member.id, member.platform, member.user_id
    if await s.scalar(_HOLD, {"id": mid}) is None:  # erased meanwhile by another transaction
        ctx.member = None
        if not silent:
            _tell_forgotten(ctx, platform, user_id, forget=[])  # that erasure has the adapters forget them
        return False
    identities = await directory.identities_of(s, member)  # every account the person linked
    elsewhere = await directory.held_elsewhere(s, ctx.network.id, identities)
    names = {member.name, str(escape(member.name))}
    await s.execute(update(Answer).where(Answer.member_id == mid).values(text="", member_id=None, message_ref=None))
    for model in (MeetingInput, Celebration, RoundEntry, Reflection, HeldPost):
        await s.execute(delete(model).where(model.member_id == mid))
    await s.execute(update(LogEntry).where(LogEntry.author_id == mid).values(
        text=ERASED, reason="", status_reason="", author_id=None))
    await s.execute(update(Announcement).where(Announcement.author_id == mid).values(text=ERASED, author_id=None))
    await s.execute(update(Action).where(Action.owner_id == mid).values(text=ERASED, outcome="", owner_id=None))
    await s.execute(delete(CustomQuestion).where(CustomQuestion.added_by == mid, CustomQuestion.asked_at.is_(None)))
    await s.execute(update(CustomQuestion).where(CustomQuestion.added_by == mid).values(text=ERASED, added_by=None))
    here = OutboxMessage.network_id == ctx.network.id
    for model in (Celebration, HeldPost):
        if named := await _naming(s, model, model.network_id == ctx.network.id, names):
            await s.execute(delete(model).where(model.id.in_(named)))
    mentions = OutboxMessage.id.in_(await _naming(s, OutboxMessage, here, names))
    # to an account another membership has too: only this network's messages (and those of none)
    to_them = [(OutboxMessage.platform == p) & (OutboxMessage.user_id == u)
               & (or_(here, OutboxMessage.network_id.is_(None)) if (p, u) in elsewhere else true())
               for p, u in identities]
    await s.execute(delete(OutboxMessage).where(or_(OutboxMessage.member_id == mid, *to_them, mentions),
                                                ~_UNSENT_NOTICE))
    await directory.forget_presence(s, ctx.chats, identities)
    if ctx.network.penvoerder_id == mid:
        ctx.network.penvoerder_id = None
    await s.delete(member)
    await s.flush()
    ctx.member = None
    # once it is done, each adapter drops what it keeps of its own about every linked account
    forget = [list(i) for i in identities if i not in elsewhere]
    if silent:
        ctx.out.append(Outgoing(Address(platform, None, user_id), "forget", Markup(""),
                                meta={"scrub": "all", "silent": True, "forget": forget}))
        return True
    _tell_forgotten(ctx, platform, user_id, forget)
    bind = ctx.session.bind
    ctx.after_commit.append(lambda: scrub_sqlite_wal(bind))
    return True


async def _naming(session, model, where, names: set[str]) -> list[int]:  # noqa: ANN001
    """The ids of ``model``'s rows (``where``) whose text names the person: one of ``names`` as
    it is written and not inside a longer word or name ("Jan" is not in "Janneke" or "januari")."""
    names = {n for n in names if n}
    if not names:
        return []
    pattern = re.compile("|".join(rf"(?<!\w){re.escape(n)}(?!\w)" for n in sorted(names)))
    found = await session.execute(select(model.id, model.text).where(where, or_(*(model.text.contains(n)
                                                                                  for n in names))))
    return [row_id for row_id, text in found if pattern.search(text or "")]


def _tell_forgotten(ctx: Ctx, platform: str, user_id: str, forget: list[list[str]]) -> None:
    """The notice that the person's data is gone, to the account they asked from (else their
    first); once delivered it keeps nothing that points to them and has the adapters forget the
    accounts ``forget`` (``bot.delivery``)."""
    if ctx.source is not None and ctx.person is not None:
        platform, user_id = ctx.source.platform, ctx.person.user_id
    ctx.out.append(Outgoing(Address(platform, None, user_id), "privacy", i18n.t(ctx.lang, "privacy.forgotten"),
                            meta={"scrub": "all", "forget": forget}))


#: the member's row, locked until the transaction ends (PostgreSQL; SQLite renders no lock): an
#: erasure takes it before anything else; None once another transaction's erasure committed
_HOLD = select(Member.id).where(Member.id == bindparam("id")).with_for_update()
#: an erasure notice (or a silent erasure's row) not delivered yet: an erasure leaves it be
_UNSENT_NOTICE = OutboxMessage.state.in_(("pending", "sending")) & (
    func.coalesce(OutboxMessage.meta["scrub"].as_string(), "") == "all")


# ---------------------------------------------------------------------------- retention
async def plan_retention(session, network: Network, now: datetime, replan: bool = False) -> None:  # noqa: ANN001
    """Plan tomorrow's retention run (03:00 local); each run plans the next (:func:`run_retention`)."""
    await plan(session, **_retention_job(network, local(network, now).date() + timedelta(days=1)))


def _retention_job(network: Network, day: date) -> dict[str, Any]:
    return {"key": f"retention:{network.id}:{day.isoformat()}", "network_id": network.id, "kind": "retention",
            "due_at": local_at(day, RETENTION_TIME, network.timezone)}


def _kept(network_id: int) -> tuple[tuple[Any, Any, Any], ...]:
    """What retention removes: (model, its rows of this network, their creation time)."""
    return (
        (Answer, Answer.nudge_id.in_(select(Nudge.id).where(Nudge.network_id == network_id).scalar_subquery()),
         Answer.created_at),
        (MeetingInput, MeetingInput.meeting_id.in_(select(Meeting.id).where(Meeting.network_id == network_id)
                                                   .scalar_subquery()), MeetingInput.created_at),
        (Reflection, Reflection.network_id == network_id, Reflection.created_at),
        (RoundEntry, RoundEntry.round_id.in_(select(Round.id).where(Round.network_id == network_id)
                                             .scalar_subquery()), RoundEntry.created_at),
        # a private message still waiting for its person to open a private chat too: they may never
        (OutboxMessage, (OutboxMessage.network_id == network_id)
         & OutboxMessage.state.in_(("sent", "failed", "cancelled", "waiting")), OutboxMessage.created_at),
        # a post that never found a next bot post to ride along with (the network went quiet)
        (HeldPost, HeldPost.network_id == network_id, HeldPost.created_at),
        # a link code, used or not, the period after it expired (until then typing it says it expired)
        (LinkCode, LinkCode.network_id == network_id, LinkCode.expires_at),
    )


async def _oldest(session, kept: tuple[tuple[Any, Any, Any], ...]) -> datetime | None:  # noqa: ANN001
    """When the oldest row retention may remove was made (None: there is none), in one query."""
    firsts = await session.execute(select(*(select(func.min(made)).where(where).scalar_subquery()
                                            for _, where, made in kept)))
    return min((t for t in firsts.one() if t is not None), default=None)


_PAUSED = select(Member).where(Member.network_id == bindparam("network_id"),
                               or_(Member.paused_until.is_not(None), Member.earlier_pauses.is_not(None)))


async def _drop_old_pauses(session, network_id: int, cutoff: datetime, now: datetime) -> datetime | None:  # noqa: ANN001
    """Forget the members' pauses that ended before ``cutoff`` (the questions of that time have
    lost their answers to retention too); returns when the first pause left ended, or ``now`` for
    one still on (it may yet end now, by ``/pauze uit``); None when no pause is left."""
    ends: list[datetime] = []
    for member in await session.scalars(_PAUSED, {"network_id": network_id}):
        spans = rhythm.pauses(member)
        left = [(start, end) for start, end in spans if end >= cutoff]
        if len(left) < len(spans):
            rhythm.keep_pauses(member, left)
        ends.extend(end for _, end in left)
    return min(min(ends), now) if ends else None


#: locked at once (PostgreSQL), so a ``/vergeetmij`` of one of them waits for this run; one whose
#: own ``/vergeetmij`` is erasing them right now is skipped (gone once that commits, or next run)
_FORMER = (select(Member).where(Member.network_id == bindparam("network_id"), Member.active.is_(False),
                               Member.left_at < bindparam("cutoff"))
           .order_by(Member.left_at, Member.id).limit(bindparam("batch")).with_for_update(skip_locked=True))
_FIRST_LEFT = select(func.min(Member.left_at)).where(Member.network_id == bindparam("network_id"),
                                                     Member.active.is_(False))


async def _erase_former(ctx: Ctx, cutoff: datetime) -> int:
    """Erase, as ``/vergeetmij`` does but telling nobody, the members who left the network before
    ``cutoff`` (and did not come back: coming back makes them current again); at most
    :data:`FORMER_BATCH` of them. Returns how many."""
    gone = list(await ctx.session.scalars(_FORMER, {"network_id": ctx.network.id, "cutoff": cutoff,
                                                    "batch": FORMER_BATCH}))
    erased = 0
    for member in gone:
        erased += await erase(ctx, member, silent=True)
    if erased:  # a count only: never a name or an id
        log.info("retention erased %d former member(s) of network %s", erased, ctx.network.id)
    return len(gone)


@network_job
async def run_retention(ctx: Ctx, jc: JobContext) -> None:
    """Remove answers, session input, reflections, action-learning texts, sent messages (and private
    ones still waiting for their person), held posts, link codes (counted from when they expired)
    and pauses older than the network's retention period (months of 30 days), and erase the
    members who left longer ago than that (:func:`_erase_former`), then plan the next run for the
    night after the oldest row left (or the earliest leave left) grows older than that. Nights
    when nothing can be old enough get no run; after a full batch of former members, the next
    run follows at once."""
    period = timedelta(days=30 * ctx.network.retention_months)
    cutoff = ctx.now - period
    if await _erase_former(ctx, cutoff) == FORMER_BATCH:
        batch = int((jc.job.payload or {}).get("batch", 0)) + 1
        await plan(ctx.session, key=f"retention:{ctx.network.id}:{local(ctx.network, ctx.now).date()}:{batch}",
                   network_id=ctx.network.id, kind="retention", due_at=ctx.now, payload={"batch": batch})
    kept = _kept(ctx.network.id)
    oldest = await _oldest(ctx.session, kept)
    if oldest is not None and oldest < cutoff:
        for model, where, made in kept:
            await ctx.session.execute(delete(model).where(where & (made < cutoff)))
        oldest = await _oldest(ctx.session, kept)
    pause = await _drop_old_pauses(ctx.session, ctx.network.id, cutoff, ctx.now)
    left = await ctx.session.scalar(_FIRST_LEFT, {"network_id": ctx.network.id})
    oldest = min((t for t in (oldest, pause, left) if t is not None), default=None)
    # a row made later is younger than any left now, so none is due before the oldest one left
    due = (oldest if oldest is not None else ctx.now) + period
    day = max(local(ctx.network, jc.job.due_at).date() + timedelta(days=1), local(ctx.network, due).date())
    if local_at(day, RETENTION_TIME, ctx.network.timezone) <= due:
        day += timedelta(days=1)
    await plan(ctx.session, **_retention_job(ctx.network, day))


async def replan_retention(session, network: Network, now: datetime) -> None:  # noqa: ANN001
    """After the retention period changed: the next run is tomorrow night again (it plans the one after)."""
    await session.execute(delete(Job).where(Job.network_id == network.id, Job.kind == "retention",
                                            Job.state == "pending"))
    await plan_retention(session, network, now)


async def _skip_retention(jc: JobContext) -> None:
    network = await jc.session.get(Network, jc.job.network_id)
    if network is not None:
        await plan_retention(jc.session, network, jc.now)


JOB_KINDS = {"retention": JobKind(run_retention, grace=timedelta(days=1), skip=_skip_retention)}
FEATURE = Feature(
    "privacy",
    commands=(
        Command("privacy", cmd_privacy),
        Command("mijngegevens", cmd_export, ("mydata",), former=True),
        Command("vergeetmij", cmd_forget, ("forgetme",), former=True),
    ),
    jobs=JOB_KINDS,
    text_screens=(screen,),
    buttons={"forget": on_forget_button},
    planners=(plan_retention,),
)
