"""On Slack every command the bot mentions is one Slack accepts: a slash command of the manifest,
and after ``/bamboe`` a command the core knows.

Every prompt (both languages) is rendered as the Slack adapter renders it, and so is the help
the bot builds in code (``/bamboe help``, end to end).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from adapters.slack import render
from bamboe.features import FEATURES
from bot import i18n
from bot.registry import Registry
from tests.test_prompts import catalogue
from tests.test_slack_http import ANNA, slack_bot, wait_for

ROOT = Path(__file__).resolve().parents[1]
#: a slash command in rendered text (not a path or a URL: nothing word-like or ``/:.<&`` just before)
SLASH = re.compile(r"(?<![\w/:.<&;])/([A-Za-z][\w-]*)(?: +([A-Za-z][\w-]*))?")
#: Slack's own commands a prompt may point to (``/invite @Bamboe``)
BUILT_IN = {"/invite"}
#: the console's own texts (``bamboe demo``) are never sent to Slack
NOT_FOR_SLACK = ("console.",)


def manifest_commands() -> set[str]:
    manifest = yaml.safe_load((ROOT / "slack" / "manifest.yml").read_text(encoding="utf-8"))
    return {c["command"] for c in manifest["features"]["slash_commands"]}


COMMANDS = set(Registry.of(FEATURES).table)
SLACK = manifest_commands()


def unknown_commands(text: str) -> list[str]:
    """The commands in Slack-rendered ``text`` that a member could not type in Slack."""
    wrong = []
    for match in SLASH.finditer(text):
        slash, name = "/" + match.group(1), match.group(2)
        if slash in BUILT_IN:
            continue
        if slash == f"/{render.MAIN_COMMAND}":
            if name is not None and name not in COMMANDS:
                wrong.append(f"{slash} {name}")
        elif slash not in SLACK or match.group(1) not in COMMANDS:
            wrong.append(slash)
    return wrong


def test_the_checker_catches_what_slack_rejects() -> None:
    assert unknown_commands("Typ /status of /pauze 2w, of /invite @Bamboe") == ["/status", "/pauze"]
    assert unknown_commands("Typ /bamboe status, /bamboe onzin of /vier iets") == ["/bamboe onzin"]
    assert unknown_commands("Zie https://example.org/status en a/b") == []


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_prompt_names_only_commands_slack_accepts(lang: str) -> None:
    wrong = {}
    mentioned = 0
    for key, value in catalogue(lang).items():
        if not isinstance(value, str) or key.startswith(NOT_FOR_SLACK):
            continue
        # a placeholder may stand for a command name (``{/{command}}``): fill in one that exists
        text = i18n.t(lang, key, **{name: "status" for name in i18n.placeholders(value)})
        for shown in (render.to_mrkdwn(text), render.fallback(text)):
            mentioned += len(SLASH.findall(shown))
            if bad := unknown_commands(shown):
                wrong[key] = bad
    assert wrong == {}
    assert mentioned > 50  # the prompts do mention commands: the check is not vacuous


async def test_the_help_names_only_commands_slack_accepts(sqlite_url: str) -> None:
    async with slack_bot(sqlite_url) as bot:
        await bot.add_bot(ANNA)
        await bot.command(ANNA, "help")
        (answer,) = await wait_for(lambda: bot.slack.of("chat.postEphemeral"))
        text = answer.params["text"]
        assert len(SLASH.findall(text)) > 10
        assert unknown_commands(text) == []
