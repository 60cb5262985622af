"""The Teams adapter's pure parts: rendering and splitting, reading activities, the app package."""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from adapters.teams import translate
from adapters.teams.manifest import RSC, SCHEMA, SCHEMA_VERSION, PackageError, manifest, package, problems
from adapters.teams.render import PART_BYTES, render_parts, to_xml
from bamboe.cli import main
from bamboe.features import FEATURES
from bot.events import MessageDeleted, MessageEdited
from bot.markup import command, escape
from bot.registry import Registry
from tests.teams_standin import APP_ID, BOT_ID, channel, group_chat, message, personal, user

COMMANDS = Registry.of(FEATURES).commands
URL = "https://smba.trafficmanager.net/emea/"
ANNA = user(1, "Anna de Vries")


# ---------------------------------------------------------------------------- rendering
def test_markup_becomes_teams_xml_and_user_text_stays_inert() -> None:
    typed = escape("<at>Cem</at> *x* [a](https://e.example) ~y~ # & <b>")
    assert to_xml(f"*Vet* _schuin_ `code` {typed}") == (
        "<b>Vet</b> <i>schuin</i> <code>code</code> &lt;at&gt;Cem&lt;/at&gt; &#42;x&#42; "
        "&#91;a&#93;(https://e.example) &#126;y&#126; &#35; &amp; &lt;b&gt;")


def test_command_references_are_typed_as_members_type_them() -> None:
    text = f"Typ {command('pauze 2w')} om te pauzeren."
    assert to_xml(text, group=True) == "Typ @Bamboe pauze 2w om te pauzeren."
    assert to_xml(text, group=False) == "Typ pauze 2w om te pauzeren."


@pytest.mark.parametrize("line", ["woord " * 9000, "x" * 30000, "é" * 30000, "<&>" * 9000, "*vet " * 6000 + "*"])
def test_long_texts_are_split_within_teams_limit_without_losing_text(line: str) -> None:
    text = f"Kop\n\n{line}\nslot"
    parts = render_parts(text)
    assert len(parts) > 1
    assert all(len(p.encode()) <= PART_BYTES for p in parts)
    joined = "".join(parts)
    assert joined.count("<b>") == joined.count("</b>")
    assert "Kop" in parts[0] and parts[-1].endswith("slot")


def test_lines_become_breaks() -> None:
    assert render_parts("a\n\nb") == ["a<br><br>b"]


# ---------------------------------------------------------------------------- reading activities
def test_a_channel_mention_is_addressed_and_stripped() -> None:
    activity = message(channel(), ANNA, "pauze 2w", URL, mention=True)
    (event,) = translate.message_events(activity)
    assert (event.text, event.addressed, event.reply_to) == ("pauze 2w", True, None)
    assert event.chat.chat_id == "19:team-general@thread.tacv2" and not event.chat.private
    assert event.sender.user_id == ANNA["aadObjectId"] and event.sender.name == "Anna de Vries"


def test_a_channel_message_without_a_mention_is_not_addressed() -> None:
    (event,) = translate.message_events(message(channel(), ANNA, "pauze 2w", URL))
    assert not event.addressed


def test_a_reply_in_a_channel_thread_answers_the_thread_root() -> None:
    (event,) = translate.message_events(message(channel(), ANNA, "antwoord", URL, thread="1700000000123"))
    assert event.reply_to == "1700000000123" and event.chat.chat_id == "19:team-general@thread.tacv2"


def test_a_quoted_reply_answers_the_quoted_message_and_the_placeholder_goes() -> None:
    (event,) = translate.message_events(message(group_chat(), ANNA, "antwoord", URL, quote="1700000000456"))
    assert (event.text, event.reply_to, event.addressed) == ("antwoord", "1700000000456", False)


def test_an_older_client_quote_is_read_from_the_html_attachment() -> None:
    activity = message(group_chat(), ANNA, "antwoord", URL)
    activity["attachments"] = [{"contentType": "text/html", "content":
                                '<blockquote itemscope="" itemtype="http://schema.skype.com/Reply" itemid="1700000000789">'
                                '<strong>Bamboe</strong><p>Vraag</p></blockquote><p>antwoord</p>'}]
    (event,) = translate.message_events(activity)
    assert event.reply_to == "1700000000789"


