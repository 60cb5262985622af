"""``bamboe demo``: an interactive group chat in the terminal, on SQLite, with a virtual clock.

You speak as any member of a sample network (six people, all five BOPOG perspectives, a trekker
and a procesbegeleider) and move the clock on to see what the bot sends meanwhile.
"""

from __future__ import annotations

import re
import shlex
import sys
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

import yaml

from adapters.console.harness import Harness, HarnessError, Sent
from bot import i18n
from bot.markup import spans
from bot.models import Network
from bot.parsing import UserError, parse_time, take_date
from bot.timeutil import format_when

#: the furthest ``:tot`` jumps at once (a longer jump plays months of posts unasked)
MAX_JUMP = timedelta(weeks=8)

BOLD, ITALIC, DIM, RESET = "\033[1m", "\033[3m", "\033[2m", "\033[0m"


def sample() -> dict:
    """The sample network the demo starts with."""
    return yaml.safe_load(resources.files("adapters.console").joinpath("sample.yaml").read_text(encoding="utf-8"))


def render(text: str, color: bool) -> str:
    """Core Markdown to terminal text (ANSI bold/italic when ``color``)."""
    out = []
    for span in spans(text):
        if color and (span.bold or span.italic):
            out.append((BOLD if span.bold else "") + (ITALIC if span.italic else "") + span.text + RESET)
        else:
            out.append(span.text)
    return "".join(out)


def parse_wait(value: str) -> timedelta:
    """``2d``, ``3u``/``3h``, ``45m``, ``1w``, also written out (``3 dagen``, ``2 weeks``, ``1 uur``) → a timedelta."""
    value = value.strip().lower()
    units = {"m": 1 / 60, "min": 1 / 60, "u": 1, "h": 1, "d": 24, "w": 24 * 7}
    words = {"minuut": "m", "minuten": "m", "minute": "m", "minutes": "m", "uur": "u", "uren": "u", "hour": "h",
             "hours": "h", "dag": "d", "dagen": "d", "day": "d", "days": "d", "week": "w", "weken": "w",
             "weeks": "w"}
    if (m := re.fullmatch(r"(\d+)\s*([a-z]+)", value)) and m[2] in words:
        return timedelta(hours=int(m[1]) * units[words[m[2]]])
    for suffix in sorted(units, key=len, reverse=True):
        if value.endswith(suffix) and value[: -len(suffix)].strip().isdigit():
            return timedelta(hours=int(value[: -len(suffix)]) * units[suffix])
    if value.isdigit():
        return timedelta(hours=int(value))
    raise UserError("console.bad_wait", value=value)


