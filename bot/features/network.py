"""Networks, chats and members: set-up, roles, perspectives, ``/netwerk``, ``/status``, ``/help``.

A chat the bot meets becomes a network named after the chat; whoever adds the bot (or first
uses a command in a network without a trekker or procesbegeleider) becomes its trekker.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import i18n
from bot.core import ROLES, Ctx
from bot.directory import MAX_NAME, active_members, chat_row
from bot.markup import Markup, command, escape
from bot.models import Meeting, Member
from bot.parsing import UserError, first_word
from bot.registry import Command, Feature

PERSPECTIVES = ("beleid", "onderwijs", "professional", "onderzoek", "gezin")
PERSPECTIVE_ALIASES = {
    "beleid": "beleid", "policy": "beleid", "b": "beleid",
    "onderwijs": "onderwijs", "education": "onderwijs", "student": "onderwijs",
    "professional": "professional", "professionals": "professional", "praktijk": "professional",
    "practice": "professional",
    "onderzoek": "onderzoek", "research": "onderzoek", "researcher": "onderzoek",
    "gezin": "gezin", "gezinnen": "gezin", "inwoner": "gezin", "inwoners": "gezin", "gezin/inwoner": "gezin",
    "family": "gezin", "resident": "gezin", "residents": "gezin",
}


def perspective_of(word: str) -> str | None:
    """The perspective ``word`` names: an alias, or the name the bot itself shows for it in any
    language (``gezinnen/inwoners``, ``families/residents``: the options its own answer lists)."""
    word = word.lower().rstrip(".!")
    if word in PERSPECTIVE_ALIASES:
        return PERSPECTIVE_ALIASES[word]
    return next((p for p in PERSPECTIVES for lang in i18n.LANGUAGES
                 if str(i18n.t(lang, f"perspectives.{p}")).lower() == word), None)


#: what clears a perspective: ``/perspectief geen``
NO_PERSPECTIVE = ("geen", "none", "-")
ROLE_ALIASES = {
    "trekker": "trekker", "lead": "trekker", "leader": "trekker",
    "procesbegeleider": "procesbegeleider", "begeleider": "procesbegeleider", "leercoach": "procesbegeleider",
    "facilitator": "procesbegeleider",
    "deelnemer": "deelnemer", "participant": "deelnemer", "lid": "deelnemer", "member": "deelnemer",
}
MIN_GROUP, MAX_GROUP = 5, 20
MAX_FIELD = 1000


# ---------------------------------------------------------------------------- lookups
_MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$")


async def find_member(ctx: Ctx, token: str, *, prefix: bool = True) -> Member:
    """Resolve what someone typed for a member: a mention, a user id, a full or first name, or
    (unless ``prefix`` is False) the beginning of a name."""
    raw = token.strip()
    if m := _MENTION.match(raw):
        raw = m[1]
    # as typed on a phone: "cem  yilmaz" (two spaces), "Cem Yilmaz," (a comma before the role)
    raw = " ".join(raw.lstrip("@").split()).rstrip(",;:")
    if not raw:
        raise UserError("errors.missing_member")
    members = await active_members(ctx.session, ctx.network.id)
    wanted = raw.casefold()

    def name(m: Member) -> str:
        return " ".join(m.name.casefold().split())

    for test in (
        lambda m: m.user_id.casefold() == wanted,
        lambda m: name(m) == wanted,
        lambda m: name(m).split(" ")[0] == wanted,
        lambda m: prefix and name(m).startswith(wanted),
    ):
        hits = [m for m in members if test(m)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise UserError("errors.ambiguous_member", value=raw[:80],
                            names=Markup(", ".join(escape(h.name) for h in hits)))
    raise UserError("errors.unknown_member", value=raw[:80])


# ---------------------------------------------------------------------------- set-up
async def welcome(ctx: Ctx) -> None:
    """A new network: say hello in the group."""
    ctx.group("help", ctx.t("network.welcome", name=ctx.network.name))


# ---------------------------------------------------------------------------- commands
async def cmd_help(ctx: Ctx, args: str) -> None:
    """``/help [command]``: what the bot does and which commands there are."""
    topic = _help_topic(args)
    if topic:
        cmd = ctx.features.table.get(topic)
        if cmd is None:
            raise UserError("errors.unknown_command", command=command(topic[:40]))
        ctx.reply("help", ctx.t(f"help.commands.{cmd.name}.usage"))
        return
    lines = [ctx.t("help.intro")]
    role = ctx.member.role if ctx.member else "deelnemer"
    for cmd in ctx.features.commands:
        if not cmd.listed:
            continue
        needed = cmd.roles or cmd.help_roles
        names = Markup(", ".join(ctx.t(f"roles.{r}") for r in needed or ()))
        mark = "" if not needed else ctx.t("help.for_roles" if role in needed else "help.not_for_you", roles=names)
        lines.append(ctx.t("help.line", command=cmd.shown(ctx.lang), summary=ctx.t(f"help.commands.{cmd.name}.summary"),
                           mark=mark))
    lines.append(ctx.t("help.outro"))
    ctx.reply("help", Markup("\n".join(lines)))


def _help_topic(args: str) -> str:
    """The command ``/help <topic>`` asks about, as members write it: ``bijeenkomst``, ``/pauze``,
    ``!pauze`` (Matrix), ``@Bamboe pauze`` (Teams), ``/bamboe pauze`` (Slack), ``Vier.``, or with
    more words after it (``bijeenkomst plannen``); empty for ``/help`` or ``/help ?``."""
    words = args.lower().split()
    if len(words) > 1 and words[0].lstrip("/@!") == "bamboe":  # the bot's own name before the command
        words = words[1:]
    return words[0].lstrip("/!").rstrip(".,:;?!") if words else ""


NETWORK_FIELDS = {
    "naam": "name", "name": "name",
    "bedoeling": "intention", "intentie": "intention", "intention": "intention",
    "ambitie": "ambition", "ambition": "ambition",
    "taal": "language", "language": "language",
    "tijdzone": "timezone", "timezone": "timezone",
}


def network_summary(ctx: Ctx) -> Markup:
    """The network's name, intention, ambition and settings, as text."""
    n = ctx.network
    empty = ctx.t("common.not_set")
    return ctx.t("network.show", name=n.name, intention=n.intention or empty, ambition=n.ambition or empty,
                 language=ctx.t(f"languages.{n.language}"), timezone=n.timezone,
                 quiet=ctx.t("network.quiet", start=n.quiet_start, end=n.quiet_end,
                             weekends=ctx.t("network.quiet_weekends") if n.quiet_weekends else ""))


