"""The app manifest an admin pastes into Slack matches what the adapter handles and the docs explain."""

from pathlib import Path

import yaml

from adapters.slack.adapter import MAIN_COMMAND, SHORTCUTS

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
        "message.channels", "message.groups", "message.im", "member_joined_channel", "member_left_channel"}
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["settings"]["socket_mode_enabled"] is True
    assert len(m["display_information"]["description"]) <= 140
    assert 175 <= len(m["display_information"]["long_description"]) <= 4000


def test_every_scope_is_explained_in_the_docs():
    docs = (ROOT / "docs" / "slack.md").read_text(encoding="utf-8")
    for scope in manifest()["oauth_config"]["scopes"]["bot"]:
        assert f"| `{scope}` |" in docs, scope


def test_scopes_cover_what_the_sender_calls():
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    # chat.postMessage/postEphemeral, conversations.open, files_upload_v2
    assert {"chat:write", "im:write", "files:write"} <= scopes
