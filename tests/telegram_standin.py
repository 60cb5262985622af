"""A local stand-in for the Telegram Bot API, for tests: an aiohttp server on 127.0.0.1.

It serves ``/bot<token>/<method>`` with the documented answer shape (``{"ok": true, "result": …}``
or ``{"ok": false, "error_code": …, "description": …, "parameters": …}``), records every call,
hands out the updates a test queued (getUpdates honours ``offset`` and returns quickly), and can
be told to refuse calls (429 with retry_after, 403 / 400 with a description). A client may put a
prefix before ``/bot<token>`` (``/r1/bot<token>/sendMessage``): each call records it as ``via``. Files sent with
sendDocument / sendPhoto (multipart) are recorded as :class:`Upload` values with their bytes.

For fault and load tests it can also enforce the documented sending limits (``enforce_limits``:
one message per second per chat, 20 per minute per group, 30 per second overall; a call over a
limit gets 429 and is counted in ``throttled``), add latency (``delay``, and up to ``jitter``
more at random), and fail a fraction of
the send calls at random (``faults``: 429 with retry_after, 500, or no answer until the client
gives up), without processing them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

#: parameters PTB sends as plain strings (everything else is JSON encoded)
RAW_PARAMS = {"text", "parse_mode", "url", "secret_token", "callback_query_id", "language_code", "description",
              "short_description", "name", "caption"}
#: longest a getUpdates call waits for updates here, whatever timeout it asked for
MAX_POLL_WAIT = 0.3
#: the file field of each upload method
FILE_FIELDS = {"sendDocument": "document", "sendPhoto": "photo"}
#: the largest request body taken (the Bot API takes documents up to 50 MB)
MAX_BODY = 60 * 1024 * 1024


@dataclass
class Upload:
    """A file that arrived in a multipart request (as the value of its parameter)."""

    filename: str
    mime: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)

    def json(self) -> Any:
        """The file's content read as JSON."""
        return json.loads(self.data.decode("utf-8"))


@dataclass
class Call:
    """One request the stand-in received."""

    method: str
    params: dict[str, Any]
    status: int = 200
    result: Any = None
    #: the path prefix the call came by (``/<via>/bot<token>/…``), so a test can tell its clients apart
    via: str | None = None
    #: when it arrived, by the stand-in's ``clock`` (a test's virtual clock), if it has one
    at: datetime | None = None


@dataclass
class Refusal:
    """Answer the next ``times`` calls of ``method`` (to ``chat_id``, if given) with an error,
    after letting ``after`` of them through."""

    method: str
    code: int
    description: str
    times: int = 1
    chat_id: int | None = None
    retry_after: int | None = None
    after: int = 0


