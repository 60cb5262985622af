"""Features as values: what a feature adds to the bot, and the registry built from them.

Each feature module exposes one :class:`Feature` value (``FEATURE``) and changes nothing when it is
imported. The composition root (``bamboe/features.py``) lists the features in order and hands them
to :class:`~bot.core.Core`, which builds one :class:`Registry`: the command table, the job kinds,
the hooks. The core never imports a feature; features reach each other only through the registry
(``ctx.features``), by the names of the events they emit and listen to.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from bot.jobs import JobKind, planning

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.core import Ctx
    from bot.events import MessageDeleted, MessageEdited, MessageIn
    from bot.models import Chat, Member, Network

#: a command's handler: (ctx, the text after the command name)
Handler = Callable[["Ctx", str], Awaitable[None]]
#: a plain message's hook: True when it took the message
MessageHook = Callable[["Ctx", "MessageIn"], Awaitable[bool]]
#: applied to every text message before it is routed (e.g. masking personal data)
TextScreen = Callable[["Ctx", "MessageIn"], "MessageIn"]
#: a button's handler: (ctx, the action after its ``prefix:``)
ButtonHandler = Callable[["Ctx", str], Awaitable[None]]
#: called with (ctx, member) when someone joins, or after a member left
MemberHook = Callable[["Ctx", "Member"], Awaitable[None]]
#: called with (ctx, the chat, the members who left the network with it, how the chat itself was
#: closed: ``archived``, ``deleted``, or None when the bot was removed) when a chat removed the bot
#: or was archived or deleted
ChatRemovedHook = Callable[["Ctx", "Chat", "list[Member]", "str | None"], Awaitable[None]]
#: called with (ctx, the edit; its text screened like a new message's) when a member edited a message
EditHook = Callable[["Ctx", "MessageEdited"], Awaitable[None]]
#: called with (ctx, the deletion) when a message was deleted on the platform
DeleteHook = Callable[["Ctx", "MessageDeleted"], Awaitable[None]]
#: plans a network's recurring work: (session, network, now, replan)
Planner = Callable[["AsyncSession", "Network", datetime, bool], Awaitable[None]]
#: lines a feature adds to ``/ritme``
RhythmLines = Callable[["Ctx"], Awaitable[list[Any]]]

@dataclass(frozen=True)
class Command:
    """A command: its Dutch name, English aliases, handler and who may use it (None: everyone)."""

    name: str
    handler: Handler
    aliases: tuple[str, ...] = ()
    roles: tuple[str, ...] | None = None
    #: the roles /help names for a command that checks them itself (``roles`` when not given)
    help_roles: tuple[str, ...] | None = None
    #: shown by /help (everything except internal helpers such as /start)
    listed: bool = True
    #: may be used from a private chat by someone who left their network (seeing and erasing
    #: their own data: ``Ctx.former``)
    former: bool = False

    def shown(self, language: str) -> str:
        """The name to show in ``language``: the English alias (the first one) in English."""
        return self.aliases[0] if language == "en" and self.aliases else self.name


@dataclass(frozen=True)
class Feature:
    """Everything one feature adds. All fields are optional; order within a field is kept."""

    name: str
    commands: tuple[Command, ...] = ()
    #: job kind → handler and late-run policy
    jobs: Mapping[str, JobKind] = field(default_factory=dict)
    #: plain (non-command) messages, tried in feature order until one takes the message
    message_hooks: tuple[MessageHook, ...] = ()
    text_screens: tuple[TextScreen, ...] = ()
    #: a message was edited: what the feature kept of it follows the new text (silently)
    on_edit: tuple[EditHook, ...] = ()
    #: a message was deleted: what the feature kept of it goes (silently)
    on_delete: tuple[DeleteHook, ...] = ()
    #: button action prefix (``prefix:rest``) → handler
    buttons: Mapping[str, ButtonHandler] = field(default_factory=dict)
    on_join: tuple[MemberHook, ...] = ()
    on_leave: tuple[MemberHook, ...] = ()
    #: a chat removed the bot (or was archived or deleted: the hook's last argument) and left the network
    #: (after its members who were only there left)
    on_chat_removed: tuple[ChatRemovedHook, ...] = ()
    #: a chat the bot met became a new network
    on_network_created: tuple[Callable[[Ctx], Awaitable[None]], ...] = ()
    #: plan a network's recurring work (at creation, and with ``replan`` when its settings change)
    planners: tuple[Planner, ...] = ()
    #: event name → handlers, for events other features emit (``harvest``, ``answer``, …)
    listens: Mapping[str, tuple[Callable[..., Awaitable[None]], ...]] = field(default_factory=dict)
    #: ``/ritme <option> …`` words → handler(ctx, rest)
    rhythm_options: Mapping[str, Handler] = field(default_factory=dict)
    rhythm_lines: tuple[RhythmLines, ...] = ()
    #: job kinds ``/ritme`` lists as planned
    shown_kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class Registry:
    """The features of one bot, combined: the command table, job kinds and hooks."""

    features: tuple[Feature, ...]
    commands: tuple[Command, ...] = field(init=False)
    table: Mapping[str, Command] = field(init=False)
    jobs: Mapping[str, JobKind] = field(init=False)
    buttons: Mapping[str, ButtonHandler] = field(init=False)
    rhythm_options: Mapping[str, Handler] = field(init=False)

    def __post_init__(self) -> None:
        table: dict[str, Command] = {}
        for cmd in self._all("commands"):
            for name in (cmd.name, *cmd.aliases):
                if name in table:
                    raise ValueError(f"command /{name} registered twice")
                table[name] = cmd
        set_ = object.__setattr__
        set_(self, "commands", tuple(self._all("commands")))
        set_(self, "table", MappingProxyType(table))
        set_(self, "jobs", MappingProxyType(self._merged("jobs")))
        set_(self, "buttons", MappingProxyType(self._merged("buttons")))
        set_(self, "rhythm_options", MappingProxyType(self._merged("rhythm_options")))

    @classmethod
    def of(cls, features: Iterable[Feature]) -> Registry:
        """The registry of ``features`` (names, aliases, job kinds and button prefixes unique)."""
        return cls(tuple(features))

    def _all(self, attr: str) -> list[Any]:
        return [item for feature in self.features for item in getattr(feature, attr)]

    def _merged(self, attr: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for feature in self.features:
            for key, value in getattr(feature, attr).items():
                if key in merged:
                    raise ValueError(f"{attr} {key!r} of feature {feature.name!r} is taken")
                merged[key] = value
        return merged

    def hooks(self, attr: str) -> list[Any]:
        """Every feature's entries of a tuple field (``message_hooks``, ``on_join``, …), in order."""
        return self._all(attr)

    @property
    def shown_kinds(self) -> tuple[str, ...]:
        """The job kinds ``/ritme`` lists."""
        return tuple(self._all("shown_kinds"))

    async def emit(self, event: str, *args: Any) -> None:
        """Call every handler listening to ``event``, in feature order."""
        for feature in self.features:
            for handler in feature.listens.get(event, ()):
                await handler(*args)

    async def plan_network(self, session: AsyncSession, network: Network, now: datetime, *,
                           replan: bool = False) -> None:
        """Plan a network's recurring work: every feature's planner, in order."""
        await self.plan_networks(session, (network,), now, replan=replan)

    async def plan_networks(self, session: AsyncSession, networks: Iterable[Network], now: datetime, *,
                            replan: bool = False, batch: int = 500) -> None:
        """Plan many networks' recurring work (every feature's planner, in order, network by
        network): the same job rows as :meth:`plan_network` for each, written a batch of networks at
        a time (:func:`bot.jobs.planning`: a few statements per batch instead of several per network)."""
        planners = self._all("planners")
        chunk: list[Network] = []
        for network in networks:
            chunk.append(network)
            if len(chunk) >= batch:
                await self._plan_batch(session, chunk, now, replan, planners)
                chunk = []
        if chunk:
            await self._plan_batch(session, chunk, now, replan, planners)

    @staticmethod
    async def _plan_batch(session: AsyncSession, networks: list[Network], now: datetime, replan: bool,
                          planners: list[Planner]) -> None:
        async with planning(session, [network.id for network in networks]):
            for network in networks:
                for planner in planners:
                    await planner(session, network, now, replan)
