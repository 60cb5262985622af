"""Fuzzing the platforms' inbound side and the safe-output guarantee across both renderers:
random Telegram updates and Slack texts never crash the translation, and whatever a user wrote,
once the core has echoed it (escaped) and an adapter rendered it, can never ping a channel,
mention someone, or become markup or a link.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import Bot, Update

from adapters.slack.render import from_slack, to_mrkdwn
from adapters.telegram.render import render_parts, to_html
from adapters.telegram.translate import Me, from_update
from bot import i18n
from bot.events import MessageIn

ME = Me(id=999, username="bamboe_bot")
BOT = Bot("123:ABC")
user = st.fixed_dictionaries({"id": st.integers(1, 2**40), "is_bot": st.booleans(),
                              "first_name": st.text(max_size=40)},
                             optional={"last_name": st.text(max_size=40), "language_code": st.sampled_from(["nl", "en", "xx", ""])})
chat = st.fixed_dictionaries({"id": st.integers(-2**45, 2**40), "type": st.sampled_from(["private", "group", "supergroup", "channel"])},
                             optional={"title": st.text(max_size=60), "is_forum": st.booleans()})
message = st.fixed_dictionaries(
    {"message_id": st.integers(1, 2**31), "date": st.integers(0, 2**31), "chat": chat},
    optional={"from": user, "text": st.text(max_size=500), "new_chat_members": st.lists(user, max_size=3),
              "left_chat_member": user, "message_thread_id": st.integers(1, 2**31),
              "reply_to_message": st.fixed_dictionaries({"message_id": st.integers(1, 2**31),
                                                         "date": st.integers(0, 2**31), "chat": chat})})


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2**31), message)
def test_random_telegram_updates_translate_without_crashing(update_id: int, msg: dict) -> None:
    update = Update.de_json({"update_id": update_id, "message": msg}, BOT)
    events = from_update(update, ME)
    for event in events:
        if isinstance(event, MessageIn):
            assert event.text == msg["text"]
            assert event.chat.chat_id == str(msg["chat"]["id"])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=600))
def test_slack_inbound_text_never_crashes(text: str) -> None:
    assert isinstance(from_slack(text), str)


DANGEROUS_SLACK = re.compile(r"<[!@#]|<(?:https?|mailto):|<[^>]*\|")
DANGEROUS_HTML = re.compile(r"<(?!/?(?:b|i|code)>)", re.IGNORECASE)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=400))
def test_echoed_user_text_is_inert_on_slack_and_telegram(text: str) -> None:
    for template in ("warm.celebrated", "toolkit.idea", "network.perspective_set"):
        params = {"name": text, "text": text, "who": text, "nr": 1, "perspective": "x"}
        rendered = i18n.t("nl", template, **params)
        slack = to_mrkdwn(rendered)
        assert not DANGEROUS_SLACK.search(slack), slack
        assert "<!channel>" not in slack and "<!here>" not in slack
        for part in render_parts(rendered):
            assert not DANGEROUS_HTML.search(part), part
        assert not DANGEROUS_HTML.search(to_html(rendered))
