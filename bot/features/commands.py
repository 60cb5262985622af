"""Command parsing and routing: ``/naam args`` → the handler in the command table.

Adapters hand over text as typed; ``/status@bamboe_bot`` and English aliases are resolved
here. Plain messages go to the message hooks (answers to a nudge, …) in order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.core import MAX_TEXT, Ctx
from bot.events import ButtonPress, MessageIn
from bot.parsing import UserError

Handler = Callable[[Ctx, str], Awaitable[None]]
MessageHook = Callable[[Ctx, MessageIn], Awaitable[bool]]
ButtonHandler = Callable[[Ctx, str], Awaitable[None]]


@dataclass(frozen=True)
class Command:
    """A command: its Dutch name, English aliases, handler and who may use it (None: everyone)."""

    name: str
    handler: Handler
    aliases: tuple[str, ...] = ()
    roles: tuple[str, ...] | None = None
    #: shown by /help (everything except internal helpers such as /start)
    listed: bool = True

    def shown(self, language: str) -> str:
        """The name to show in ``language``: the English alias (the first one) in English."""
        return self.aliases[0] if language == "en" and self.aliases else self.name


TABLE: dict[str, Command] = {}
ORDER: list[Command] = []
MESSAGE_HOOKS: list[MessageHook] = []
#: called with (ctx, member) when someone joins a network's chat
ON_JOIN: list[Callable[[Ctx, object], Awaitable[None]]] = []
#: applied to every text message before it is routed: (ctx, message) → message
TEXT_FILTERS: list[Callable[[Ctx, MessageIn], MessageIn]] = []
#: called with (ctx, member) when a member leaves (after they were marked inactive)
ON_LEAVE: list[Callable[[Ctx, object], Awaitable[None]]] = []
BUTTONS: dict[str, ButtonHandler] = {}


def register(commands: list[Command]) -> None:
    """Add commands to the table (names and aliases must be unique)."""
    for cmd in commands:
        for name in (cmd.name, *cmd.aliases):
            if name in TABLE:
                raise ValueError(f"command /{name} registered twice")
            TABLE[name] = cmd
        ORDER.append(cmd)


def split_command(text: str) -> tuple[str, str] | None:
    """``"/Status@bamboe_bot  x y"`` → ``("status", "x y")``; None when not a command."""
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) < 2:
        return None
    head, _, rest = stripped[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    if not name:
        return None
    return name, rest.strip()


async def on_message(ctx: Ctx, msg: MessageIn) -> None:
    """Route a text message: a command, or one of the message hooks."""
    if len(msg.text) > MAX_TEXT:
        ctx.reply("hint", ctx.t("errors.too_long", limit=MAX_TEXT, length=len(msg.text)))
        return
    for screen in TEXT_FILTERS:  # e.g. masking a citizen's personal data before anything is stored
        msg = screen(ctx, msg)
    parsed = split_command(msg.text)
    if parsed is not None:
        await run_command(ctx, *parsed)
        return
    for hook in MESSAGE_HOOKS:
        if await hook(ctx, msg):
            return
    if ctx.source is not None and ctx.source.private:
        ctx.reply("help", ctx.t("help.private_hint"))


async def run_command(ctx: Ctx, name: str, args: str) -> None:
    """Run command ``name`` with ``args`` after checking its role gate."""
    cmd = TABLE.get(name)
    if cmd is None:
        raise UserError("errors.unknown_command", command="/" + name[:40])
    if ctx.network.id == 0 and cmd.name not in ("help", "start"):
        raise UserError("errors.no_network")
    from bot.features.network import maybe_first_trekker

    await maybe_first_trekker(ctx)
    if cmd.roles is not None:
        ctx.require(*cmd.roles)
    await cmd.handler(ctx, args)


async def on_button(ctx: Ctx, press: ButtonPress) -> None:
    """Route a button press by the prefix of its action (``prefix:rest``)."""
    prefix, _, rest = press.action.partition(":")
    handler = BUTTONS.get(prefix)
    if handler is None:
        raise UserError("errors.unknown_button")
    await handler(ctx, rest)
