"""A local stand-in for Slack's Web API and Socket Mode server, for tests (127.0.0.1 only).

It speaks the documented wire format: ``POST/GET /api/<method>`` with form-encoded, JSON or
query parameters, answered with ``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``. Every
call is recorded (method + params). It can answer HTTP 429 with ``Retry-After`` for the next N
calls, or fail a method with a given error. ``apps.connections.open`` hands out a WebSocket URL
on the same server that sends ``hello`` and then whatever envelopes the test pushes, and
records the acknowledgements the app sends back.

File uploads follow Slack's external-upload flow: ``files.getUploadURLExternal`` hands out an
``upload_url`` on this server and a ``file_id``; the app POSTs the bytes there (raw or as a
multipart form, answered ``text/plain`` "OK - <size>"); ``files.completeUploadExternal`` shares
the uploaded files in ``channel_id`` (and ``thread_ts``) and is recorded in ``shared``.

Several workspaces (multi-workspace OAuth): :meth:`SlackStandin.workspace` adds one with its own
bot token; ``auth.test``, ``users.info`` and ``conversations.info`` answer for the workspace of
the token the call carries (recorded in ``Call.token`` from the ``Authorization`` header). A
token no workspace has answers as the default workspace :data:`TEAM`. ``oauth.v2.access``
exchanges a code from :meth:`SlackStandin.code_for` (single use, client id and secret checked,
sent as HTTP Basic auth or as parameters) for the documented response: ``access_token``,
``token_type: "bot"``, ``scope``, ``bot_user_id``, ``app_id``, ``team``, ``enterprise``,
``authed_user`` and ``is_enterprise_install``.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import WSMsgType, web

from tests.conftest import free_port

BOT_USER = "UBAMBOE"
BOT_ID = "BBAMBOE"
TEAM = "T0001"
APP_ID = "A0BAMBOE"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "standin-client-secret"



#: conversations.history and conversations.replies for apps outside the Slack Marketplace (since
#: 2025): at most 15 messages a call, one call a minute
HISTORY_METHODS = ("conversations.history", "conversations.replies")
HISTORY_LIMIT = 15

@dataclass
class Call:
    """One Web API call the app made."""

    method: str
    params: dict[str, Any]
    #: what the stand-in answered (without ``ok``), once it did
    result: dict[str, Any] | None = None
    #: the bearer token the call carried (``Authorization: Bearer …`` or a ``token`` parameter)
    token: str | None = None
    #: when it arrived, by the stand-in's ``clock`` (a test's virtual clock), if it has one
    at: datetime | None = None
    #: the HTTP status it was answered with
    status: int = 200


@dataclass
class Workspace:
    """A workspace the app can be installed in, with its own bot."""

    team_id: str
    name: str
    token: str
    bot_user_id: str
    bot_id: str
    #: who installs the app (``authed_user.id``)
    installer: str
    enterprise_id: str | None = None
    #: channel and user ids that exist here (conversations.info / users.info of others fail);
    #: empty: any id
    channels: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)


@dataclass
class Upload:
    """A file announced with files.getUploadURLExternal; ``data`` is set once its bytes arrive."""

    file_id: str
    filename: str
    length: int
    data: bytes | None = None


@dataclass
class Shared:
    """A files.completeUploadExternal call that succeeded."""

    channel_id: str | None
    thread_ts: str | None
    files: list[Upload]
    titles: list[str | None]


class ApiError(Exception):
    """A method handler's ``{"ok": false, "error": ...}``."""


