"""Start-up: how long a real ``bamboe run`` for one platform (against a stand-in on 127.0.0.1)
needs until ``/readyz`` answers 200, and the CPU time it used to get there.

    .venv/bin/python bench/bench_start.py --runs 5                      # Telegram (long polling)
    .venv/bin/python bench/bench_start.py --runs 5 --platform slack     # Socket Mode
    .venv/bin/python bench/bench_start.py --runs 5 --platform teams
    .venv/bin/python bench/bench_start.py --runs 5 --platform matrix    # an access token, a minimal homeserver
    .venv/bin/python bench/bench_start.py --runs 5 --platform all       # the four, one after another

Each run starts a fresh process on an already migrated SQLite file (as after the first start of a
deployment), polls ``/readyz`` every 10 ms, and stops the process with SIGTERM. The CPU time is the
child's user+system time read from ``/proc/<pid>/stat`` at the moment it became ready (Linux).

Bamboe's own modules are compiled to bytecode first (``compileall``), as ``pip install`` does for
the Docker image: a checkout run with ``PYTHONDONTWRITEBYTECODE=1`` would otherwise compile them
from source on every start, which a deployment never does.
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


async def one_start(env: dict[str, str]) -> tuple[float, float]:
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "bamboe", "run"], env={**env, "BAMBOE_HTTP_PORT": str(port)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not await ready(port):
            assert proc.poll() is None, "bamboe run exited"
            assert time.monotonic() - started < 60, "not ready within 60 s"
            await asyncio.sleep(0.01)
        return time.monotonic() - started, cpu_seconds(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)


async def bench(platform: str, runs: int, url: str) -> None:
    async with platform_env(platform) as settings:
        results = [await one_start(clean_env(DATABASE_URL=url, **settings)) for _ in range(runs)]
    walls, cpus = [w for w, _ in results], [c for _, c in results]
    print(f"{platform}: runs={runs} ready after: median {statistics.median(walls):.2f} s (min {min(walls):.2f}, "
          f"max {max(walls):.2f}); CPU until ready: median {statistics.median(cpus):.2f} s "
          f"(min {min(cpus):.2f}, max {max(cpus):.2f})", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--platform", choices=(*PLATFORMS, "all"), default="telegram")
    args = parser.parse_args()
    for package in ("bamboe", "bot", "adapters"):
        compileall.compile_dir(ROOT / package, quiet=1)
    with tempfile.TemporaryDirectory(prefix="bamboe-start-") as tmp:
        url = sqlite_url_for(Path(tmp) / "start.sqlite3")
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()
        for platform in PLATFORMS if args.platform == "all" else (args.platform,):
            await bench(platform, args.runs, url)


if __name__ == "__main__":
    asyncio.run(main())
