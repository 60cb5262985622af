"""User-facing texts: loaded from ``prompts/<language>.yaml``, keyed, with placeholders.

Every placeholder value is escaped with :func:`bot.markup.escape` unless it is already
:class:`~bot.markup.Markup`, so names and texts people typed can never inject markup.

A command reference is written ``{/pauze}`` (or ``{/help {command}}``) in the texts; it becomes a
command span of the core markup when the texts are loaded, which each adapter renders the way a
member types that command on its platform.
"""

from __future__ import annotations

import re
import string
from functools import cache
from importlib import resources
from typing import Any

import yaml

from bot.markup import CMD_CLOSE, CMD_OPEN, Markup, escape

#: libyaml's loader when PyYAML was built with it (ten times faster, same result for our files)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"
#: ``{/name args}`` in a text, where args may hold ``{placeholders}``
_COMMAND_REF = re.compile(r"\{/((?:[^{}\n]|\{[a-z_]+\})+)\}")


def _mark_commands(node: Any) -> Any:
    """Turn every ``{/…}`` in the loaded texts into a command span."""
    if isinstance(node, str):
        return _COMMAND_REF.sub(lambda m: CMD_OPEN + m.group(1) + CMD_CLOSE, node)
    if isinstance(node, dict):
        return {k: _mark_commands(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_mark_commands(v) for v in node]
    return node


@cache
def catalogue(language: str) -> dict[str, Any]:
    """Return the loaded texts for ``language`` (cached; read once per process)."""
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    raw = resources.files("prompts").joinpath(f"{language}.yaml").read_text(encoding="utf-8")
    return _mark_commands(load_yaml(raw))


def load_yaml(text: str) -> Any:
    """Parse trusted YAML (our prompt and question files) safely, with libyaml when available."""
    return yaml.load(text, Loader=_LOADER)


def _lookup(language: str, key: str) -> Any:
    node: Any = catalogue(language)
    for part in key.split("."):
        if isinstance(node, dict) and part not in node and part.isdigit():
            node = node[int(part)]  # YAML reads numeric keys (weekday numbers) as ints
        else:
            node = node[part]
    return node


def has(language: str, key: str) -> bool:
    """True when ``key`` exists for ``language``."""
    try:
        _lookup(language, key)
    except (KeyError, TypeError):
        return False
    return True


def raw(language: str, key: str) -> Any:
    """Return the unformatted entry (a string, list or mapping) for ``key``."""
    return _lookup(language, key)


#: the forms a counted text may have (``one`` for exactly 1, ``other`` for the rest, 0 included)
PLURAL_FORMS = ("one", "other")


def plural_form(count: Any) -> str:
    """``one`` or ``other`` for ``count`` (the same rule in Dutch and English)."""
    return "one" if count == 1 else "other"


def _counted(template: Any, key: str, params: dict[str, Any]) -> Any:
    """A text with ``one``/``other`` forms picks the form for its ``count`` parameter."""
    if isinstance(template, dict) and set(template) == set(PLURAL_FORMS):
        if "count" not in params:
            raise TypeError(f"prompt {key!r} has plural forms and needs a count")
        return template[plural_form(params["count"])]
    return template


def t(language: str, key: str, /, **params: Any) -> Markup:
    """Render text ``key`` in ``language`` with ``params`` (user values escaped); a text with
    ``one``/``other`` forms is chosen by the ``count`` parameter (``1 lid``, ``2 leden``)."""
    template = _counted(_lookup(language, key), key, params)
    if not isinstance(template, str):
        raise TypeError(f"prompt {key!r} is not a text")
    return _format(template, params)


def vary(language: str, key: str, n: int, /, **params: Any) -> Markup:
    """Render the ``n``-th phrasing of a recurring text (a list of at least three): counting the
    occurrences gives a different one each time, the same for the same history."""
    options = _lookup(language, key)
    if not isinstance(options, list) or not options:
        raise TypeError(f"prompt {key!r} has no phrasings")
    return _format(_counted(options[n % len(options)], key, params), params)


def decimal(language: str, value: float) -> str:
    """A number with one decimal as people write it (``0,4`` in Dutch, ``0.4`` in English)."""
    text = f"{value:.1f}"
    return text.replace(".", ",") if language == "nl" else text


def _format(template: str, params: dict[str, Any]) -> Markup:
    if not isinstance(template, str):
        raise TypeError("prompt is not a text")
    safe = {k: v if isinstance(v, Markup) else escape(str(v)) for k, v in params.items()}
    return Markup(template.format(**safe))


def placeholders(template: str) -> set[str]:
    """The placeholder names used in ``template``."""
    return {name for _, name, _, _ in string.Formatter().parse(_mark_commands(template)) if name}
