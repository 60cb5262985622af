"""``bamboe simulate FILE``: replay a scenario (YAML) on a virtual clock, print a JSON transcript.

Each message the bot sends becomes one JSON line. A bad scenario stops with a message naming
the step, its line in the file and the offending member or value (exit status 2).
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from adapters.console.harness import Harness, HarnessError, Sent
from bot.core import ROLES
from bot.database import sqlite_url_for
from bot.features.network import PERSPECTIVE_ALIASES, ROLE_ALIASES

STEP_KINDS = ("text", "press", "join", "leave", "until", "edit", "delete", "rename")


class ScenarioError(ValueError):
    """The scenario file is wrong; the message says where and how."""


@dataclass
class Step:
    """One step of a scenario, with its line in the file."""

    line: int
    index: int
    data: dict[str, Any]

    def where(self) -> str:
        """``step 3 (line 14)``."""
        return f"step {self.index} (line {self.line})"


@dataclass
class Scenario:
    """A validated scenario."""

    network: dict[str, Any]
    members: list[dict[str, Any]]
    start: datetime
    steps: list[Step]
    #: several chats of one network (``[{id, platform, title}]``); empty: one chat, as always
    chats: list[dict[str, Any]] = field(default_factory=list)


def _parse_local(value: Any, zone: ZoneInfo, where: str) -> datetime:
    if isinstance(value, datetime):
        value = value.isoformat()
    if not isinstance(value, str):
        raise ScenarioError(f"{where}: time {value!r} is not a date-time like 2026-01-05T09:00")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ScenarioError(f"{where}: bad time {value!r}; write it like 2026-01-05T09:00") from None
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed


def load(text: str) -> Scenario:
    """Parse and validate a scenario; raises :class:`ScenarioError` naming the problem."""
    try:
        # libyaml when installed (ten times faster); parsed once: the nodes give the steps' lines,
        # the same nodes give the data (what yaml.safe_load does after composing)
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
        try:
            root = loader.get_single_node()
            data = None if root is None else loader.construct_document(root)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ScenarioError(f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError("the scenario must be a mapping with network, members, start and steps")
    network = data.get("network") or {}
    if not isinstance(network, dict) or not network.get("name"):
        raise ScenarioError("network: needs at least a name")
    tz_name = str(network.get("timezone", "Europe/Amsterdam"))
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScenarioError(f"network: unknown timezone {tz_name!r}") from None
    if str(network.get("language", "nl")) not in ("nl", "en"):
        raise ScenarioError(f"network: language must be nl or en, not {network.get('language')!r}")
    chats = _chats(data.get("chats"))
    members = data.get("members") or []
    if not isinstance(members, list):
        raise ScenarioError("members: must be a list")
    seen: set[str] = set()
    for i, m in enumerate(members, 1):
        if not isinstance(m, dict) or not m.get("id"):
            raise ScenarioError(f"members[{i}]: needs an id")
        mid = str(m["id"])
        if mid in seen:
            raise ScenarioError(f"members[{i}]: duplicate id {mid!r}")
        seen.add(mid)
        m["id"] = mid
        if m.get("chats") is not None:
            where = m["chats"] if isinstance(m["chats"], list) else [m["chats"]]
            unknown = [str(c) for c in where if str(c) not in {c["id"] for c in chats}]
            if not chats or not where or unknown:
                raise ScenarioError(f"members[{i}] ({mid}): chats must name chats of the top-level chats list"
                                    + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
            m["chats"] = [str(c) for c in where]
        role = ROLE_ALIASES.get(str(m.get("role", "deelnemer")).lower())  # lead, facilitator, member too
        if role not in ROLES:
            raise ScenarioError(f"members[{i}] ({mid}): unknown role {m.get('role')!r}; use one of {', '.join(ROLES)}")
        m["role"] = role
        if m.get("perspective") is not None:
            p = PERSPECTIVE_ALIASES.get(str(m["perspective"]).lower())
            if p is None:
                raise ScenarioError(f"members[{i}] ({mid}): unknown perspective {m['perspective']!r}")
            m["perspective"] = p
    start = _parse_local(data.get("start"), zone, "start")
    lines = _step_lines(root)
    steps = []
    for i, raw in enumerate(data.get("steps") or [], 1):
        step = Step(lines[i - 1] if i - 1 < len(lines) else 0, i, raw if isinstance(raw, dict) else {})
        if not isinstance(raw, dict) or not any(k in raw for k in STEP_KINDS):
            raise ScenarioError(f"{step.where()}: a step needs one of: text (with from), press, edit, delete, "
                                "join, leave, rename, until")
        steps.append(step)
    return Scenario(network, members, start, steps, chats)


def _chats(raw: Any) -> list[dict[str, Any]]:
    """The top-level ``chats:`` list, validated: unique ids, each with a platform label."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not raw:
        raise ScenarioError("chats: must be a list like [{id: teams, platform: teams, title: \"…\"}]")
    seen: set[str] = set()
    chats = []
    for i, c in enumerate(raw, 1):
        if not isinstance(c, dict) or not c.get("id") or not c.get("platform"):
            raise ScenarioError(f"chats[{i}]: needs an id and a platform")
        cid = str(c["id"])
        if cid in seen:
            raise ScenarioError(f"chats[{i}]: duplicate id {cid!r}")
        seen.add(cid)
        chats.append({"id": cid, "platform": str(c["platform"]).lower(), "title": str(c.get("title") or "")})
    return chats


