"""Operations: /metrics, structured logs, graceful SIGTERM of a real ``bamboe run`` process, and the
deployment files (compose.yaml, .env.example, Dockerfile) checked against the settings."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import signal
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client import REGISTRY
from sqlalchemy import select

from adapters.console.harness import Harness
from bamboe import logs
from bamboe.runtime import open_app, running
from bamboe.settings import FIELDS, Settings
from bot.clock import VirtualClock
from bot.database import Database, create_engine
from bot.events import ChatRef, MessageIn, Person
from bot.models import Job, Network, OutboxMessage
from tests.conftest import MEMBERS, NETWORK, free_port, local
from tests.telegram_standin import StandIn, chat_member, group, message, user

ROOT = Path(__file__).resolve().parents[1]

#: the metric families docs/deploy.md and docs/scaling.md tell operators to watch
DOCUMENTED_METRICS = [
    "bamboe_messages_sent_total",
    "bamboe_messages_failed_total",
    "bamboe_dispatch_lag_seconds",
    "bamboe_handler_seconds",
    "bamboe_jobs_total",
    "bamboe_outbox_messages",
    "bamboe_outbox_oldest_pending_seconds",
    "bamboe_jobs_due",
    "bamboe_jobs_oldest_due_seconds",
    "bamboe_database_up",
    "bamboe_adapter_ready",
]



def families(exposition: str) -> set[str]:
    """The metric names announced with ``# TYPE`` in a Prometheus text page (counters both with
    and without ``_total``: exposition formats differ there)."""
    names = set(re.findall(r"^# TYPE (\S+) ", exposition, re.MULTILINE))
    return names | {n.removesuffix("_total") for n in names} | {n + "_total" for n in names}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ---------------------------------------------------------------------------- /metrics
async def test_metrics_page_has_the_documented_metrics_and_process_metrics(sqlite_url: str) -> None:
    port = free_port()
    settings = Settings(_env_file=None, database_url=sqlite_url, bamboe_http_host="127.0.0.1", bamboe_http_port=port)
    async with running(settings) as app, aiohttp.ClientSession() as http:
        before = sample("bamboe_handler_seconds_count", event="MessageIn")
        await app.receive(MessageIn(ChatRef("console", "g1", "Netwerk"), Person("u1", "Anna"), "/help", "m1"))
        async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            page = await resp.text()
    found = families(page)
    assert [name for name in DOCUMENTED_METRICS if name not in found] == []
    assert "process_cpu_seconds" in found and "process_resident_memory_bytes" in found
    assert sample("bamboe_handler_seconds_count", event="MessageIn") == before + 1
    assert "bamboe_database_up 1.0" in page


async def test_queue_gauges_are_read_from_the_database(sqlite_url: str) -> None:
    now = local(2026, 1, 5, 12, 0)
    clock = VirtualClock(now)
    async with open_app(Settings(_env_file=None, database_url=sqlite_url), clock=clock) as app:
        async with app.db.transaction() as session:
            network = Network(name="Ops", created_at=now - timedelta(days=30))
            session.add(network)
            await session.flush()
            for minutes_ago, state, platform in [
                (10, "pending", "telegram"),
                (2, "pending", "telegram"),
                (1, "sending", "telegram"),
                (60, "waiting", "telegram"),
                (3, "pending", "slack"),
                (30, "sent", "slack"),
            ]:
                session.add(
                    OutboxMessage(
                        platform=platform,
                        chat_id="c1",
                        kind="test",
                        text="geheim",
                        state=state,
                        created_at=now - timedelta(minutes=minutes_ago),
                    )
                )
            session.add(Job(key="a", network_id=network.id, kind="nudge", due_at=now - timedelta(minutes=4)))
            session.add(
                Job(
                    key="b",
                    network_id=network.id,
                    kind="nudge",
                    due_at=now - timedelta(minutes=1),
                    state="claimed",
                    lease_until=now - timedelta(seconds=1),
                )
            )  # its replica died
            session.add(
                Job(
                    key="c",
                    network_id=network.id,
                    kind="nudge",
                    due_at=now - timedelta(minutes=9),
                    state="claimed",
                    lease_until=now + timedelta(minutes=5),
                )
            )  # running elsewhere
            session.add(Job(key="d", network_id=network.id, kind="nudge", due_at=now + timedelta(hours=1)))
            session.add(Job(key="e", network_id=network.id, kind="nudge", due_at=now - timedelta(days=1), state="done"))
        await app.refresh_gauges()
    assert sample("bamboe_outbox_messages", platform="telegram", state="pending") == 2
    assert sample("bamboe_outbox_messages", platform="telegram", state="sending") == 1
    assert sample("bamboe_outbox_messages", platform="telegram", state="waiting") == 1
    assert sample("bamboe_outbox_messages", platform="slack", state="pending") == 1
    assert REGISTRY.get_sample_value("bamboe_outbox_messages", {"platform": "slack", "state": "sent"}) is None
    assert sample("bamboe_outbox_oldest_pending_seconds", platform="telegram") == 600  # waiting rows do not count
    assert sample("bamboe_outbox_oldest_pending_seconds", platform="slack") == 180
    assert sample("bamboe_jobs_due") == 2
    assert sample("bamboe_jobs_oldest_due_seconds") == 240
    assert sample("bamboe_database_up") == 1


async def test_metrics_still_answer_when_the_database_does_not(sqlite_url: str) -> None:
    async with open_app(Settings(_env_file=None, database_url=sqlite_url)) as app:
        await app.db.close()
        app.db.sessions = _broken_sessions  # type: ignore[method-assign]
        await app.refresh_gauges()
        assert sample("bamboe_database_up") == 0


def _broken_sessions() -> Any:
    raise ConnectionError("database gone")


async def test_readyz_says_503_while_draining(sqlite_url: str) -> None:
    port = free_port()
    settings = Settings(_env_file=None, database_url=sqlite_url, bamboe_http_host="127.0.0.1", bamboe_http_port=port)
    async with running(settings) as app, aiohttp.ClientSession() as http:
        app.draining = True
        async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
            assert resp.status == 503
            body = await resp.json()
        async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
            assert resp.status == 200  # alive all the same: no restart, just no new work
    assert body == {"ready": False, "draining": True, "checks": {"database": True}}


# ---------------------------------------------------------------------------- logs
@pytest.fixture
def json_log() -> Any:
    """Root logging as ``bamboe run`` sets it up with BAMBOE_LOG_FORMAT=json, into a buffer."""
    root = logging.getLogger()
    level = root.level
    buffer = io.StringIO()
    handler = logs.configure("DEBUG", "json", stream=buffer)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


def lines_of(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_lines_carry_the_standard_and_extra_fields(json_log: io.StringIO) -> None:
    log = logging.getLogger("bot.jobs")
    log.info("job %s done", 7, extra={"network_id": 3, "job_kind": "nudge", "outbox_id": 12})
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("job %s failed", 8)
    first, second = lines_of(json_log)
    assert first["message"] == "job 7 done" and first["level"] == "INFO" and first["logger"] == "bot.jobs"
    assert (first["network_id"], first["job_kind"], first["outbox_id"]) == (3, "nudge", 12)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", first["time"])
    assert "exception" not in first
    assert second["level"] == "ERROR" and second["error"] == "RuntimeError"
    assert "Traceback" in second["exception"] and "RuntimeError: boom" in second["exception"]


def test_sql_parameters_are_cut_from_logged_errors(json_log: io.StringIO) -> None:
    from sqlalchemy.exc import IntegrityError

    error = IntegrityError(
        "INSERT INTO answers (text) VALUES (?)",
        ("Vertrouwelijk: familie Zwanenburg",),
        Exception("UNIQUE constraint failed"),
    )
    try:
        raise error
    except IntegrityError:
        logging.getLogger("bot.core").exception("storing failed")
    text_handler = logging.StreamHandler(text_buffer := io.StringIO())
    text_handler.setFormatter(logs.TextFormatter())
    text_handler.handle(
        logging.LogRecord(
            "bot.core", logging.ERROR, __file__, 1, "storing failed", None, (IntegrityError, error, error.__traceback__)
        )
    )
    for output in (json_log.getvalue(), text_buffer.getvalue()):
        assert "Zwanenburg" not in output and "[parameters hidden]" in output
        assert "INSERT INTO answers" in output  # the statement itself (placeholders only) helps debugging


def test_text_format_stays_readable_with_extras() -> None:
    record = logging.LogRecord("bot.delivery", logging.WARNING, __file__, 1, "outbox %s failed", (5,), None)
    record.outbox_id = 5
    line = logs.TextFormatter().format(record)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING bot\.delivery: outbox 5 failed outbox_id=5", line
    )


def test_unknown_log_format_or_level_is_refused() -> None:
    with pytest.raises(ValueError, match="BAMBOE_LOG_FORMAT"):
        logs.configure("INFO", "xml", stream=io.StringIO())
    with pytest.raises(ValueError, match="BAMBOE_LOG_LEVEL"):
        logs.configure("LOUD", "json", stream=io.StringIO())


async def test_json_logs_never_contain_message_text(sqlite_url: str, json_log: io.StringIO) -> None:
    secret = "Zwanenburg"
    h = await Harness.open(sqlite_url, local(2026, 1, 5, 8, 0))
    try:
        await h.setup(dict(NETWORK), [dict(m) for m in MEMBERS])
        await h.advance(local(2026, 1, 6, 10, 0))
        await h.say("cem", f"Vertrouwelijk verhaal over familie {secret}, BSN 111222333.", reply_to="nudge")
        await h.say("cem", f"/onbekendcommando {secret}")
        await h.say("cem", f"/idee {secret} " * 300)
        await h.say("anna", f"/mededeling {secret} komt langs")
        await h.say("dewi", f"/vier {secret}", private=True)
        await h.advance(local(2026, 1, 13, 12, 0))
        logging.getLogger("bot.core").warning("scenario done", extra={"network_id": 1})
    finally:
        await h.close()
    records = lines_of(json_log)  # every line is one JSON object
    assert any(r["message"] == "scenario done" for r in records)
    assert len(records) > 1, "the scenario should log something besides the marker"
    assert secret not in json_log.getvalue()
    assert "111222333" not in json_log.getvalue()


# ---------------------------------------------------------------------------- SIGTERM
@dataclass
class SlowStandIn(StandIn):
    """The Telegram stand-in, answering sendMessage only after ``hold`` seconds and getMe after
    ``hold_start`` seconds (or at once when it closes)."""

    hold: float = 0.0
    #: how long getMe (the first call at start) is held
    hold_start: float = 0.0
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

    async def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=self.hold)
        return await super()._m_sendMessage(params)

    async def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        with suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=self.hold_start)
        return await super()._m_getMe(params)

    async def close(self) -> None:
        self._closing.set()  # a request still sleeping must not hold the server's shutdown up
        await super().close()


@pytest.fixture
async def slow_api() -> Any:
    api = SlowStandIn()
    await api.start()
    yield api
    await api.close()


async def spawn_bamboe(tmp_path: Path, sqlite_url: str, api: StandIn) -> tuple[asyncio.subprocess.Process, int, Path]:
    """Start ``python -m bamboe run`` with Telegram pointed at ``api`` (JSON logs into a file)."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DATABASE_URL": sqlite_url,
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_API_URL": api.url + "/bot",
        "BAMBOE_HTTP_HOST": "127.0.0.1",
        "BAMBOE_HTTP_PORT": str(port),
        "BAMBOE_LOG_FORMAT": "json",
        "BAMBOE_LOG_LEVEL": "INFO",
    }
    log_path = tmp_path / "bamboe.log"
    with log_path.open("wb") as log_file:  # the child keeps its own descriptor
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bamboe", "run", cwd=tmp_path, env=env, stdout=log_file, stderr=log_file
        )
    return proc, port, log_path


