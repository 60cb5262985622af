"""A real Synapse homeserver for the tests, and a small client-server API client that plays the
members' Element.

One Synapse per test session (``synapse_server``), started from a configuration generated in a
temporary directory: SQLite, no federation listener, a registration shared secret, relaxed rate
limits, a free port on 127.0.0.1. Tests make their own users and rooms, so they never depend on
each other. Synapse comes from the ``dev`` extra (``matrix-synapse``). When it cannot start, a
test skips with the reason, and fails under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

SERVER_NAME = "bamboe.test"
#: how long Synapse may take to answer /versions after start (a busy CI machine)
START_SECONDS = 120
RELAXED = {"per_second": 1000, "burst_count": 1000}


def _config(root: Path, port: int, secret: str) -> str:
    limits = {name: RELAXED for name in ("rc_message", "rc_registration", "rc_admin_redaction",
                                          "rc_joins_per_room", "rc_3pid_validation", "rc_presence",
                                          "rc_room_creation")}  # ten rooms per user at once by default
    limits["rc_login"] = {"address": RELAXED, "account": RELAXED, "failed_attempts": RELAXED}
    limits["rc_joins"] = {"local": RELAXED, "remote": RELAXED}
    limits["rc_invites"] = {"per_room": RELAXED, "per_user": RELAXED, "per_issuer": RELAXED}
    config = {
        "server_name": SERVER_NAME,
        "pid_file": str(root / "homeserver.pid"),
        "listeners": [{"port": port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": False,
                       "x_forwarded": False, "resources": [{"names": ["client"], "compress": False}]}],
        "database": {"name": "sqlite3", "args": {"database": str(root / "homeserver.db")}},
        "log_config": str(root / "log.yaml"),
        "media_store_path": str(root / "media"),
        "signing_key_path": str(root / "signing.key"),
        "registration_shared_secret": secret,
        "macaroon_secret_key": secrets.token_hex(16),
        "form_secret": secrets.token_hex(16),
        "report_stats": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "enable_metrics": False,
        "presence": {"enabled": False},
        "url_preview_enabled": False,
        # bcrypt's least work factor (Synapse's default is 12): each user the tests register or log
        # in cost Synapse about 0.25 s of CPU at 12; the tests' passwords need no protection
        "bcrypt_rounds": 4,
        # repeated identical syncs (the tests' members poll) must see new invites at once
        "caches": {"sync_response_cache_duration": 0},
        **limits,
    }
    return json.dumps(config)  # JSON is YAML


def _log_config(root: Path) -> str:
    return json.dumps({
        "version": 1,
        "formatters": {"plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(root / "homeserver.log"),
                              "formatter": "plain"}},
        "root": {"level": "WARNING", "handlers": ["file"]},
        "disable_existing_loggers": False,
    })


@dataclass
class Synapse:
    """A running homeserver."""

    url: str
    secret: str
    root: Path
    proc: subprocess.Popen

    async def register(self, name: str | None = None, *, admin: bool = False,
                       displayname: str | None = None) -> User:
        """A new user, through the shared-secret admin API (``/_synapse/admin/v1/register``)."""
        name = name or f"u{uuid.uuid4().hex[:10]}"
        password = secrets.token_hex(8)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.url}/_synapse/admin/v1/register") as resp:
                nonce = (await resp.json())["nonce"]
            mac = hmac.new(self.secret.encode(), digestmod=hashlib.sha1)
            mac.update(b"\x00".join([nonce.encode(), name.encode(), password.encode(),
                                     b"admin" if admin else b"notadmin"]))
            body = {"nonce": nonce, "username": name, "password": password, "admin": admin,
                    "mac": mac.hexdigest(), "displayname": displayname or name}
            async with http.post(f"{self.url}/_synapse/admin/v1/register", json=body) as resp:
                data = await resp.json()
                assert resp.status == 200, data
        return User(self.url, data["user_id"], data["access_token"], data["device_id"], password)


@dataclass
class User:
    """One account on the test homeserver, used as a member's Element would use the API."""

    url: str
    user_id: str
    token: str
    device_id: str
    password: str
    _txn: int = field(default=0)

    async def call(self, method: str, path: str, body: Any = None, *, ok: bool = True) -> dict[str, Any]:
        """One client-server API call; returns the JSON (asserts success unless ``ok`` is False)."""
        async with aiohttp.ClientSession() as http:
            async with http.request(method, self.url + path, json=body,
                                    headers={"Authorization": f"Bearer {self.token}"}) as resp:
                data = await resp.json(content_type=None) if resp.content_length != 0 else {}
                if ok:
                    assert resp.status == 200, (method, path, resp.status, data)
                data = data if isinstance(data, dict) else {"value": data}
                data.setdefault("_status", resp.status)
                return data

    async def create_room(self, name: str, invite: list[str] = (), *, encrypted: bool = False,
                          direct: bool = False) -> str:
        body: dict[str, Any] = {"name": name, "invite": list(invite), "preset": "private_chat",
                                "is_direct": direct}
        if encrypted:
            body["initial_state"] = [{"type": "m.room.encryption", "state_key": "",
                                      "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]
        return (await self.call("POST", "/_matrix/client/v3/createRoom", body))["room_id"]

    async def invite(self, room: str, user_id: str) -> None:
        await self.call("POST", f"/_matrix/client/v3/rooms/{quote(room)}/invite", {"user_id": user_id})

    async def join(self, room: str) -> None:
        await self.call("POST", f"/_matrix/client/v3/join/{quote(room)}", {})

    async def leave(self, room: str) -> None:
        await self.call("POST", f"/_matrix/client/v3/rooms/{quote(room)}/leave", {})

    async def kick(self, room: str, user_id: str) -> None:
        await self.call("POST", f"/_matrix/client/v3/rooms/{quote(room)}/kick", {"user_id": user_id})

    async def send(self, room: str, content: dict[str, Any], event_type: str = "m.room.message") -> str:
        self._txn += 1
        path = f"/_matrix/client/v3/rooms/{quote(room)}/send/{event_type}/t{self._txn}-{uuid.uuid4().hex[:6]}"
        return (await self.call("PUT", path, content))["event_id"]

    async def say(self, room: str, body: str, *, reply_to: str | None = None, thread: str | None = None) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": body}
        if thread:
            content["m.relates_to"] = {"rel_type": "m.thread", "event_id": thread, "is_falling_back": True,
                                       "m.in_reply_to": {"event_id": thread}}
        elif reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        return await self.send(room, content)

    async def edit(self, room: str, event_id: str, body: str) -> str:
        """Replace the text of ``event_id`` as Element does (``m.replace`` with ``m.new_content``)."""
        new = {"msgtype": "m.text", "body": body}
        return await self.send(room, {"msgtype": "m.text", "body": f"* {body}", "m.new_content": new,
                                      "m.relates_to": {"rel_type": "m.replace", "event_id": event_id}})

    async def redact(self, room: str, event_id: str) -> str:
        """Delete (redact) ``event_id`` for everyone: ``PUT /rooms/{room}/redact/{event}/{txn}``."""
        self._txn += 1
        path = f"/_matrix/client/v3/rooms/{quote(room)}/redact/{quote(event_id)}/r{self._txn}-{uuid.uuid4().hex[:6]}"
        return (await self.call("PUT", path, {}))["event_id"]

    async def react(self, room: str, event_id: str, key: str) -> str:
        return await self.send(room, {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}},
                               "m.reaction")

    async def events(self, room: str, event_type: str | None = None) -> list[dict[str, Any]]:
        """The room's events, oldest first (up to 500)."""
        data = await self.call("GET", f"/_matrix/client/v3/rooms/{quote(room)}/messages?dir=b&limit=500")
        found = list(reversed(data.get("chunk", [])))
        return [e for e in found if event_type is None or e["type"] == event_type]

    async def invites(self) -> dict[str, list[dict[str, Any]]]:
        """Rooms this user is invited to, with their stripped state."""
        data = await self.call("GET", "/_matrix/client/v3/sync?timeout=0")
        return {room: info["invite_state"]["events"] for room, info in data.get("rooms", {}).get("invite", {}).items()}

    async def account_data(self, kind: str) -> dict[str, Any]:
        return await self.call("GET", f"/_matrix/client/v3/user/{quote(self.user_id)}/account_data/{kind}", ok=False)


def _versions_answer(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_matrix/client/versions", timeout=2) as resp:  # noqa: S310 - 127.0.0.1
            return resp.status == 200
    except OSError:
        return False


def start_synapse(root: Path) -> Synapse:
    """Generate a configuration in ``root``, start Synapse, wait until it answers."""
    from signedjson.key import generate_signing_key, write_signing_keys

    root.mkdir(parents=True, exist_ok=True)
    with socket.socket() as probe:  # a free port (not tests.conftest.free_port: conftest imports this module)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    secret = secrets.token_hex(16)
    (root / "homeserver.yaml").write_text(_config(root, port, secret))
    (root / "log.yaml").write_text(_log_config(root))
    with open(root / "signing.key", "w") as key_file:
        write_signing_keys(key_file, [generate_signing_key("a_test")])
    out = open(root / "stdout.log", "ab")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([sys.executable, "-m", "synapse.app.homeserver", "-c", str(root / "homeserver.yaml")],
                            stdout=out, stderr=out, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (root / "stdout.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"Synapse exited with {proc.returncode}: {tail}")
        if _versions_answer(url):
            return Synapse(url, secret, root, proc)
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"Synapse did not answer on {url} within {START_SECONDS} s")


_SHARED: list[Synapse] = []


def shared_server() -> Synapse:
    """The one Synapse of this test process, started on first use and stopped at exit. Skips
    the calling test when it cannot start (fails it under ``CI=true``)."""
    if not _SHARED:
        try:
            import synapse  # noqa: F401

            _SHARED.append(start_synapse(Path(tempfile.mkdtemp(prefix="bamboe-synapse-"))))
        except Exception as exc:  # noqa: BLE001 - any reason it cannot start
            if os.environ.get("CI") == "true":
                pytest.fail(f"Synapse is required in CI but could not start: {exc!r}")
            pytest.skip(f"Synapse cannot start here ({type(exc).__name__}: {exc}); install the dev extra")
        atexit.register(_stop, _SHARED[0])
    return _SHARED[0]


def _stop(server: Synapse) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def synapse_server() -> Synapse:
    """The test process's Synapse (skips without it; fails in CI)."""
    return shared_server()


async def until(condition: Any, seconds: float = 30, what: str = "the condition", step: Any = None) -> Any:
    """Wait until ``await condition()`` is truthy (returns it); fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        if step is not None:
            step()
        await asyncio.sleep(0.1)
