"""Configuration from the environment (and an optional ``.env`` file), via pydantic-settings.

pydantic-settings gives typed, validated settings with clear errors for free, instead of
hand-parsing ``os.environ``; secrets stay out of logs and reprs (``SecretStr``).
"""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_path
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.database import sqlite_url_for


def default_database_path() -> Path:
    """The zero-configuration SQLite file in the user's data directory."""
    return user_data_path("bamboe", appauthor=False) / "bamboe.sqlite3"


class Settings(BaseSettings):
    """Everything ``bamboe run`` reads from its environment."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = Field(default=None, description="sqlite:///… or postgresql://…")
    bamboe_http_host: str = "0.0.0.0"
    bamboe_http_port: int = 8080
    bamboe_log_level: str = "INFO"
    bamboe_log_format: str = "text"
    #: how long a replica's claim on a message holds; after a crash, another replica takes it over then
    bamboe_lease_seconds: float = Field(default=90.0, ge=1.0)
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
    #: the device and its token, encrypted with a key derived from the password, in the database)
    matrix_access_token: SecretStr | None = None
    matrix_password: SecretStr | None = None
    #: the device to use (with a password: log in as this device); optional
    matrix_device_id: str | None = None
    #: comma-separated server names whose users may invite the bot; ``*`` for any; default: the bot's own
    matrix_allowed_servers: str | None = None

    def resolved_database_url(self) -> str:
        """``DATABASE_URL`` or the default SQLite file."""
        return self.database_url or sqlite_url_for(default_database_path())

    def configured_platforms(self) -> list[str]:
        """The platforms whose tokens are set (Slack: a bot token, or an OAuth client id and
        secret for multi-workspace installs; Matrix: a homeserver, a user and a token or password)."""
        found = []
        if self.slack_bot_token or (self.slack_client_id and self.slack_client_secret):
            found.append("slack")
        if self.telegram_bot_token:
            found.append("telegram")
        if self.matrix_homeserver_url and self.matrix_user_id and (self.matrix_access_token or self.matrix_password):
            found.append("matrix")
        return found
