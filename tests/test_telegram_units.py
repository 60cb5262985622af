"""The Telegram adapter's pure parts: HTML rendering and splitting, update translation, and the
limits Telegram puts on what the core sends (callback data, command names)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from telegram import Bot, Update

from adapters.telegram.adapter import CALLBACK_DATA_MAX, command_lists
from adapters.telegram.render import TELEGRAM_LIMIT, render_parts, to_html
from adapters.telegram.translate import Me, addressed_elsewhere, button_press, from_update
from bamboe.features import FEATURES
from bot.events import (
    BotAdded,
    BotRemoved,
    ButtonPress,
    ChatRef,
    MemberJoined,
    MemberLeft,
    MessageEdited,
    MessageIn,
)
from bot.markup import escape
from bot.registry import Registry
from tests.telegram_standin import callback, chat_member, group, message, private, user

ROOT = Path(__file__).resolve().parents[1]
ME = Me(123, "Bamboe_Bot")
BOT_USER = user(123, "Bamboe", is_bot=True, username="Bamboe_Bot")
ANNA = user(1001, "Anna", "de Vries", language="nl-NL")
GROUP = group()
BOT = Bot("123:ABC")


def events(body: dict) -> list:
    return from_update(Update.de_json({"update_id": 1, **body}, BOT), ME)


# ---------------------------------------------------------------------------- rendering
def test_markup_becomes_telegram_html() -> None:
    assert to_html("*vet* en _schuin_ en `code`") == "<b>vet</b> en <i>schuin</i> en <code>code</code>"
    assert to_html("a < b & c > d") == "a &lt; b &amp; c &gt; d"
    assert to_html("*<b>x</b>*") == "<b>&lt;b&gt;x&lt;/b&gt;</b>"
    assert to_html("2 * 3 en een_woord") == "2 * 3 en een_woord"  # unbalanced markers stay text


def test_user_text_cannot_add_markup() -> None:
    typed = '<a href="https://evil.example">klik</a> *vet* @channel'
    out = to_html(escape(typed))
    assert "<a" not in out and "<b>" not in out and "&lt;a href=" in out and "*vet*" in out


def test_short_text_is_one_part() -> None:
    assert render_parts("Hallo *daar*") == ["Hallo <b>daar</b>"]


def test_long_text_splits_on_lines_and_never_inside_a_tag() -> None:
    text = "\n".join(f"*regel {i}* " + "x" * 50 for i in range(200))
    parts = render_parts(text)
    assert len(parts) > 1 and all(len(p) < TELEGRAM_LIMIT for p in parts)
    for part in parts:
        assert part.count("<b>") == part.count("</b>") and part.startswith("<b>regel")
    assert "\n".join(parts) == to_html(text)


def test_one_very_long_line_is_cut_between_words() -> None:
    text = "_" + "woord " * 2000 + "_ & " + "<" * 5000
    parts = render_parts(text)
    assert len(parts) > 2 and all(len(p) < TELEGRAM_LIMIT for p in parts)
    for part in parts:
        assert part.count("<i>") == part.count("</i>")
        assert not re.search(r"&[a-z]*$", part)  # no entity cut in half


@given(st.text(alphabet=st.sampled_from(list("ab *_`\\<>&\n")), max_size=9000))
def test_any_text_renders_into_valid_parts(text: str) -> None:
    for part in render_parts(text):
        assert len(part) <= 4000
        without_tags = re.sub(r"</?(?:b|i|code)>", "", part)
        assert "<" not in without_tags and ">" not in without_tags
        assert not re.search(r"&(?!amp;|lt;|gt;)", without_tags)


# ---------------------------------------------------------------------------- translation
def test_group_message_with_reply() -> None:
    nudge = message(GROUP, BOT_USER, "Vraag van de week", message_id=50)
    (event,) = events({"message": message(GROUP, ANNA, "Mijn antwoord", message_id=51, reply_to=nudge)})
    assert event == MessageIn(event.chat, event.sender, "Mijn antwoord", "51", "50")
    assert (event.chat.chat_id, event.chat.title, event.chat.private) == (str(GROUP["id"]), GROUP["title"], False)
    assert (event.sender.user_id, event.sender.name, event.sender.language) == ("1001", "Anna de Vries", "nl")


def test_private_message() -> None:
    (event,) = events({"message": message(private(ANNA), ANNA, "/start hi")})
    assert event.chat.private and event.chat.chat_id == "1001" and event.text == "/start hi"


def test_commands_for_another_bot_are_ignored() -> None:
    assert addressed_elsewhere("/status@otherbot", ME)
    assert not addressed_elsewhere("/status@bamboe_bot extra", ME)
    assert not addressed_elsewhere("/status", ME)
    assert not addressed_elsewhere("hallo @otherbot", ME)
    assert events({"message": message(GROUP, ANNA, "/help@OtherBot")}) == []
    assert len(events({"message": message(GROUP, ANNA, "/help@BAMBOE_BOT")})) == 1


def test_a_topic_message_is_not_a_reply_to_the_topic() -> None:
    root = message(GROUP, ANNA, None, message_id=77, forum_topic_created={"name": "T", "icon_color": 7322096})
    (event,) = events({"message": message(GROUP, ANNA, "hoi", thread=77, reply_to=root)})
    assert event.reply_to is None
    answer_to = message(GROUP, BOT_USER, "vraag", message_id=80, thread=77)
    (event,) = events({"message": message(GROUP, ANNA, "antwoord", thread=77, reply_to=answer_to)})
    assert event.reply_to == "80"


def test_other_bots_anonymous_admins_channels_and_media_are_ignored() -> None:
    other_bot = user(555, "Other", is_bot=True)
    assert events({"message": message(GROUP, other_bot, "/status")}) == []
    anonymous = user(1087968824, "Group", is_bot=True, username="GroupAnonymousBot")
    assert events({"message": message(GROUP, anonymous, "/status", sender_chat=GROUP)}) == []
    channel = {"id": -100777, "type": "channel", "title": "Kanaal"}
    assert events({"message": message(channel, None, "post")}) == []
    assert events({"message": message(GROUP, ANNA, None, photo=[])}) == []


def test_joining_and_leaving() -> None:
    cem = user(1003, "Cem")
    added = events({"message": message(GROUP, ANNA, new_chat_members=[BOT_USER, cem])})
    assert [type(e) for e in added] == [BotAdded, MemberJoined]
    assert added[0].added_by.user_id == "1001" and added[1].added_by.user_id == "1001"
    (joined,) = events({"message": message(GROUP, cem, new_chat_members=[cem])})
    assert joined.added_by is None
    (left,) = events({"message": message(GROUP, cem, left_chat_member=cem)})
    assert isinstance(left, MemberLeft) and left.person.user_id == "1003"
    assert events({"message": message(GROUP, ANNA, left_chat_member=BOT_USER)}) == []


def test_my_chat_member_adds_the_bot_only_when_it_arrives() -> None:
    (added,) = events(chat_member(GROUP, ANNA, BOT_USER, "left", "member"))
    assert isinstance(added, BotAdded) and added.added_by.user_id == "1001"
    assert len(events(chat_member(GROUP, ANNA, BOT_USER, "kicked", "administrator"))) == 1
    assert events(chat_member(GROUP, ANNA, BOT_USER, "member", "administrator")) == []  # a promotion
    assert events(chat_member(GROUP, ANNA, BOT_USER, "member", "left")) == [BotRemoved(ChatRef("telegram", str(GROUP["id"]), GROUP["title"]))]
    assert events(chat_member(GROUP, ANNA, BOT_USER, "administrator", "kicked")) == [BotRemoved(ChatRef("telegram", str(GROUP["id"]), GROUP["title"]))]
    assert events(chat_member(GROUP, ANNA, BOT_USER, "left", "kicked")) == []  # it was not there
    assert events(chat_member(private(ANNA), ANNA, BOT_USER, "kicked", "member")) == []


def test_callback_query_becomes_a_button_press() -> None:
    on = message(GROUP, BOT_USER, "Wie brengt een casus in?", message_id=60)
    update = Update.de_json({"update_id": 2, **callback(ANNA, on, "round:volunteer:4")}, BOT)
    press = button_press(update)
    assert press == ButtonPress(press.chat, press.sender, "round:volunteer:4", "60")
    assert press.chat.chat_id == str(GROUP["id"]) and press.sender.user_id == "1001"


# ---------------------------------------------------------------------------- Telegram's limits
def _button_actions() -> list[tuple[str, ast.expr]]:
    found = []
    for path in (ROOT / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Button":
                action = node.args[1] if len(node.args) > 1 else next(
                    (k.value for k in node.keywords if k.arg == "action"), None)
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", action))
    return found


def test_every_core_button_action_fits_telegrams_callback_data() -> None:
    """Each ``Button(label, action)`` in the core must stay within 64 bytes, even with the
    largest ids: every formatted value counts as 20 characters (a 64-bit id). A plain variable is
    taken as a pass-through (``outgoing_from_row`` rebuilding stored buttons); anything else fails."""
    actions = _button_actions()
    assert actions, "no Button(...) found in bot/ - has the core changed how it makes buttons?"
    for where, action in actions:
        if isinstance(action, ast.Constant) and isinstance(action.value, str):
            size = len(action.value.encode())
        elif isinstance(action, ast.Name) and where.startswith("bot/core.py"):
            continue
        elif isinstance(action, ast.JoinedStr):
            size = sum(len(v.value.encode()) if isinstance(v, ast.Constant) else 20 for v in action.values)
        else:
            raise AssertionError(f"{where}: a button action that is not a literal; check it fits in 64 bytes")
        assert size <= CALLBACK_DATA_MAX, f"{where}: button action may be {size} bytes, Telegram allows 64"


def test_command_menu_names_and_descriptions_are_valid() -> None:
    for language, commands in command_lists(Registry.of(FEATURES).commands).items():
        assert commands, language
        names = [c.command for c in commands]
        assert len(names) == len(set(names))
        for c in commands:
            assert re.fullmatch(r"[a-z0-9_]{1,32}", c.command)
            assert 1 <= len(c.description) <= 256


def test_an_edited_text_message_is_an_edit_and_other_edits_are_nothing() -> None:
    edited = {**message(GROUP, ANNA, "Mijn antwoord, zonder naam", message_id=51), "edit_date": 1767700000}
    (event,) = events({"edited_message": edited})
    assert isinstance(event, MessageEdited)
    assert (event.chat.chat_id, event.person.user_id, event.message_id, event.text) == (
        str(GROUP["id"]), "1001", "51", "Mijn antwoord, zonder naam")
    caption = {**message(GROUP, ANNA, None, message_id=52), "caption": "een foto", "edit_date": 1767700000}
    as_group = {**edited, "sender_chat": GROUP}  # an anonymous admin, writing as the group
    assert events({"edited_message": caption}) == [] and events({"edited_message": as_group}) == []
