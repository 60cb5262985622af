"""The app manifest an admin pastes into Slack matches what the adapter handles and the docs explain."""

from pathlib import Path

import yaml

from adapters.slack.adapter import MAIN_COMMAND, REDIRECT_PATH, SHORTCUTS
from adapters.slack.oauth import DEFAULT_SCOPES

ROOT = Path(__file__).resolve().parents[1]


def manifest() -> dict:
    return yaml.safe_load((ROOT / "slack" / "manifest.yml").read_text(encoding="utf-8"))


def test_commands_match_the_adapter():
    commands = manifest()["features"]["slash_commands"]
    assert {c["command"] for c in commands} == {MAIN_COMMAND, *SHORTCUTS}
    for c in commands:
        assert c["description"] and c["usage_hint"] and c["should_escape"] is False
        assert len(c["description"]) <= 100


def test_events_interactivity_and_socket_mode():
    m = manifest()
    assert m["display_information"]["name"] == "Bamboe" and m["features"]["bot_user"]["display_name"] == "Bamboe"
    assert set(m["settings"]["event_subscriptions"]["bot_events"]) == {
        "message.channels",
        "message.groups",
        "message.im",
        "member_joined_channel",
        "member_left_channel",
        "channel_left",
        "group_left",
        "channel_archive",
        "group_archive",
        "channel_unarchive",
        "group_unarchive",
        "channel_rename",
        "group_rename",
        "app_uninstalled",
        "tokens_revoked",
    }
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["settings"]["socket_mode_enabled"] is True
    assert len(m["display_information"]["description"]) <= 140
    assert 175 <= len(m["display_information"]["long_description"]) <= 4000


def test_every_scope_is_explained_in_the_docs():
    docs = (ROOT / "docs" / "slack.md").read_text(encoding="utf-8")
    for scope in manifest()["oauth_config"]["scopes"]["bot"]:
        assert f"| `{scope}` |" in docs, scope


def test_every_event_is_handled_and_explained_in_the_docs():
    docs = (ROOT / "docs" / "slack.md").read_text(encoding="utf-8")
    adapter = (ROOT / "adapters" / "slack" / "adapter.py").read_text(encoding="utf-8")
    for event in manifest()["settings"]["event_subscriptions"]["bot_events"]:
        assert f"`{event}`" in docs, event
        if not event.startswith("message."):  # message.* all come as the "message" event
            assert f'app.event("{event}")' in adapter, event


def test_scopes_cover_what_the_sender_calls():
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    # chat.postMessage/postEphemeral, conversations.open, files_upload_v2
    assert {"chat:write", "im:write", "files:write"} <= scopes


def test_oauth_scopes_and_redirect_url():
    m = manifest()
    # multi-workspace installs ask for exactly the manifest's scopes
    assert list(DEFAULT_SCOPES) == m["oauth_config"]["scopes"]["bot"]
    # the redirect URL is there to uncomment, at the path Bamboe serves
    text = (ROOT / "slack" / "manifest.yml").read_text(encoding="utf-8")
    assert f"#   - https://<host>{REDIRECT_PATH}" in text
    assert "redirect_urls" not in m["oauth_config"]  # commented out: Socket Mode needs none
