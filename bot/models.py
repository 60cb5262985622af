"""The database schema (SQLAlchemy 2 declarative models).

Migrations in ``migrations/`` must produce exactly this schema; a test compares them.
Instants are stored as UTC; :class:`UTCDateTime` restores the time zone SQLite drops.

No ``from __future__ import annotations`` here: SQLAlchemy would have to evaluate each of the
300 ``Mapped[…]`` annotations from its text at import, a sixth of this module's import time.
"""

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.secrets import SEALED


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Store as UTC; refuse naive datetimes (their meaning is unknown)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (so migrations can refer to them)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Network(Base):
    """A learning network and its settings."""

    __tablename__ = "networks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    intention: Mapped[str] = mapped_column(Text, default="")
    ambition: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(5), default="nl")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Amsterdam")
    quiet_start: Mapped[str] = mapped_column(String(5), default="22:00")
    quiet_end: Mapped[str] = mapped_column(String(5), default="07:00")
    quiet_weekends: Mapped[bool] = mapped_column(Boolean, default=True)
    #: weekday 0=Monday … 6=Sunday, or None when the reflection nudge is switched off
    nudge_weekday: Mapped[int | None] = mapped_column(Integer, default=1)
    nudge_time: Mapped[str] = mapped_column(String(5), default="10:00")
    reminder_hours: Mapped[int] = mapped_column(Integer, default=48)
    goal_weeks: Mapped[int] = mapped_column(Integer, default=4)
    intention_weeks: Mapped[int] = mapped_column(Integer, default=6)
    theme: Mapped[str] = mapped_column(Text, default="")
    theme_month: Mapped[str] = mapped_column(String(7), default="")
    group_goal: Mapped[str] = mapped_column(Text, default="")
    #: how many nudges have been sent; drives the question rotation
    nudge_count: Mapped[int] = mapped_column(Integer, default=0)
    #: the celebrate prompt: weekday (None: off), local time, every so many weeks
    celebrate_weekday: Mapped[int | None] = mapped_column(Integer, default=4)
    celebrate_time: Mapped[str] = mapped_column(String(5), default="15:00")
    celebrate_weeks: Mapped[int] = mapped_column(Integer, default=2)
    #: unanswered nudges in a row before the trekker hears privately of a quiet member (0: never)
    quiet_after: Mapped[int] = mapped_column(Integer, default=3)
    #: days before a session the input question goes out (0: not asked); the digest's local time
    pre_session_days: Mapped[int] = mapped_column(Integer, default=3)
    digest_time: Mapped[str] = mapped_column(String(5), default="10:00")
    #: the member the network recognises as penvoerder: may record decisions besides the trekker
    penvoerder_id: Mapped[int | None] = mapped_column(Integer, default=None)
    #: reflection answers, session input and sent messages older than this are removed
    retention_months: Mapped[int] = mapped_column(Integer, default=12)
    #: the monthly report to the trekker: on the first working day on or after this day of the month
    #: (None: off), at this local time
    report_day: Mapped[int | None] = mapped_column(Integer, default=1)
    report_time: Mapped[str] = mapped_column(String(5), default="09:00")
    #: questions about power and money in the weekly rotation (off until the trekker turns them on)
    power_questions: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the chat (``Chat.id``) whose title the name follows when that chat is renamed on its
    #: platform: the chat the network was made for, until the trekker chooses a name with
    #: ``/netwerk naam`` or that chat leaves the network (then None: the name stays as it is)
    name_chat_id: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime]


