"""Between the core's Markdown subset and Slack's mrkdwn, in both directions.

Outgoing: every run of text is escaped for Slack (``&``, ``<``, ``>`` become entities), so no
text — echoed user text included — can ever form ``<!channel>``, ``<!here>``, ``<@U…>``,
``<#C…>``, ``<!subteam^…>`` or a link; only the styling this module adds is markup.

mrkdwn has no escape for ``*``, ``_``, ``~`` and `` ` ``, so a network named ``Venlo *vet* _schuin_``
would break the bot's own bold and style the member's words. Messages therefore go out as
``rich_text`` blocks (:func:`rich_text`), which Slack recommends for user-defined text: each run of
the core's markup is one ``text`` element with its style given explicitly, and the characters in
an element are shown as they are, never parsed. The ``text`` field beside the blocks is only the
notification fallback (:func:`fallback`).

Incoming: Slack sends message text with its own entities and ``<…>`` references; they are
turned into plain readable text before the core sees it.
"""

from __future__ import annotations

import re
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


def rich_text(text: str, limit: int = SECTION_LIMIT) -> list[dict[str, Any]]:
    """Core Markdown as ``rich_text`` blocks of at most ``limit`` characters each: every run is a
    literal ``text`` element with its style (bold, italic, code), so no character a member wrote
    can format, mention or link."""
    result: list[dict[str, Any]] = []
    elements: list[dict[str, Any]] = []
    size = 0

    def close() -> None:
        nonlocal elements, size
        if elements:
            result.append({"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": elements}]})
        elements, size = [], 0

    for span in spans(str(text)):
        piece = slash_command(span.text) if span.command else span.text
        style = {name: True for name in ("bold", "italic", "code") if getattr(span, name)}
        while piece:
            if size >= limit:
                close()
            cut = piece[: limit - size]
            full = len(cut) < len(piece)  # this block is full after ``cut``
            if full and "\n" in cut:  # then end it at a line end where it can
                cut = cut[: cut.rindex("\n") + 1]
            element: dict[str, Any] = {"type": "text", "text": cut}
            if style:
                element["style"] = style
            elements.append(element)
            size = limit if full else size + len(cut)
            piece = piece[len(cut) :]
    close()
    return result


def blocks(text: str, buttons: tuple[Button, ...] = ()) -> list[dict[str, Any]]:
    """Block Kit for a message: the text as ``rich_text`` blocks, then (with buttons) one actions
    block whose buttons carry the core's action string as ``value``."""
    result = rich_text(text)
    elements = [
        {
            "type": "button",
            "action_id": f"{ACTION_PREFIX}{i}",
            "text": {"type": "plain_text", "text": b.label[:BUTTON_LABEL_LIMIT] or "…", "emoji": True},
            "value": b.action[:BUTTON_VALUE_LIMIT],
        }
        for i, b in enumerate(buttons[:25])
    ]
    if elements:
        result.append({"type": "actions", "elements": elements})
    return result


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
