"""Every text exists in Dutch and English with the same placeholders, renders, and is used correctly."""

import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from bot import i18n
from bot.features.rhythm import library

ROOT = Path(__file__).resolve().parents[1]


def leaves(node, prefix=""):
    if isinstance(node, dict) and set(node) != set(i18n.PLURAL_FORMS):  # a counted text is one leaf
        for key, value in node.items():
            yield from leaves(value, f"{prefix}{key}.")
    else:
        yield prefix[:-1], node


@cache  # read once per process: 600 tests ask for it (parsing both files each time took 0.2 s a test)
def _catalogue(lang):
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return dict(leaves(yaml.load((ROOT / "prompts" / f"{lang}.yaml").read_text(encoding="utf-8"), Loader=loader)))


def catalogue(lang):
    return dict(_catalogue(lang))


def test_same_keys_in_every_language():
    assert set(catalogue("nl")) == set(catalogue("en"))


@pytest.mark.parametrize("key", sorted(k for k, v in catalogue("nl").items() if isinstance(v, str)))
def test_same_placeholders_and_renders(key):
    nl, en = catalogue("nl")[key], catalogue("en")[key]
    assert i18n.placeholders(nl) == i18n.placeholders(en), key
    params = {name: "X" for name in i18n.placeholders(nl)}
    for lang in i18n.LANGUAGES:
        rendered = i18n.t(lang, key, **params)
        assert rendered.strip(), key
        assert "{" not in rendered.replace("{X}", ""), key


def test_every_key_used_in_code_exists():
    pattern = re.compile(r"""(?:\.t|i18n\.t|UserError)\(\s*(?:ctx\.lang,\s*|self\.lang,\s*|lang,\s*)?f?["']([a-z_]+\.[a-z_.{}0-9]+)["']""")
    known = set(catalogue("nl"))
    missing = []
    for path in list((ROOT / "bot").rglob("*.py")) + list((ROOT / "adapters").rglob("*.py")):
        for key in pattern.findall(path.read_text(encoding="utf-8")):
            if "{" in key:  # f-string key: check its fixed prefix exists
                prefix = key.split("{")[0]
                assert any(k.startswith(prefix) for k in known), (path.name, key)
            elif key not in known and not key.startswith("console.") | (f"console.{key}" in known):
                missing.append((path.name, key))
    assert missing == []


def test_user_values_are_escaped_in_prompts():
    text = i18n.t("nl", "network.role_set", name="*@channel* <!here>", role="trekker")
    assert "@\u2060channel" in text and "\\*" in text


def test_question_library_is_complete():
    lib = library()
    families = {}
    for key in lib.categories:
        families.setdefault(lib.names[key]["family"], []).append(key)
    assert len(families["aspect"]) == 7 and len(families["kolb"]) == 4 and len(families["derksen"]) == 4
    for category, questions in lib.by_category.items():
        assert len(questions) >= 5, category
        types = {q.type for q in questions}
        assert {"why", "whatfor"} <= types, category
        for q in questions:
            for lang in ("nl", "en"):
                assert 10 < len(q.texts[lang]) <= 160 and "?" in q.texts[lang], q.id
    ids = [q.id for qs in lib.by_category.values() for q in qs]
    assert len(ids) == len(set(ids))


def test_dates_for_people_are_written_by_timeutil_in_the_networks_language():
    # a date in figures (``14-10-2026``) is how Dutch writes it; English reads ``14 Oct 2026``
    # (bot.timeutil.format_short_date): no feature formats a day of the month itself
    pattern = re.compile(r"%d[-/.]%m")
    found = [path.name for path in list((ROOT / "bot").rglob("*.py")) + list((ROOT / "adapters").rglob("*.py"))
             if path.name != "timeutil.py" and pattern.search(path.read_text(encoding="utf-8"))]
    assert found == []


#: Dutch words for what the bot talks about (docs/voice.md's word list) that an English text never uses
DUTCH_WORDS = ("trekker", "procesbegeleider", "deelnemer", "bijeenkomst", "weekvraag", "oogst", "inbreng",
               "mededeling", "casus", "actieleren", "vooruitblik", "herinnering", "penvoerder", "leerdoel",
               "lerend netwerk", "gezin", "wethouder", "buurthuis")
#: where an English text names the Dutch word on purpose
DUTCH_ON_PURPOSE = {"help.commands.penvoerder.usage": "penvoerder"}


def _texts(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def test_english_texts_use_no_dutch_words():
    leaks = []
    for key, value in catalogue("en").items():
        for text in _texts(value):
            low = text.lower()
            leaks += [(key, word) for word in DUTCH_WORDS
                      if re.search(rf"\b{word}", low) and DUTCH_ON_PURPOSE.get(key) != word]
    assert leaks == []


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_command_references_use_the_languages_own_command_names(lang):
    # an English text says {/pause 2w}, a Dutch one {/pauze 2w}: each shows the name a member of a
    # network in that language sees in /help (Command.shown); both names work whatever the language
    from bamboe.features import FEATURES

    commands = [c for f in FEATURES for c in f.commands]
    shown = {c.shown(lang) for c in commands}
    other = {name: c.shown(lang) for c in commands for name in (c.name, *c.aliases)}
    wrong = []
    for key, value in catalogue(lang).items():
        for text in _texts(value):
            wrong += [(key, name, other.get(name)) for name in re.findall(r"\{/([a-z]+)", text) if name not in shown]
    assert wrong == []
