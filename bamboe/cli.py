"""The ``bamboe`` command: ``demo``, ``simulate``, ``run``, ``teams package``, ``db upgrade`` and ``secrets``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import datetime
from pathlib import Path

from bamboe import __version__, gcpause

DEMO_HELP = """\
An interactive group chat in your terminal with the real Bamboe core, a local SQLite file and a
virtual clock: no tokens, no network. It starts with a sample network of six members (all five
BOPOG perspectives, a trekker and a procesbegeleider). Type messages and /commands as any member
(:als <naam> switches), move the clock on with :wacht 2d to see the nudges, reminders and
harvests the bot sends meanwhile, and :help for all console commands. Private messages are shown
as such. The demo database is recreated on every start.
"""

SIMULATE_HELP = """\
Replay a scenario (YAML, see docs/simulate.md) on a virtual clock with the real core and print
one JSON object per line for each message the bot sends. Exits 0 on success and 2 with a message
naming the step and line on a bad scenario.
"""

RUN_HELP = """\
Run the bot for real: every adapter configured in the environment (SLACK_BOT_TOKEN,
TELEGRAM_BOT_TOKEN, …), the dispatcher and one HTTP server with /healthz, /readyz and /metrics
(BAMBOE_HTTP_PORT, default 8080). Logs go to stderr, as text or as JSON lines
(BAMBOE_LOG_FORMAT=json). SIGTERM stops it cleanly within 10 seconds. See README.md for the
configuration table and docs/deploy.md for running it with Docker Compose.
"""


TEAMS_HELP = """\
The Teams app package for your organisation's app catalogue: manifest.json (schema v1.22; a bot
for teams, group chats and 1:1 chats, command lists in Dutch and English, the resource-specific
consent permissions that let replies reach the bot without an @mention), en-us.json and the
colour and outline icons. Upload it in the Teams admin centre (see docs/teams.md).
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the docs test)."""
    parser = argparse.ArgumentParser(prog="bamboe", description="Bamboe: a companion bot for learning networks.")
    parser.add_argument("--version", action="version", version=f"bamboe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="interactive group chat in the terminal (no tokens)", description=DEMO_HELP)
    demo.add_argument("--lang", choices=("nl", "en"), default="nl", help="language of the bot and the console")
    demo.add_argument(
        "--database",
        type=Path,
        default=None,
        help="SQLite file for the demo (default: demo.sqlite3 in the user data folder)",
    )
    demo.add_argument(
        "--start", default=None, help="virtual start time, e.g. 2026-01-05T09:00 (default: next Monday 09:00)"
    )

    sim = sub.add_parser("simulate", help="replay a scenario file, print a JSON transcript", description=SIMULATE_HELP)
    sim.add_argument("file", help="scenario YAML file")
    sim.add_argument("--database-url", default=None, help="database to run on (default: a fresh temporary SQLite file)")
    sim.add_argument("--out", default=None, help="folder for files the bot sends (reports)")

    sub.add_parser("run", help="run the configured adapters and the dispatcher", description=RUN_HELP)

    teams = sub.add_parser("teams", help="Microsoft Teams: build the app package", description=TEAMS_HELP)
    teams_sub = teams.add_subparsers(dest="teams_command", metavar="ACTION")
    pack = teams_sub.add_parser("package", help="write the Teams app package (manifest.json and icons) as a zip")
    pack.add_argument("--out", type=Path, default=Path("bamboe-teams.zip"),
                      help="the zip to write; - writes it to stdout (e.g. out of a container: "
                           "docker compose run --rm -T bot bamboe teams package --out - > bamboe-teams.zip)")
    pack.add_argument("--app-id", default=None, help="the Entra application (client) id (default: TEAMS_APP_ID)")
    pack.add_argument("--public-url", default=None,
                      help="the https address Bamboe is served at (default: TEAMS_PUBLIC_URL)")
    pack.add_argument("--version", dest="app_version", default="1.0.0", help="the app's version (raise it per update)")
    pack.add_argument("--developer", default="Bamboe", help="the publisher's name shown in Teams")
    pack.add_argument("--privacy-url", default=None, help="your privacy statement (default: the public address)")
    pack.add_argument("--terms-url", default=None, help="your terms of use (default: the public address)")

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply the migrations to DATABASE_URL (or the default SQLite file)")

    secrets = sub.add_parser("secrets", help="the key for the tokens kept in the database (BAMBOE_SECRET_KEY)")
    secrets_sub = secrets.add_subparsers(dest="secrets_command", metavar="ACTION")
    secrets_sub.add_parser("new-key", help="print a new random key for BAMBOE_SECRET_KEY")
    secrets_sub.add_parser(
        "rotate",
        help="re-encrypt every stored secret with the first key in BAMBOE_SECRET_KEY (the others only decrypt)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from bamboe import logs

    try:  # the console commands log warnings only; `run` takes its level from the settings below
        logs.configure("WARNING", os.environ.get("BAMBOE_LOG_FORMAT", "text"))
    except ValueError as exc:
        print(f"bamboe: {exc}", file=sys.stderr)
        return 2
    if args.command == "demo":
        from platformdirs import user_data_path

        with gcpause.paused():  # while importing (bamboe/gcpause.py)
            from adapters.console import demo

        database = args.database or user_data_path("bamboe", appauthor=False) / "demo.sqlite3"
        database.parent.mkdir(parents=True, exist_ok=True)
        start = None
        if args.start:
            from zoneinfo import ZoneInfo

            start = datetime.fromisoformat(args.start)
            if start.tzinfo is None:
                start = start.replace(tzinfo=ZoneInfo("Europe/Amsterdam"))
        return asyncio.run(demo.main(args.lang, database, start))
    if args.command == "simulate":
        with gcpause.paused():  # while importing (bamboe/gcpause.py)
            from adapters.console import simulate
        return asyncio.run(simulate.main(args.file, args.database_url, args.out))
    if args.command == "run":
        gcpause.pause()  # serve() resumes it once ready (bamboe/gcpause.py)
        try:
            return _run()
        finally:
            gcpause.resume()
    if args.command == "teams" and args.teams_command == "package":
        return teams_package(args)
    if args.command == "db" and args.db_command == "upgrade":
        return _maintain("db upgrade", rotate=False)
    if args.command == "secrets" and args.secrets_command == "new-key":
        from bot.secrets import new_key

        print(new_key())
        return 0
    if args.command == "secrets" and args.secrets_command == "rotate":
        return _maintain("secrets rotate", rotate=True)
    parser.print_help()
    return 2


def _run() -> int:
    """``bamboe run``: read the settings, then serve until stopped."""
    from bamboe import logs
    from bamboe.runtime import serve
    from bamboe.settings import Settings

    try:
        settings = Settings()
        logs.configure(settings.bamboe_log_level, settings.bamboe_log_format)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError too
        print(f"bamboe run: invalid configuration: {exc}", file=sys.stderr)
        return 2
    problems = settings.configuration_problems()
    if problems:
        print(f"bamboe run: invalid configuration: {'; '.join(problems)}", file=sys.stderr)
        return 2
    if not settings.configured_platforms():
        print(
            "bamboe run: no chat platform is configured. Set SLACK_BOT_TOKEN, TELEGRAM_BOT_TOKEN, "
            "TEAMS_APP_ID with TEAMS_APP_PASSWORD and TEAMS_TENANT_ID, or MATRIX_HOMESERVER_URL with "
            "MATRIX_USER_ID and MATRIX_ACCESS_TOKEN (or MATRIX_PASSWORD) "
            "(see README.md, 'Configuration'), or try the bot first with: bamboe demo",
            file=sys.stderr,
        )
        return 2
    try:
        return asyncio.run(serve(settings))
    except (RuntimeError, ValueError) as exc:  # configuration or connection problems at start
        print(f"bamboe run: {exc}", file=sys.stderr)
        return 2


def teams_package(args: argparse.Namespace) -> int:
    """``bamboe teams package``: write the app package; 2 with a clear message when it cannot."""
    from adapters.teams.manifest import PackageError, package
    from bamboe.features import FEATURES
    from bamboe.settings import Settings
    from bot.registry import Registry

    to_stdout = str(args.out) == "-"
    if to_stdout and sys.stdout.isatty():
        print("bamboe teams package: --out - writes the zip to stdout; redirect it to a file "
              "(… --out - > bamboe-teams.zip)", file=sys.stderr)
        return 2
    settings = Settings()
    try:
        data = package(args.app_id or settings.teams_app_id or "", args.public_url or settings.teams_public_url or "",
                       Registry.of(FEATURES).commands, version=args.app_version, developer=args.developer,
                       privacy_url=args.privacy_url, terms_url=args.terms_url)
    except PackageError as exc:
        print(f"bamboe teams package: {exc}", file=sys.stderr)
        return 2
    if to_stdout:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        args.out.write_bytes(data)
    # the status goes to stderr, so that stdout holds only the zip (--out - or --out /dev/stdout)
    print(f"bamboe teams package: wrote {'the zip to stdout' if to_stdout else args.out} ({len(data)} bytes). "
          "Upload it in the Teams admin centre (Teams apps > Manage apps > Upload new app); see docs/teams.md.",
          file=sys.stderr)
    return 0


def _maintain(name: str, *, rotate: bool) -> int:
    """``db upgrade`` (migrate; with a key also seal plaintext secrets) or ``secrets rotate``
    (migrate, then re-encrypt every stored secret with the first key)."""
    from bamboe.runtime import migrate, seal_secrets
    from bamboe.settings import Settings
    from bot.database import Database, create_engine

    async def go() -> str:
        settings = Settings()
        box = settings.require_secret_box("bamboe secrets rotate") if rotate else settings.secret_box()
        db = Database(create_engine(settings.resolved_database_url()))
        try:
            await migrate(db, box)
            if rotate and box is not None:
                done = await seal_secrets(db, box, rotate=True)
                return f"re-encrypted {done.rotated + done.sealed} secret(s) with the first key in BAMBOE_SECRET_KEY."
        finally:
            await db.close()
        return "the database is at the latest version."

    try:
        outcome = asyncio.run(go())
    except ValueError as exc:  # a missing or wrong key (SecretError), a bad DATABASE_URL
        print(f"bamboe {name}: {exc}", file=sys.stderr)
        return 2
    print(f"bamboe {name}: {outcome}")
    return 0
