"""The Teams app package (``bamboe teams package``): ``manifest.json``, an English localisation
file and the two icons, zipped as Teams' admin centre takes them.

The manifest follows the app manifest schema v1.22 (the current version in Microsoft's
documentation): one bot with the scopes ``team``, ``groupChat`` and ``personal``, command lists
(at most ten commands each, in Dutch; English through ``en-us.json``), ``validDomains`` with the
bot's own host (for the download links), and the resource-specific consent permissions
``ChannelMessage.Read.Group`` and ``ChatMessage.Read.Chat``, so that replies to the weekly question
reach the bot without an @mention. The icons are drawn here: a 192×192 colour icon and a 32×32
outline icon (white on transparent), as Teams requires.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from bot import i18n
from bot.markup import plain
from bot.png import png
from bot.registry import Command

SCHEMA_VERSION = "1.22"
SCHEMA = f"https://developer.microsoft.com/json-schemas/teams/v{SCHEMA_VERSION}/MicrosoftTeams.schema.json"
LOCALIZATION_SCHEMA = (f"https://developer.microsoft.com/json-schemas/teams/v{SCHEMA_VERSION}/"
                       "MicrosoftTeams.Localization.schema.json")
#: the manifest's required top-level fields (schema v1.22)
REQUIRED = ("manifestVersion", "version", "id", "developer", "name", "description", "icons", "accentColor")
SCOPES = ("team", "groupChat", "personal")
#: a command list holds at most this many commands; titles and descriptions have their own limits
MAX_COMMANDS, MAX_TITLE, MAX_DESCRIPTION = 10, 32, 128
#: the commands shown in Teams' command menu, in this order (the rest work too, see help)
MENU = ("help", "status", "vier", "pauze", "actieleren", "volgende", "leerdoel", "mijngegevens", "rapport",
        "privacy")
RSC = ("ChannelMessage.Read.Group", "ChatMessage.Read.Chat")
ACCENT = "#2E7D32"
#: Bamboe's green and a lighter leaf green for the colour icon
GREEN, LEAF = (46, 125, 50), (129, 199, 132)
#: the schema's ``semver`` definition (the app's version "must follow the semver standard")
SEMVER = re.compile(r"^([0-9]|[1-9]+[0-9]*)\.([0-9]|[1-9]+[0-9]*)\.([0-9]|[1-9]+[0-9]*)$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

def texts(language: str) -> tuple[str, str, str]:
    """The app's full name, short and full description in ``language`` (from ``prompts/``)."""
    return tuple(plain(i18n.t(language, f"teams.app.{key}"), prefix="") for key in ("name", "short", "full"))


class PackageError(ValueError):
    """The package cannot be built from these settings (no app id, no public address)."""


def command_list(commands: Sequence[Command], language: str) -> list[dict[str, str]]:
    """The command menu in ``language``: title (the command as typed) and its summary."""
    by_name = {c.name: c for c in commands if c.listed}
    chosen = [by_name[name] for name in MENU if name in by_name]
    chosen += [c for c in by_name.values() if c not in chosen]
    out = []
    for cmd in chosen[:MAX_COMMANDS]:
        key = f"help.commands.{cmd.name}.summary"
        found = next((tongue for tongue in (language, *i18n.LANGUAGES) if i18n.has(tongue, key)), None)
        description = plain(i18n.t(found, key), prefix="").strip() if found else cmd.shown(language)
        out.append({"title": cmd.shown(language)[:MAX_TITLE], "description": description[:MAX_DESCRIPTION]})
    return out


def manifest(app_id: str, public_url: str, commands: Sequence[Command], *, version: str = "1.0.0",
             developer: str = "Bamboe", privacy_url: str | None = None, terms_url: str | None = None) -> dict[str, Any]:
    """The app manifest (Dutch by default) for the Entra app ``app_id`` served at ``public_url``."""
    if not GUID.match(app_id or ""):
        raise PackageError("TEAMS_APP_ID must be the app registration's application (client) id, a GUID")
    parts = urlsplit(public_url or "")
    if parts.scheme != "https" or not parts.hostname:
        raise PackageError("TEAMS_PUBLIC_URL (or --public-url) must be the https address Bamboe is served at")
    site = f"https://{parts.netloc}"
    name, short, full = texts("nl")
    return {
        "$schema": SCHEMA,
        "manifestVersion": SCHEMA_VERSION,
        "version": version,
        "id": app_id,
        "localizationInfo": {"defaultLanguageTag": "nl-nl",
                             "additionalLanguages": [{"languageTag": "en-us", "file": "en-us.json"}]},
        "developer": {"name": developer, "websiteUrl": site + "/", "privacyUrl": privacy_url or site + "/",
                      "termsOfUseUrl": terms_url or site + "/"},
        "name": {"short": "Bamboe", "full": name},
        "description": {"short": short, "full": full},
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": ACCENT,
        "bots": [{
            "botId": app_id,
            "scopes": list(SCOPES),
            "isNotificationOnly": False,
            "supportsFiles": False,
            "supportsCalling": False,
            "supportsVideo": False,
            "commandLists": [{"scopes": list(SCOPES), "commands": command_list(commands, "nl")}],
        }],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [parts.netloc],
        "webApplicationInfo": {"id": app_id},
        "authorization": {"permissions": {"resourceSpecific": [{"name": name, "type": "Application"}
                                                                for name in RSC]}},
    }


