"""Between the core's Markdown subset and Slack's mrkdwn, in both directions.

Outgoing: every run of text is escaped for Slack (``&``, ``<``, ``>`` become entities), so no
text — echoed user text included — can ever form ``<!channel>``, ``<!here>``, ``<@U…>``,
``<#C…>``, ``<!subteam^…>`` or a link; only the styling this module adds is markup.

Incoming: Slack sends message text with its own entities and ``<…>`` references; they are
turned into plain readable text before the core sees it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bot.events import Button
from bot.markup import spans

#: Slack's limit for the text of a section block
SECTION_LIMIT = 3000
#: Slack's limit for a button label
BUTTON_LABEL_LIMIT = 75
#: Slack's limit for a button value
BUTTON_VALUE_LIMIT = 2000
#: prefix of the action_id of every button we send (the index follows)
ACTION_PREFIX = "bamboe_"
#: the app's slash command; every core command is typed after it (``/bamboe pauze 2w``)
MAIN_COMMAND = "bamboe"
#: core commands that also have a slash command of their own in the manifest
SHORTCUTS = ("actieleren", "mededeling", "vier")


def slash_command(reference: str) -> str:
    """A core command reference (``pauze 2w``) as a member types it in Slack (``/bamboe pauze 2w``;
    ``/vier …`` for a command the manifest has as a shortcut)."""
    name = reference.split(" ", 1)[0]
    return f"/{reference}" if name in SHORTCUTS else f"/{MAIN_COMMAND} {reference}"


def escape(text: str) -> str:
    """Escape the three characters Slack gives meaning to in message text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _wrap(text: str, marker: str) -> str:
    """Put ``marker`` around ``text``, keeping outer whitespace outside (Slack needs the
    markers next to the text)."""
    core = text.strip()
    if not core:
        return text
    start = text.index(core)
    return f"{text[:start]}{marker}{core}{marker}{text[start + len(core) :]}"


def to_mrkdwn(text: str) -> str:
    """Core Markdown (``*bold*``, ``_italic_``, `` `code` ``, backslash escapes) → Slack mrkdwn."""
    out = []
    for span in spans(str(text)):
        piece = escape(slash_command(span.text) if span.command else span.text)
        if span.code:
            piece = _wrap(piece, "`")
        else:
            if span.italic:
                piece = _wrap(piece, "_")
            if span.bold:
                piece = _wrap(piece, "*")
        out.append(piece)
    return "".join(out)


def fallback(text: str) -> str:
    """The plain-text version Slack shows in notifications (still escaped: it is mrkdwn too)."""
    return escape("".join(slash_command(s.text) if s.command else s.text for s in spans(str(text))))


def split_lines(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Cut mrkdwn into pieces of at most ``limit`` characters, at line ends where possible and
    never inside an ``&…;`` entity (styles never span lines, so they stay intact)."""
    def cut_at(line: str) -> int:
        amp = line.rfind("&", max(0, limit - 5), limit)
        return amp if amp != -1 and ";" not in line[amp:limit] else limit

    return _split(text, limit, cut_at)


def _split(text: str, limit: int, cut_at: Callable[[str], int]) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters: whole lines where they fit, a longer
    line cut where ``cut_at`` says (given the rest of the line; at most ``limit``)."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = line if not current else f"{current}\n{line}"
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while len(line) > limit:
            cut = cut_at(line)
            pieces.append(line[:cut])
            line = line[cut:]
        current = line
    if current or not pieces:
        pieces.append(current)
    return pieces


def blocks(text: str, buttons: tuple[Button, ...]) -> list[dict[str, Any]]:
    """Block Kit for a message with buttons: the text in section blocks, then one actions block
    whose buttons carry the core's action string as ``value``."""
    return mrkdwn_blocks(to_mrkdwn(text), buttons)


def mrkdwn_blocks(mrkdwn: str, buttons: tuple[Button, ...] = ()) -> list[dict[str, Any]]:
    """Block Kit for mrkdwn that is already rendered (see :func:`blocks`)."""
    result: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": piece, "verbatim": True}}
        for piece in split_lines(mrkdwn)
        if piece.strip()
    ]
    return result + actions(buttons)


def actions(buttons: tuple[Button, ...]) -> list[dict[str, Any]]:
    """The actions block for ``buttons`` (none without buttons); each button's ``value`` is the
    core's action string."""
    elements = [
        {
            "type": "button",
            "action_id": f"{ACTION_PREFIX}{i}",
            "text": {"type": "plain_text", "text": b.label[:BUTTON_LABEL_LIMIT] or "…", "emoji": True},
            "value": b.action[:BUTTON_VALUE_LIMIT],
        }
        for i, b in enumerate(buttons[:25])
    ]
    return [{"type": "actions", "elements": elements}] if elements else []


# ---------------------------------------------------------------------------- literal styling characters
#: characters mrkdwn reads as styling; it has no escape for them (a backslash stays visible)
STYLE_MARKERS = frozenset("*_~`")


def needs_rich_text(text: str) -> bool:
    """True when ``text`` holds a styling character as a character (echoed user text, say), which
    mrkdwn would read as styling: such a text goes as a rich_text block instead (see :func:`rich_text`)."""
    return any(not span.command and STYLE_MARKERS & set(span.text) for span in spans(str(text)))


def rich_text(text: str) -> dict[str, Any]:
    """A rich_text block for core Markdown: every run a text element with its style given
    explicitly, so nothing in the text itself can style, link or mention (Slack reads a text
    element literally; ``&``, ``<`` and ``>`` need no escaping there)."""
    elements: list[dict[str, Any]] = []
    for span in spans(str(text)):
        piece = slash_command(span.text) if span.command else span.text
        if not piece:
            continue
        element: dict[str, Any] = {"type": "text", "text": piece}
        style = {name: True for name, on in (("bold", span.bold), ("italic", span.italic), ("code", span.code)) if on}
        if style:
            element["style"] = style
        elements.append(element)
    return {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": elements}]}


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Cut core Markdown into pieces of at most ``limit`` characters, at line ends where possible
    (styles never span lines, so each piece keeps its styling)."""
    # never between a backslash and what it escapes
    return _split(str(text), limit, lambda line: limit - 1 if line[limit - 1] == "\\" else limit)


# ---------------------------------------------------------------------------- incoming
_REFERENCE = re.compile(r"<([^<>]*)>")


def from_slack(text: str, names: dict[str, str] | None = None) -> str:
    """Slack message text → plain text: ``<@U1|ann>`` → ``@ann``, ``<#C1|x>`` → ``#x``,
    ``<!here>`` → ``@here``, ``<https://a|b>`` → ``b (https://a)``, entities decoded.

    ``names`` maps user ids to display names for ``<@U…>`` references without a label.
    """
    names = names or {}

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "@" + (label or names.get(target[1:], target[1:]))
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            if target.startswith("!subteam^"):
                return label or "@group"
            if target.startswith("!date^"):
                return label or ""
            return "@" + target[1:]
        if label and label != target:
            return f"{label} ({target})"
        return target.removeprefix("mailto:")

    return from_slack_entities(_REFERENCE.sub(replace, text))


def from_slack_entities(text: str) -> str:
    """Decode the three entities Slack uses in text it sends (``&lt;`` ``&gt;`` ``&amp;``)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mentioned_users(text: str) -> list[str]:
    """User ids referenced as ``<@U…>`` without a label (to look their names up)."""
    return [m.group(1)[1:] for m in _REFERENCE.finditer(text) if m.group(1).startswith("@") and "|" not in m.group(1)]
