"""``bamboe simulate`` on a season: CPU time, wall time, messages, SQL statements and transactions.

    .venv/bin/python bench/bench_simulate.py                       # bench/season.yaml, 3 runs
    .venv/bin/python bench/bench_simulate.py examples/warm-seizoen.yaml --runs 5
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        .venv/bin/python bench/bench_simulate.py --runs 4 --in-process   # instructions (minus --runs 2)

Two figures per run: the simulation inside one process (imports excluded: what a test or a second
scenario pays) and the whole ``bamboe simulate`` command in a fresh process (interpreter start and
imports included). CPU is user+system time of this process (which includes the report rendering
thread) or of the child, and also of the event loop's thread alone (the core, without the
reports); on a machine shared with other work, compare CPU, not wall time. ``--in-process``
leaves out the fresh processes: under Valgrind the difference between two run counts is an
instruction count per season that does not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from adapters.console import simulate  # noqa: E402
from bench.common import cpu  # noqa: E402

SEASON = Path(__file__).resolve().parent / "season.yaml"



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", nargs="?", default=str(SEASON))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--in-process", action="store_true", help="only the runs inside this process")
    args = parser.parse_args()
    text = Path(args.scenario).read_text(encoding="utf-8")
    counts = {"statements": 0, "transactions": 0}

    @event.listens_for(Engine, "before_cursor_execute")
    def _count(conn, cursor, statement, *_):  # noqa: ANN001, ANN202
        counts["statements"] += 1

    @event.listens_for(Engine, "begin")
    def _begin(conn):  # noqa: ANN001, ANN202 - SQLAlchemy's BEGIN (simulate's driver sends it itself)
        counts["transactions"] += 1

    inside, loop, messages = [], [], 0
    for _ in range(args.runs):
        counts.update(statements=0, transactions=0)
        out = io.StringIO()
        started, wall, thread = cpu(), time.perf_counter(), time.thread_time()
        asyncio.run(simulate.run(simulate.load(text), database_url=None, out=out))
        inside.append((cpu() - started, time.perf_counter() - wall))
        loop.append(time.thread_time() - thread)
        messages = out.getvalue().count("\n")
    whole = []
    for _ in range(0 if args.in_process else args.runs):
        before, wall = cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run([sys.executable, "-m", "bamboe", "simulate", args.scenario], check=True,
                       stdout=subprocess.DEVNULL)
        whole.append((cpu(resource.RUSAGE_CHILDREN) - before, time.perf_counter() - wall))
    med = statistics.median
    # each transaction's BEGIN counted as a statement, as when SQLAlchemy itself sent it
    print(f"{args.scenario}: {messages} messages, {counts['statements'] + counts['transactions']} SQL statements "
          f"in {counts['transactions']} transactions")
    print(f"  in one process (imports excluded): CPU median {med(c for c, _ in inside):.2f} s "
          f"(min {min(c for c, _ in inside):.2f}), wall median {med(w for _, w in inside):.2f} s; "
          f"the event loop's thread: CPU median {med(loop):.2f} s (min {min(loop):.2f})")
    if whole:
        print(f"  whole command (fresh process):     CPU median {med(c for c, _ in whole):.2f} s "
              f"(min {min(c for c, _ in whole):.2f}), wall median {med(w for _, w in whole):.2f} s")


if __name__ == "__main__":
    main()
