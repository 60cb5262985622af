"""What the Slack adapter keeps: small in-memory caches, the record of handled events that all
replicas share, and (multi-workspace) which workspace a channel or user id belongs to.

Handled events (``slack_events``): Slack re-sends an event it thinks was missed
(``X-Slack-Retry-Num``), and behind a load balancer the retry may reach another replica. The
first replica to insert the ``event_id`` handles the event; an insert that finds the id already
there means "seen" (``INSERT … ON CONFLICT DO NOTHING``, on SQLite and PostgreSQL alike). A
bounded in-memory set answers repeats on the same replica without a query. Rows older than an
hour are pruned now and then (Slack retries within minutes).

Workspaces (``slack_conversations``): see :class:`Directory`.

Tokens (``slack_bots``, ``slack_installations``): slack-sdk's installation store writes and reads
them itself; :class:`SealedInstallationStore` gives its table objects the
:class:`~bot.secrets.Sealed` type, so every token is encrypted on its way into the database and
opened on its way out (``BAMBOE_SECRET_KEY``, see docs/deploy.md).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.delivery import Undeliverable
from bot.events import Address
from bot.models import SECRET_LENGTH, Base, SlackConversation, SlackEvent, SlackOAuthState
from bot.secrets import Sealed, SecretBox

log = logging.getLogger(__name__)

CACHE_SECONDS = 600.0
CACHE_SIZE = 5000
SEEN_EVENTS = 10_000
#: how long a handled event id is kept in the database (Slack retries within minutes)
EVENT_KEEP = timedelta(hours=1)
#: a conversation → workspace row not refreshed for this long is dropped (found again on demand)
CONVERSATION_KEEP = timedelta(days=90)
#: how long this process trusts what it knows of a conversation's workspace and a bot token
TEAM_SECONDS = 12 * 3600.0
TOKEN_SECONDS = 60.0
#: at most this many workspaces are asked about an id nobody recorded
PROBE_LIMIT = 50
#: answers of users.info / conversations.info that mean "not in this workspace"
NOT_HERE = frozenset(
    {
        "channel_not_found",
        "user_not_found",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "not_authed",
        "missing_scope",
        "team_access_not_granted",
    }
)
#: Slack ids are short ("C0123ABCD", "U0123ABCD"); the column holds 32 characters
MAX_ID = 32


class TTLCache:
    """A small bounded cache whose entries expire after ``seconds``."""

    def __init__(self, seconds: float = CACHE_SECONDS, size: int = CACHE_SIZE) -> None:
        self.seconds = seconds
        self.size = size
        self._data: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def get(self, key: str) -> Any | None:
        """The cached value, or None when absent or expired."""
        hit = self._data.get(key)
        if hit is None or hit[0] < time.monotonic():
            self._data.pop(key, None)
            return None
        return hit[1]

    def put(self, key: str, value: Any) -> None:
        """Remember ``value`` for ``key``."""
        self._data[key] = (time.monotonic() + self.seconds, value)
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)

    def pop(self, key: str) -> None:
        """Forget ``key``."""
        self._data.pop(key, None)

    def clear(self) -> None:
        """Forget everything."""
        self._data.clear()

    def drop_value(self, value: Any) -> None:
        """Forget every key that holds ``value``."""
        for key in [k for k, (_, v) in self._data.items() if v == value]:
            del self._data[key]


class SealedInstallationStore(AsyncSQLAlchemyInstallationStore):
    """slack-sdk's SQLAlchemy installation store whose token columns are sealed with ``box``."""

    def __init__(self, client_id: str, engine: AsyncEngine, box: SecretBox, logger: logging.Logger) -> None:
        super().__init__(client_id=client_id, engine=engine, logger=logger)
        for table in (self.bots, self.installations):
            model = Base.metadata.tables[table.name]  # the columns our models mark as sealed
            for column in table.columns:
                if model.c[column.name].info.get("sealed"):
                    column.type = Sealed(box, SECRET_LENGTH)


class SeenEvents:
    """The ids of recently handled events in this process (a bounded LRU)."""

    def __init__(self, size: int = SEEN_EVENTS) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def forget(self, event_id: str) -> None:
        """Count ``event_id`` as not seen (it could not be handled)."""
        self._ids.pop(event_id, None)

    def first_time(self, event_id: str | None) -> bool:
        """True the first time ``event_id`` is seen (always True without an id)."""
        if not event_id:
            return True
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return False
        self._ids[event_id] = None
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True


