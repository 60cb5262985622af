"""The core's Markdown subset as Matrix message content: an HTML ``formatted_body``
(``org.matrix.custom.html``) with a plain ``body``, split into events of a safe size.

All text is HTML-escaped here, so nothing a person typed can become markup or a mention pill
(``<a href="https://matrix.to/#/@…">``). Every event carries ``m.mentions: {}``: with it,
clients and Synapse's push rules ignore names and ``@room`` written in the body (intentional
mentions, MSC3952), so echoed text never pings anyone; :func:`bot.markup.escape` has already
put a word joiner after every ``@`` a person typed as a second guard.

A command reference (a command span) is rendered the way a member types it in Element:
``!pauze 2w`` (Element keeps ``/…`` for its own commands). Matrix has no buttons: choices are
numbered (1️⃣, 2️⃣, …) under the message, answered with a reaction of that number or the text
command the message names.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from bot.events import Button
from bot.markup import Span, cut, plain, spans, tagged

#: most characters of ``body`` per event; an event (both bodies, JSON, signatures) may hold 64 KiB
PART_LIMIT = 8000
#: most bytes of ``body`` plus ``formatted_body`` per event (UTF-8), well under the 64 KiB event limit
BYTE_LIMIT = 40_000
#: the prefix that marks a command in Matrix (Element keeps ``/`` for itself)
COMMAND_PREFIX = "!"
#: reaction keys for choices 1-10 (keycap emoji, as Element's picker sends them)
KEYCAPS = tuple(f"{n}\ufe0f\u20e3" for n in range(10)[1:]) + ("\U0001f51f",)
#: the key in our own events' content that lists the choices' actions (read back on a reaction)
CHOICES_KEY = "nl.bamboe.choices"
HTML_FORMAT = "org.matrix.custom.html"


def is_command(span: Span) -> bool:
    """True for a command reference (``Span.command``, where the core's markup has it)."""
    return bool(getattr(span, "command", False))


def _span_plain(span: Span) -> str:
    return COMMAND_PREFIX + span.text if is_command(span) else span.text


def _span_html(span: Span) -> str:
    if is_command(span):
        return f"<code>{html.escape(COMMAND_PREFIX + span.text, quote=False)}</code>"
    return tagged(html.escape(span.text, quote=False).replace("\n", "<br>"), span, italic="em", bold="strong")


def to_plain(text: str) -> str:
    """The plain ``body`` of core Markdown (commands as ``!name``)."""
    return "".join(_span_plain(s) for s in spans(text))


def to_html(text: str) -> str:
    """The HTML ``formatted_body`` of core Markdown (all text escaped)."""
    return "".join(_span_html(s) for s in spans(text))


@dataclass
class Part:
    """One event's worth of text: its plain and HTML renderings."""

    body: str = ""
    html: str = ""
    #: button actions answered by a reaction with :data:`KEYCAPS` ``[i]`` on this part
    choices: list[str] = field(default_factory=list)

    def size(self) -> tuple[int, int]:
        """Characters of the body, bytes of both bodies."""
        return len(self.body), len(self.body.encode()) + len(self.html.encode())

    def fits(self, body: str, markup: str, limit: int, byte_limit: int) -> bool:
        """True when ``body``/``markup`` can be added to this part."""
        chars, size = self.size()
        return chars + len(body) <= limit and size + len(body.encode()) + len(markup.encode()) <= byte_limit

    def content(self, msgtype: str = "m.text") -> dict[str, Any]:
        """The ``m.room.message`` content of this part (no relation yet)."""
        content: dict[str, Any] = {"msgtype": msgtype, "body": self.body, "format": HTML_FORMAT,
                                   "formatted_body": self.html, "m.mentions": {}}
        if self.choices:
            content[CHOICES_KEY] = list(self.choices)
        return content



def _units(line: str, limit: int, byte_limit: int) -> list[tuple[str, str]]:
    """A line as (plain, html) units that each fit in one part."""
    body, markup = to_plain(line), to_html(line)
    if len(body) <= limit and len((body + markup).encode()) <= byte_limit:
        return [(body, markup)]
    units = []
    # worst case: 4 UTF-8 bytes per character in the body, 5 more for its escape in the HTML
    room = max(1, min(limit, byte_limit // 10))
    for span in spans(line):
        if is_command(span):  # a command is short and never cut
            units.append((_span_plain(span), _span_html(span)))
            continue
        for piece in cut(span.text, room):
            same = Span(piece, span.bold, span.italic, span.code)
            units.append((_span_plain(same), _span_html(same)))
    return units


def choice_lines(buttons: tuple[Button, ...]) -> list[str]:
    """The numbered choices under a message, in core Markdown (labels are the core's texts)."""
    return [f"{KEYCAPS[i]} {b.label}" for i, b in enumerate(buttons[: len(KEYCAPS)])]


def render_parts(text: str, buttons: tuple[Button, ...] = (), *, limit: int = PART_LIMIT,
                 byte_limit: int = BYTE_LIMIT) -> list[Part]:
    """The events for ``text`` (and its numbered ``buttons``, on the last part)."""
    lines = text.split("\n")
    if buttons:
        lines += ["", *choice_lines(buttons)]
    parts: list[Part] = [Part()]
    for line in lines:
        for index, (body, markup) in enumerate(_units(line, limit, byte_limit)):
            current = parts[-1]
            joiner = ("\n", "<br>") if index == 0 and current.body else ("", "")
            if not current.fits(joiner[0] + body, joiner[1] + markup, limit, byte_limit):
                parts.append(Part())
                current, joiner = parts[-1], ("", "")
            current.body += joiner[0] + body
            current.html += joiner[1] + markup
    parts = [p for p in parts if p.body.strip()] or [Part(body=plain(text) or " ", html=html.escape(text) or " ")]
    if buttons:
        parts[-1].choices = [b.action for b in buttons[: len(KEYCAPS)]]
    return parts


def choice_index(key: str) -> int | None:
    """The 0-based choice a reaction ``key`` stands for (``"2️⃣"`` → 1), None for other keys."""
    normal = key.replace("\ufe0f", "")
    for index, cap in enumerate(KEYCAPS):
        if normal == cap.replace("\ufe0f", ""):
            return index
    return None
