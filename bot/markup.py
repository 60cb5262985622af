"""The core's small Markdown subset, and how user text is made safe inside it.

The core writes ``*bold*``, ``_italic_`` and `` `code` ``; a backslash escapes the next
character. Anything a person wrote goes through :func:`escape` before it is placed in a
message, so it can never add markup, and ``@`` is followed by a word joiner so echoed text
never mentions or pings anyone (``@channel``, ``@here``, ``@username``). Adapters turn the
subset into their own format with :func:`spans` and escape for their platform there
(Slack: ``& < >``; Telegram: HTML).
"""

from __future__ import annotations

from dataclasses import dataclass

SPECIAL = "\\*_`"
WORD_JOINER = "\u2060"
#: characters that could mimic layout or hide text direction tricks in echoed text
_STRIP = {"\u202e": "", "\u202d": "", "\u2066": "", "\u2067": "", "\u2068": "", "\u2069": ""}


class Markup(str):
    """Text already in the core's Markdown subset (not escaped again when formatted in)."""

    __slots__ = ()


def escape(text: str) -> Markup:
    """Make user-written ``text`` inert: no markup, no mentions, no direction overrides."""
    out = []
    for ch in str(text):
        if ch in _STRIP:
            continue
        if ch in SPECIAL:
            out.append("\\" + ch)
        elif ch == "@":
            out.append("@" + WORD_JOINER)
        else:
            out.append(ch)
    return Markup("".join(out))


@dataclass(frozen=True)
class Span:
    """A run of text with one style."""

    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False


def spans(text: str) -> list[Span]:
    """Split core Markdown into styled runs (unbalanced markers are kept as text)."""
    result: list[Span] = []
    buf: list[str] = []
    bold = italic = code = False

    def flush() -> None:
        if buf:
            result.append(Span("".join(buf), bold, italic, code))
            buf.clear()

    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf.append(text[i + 1])
            i += 2
            continue
        if ch == "`" and (code or _closes(text, i, "`")):
            flush()
            code = not code
        elif ch == "*" and not code and (bold or _closes(text, i, "*")):
            flush()
            bold = not bold
        elif ch == "_" and not code and (italic or _closes(text, i, "_")):
            flush()
            italic = not italic
        else:
            buf.append(ch)
        i += 1
    flush()
    return result


def _closes(text: str, start: int, marker: str) -> bool:
    """True when an unescaped ``marker`` closes the one at ``start`` on the same line."""
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "\n":
            return False
        if ch == marker:
            return i > start + 1
        i += 1
    return False


def plain(text: str) -> str:
    """The text without markup (for transcripts, logs of kinds, and plain-text fallbacks)."""
    return "".join(s.text for s in spans(text))
