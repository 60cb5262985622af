"""Inbound text the database can store, and which database errors are outages.

PostgreSQL ``text`` cannot hold U+0000, and no UTF-8 text can hold a lone surrogate (U+D800 to
U+DFFF, which a platform's JSON may still carry as ``\\ud83d``). :func:`clean` removes both from
every string of an inbound event (names, titles, texts, button payloads) before the core sees it,
so such a character never turns into a database error and nothing else of the message is lost.
It also removes invisible characters (zero-width space and joiners U+200B-U+200D, the word joiner
U+2060, U+FEFF and the other format characters) that stand at the start or the end of a string or
next to whitespace: there they join nothing, and text of only such characters (``/vier \u200b``)
is empty, so a command answers as it does without text instead of storing something invisible.
Between two visible characters they are kept: an emoji sequence (👩‍👧) or a ZWNJ in a Persian
word needs them.

:func:`is_outage` tells a database that is away (connection refused or lost, a timeout, a lock or
serialization conflict: trying again later helps) from an error the same input will raise every
time (a data or integrity error: trying again never helps, see :meth:`bot.core.Core.handle`).
A deadlock or serialization failure counts as away here, but :meth:`bot.core.Core.handle` first
runs such an event once more itself (:func:`bot.database.is_conflict`).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError

#: characters PostgreSQL text (or UTF-8) cannot hold
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: invisible characters: the format characters (Unicode category Cf) that show nothing (the
#: prepended number signs such as U+0600 do show, and the tag characters U+E0020-U+E007F end an emoji
#: flag sequence), and the Hangul fillers, which show as blank
_FORMAT_CLASS = ("[\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
                 "\u3164\ufeff\uffa0\ufff9-\ufffb\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001]")
#: a run of invisible characters at an edge of the string or next to whitespace
INVISIBLE_EDGE = re.compile(rf"(?:^|(?<=\s)){_FORMAT_CLASS}+|{_FORMAT_CLASS}+(?=\s|$)")
_ANY_FORMAT = re.compile(_FORMAT_CLASS)
#: SQLSTATE classes that mean "this statement will fail again the same way": data exception,
#: integrity constraint violation, syntax error or access rule violation, feature not supported
DETERMINISTIC_SQLSTATES = ("22", "23", "42", "0A")
#: the DBAPI exception class names (PEP 249) that mean the same, for drivers without SQLSTATE (sqlite3)
DETERMINISTIC_CLASSES = {"DataError", "IntegrityError", "ProgrammingError", "NotSupportedError"}

T = TypeVar("T")


def clean_text(text: str) -> str:
    """``text`` without the characters the database cannot store, and without invisible characters
    that join nothing (at an edge or next to whitespace)."""
    if UNSTORABLE.search(text):
        text = UNSTORABLE.sub("", text)
    if _ANY_FORMAT.search(text):
        text = INVISIBLE_EDGE.sub("", text)
    return text


def clean(value: T) -> T:
    """``value`` (an inbound event, or anything in it) with every string cleaned by :func:`clean_text`;
    unchanged parts are returned as they are."""
    return _clean(value)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for f in dataclasses.fields(value):
            old = getattr(value, f.name)
            new = _clean(old)
            if new is not old:
                changes[f.name] = new
        return dataclasses.replace(value, **changes) if changes else value
    if isinstance(value, tuple | list):
        items = [_clean(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else type(value)(items)
    if isinstance(value, dict):
        pairs = [(_clean(k), _clean(v)) for k, v in value.items()]
        same = all(a is k and b is v for (a, b), (k, v) in zip(pairs, value.items(), strict=True))
        return value if same else dict(pairs)
    return value


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` means the database cannot be used now (try again later), False when the
    statement itself is at fault and would fail the same way again."""
    if not isinstance(exc, DBAPIError):
        return True  # OSError, TimeoutError: the connection
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state:
        return not str(state).startswith(DETERMINISTIC_SQLSTATES)
    return not any(cls.__name__ in DETERMINISTIC_CLASSES for cls in type(orig).__mro__)