def test_text_in_a_1to1_is_addressed_and_private() -> None:
    (event,) = translate.message_events(message(personal(ANNA), ANNA, "help", URL))
    assert event.addressed and event.chat.private


def test_long_ids_are_shortened_stably_and_guests_keep_their_object_id() -> None:
    long_id = "19:" + "x" * 120 + "@thread.v2"
    assert translate.short_id(long_id) == translate.short_id(long_id) and len(translate.short_id(long_id)) <= 100
    assert translate.user_key({"id": "29:1abc", "aadObjectId": "ABCD-EF"}) == "abcd-ef"
    assert translate.user_key({"id": "29:1abc"}).startswith("h:")


def test_a_card_submit_is_a_button_press() -> None:
    activity = message(personal(ANNA), ANNA, "", URL, value={"bamboe": "forget:no"}, reply_to="17")
    (press,) = translate.message_events(activity)
    assert (press.action, press.message_id) == ("forget:no", "17")


def test_membership_changes() -> None:
    from tests.teams_standin import conversation_update

    activity = conversation_update(channel(), URL, added=[{"id": BOT_ID}, user(2, "Bram")], removed=[user(3, "Cem")])
    events, added, removed = translate.membership_events(activity, {user(2, "Bram")["id"]: "Bram Peters"})
    assert added and not removed
    assert [type(e).__name__ for e in events] == ["MemberJoined", "MemberLeft"]
    assert events[0].person.name == "Bram Peters"