async def start_bamboe(tmp_path: Path, sqlite_url: str, api: StandIn) -> tuple[asyncio.subprocess.Process, int, Path]:
    """``python -m bamboe run`` with Telegram pointed at ``api``; returns once /readyz says 200."""
    proc, port, log_path = await spawn_bamboe(tmp_path, sqlite_url, api)
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while True:
            if proc.returncode is not None:
                pytest.fail(f"bamboe run exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        return proc, port, log_path
            except (aiohttp.ClientError, TimeoutError):  # not up yet, or busy starting on a loaded machine
                pass
            if time.monotonic() > deadline:
                proc.kill()
                await proc.wait()
                pytest.fail(f"bamboe run never became ready: {log_path.read_text()[-2000:]}")
            await asyncio.sleep(0.1)


async def stop_bamboe(proc: asyncio.subprocess.Process) -> tuple[int, float]:
    """SIGTERM; returns the exit status and the seconds it took (kills it after 20 s)."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.wait_for(proc.wait(), timeout=20)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail("bamboe run did not stop within 20 s of SIGTERM")
    return code, time.monotonic() - started


async def until(condition: Any, what: str, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def outbox_rows(sqlite_url: str) -> list[OutboxMessage]:
    db = Database(create_engine(sqlite_url))
    try:
        async with db.sessions() as session:
            return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    finally:
        await db.close()


ANNA = user(1001, "Anna", "de Vries")
GROUP = group()


def add_bot(api: StandIn) -> None:
    """Anna adds the bot to the group (the two updates Telegram sends); the bot says hello."""
    api.push(chat_member(GROUP, ANNA, api.me(), "left", "member"))
    api.push({"message": message(GROUP, ANNA, new_chat_members=[api.me()])})


async def test_sigterm_lets_the_send_in_flight_finish_and_exits_0(
    tmp_path: Path, sqlite_url: str, slow_api: SlowStandIn
) -> None:
    slow_api.hold = 2.0
    proc, port, log_path = await start_bamboe(tmp_path, sqlite_url, slow_api)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200
                page = await resp.text()
        found = families(page)
        assert [n for n in DOCUMENTED_METRICS if n not in found] == []
        assert 'bamboe_adapter_ready{platform="telegram"} 1.0' in page
        assert 'bamboe_outbox_messages{platform="telegram",state="pending"} 0.0' in page
        add_bot(slow_api)
        await until(lambda: slow_api.of("sendMessage"), "the welcome to be on its way")
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    code, took = await stop_bamboe(proc)
    output = log_path.read_text()
    assert code == 0, output[-2000:]
    assert took < 10, f"shutdown took {took:.1f} s"
    welcome = slow_api.of("sendMessage")[0]
    assert welcome.status == 200 and welcome.result is not None  # the send in flight was not cut off
    rows = await outbox_rows(sqlite_url)
    first = next(r for r in rows if r.chat_id == str(GROUP["id"]))
    assert first.state == "sent" and first.platform_message_id == str(welcome.result["message_id"])
    assert not [r for r in rows if r.state == "sending"], "claims not finished must be released"
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any("shutting down" in r["message"] for r in records)
    assert slow_api.token not in output


@pytest.mark.slow
async def test_sigterm_with_a_hanging_send_still_exits_0_within_10_s(
    tmp_path: Path, sqlite_url: str, slow_api: SlowStandIn
) -> None:
    slow_api.hold = 60.0  # longer than the shutdown budget (and PTB's read timeout)
    proc, _, log_path = await start_bamboe(tmp_path, sqlite_url, slow_api)
    try:
        add_bot(slow_api)
        await until(lambda: slow_api.of("sendMessage"), "the welcome to be on its way")
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    code, took = await stop_bamboe(proc)
    output = log_path.read_text()
    assert code == 0, output[-2000:]
    assert took < 10, f"shutdown took {took:.1f} s"
    assert "did not finish" in output  # the dispatch tick was cancelled after its budget


async def test_sigterm_while_starting_exits_0_within_10_s(
    tmp_path: Path, sqlite_url: str, slow_api: SlowStandIn
) -> None:
    slow_api.hold_start = 60.0  # Telegram does not answer getMe: the start hangs
    proc, _, log_path = await spawn_bamboe(tmp_path, sqlite_url, slow_api)
    try:
        await until(lambda: slow_api.of("getMe"), "the start to ask Telegram", seconds=60)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    code, took = await stop_bamboe(proc)
    output = log_path.read_text()
    assert code == 0, output[-2000:]
    assert took < 10, f"shutdown took {took:.1f} s"
    assert "while starting" in output


# ---------------------------------------------------------------------------- deployment files
#: variables .env.example documents for compose.yaml itself (not read by bamboe)
COMPOSE_ONLY = {"POSTGRES_PASSWORD"}


def setting_names() -> set[str]:
    return {name.upper() for name in FIELDS}


def test_env_example_documents_every_setting_and_nothing_else() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    names = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.MULTILINE)) - COMPOSE_ONLY
    assert names - setting_names() == set(), "names in .env.example that are no setting"
    assert setting_names() - names == set(), "settings missing from .env.example"
    # nothing that looks like a real secret is checked in
    assert not re.search(r"^(?!#)\s*\w*(TOKEN|SECRET|PASSWORD)\w*=\S", text, re.MULTILINE)


def test_compose_wires_the_bot_to_postgresql() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    db, bot = services["db"], services["bot"]
    assert db["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    volume = db["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    env = bot["environment"]
    assert env["DATABASE_URL"].startswith("postgresql://") and "@db:5432/" in env["DATABASE_URL"]
    assert set(env) <= setting_names()
    assert bot["restart"] == "unless-stopped"
    assert any(str(p).endswith("8080") for p in bot["ports"])
    assert bot["build"] in (".", {"context": "."}) or bot["build"]["context"] == "."
    assert ".env" in str(bot["env_file"])
    assert bot.get("stop_grace_period", "10s") in ("10s", "15s")
    compose_text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    assert all("${" + name in compose_text for name in COMPOSE_ONLY)


def test_the_package_holds_every_module_the_image_needs() -> None:
    """The image installs the wheel built from pyproject.toml: every package must be listed there."""
    import tomllib

    from setuptools import find_packages

    find = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]["find"]
    listed = set(find_packages(str(ROOT), include=find["include"]))
    found = {
        str(p.parent.relative_to(ROOT)).replace("/", ".")
        for top in ("bamboe", "bot", "adapters", "prompts", "migrations")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert found - listed == set(), "packages missing from [tool.setuptools.packages.find] in pyproject.toml"


@pytest.mark.slow
def test_the_wheel_the_image_installs_holds_every_file_the_packages_read(tmp_path: Path) -> None:
    """The wheel built as the Dockerfile builds it (from the folders it copies) holds every file of
    those folders: the modules, and the prompts, migrations' templates, report fonts and licence."""
    import shutil
    import subprocess
    import zipfile

    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    tops = ("bamboe", "bot", "adapters", "prompts", "migrations")
    for top in tops:
        shutil.copytree(ROOT / top, source / top, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path / "wheels"), str(source)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "wheels").glob("bamboe-*.whl")
    held = set(zipfile.ZipFile(wheel).namelist())
    files = {str(p.relative_to(source)) for top in tops for p in (source / top).rglob("*") if p.is_file()}
    assert files - held == set(), "files the image would lack: list them in [tool.setuptools.package-data]"
    assert "bot/features/report/fonts/DejaVuSans.ttf" in held and "bot/features/report/fonts/LICENSE_DEJAVU" in held


