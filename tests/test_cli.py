"""The command line as a user meets it: simulate, demo, run without configuration."""

import functools
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from adapters.console import demo as demo_module
from tests.conftest import local

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def bamboe(*args, env=None, stdin=None):
    return subprocess.run([sys.executable, "-m", "bamboe", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, input=stdin, timeout=120)


@functools.cache
def simulated(path: Path) -> subprocess.CompletedProcess:
    """``bamboe simulate path``, run once per test process: :func:`test_simulate_is_deterministic`
    compares a second, fresh run with the one :func:`test_every_example_runs` checked (both are
    separate processes either way; a run costs seconds of CPU)."""
    return bamboe("simulate", str(path))


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_runs(path):
    result = simulated(path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines, "an example should make the bot say something"
    for line in lines:
        assert set(line) >= {"at", "to", "kind", "text", "buttons"}
        assert line["to"] == "group" or line["to"].startswith("dm:")
        assert line["at"][19:] in ("+01:00", "+02:00")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_simulate_is_deterministic():
    first = simulated(EXAMPLES[0])
    assert first.returncode == 0, first.stderr
    assert first.stdout == bamboe("simulate", str(EXAMPLES[0])).stdout


@pytest.mark.parametrize("body, message", [
    ("network: {name: X}\nmembers: [{id: a, role: trekker}]\nstart: '2026-01-05T08:00'\nsteps:\n"
     "  - {at: '2026-01-05T09:00', from: a, text: /status}\n  - {at: '2026-01-05T09:01', from: zed, text: hoi}\n",
     "step 2 (line 6): unknown member 'zed'"),
    ("network: {name: X}\nmembers: [{id: a}]\nstart: '2026-01-05T08:00'\nsteps:\n  - {at: 'gisteren', from: a, text: x}\n",
     "step 1 (line 5): bad time 'gisteren'"),
    ("network: {name: X}\nmembers: [{id: a, role: koning}]\nstart: '2026-01-05T08:00'\nsteps: []\n",
     "unknown role 'koning'"),
    ("network: {name: X}\nmembers: [{id: a}]\nstart: '2026-01-05T08:00'\nsteps:\n  - {at: '2026-01-05T09:00', from: a, text: x}\n"
     "  - {at: '2026-01-04T09:00', from: a, text: x}\n", "before the previous step"),
    ("network: {name: X}\nmembers: [{id: a}]\nstart: '2026-01-05T08:00'\nsteps:\n  - {at: '2026-01-05T09:00', from: a, reply_to: nudge, text: x}\n",
     "no bot message of kind 'nudge'"),
])
def test_bad_scenarios_exit_non_zero_naming_the_step(tmp_path, body, message):
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    result = bamboe("simulate", str(path))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_run_without_configuration_points_to_demo(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = bamboe("run", env=env)
    assert result.returncode == 2
    assert "bamboe demo" in result.stderr and "SLACK_BOT_TOKEN" in result.stderr
    assert "MATRIX_HOMESERVER_URL" in result.stderr and "MATRIX_USER_ID" in result.stderr


@pytest.mark.parametrize("given, missing", [
    ({"SLACK_CLIENT_ID": "1.2", "TELEGRAM_BOT_TOKEN": "1:abc"}, "needs SLACK_CLIENT_SECRET too"),
    ({"MATRIX_HOMESERVER_URL": "https://matrix.example.org", "MATRIX_ACCESS_TOKEN": "syt_x"},
     "Matrix needs MATRIX_USER_ID too"),
])
def test_run_with_a_half_configured_platform_names_the_missing_variable(tmp_path, given, missing):
    result = bamboe("run", env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **given})
    assert result.returncode == 2
    assert "bamboe run: invalid configuration: " in result.stderr and missing in result.stderr
    assert "Traceback" not in result.stderr and "running for" not in result.stderr


APP_ID = "7a1f0c9e-3b2d-4c5e-8f6a-0b1c2d3e4f5a"


@pytest.mark.parametrize("out", ["-", "/dev/stdout"])
def test_teams_package_to_stdout_writes_only_the_zip_and_the_status_to_stderr(tmp_path, out):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TEAMS_APP_ID": APP_ID,
           "TEAMS_PUBLIC_URL": "https://bamboe.gemeente.example"}
    result = subprocess.run([sys.executable, "-m", "bamboe", "teams", "package", "--out", out], cwd=tmp_path,
                            env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    archive = zipfile.ZipFile(io.BytesIO(result.stdout))
    assert archive.testzip() is None
    assert json.loads(archive.read("manifest.json"))["validDomains"] == ["bamboe.gemeente.example"]
    assert b"bamboe teams package: wrote" in result.stderr and b"bytes" in result.stderr
    assert not list(tmp_path.glob("*.zip"))  # nothing written next to it (a container would throw it away)


def test_demo_help_explains_it():
    result = bamboe("demo", "--help")
    assert result.returncode == 0 and "virtual" in result.stdout and ":wacht" in result.stdout


def test_db_upgrade_creates_the_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    result = bamboe("db", "upgrade", env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "x.sqlite3").stat().st_size > 0


async def test_demo_session(tmp_path):
    script = "\n".join([
        "/status",
        ":antwoord Te vroeg.",  # no weekly question yet
        ":als bram",
        "/ritme",
        ":wacht 1d",           # Tuesday 10:00 nudge comes in
        ":antwoord Ik merk dat ik te snel oplossingen geef.",
        ":als els",
        ":privé /pauze 1w",
        ":knop 1",
        ":wacht 2x",
        ":tot 2026-01-09 12:00",
        ":onbekend",
        ":stop",
    ]) + "\n"
    out = io.StringIO()
    code = await demo_module.main("nl", tmp_path / "demo.sqlite3", local(2026, 1, 5, 9, 0), io.StringIO(script), out)
    text = out.getvalue()
    assert code == 0
    assert "Status van Lerend netwerk" in text and "Ritme" in text
    assert "Weekvraag" in text and "Bamboe* in de groep" not in text  # no ANSI/markup leaks
    assert "privé aan Els Janssen" in text and "pauze tot" in text
    assert "Er is nog geen bericht met knoppen" in text
    assert "begrijp ik niet" in text  # :wacht 2x
    assert "herinnering" not in text.lower() or "Hoi" in text
    assert ":onbekend ken ik niet" in text
    assert "Er is nog geen weekvraag om op te antwoorden" in text and "there is no bot message" not in text


def test_simulate_collects_garbage_again_after_its_imports(capsys):
    """``bamboe simulate`` imports with the cyclic garbage collector off, then freezes what the
    imports made and runs the scenario with the collector on (bamboe/gcpause.py)."""
    import gc

    from bamboe.cli import main

    frozen = gc.get_freeze_count()
    try:
        assert main(["simulate", str(ROOT / "examples" / "foundation.yaml")]) == 0
        assert gc.isenabled() and gc.get_freeze_count() > frozen
        assert capsys.readouterr().out.count("\n") > 0
    finally:
        gc.unfreeze()
        gc.enable()


async def test_demo_clock_commands(tmp_path):
    start = demo_module.next_monday_morning(local(2026, 12, 3, 15, 0), "Europe/Amsterdam")
    assert start == local(2026, 12, 7, 10, 30)
    script = "\n".join([
        ":wacht 1d",            # the Tuesday question comes at 10:00
        ":antwoord",            # no text: the usage
        ":wacht 3 dagen",       # days, not hours
        ":wacht 2 weken",
        ":wacht 2 maanden",     # refused like :wacht -1d
        ":tot gisteren",
        ":tot over 10 weken",
        ":stop",
    ]) + "\n"
    out = io.StringIO()
    code = await demo_module.main("nl", tmp_path / "demo.sqlite3", start, io.StringIO(script), out)
    text = out.getvalue()
    assert code == 0
    first = text.split("Het is nu", 1)[0]
    assert "Weekvraag" in first  # shown before the first :wacht 1d reports the time
    assert "Schrijf je antwoord achter :antwoord" in text
    nows = [line.split("Het is nu ", 1)[1] for line in text.splitlines() if "Het is nu " in line]
    assert [n.split(" ")[:3] for n in nows] == [["di", "8", "dec"], ["vr", "11", "dec"], ["vr", "25", "dec"]]
    assert "\"2 maanden\" begrijp ik niet" in text
    assert "is al voorbij" in text
    assert "meer dan 8 weken vooruit" in text


def test_a_scenario_may_name_roles_in_english():
    from adapters.console import simulate

    body = ("network: {name: X, language: en}\nmembers:\n  - {id: a, role: lead}\n  - {id: b, role: Facilitator}\n"
            "  - {id: c, role: member}\n  - {id: d}\nstart: '2026-01-05T08:00'\nsteps: []\n")
    assert [m["role"] for m in simulate.load(body).members] == ["trekker", "procesbegeleider", "deelnemer", "deelnemer"]
