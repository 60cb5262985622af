"""Multi-workspace installs: slack-bolt's OAuth flow on our own database.

``GET /slack/install`` hands out a ``state`` (stored in ``slack_oauth_states`` and set as a
cookie) and redirects to Slack's consent page; Slack sends the browser back to
``GET /slack/oauth_redirect`` with a ``code``, which is exchanged for a bot token
(``oauth.v2.access``) once state and cookie match. The installation is kept in
``slack_installations``/``slack_bots`` by slack-sdk's ``AsyncSQLAlchemyInstallationStore``, its
tokens sealed (:class:`.store.SealedInstallationStore`); bolt's ``authorize`` then finds each
workspace's token there. The browser gets a small bilingual
page (:mod:`.pages`), also when something went wrong.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.oauth import AuthorizeUrlGenerator
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import pages
from adapters.slack.store import Team
from bamboe.settings import Settings

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
#: how long an install link's state is valid
STATE_SECONDS = 600
#: the bot scopes asked for, unless SLACK_SCOPES says otherwise (the manifest's, in its order)
DEFAULT_SCOPES = (
    "commands",
    "chat:write",
    "files:write",
    "channels:history",
    "groups:history",
    "im:history",
    "im:write",
    "channels:read",
    "groups:read",
    "im:read",
    "users:read",
)
HTML = "text/html; charset=utf-8"
#: a Slack workspace (T…) or Enterprise Grid org (E…) id, as ``/slack/install?team=`` may carry
TEAM_ID = re.compile(r"[TE][A-Z0-9]{2,31}")

Installed = Callable[[Team, Any], Awaitable[None]]


class Redact(logging.Filter):
    """What slack-bolt and slack-sdk may log, made safe; on every logger the adapter hands them
    (bolt copies the filter to the loggers it derives from those).

    - DEBUG records are dropped: the libraries' DEBUG lines carry request and response bodies
      (message text). Their level otherwise follows the root logger (``BAMBOE_LOG_LEVEL``).
    - bolt logs a request with a bad signature or a stale timestamp with its whole body (INFO):
      that line is replaced by one without the body (only how far the timestamp is off).
      Likewise the body bolt appends to "a global middleware skipped ``next()``".
    - OAuth codes and tokens are redacted (bolt logs a failed code exchange with the code).
    - A message keeps its first line only and at most :data:`MAX_MESSAGE` characters, so a crafted
      value can neither forge log lines nor flood the log.
    """

    PATTERNS = (
        re.compile(r"(code: )\S+"),
        re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+"),
        re.compile(r"\bxapp-[A-Za-z0-9-]+"),
    )
    BAD_SIGNATURE = "Invalid request signature detected"
    #: bolt appends the request body after this
    BODY_SUFFIX = " for the request ("
    MAX_MESSAGE = 500

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop DEBUG records; rewrite the others without bodies, secrets or extra lines."""
        if record.levelno <= logging.DEBUG:
            return False
        message = record.getMessage()
        if message.startswith(self.BAD_SIGNATURE):
            cleaned = "slack: refused a request with an invalid signature or a stale timestamp" + _skew(message)
        else:
            cleaned = message.split(self.BODY_SUFFIX, 1)[0]
            cleaned = cleaned.splitlines()[0] if cleaned else cleaned
            for pattern in self.PATTERNS:
                cleaned = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "[redacted]", cleaned)
            if len(cleaned) > self.MAX_MESSAGE:
                cleaned = cleaned[: self.MAX_MESSAGE] + " [cut]"
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def _skew(message: str) -> str:
    """`` (timestamp N s off)`` from bolt's bad-signature line, or nothing."""
    found = re.search(r"timestamp: (\d{1,12}),", message)
    return f" (timestamp {abs(int(time.time()) - int(found.group(1)))} s off)" if found else ""


class EncodedAuthorizeUrlGenerator(AuthorizeUrlGenerator):
    """Slack's authorize URL with every parameter URL-encoded (slack-sdk's generator pastes them in
    as they are, so a crafted ``team`` could add parameters such as more scopes)."""

    def generate(self, state: str, team: str | None = None) -> str:
        """The URL of Slack's consent page for ``state`` (and, optionally, one workspace)."""
        params = {
            "state": state,
            "client_id": self.client_id,
            "scope": ",".join(self.scopes or ()),
            "user_scope": ",".join(self.user_scopes or ()),
        }
        if self.redirect_uri is not None:
            params["redirect_uri"] = self.redirect_uri
        if team is not None:
            params["team"] = team
        return f"{self.authorization_url}?{urlencode(params)}"


def valid_team(values: list[str] | None) -> bool:
    """True when ``/slack/install`` has no ``team`` or exactly one that is a Slack id."""
    return values is None or (len(values) == 1 and TEAM_ID.fullmatch(values[0]) is not None)