async def role_holders(ctx: Ctx) -> list[Markup]:
    """Who the trekkers and procesbegeleiders are, by name (roles are not private in a network)."""
    members = await active_members(ctx.session, ctx.network.id)
    lines = []
    for role in ("trekker", "procesbegeleider"):
        names = [m.name for m in members if m.role == role]
        lines.append(ctx.t(f"network.holders.{role}", count=len(names), names=", ".join(names)) if names
                     else ctx.t(f"network.holders_none.{role}"))
    return lines


async def cmd_network(ctx: Ctx, args: str) -> None:
    """``/netwerk [veld waarde]``: show the network, or (trekker) change a field."""
    if not args:
        ctx.reply("status", Markup("\n".join([network_summary(ctx), *await role_holders(ctx)])))
        return
    field_word, value = first_word(args)
    field = NETWORK_FIELDS.get(field_word.lower())
    if field is None:
        raise UserError("errors.network_field", value=field_word[:40])
    ctx.require("trekker")
    value = value.strip()
    if not value:
        raise UserError("errors.network_value_missing", field=field_word.lower())
    if field == "language":
        lang = value.lower()[:2]
        if lang not in i18n.LANGUAGES:
            raise UserError("errors.bad_language", value=value[:20])
        ctx.network.language = lang
    elif field == "timezone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise UserError("errors.bad_timezone", value=value[:60]) from None
        ctx.network.timezone = value
        await ctx.features.plan_network(ctx.session, ctx.network, ctx.now, replan=True)
    else:
        limit = MAX_NAME if field == "name" else MAX_FIELD
        if len(value) > limit:
            raise UserError("errors.value_too_long", limit=limit)
        setattr(ctx.network, field, value)
        if field == "name":  # chosen: renaming the chat no longer renames the network
            ctx.network.name_chat_id = None
    if field in ("intention", "ambition", "name"):  # the group hears it once; no second note to the trekker
        ctx.group("status", ctx.t(f"network.changed_{field}", who=ctx.member.name, value=value))
    else:
        # in the network's (possibly new) language, so a language switch is confirmed in that language
        ctx.reply("status", ctx.t(f"network.changed_{field}", value=ctx.t(f"languages.{ctx.network.language}")
                                  if field == "language" else ctx.network.timezone))


