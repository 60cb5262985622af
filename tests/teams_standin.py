"""Local stand-ins for what a Teams bot talks to, for tests: one aiohttp server on 127.0.0.1.

* **OpenID metadata and keys** (``/v1/.well-known/openidconfiguration`` and the ``jwks_uri`` it
  names): a test RSA key, endorsed for ``msteams``, in the Bot Framework's JWK format; the bearer
  tokens of the activities the tests post are signed with it (:meth:`StandIn.token`, with
  overrides for forged, expired, wrong-audience, … tokens). ``metadata_hits`` counts reads.
* **Entra token endpoint** (``/<tenant>/oauth2/v2.0/token``): the client-credentials grant; a
  wrong secret gets 401 ``invalid_client`` as Entra answers.
* **Bot Connector** at the service URL ``<base>/emea/`` (the regional path Teams uses), speaking
  the Bot Framework REST API: ``POST /v3/conversations`` (a 1:1: only for people the app is
  installed for or who are in a team it is installed in, else 403 ``ForbiddenOperationException``
  as Teams answers), ``POST /v3/conversations/{id}/activities``,
  ``POST /v3/conversations/{id}/activities/{activityId}``, ``GET /v3/conversations/{id}/members``
  and ``…/members/{memberId}``. Every call needs the bearer token the token endpoint gave out. It
  can be told to refuse calls (:meth:`StandIn.refuse`: 429 with or without ``Retry-After``, 412,
  403 with one of the documented codes such as ``ConversationBlockedByUser``, …) and to enforce Teams' limits (per conversation 7/1 s, 8/2 s, 60/30 s, 1,800/h; 50 a
  second per tenant: 429).

Activity builders (:func:`channel`, :func:`group_chat`, :func:`personal`, :func:`message`,
:func:`conversation_update`, :func:`team_event`, :func:`installation_update`) give the JSON shapes
of Microsoft's documentation for Teams.
"""

from __future__ import annotations

import base64
import itertools
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://api.botframework.com"
APP_ID = "00000000-0000-4000-8000-00000000b0b0"
TENANT = "11111111-2222-4333-8444-555555555555"
SECRET = "test-client-secret"
BOT_ID = f"28:{APP_ID}"
#: Teams' per-conversation limits: (messages, seconds)
TEAMS_LIMITS = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
#: the global limit per app per tenant: requests a second
TENANT_RPS = 50
#: the messages of the Bot Connector's error codes ("Status codes from bot conversational APIs",
#: https://learn.microsoft.com/microsoftteams/platform/bots/build-conversational-capability)
ERRORS = {
    "ForbiddenOperationException": "Bot isn't installed in user's personal scope",
    "ConversationBlockedByUser": "User blocked the conversation with the bot.",
    "BotDisabledByAdmin": "The tenant admin disabled this bot",
    "BotNotInConversationRoster": "The bot isn't part of the conversation roster.",
    "ConversationNotFound": "Conversation not found.",
    "Throttled": "Too many requests.",
}


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def new_key() -> rsa.RSAPrivateKey:
    """A fresh RSA key (2048 bits, as the Bot Framework's)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: rsa.RSAPrivateKey, kid: str, endorsements: list[str]) -> dict[str, Any]:
    """The public half of ``key`` in the Bot Framework's JWK format (with ``endorsements``)."""
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": _b64(numbers.n), "e": _b64(numbers.e),
            "endorsements": endorsements}


@dataclass
class Call:
    """One request the Bot Connector stand-in received."""

    method: str
    path: str
    body: Any
    status: int = 200
    result: Any = None
    #: when the stand-in received it (the clock it was given, e.g. the tests' virtual clock)
    at: Any = None

    @property
    def conversation(self) -> str:
        """The conversation id in the path (``/emea/v3/conversations/{id}/…``)."""
        parts = self.path.split("/")
        return parts[4] if len(parts) > 4 else ""


@dataclass
class Refusal:
    """Answer the next ``times`` matching Bot Connector calls with ``status``."""

    status: int
    times: int = 1
    retry_after: float | None = None
    path_contains: str = ""
    code: str = ""
    #: let this many matching calls through first
    after: int = 0