def localization(commands: Sequence[Command]) -> dict[str, Any]:
    """``en-us.json``: the English names, descriptions and command list."""
    name, short, full = texts("en")
    out: dict[str, Any] = {"$schema": LOCALIZATION_SCHEMA, "name.short": "Bamboe", "name.full": name,
                           "description.short": short, "description.full": full}
    for n, command in enumerate(command_list(commands, "en")):
        out[f"bots[0].commandLists[0].commands[{n}].title"] = command["title"]
        out[f"bots[0].commandLists[0].commands[{n}].description"] = command["description"]
    return out


def problems(doc: dict[str, Any]) -> list[str]:
    """What makes ``doc`` an invalid manifest for the rules checked here (required fields, the
    version, the publisher's name and addresses, the limits on names, descriptions and command
    lists, the accent colour, the bot's scopes)."""
    found = [f"missing {field}" for field in REQUIRED if field not in doc]
    if not SEMVER.match(str(doc.get("version", ""))):
        found.append("version is not MAJOR.MINOR.PATCH (e.g. 1.0.1)")
    developer = doc.get("developer", {})
    if not 1 <= len(developer.get("name", "")) <= 32:
        found.append("developer.name must be 1 to 32 characters")
    for url in ("websiteUrl", "privacyUrl", "termsOfUseUrl"):
        if not re.match(r"^https://", developer.get(url, ""), re.IGNORECASE) or len(developer.get(url, "")) > 2048:
            found.append(f"developer.{url} is not an https address")
    if len(doc.get("name", {}).get("short", "")) > 30:
        found.append("name.short longer than 30")
    if len(doc.get("name", {}).get("full", "")) > 100:
        found.append("name.full longer than 100")
    if len(doc.get("description", {}).get("short", "")) > 80:
        found.append("description.short longer than 80")
    if len(doc.get("description", {}).get("full", "")) > 4000:
        found.append("description.full longer than 4000")
    if not re.match(r"^#[0-9a-fA-F]{6}$", doc.get("accentColor", "")):
        found.append("accentColor is not #RRGGBB")
    for bot in doc.get("bots", []):
        if not set(bot.get("scopes", [])) <= set(SCOPES):
            found.append("unknown bot scope")
        for commands in bot.get("commandLists", []):
            if len(commands["commands"]) > MAX_COMMANDS:
                found.append("more than 10 commands in a list")
            for command in commands["commands"]:
                if not 1 <= len(command["title"]) <= MAX_TITLE or len(command["description"]) > MAX_DESCRIPTION:
                    found.append(f"command {command['title']!r} too long")
    return found


def icon(size: int, pixel: Any) -> bytes:
    """A square RGBA PNG whose pixel at (x, y) is ``pixel(x, y)`` → (r, g, b, a)."""
    return png(size, size, b"".join(bytes(pixel(x, y)) for y in range(size) for x in range(size)), 4, 9)


def _stalks(x: float, y: float) -> bool:
    """Three bamboo stalks with joints, on a unit square."""
    for left, top in ((0.22, 0.18), (0.44, 0.08), (0.66, 0.26)):
        if left <= x <= left + 0.12 and top <= y <= 0.9:
            return not any(abs(y - joint) < 0.012 for joint in (top + 0.2, top + 0.42, top + 0.62))
    return False


def color_icon(size: int = 192) -> bytes:
    """The colour icon: light stalks on Bamboe's green (full bleed, as Teams wants)."""
    return icon(size, lambda x, y: (*LEAF, 255) if _stalks(x / size, y / size) else (*GREEN, 255))


def outline_icon(size: int = 32) -> bytes:
    """The outline icon: white stalks on a transparent background."""
    return icon(size, lambda x, y: (255, 255, 255, 255) if _stalks((x + .5) / size, (y + .5) / size)
               else (0, 0, 0, 0))


def package(app_id: str, public_url: str, commands: Sequence[Command], **options: Any) -> bytes:
    """The zipped app package."""
    doc = manifest(app_id, public_url, commands, **options)
    wrong = problems(doc)
    if wrong:
        raise PackageError("; ".join(wrong))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(doc, ensure_ascii=False, indent=2))
        archive.writestr("en-us.json", json.dumps(localization(commands), ensure_ascii=False, indent=2))
        archive.writestr("color.png", color_icon())
        archive.writestr("outline.png", outline_icon())
    return out.getvalue()
