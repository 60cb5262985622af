"""Configuration from the environment (and an optional ``.env`` file), as pydantic-settings reads it.

pydantic-settings gives typed, validated settings with clear errors, and secrets stay out of logs
and reprs (:class:`SecretStr`). Importing pydantic and building the model costs a sixth of a
start's CPU, though (docs/performance.md, "Start-up"), so the common case is read here directly:
no ``.env`` file, and every value given plainly (a text, digits for a number). Anything else (a
``.env`` file, a value pydantic would convert or refuse) goes to the same pydantic-settings model
as before (:func:`pydantic_model`), so the result, or the error message, is exactly pydantic's
(``tests/test_settings.py`` compares the two).
"""

from __future__ import annotations

import math
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

from platformdirs import user_data_path

from bot.database import sqlite_url_for
from bot.secrets import KEY_SETTING, NEW_KEY_HINT, SecretBox, SecretError

#: the ``.env`` file read by default (in the working directory)
ENV_FILE = ".env"
#: lower bounds of number settings (pydantic's ``ge``)
MINIMUM = {"bamboe_lease_seconds": 1.0}
_DIGITS = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def default_database_path() -> Path:
    """The zero-configuration SQLite file in the user's data directory."""
    return user_data_path("bamboe", appauthor=False) / "bamboe.sqlite3"


class SecretStr:
    """A secret setting: shown as ``**********``; :meth:`get_secret_value` gives the text (as
    pydantic's ``SecretStr``)."""

    __slots__ = ("_secret_value",)

    def __init__(self, secret_value: str) -> None:
        self._secret_value = secret_value

    def get_secret_value(self) -> str:
        """The secret itself."""
        return self._secret_value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and self.get_secret_value() == other.get_secret_value()

    def __hash__(self) -> int:
        return hash(self.get_secret_value())

    def __len__(self) -> int:
        return len(self._secret_value)

    def __str__(self) -> str:
        return "**********" if self._secret_value else ""

    def __repr__(self) -> str:
        return f"SecretStr('{self}')"


class _Unsure(Exception):
    """A value the direct reading leaves to pydantic."""


def _text(value: Any, minimum: float | None) -> str:
    if type(value) is not str:
        raise _Unsure
    return value


def _optional_text(value: Any, minimum: float | None) -> str | None:
    return None if value is None else _text(value, minimum)


def _integer(value: Any, minimum: float | None) -> int:
    if type(value) is int or (type(value) is str and _DIGITS.fullmatch(value)):
        return int(value)
    raise _Unsure


def _number(value: Any, minimum: float | None) -> float:
    if type(value) in (int, float) or (type(value) is str and _DECIMAL.fullmatch(value)):
        number = float(value)
        if math.isfinite(number) and (minimum is None or number >= minimum):
            return number
    raise _Unsure


def _optional_secret(value: Any, minimum: float | None) -> SecretStr | None:
    if value is None or isinstance(value, SecretStr):
        return value
    return SecretStr(_text(value, minimum))


#: how each annotation of :class:`Settings` is read directly
_READERS = {"str": _text, "str | None": _optional_text, "int": _integer, "float": _number,
            "SecretStr | None": _optional_secret}