def test_constraints_pin_every_dependency_within_what_pyproject_allows() -> None:
    """constraints.txt (scripts/lock) names one release of every package pyproject.toml asks for,
    with its dev extra, and each fits pyproject's range: a fresh .venv and the image install what
    the tests passed with. Run scripts/lock after changing pyproject.toml's dependencies."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [Requirement(r) for r in (*project["dependencies"], *project["optional-dependencies"]["dev"])]
    pinned: dict[str, list[str]] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith((" ", "#", "-")):
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", line
            pinned.setdefault(canonicalize_name(requirement.name), []).append(spec.version)
    for requirement in wanted:
        versions = pinned.get(canonicalize_name(requirement.name))
        assert versions, f"{requirement.name} is not in constraints.txt: run scripts/lock"
        assert all(requirement.specifier.contains(v, prereleases=True) for v in versions), (
            f"constraints.txt pins {requirement.name} {versions}, outside {requirement.specifier}: run scripts/lock")
    assert (ROOT / "scripts" / "_venv.sh").read_text(encoding="utf-8").count("-c constraints.txt") == 2  # uv, pip
    assert "pip install -c /wheels/constraints.txt" in (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_dockerfile_runs_bamboe_as_a_non_root_user_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    instructions = [line.split(None, 1)[0] for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    assert instructions[0] == "FROM" and "python:3.11-slim" in text
    user_lines = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert user_lines and user_lines[-1] not in ("root", "0")
    assert "EXPOSE 8080" in text
    healthcheck = re.search(r"^HEALTHCHECK .*?CMD (.*?)(?<!\\)$", text, re.MULTILINE | re.DOTALL)
    assert healthcheck and "/healthz" in healthcheck.group(1) and "urllib" in healthcheck.group(1)
    assert re.search(r'^CMD \["bamboe", "run"\]$', text, re.MULTILINE)
    assert "pip install" in text
    dockerignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert ".env" in dockerignore and ".venv" in dockerignore and ".git" in dockerignore


@pytest.mark.postgres
async def test_replicas_starting_together_migrate_one_after_another(postgres_url: str) -> None:
    from bamboe.runtime import migrate

    databases = [Database(create_engine(postgres_url)) for _ in range(3)]
    try:
        await asyncio.wait_for(asyncio.gather(*(migrate(db) for db in databases)), timeout=120)
    finally:
        for db in databases:
            await db.close()
    async with open_app(Settings(_env_file=None, database_url=postgres_url)) as app:
        assert await app.database_ok()
        await app.refresh_gauges()  # the gauge queries work on PostgreSQL too
        assert sample("bamboe_database_up") == 1 and sample("bamboe_jobs_due") == 0
