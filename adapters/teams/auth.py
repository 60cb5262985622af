"""Who may talk to the bot, and how the bot proves who it is, on the Bot Framework protocol.

Inbound (:class:`InboundAuth`): every ``POST /api/messages`` carries a bearer JWT from the Bot
Connector. It is checked as the Bot Connector authentication documentation requires:

1. the ``Authorization`` header holds ``Bearer <token>``;
2. the token is signed (RS256) by a key from the ``jwks_uri`` of the configured OpenID metadata,
   picked by the token's ``kid``, and that key is *endorsed* for the activity's ``channelId``;
3. the issuer is the metadata's ``issuer`` (``https://api.botframework.com``);
4. the audience is the bot's app id (``TEAMS_APP_ID``);
5. it is within its validity period, with the documented five minutes of clock skew;
6. its ``serviceurl`` claim equals the activity's ``serviceUrl``.

The Agents SDK's own validator (``JwtTokenValidator``) fixes its key URLs in code, checks no
endorsement, leaves the issuer check off by default and compares only the host of the service
URL (and only with its host validator on), so this module does the checks itself with PyJWT
against the configured metadata. Keys are cached; a token with a ``kid`` not in the cache makes
the keys be fetched again, at most once per :data:`REFRESH_SECONDS` (a stream of forged ``kid``
values cannot make us hammer the metadata endpoint).

Outbound (:class:`TokenClient`): the client-credentials grant at ``TEAMS_TOKEN_URL`` for the
scope ``https://api.botframework.com/.default``, cached until shortly before it expires.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from jwt import PyJWK

log = logging.getLogger(__name__)

#: the documented clock skew the Bot Connector tolerates
CLOCK_SKEW = 300
#: the only signing algorithm the Bot Framework metadata lists
ALGORITHMS = ["RS256"]
#: keys are kept this long (the Bot Framework SDKs keep them five days; a day is plenty)
KEYS_SECONDS = 24 * 3600.0
#: at most one refetch of the keys per this many seconds for an unknown ``kid``
REFRESH_SECONDS = 60.0
#: the scope of the token for calls to the Bot Connector
BOT_SCOPE = "https://api.botframework.com/.default"
#: a token is renewed this long before it expires
TOKEN_MARGIN = 300.0
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=15)


class AuthError(Exception):
    """The request is not from the Bot Connector for this bot (answered with 401)."""


@dataclass
class _Keys:
    issuer: str
    keys: dict[str, tuple[PyJWK, frozenset[str]]]
    fetched: float


def normalise_url(url: str) -> str:
    """A service URL as compared: no trailing slash, scheme and host in lower case."""
    url = (url or "").strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.rstrip("/")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}".rstrip("/")


class InboundAuth:
    """Validates the Bot Connector's bearer tokens against the configured OpenID metadata."""

    def __init__(self, app_id: str, metadata_url: str, session: aiohttp.ClientSession) -> None:
        self.app_id = app_id
        self.metadata_url = metadata_url
        self.session = session
        self._keys: _Keys | None = None
        self._lock = asyncio.Lock()
        self._last_refresh = 0.0

    async def validate(self, header: str | None, activity: dict[str, Any]) -> dict[str, Any]:
        """The token's claims, if ``header`` authorises ``activity``; :class:`AuthError` otherwise."""
        token = _bearer(header)
        try:
            unverified = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("not a JWT") from None
        kid = unverified.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("no kid")
        if unverified.get("alg") not in ALGORITHMS:
            raise AuthError("algorithm not allowed")
        keys = await self._keys_with(kid)
        if kid not in keys.keys:
            raise AuthError("unknown key")
        key, endorsements = keys.keys[kid]
        channel = activity.get("channelId")
        if not isinstance(channel, str) or channel not in endorsements:
            raise AuthError("key not endorsed for the channel")
        try:
            claims = jwt.decode(
                token, key=key, algorithms=ALGORITHMS, audience=self.app_id, issuer=keys.issuer,
                leeway=CLOCK_SKEW, options={"require": ["exp", "iss", "aud"]})
        except jwt.PyJWTError as exc:
            raise AuthError(type(exc).__name__) from None
        service_url = activity.get("serviceUrl")
        claimed = claims.get("serviceurl")
        if not isinstance(service_url, str) or not isinstance(claimed, str) \
                or normalise_url(claimed) != normalise_url(service_url):
            raise AuthError("serviceurl claim does not match the activity")
        return claims

    async def load(self) -> None:
        """Read the keys now (at start), so the first request need not wait for them."""
        await self._keys_with("")

    async def _keys_with(self, kid: str) -> _Keys:
        """The cached keys, fetched again when stale or (bounded) when ``kid`` is not among them."""
        now = time.monotonic()
        keys = self._keys
        if keys is not None and now - keys.fetched < KEYS_SECONDS and kid in keys.keys:
            return keys
        async with self._lock:
            keys = self._keys
            stale = keys is None or time.monotonic() - keys.fetched >= KEYS_SECONDS
            unknown = not stale and kid not in keys.keys
            if stale or (unknown and time.monotonic() - self._last_refresh >= REFRESH_SECONDS):
                if unknown:
                    self._last_refresh = time.monotonic()
                try:
                    self._keys = keys = await self._fetch()
                except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
                    log.warning("teams: the OpenID metadata or keys could not be read (%s)", type(exc).__name__)
                    if keys is None:
                        raise AuthError("no keys") from None
            return keys

    async def _fetch(self) -> _Keys:
        metadata = await self._json(self.metadata_url)
        issuer, jwks_uri = metadata["issuer"], metadata["jwks_uri"]
        jwks = await self._json(jwks_uri)
        found: dict[str, tuple[PyJWK, frozenset[str]]] = {}
        for entry in jwks.get("keys", []):
            kid = entry.get("kid")
            if not kid or entry.get("kty") != "RSA":
                continue
            try:
                key = PyJWK(entry, algorithm="RS256")
            except jwt.PyJWTError:
                log.warning("teams: a signing key in the key set could not be read")
                continue
            found[kid] = (key, frozenset(e for e in entry.get("endorsements", []) if isinstance(e, str)))
        log.info("teams: %s signing key(s) read from the OpenID metadata", len(found))
        return _Keys(issuer, found, time.monotonic())

    async def _json(self, url: str) -> dict[str, Any]:
        async with self.session.get(url, timeout=HTTP_TIMEOUT) as resp:
            resp.raise_for_status()
            return json.loads(await resp.text())