# ---------------------------------------------------------------------------- the app package
def _png_size(data: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    raw = zlib.decompress(data[data.index(b"IDAT") + 4:data.index(b"IEND") - 8])
    stride = width * 4 + 1
    pixels = [tuple(raw[r * stride + 1 + c * 4: r * stride + 5 + c * 4]) for r in range(height) for c in range(width)]
    return width, height, pixels


def test_the_package_holds_a_valid_manifest_and_the_icons_teams_requires() -> None:
    data = package(APP_ID, "https://bamboe.example.org", COMMANDS)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert sorted(archive.namelist()) == ["color.png", "en-us.json", "manifest.json", "outline.png"]
    doc = json.loads(archive.read("manifest.json"))
    assert problems(doc) == []
    assert doc["$schema"] == SCHEMA and doc["manifestVersion"] == SCHEMA_VERSION == "1.22"
    (bot,) = doc["bots"]
    assert bot["botId"] == APP_ID and bot["scopes"] == ["team", "groupChat", "personal"]
    titles = [c["title"] for c in bot["commandLists"][0]["commands"]]
    assert titles[:4] == ["help", "status", "vier", "pauze"] and len(titles) == 10
    english = json.loads(archive.read("en-us.json"))
    assert english["bots[0].commandLists[0].commands[3].title"] == "pause"
    assert english["description.short"] and english["description.short"] != doc["description"]["short"]
    assert doc["validDomains"] == ["bamboe.example.org"]
    assert [p["name"] for p in doc["authorization"]["permissions"]["resourceSpecific"]] == list(RSC)
    assert doc["webApplicationInfo"]["id"] == APP_ID
    width, height, pixels = _png_size(archive.read("color.png"))
    assert (width, height) == (192, 192) and all(p[3] == 255 for p in pixels)
    width, height, pixels = _png_size(archive.read("outline.png"))
    assert (width, height) == (32, 32)
    assert set(pixels) == {(255, 255, 255, 255), (0, 0, 0, 0)}  # white on transparent, nothing else


def test_the_manifest_checks_catch_what_teams_refuses() -> None:
    doc = manifest(APP_ID, "https://bamboe.example.org", COMMANDS)
    del doc["accentColor"]
    doc["bots"][0]["commandLists"][0]["commands"].append({"title": "x" * 40, "description": ""})
    assert problems(doc) == ["missing accentColor", "accentColor is not #RRGGBB", "more than 10 commands in a list",
                             f"command {'x' * 40!r} too long"]


@pytest.mark.parametrize("option, value, problem", [
    ("developer", "Gemeente Venlo, afdeling Sociaal Domein", "developer.name must be 1 to 32 characters"),
    ("version", "2", "version is not MAJOR.MINOR.PATCH (e.g. 1.0.1)"),
    ("version", "1.0.0-beta", "version is not MAJOR.MINOR.PATCH (e.g. 1.0.1)"),
    ("privacy_url", "www.venlo.nl/privacy", "developer.privacyUrl is not an https address"),
    ("terms_url", "ftp://venlo.nl/terms", "developer.termsOfUseUrl is not an https address"),
])
def test_package_options_teams_would_refuse_are_caught(option: str, value: str, problem: str) -> None:
    """The schema's limits (teams/v1.22/MicrosoftTeams.schema.json): developer.name at most 32
    characters, the developer's addresses https URLs, the version MAJOR.MINOR.PATCH."""
    assert problems(manifest(APP_ID, "https://bamboe.example.org", COMMANDS, **{option: value})) == [problem]
    with pytest.raises(PackageError, match=re.escape(problem)):
        package(APP_ID, "https://bamboe.example.org", COMMANDS, **{option: value})


def test_bamboe_teams_package_names_a_wrong_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["teams", "package", "--app-id", APP_ID, "--public-url", "https://b.example.org"]
    assert main([*args, "--developer", "x" * 33]) == 2
    assert "developer.name" in capsys.readouterr().err and not (tmp_path / "bamboe-teams.zip").exists()
    assert main([*args, "--version", "1.0.1", "--developer", "Gemeente Venlo"]) == 0


@pytest.mark.parametrize("app_id, url", [("not-a-guid", "https://b.example.org"), (APP_ID, "http://b.example.org"),
                                         (APP_ID, "")])
def test_the_package_needs_a_guid_and_an_https_address(app_id: str, url: str) -> None:
    with pytest.raises(PackageError):
        package(app_id, url, COMMANDS)


def test_bamboe_teams_package_writes_the_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEAMS_APP_ID", APP_ID)
    monkeypatch.setenv("TEAMS_PUBLIC_URL", "https://bamboe.gemeente.example")
    assert main(["teams", "package", "--out", "bamboe-teams.zip"]) == 0
    doc = json.loads(zipfile.ZipFile(tmp_path / "bamboe-teams.zip").read("manifest.json"))
    assert doc["validDomains"] == ["bamboe.gemeente.example"]
    monkeypatch.delenv("TEAMS_APP_ID")
    assert main(["teams", "package", "--out", "x.zip"]) == 2
    assert "TEAMS_APP_ID" in capsys.readouterr().err


def test_a_partial_teams_configuration_is_reported_not_ignored() -> None:
    from adapters.teams.adapter import TeamsAdapter, TeamsConfigError
    from bamboe.settings import Settings

    settings = Settings(_env_file=None, teams_app_id=APP_ID, teams_app_password="s")
    assert settings.configured_platforms() == ["teams"]
    with pytest.raises(TeamsConfigError, match="TEAMS_TENANT_ID"):
        TeamsAdapter(settings, None)
    assert Settings(_env_file=None).configured_platforms() == []
    assert Settings(_env_file=None, teams_tenant_id="t").resolved_teams_token_url() == \
        "https://login.microsoftonline.com/t/oauth2/v2.0/token"


def test_an_edit_and_a_deletion_are_found_by_the_messages_id_and_an_undelete_brings_nothing_back() -> None:
    anna = user(1, "Anna de Vries")
    sent = message(channel(), anna, "Mevrouw Jansen belde", "https://smba.example/emea/")
    edit = {**sent, "type": "messageUpdate", "text": "Een bewoner belde",
            "channelData": {**sent["channelData"], "eventType": "editMessage"}}
    (edited,) = translate.change_events(edit)
    assert isinstance(edited, MessageEdited)
    assert (edited.message_id, edited.text, edited.person.user_id) == (sent["id"], "Een bewoner belde",
                                                                      translate.user_key(anna))
    gone = {k: v for k, v in sent.items() if k != "text"} | {
        "type": "messageDelete", "channelData": {**sent["channelData"], "eventType": "softDeleteMessage"}}
    (deleted,) = translate.change_events(gone)
    assert isinstance(deleted, MessageDeleted) and deleted.message_id == sent["id"]
    assert deleted.chat == edited.chat == translate.chat_ref(sent)
    undelete = {**edit, "channelData": {**sent["channelData"], "eventType": "undeleteMessage"}}
    assert translate.change_events(undelete) == []
