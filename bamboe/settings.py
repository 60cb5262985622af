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
from bot.secrets import KEY_SETTING, NEW_KEY_HINT, SecretBox, SecretError


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

    def resolved_teams_token_url(self) -> str:
        """``TEAMS_TOKEN_URL`` or the tenant's Entra v2 token endpoint (single-tenant bots get
        their token from their own tenant)."""
        return self.teams_token_url or (
            f"https://login.microsoftonline.com/{self.teams_tenant_id}/oauth2/v2.0/token")