@dataclass
class StandIn:
    """The stand-ins; ``url`` is their base, ``service_url`` the Bot Connector's (regional) address."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    #: Teams ids of the people the app is installed for, or who are in a team it is installed in
    #: (Microsoft: "install the app for the user or make the user a part of a team in which the app
    #: is installed"): their 1:1 can be created
    installed_for: set[str] = field(default_factory=set)
    #: Teams id → member details (as GET …/members/{id} answers)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    enforce_limits: bool = False
    throttled: int = 0
    metadata_hits: int = 0
    keys_hits: int = 0
    token_requests: int = 0
    #: what :attr:`Call.at` records (a virtual clock's ``now``); none: not recorded
    clock: Any = None
    key: rsa.RSAPrivateKey = field(default_factory=new_key)
    kid: str = "test-key-1"
    endorsements: list[str] = field(default_factory=lambda: ["msteams"])
    _tokens: set[str] = field(default_factory=set)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1_700_000_000_001))
    _conversations: itertools.count = field(default_factory=lambda: itertools.count(1))
    _recent: dict[str, deque[float]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ server
    async def start(self) -> str:
        """Serve on a free port of 127.0.0.1; return the base URL."""
        app = web.Application()
        app.router.add_get("/v1/.well-known/openidconfiguration", self._metadata)
        app.router.add_get("/v1/.well-known/keys", self._keys)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_route("*", "/emea/v3/{rest:.*}", self._connector)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - the port the OS chose
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def service_url(self) -> str:
        """The Bot Connector address activities carry (``serviceUrl``), with its regional path."""
        return f"{self.url}/emea/"

    @property
    def metadata_url(self) -> str:
        """TEAMS_OPENID_METADATA_URL for the bot."""
        return f"{self.url}/v1/.well-known/openidconfiguration"

    @property
    def token_url(self) -> str:
        """TEAMS_TOKEN_URL for the bot."""
        return f"{self.url}/{TENANT}/oauth2/v2.0/token"

    # ------------------------------------------------------------------ identity
    async def _metadata(self, _: web.Request) -> web.Response:
        self.metadata_hits += 1
        return web.json_response({"issuer": ISSUER, "authorization_endpoint": "https://invalid.example/",
                                  "jwks_uri": f"{self.url}/v1/.well-known/keys",
                                  "id_token_signing_alg_values_supported": ["RS256"],
                                  "token_endpoint_auth_methods_supported": ["private_key_jwt"]})

    async def _keys(self, _: web.Request) -> web.Response:
        self.keys_hits += 1
        return web.json_response({"keys": [jwk(self.key, self.kid, self.endorsements)]})

    def token(self, activity: dict[str, Any], *, key: rsa.RSAPrivateKey | None = None, kid: str | None = None,
              **claims: Any) -> str:
        """A Bot Connector bearer token for ``activity``; ``claims`` override (``None`` removes)."""
        now = int(time.time())
        body: dict[str, Any] = {"serviceurl": activity.get("serviceUrl"), "nbf": now - 10, "exp": now + 3600,
                                "iss": ISSUER, "aud": APP_ID}
        for name, value in claims.items():
            if value is None:
                body.pop(name, None)
            else:
                body[name] = value
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        if form.get("grant_type") != "client_credentials" or form.get("scope") != "https://api.botframework.com/.default":
            return web.json_response({"error": "invalid_request"}, status=400)
        if form.get("client_id") != APP_ID or form.get("client_secret") != SECRET:
            return web.json_response({"error": "invalid_client", "error_description": "AADSTS7000215"}, status=401)
        token = secrets.token_urlsafe(24)
        self._tokens.add(token)
        return web.json_response({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                  "access_token": token})

    # ------------------------------------------------------------------ Bot Connector
    def refuse(self, status: int, times: int = 1, retry_after: float | None = None, path_contains: str = "",
               code: str = "", after: int = 0) -> Refusal:
        """Refuse the next ``times`` Bot Connector calls (whose path contains ``path_contains``),
        after letting ``after`` of them through."""
        refusal = Refusal(status, times, retry_after, path_contains, code, after)
        self.refusals.append(refusal)
        return refusal

    def _refusal(self, path: str) -> Refusal | None:
        for refusal in self.refusals:
            if refusal.times > 0 and refusal.path_contains in path:
                if refusal.after > 0:
                    refusal.after -= 1
                    return None
                refusal.times -= 1
                return refusal
        return None

    def _over_limit(self, conversation: str) -> bool:
        now = time.monotonic()
        tenant = self._recent.setdefault("", deque())
        while tenant and now - tenant[0] >= 1.0:
            tenant.popleft()
        if len(tenant) >= TENANT_RPS:
            return True
        recent = self._recent.setdefault(conversation, deque())
        while recent and now - recent[0] > TEAMS_LIMITS[-1][1]:
            recent.popleft()
        for count, seconds in TEAMS_LIMITS:
            if sum(1 for t in recent if now - t < seconds) >= count:
                return True
        recent.append(now)
        tenant.append(now)
        return False

    async def _connector(self, request: web.Request) -> web.Response:
        path = request.path
        body = await request.json() if request.can_read_body else None
        call = Call(request.method, path, body, at=self.clock() if self.clock else None)
        self.calls.append(call)
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._tokens:
            call.status = 401
            return web.json_response({"message": "Authorization has been denied for this request."}, status=401)
        refusal = self._refusal(path)
        if refusal is None and self.enforce_limits and request.method == "POST" and "/activities" in path:
            if self._over_limit(call.conversation.split(";messageid=")[0]):  # a channel's threads count together
                self.throttled += 1
                refusal = Refusal(429)
        if refusal is not None:
            call.status = refusal.status
            headers = {"Retry-After": f"{refusal.retry_after:g}"} if refusal.retry_after is not None else {}
            code = refusal.code or {429: "Throttled", 403: "Forbidden", 404: "NotFound"}.get(refusal.status,
                                                                                            "ServiceError")
            return web.json_response({"error": {"code": code, "message": ERRORS.get(code, code)}},
                                     status=refusal.status, headers=headers)
        parts = path.split("/")  # "", "emea", "v3", "conversations", id, "activities" | "members", …
        if request.method == "POST" and len(parts) == 4:
            return self._create(call)
        if request.method == "POST" and len(parts) >= 6 and parts[5] == "activities":
            call.result, call.status = {"id": str(next(self._ids))}, 201
            return web.json_response(call.result, status=201)
        if request.method == "GET" and len(parts) >= 6 and parts[5] == "members":
            if len(parts) == 7:
                member = self.members.get(parts[6])
                if member is None:
                    call.status = 404
                    return web.json_response({"error": {"code": "MemberNotFoundInConversation"}}, status=404)
                return web.json_response(member)
            return web.json_response(list(self.members.values()))
        call.status = 404
        return web.json_response({"error": {"code": "NotFound"}}, status=404)

    def _create(self, call: Call) -> web.Response:
        """``POST /v3/conversations``: a 1:1 with someone the app is installed for."""
        members = [m.get("id") for m in (call.body or {}).get("members") or []]
        if len(members) != 1 or members[0] not in self.installed_for:
            call.status = 403
            code = "ForbiddenOperationException"
            return web.json_response({"error": {"code": code, "message": ERRORS[code]}}, status=403)
        call.result, call.status = {"id": f"a:1personal{next(self._conversations)}"}, 201
        return web.json_response(call.result, status=201)

    # ------------------------------------------------------------------ what was sent
    def sent(self, conversation: str | None = None) -> list[Call]:
        """The activities posted (accepted), to ``conversation`` if given (thread suffix included)."""
        return [c for c in self.calls if c.method == "POST" and c.status in (200, 201) and "/activities" in c.path
                and (conversation is None or c.conversation == conversation)]

    def texts(self, conversation: str | None = None) -> list[str]:
        """The texts of the activities posted."""
        return [str((c.body or {}).get("text") or "") for c in self.sent(conversation)]


# ---------------------------------------------------------------------------- activity shapes
def user(n: int, name: str) -> dict[str, Any]:
    """A Teams user account as activities carry it (``from``, ``membersAdded``)."""
    return {"id": f"29:1user{n}-ZmFrZS1pZC1mb3ItdGVzdHM", "name": name,
            "aadObjectId": f"00000000-0000-4000-a000-{n:012d}"}


def member_details(account: dict[str, Any], email: str = "") -> dict[str, Any]:
    """What GET …/members/{id} answers for ``account`` (a TeamsChannelAccount)."""
    first, _, last = account["name"].partition(" ")
    return {"id": account["id"], "name": account["name"], "aadObjectId": account["aadObjectId"],
            "givenName": first, "surname": last, "email": email, "userPrincipalName": email,
            "tenantId": TENANT, "userRole": "user"}


def channel(team: str = "19:team-general@thread.tacv2", channel_id: str | None = None,
            team_name: str = "Lerend netwerk Venlo", channel_name: str | None = None) -> dict[str, Any]:
    """A team channel: the conversation and channel data of its activities."""
    channel_id = channel_id or team
    data: dict[str, Any] = {"teamsTeamId": team, "teamsChannelId": channel_id, "tenant": {"id": TENANT},
                            "team": {"id": team, "name": team_name}, "channel": {"id": channel_id}}
    if channel_name:
        data["channel"]["name"] = channel_name
    return {"conversation": {"isGroup": True, "conversationType": "channel", "tenantId": TENANT, "id": channel_id},
            "channelData": data}


def group_chat(chat_id: str = "19:groupchat1@thread.v2", name: str = "Wijkteam Noord") -> dict[str, Any]:
    """A group chat."""
    return {"conversation": {"isGroup": True, "conversationType": "groupChat", "tenantId": TENANT, "id": chat_id,
                             "name": name},
            "channelData": {"tenant": {"id": TENANT}}}


def personal(account: dict[str, Any]) -> dict[str, Any]:
    """The 1:1 of ``account`` with the bot."""
    return {"conversation": {"conversationType": "personal", "tenantId": TENANT,
                             "id": f"a:1personal-{account['aadObjectId']}"},
            "channelData": {"tenant": {"id": TENANT}}}


def _base(where: dict[str, Any], service_url: str, kind: str, sender: dict[str, Any] | None) -> dict[str, Any]:
    activity: dict[str, Any] = {
        "type": kind, "id": str(int(time.time() * 1000)) + str(secrets.randbelow(1000)),
        "timestamp": "2026-01-05T08:00:00.000Z", "localTimestamp": "2026-01-05T09:00:00.000+01:00",
        "serviceUrl": service_url, "channelId": "msteams",
        "recipient": {"id": BOT_ID, "name": "Bamboe"},
        "conversation": dict(where["conversation"]), "channelData": dict(where["channelData"]),
        "locale": "nl-NL", "localTimezone": "Europe/Amsterdam",
    }
    if sender is not None:
        activity["from"] = dict(sender)
    return activity


def message(where: dict[str, Any], sender: dict[str, Any], text: str, service_url: str, *, mention: bool = False,
            thread: str | None = None, quote: str | None = None, value: dict[str, Any] | None = None,
            reply_to: str | None = None) -> dict[str, Any]:
    """A message activity: ``mention`` puts ``<at>Bamboe</at>`` before the text (with its mention
    entity), ``thread`` makes it a reply in a channel thread, ``quote`` a quoted reply."""
    activity = _base(where, service_url, "message", sender)
    activity["textFormat"] = "plain"
    entities: list[dict[str, Any]] = [{"type": "clientInfo", "locale": "nl-NL", "country": "NL", "platform": "Web"}]
    if mention:
        text = f"<at>Bamboe</at> {text}"
        entities.append({"type": "mention", "text": "<at>Bamboe</at>", "mentioned": {"id": BOT_ID, "name": "Bamboe"}})
    if quote:
        text = f'<quoted messageId="{quote}"/>{text}'
        entities.append({"type": "quotedReply", "quotedReply": {"messageId": quote, "senderId": BOT_ID,
                                                                 "senderName": "Bamboe", "preview": "…"}})
    if thread:
        activity["conversation"]["id"] = f"{activity['conversation']['id']};messageid={thread}"
        activity["replyToId"] = thread
    if reply_to:
        activity["replyToId"] = reply_to
    activity["text"] = text
    activity["entities"] = entities
    if value is not None:
        activity["value"] = value
        activity.pop("text")
    return activity


def conversation_update(where: dict[str, Any], service_url: str, *, added: list[dict[str, Any]] = (),
                        removed: list[dict[str, Any]] = (), by: dict[str, Any] | None = None,
                        event: str | None = None) -> dict[str, Any]:
    """A conversationUpdate (members added or removed; the bot as ``{"id": BOT_ID}``). Teams sends
    ``membersAdded`` entries without a name."""
    activity = _base(where, service_url, "conversationUpdate", by)
    if added:
        activity["membersAdded"] = [{k: v for k, v in a.items() if k != "name"} for a in added]
    if removed:
        activity["membersRemoved"] = [{k: v for k, v in a.items() if k != "name"} for a in removed]
    if event:
        activity["channelData"]["eventType"] = event
    return activity


def team_event(event: str, service_url: str, team: str = "19:team-general@thread.tacv2",
               team_name: str = "Lerend netwerk Venlo", channel: dict[str, str] | None = None,
               by: dict[str, Any] | None = None) -> dict[str, Any]:
    """A team's or channel's life as Teams announces it: a ``conversationUpdate`` whose
    ``channelData.eventType`` is ``event`` (``teamArchived``, ``teamUnarchived``, ``teamDeleted``,
    ``teamRestored``, ``channelDeleted``, ``channelRestored``), in the shape of the samples of
    https://learn.microsoft.com/microsoftteams/platform/bots/how-to/conversations/subscribe-to-conversation-events:
    ``conversation.id`` is the team's (its General channel), ``channelData.team`` names the team,
    ``channelData.channel`` (``{"id", "name"}``) the channel of a channel event, and ``from`` has
    only a ``29:`` id unless ``by`` is given."""
    data: dict[str, Any] = {"team": {"id": team}, "eventType": event, "tenant": {"id": TENANT}}
    if channel is not None:
        data["channel"] = dict(channel)
    else:
        data["team"]["name"] = team_name
    where = {"conversation": {"isGroup": True, "conversationType": "channel", "id": team}, "channelData": data}
    return _base(where, service_url, "conversationUpdate", by or {"id": "29:1owner-ZmFrZS1vd25lcg"})


def installation_update(where: dict[str, Any], service_url: str, by: dict[str, Any], action: str = "add"
                        ) -> dict[str, Any]:
    """An installationUpdate (``add`` or ``remove``)."""
    activity = _base(where, service_url, "installationUpdate", by)
    activity["action"] = action
    return activity


BOT = {"id": BOT_ID}