def scopes(settings: Settings) -> list[str]:
    """The bot scopes to ask for."""
    if settings.slack_scopes:
        return [s.strip() for s in settings.slack_scopes.split(",") if s.strip()]
    return list(DEFAULT_SCOPES)


def oauth_settings(
    settings: Settings,
    installation_store: AsyncInstallationStore,
    state_store: AsyncOAuthStateStore,
    on_installed: Installed,
    logger: logging.Logger,
) -> AsyncOAuthSettings:
    """bolt's OAuth settings: our stores, our paths and pages; everything passed explicitly, so
    bolt reads nothing from the environment itself."""
    assert settings.slack_client_id and settings.slack_client_secret
    result = AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=scopes(settings),
        user_scopes=[],
        redirect_uri=settings.slack_redirect_uri or None,
        install_path=INSTALL_PATH,
        install_page_rendering_enabled=False,  # straight on to Slack's consent page
        redirect_uri_path=REDIRECT_PATH,
        callback_options=AsyncCallbackOptions(success=_success(on_installed), failure=_failure),
        installation_store=installation_store,
        installation_store_bot_only=True,  # Bamboe asks for no user token
        state_store=state_store,
        state_expiration_seconds=STATE_SECONDS,
        logger=logger,
    )
    result.authorize_url_generator = EncodedAuthorizeUrlGenerator(
        client_id=result.client_id,
        redirect_uri=result.redirect_uri,
        scopes=result.scopes,
        user_scopes=result.user_scopes,
        authorization_url=result.authorization_url,
    )
    # auth.test once per token instead of once per event (the store is still read every time,
    # so an uninstalled workspace stops at once)
    result.authorize.cache_enabled = True  # type: ignore[attr-defined]
    return result


def page_response(status: int, body: str, settings: AsyncOAuthSettings | None = None) -> BoltResponse:
    """An HTML page that also deletes the state cookie."""
    headers: dict[str, Any] = {"Content-Type": HTML, "Cache-Control": "no-store"}
    if settings is not None:
        headers["Set-Cookie"] = [settings.state_utils.build_set_cookie_for_deletion()]
    return BoltResponse(status=status, body=body, headers=headers)


def _success(on_installed: Installed) -> Callable[[AsyncSuccessArgs], Awaitable[BoltResponse]]:
    async def success(args: AsyncSuccessArgs) -> BoltResponse:
        installation = args.installation
        team = Team(installation.enterprise_id, installation.team_id, bool(installation.is_enterprise_install))
        log.info("slack: installed in workspace %s", installation.team_id or installation.enterprise_id)
        try:
            await on_installed(team, installation)
        except Exception as exc:  # the installation itself is stored; this is bookkeeping
            log.warning("slack: after-install bookkeeping failed (%s)", type(exc).__name__)
        href = (
            f"https://app.slack.com/client/{installation.team_id}" if installation.team_id else "https://app.slack.com/"
        )
        body = pages.render("installed", team=installation.team_name or installation.enterprise_name or "", href=href)
        return page_response(200, body, args.settings)

    return success


async def _failure(args: AsyncFailureArgs) -> BoltResponse:
    log.info("slack: install did not complete (%s)", args.reason if args.reason in pages.REASONS else "error")
    return page_response(args.suggested_status_code, pages.render(pages.page_for(args.reason)), args.settings)


async def adopt(client: AsyncWebClient, store: AsyncInstallationStore) -> Team:
    """Keep serving the workspace of ``SLACK_BOT_TOKEN`` after switching to multi-workspace mode:
    store its bot (``auth.test`` + ``bots.info``) unless that workspace was installed by OAuth."""
    auth = await client.auth_test()
    team = Team(auth.get("enterprise_id") or None, auth.get("team_id"), bool(auth.get("is_enterprise_install")))
    existing = await store.async_find_bot(
        enterprise_id=team.enterprise_id, team_id=team.team_id, is_enterprise_install=team.is_enterprise_install
    )
    if existing is not None:
        return team
    info = await client.bots_info(bot=auth["bot_id"])
    assert client.token is not None
    await store.async_save_bot(
        Bot(
            app_id=(info.get("bot") or {}).get("app_id"),
            enterprise_id=team.enterprise_id,
            team_id=team.team_id,
            team_name=auth.get("team"),
            bot_token=client.token,
            bot_id=auth["bot_id"],
            bot_user_id=auth["user_id"],
            bot_scopes=(auth.headers or {}).get("x-oauth-scopes", ""),
            is_enterprise_install=team.is_enterprise_install,
            installed_at=time.time(),
        )
    )
    log.info("slack: SLACK_BOT_TOKEN's workspace %s is now served as an installation", team.team_id)
    return team