class Chat(Base):
    """A platform chat linked to a network."""

    __tablename__ = "chats"
    __table_args__ = (UniqueConstraint("platform", "chat_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200), default="")


class Member(Base):
    """A person in a network, with a role and an optional BOPOG perspective."""

    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("network_id", "platform", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="deelnemer")
    perspective: Mapped[str | None] = mapped_column(String(20), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    joined_at: Mapped[datetime]
    left_at: Mapped[datetime | None] = mapped_column(default=None)
    paused_until: Mapped[datetime | None] = mapped_column(default=None)
    #: when that pause began (None: a pause from before this was kept, taken to have always held)
    paused_from: Mapped[datetime | None] = mapped_column(default=None)
    #: the member's earlier pauses, over before the latest one began: ``[[from, until], …]``, UTC ISO
    #: 8601, earliest first (``from`` None as for ``paused_from``); NULL when there are none. Kept for
    #: the retention period (``bot.features.rhythm.pauses``, ``bot.features.privacy.run_retention``)
    earlier_pauses: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True), default=None)
    goal: Mapped[str] = mapped_column(Text, default="")
    #: when the trekker was told this member has gone quiet; cleared by their next answer
    quiet_noted_at: Mapped[datetime | None] = mapped_column(default=None)
    #: may the bot quote this member's answers (without name) in harvests and reports? Default: no
    quote_consent: Mapped[bool] = mapped_column(Boolean, default=False)


class MemberIdentity(Base):
    """A further platform identity of a member: the same person in a linked chat on another platform.

    The member row keeps its first identity (``Member.platform``/``user_id``, where private messages
    go); each identity the person linked with ``/ikben`` is a row here, so one person is one member
    row and every count, reminder and erasure is right without deduplicating anywhere.
    """

    __tablename__ = "member_identities"
    __table_args__ = (UniqueConstraint("network_id", "platform", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[str] = mapped_column(String(100))
    linked_at: Mapped[datetime]


class ChatPresence(Base):
    """A platform identity seen in one chat of its network (by a join or a message there), so a
    leave from one chat drops the identity only when it is in no other chat on that platform.
    Ids only: the chat row and the user id on the chat's platform."""

    __tablename__ = "chat_presence"
    __table_args__ = (UniqueConstraint("chat_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(100))


class LinkCode(Base):
    """A one-time code (``/koppel``: link a chat; ``/ikben``: link a person's identities), stored
    only as its SHA-256 hash, valid until ``expires_at`` and spent when ``used_at`` is set."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # chat, identity
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class Meeting(Base):
    """A session (bijeenkomst) of the network; ``nr`` numbers them per network (1, 2, 3 …)."""

    __tablename__ = "meetings"
    __table_args__ = (UniqueConstraint("network_id", "nr"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    nr: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    place: Mapped[str] = mapped_column(String(300))
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))


class Job(Base):
    """A piece of planned work: due time, what to do, and an idempotency key.

    The dispatcher takes a due row, runs it and marks it done in one transaction with its effects
    (``claimed`` with a lease is a state only older versions left behind).
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_due_id", "state", "due_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


def conversation_key(chat_id: str | None, user_id: str | None = None) -> str:
    """:attr:`OutboxMessage.chat_key` of a row to chat ``chat_id``, or (None) to the private chat of ``user_id``."""
    return f"c:{chat_id}" if chat_id is not None else f"u:{user_id or ''}"


def _chat_key(context: Any) -> str:
    """Default for :attr:`OutboxMessage.chat_key`, from the row's chat or user."""
    params = context.get_current_parameters()
    return conversation_key(params.get("chat_id"), params.get("user_id"))


class OutboxMessage(Base):
    """A message the core decided to send; delivered by an adapter and marked sent.

    ``platform_message_id`` links replies (Telegram) and threads (Slack) back to it.

    Its id is never handed out twice, even after the row is deleted (``/vergeetmij``, retention):
    adapters use it as an idempotency key (Matrix transaction ids, Slack's message metadata), so a
    reused id would make a new message look like one already sent. PostgreSQL's sequence never
    reuses one; on SQLite the table is ``AUTOINCREMENT`` (migration 0020), whose counter in
    ``sqlite_sequence`` a migration that rebuilds this table must carry over.

    A row of no network (``network_id`` NULL: a private answer to someone who is a member nowhere)
    falls under no network's retention period: the hourly housekeeping removes it after
    :data:`bot.core.NETWORKLESS_KEPT`.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_id", "state", "id"),
        Index("ix_outbox_platform_message", "platform", "chat_id", "platform_message_id"),
        Index("ix_outbox_chat_queue", "platform", "chat_key", "state", "id"),
        # a network's rows by age (its retention run), and those of no network (the hourly
        # housekeeping, :meth:`bot.core.Core.housekeeping`). Not a partial index: its
        # ``postgresql_where`` would import the PostgreSQL dialect on every start
        Index("ix_outbox_network_created", "network_id", "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int | None] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str | None] = mapped_column(String(100))
    user_id: Mapped[str | None] = mapped_column(String(100))
    #: the conversation this goes to (``c:<chat>`` or ``u:<user>`` for a private chat): rows of one
    #: conversation are sent one after another in id order, whichever replica sends them
    chat_key: Mapped[str] = mapped_column(String(110), default=_chat_key)
    thread: Mapped[str | None] = mapped_column(String(100))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    buttons: Mapped[list[Any]] = mapped_column(default=list)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ephemeral: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the platform id of the member's message this answers (quoted where the platform can)
    reply_to: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: attachments: ``[{"name", "mime", "data" (base64)}]``
    files: Mapped[list[Any]] = mapped_column(default=list)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    platform_message_id: Mapped[str | None] = mapped_column(String(100))


class Nudge(Base):
    """One weekly reflection question posted to a network."""

    __tablename__ = "nudges"

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(40))
    sent_at: Mapped[datetime]
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))
    harvested: Mapped[bool] = mapped_column(Boolean, default=False)


class Answer(Base):
    """A member's answer to a nudge.

    ``message_ref`` names the member's message it came from (:func:`message_ref`), so deleting or
    editing that message on the platform removes or changes the answer; NULL for answers stored
    before it was kept, and once the member's data was erased.
    """

    __tablename__ = "answers"
    __table_args__ = (Index("ix_answers_nudge_member", "nudge_id", "member_id"),
                      Index("ix_answers_message_ref", "message_ref"))

    id: Mapped[int] = mapped_column(primary_key=True)
    nudge_id: Mapped[int] = mapped_column(ForeignKey("nudges.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    message_ref: Mapped[str | None] = mapped_column(Text, default=None)


def message_ref(chat: Any, message_id: str | None) -> str | None:
    """The reference kept with an answer to the member's message ``message_id`` in ``chat`` (a
    :class:`bot.events.ChatRef`; None: no chat, no reference).

    The chat is part of it because a message id is unique only within its chat on some platforms
    (Telegram numbers each chat's messages from 1; a Slack ``ts`` is unique per channel)."""
    if chat is None or not message_id:
        return None
    return f"{chat.platform}:{chat.chat_id}:{message_id}"


class CustomQuestion(Base):
    """A reflection question a facilitator added; asked before the library's next one."""

    __tablename__ = "custom_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    added_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    asked_at: Mapped[datetime | None] = mapped_column(default=None)


class Round(Base):
    """An action-learning round (actieleren): five steps, led by a facilitator.

    ``active_chat`` holds the chat id while the round is open and NULL afterwards; its unique
    constraint is what makes two simultaneous starts in one chat give one round. ``nr`` numbers the
    rounds per network.
    """

    __tablename__ = "rounds"
    __table_args__ = (UniqueConstraint("network_id", "nr"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    nr: Mapped[int] = mapped_column(Integer)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    active_chat: Mapped[int | None] = mapped_column(Integer, unique=True)
    state: Mapped[str] = mapped_column(String(10), default="running")  # running, paused, closed, stopped
    step: Mapped[int] = mapped_column(Integer, default=0)  # 0: waiting for a volunteer
    facilitator_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    bringer_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    timebox_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    step_started_at: Mapped[datetime | None] = mapped_column(default=None)
    #: seconds left of the step's timebox while paused
    paused_left: Mapped[int | None] = mapped_column(Integer, default=None)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(default=None)


class RoundEntry(Base):
    """What was said in a round: the case, questions (with the guard's label), ideas."""

    __tablename__ = "round_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    step: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(20), default="")
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class Action(Base):
    """Who does what by when; followed up on the due date (plan-do-check-act). ``nr`` numbers the
    actions per network."""

    __tablename__ = "actions"
    __table_args__ = (UniqueConstraint("network_id", "nr"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    nr: Mapped[int] = mapped_column(Integer)
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    due_date: Mapped[date | None] = mapped_column(Date, default=None)
    state: Mapped[str] = mapped_column(String(10), default="open")  # open, done, dropped
    outcome: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


class Celebration(Base):
    """Something the network celebrated: a member's ``/vier``, an answer to the celebrate prompt,
    or a milestone the bot noticed (``key`` makes each milestone happen at most once)."""

    __tablename__ = "celebrations"
    __table_args__ = (UniqueConstraint("network_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(20))  # vier, prompt, milestone
    key: Mapped[str | None] = mapped_column(String(60), default=None)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class Announcement(Base):
    """A trekker's announcement (mededeling): posted now, at a chosen time, or held until a
    session or quiet hours end."""

    __tablename__ = "announcements"
    __table_args__ = (UniqueConstraint("network_id", "nr"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    nr: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10), default="planned")  # planned, posted, cancelled
    due_at: Mapped[datetime]
    posted_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime]


class AnnouncementRead(Base):
    """A member marked an announcement as read."""

    __tablename__ = "announcement_reads"
    __table_args__ = (UniqueConstraint("announcement_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcements.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    read_at: Mapped[datetime]


class LogEntry(Base):
    """The network's log (logboek): decisions with who and why, and every idea — ideas not
    chosen stay, marked as such (seed 001: record minority ideas too)."""

    __tablename__ = "log_entries"
    __table_args__ = (UniqueConstraint("network_id", "kind", "nr"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    nr: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))  # decision, idea
    author_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")
    #: ideas: open, chosen, not_chosen; decisions: decided
    status: Mapped[str] = mapped_column(String(12), default="open")
    status_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class MeetingInput(Base):
    """What a member brings to a session, written before it (answer to the input question).
    ``message_ref`` names the member's message it came from, as for :class:`Answer`."""

    __tablename__ = "meeting_inputs"
    __table_args__ = (Index("ix_meeting_inputs_message_ref", "message_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    message_ref: Mapped[str | None] = mapped_column(Text, default=None)


class Reflection(Base):
    """A member's reply to the goal prompt or the intention prompt: their own look at the learning
    goals (``goal``) or at the network's intention and ambition (``intention``)."""

    __tablename__ = "reflections"

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class BudgetEntry(Base):
    """The message budget's ledger (:mod:`bot.budget`): each bot-initiated group post, and each post
    that was merged into another, moved, held back to ride along, or left out. No message text."""

    __tablename__ = "budget_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    #: the ISO week in the network's time zone, e.g. ``2026-W03``
    week: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(40))
    #: posted, merged, moved, held, dropped
    action: Mapped[str] = mapped_column(String(10))
    #: merged: the kind of the post it joined; moved / dropped: why (gap, week, session, private)
    detail: Mapped[str] = mapped_column(String(40), default="")
    moved_to: Mapped[datetime | None] = mapped_column(default=None)


class HeldPost(Base):
    """A bot post that did not get a moment of its own (a milestone, a harvest that did not fit): it
    rides along with the network's next bot post in the group, and is deleted then."""

    __tablename__ = "held_posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    #: the member the text is about (a newcomer's first answer), so erasing them removes it
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class Counter(Base):
    """The last number handed out per network and kind (``meeting``, ``round``, ``action``,
    ``announcement``, ``idea``, ``decision``): members see 1, 2, 3 … in their own network, never a
    database id. Taking a number updates this row (see :func:`bot.numbers.next_nr`), which
    serialises concurrent inserts of one kind in one network, also across replicas; a number is
    never handed out twice, also not after the row it went to was deleted."""

    __tablename__ = "counters"

    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class Pacing(Base):
    """When a platform, or one conversation on it, may next be sent to: shared by all replicas.

    ``key`` is ``<platform>|<chat_key>`` for one conversation: ``next_at`` is its next turn. ``key``
    ``<platform>`` is the platform-wide rate: ``shares`` holds each sending process's share of the
    platform's messages-per-second window (by process name: the share, until when it holds, and when
    its permits come back; see ``bot.delivery``). :class:`bot.delivery.Delivery` reads and moves
    them under the row's lock.
    """

    __tablename__ = "pacing"

    key: Mapped[str] = mapped_column(String(140), primary_key=True)
    next_at: Mapped[datetime]
    shares: Mapped[dict[str, Any] | None]


# ---------------------------------------------------------------------------- Slack (adapter tables)
# The Slack adapter's own tables. They hold no message text. The first three are slack-sdk's
# OAuth stores (``AsyncSQLAlchemyInstallationStore``, ``AsyncSQLAlchemyOAuthStateStore``), which
# read and write them through their own table objects: columns, types and index names mirror
# slack_sdk/oauth/{installation_store,state_store}/sqlalchemy exactly, including its naive
# (UTC) ``DateTime`` columns, so they are created by our migrations instead of ``create_all``.
# One deliberate difference: the token columns are wider and hold sealed values (``bot.secrets``;
# the adapter gives slack-sdk's table objects the ``Sealed`` type, see adapters/slack/store.py).

#: a sealed secret of up to 200 characters (what slack-sdk's columns allow) needs 363
SECRET_LENGTH = 400


class SlackInstallation(Base):
    """One OAuth installation of the Slack app in a workspace (slack-sdk's ``slack_installations``)."""

    __tablename__ = "slack_installations"
    __table_args__ = (
        Index("slack_installations_idx", "client_id", "enterprise_id", "team_id", "user_id", "installed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(32))
    app_id: Mapped[str] = mapped_column(String(32))
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    enterprise_url: Mapped[str | None] = mapped_column(String(200))
    team_id: Mapped[str | None] = mapped_column(String(32))
    team_name: Mapped[str | None] = mapped_column(String(200))
    bot_token: Mapped[str | None] = mapped_column(String(SECRET_LENGTH), info=SEALED)
    bot_id: Mapped[str | None] = mapped_column(String(32))
    bot_user_id: Mapped[str | None] = mapped_column(String(32))
    bot_scopes: Mapped[str | None] = mapped_column(String(1000))
    bot_refresh_token: Mapped[str | None] = mapped_column(String(SECRET_LENGTH), info=SEALED)
    bot_token_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    user_id: Mapped[str] = mapped_column(String(32))
    user_token: Mapped[str | None] = mapped_column(String(SECRET_LENGTH), info=SEALED)
    user_scopes: Mapped[str | None] = mapped_column(String(1000))
    user_refresh_token: Mapped[str | None] = mapped_column(String(SECRET_LENGTH), info=SEALED)
    user_token_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    incoming_webhook_url: Mapped[str | None] = mapped_column(String(200))
    incoming_webhook_channel: Mapped[str | None] = mapped_column(String(200))
    incoming_webhook_channel_id: Mapped[str | None] = mapped_column(String(200))
    incoming_webhook_configuration_url: Mapped[str | None] = mapped_column(String(200))
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, default=False)
    token_type: Mapped[str | None] = mapped_column(String(32))
    installed_at: Mapped[datetime] = mapped_column(DateTime)


class SlackBot(Base):
    """The bot token of an installation, latest per workspace (slack-sdk's ``slack_bots``)."""

    __tablename__ = "slack_bots"
    __table_args__ = (Index("slack_bots_idx", "client_id", "enterprise_id", "team_id", "installed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(32))
    app_id: Mapped[str] = mapped_column(String(32))
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    team_id: Mapped[str | None] = mapped_column(String(32))
    team_name: Mapped[str | None] = mapped_column(String(200))
    bot_token: Mapped[str | None] = mapped_column(String(SECRET_LENGTH), info=SEALED)
    bot_id: Mapped[str | None] = mapped_column(String(32))
    bot_user_id: Mapped[str | None] = mapped_column(String(32))
    bot_scopes: Mapped[str | None] = mapped_column(String(1000))
    bot_refresh_token: Mapped[str | None] = mapped_column(String(SECRET_LENGTH), info=SEALED)
    bot_token_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, default=False)
    installed_at: Mapped[datetime] = mapped_column(DateTime)


class SlackOAuthState(Base):
    """An OAuth ``state`` handed out by ``/slack/install``, valid until ``expire_at`` (slack-sdk's
    ``slack_oauth_states``)."""

    __tablename__ = "slack_oauth_states"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    state: Mapped[str] = mapped_column(String(200))
    expire_at: Mapped[datetime] = mapped_column(DateTime)


class SlackConversation(Base):
    """Which workspace a Slack channel or user id belongs to, so an outgoing message (addressed by
    the id alone) is sent with that workspace's bot token. Learnt from inbound events and
    installations; a cache: rows unused for a while are pruned and found again by asking Slack."""

    __tablename__ = "slack_conversations"

    conversation_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    team_id: Mapped[str | None] = mapped_column(String(32))
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(index=True)


class SlackEvent(Base):
    """A Slack event id some replica already handled (Slack retries events): kept for an hour."""

    __tablename__ = "slack_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(index=True)


class MatrixAccount(Base):
    """The bot's Matrix login, shared by every replica: one device (the homeserver deduplicates a
    retried send per device), its access token when bamboe logged in itself (sealed with
    ``BAMBOE_SECRET_KEY``), the prefix of our transaction ids and the sync position."""

    __tablename__ = "matrix_accounts"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    device_id: Mapped[str | None] = mapped_column(String(255))
    access_token: Mapped[str | None] = mapped_column(Text, info=SEALED)
    #: random per database, so outbox ids that start again at 1 (a new database) never reuse a txnId
    txn_prefix: Mapped[str] = mapped_column(String(32))
    sync_token: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column()


class MatrixRoom(Base):
    """A direct room of the bot with one member (``direct_with``), created by the bot or by the
    member, reused for every private message (any replica finds it here). ``created_at``: when it
    was recorded, moved on (to the day) when the member writes there (the adapter's retention)."""

    __tablename__ = "matrix_rooms"

    room_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    direct_with: Mapped[str] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime] = mapped_column()


class MatrixEvent(Base):
    """An inbound Matrix event a replica claimed (every replica syncs): handled once. A claim not
    marked done within a minute (its replica died) may be taken over; kept for a day."""

    __tablename__ = "matrix_events"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(index=True)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
# ---------------------------------------------------------------------------- Microsoft Teams (adapter tables)
# What the Teams adapter keeps so that any replica can post later (Bot Framework "conversation
# references"): no message text. Teams ids can be longer than the core's 100-character ids, so the
# core gets a short id (the conversation id itself when it fits, else a hash; a person's Entra
# object id) and these tables map it back.


class TeamsConversation(Base):
    """A Teams conversation the bot is in (channel, group chat or 1:1): where to post to it."""

    __tablename__ = "teams_conversations"

    #: the core's chat id for it (``Chat.chat_id``, ``OutboxMessage.chat_id``)
    chat_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    #: Teams' conversation id (without a ``;messageid=`` thread suffix)
    conversation_id: Mapped[str] = mapped_column(Text)
    #: the Bot Connector address for it, with its regional path (``…/emea/``)
    service_url: Mapped[str] = mapped_column(String(500))
    tenant_id: Mapped[str] = mapped_column(String(64))
    #: ``channel``, ``groupChat`` or ``personal``
    kind: Mapped[str] = mapped_column(String(20))
    team_id: Mapped[str | None] = mapped_column(String(200))
    #: the bot's own id in it (``28:<app id>``)
    bot_id: Mapped[str] = mapped_column(String(200))
    #: False once the app was removed from it (nothing is posted there any more)
    installed: Mapped[bool] = mapped_column(Boolean, default=True)
    #: why a channel is closed while the app stays in its team (``installed`` is False meanwhile):
    #: ``team_archived``, ``team_deleted`` or ``channel_deleted``; None otherwise. Unarchiving or
    #: restoring it opens again what that closed, as if the app were added back
    closed: Mapped[str | None] = mapped_column(String(20), default=None)
    #: the team's and the channel's names as activities last carried them (a channel conversation),
    #: to give the chat its whole new title when Teams says only one of them changed
    team_name: Mapped[str | None] = mapped_column(String(200), default=None)
    channel_name: Mapped[str | None] = mapped_column(String(200), default=None)
    updated_at: Mapped[datetime]


class TeamsUser(Base):
    """A person the bot met in Teams: how to reach them privately."""

    __tablename__ = "teams_users"

    #: the core's user id for them (their Entra object id)
    user_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    #: their Bot Framework id (``29:…``)
    teams_id: Mapped[str] = mapped_column(Text)
    tenant_id: Mapped[str] = mapped_column(String(64))
    service_url: Mapped[str] = mapped_column(String(500))
    #: the 1:1 conversation with the bot, once one exists
    personal_conversation_id: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime]


class TeamsAsker(Base):
    """A person's latest message in a group conversation and its thread, so an answer meant for
    them alone is posted as a reply there (Teams has no "only you see this" for bots)."""

    __tablename__ = "teams_askers"

    chat_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(100))
    #: the channel thread the message was in (its root message id), if any
    thread: Mapped[str | None] = mapped_column(String(100), default=None)
    seen_at: Mapped[datetime] = mapped_column(index=True)


class TeamsFile(Base):
    """A file offered in Teams as a signed, expiring download link; deleted once expired."""

    __tablename__ = "teams_files"

    #: SHA-256 (hex) of the random id in the link: the database alone does not give the link
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    mime: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    #: the person a file sent privately went to (their export), so erasing them removes it; None
    #: for a file posted in a group conversation
    user_id: Mapped[str | None] = mapped_column(String(100), default=None)


class TeamsBlocked(Base):
    """A person who blocked the bot in their 1:1 (Teams answered 403 ``ConversationBlockedByUser``):
    no replica calls Teams for their private messages until they write the bot again. Only the
    core's user id is kept; erased with the person, and dropped once they are in no network."""

    __tablename__ = "teams_blocked"

    user_id: Mapped[str] = mapped_column(String(100), primary_key=True)