async def cmd_role(ctx: Ctx, args: str) -> None:
    """``/rol <lid> <rol>`` (trekker): give a member a role. While the network has no trekker (its
    last one left), a procesbegeleider may too: otherwise nobody could give that role again."""
    me = ctx.require()
    if me.role != "trekker" and not (me.role == "procesbegeleider" and not await _trekkers(ctx)):
        ctx.require("trekker")
    who, _, role_word = args.rpartition(" ")
    if not who or not role_word:
        raise UserError("errors.usage", usage=ctx.t("help.commands.rol.usage"))
    role = ROLE_ALIASES.get(role_word.lower().rstrip(".!"))
    if role is None:
        raise UserError("errors.bad_role", value=role_word[:40],
                        roles=Markup(", ".join(ctx.t(f"roles.{r}") for r in ROLES)))
    member = await find_member(ctx, who)
    if member.role == "trekker" and role != "trekker" and await _trekkers(ctx) <= 1:
        raise UserError("errors.last_trekker")
    member.role = role
    ctx.group("status", ctx.t("network.role_set", name=member.name, role=ctx.t(f"roles.{role}")))


async def _trekkers(ctx: Ctx) -> int:
    """How many trekkers the network has."""
    return await ctx.session.scalar(select(func.count(Member.id)).where(
        Member.network_id == ctx.network.id, Member.active.is_(True), Member.role == "trekker"))


async def cmd_perspective(ctx: Ctx, args: str) -> None:
    """``/perspectief [<lid>] <perspectief>``: set a BOPOG perspective (own, or anyone's as trekker)."""
    who, _, word = args.strip().rpartition(" ")
    if not word:
        raise UserError("errors.usage", usage=ctx.t("help.commands.perspectief.usage"))
    if word.lower() not in NO_PERSPECTIVE and perspective_of(word) is None \
            and (named := await _member_named(ctx, args)) is not None:
        # "/perspectief Dewi": a member's name and no perspective after it
        if named.id != ctx.require().id:
            ctx.require("trekker")
            raise UserError("errors.perspective_missing", name=named.name, options=_perspective_options(ctx))
        raise UserError("errors.perspective_missing_self", options=_perspective_options(ctx))
    if who:
        member = await find_member(ctx, who)
        if member.id != ctx.require().id:
            ctx.require("trekker")
    else:
        member = ctx.require()
    if word.lower() in NO_PERSPECTIVE:
        member.perspective = None
    else:
        perspective = perspective_of(word)
        if perspective is None:
            raise UserError("errors.bad_perspective", value=word[:40], options=_perspective_options(ctx))
        member.perspective = perspective
    if member.perspective is None:
        ctx.reply("status", ctx.t("network.perspective_cleared", name=member.name))
        return
    ctx.reply("status", ctx.t("network.perspective_set", name=member.name,
                              perspective=ctx.t(f"perspectives.{member.perspective}")))


async def _member_named(ctx: Ctx, typed: str) -> Member | None:
    """The one member ``typed`` names in full (a mention, user id, full or first name; not the
    beginning of a name, which a misspelt perspective may be), or None."""
    try:
        return await find_member(ctx, typed, prefix=False)
    except UserError:
        return None


def _perspective_options(ctx: Ctx) -> Markup:
    """The perspectives as the bot names them, to choose from."""
    return Markup(", ".join(ctx.t(f"perspectives.{p}") for p in PERSPECTIVES))


