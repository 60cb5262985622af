"""The Slack adapter's pure parts: mrkdwn rendering and escaping, Block Kit, inbound text,
slash-command translation and Web API error mapping."""

from __future__ import annotations

import html
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.errors import SlackApiError

from adapters.slack import render
from adapters.slack.adapter import SeenEvents, command_text, is_dm, translate_error
from adapters.telegram.render import to_html
from bot import i18n
from bot.delivery import RetryAfter, Undeliverable
from bot.events import Button
from bot.markup import escape, plain, spans

DANGEROUS = ("<!", "<@", "<#", "<http")


def test_styles_become_mrkdwn():
    assert render.to_mrkdwn("*Vet* en _schuin_ en `code`") == "*Vet* en _schuin_ en `code`"
    assert render.to_mrkdwn("*_beide_*") == "*_beide_*"
    assert render.to_mrkdwn("* los * en") == " *los*  en"  # markers hug the text, spaces stay outside
    assert render.to_mrkdwn("5 * 3 en \\_x") == "5 * 3 en _x"  # unbalanced or escaped markers stay text


def test_markers_hug_the_text():
    assert render.to_mrkdwn("*Vet *rest") == "*Vet* rest"


def test_escaping_of_the_three_characters():
    assert render.to_mrkdwn("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert render.to_mrkdwn("`<!here>`") == "`&lt;!here&gt;`"


@pytest.mark.parametrize("attack", ["<!channel>", "<!here>", "<@U123>", "<#C123|x>", "<!subteam^S1|@team>",
                                    "<https://evil.example|klik>", "&lt;!channel&gt;"])
def test_echoed_user_text_is_inert(attack):
    out = render.to_mrkdwn(f"*Naam:* {escape(attack)}")
    assert not any(d in out for d in DANGEROUS)


@given(st.text())
def test_any_escaped_user_text_renders_inert(text):
    for template in ("{}", "*{}*", "_{}_", "`{}`", "Hallo {}!"):
        out = render.to_mrkdwn(template.format(escape(text)))
        assert not any(d in out for d in DANGEROUS)
        assert not any(d in render.fallback(template.format(escape(text))) for d in DANGEROUS)


@given(st.text())
def test_even_raw_text_renders_inert(text):
    assert "<" not in render.to_mrkdwn(text) and ">" not in render.to_mrkdwn(text)


def test_blocks_with_buttons():
    blocks = render.blocks("*Ronde* gestart", (Button("Ik breng een casus in", "round:volunteer:1"),
                                              Button("x" * 100, "action:2")))
    assert blocks[0] == {"type": "section", "text": {"type": "mrkdwn", "text": "*Ronde* gestart", "verbatim": True}}
    elements = blocks[1]["elements"]
    assert [e["value"] for e in elements] == ["round:volunteer:1", "action:2"]
    assert [e["action_id"] for e in elements] == ["bamboe_0", "bamboe_1"]
    assert len(elements[1]["text"]["text"]) == render.BUTTON_LABEL_LIMIT


def test_long_text_is_split_into_sections_at_line_ends():
    text = "\n".join(f"regel {i} " + "x" * 90 for i in range(100))
    blocks = render.blocks(text, (Button("ok", "a"),))
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert len(sections) > 1 and all(len(s) <= render.SECTION_LIMIT for s in sections)
    assert "\n".join(sections) == text


def test_split_never_cuts_an_entity():
    pieces = render.split_lines("a" * 2998 + "&amp;bc", 3000)
    assert pieces == ["a" * 2998, "&amp;bc"]


@pytest.mark.parametrize("name", ["Venlo *vet* _schuin_", "a*b*c _d_ ~e~ `f` * <!channel> &amp; <@U1>"])
def test_user_text_stays_literal_and_keeps_the_bots_formatting(name: str) -> None:
    """Issue 17, item 14: a member's markers neither style their words nor break the bot's bold."""
    rendered = i18n.t("nl", "network.welcome", name=name)  # "… Ik help *{name}* om …"
    assert render.needs_rich_text(rendered)
    elements = render.rich_text(rendered)["elements"][0]["elements"]
    assert {e["type"] for e in elements} == {"text"}  # never a mention, broadcast or link element
    shown = "".join(s.text for s in spans(escape(name)))  # as typed ("@" gets a word joiner)
    assert {"type": "text", "text": shown, "style": {"bold": True}} in elements  # bold, literal
    expected = [(render.slash_command(s.text) if s.command else s.text, s.bold, s.italic, s.code)
                for s in spans(rendered)]
    got = [(e["text"], *(bool(e.get("style", {}).get(k)) for k in ("bold", "italic", "code"))) for e in elements]
    assert got == expected  # exactly the bot's own styling, as the core meant it
    # Telegram (HTML) and the console: the same text, literal
    assert f"<b>{html.escape(shown, quote=False)}</b>" in to_html(rendered)
    assert f"Ik help {shown} om" in plain(rendered)


def test_inbound_text_becomes_plain():
    text = "Hoi <@U1|anna> en <@U2>, zie <#C1|algemeen> <https://a.nl|hier> <https://b.nl> <!here> 1 &lt; 2 &amp; 3"
    assert render.from_slack(text, {"U2": "Bram"}) == (
        "Hoi @anna en @Bram, zie #algemeen hier (https://a.nl) https://b.nl @here 1 < 2 & 3")
    assert render.mentioned_users(text) == ["U2"]


def test_command_text():
    assert command_text("/bamboe", "") == "/help"
    assert command_text("/bamboe", "  status ") == "/status"
    assert command_text("/bamboe", "/status") == "/status"
    assert command_text("/bamboe", "netwerk naam A &amp; B") == "/netwerk naam A & B"
    assert command_text("/actieleren", "") == "/actieleren"
    assert command_text("/actieleren", "cem") == "/actieleren cem"
    assert command_text("/mededeling", "Morgen vrij") == "/mededeling Morgen vrij"
    assert command_text("/vier", "het boek is af") == "/vier het boek is af"
    assert command_text("/anders", "x") is None


def test_is_dm():
    assert is_dm("D123") and is_dm("G1", "directmessage") and not is_dm("C123", "algemeen")


def test_seen_events_is_bounded():
    seen = SeenEvents(size=2)
    assert seen.first_time("a") and not seen.first_time("a")
    assert seen.first_time("b") and seen.first_time("c") and seen.first_time("a")  # "a" fell out
    assert seen.first_time(None) and seen.first_time(None)


def _error(status: int, data: dict, headers: dict | None = None) -> SlackApiError:
    response = SimpleNamespace(status_code=status, data=data, headers=headers or {}, get=data.get)
    return SlackApiError("failed", response)


def test_error_translation():
    assert isinstance(translate_error(_error(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})),
                      RetryAfter)
    assert translate_error(_error(429, {}, {"Retry-After": "7"})).seconds == 7
    for code in ("channel_not_found", "not_in_channel", "is_archived", "account_inactive", "user_not_found",
                 "cannot_dm_bot"):
        assert isinstance(translate_error(_error(200, {"ok": False, "error": code})), Undeliverable)
    transient = translate_error(_error(200, {"ok": False, "error": "internal_error"}))
    assert not isinstance(transient, Undeliverable | RetryAfter)


def test_text_showing_styling_characters_goes_as_rich_text():
    echoed = "Naam: " + escape("*vet* _schuin_ ~weg~ `x` <!here> & @channel")
    assert render.needs_rich_text(echoed)
    assert not render.needs_rich_text("*Vet* en _schuin_ en `code`")  # styling the core meant
    assert not render.needs_rich_text("Typ ⟦pauze 2w⟧")  # a command reference is not literal text
    block = render.rich_text("*Let op:* " + escape("*vet* <!here>") + " ⟦vier iets⟧")
    (section,) = block["elements"]
    assert block["type"] == "rich_text" and section["type"] == "rich_text_section"
    assert section["elements"] == [
        {"type": "text", "text": "Let op:", "style": {"bold": True}},
        {"type": "text", "text": " *vet* <!here> "},
        {"type": "text", "text": "/vier iets"},
    ]


def test_text_is_split_at_line_ends_and_never_after_a_backslash():
    text = "\n".join(f"*regel {i}*" for i in range(10))
    pieces = render.split_text(text, 25)
    assert all(len(p) <= 25 for p in pieces) and "\n".join(pieces) == text
    assert render.split_text("a" * 9 + "\\*" + "b" * 5, 10) == ["a" * 9, "\\*" + "b" * 5]