def upsert_for(engine: AsyncEngine) -> Any:
    """The dialect's ``insert`` that knows ``ON CONFLICT`` (SQLite and PostgreSQL)."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


class SharedSeenEvents:
    """Handled event ids shared by every replica on one database (``slack_events``), with an
    in-memory fast path. When the database cannot be reached the event is handled (twice is
    better than never)."""

    def __init__(self, engine: AsyncEngine, size: int = SEEN_EVENTS) -> None:
        self.engine = engine
        self.local = SeenEvents(size)

    async def first_time(self, event_id: str | None) -> bool:
        """True when no replica has handled ``event_id`` yet (and claim it)."""
        if not event_id:
            return True
        if not self.local.first_time(event_id):
            return False
        if len(event_id) > 64:  # not a Slack event id; the column holds 64
            return True
        insert = upsert_for(self.engine)
        table = SlackEvent.__table__
        stmt = (
            insert(table)
            .values(event_id=event_id, seen_at=datetime.now(UTC))
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(table.c.event_id)
        )
        try:
            async with self.engine.begin() as conn:
                claimed = (await conn.execute(stmt)).first() is not None
        except Exception as exc:
            log.warning("slack: shared event dedupe failed (%s); handling the event", type(exc).__name__)
            return True
        return claimed

    async def forget(self, event_id: str) -> None:
        """Count ``event_id`` as not handled, so Slack's retry of it is (the database may well be
        unreachable too: then its claim stays, and a retry reaching another replica is dropped)."""
        self.local.forget(event_id)
        try:
            async with self.engine.begin() as conn:
                await conn.execute(delete(SlackEvent).where(SlackEvent.event_id == event_id))
        except Exception as exc:
            log.warning("slack: could not forget a handled event (%s)", type(exc).__name__)

    async def prune(self, now: datetime | None = None) -> None:
        """Drop ids older than :data:`EVENT_KEEP`."""
        cutoff = (now or datetime.now(UTC)) - EVENT_KEEP
        async with self.engine.begin() as conn:
            await conn.execute(delete(SlackEvent).where(SlackEvent.seen_at < cutoff))


@dataclass(frozen=True)
class Team:
    """A workspace as slack-sdk's installation store looks it up (an org-wide install has no
    team id of its own)."""

    enterprise_id: str | None
    team_id: str | None
    is_enterprise_install: bool = False

    @property
    def key(self) -> str:
        """A string naming the installation (for caches)."""
        if self.is_enterprise_install:
            return f"{self.enterprise_id or ''}/"
        return f"{self.enterprise_id or ''}/{self.team_id or ''}"


class Directory:
    """Which workspace (and so which bot token) serves a channel or user id, multi-workspace.

    Outgoing messages carry :class:`~bot.events.Address` with a channel or user id only; the
    core addresses chats by ``(platform, chat_id)`` alone, so Slack ids are taken to be unique
    across workspaces (which they are, except that a channel shared between two workspaces has
    one id in both, and then either workspace's bot may post). The id → workspace link is learnt
    from every inbound event and installation and kept in ``slack_conversations``, so any
    replica can send any message. It is a cache, not the truth: an id nobody recorded (a network
    created before multi-workspace mode, a row pruned after 90 days without traffic) is looked up
    by asking each installed workspace (``conversations.info`` / ``users.info``) and then recorded.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        store: AsyncSQLAlchemyInstallationStore,
        client_id: str,
        make_client: Callable[[str], AsyncWebClient],
    ) -> None:
        self.engine = engine
        self.store = store
        self.client_id = client_id
        self.make_client = make_client
        self._teams = TTLCache(TEAM_SECONDS, CACHE_SIZE)
        self._tokens = TTLCache(TOKEN_SECONDS, 1000)
        self._clients: OrderedDict[str, AsyncWebClient] = OrderedDict()

    # ------------------------------------------------------------------ learning
    async def remember(self, team: Team, ids: Iterable[str | None]) -> None:
        """Record that ``ids`` (channel or user ids) belong to ``team``."""
        fresh = [i for i in dict.fromkeys(ids) if i and len(i) <= MAX_ID and self._teams.get(i) != team]
        if not fresh or (team.team_id is None and team.enterprise_id is None):
            return
        now = datetime.now(UTC)
        insert = upsert_for(self.engine)
        table = SlackConversation.__table__
        stmt = insert(table).values(
            [
                {
                    "conversation_id": i,
                    "enterprise_id": team.enterprise_id,
                    "team_id": team.team_id,
                    "is_enterprise_install": team.is_enterprise_install,
                    "updated_at": now,
                }
                for i in fresh
            ]
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["conversation_id"],
            set_={c: stmt.excluded[c] for c in ("enterprise_id", "team_id", "is_enterprise_install", "updated_at")},
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt)
        for i in fresh:
            self._teams.put(i, team)

    async def forget(self, team: Team) -> None:
        """The app was uninstalled from ``team``: drop what was recorded for it."""
        if team.is_enterprise_install or team.team_id is None:
            where = SlackConversation.enterprise_id == team.enterprise_id
        else:
            where = SlackConversation.team_id == team.team_id
        async with self.engine.begin() as conn:
            await conn.execute(delete(SlackConversation).where(where))
        self._teams.clear()
        self._tokens.pop(team.key)

    async def forget_conversations(self, ids: Iterable[str]) -> None:
        """A person was erased (``/vergeetmij``): drop which workspace their user id (and the
        bot's direct channel with them) belongs to."""
        ids = [i for i in ids if i]
        if not ids:
            return
        async with self.engine.begin() as conn:
            await conn.execute(delete(SlackConversation).where(SlackConversation.conversation_id.in_(ids)))
        for i in ids:
            self._teams.pop(i)

    def forget_token(self, team: Team) -> None:
        """Look ``team``'s bot token up again next time (installed again, revoked)."""
        self._tokens.pop(team.key)

    def forget_token_of(self, token: str | None) -> None:
        """Slack refused ``token``: look the token up again next time (it may have been replaced)."""
        if token:
            self._tokens.drop_value(token)

    async def prune(self, now: datetime | None = None) -> None:
        """Drop rows not refreshed for :data:`CONVERSATION_KEEP`, and install-link states that
        expired unused (slack-sdk deletes only the ones used; it stores naive UTC)."""
        now = now or datetime.now(UTC)
        async with self.engine.begin() as conn:
            await conn.execute(delete(SlackConversation).where(SlackConversation.updated_at < now - CONVERSATION_KEEP))
            await conn.execute(
                delete(SlackOAuthState).where(SlackOAuthState.expire_at < now.astimezone(UTC).replace(tzinfo=None))
            )

    # ------------------------------------------------------------------ looking up
    async def client_for(self, address: Address) -> AsyncWebClient:
        """A Web API client with the bot token of the workspace ``address`` is in.

        Raises ``Undeliverable`` when no installed workspace has the conversation or when its
        workspace uninstalled the app."""
        key = address.chat_id or address.user_id
        if key is None:
            raise Undeliverable("no address")
        team = await self.team_of(key)
        if team is None and address.chat_id and address.user_id:
            team = await self.team_of(address.user_id)
        if team is None:
            raise Undeliverable("unknown_workspace")
        token = await self.token_for(team)
        if token is None:
            raise Undeliverable("not_installed")
        return self.client(token)

    async def team_of(self, conversation_id: str) -> Team | None:
        """The workspace of a channel or user id: cached, recorded, or found by asking Slack."""
        team = self._teams.get(conversation_id)
        if team is not None:
            return team
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        SlackConversation.enterprise_id,
                        SlackConversation.team_id,
                        SlackConversation.is_enterprise_install,
                    ).where(SlackConversation.conversation_id == conversation_id)
                )
            ).first()
        if row is not None:
            team = Team(row.enterprise_id, row.team_id, bool(row.is_enterprise_install))
            self._teams.put(conversation_id, team)
            return team
        return await self._probe(conversation_id)

    async def token_for(self, team: Team) -> str | None:
        """The latest bot token installed for ``team`` (None when uninstalled)."""
        token = self._tokens.get(team.key)
        if token is None:
            bot = await self.store.async_find_bot(
                enterprise_id=team.enterprise_id, team_id=team.team_id, is_enterprise_install=team.is_enterprise_install
            )
            token = bot.bot_token if bot is not None else None
            if token:
                self._tokens.put(team.key, token)
        return token

    def client(self, token: str) -> AsyncWebClient:
        """One client per bot token (kept for reuse)."""
        client = self._clients.get(token)
        if client is None:
            client = self._clients[token] = self.make_client(token)
        self._clients.move_to_end(token)
        while len(self._clients) > 1000:
            self._clients.popitem(last=False)
        return client

    async def installed(self) -> list[tuple[Team, str]]:
        """Every installed workspace with its latest bot token, most recently installed first."""
        bots = self.store.bots.c  # the store's table: its bot_token column opens the sealed token
        stmt = (
            select(bots.enterprise_id, bots.team_id, bots.is_enterprise_install, bots.bot_token)
            .where(bots.client_id == self.client_id, bots.bot_token.is_not(None))
            .order_by(bots.installed_at.desc())
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        found: dict[str, tuple[Team, str]] = {}
        for row in rows:
            team = Team(row.enterprise_id, row.team_id, bool(row.is_enterprise_install))
            found.setdefault(team.key, (team, row.bot_token))
        return list(found.values())

    async def _probe(self, conversation_id: str) -> Team | None:
        """Ask each installed workspace whether it knows ``conversation_id``; record the answer."""
        is_user = conversation_id[:1] in ("U", "W")
        for team, token in (await self.installed())[:PROBE_LIMIT]:
            client = self.client(token)
            try:
                if is_user:
                    await client.users_info(user=conversation_id)
                else:
                    await client.conversations_info(channel=conversation_id)
            except SlackApiError as exc:
                data = exc.response.data if exc.response is not None else None
                if isinstance(data, dict) and data.get("error") in NOT_HERE:
                    continue
                raise
            await self.remember(team, [conversation_id])
            return team
        return None