async def cmd_status(ctx: Ctx, args: str) -> None:
    """``/status``: group size, perspectives, roles, participation and the next session."""
    from bot.features import rhythm

    members = await active_members(ctx.session, ctx.network.id)
    size = len(members)
    size_key = "ok" if MIN_GROUP <= size <= MAX_GROUP else ("small" if size < MIN_GROUP else "large")
    present = {m.perspective for m in members if m.perspective}
    missing = [p for p in PERSPECTIVES if p not in present]
    roles = {m.role for m in members}
    lines = [
        ctx.t("status.title", name=ctx.network.name),
        ctx.t(f"status.size_{size_key}", count=size, min=MIN_GROUP, max=MAX_GROUP),
        ctx.t("status.perspectives_missing",
              missing=Markup(", ".join(ctx.t(f"perspectives.{p}") for p in missing)))
        if missing else ctx.t("status.perspectives_all"),
        ctx.t("status.trekker_yes" if "trekker" in roles else "status.trekker_no"),
        ctx.t("status.facilitator_yes" if "procesbegeleider" in roles else "status.facilitator_no"),
    ]
    lines.extend(await rhythm.status_lines(ctx))
    nxt = await next_meeting(ctx.session, ctx.network.id, ctx.now)
    if nxt is None:
        lines.append(ctx.t("status.no_session"))
    else:
        from bot.timeutil import format_when

        lines.append(ctx.t("status.next_session", when=format_when(ctx.network, nxt.starts_at), place=nxt.place))
    ctx.reply("status", Markup("\n".join(lines)))


async def next_meeting(session: AsyncSession, network_id: int, now: datetime) -> Meeting | None:
    """The next session that has not ended and is not cancelled."""
    return await session.scalar(_NEXT_MEETING, {"network": network_id, "now": now})


_NEXT_MEETING = select(Meeting).where(
    Meeting.network_id == bindparam("network"), Meeting.cancelled.is_(False), Meeting.ends_at > bindparam("now")
).order_by(Meeting.starts_at).limit(1)


async def cmd_start(ctx: Ctx, args: str) -> None:
    """``/start``: a person opens a private chat with the bot (Telegram deep link)."""
    ctx.reply("help", ctx.t("help.start", name=ctx.network.name if ctx.network.id else ""))


async def on_leave(ctx: Ctx, member: Member) -> None:
    """The network's last trekker left: its procesbegeleiders hear privately that they may give
    that role now (:func:`cmd_role`); with none, the first member to use a command leads
    (:func:`bot.core._maybe_first_trekker`). Not when a chat that removed the bot took them along:
    :func:`bot.features.link.on_chat_removed` tells everyone concerned once, after all have left."""
    if member.role != "trekker":
        return
    if ctx.source is not None and not ctx.source.private and chat_row(ctx.chats, ctx.source) is None:
        return  # the chat the event came from is no longer the network's: it removed the bot
    for lead in await without_trekker(ctx) or ():
        ctx.private(lead, "status", ctx.t("network.last_trekker_left", name=member.name,
                                          typed=take_the_role(ctx, lead)))


async def without_trekker(ctx: Ctx) -> list[Member] | None:
    """None while the network has an active trekker; otherwise its procesbegeleiders, who may then
    give that role (:func:`cmd_role`)."""
    remaining = await active_members(ctx.session, ctx.network.id)
    if any(m.role == "trekker" for m in remaining):
        return None
    return [m for m in remaining if m.role == "procesbegeleider"]


def take_the_role(ctx: Ctx, lead: Member) -> Markup:
    """The command with which ``lead`` becomes trekker (``/rol Bram Peters trekker``)."""
    return command(f"{ctx.features.table['rol'].shown(ctx.lang)} {lead.name} {ctx.t('roles.trekker')}")


FEATURE = Feature("network", on_network_created=(welcome,), on_leave=(on_leave,), commands=(
    Command("help", cmd_help),
    Command("status", cmd_status),
    Command("netwerk", cmd_network, ("network",)),
    Command("rol", cmd_role, ("role",), help_roles=("trekker",)),
    Command("perspectief", cmd_perspective, ("perspective",)),
    Command("start", cmd_start, (), listed=False),
))