class Demo:
    """The interactive loop; reads lines from ``stdin`` and writes the chat to ``stdout``."""

    def __init__(self, harness: Harness, lang: str, stdin: TextIO, stdout: TextIO, color: bool) -> None:
        self.h = harness
        self.lang = lang
        self.stdin, self.stdout, self.color = stdin, stdout, color
        self.speaker = ""
        harness.recorder.listeners.append(self.show)

    def t(self, key: str, **params: object) -> str:
        """A console text in the demo's language, rendered for the terminal."""
        return render(i18n.t(self.lang, f"console.{key}", **params), self.color)

    def when(self, at: datetime) -> str:
        """A readable local time."""
        return format_when(Network(timezone=self.h.timezone), at, self.lang)

    def show(self, sent: Sent) -> None:
        """Print one bot message as the chat shows it."""
        if sent.to == "group" and sent.visible_to:
            head = self.t("to_only", name=self.h.names.get(sent.visible_to, sent.visible_to))
        elif sent.to == "group":
            head = self.t("to_group")
        else:
            member = sent.to.removeprefix("dm:")
            head = self.t("to_private", name=self.h.names.get(member, member))
        tag = f"[{self.when(sent.at)} · {sent.kind}]"
        if self.color:
            tag = DIM + tag + RESET
        print(f"\n{tag} {head}", file=self.stdout)
        for line in render(sent.text, self.color).splitlines():
            print("  " + line, file=self.stdout)
        for i, (label, _) in enumerate(sent.buttons, 1):
            print("  " + self.t("button", nr=i, label=label), file=self.stdout)
        for name, _, data in sent.files:
            print("  " + self.t("file", name=name, size=len(data)), file=self.stdout)

    async def run(self) -> None:
        """Read and handle lines until end of input or ``:stop``."""
        print(self.t("welcome"), file=self.stdout)
        self.list_members()
        self.speaker = next(iter(self.h.names))
        while True:
            self.stdout.write(f"\n{self.h.names[self.speaker]} @ {self.when(self.h.clock.now())}> ")
            self.stdout.flush()
            line = self.stdin.readline()
            if not line:
                print(file=self.stdout)
                return
            line = line.strip()
            if not line:
                continue
            try:
                if line.startswith(":"):
                    if not await self.meta(line[1:]):
                        return
                else:
                    await self.h.say(self.speaker, line)
            except UserError as err:
                print(render(i18n.t(self.lang, err.key, **err.params), self.color), file=self.stdout)
            except HarnessError as err:
                print(self.t("harness_error", reason=str(err)), file=self.stdout)

    def list_members(self) -> None:
        """Print who is in the sample network."""
        print(self.t("members_title"), file=self.stdout)
        for mid, name in self.h.names.items():
            print(f"  {mid:8} {name}", file=self.stdout)

    async def meta(self, line: str) -> bool:
        """Handle a ``:command``; False ends the demo."""
        try:
            parts = shlex.split(line)
        except ValueError:
            parts = line.split()
        if not parts:
            return True
        cmd, args = parts[0].lower(), parts[1:]
        rest = line.partition(" ")[2].strip()
        if cmd in ("stop", "quit", "exit", "q"):
            return False
        if cmd in ("help", "hulp", "h", "?"):
            print(self.t("help"), file=self.stdout)
        elif cmd in ("als", "as", "ik", "me"):
            wanted = " ".join(args).casefold()
            match = [m for m, n in self.h.names.items() if m.casefold() == wanted or n.casefold().startswith(wanted)]
            if not wanted or len(match) != 1:
                print(self.t("who_unknown", value=" ".join(args)), file=self.stdout)
                self.list_members()
            else:
                self.speaker = match[0]
        elif cmd in ("wie", "who"):
            self.list_members()
        elif cmd in ("wacht", "wait"):
            await self.h.advance(self.h.clock.now() + parse_wait(" ".join(args) if args else "1d"))
            print(self.t("now", when=self.when(self.h.clock.now())), file=self.stdout)
        elif cmd in ("tot", "until"):
            zone = ZoneInfo(self.h.timezone)
            local_now = self.h.clock.now().astimezone(zone)
            day, used = take_date(args, local_now.date())
            at = parse_time(args[used]) if len(args) > used else parse_time("09:00")
            if len(args) > used + 1:
                raise UserError("console.bad_until", value=" ".join(args))
            target = datetime.combine(day, at, zone)
            if target <= local_now:
                raise UserError("console.until_past", when=self.when(target))
            if target - local_now > MAX_JUMP:
                raise UserError("console.until_far", when=self.when(target), weeks=MAX_JUMP.days // 7)
            await self.h.advance(target)
            print(self.t("now", when=self.when(self.h.clock.now())), file=self.stdout)
        elif cmd in ("antwoord", "reply"):
            if not rest:
                print(self.t("reply_usage"), file=self.stdout)
            elif self.h.recorder.latest("nudge") is None:
                print(self.t("no_question"), file=self.stdout)
            else:
                await self.h.say(self.speaker, rest, reply_to="nudge")
        elif cmd in ("privé", "prive", "private", "dm"):
            await self.h.say(self.speaker, rest, private=True)
        elif cmd in ("knop", "button", "press"):
            await self.press(" ".join(args))
        else:
            print(self.t("unknown_meta", command=":" + cmd), file=self.stdout)
        return True

    async def press(self, label: str) -> None:
        """Press a button (by number or label) on the latest message that has buttons."""
        for sent in reversed(self.h.recorder.sent):
            if not sent.buttons:
                continue
            if label.isdigit() and 0 < int(label) <= len(sent.buttons):
                label = sent.buttons[int(label) - 1][0]
            await self.h.press(self.speaker, label, sent.kind)
            return
        print(self.t("no_buttons"), file=self.stdout)


def next_monday_morning(now: datetime, timezone: str) -> datetime:
    """Monday 10:30 local time of the coming week: a quiet start, and `:wacht 1d` then shows Tuesday's 10:00 nudge."""
    loc = now.astimezone(ZoneInfo(timezone))
    day = loc.date() + timedelta(days=(7 - loc.weekday()) % 7 or 7)
    return datetime.combine(day, datetime.min.time().replace(hour=10, minute=30), ZoneInfo(timezone))


async def main(lang: str, database: Path, start: datetime | None, stdin: TextIO = sys.stdin,
               stdout: TextIO = sys.stdout) -> int:
    """Run the demo; returns the exit status."""
    from bot.database import sqlite_url_for

    data = sample()
    data["network"]["language"] = lang
    if database.exists():
        database.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    begin = start or next_monday_morning(datetime.now(ZoneInfo(data["network"]["timezone"])),
                                         data["network"]["timezone"])
    harness = await Harness.open(sqlite_url_for(database), begin, "demo")
    try:
        await harness.setup(data["network"], data["members"])
        demo = Demo(harness, lang, stdin, stdout, color=stdout.isatty())
        await demo.run()
    finally:
        await harness.close()
    return 0
