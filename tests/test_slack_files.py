"""Files with Slack messages: the text first, then ``files_upload_v2`` (getUploadURLExternal, the
bytes, completeUploadExternal) to the same conversation and thread; rate limits and failures of
the upload are retried without posting the text again.

End to end (HTTP mode, the real core and database) for the data export, and against the
``SlackSender`` alone for the cases the core does not produce yet."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.adapter import PENDING_FILES, SlackSender, filename
from bot.delivery import RetryAfter, Undeliverable
from bot.events import Address, Attachment, Button, Outgoing
from bot.models import OutboxMessage
from tests.slack_standin import SlackStandin
from tests.test_slack_http import ANNA, CHANNEL, slack_bot, wait_for, wait_rows

ANNA_DM = "D" + ANNA.lstrip("U")


# ---------------------------------------------------------------------------- end to end
async def test_data_export_goes_to_a_dm_with_a_json_file(sqlite_url):
    async with slack_bot(sqlite_url) as bot:
        await bot.add_bot(ANNA)
        status, _ = await bot.command(ANNA, "mijngegevens")
        assert status == 200
        (shared,) = await wait_for(lambda: bot.slack.shared)
        # the text privately, in the IM channel from conversations.open; the file after it, same channel
        (text,) = [c for c in bot.slack.posts() if c.params["channel"] == ANNA_DM]
        assert text.method == "chat.postMessage"
        assert [c.params["users"] for c in bot.slack.of("conversations.open")] == [ANNA]
        methods = [c.method for c in bot.slack.calls]
        assert methods.index("chat.postMessage", methods.index("conversations.open")) \
            < methods.index("files.getUploadURLExternal") < methods.index("files.completeUploadExternal")
        assert shared.channel_id == ANNA_DM and shared.thread_ts is None
        (file,) = shared.files
        assert file.filename.startswith("bamboe-mijn-gegevens-") and file.filename.endswith(".json")
        assert file.data is not None and file.length == len(file.data)
        data = json.loads(file.data)
        assert data["profile"]["name"] == "Anna de Vries"
        # nothing of it in the channel
        assert not [c for c in bot.slack.posts() if c.params["channel"] == CHANNEL and "gegevens" in c.params["text"]]
        # the row is sent with the text's ts, and its personal content is gone
        (row,) = await wait_rows(bot, OutboxMessage, OutboxMessage.kind == "privacy", OutboxMessage.state == "sent")
        assert row.platform_message_id == text.result["ts"]
        assert row.files == [] and row.text == ""


async def test_rate_limited_upload_is_retried_without_repeating_the_text(sqlite_url):
    async with slack_bot(sqlite_url) as bot:
        await bot.add_bot(ANNA)
        bot.slack.throttle_next(1, retry_after=1, method="files.completeUploadExternal")
        await bot.command(ANNA, "mijngegevens")
        (shared,) = await wait_for(lambda: bot.slack.shared)
        assert len(bot.slack.of("files.completeUploadExternal")) == 2  # the 429, then the retry
        assert len([c for c in bot.slack.posts() if c.params["channel"] == ANNA_DM]) == 1
        assert shared.channel_id == ANNA_DM and json.loads(shared.files[0].data or b"")["profile"]["name"]
        (row,) = await wait_rows(bot, OutboxMessage, OutboxMessage.kind == "privacy", OutboxMessage.state == "sent")
        (post,) = [c for c in bot.slack.posts() if c.params["channel"] == ANNA_DM]
        assert row.platform_message_id == post.result["ts"]
        assert row.attempts == 1  # a rate limit is not a failed attempt
        (adapter,) = [a for a in bot.app.adapters if a.platform == "slack"]
        assert adapter.sender.text_sent == {}


# ---------------------------------------------------------------------------- the sender alone
@asynccontextmanager
async def sender() -> AsyncIterator[tuple[SlackSender, SlackStandin]]:
    async with SlackStandin(users={ANNA: {"real_name": "Anna de Vries"}}) as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.url, retry_handlers=[])
        yield SlackSender(client), slack


EXPORT = Attachment("export.json", "application/json", b'{"naam": "Anna"}')
CHART = Attachment("grafiek", "image/png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)))


def msg(address: Address, *, files: tuple[Attachment, ...] = (EXPORT,), outbox_id: int | None = 7,
        ephemeral: bool = False, text: str = "Je *gegevens*") -> Outgoing:
    return Outgoing(address, "privacy", text, outbox_id=outbox_id, ephemeral=ephemeral, files=files)


async def test_files_follow_the_text_in_its_thread():
    async with sender() as (s, slack):
        ts = await s.send(msg(Address("slack", CHANNEL, None, "1767600000.000042"), files=(EXPORT, CHART)))
        (post,) = slack.posts()
        assert post.params["thread_ts"] == "1767600000.000042" and ts
        (shared,) = slack.shared  # one completeUploadExternal for both files
        assert (shared.channel_id, shared.thread_ts) == (CHANNEL, "1767600000.000042")
        assert [(f.filename, f.data) for f in shared.files] == [("export.json", EXPORT.data),
                                                                ("grafiek.png", CHART.data)]
        assert shared.titles == ["export.json", "grafiek"]
        assert [c.params["length"] for c in slack.of("files.getUploadURLExternal")] == [
            str(len(EXPORT.data)), str(len(CHART.data))]
        assert s.text_sent == {}


async def test_ephemeral_answer_sends_its_files_to_the_dm_not_the_channel():
    async with sender() as (s, slack):
        await s.send(msg(Address("slack", CHANNEL, ANNA, "1767600000.000042"), ephemeral=True))
        (post,) = slack.posts()
        assert post.method == "chat.postEphemeral" and post.params["channel"] == CHANNEL
        (shared,) = slack.shared
        assert (shared.channel_id, shared.thread_ts) == (ANNA_DM, None)


async def test_files_without_text_are_uploaded_alone():
    async with sender() as (s, slack):
        assert await s.send(msg(Address("slack", None, ANNA), text="  ")) is None
        assert slack.posts() == [] and slack.shared[0].channel_id == ANNA_DM


@pytest.mark.parametrize("method", ["files.getUploadURLExternal", "files.completeUploadExternal", "upload"])
async def test_rate_limited_upload_retries_the_files_only(method):
    async with sender() as (s, slack):
        slack.throttle_next(1, retry_after=3, method=method)
        message = msg(Address("slack", None, ANNA))
        with pytest.raises(RetryAfter) as caught:
            await s.send(message)
        assert caught.value.seconds == (3 if method != "upload" else 5)
        (post,) = slack.posts()
        assert slack.shared == [] and s.text_sent == {7: [post.result["ts"]]}
        assert await s.send(message) == post.result["ts"]
        assert len(slack.posts()) == 1 and len(slack.shared) == 1
        assert s.text_sent == {}


async def test_transient_upload_failure_then_retry_does_not_repeat_the_text():
    async with sender() as (s, slack):
        slack.fail_next("files.completeUploadExternal", "internal_error")
        message = msg(Address("slack", CHANNEL))
        with pytest.raises(RuntimeError):
            await s.send(message)
        assert s.text_sent == {7: ["1767600000.000001"]}
        assert await s.send(message) == "1767600000.000001"
        assert len(slack.posts()) == 1 and len(slack.shared) == 1
        # another message (another outbox row) with the same content is posted as usual
        await s.send(msg(Address("slack", CHANNEL), outbox_id=8))
        assert len(slack.posts()) == 2 and len(slack.shared) == 2


async def test_upload_the_workspace_refuses_is_undeliverable():
    async with sender() as (s, slack):
        slack.fail_next("files.getUploadURLExternal", "file_uploads_disabled")
        with pytest.raises(Undeliverable):
            await s.send(msg(Address("slack", CHANNEL)))
        assert len(slack.posts()) == 1 and slack.shared == [] and s.text_sent == {}
        with pytest.raises(Undeliverable):  # an empty file: Slack says missing_argument
            await s.send(msg(Address("slack", CHANNEL), files=(Attachment("leeg.txt", "text/plain", b""),)))


async def test_text_failure_sends_no_files():
    async with sender() as (s, slack):
        slack.fail_next("chat.postMessage", "channel_not_found")
        with pytest.raises(Undeliverable):
            await s.send(msg(Address("slack", CHANNEL), files=(EXPORT,)))
        assert slack.of("files.getUploadURLExternal") == [] and s.text_sent == {}
        slack.throttle_next(1, method="chat.postMessage")
        with pytest.raises(RetryAfter):
            await s.send(msg(Address("slack", CHANNEL), files=(EXPORT,)))
        assert slack.of("files.getUploadURLExternal") == [] and s.text_sent == {}


async def test_buttons_and_files_together():
    async with sender() as (s, slack):
        message = Outgoing(Address("slack", CHANNEL), "rapport", "Het *rapport*", (Button("Meer", "x:1"),),
                           outbox_id=1, files=(CHART,))
        await s.send(message)
        (post,) = slack.posts()
        assert post.params["blocks"] and slack.shared[0].files[0].filename == "grafiek.png"


async def test_pending_files_are_bounded():
    async with sender() as (s, slack):
        for i in range(PENDING_FILES + 5):
            s._remember(i, ["x"])
        assert len(s.text_sent) == PENDING_FILES and next(iter(s.text_sent)) == 5


def test_filename_gets_an_extension_from_the_mime_type():
    assert filename(Attachment("rapport", "application/pdf", b"x")) == "rapport.pdf"
    assert filename(Attachment("rapport.html", "text/html", b"x")) == "rapport.html"
    assert filename(Attachment(" ", "image/png", b"x")) == "bestand.png"


async def test_a_long_text_goes_as_several_posts_and_a_retry_posts_only_what_is_missing():
    from adapters.slack.adapter import CAPABILITIES

    text = "\n".join(f"*Regel {i}*: " + "woord & " * 20 for i in range(60))  # ≈ 14,000 characters of mrkdwn
    message = Outgoing(Address("slack", CHANNEL, None, "1767600000.000042"), "x", text, (Button("Klaar", "x:1"),),
                       outbox_id=9)
    async with sender() as (s, slack):
        slack.throttle_next(1, retry_after=2, method="chat.postMessage", after=1)  # the second post is refused
        with pytest.raises(RetryAfter):
            await s.send(message)
        first = slack.posts()[0].result["ts"]
        assert s.text_sent == {9: [first]}
        assert await s.send(message) == first
        posts = [c for c in slack.posts() if c.result is not None]
        assert len(posts) >= 5 and len({c.params["text"] for c in posts}) == len(posts)  # none posted twice
        for call in posts:
            shown = "\n".join(b["text"]["text"] for b in call.params.get("blocks", []) if b["type"] == "section")
            assert len(shown or call.params["text"]) <= CAPABILITIES.max_text
            assert call.params["thread_ts"] == "1767600000.000042"
        assert [bool(c.params.get("blocks")) for c in posts] == [False] * (len(posts) - 1) + [True]
        assert [bool(c.params.get("metadata")) for c in posts] == [False] * (len(posts) - 1) + [True]
        assert s.text_sent == {}
