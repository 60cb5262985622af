"""Start-up: how long a real ``bamboe run`` (Telegram only, against the stand-in on 127.0.0.1) needs until
``/readyz`` answers 200, and the CPU time it used to get there.

    .venv/bin/python bench/bench_start.py --runs 5

Each run starts a fresh process on an already migrated SQLite file (as after the first start of a
deployment), polls ``/readyz`` every 10 ms, and stops the process with SIGTERM. The CPU time is the
child's user+system time read from ``/proc/<pid>/stat`` at the moment it became ready (Linux).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import clean_env, free_port, ready  # noqa: E402
from bot.database import create_engine, sqlite_url_for, upgrade  # noqa: E402
from tests.telegram_standin import StandIn  # noqa: E402


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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bamboe-start-") as tmp:
        url = sqlite_url_for(Path(tmp) / "start.sqlite3")
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()
        api = StandIn()
        await api.start()
        try:
            env = clean_env(DATABASE_URL=url, TELEGRAM_BOT_TOKEN=api.token, TELEGRAM_API_URL=api.url + "/bot")
            results = [await one_start(env) for _ in range(args.runs)]
        finally:
            await api.close()
    walls, cpus = [w for w, _ in results], [c for _, c in results]
    print(f"runs={args.runs} ready after: median {statistics.median(walls):.2f} s (min {min(walls):.2f}, "
          f"max {max(walls):.2f}); CPU until ready: median {statistics.median(cpus):.2f} s "
          f"(min {min(cpus):.2f}, max {max(cpus):.2f})")


if __name__ == "__main__":
    asyncio.run(main())
