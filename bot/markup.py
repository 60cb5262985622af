"""The core's small Markdown subset, and how user text is made safe inside it.

The core writes ``*bold*``, ``_italic_`` and `` `code` ``; a backslash escapes the next
character. A command reference is a span between ``⟦`` and ``⟧`` (prompts write ``{/pauze}``,
code calls :func:`command`): each adapter renders it the way a member types that command on its
platform (``/pauze``, ``/bamboe pauze``, ``!pauze``, ``@Bamboe pauze``).

Anything a person wrote goes through :func:`escape` before it is placed in a message, so it can
never add markup, and ``@`` is followed by a word joiner so echoed text
never mentions or pings anyone (``@channel``, ``@here``, ``@username``). Adapters turn the
subset into their own format with :func:`spans` and escape for their platform there
(Slack: ``& < >``; Telegram: HTML).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: opens and closes a command reference
CMD_OPEN, CMD_CLOSE = "\u27e6", "\u27e7"
SPECIAL = "\\*_`" + CMD_OPEN + CMD_CLOSE
WORD_JOINER = "\u2060"
#: characters that could mimic layout or hide text direction tricks in echoed text
_STRIP = {"\u202e": "", "\u202d": "", "\u2066": "", "\u2067": "", "\u2068": "", "\u2069": ""}
#: what :func:`escape` does to each character it changes
_ESCAPE = str.maketrans({**_STRIP, **{ch: "\\" + ch for ch in SPECIAL}, "@": "@" + WORD_JOINER})
#: a run of characters that mean nothing to the markup (copied as they are, not one by one)
_PLAIN_RUN = re.compile("[^" + re.escape(SPECIAL) + "]+")


class Markup(str):
    """Text already in the core's Markdown subset (not escaped again when formatted in)."""

    __slots__ = ()


def escape(text: str) -> Markup:
    """Make user-written ``text`` inert: no markup, no mentions, no direction overrides."""
    return Markup(str(text).translate(_ESCAPE))


def command(text: str) -> Markup:
    """A command reference: ``command("pauze")`` is shown as ``/pauze`` on Telegram, ``!pauze`` on
    Matrix… ``text`` is the command name without its prefix, optionally followed by arguments."""
    return Markup(CMD_OPEN + escape(text) + CMD_CLOSE)


#: how a member types a command (``koppel X``) on each platform, for a text that asks them to type it in
#: a chat other than the one it is sent to (each adapter renders references in its own chat only):
#: (in a group, in a private chat). tests/test_link.py checks these against the adapters' renderers.
TYPED = {
    "telegram": ("/{}", "/{}"),
    "slack": ("/bamboe {}", "/bamboe {}"),
    "teams": ("@Bamboe {}", "{}"),
    "matrix": ("!{}", "!{}"),
}


def typed_on(platform: str, reference: str, *, group: bool = True) -> Markup | None:
    """``reference`` (a command without prefix, maybe with arguments) as it is typed on ``platform``,
    as code; ``None`` for a platform not in :data:`TYPED`."""
    forms = TYPED.get(platform)
    return None if forms is None else Markup("`" + escape(forms[not group].format(reference)) + "`")


@dataclass(frozen=True)
class Span:
    """A run of text with one style; ``command`` marks a command reference (its name first,
    without a prefix, then any arguments)."""

    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False
    command: bool = False


def tagged(escaped: str, span: Span, italic: str = "i", bold: str = "b") -> str:
    """``escaped`` (already escaped text of ``span``) in the HTML tags of the span's styles."""
    if span.code:
        escaped = f"<code>{escaped}</code>"
    if span.italic:
        escaped = f"<{italic}>{escaped}</{italic}>"
    if span.bold:
        escaped = f"<{bold}>{escaped}</{bold}>"
    return escaped


def spans(text: str) -> list[Span]:
    """Split core Markdown into styled runs (unbalanced markers are kept as text)."""
    result: list[Span] = []
    buf: list[str] = []
    bold = italic = code = cmd = False

    def flush() -> None:
        if buf:
            result.append(Span("".join(buf), bold, italic, code, cmd))
            buf.clear()

    i = 0
    while i < len(text):
        if run := _PLAIN_RUN.match(text, i):
            buf.append(run.group())
            i = run.end()
            continue
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf.append(text[i + 1])
            i += 2
            continue
        if cmd:
            if ch == CMD_CLOSE:
                flush()
                cmd = False
            else:
                buf.append(ch)
        elif ch == CMD_OPEN and not code and _closes(text, i, CMD_CLOSE):
            flush()
            cmd = True
        elif ch == "`" and (code or _closes(text, i, "`")):
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


def cut(text: str, size: int) -> list[str]:
    """Cut plain ``text`` into pieces of at most ``size`` characters, preferring to cut after a
    space (for adapters that split a long message into parts)."""
    pieces = []
    while len(text) > size:
        at = text.rfind(" ", 0, size)
        at = at + 1 if at > 0 else size
        pieces.append(text[:at])
        text = text[at:]
    if text:
        pieces.append(text)
    return pieces


def pack(lines: Iterable[list[str]], limit: int, *, joiner: str = "\n",
         size: Callable[[str], int] = len) -> list[str]:
    """Rendered lines (each as the units it may be cut into) packed into as few parts of at most
    ``limit`` (measured by ``size``) as they fit in, lines joined by ``joiner``; never an empty part
    unless the text is empty (for adapters that split a long message into parts)."""
    parts: list[str] = []
    current = ""
    for units in lines:
        for index, unit in enumerate(units):
            glue = joiner if index == 0 and current else ""
            if size(current) + len(glue) + size(unit) <= limit:
                current += glue + unit
            else:
                if current.strip():
                    parts.append(current)
                current = unit
    if current.strip() or not parts:
        parts.append(current)
    return parts


def with_commands(text: str, render: Callable[[str], str]) -> Markup:
    """``text`` with each command reference replaced by ``render(reference)`` (as plain text; the
    rest of the markup is kept), e.g. ``⟦pauze⟧`` → ``/pauze`` for the console."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if run := _PLAIN_RUN.match(text, i):
            out.append(run.group())
            i = run.end()
            continue
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i:i + 2])
            i += 2
            continue
        if ch == CMD_OPEN and _closes(text, i, CMD_CLOSE):
            end = i + 1
            reference: list[str] = []
            while text[end] != CMD_CLOSE:
                if text[end] == "\\":
                    end += 1
                reference.append(text[end])
                end += 1
            out.append(escape(render("".join(reference))))
            i = end + 1
            continue
        out.append(ch)
        i += 1
    return Markup("".join(out))


def plain(text: str, prefix: str = "/") -> str:
    """The text without markup (for transcripts, logs of kinds, and plain-text fallbacks); command
    references get ``prefix``."""
    return "".join(prefix + s.text if s.command else s.text for s in spans(text))