@dataclass
class SlackStandin:
    """The stand-in server; use ``async with SlackStandin() as slack``."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    acks: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    #: file id → the announced (and, once posted, uploaded) file
    uploads: dict[str, Upload] = field(default_factory=dict)
    #: the completed uploads, in order
    shared: list[Shared] = field(default_factory=list)
    #: bot token → workspace (multi-workspace installs)
    workspaces: dict[str, Workspace] = field(default_factory=dict)
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    port: int = 0
    #: channel → the messages posted there (for conversations.history / conversations.replies)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: stamps each call's ``at`` (e.g. a virtual clock's ``now``)
    clock: Callable[[], datetime] | None = None

    def __post_init__(self) -> None:
        self._throttle: list[float | None] = []
        self._throttle_method: dict[str, list[float | None]] = {}
        self._files = itertools.count(1)
        self._errors: dict[str, list[str]] = {}
        #: channel → the error every post there gets (the bot was removed from it), until admitted again
        self._refused: dict[str, str] = {}
        self._ts = itertools.count(1)
        #: ts → when it was posted (seconds since the epoch, by ``clock`` when given): what Slack's
        #: ``oldest`` and ``latest`` compare with
        self._posted: dict[str, float] = {}
        #: history method → when it last answered (apps outside the Marketplace: one call a minute)
        self._history_calls: dict[str, float] = {}
        self._sockets: list[web.WebSocketResponse] = []
        self._codes: dict[str, Workspace] = {}
        self._code_ids = itertools.count(1)
        self.connected = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ control
    @property
    def url(self) -> str:
        """The Web API base URL (for ``SLACK_API_URL``)."""
        return f"http://127.0.0.1:{self.port}/api/"

    def throttle_next(self, n: int, retry_after: float = 1, method: str | None = None, after: int = 0) -> None:
        """Answer the next ``n`` calls (of ``method``, else of any method) with 429 and
        ``Retry-After``, after letting ``after`` of them through; ``method="upload"`` throttles the
        POSTs to the upload URL."""
        queue = self._throttle if method is None else self._throttle_method.setdefault(method, [])
        queue.extend([None] * after + [retry_after] * n)

    def workspace(
        self,
        team_id: str,
        name: str,
        token: str,
        bot_user_id: str,
        installer: str,
        *,
        bot_id: str | None = None,
        channels: set[str] | None = None,
        users: set[str] | None = None,
    ) -> Workspace:
        """Add a workspace with its own bot token."""
        ws = Workspace(
            team_id,
            name,
            token,
            bot_user_id,
            bot_id or "B" + bot_user_id.lstrip("U"),
            installer,
            channels=set(channels or ()),
            users=set(users or ()),
        )
        self.workspaces[token] = ws
        return ws

    def code_for(self, ws: Workspace) -> str:
        """A one-time OAuth code, as Slack hands it to the redirect URL after consent in ``ws``."""
        code = f"{ws.team_id}.{next(self._code_ids)}.code"
        self._codes[code] = ws
        return code

    def by(self, token: str) -> list[Call]:
        """The recorded calls made with ``token``."""
        return [c for c in self.calls if c.token == token]

    def fail_next(self, method: str, error: str, n: int = 1) -> None:
        """Answer the next ``n`` calls of ``method`` with ``{"ok": false, "error": error}``."""
        self._errors.setdefault(method, []).extend([error] * n)

    def refuse_posts(self, channel: str, error: str = "not_in_channel") -> None:
        """Answer every post to ``channel`` with ``error`` (as Slack does once the bot was removed
        from it) until :meth:`admit_posts`; posts elsewhere (a private chat) still go through."""
        self._refused[channel] = error

    def admit_posts(self, channel: str) -> None:
        """``channel`` takes the bot's posts again."""
        self._refused.pop(channel, None)

    def archive(self, channel: str) -> None:
        """``channel`` is archived: conversations.info says ``is_archived``, and every post there
        gets ``is_archived`` (chat.postMessage's error for an archived channel)."""
        self.channels.setdefault(channel, {})["is_archived"] = True
        self.refuse_posts(channel, "is_archived")

    def unarchive(self, channel: str, *, bot_stays: bool) -> None:
        """``channel`` is taken out of the archive. Slack keeps a private channel's members then,
        but does not bring a public channel's former members back: ``bot_stays`` says which. A bot
        that did not stay is not a member (conversations.info) and gets ``not_in_channel``."""
        info = self.channels.setdefault(channel, {})
        info["is_archived"], info["is_member"] = False, bot_stays
        if bot_stays:
            self.admit_posts(channel)
        else:
            self.refuse_posts(channel)

    def bot_added(self, channel: str) -> None:
        """Someone added the bot to ``channel``: it is a member and may post there."""
        self.channels.setdefault(channel, {})["is_member"] = True
        self.admit_posts(channel)

    def of(self, *methods: str) -> list[Call]:
        """The recorded calls of ``methods``, in order."""
        return [c for c in self.calls if c.method in methods]

    def posts(self) -> list[Call]:
        """Every chat.postMessage / chat.postEphemeral call, in order."""
        return self.of("chat.postMessage", "chat.postEphemeral")

    async def push(self, envelope: dict[str, Any]) -> None:
        """Send a Socket Mode envelope to the connected app."""
        await self.connected.wait()
        await self._sockets[-1].send_str(json.dumps(envelope))

    # ------------------------------------------------------------------ server
    async def __aenter__(self) -> SlackStandin:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/link", self._link)
        app.router.add_post("/response/{id}", self._response)
        app.router.add_post("/upload/{file_id}", self._upload)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = self.port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in self._sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in ("blocks", "files", "metadata"):  # form-encoded JSON fields
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else params.get("token")
        call = Call(method, params, token=token, at=self.clock() if self.clock else None)
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            call.params = params = {**params, "client_id": client_id, "client_secret": secret}
        self.calls.append(call)
        retry = self._throttled(method)
        if retry is not None:
            call.status = 429
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(int(retry))}
            )
        if self._errors.get(method):
            return web.json_response({"ok": False, "error": self._errors[method].pop(0)})
        if method in ("chat.postMessage", "chat.postEphemeral") and str(params.get("channel")) in self._refused:
            return web.json_response({"ok": False, "error": self._refused[str(params.get("channel"))]})
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        try:
            call.result = handler(params, call)
            return web.json_response({"ok": True, **call.result})
        except ApiError as exc:
            return web.json_response({"ok": False, "error": str(exc)})

    def _throttled(self, method: str) -> float | None:
        """The Retry-After for this call, or None to let it through. ``conversations.history`` and
        ``conversations.replies`` answer an app outside the Slack Marketplace once a minute."""
        if method in HISTORY_METHODS:
            now, last = self._now(), self._history_calls.get(method)
            if last is not None and now - last < 60:
                return 60 - (now - last)
            self._history_calls[method] = now
        if self._throttle:
            return self._throttle.pop(0)
        if self._throttle_method.get(method):
            return self._throttle_method[method].pop(0)
        return None

    def _next_ts(self) -> str:
        return f"1767600000.{next(self._ts):06d}"

    def _workspace(self, call: Call) -> Workspace | None:
        return self.workspaces.get(call.token or "")

    def _m_auth_test(self, _: dict[str, Any], call: Call) -> dict[str, Any]:
        ws = self._workspace(call)
        if ws is not None:
            return {
                "url": f"https://{ws.team_id.lower()}.slack.com/",
                "team": ws.name,
                "user": "bamboe",
                "team_id": ws.team_id,
                "user_id": ws.bot_user_id,
                "bot_id": ws.bot_id,
                "is_enterprise_install": False,
            }
        return {
            "url": "https://bamboe-test.slack.com/",
            "team": "Test",
            "user": "bamboe",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _m_bots_info(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        ws = self._workspace(call)
        bot_id, user_id = (ws.bot_id, ws.bot_user_id) if ws is not None else (BOT_ID, BOT_USER)
        if params.get("bot") != bot_id:
            raise ApiError("bot_not_found")
        return {
            "bot": {
                "id": bot_id,
                "deleted": False,
                "name": "bamboe",
                "updated": 1767600000,
                "app_id": APP_ID,
                "user_id": user_id,
                "icons": {},
            }
        }

    def _m_oauth_v2_access(self, params: dict[str, Any], _: Call) -> dict[str, Any]:
        if params.get("client_id") != self.client_id:
            raise ApiError("invalid_client_id")
        if params.get("client_secret") != self.client_secret:
            raise ApiError("bad_client_secret")
        ws = self._codes.pop(str(params.get("code")), None)
        if ws is None:
            raise ApiError("invalid_code")
        enterprise = {"id": ws.enterprise_id, "name": "Enterprise"} if ws.enterprise_id else None
        return {
            "access_token": ws.token,
            "token_type": "bot",
            "scope": "commands,chat:write,users:read",
            "bot_user_id": ws.bot_user_id,
            "app_id": APP_ID,
            "team": {"id": ws.team_id, "name": ws.name},
            "enterprise": enterprise,
            "authed_user": {"id": ws.installer},
            "is_enterprise_install": False,
        }

    def _m_users_info(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        uid = params.get("user", "")
        ws = self._workspace(call)
        if ws is not None and ws.users and uid not in ws.users:
            raise ApiError("user_not_found")
        info = self.users.get(uid, {})
        return {
            "user": {
                "id": uid,
                "name": info.get("name", uid.lower()),
                "real_name": info.get("real_name", uid),
                "tz": info.get("tz", "Europe/Amsterdam"),
                "locale": info.get("locale", "nl-NL"),
                "profile": {"display_name": info.get("display_name", ""), "real_name": info.get("real_name", uid)},
            }
        }

    def _m_conversations_info(self, params: dict[str, Any], call: Call) -> dict[str, Any]:
        cid = params.get("channel", "")
        ws = self._workspace(call)
        if ws is not None and ws.channels and cid not in ws.channels:
            raise ApiError("channel_not_found")
        info = self.channels.get(cid, {})
        return {
            "channel": {
                "id": cid,
                "name": info.get("name", cid.lower()),
                "is_im": cid.startswith("D"),
                "is_member": info.get("is_member", True),
                "is_archived": info.get("is_archived", False),
            }
        }

    def _m_conversations_open(self, params: dict[str, Any], _: Call) -> dict[str, Any]:
        return {"channel": {"id": "D" + str(params.get("users", "")).lstrip("U")}}

    def _m_chat_postMessage(self, params: dict[str, Any], _: Call) -> dict[str, Any]:
        ts = self._next_ts()
        message: dict[str, Any] = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "text": params.get("text"),
                                   "ts": ts}
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        if params.get("metadata"):
            message["metadata"] = params["metadata"]
        self.history.setdefault(str(params.get("channel")), []).append(message)
        self._posted[ts] = self._now()
        return {"channel": params.get("channel"), "ts": ts, "message": message}

    def _now(self) -> float:
        return self.clock().timestamp() if self.clock else time.time()

    def _m_conversations_history(self, params: dict[str, Any], _: Call) -> dict[str, Any]:
        """The channel's top-level messages, newest first (metadata only with include_all_metadata)."""
        found = [m for m in self.history.get(str(params.get("channel")), []) if "thread_ts" not in m]
        return {"messages": self._listed(found[::-1], params), "has_more": False}

    def _m_conversations_replies(self, params: dict[str, Any], _: Call) -> dict[str, Any]:
        """A thread: its parent first, then the replies, oldest first."""
        ts = str(params.get("ts"))
        found = [m for m in self.history.get(str(params.get("channel")), [])
                 if m["ts"] == ts or m.get("thread_ts") == ts]
        return {"messages": self._listed(found, params), "has_more": False}

    def _listed(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
        """At most 15 messages (Slack's cap for apps outside the Marketplace), within ``oldest`` and
        ``latest`` when given."""
        limit = min(int(params.get("limit") or HISTORY_LIMIT), HISTORY_LIMIT)
        oldest, latest = float(params.get("oldest") or 0), float(params.get("latest") or "inf")
        messages = [m for m in messages if oldest <= self._posted.get(m["ts"], 0) <= latest]
        if str(params.get("include_all_metadata")).lower() in ("true", "1"):
            return messages[:limit]
        return [{k: v for k, v in m.items() if k != "metadata"} for m in messages[:limit]]

    def _m_chat_postEphemeral(self, params: dict[str, Any], _: Call) -> dict[str, Any]:
        return {"message_ts": self._next_ts()}

    def _m_files_getUploadURLExternal(self, params: dict[str, Any], _: Call) -> dict[str, Any]:
        filename, length = params.get("filename"), int(params.get("length") or 0)
        if not filename or length <= 0:
            raise ApiError("missing_argument")
        file_id = f"F{next(self._files):08d}"
        self.uploads[file_id] = Upload(file_id, filename, length)
        return {"upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, params: dict[str, Any], _: Call) -> dict[str, Any]:
        files = params.get("files")
        if not isinstance(files, list) or not files:
            raise ApiError("invalid_arguments")
        uploads = [self.uploads.get(str(f.get("id"))) for f in files]
        if any(u is None or u.data is None for u in uploads):
            raise ApiError("file_not_found")
        done = [u for u in uploads if u is not None]
        self.shared.append(
            Shared(params.get("channel_id"), params.get("thread_ts"), done, [f.get("title") for f in files])
        )
        return {
            "files": [
                {"id": u.file_id, "title": f.get("title") or u.filename, "name": u.filename, "size": len(u.data or b"")}
                for u, f in zip(done, files, strict=True)
            ]
        }

    async def _upload(self, request: web.Request) -> web.Response:
        """The upload URL: the file's bytes, raw or as a multipart form (field ``file``)."""
        retry = self._throttled("upload")
        if retry is not None:
            return web.Response(status=429, text="ratelimited", headers={"Retry-After": str(int(retry))})
        upload = self.uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404, text="not found")
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            part = form.get("file") or form.get("filename")
            data = part.file.read() if hasattr(part, "file") else str(part or "").encode()
        else:
            data = await request.read()
        upload.data = data
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    def _m_apps_connections_open(self, _: dict[str, Any], call: Call) -> dict[str, Any]:
        return {"url": f"ws://127.0.0.1:{self.port}/link"}

    async def _response(self, request: web.Request) -> web.Response:
        self.responses.append({"id": request.match_info["id"], **(await request.json())})
        return web.json_response({"ok": True})

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "standin"},
                    "connection_info": {"app_id": "A1"},
                }
            )
        )
        self.connected.set()
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.acks.append(json.loads(msg.data))
        return ws
