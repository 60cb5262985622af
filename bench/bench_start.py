"""Start-up: how long a real ``bamboe run`` for one platform (against a stand-in on 127.0.0.1)
needs until ``/readyz`` answers 200, and the CPU time it used to get there.

    .venv/bin/python bench/bench_start.py --runs 5                      # Telegram (long polling)
    .venv/bin/python bench/bench_start.py --runs 5 --platform slack     # Socket Mode
    .venv/bin/python bench/bench_start.py --runs 5 --platform teams
    .venv/bin/python bench/bench_start.py --runs 5 --platform matrix    # an access token, a minimal homeserver
    .venv/bin/python bench/bench_start.py --runs 5 --platform all       # the four, one after another
    .venv/bin/python bench/bench_start.py --runs 7 --platform all --baseline 5a92d10   # before/after

Each run starts a fresh process on an already migrated SQLite file (as after the first start of a
deployment), polls ``/readyz`` every 10 ms, and stops the process with SIGTERM. The CPU time is the
child's user+system time read from ``/proc/<pid>/stat`` at the moment it became ready (Linux).

Bamboe's own modules are compiled to bytecode first (``compileall``), as ``pip install`` does for
the Docker image: a checkout run with ``PYTHONDONTWRITEBYTECODE=1`` would otherwise compile them
from source on every start, which a deployment never does.

``--baseline REV`` also starts the code of git revision ``REV`` (exported to a temporary folder,
with the same stand-ins, database and installed packages), alternating run by run with this
checkout's, so that both see the same load on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import clean_env, free_port, ready  # noqa: E402
from bot.database import create_engine, sqlite_url_for, upgrade  # noqa: E402
from tests.standins import PLATFORMS, platform_env  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User+system CPU seconds of a running process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compiled(tree: Path) -> Path:
    """``tree`` with Bamboe's packages compiled to bytecode (as ``pip install`` leaves them)."""
    for package in ("bamboe", "bot", "adapters"):
        compileall.compile_dir(tree / package, quiet=1)
    return tree


def export(revision: str, into: Path) -> Path:
    """The source tree of git ``revision``, written below ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


async def one_start(env: dict[str, str], tree: Path = ROOT) -> tuple[float, float]:
    """Start ``bamboe run`` from ``tree`` (its packages come first on the path: ``-m`` runs from the
    working directory); returns seconds and CPU seconds until ``/readyz`` answered 200."""
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "bamboe", "run"], env={**env, "BAMBOE_HTTP_PORT": str(port)},
                            cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not await ready(port):
            assert proc.poll() is None, "bamboe run exited"
            assert time.monotonic() - started < 60, "not ready within 60 s"
            await asyncio.sleep(0.01)
        return time.monotonic() - started, cpu_seconds(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)


def summary(label: str, results: list[tuple[float, float]]) -> str:
    walls, cpus = [w for w, _ in results], [c for _, c in results]
    return (f"{label}: runs={len(results)} ready after: median {statistics.median(walls):.2f} s "
            f"(min {min(walls):.2f}, max {max(walls):.2f}); CPU until ready: median {statistics.median(cpus):.2f} s "
            f"(min {min(cpus):.2f}, max {max(cpus):.2f})")


async def bench(platform: str, runs: int, url: str, baseline: tuple[str, Path] | None) -> None:
    async with platform_env(platform) as settings:
        env = clean_env(DATABASE_URL=url, **settings)
        now: list[tuple[float, float]] = []
        before: list[tuple[float, float]] = []
        for _ in range(runs):
            if baseline is not None:
                before.append(await one_start(env, baseline[1]))
            now.append(await one_start(env))
    if baseline is not None:
        print(summary(f"{platform} at {baseline[0]}", before), flush=True)
    print(summary(platform, now), flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--platform", choices=(*PLATFORMS, "all"), default="telegram")
    parser.add_argument("--baseline", metavar="REV", help="also start git revision REV, alternating with this code")
    args = parser.parse_args()
    compiled(ROOT)
    with tempfile.TemporaryDirectory(prefix="bamboe-start-") as tmp:
        baseline = None
        if args.baseline:
            baseline = (args.baseline, compiled(export(args.baseline, Path(tmp) / "baseline")))
        url = sqlite_url_for(Path(tmp) / "start.sqlite3")
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()
        for platform in PLATFORMS if args.platform == "all" else (args.platform,):
            await bench(platform, args.runs, url, baseline)


if __name__ == "__main__":
    asyncio.run(main())