class Settings:
    """Everything ``bamboe run`` reads from its environment."""

    #: sqlite:///… or postgresql://…
    database_url: str | None = None
    bamboe_http_host: str = "0.0.0.0"
    bamboe_http_port: int = 8080
    bamboe_log_level: str = "INFO"
    bamboe_log_format: str = "text"
    #: how long a replica's claim on a message holds; after a crash, another replica takes it over then
    bamboe_lease_seconds: float = 90.0  # at least MINIMUM
    #: Fernet key(s), comma-separated, for the secrets kept in the database (the first one encrypts)
    bamboe_secret_key: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str | None = None
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    #: multi-workspace (OAuth): the redirect URL registered with the app, e.g.
    #: ``https://bamboe.example.org/slack/oauth_redirect`` (optional when the app has only one)
    slack_redirect_uri: str | None = None
    #: multi-workspace (OAuth): comma-separated bot scopes to ask for; default: the manifest's
    slack_scopes: str | None = None
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_url: str | None = None
    #: the homeserver's client-server API, e.g. ``https://matrix.example.org``
    matrix_homeserver_url: str | None = None
    #: the bot's full user id, e.g. ``@bamboe:example.org``
    matrix_user_id: str | None = None
    #: an access token of the bot's account (or set MATRIX_PASSWORD: bamboe logs in once and keeps
    #: the device and its token, sealed with BAMBOE_SECRET_KEY, in the database)
    matrix_access_token: SecretStr | None = None
    matrix_password: SecretStr | None = None
    #: the device to use (with a password: log in as this device); optional
    matrix_device_id: str | None = None
    #: comma-separated server names whose users may invite the bot; ``*`` for any; default: the bot's own
    matrix_allowed_servers: str | None = None
    #: Microsoft Teams: the Entra app registration's application (client) id, its client secret and
    #: the one tenant it serves (activities from other tenants are refused)
    teams_app_id: str | None = None
    teams_app_password: SecretStr | None = None
    teams_tenant_id: str | None = None
    #: where the Bot Framework publishes the keys that sign inbound tokens (a sovereign cloud has its own)
    teams_openid_metadata_url: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    #: the client-credentials token endpoint for outbound calls; default: the tenant's Entra endpoint
    teams_token_url: str | None = None
    #: the public https address of this server, for the signed download links of files in Teams
    #: (e.g. ``https://bamboe.example.org``); default: the address Teams reached the bot at
    teams_public_url: str | None = None

    def __init__(self, _env_file: str | os.PathLike[str] | None = ENV_FILE, **values: Any) -> None:
        """Read the settings: ``values`` first, then the environment (names in any case), then
        ``_env_file`` (None: no file), then the defaults. Raises pydantic's ``ValidationError``
        (a ``ValueError``) for a value that is not valid."""
        read = _read_directly(_env_file, values)
        if read is None:
            model = pydantic_model()(_env_file=_env_file, **values)
            read = {name: _from_pydantic(getattr(model, name)) for name in FIELDS}
        self.__dict__.update(read)

    def __repr__(self) -> str:
        return f"Settings({', '.join(f'{name}={getattr(self, name)!r}' for name in FIELDS)})"

    def resolved_database_url(self) -> str:
        """``DATABASE_URL`` or the default SQLite file."""
        return self.database_url or sqlite_url_for(default_database_path())

    def secret_box(self) -> SecretBox | None:
        """The box for ``BAMBOE_SECRET_KEY`` (None when unset); raises ``SecretError`` for a bad key."""
        return SecretBox.from_setting(self.bamboe_secret_key.get_secret_value() if self.bamboe_secret_key else None)

    def require_secret_box(self, what: str) -> SecretBox:
        """The box, for ``what`` (a platform mode that keeps secrets in the database): raises a
        ``SecretError`` that says what to do when no key is set."""
        box = self.secret_box()
        if box is None:
            raise SecretError(f"{what} keeps tokens in the database, encrypted: set {KEY_SETTING}; {NEW_KEY_HINT}")
        return box

    def configured_platforms(self) -> list[str]:
        """The platforms whose tokens are set (Slack: a bot token, or an OAuth client id and
        secret for multi-workspace installs; Teams: any of app id, secret and tenant, so that a
        missing one is reported rather than Teams silently off; Matrix: a homeserver, a user and a
        token or password)."""
        found = []
        if self.slack_bot_token or (self.slack_client_id and self.slack_client_secret):
            found.append("slack")
        if self.telegram_bot_token:
            found.append("telegram")
        if self.teams_app_id or self.teams_app_password or self.teams_tenant_id:
            found.append("teams")  # the adapter names what is missing, if any
        if self.matrix_homeserver_url and self.matrix_user_id and (self.matrix_access_token or self.matrix_password):
            found.append("matrix")
        return found

    def configuration_problems(self) -> list[str]:
        """What is half configured, naming the missing variables: Slack's OAuth pair, Teams'
        three values, Matrix's homeserver, user and token or password. ``bamboe run`` refuses to
        start with any of these rather than run with that platform silently off."""
        problems = []
        if bool(self.slack_client_id) != bool(self.slack_client_secret):
            missing, given = (("SLACK_CLIENT_SECRET", "SLACK_CLIENT_ID") if self.slack_client_id
                              else ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"))
            problems.append(f"Slack with several workspaces (OAuth) needs {missing} too ({given} is set; "
                            "see docs/slack.md, section 9)")
        teams = (("TEAMS_APP_ID", self.teams_app_id), ("TEAMS_APP_PASSWORD", self.teams_app_password),
                 ("TEAMS_TENANT_ID", self.teams_tenant_id))
        if any(value for _, value in teams) and not all(value for _, value in teams):
            missing_teams = [name for name, value in teams if not value]
            problems.append(f"Teams needs {' and '.join(missing_teams)} too (see docs/teams.md)")
        matrix = (("MATRIX_HOMESERVER_URL", self.matrix_homeserver_url), ("MATRIX_USER_ID", self.matrix_user_id),
                  ("MATRIX_ACCESS_TOKEN or MATRIX_PASSWORD", self.matrix_access_token or self.matrix_password))
        if any(value for _, value in matrix) and not all(value for _, value in matrix):
            missing_matrix = [name for name, value in matrix if not value]
            problems.append(f"Matrix needs {' and '.join(missing_matrix)} too (see docs/matrix.md)")
        return problems

    def resolved_teams_token_url(self) -> str:
        """``TEAMS_TOKEN_URL`` or the tenant's Entra v2 token endpoint (single-tenant bots get
        their token from their own tenant)."""
        return self.teams_token_url or (
            f"https://login.microsoftonline.com/{self.teams_tenant_id}/oauth2/v2.0/token")


#: every setting (the environment variable is its name in capitals) and how it is read
FIELDS: dict[str, str] = dict(Settings.__annotations__)
if not set(FIELDS.values()) <= set(_READERS):
    raise TypeError(f"a setting of a type bamboe.settings does not read: {FIELDS}")


def _read_directly(env_file: str | os.PathLike[str] | None, values: dict[str, Any]) -> dict[str, Any] | None:
    """The settings read without pydantic, or None when pydantic must decide: a ``.env`` file
    exists (pydantic-settings' rules for it are many), or a value is not plainly valid."""
    if env_file is not None and os.path.lexists(os.path.expanduser(env_file)):
        return None
    environ = {name.lower(): value for name, value in os.environ.items()}
    read: dict[str, Any] = {}
    try:
        for name, kind in FIELDS.items():
            if name in values:
                read[name] = _READERS[kind](values[name], MINIMUM.get(name))
            elif name in environ:
                read[name] = _READERS[kind](environ[name], MINIMUM.get(name))
            else:
                read[name] = getattr(Settings, name)
    except _Unsure:
        return None
    return read


def _from_pydantic(value: Any) -> Any:
    return SecretStr(value.get_secret_value()) if hasattr(value, "get_secret_value") else value


@cache
def pydantic_model() -> type:
    """The pydantic-settings model of :class:`Settings` (the same fields, defaults and bounds,
    ``.env`` file, extra variables ignored): what decides when the direct reading cannot."""
    import pydantic
    from pydantic import Field
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class Base(BaseSettings):
        model_config = SettingsConfigDict(env_file=ENV_FILE, extra="ignore")

    types = {"str": str, "str | None": str | None, "int": int, "float": float,
             "SecretStr | None": pydantic.SecretStr | None}
    fields: dict[str, Any] = {}
    for name, kind in FIELDS.items():
        bounds = {"ge": MINIMUM[name]} if name in MINIMUM else {}
        fields[name] = (types[kind], Field(default=getattr(Settings, name), **bounds))
    return pydantic.create_model("Settings", __base__=Base, **fields)
