"""The core's Markdown subset as Teams message text, split into messages Teams accepts.

Messages go with ``textFormat: "xml"``: Teams renders the HTML tags ``<b>``, ``<i>``, ``<code>``
and ``<br>``. All text is HTML-escaped (so ``<at>…</at>`` typed by a person is shown, never a
mention, and no ``<a>`` or other tag can be made), and the characters Teams might still read as
Markdown (``* _ ~ ` [ ] #``) become character references, so nothing a person typed can format or
make a link with a different target. A bare URL stays a URL (Teams links it, to itself).

A command reference (``Span.command``) is shown the way a member types it: ``@Bamboe pauze 2w``
in a channel or group chat (they address the bot by @mention there), ``pauze 2w`` in a 1:1.

Teams takes messages of about 28 KB (text, cards and envelope together); parts are cut at
:data:`PART_BYTES` bytes of UTF-8, on line boundaries where possible, else between words, never
inside a tag or a character reference.
"""

from __future__ import annotations

import html

from bot.markup import Span, cut, pack, spans, tagged

#: bytes of rendered text per message part (Teams' limit is about 28 KB for the whole activity)
PART_BYTES = 24_000
#: characters a member reads in one part at most (what is read is never longer than its xml)
MAX_TEXT = PART_BYTES
#: how the bot is addressed in a channel or group chat (the app's short name in the manifest)
BOT_NAME = "Bamboe"
#: characters Teams may read as Markdown, even in xml text
_MARKDOWN = {"*": "&#42;", "_": "&#95;", "~": "&#126;", "`": "&#96;", "[": "&#91;", "]": "&#93;", "#": "&#35;"}


def escape_text(text: str) -> str:
    """``text`` as inert Teams xml text (no tag, no entity, no Markdown)."""
    out = html.escape(text, quote=False)
    return "".join(_MARKDOWN.get(ch, ch) for ch in out)


def command_text(command: str, group: bool) -> str:
    """How a member types ``command`` (``pauze 2w``): with the @mention in a group conversation."""
    return f"@{BOT_NAME} {command}" if group else command


def _wrap(text: str, span: Span, group: bool) -> str:
    if span.command:
        text = command_text(text, group)
    return tagged(escape_text(text), span)


def to_xml(text: str, group: bool = True) -> str:
    """Render one line of core Markdown as Teams xml text (all text escaped)."""
    return "".join(_wrap(s.text, s, group) for s in spans(text))


def _size(text: str) -> int:
    return len(text.encode("utf-8"))



def _line_units(line: str, limit: int, group: bool) -> list[str]:
    rendered = to_xml(line, group)
    if _size(rendered) <= limit:
        return [rendered]
    units: list[str] = []
    for span in spans(line):
        # worst case per character: a 4-byte character, or a 5-byte reference such as "&amp;"
        room = max(1, (limit - _size(_wrap("", span, group))) // 6)
        units.extend(_wrap(piece, span, group) for piece in cut(span.text, room))
    return units


def render_parts(text: str, group: bool = True, limit: int = PART_BYTES) -> list[str]:
    """Teams xml for ``text``, split into parts of at most ``limit`` bytes each."""
    return pack((_line_units(line, limit, group) for line in text.split("\n")), limit, joiner="<br>", size=_size)