@dataclass
class StandIn:
    """The stand-in Bot API; ``url`` is its base (use ``url + "/bot"`` as TELEGRAM_API_URL)."""

    token: str = "123:ABC"
    bot_id: int = 123
    username: str = "bamboe_bot"
    calls: list[Call] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    url: str = ""
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _update_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _message_ids: itertools.count = field(default_factory=lambda: itertools.count(1000))
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    #: fault and load testing (see the module docstring)
    enforce_limits: bool = False
    delay: float = 0.0
    #: a further delay of up to this many seconds per send call, at random (answer latency)
    jitter: float = 0.0
    faults: float = 0.0
    #: how long a "no answer" fault holds the request (longer than the client's timeout)
    hang: float = 2.0
    seed: int = 7
    throttled: int = 0
    #: stamps each call's ``at`` (e.g. a virtual clock's ``now``)
    clock: Callable[[], datetime] | None = None
    #: 429s by the limit they broke: "all" (30/s), "chat" (1/s per chat), "minute" (20/min per group)
    throttled_by: dict[str, int] = field(default_factory=lambda: {"all": 0, "chat": 0, "minute": 0})
    injected: dict[str, int] = field(default_factory=lambda: {"429": 0, "500": 0, "timeout": 0})
    _rng: random.Random = field(default_factory=random.Random)
    _latency: random.Random = field(default_factory=random.Random)
    _recent: dict[Any, deque[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)
        self._latency.seed(self.seed + 1)

    # ------------------------------------------------------------------ server
    async def start(self) -> str:
        """Serve on a free port of 127.0.0.1; return the base URL."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{via}/bot{token}/{method}", self._handle)
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

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = Upload(value.filename, value.content_type, value.file.read())
                continue
            if key in RAW_PARAMS:
                params[key] = value
                continue
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        for key, value in list(params.items()):  # a file given as attach://<name> is the part <name>
            if isinstance(value, str) and value.startswith("attach://"):
                params[key] = params.pop(value.removeprefix("attach://"), value)
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        call = Call(method, params, via=request.match_info.get("via"), at=self.clock() if self.clock else None)
        self.calls.append(call)
        if request.match_info["token"] != self.token:
            call.status = 401
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        field_name = FILE_FIELDS.get(method)
        if field_name is not None and not isinstance(params.get(field_name), Upload):
            call.status = 400
            return web.json_response({"ok": False, "error_code": 400,
                                      "description": f"Bad Request: there is no {field_name} in the request"},
                                     status=400)
        if method in SEND_METHODS:
            if self.delay or self.jitter:
                await asyncio.sleep(self.delay + self._latency.uniform(0, self.jitter))
            trouble = await self._trouble(params)
            if trouble is not None:
                call.status = trouble.status
                return trouble
        refusal = self._refusal(method, params)
        if refusal is not None:
            call.status = refusal.code
            body: dict[str, Any] = {"ok": False, "error_code": refusal.code, "description": refusal.description}
            if refusal.retry_after is not None:
                body["parameters"] = {"retry_after": refusal.retry_after}
            return web.json_response(body, status=refusal.code)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            call.status = 404
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        call.result = await handler(params)
        return web.json_response({"ok": True, "result": call.result})

    async def _trouble(self, params: dict[str, Any]) -> web.Response | None:
        """An injected fault or a limit answer for a send call (None: process it)."""
        if self.faults and self._rng.random() < self.faults:
            kind = self._rng.choice(("429", "500", "timeout"))
            self.injected[kind] += 1
            if kind == "429":
                return _error(429, "Too Many Requests: retry after 1", retry_after=1)
            if kind == "500":
                return _error(500, "Internal Server Error")
            await asyncio.sleep(self.hang)  # the client gives up first; the message is not processed
            return _error(504, "Gateway Timeout")
        if self.enforce_limits:
            chat_id = int(params["chat_id"])
            now = time.monotonic()
            windows = [("all", 1.0, 30), (chat_id, 1.0, 1)]
            if chat_id < 0:
                windows.append((("minute", chat_id), 60.0, 20))
            for key, span, most in windows:
                recent = self._recent.setdefault(key, deque())
                while recent and now - recent[0] >= span:
                    recent.popleft()
                if len(recent) >= most:
                    self.throttled += 1
                    self.throttled_by["all" if key == "all" else "minute" if isinstance(key, tuple) else "chat"] += 1
                    return _error(429, "Too Many Requests: retry after 1", retry_after=1)
            for key, _, _ in windows:
                self._recent[key].append(now)
        return None

    def _refusal(self, method: str, params: dict[str, Any]) -> Refusal | None:
        for refusal in self.refusals:
            if refusal.method == method and refusal.times > 0 and (
                    refusal.chat_id is None or str(params.get("chat_id")) == str(refusal.chat_id)):
                if refusal.after > 0:
                    refusal.after -= 1
                    return None
                refusal.times -= 1
                return refusal
        return None

    # ------------------------------------------------------------------ methods
    def me(self) -> dict[str, Any]:
        """The bot's User object."""
        return {"id": self.bot_id, "is_bot": True, "first_name": "Bamboe", "username": self.username,
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def _m_getMe(self, _: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - Bot API names
        return self.me()

    async def _m_setMyCommands(self, _: dict[str, Any]) -> bool:  # noqa: N802
        return True

    async def _m_deleteWebhook(self, _: dict[str, Any]) -> bool:  # noqa: N802
        return True

    async def _m_setWebhook(self, _: dict[str, Any]) -> bool:  # noqa: N802
        return True

    async def _m_answerCallbackQuery(self, _: dict[str, Any]) -> bool:  # noqa: N802
        return True

    async def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:  # noqa: N802
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]  # earlier ones are confirmed
        if not self._updates:
            self._arrived.clear()
            wait = min(float(params.get("timeout") or 0), MAX_POLL_WAIT)
            if wait > 0:
                try:
                    await asyncio.wait_for(self._arrived.wait(), timeout=wait)
                except TimeoutError:
                    pass
        return list(self._updates[: int(params.get("limit") or 100)])

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        """The Message object for a message the bot sends with ``params``."""
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": next(self._message_ids), "date": int(time.time()), "from": self.me(),
            "chat": {"id": chat_id, "type": "private", "first_name": "Someone"} if chat_id > 0
            else {"id": chat_id, "type": "supergroup", "title": "Group"},
        }
        if params.get("message_thread_id"):
            message["message_thread_id"] = params["message_thread_id"]
            message["is_topic_message"] = True
        return message

    async def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {**self._message(params), "text": re.sub(r"</?(?:b|i|code)>", "", params["text"])}

    async def _m_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        file: Upload = params["document"]
        document = {**_file_ids(), "file_name": file.filename, "mime_type": file.mime, "file_size": file.size}
        return {**self._message(params), "document": document}

    async def _m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        file: Upload = params["photo"]
        width, height = _image_size(file.data)
        # Telegram keeps the photo in several sizes; the original size is the last one
        sizes = [{**_file_ids(), "width": min(width, 90), "height": min(height, 90), "file_size": min(file.size, 999)},
                 {**_file_ids(), "width": width, "height": height, "file_size": file.size}]
        return {**self._message(params), "photo": sizes}

    # ------------------------------------------------------------------ for tests
    def push(self, update: dict[str, Any]) -> int:
        """Queue an update (its ``update_id`` is assigned here); return the id."""
        update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        self._arrived.set()
        return update["update_id"]

    def refuse(self, method: str, code: int, description: str, *, times: int = 1, chat_id: int | None = None,
               retry_after: int | None = None, after: int = 0) -> Refusal:
        """Answer the next ``times`` matching calls with an error (after ``after`` went through)."""
        refusal = Refusal(method, code, description, times, chat_id, retry_after, after)
        self.refusals.append(refusal)
        return refusal

    def of(self, method: str, *, ok: bool | None = None) -> list[Call]:
        """The calls of ``method`` (only successful ones with ``ok=True``)."""
        return [c for c in self.calls if c.method == method and (ok is None or (c.status == 200) == ok)]

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Parameters of the sendMessage calls that succeeded (to ``chat_id``, if given)."""
        return [c.params for c in self.of("sendMessage", ok=True)
                if chat_id is None or int(c.params["chat_id"]) == chat_id]

    def uploads(self, chat_id: int | None = None) -> list[Call]:
        """The sendDocument / sendPhoto calls that succeeded (to ``chat_id``, if given), in order;
        each call's file is ``upload(call)``."""
        return [c for c in self.calls if c.method in FILE_FIELDS and c.status == 200
                and (chat_id is None or int(c.params["chat_id"]) == chat_id)]

    @staticmethod
    def upload(call: Call) -> Upload:
        """The file sent with an upload call."""
        return call.params[FILE_FIELDS[call.method]]

    @property
    def pending(self) -> int:
        """Updates not yet confirmed by a later getUpdates offset."""
        return len(self._updates)


_file_counter = itertools.count(1)
#: the methods that send a message (subject to faults and limits)
SEND_METHODS = {"sendMessage", *FILE_FIELDS}


def _error(code: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=code)


def _file_ids() -> dict[str, str]:
    n = next(_file_counter)
    return {"file_id": f"BQACAgQAAxkDAAI{n:08d}", "file_unique_id": f"AgAD{n:06d}"}


def _image_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG (from its header); 1 x 1 for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    return 1, 1


# ---------------------------------------------------------------------------- update shapes
def user(user_id: int, first: str, last: str | None = None, language: str | None = "nl",
         is_bot: bool = False, username: str | None = None) -> dict[str, Any]:
    """A User object."""
    out: dict[str, Any] = {"id": user_id, "is_bot": is_bot, "first_name": first}
    if last:
        out["last_name"] = last
    if language:
        out["language_code"] = language
    if username:
        out["username"] = username
    return out


def group(chat_id: int = -1001234567890, title: str = "Lerend netwerk Venlo", forum: bool = False) -> dict[str, Any]:
    """A supergroup Chat object."""
    out: dict[str, Any] = {"id": chat_id, "type": "supergroup", "title": title}
    if forum:
        out["is_forum"] = True
    return out


def private(person: dict[str, Any]) -> dict[str, Any]:
    """The private Chat object with ``person``."""
    return {"id": person["id"], "type": "private", "first_name": person["first_name"]}


_ids = itertools.count(1)


def message(chat: dict[str, Any], sender: dict[str, Any] | None, text: str | None = None, *,
            message_id: int | None = None, reply_to: dict[str, Any] | None = None, thread: int | None = None,
            **extra: Any) -> dict[str, Any]:
    """A Message object (``reply_to`` is the Message it replies to; ``thread`` a forum topic)."""
    out: dict[str, Any] = {"message_id": message_id or next(_ids), "date": int(time.time()), "chat": chat}
    if sender is not None:
        out["from"] = sender
    if text is not None:
        out["text"] = text
        if text.startswith("/"):
            out["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split(" ", 1)[0])}]
    if reply_to is not None:
        out["reply_to_message"] = reply_to
    if thread is not None:
        out["message_thread_id"] = thread
        out["is_topic_message"] = True
    out.update(extra)
    return out


def callback(sender: dict[str, Any], on: dict[str, Any], data: str) -> dict[str, Any]:
    """A callback_query update body: ``sender`` pressed a button with ``data`` on message ``on``."""
    return {"callback_query": {"id": f"cq{next(_ids)}", "from": sender, "message": on, "chat_instance": "ci1",
                               "data": data}}


def chat_member(chat: dict[str, Any], actor: dict[str, Any], member: dict[str, Any], old: str,
                new: str) -> dict[str, Any]:
    """A my_chat_member update body: ``member`` went from status ``old`` to ``new``."""
    return {"my_chat_member": {"chat": chat, "from": actor, "date": int(time.time()),
                               "old_chat_member": chat_member_status(old, member),
                               "new_chat_member": chat_member_status(new, member)}}


def chat_member_status(status: str, member: dict[str, Any]) -> dict[str, Any]:
    """A ChatMember object with the fields the Bot API sends for ``status``."""
    out: dict[str, Any] = {"status": status, "user": member}
    if status == "kicked":
        out["until_date"] = 0
    elif status == "administrator":
        out.update({key: False for key in (
            "can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
            "can_restrict_members", "can_promote_members", "can_change_info", "can_invite_users",
            "can_post_stories", "can_edit_stories", "can_delete_stories")})
    return out
