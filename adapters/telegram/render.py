"""The core's Markdown subset as Telegram HTML, split into messages Telegram accepts.

Telegram's HTML parse mode knows ``<b>``, ``<i>`` and ``<code>``; every other ``<``, ``>`` and ``&``
must be escaped, which is done for all text here, so nothing a person typed can become markup.
A message may hold at most 4096 characters: longer texts are split on line boundaries where
possible, else between words, and never inside a tag (every part is valid HTML on its own).
"""

from __future__ import annotations

import html

from bot.markup import Span, cut, pack, spans, tagged

#: Telegram's limit for one text message
TELEGRAM_LIMIT = 4096
#: what we aim for per part: the limit counts characters after parsing, we count the HTML (longer)
PART_LIMIT = 4000


def _wrap(text: str, span: Span) -> str:
    return tagged(html.escape("/" + text if span.command else text, quote=False), span)


def to_html(text: str) -> str:
    """Render core Markdown as Telegram HTML (all text escaped)."""
    return "".join(_wrap(s.text, s) for s in spans(text))



def _line_units(line: str, limit: int) -> list[str]:
    """A line's HTML, as one unit when it fits, else as self-contained pieces that each fit."""
    rendered = to_html(line)
    if len(rendered) <= limit:
        return [rendered]
    units: list[str] = []
    for span in spans(line):
        # the worst case of escaping is 5 characters per character ("&amp;"), plus the tags
        room = max(1, (limit - len(_wrap("", span))) // 5)
        units.extend(_wrap(piece, span) for piece in cut(span.text, room))
    return units


def render_parts(text: str, limit: int = PART_LIMIT) -> list[str]:
    """Telegram HTML for ``text``, split into parts of at most ``limit`` characters each."""
    return pack((_line_units(line, limit) for line in text.split("\n")), limit)