def _step_lines(root: yaml.Node | None) -> list[int]:
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if getattr(key, "value", None) == "steps" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


_SLUG = re.compile(r"[^a-z0-9]+")


async def run(scenario: Scenario, *, database_url: str | None, out: TextIO, files_dir: Path | None = None) -> None:
    """Run ``scenario`` and write the transcript to ``out``."""
    zone = ZoneInfo(str(scenario.network.get("timezone", "Europe/Amsterdam")))
    with tempfile.TemporaryDirectory(prefix="bamboe-sim-") as tmp:
        url = database_url or sqlite_url_for(Path(tmp) / "simulate.sqlite3")
        chat_id = "sim-" + _SLUG.sub("-", str(scenario.network["name"]).lower()).strip("-")
        harness = await Harness.open(url, scenario.start, chat_id, fresh=database_url is None)
        timezone = str(scenario.network.get("timezone", "Europe/Amsterdam"))

        def emit(sent: Sent) -> None:
            out.write(json.dumps(sent.transcript(timezone), ensure_ascii=False) + "\n")

        harness.recorder.listeners.append(emit)
        if files_dir is not None:
            files_dir.mkdir(parents=True, exist_ok=True)
            harness.recorder.files_dir = files_dir
        try:
            await harness.setup(scenario.network, scenario.members, scenario.chats)
            previous = scenario.start
            for step in scenario.steps:
                at_value = step.data.get("until", step.data.get("at"))
                if at_value is None:
                    raise ScenarioError(f"{step.where()}: needs an 'at' time")
                at = _parse_local(at_value, zone, step.where())
                if at < previous:
                    raise ScenarioError(f"{step.where()}: time {at_value} is before the previous step")
                previous = at
                await harness.advance(at)
                try:
                    await _do(harness, step)
                except HarnessError as exc:
                    raise ScenarioError(f"{step.where()}: {exc}") from None
        finally:
            await harness.close()


async def _do(harness: Harness, step: Step) -> None:
    d = step.data
    if "until" in d:
        return
    chat = str(d["chat"]) if d.get("chat") is not None else None
    if "join" in d:
        j = d["join"]
        if not isinstance(j, dict) or not j.get("id"):
            raise ScenarioError(f"{step.where()}: join needs an id and a name")
        if j.get("perspective") and str(j["perspective"]).lower() not in PERSPECTIVE_ALIASES:
            raise ScenarioError(f"{step.where()}: unknown perspective {j['perspective']!r}")
        await harness.join(str(j["id"]), str(j.get("name", j["id"])), j.get("perspective"), chat=chat)
        return
    if "leave" in d:
        await harness.leave(str(d["leave"]), chat=chat)
        return
    if "rename" in d:  # the chat is renamed on its platform
        if not isinstance(d["rename"], str):
            raise ScenarioError(f"{step.where()}: rename needs the chat's new title as text")
        await harness.rename(d["rename"], chat=chat)
        return
    who = d.get("from")
    if who is None:
        raise ScenarioError(f"{step.where()}: needs 'from' (the member who acts)")
    if "press" in d:
        on = d.get("on", d.get(True))  # YAML 1.1 reads a bare `on:` key as the boolean True
        if not on:
            raise ScenarioError(f"{step.where()}: press needs 'on' (the kind of message with the button)")
        await harness.press(str(who), str(d["press"]), str(on), chat=chat)
        return
    if "edit" in d or "delete" in d:
        message_id = harness.said_by(str(who), _back(d.get("edit", d.get("delete")), step))
        if "delete" in d:
            await harness.delete(message_id)
            return
        if not isinstance(d.get("text"), str):
            raise ScenarioError(f"{step.where()}: edit needs the new text")
        await harness.edit(str(who), message_id, d["text"])
        return
    text = d.get("text")
    if not isinstance(text, str):
        raise ScenarioError(f"{step.where()}: text must be a string")
    await harness.say(str(who), text, reply_to=d.get("reply_to"), private=bool(d.get("private")), chat=chat)


def _back(value: object, step: Step) -> int:
    """``edit:`` / ``delete:``: ``last`` (the member's latest message) or n (their n-th latest)."""
    if value == "last" or value is True:
        return 1
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ScenarioError(f"{step.where()}: edit and delete take 'last' or a number (1 is the latest message)")


async def main(path: str, database_url: str | None, out_dir: str | None) -> int:
    """Entry point for the command line; returns the exit status."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"bamboe simulate: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        scenario = load(text)
        await run(scenario, database_url=database_url, out=sys.stdout,
                  files_dir=Path(out_dir) if out_dir else None)
    except ScenarioError as exc:
        sys.stdout.flush()
        print(f"bamboe simulate: {path}: {exc}", file=sys.stderr)
        return 2
    return 0