def _bearer(header: str | None) -> str:
    if not header:
        raise AuthError("no authorization header")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise AuthError("not a bearer token")
    return token


class TokenClient:
    """The bot's access token for the Bot Connector (client credentials), cached."""

    def __init__(self, app_id: str, secret: str, token_url: str, session: aiohttp.ClientSession) -> None:
        self.app_id = app_id
        self._secret = secret
        self.token_url = token_url
        self.session = session
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    def cached(self) -> str | None:
        """The current token if one is held and fresh (no network)."""
        return self._token if self._token and time.monotonic() < self._expires else None

    async def token(self) -> str:
        """A valid token, fetched when none is held or it is about to expire."""
        token = self.cached()
        if token:
            return token
        async with self._lock:
            token = self.cached()
            if token:
                return token
            form = {"grant_type": "client_credentials", "client_id": self.app_id,
                    "client_secret": self._secret, "scope": BOT_SCOPE}
            async with self.session.post(self.token_url, data=form, timeout=HTTP_TIMEOUT) as resp:
                if resp.status in (400, 401):
                    body = await resp.json(content_type=None)
                    error = body.get("error") if isinstance(body, dict) else None
                    raise PermissionError(f"the token endpoint refused the app's credentials ({error or resp.status}); "
                                          "check TEAMS_APP_ID, TEAMS_APP_PASSWORD and TEAMS_TENANT_ID")
                resp.raise_for_status()
                body = await resp.json(content_type=None)
            self._token = str(body["access_token"])
            lifetime = float(body.get("expires_in", 3600))
            self._expires = time.monotonic() + max(30.0, lifetime - TOKEN_MARGIN)
            return self._token

    def forget(self) -> None:
        """Drop the cached token (the Bot Connector answered 401 with it)."""
        self._token = None
