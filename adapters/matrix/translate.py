"""Matrix events (their JSON, as the client-server API delivers them) → the core's view
(pure functions, no network).

* A command is typed with ``!`` (``!pauze 2w``); the core gets ``/pauze 2w``.
* An answer is a reply (``m.relates_to.m.in_reply_to``) or a message in a thread
  (``rel_type: m.thread``, whose ``event_id`` is the thread root): either way ``reply_to`` is the
  event id of the bot message it answers (for a thread: its root).
* Reply fallbacks (``> <@user> quoted…`` lines before the answer, from older clients) are
  stripped, so only what the member wrote reaches the core.
"""

from __future__ import annotations

import re
from typing import Any

PLATFORM = "matrix"
#: message types a person writes (``m.notice`` is what bots send; they are not answered)
TEXT_TYPES = ("m.text", "m.emote")
#: a command word after ``!``: a letter first, so ``!!!`` or ``! `` stay plain text
_COMMAND = re.compile(r"^!([^\W\d_][\w-]*)(.*)$", re.DOTALL)


def server_of(user_id: str) -> str:
    """``@anna:example.org`` → ``example.org``."""
    return user_id.partition(":")[2].lower()


def localpart(user_id: str) -> str:
    """``@anna:example.org`` → ``anna``."""
    return user_id.partition(":")[0].lstrip("@")


def allowed(user_id: str, servers: frozenset[str]) -> bool:
    """True when ``user_id``'s server may invite the bot (``*`` allows every server)."""
    return "*" in servers or server_of(user_id) in servers


def strip_reply_fallback(body: str) -> str:
    """``body`` without the quoted lines a reply fallback puts before the answer."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    if index < len(lines) and lines[index] == "":
        return "\n".join(lines[index + 1:])
    return body


def core_text(body: str, commands: frozenset[str] = frozenset()) -> str:
    """What the member typed, in the core's form: ``!pauze 2w`` → ``/pauze 2w`` (for a name in
    ``commands``, or any name when it is empty); a ``/…`` that reached us as text (a client that
    sent it) is left as it is; other text unchanged."""
    text = strip_reply_fallback(body).strip()
    found = _COMMAND.match(text)
    if found is not None and (not commands or found.group(1).lower() in commands):
        return "/" + found.group(1).lower() + found.group(2)
    return text


def relation(content: dict[str, Any]) -> dict[str, Any]:
    """The ``m.relates_to`` of ``content`` (empty when there is none or it is malformed)."""
    rel = content.get("m.relates_to")
    return rel if isinstance(rel, dict) else {}


def answer_target(content: dict[str, Any]) -> str | None:
    """The event a message answers: the thread root for a thread message, else the replied-to event."""
    rel = relation(content)
    if rel.get("rel_type") == "m.thread" and isinstance(rel.get("event_id"), str):
        return rel["event_id"]
    reply = rel.get("m.in_reply_to")
    if isinstance(reply, dict) and isinstance(reply.get("event_id"), str):
        return reply["event_id"]
    return None


def is_edit(content: dict[str, Any]) -> bool:
    """True for an edit of an earlier message (``rel_type: m.replace``): it is not a new answer."""
    return relation(content).get("rel_type") == "m.replace"


def replaced(content: dict[str, Any]) -> tuple[str, str] | None:
    """``(event id, new body)`` of an edit: ``m.relates_to`` with ``rel_type: m.replace`` names the
    edited event, ``m.new_content`` holds its whole new content (the outer ``body``, ``* …``, is
    only a fallback for clients without edits). None when it is no edit or is malformed."""
    rel = relation(content)
    new = content.get("m.new_content")
    if rel.get("rel_type") != "m.replace" or not isinstance(rel.get("event_id"), str) or not isinstance(new, dict):
        return None
    body = new.get("body")
    if new.get("msgtype") not in TEXT_TYPES or not isinstance(body, str):
        return None
    return rel["event_id"], body


def redacted(event: dict[str, Any]) -> str | None:
    """The event an ``m.room.redaction`` removes: ``redacts`` under ``content`` from room version 11
    on, a top-level property before (servers may send both)."""
    content = event.get("content") or {}
    target = content.get("redacts") if isinstance(content, dict) else None
    if not isinstance(target, str):
        target = event.get("redacts")
    return target if isinstance(target, str) and target.startswith("$") else None


def annotation(content: dict[str, Any]) -> tuple[str, str] | None:
    """``(event id, key)`` of a reaction (``m.reaction`` with ``rel_type: m.annotation``)."""
    rel = relation(content)
    if rel.get("rel_type") != "m.annotation":
        return None
    event_id, key = rel.get("event_id"), rel.get("key")
    if isinstance(event_id, str) and isinstance(key, str):
        return event_id, key
    return None


def membership_change(event: dict[str, Any]) -> tuple[str, str, str] | None:
    """For an ``m.room.member`` event: ``(user id, previous membership, new membership)``,
    None when the membership did not change (a new display name or avatar)."""
    if event.get("type") != "m.room.member" or not isinstance(event.get("state_key"), str):
        return None
    content = event.get("content") or {}
    prev = ((event.get("unsigned") or {}).get("prev_content") or {}).get("membership", "leave")
    new = content.get("membership", "")
    if prev == new:
        return None
    return event["state_key"], prev, new


def display_name(event: dict[str, Any]) -> str | None:
    """The display name an ``m.room.member`` event sets, if any."""
    name = (event.get("content") or {}).get("displayname")
    return name.strip() if isinstance(name, str) and name.strip() else None


def invited_as_direct(event: dict[str, Any]) -> bool:
    """True when the invite (or the join that follows it) was for a direct room (``is_direct``)."""
    content = event.get("content") or {}
    prev = (event.get("unsigned") or {}).get("prev_content") or {}
    return bool(content.get("is_direct") or prev.get("is_direct"))


def opened_for(state: list[dict[str, Any]], bot_id: str, user_id: str) -> bool:
    """True when a room's state (``GET /rooms/{id}/state``) is that of a direct room the bot
    ``bot_id`` opened for ``user_id``: the bot created it, and its only other member is that
    person, joined or invited as a direct chat (``is_direct``)."""
    creator = next((e.get("sender") for e in state if e.get("type") == "m.room.create"), None)
    members = {e.get("state_key"): e.get("content") or {} for e in state if e.get("type") == "m.room.member"}
    present = {who for who, content in members.items() if content.get("membership") in ("join", "invite")}
    theirs = members.get(user_id, {})
    return creator == bot_id and present == {bot_id, user_id} and (
        theirs.get("membership") == "join" or theirs.get("is_direct") is True)


def replacement(content: dict[str, Any]) -> str | None:
    """The room an ``m.room.tombstone`` says replaces its room (a room upgrade), if any."""
    room = content.get("replacement_room")
    return room if isinstance(room, str) and room.startswith("!") else None


def predecessor(content: dict[str, Any]) -> str | None:
    """The room an ``m.room.create`` content says this room was upgraded from, if any."""
    before = content.get("predecessor")
    room = before.get("room_id") if isinstance(before, dict) else None
    return room if isinstance(room, str) and room.startswith("!") else None
