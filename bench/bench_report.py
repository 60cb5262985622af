"""The monthly report's files: CPU time of the chart (PNG) and the PDF, per report.

    .venv/bin/python bench/bench_report.py                 # the three reports of bench/season.yaml
    .venv/bin/python bench/bench_report.py --runs 10 --profile
    .venv/bin/python bench/bench_report.py --seasons 3     # render() inside the season, imports included

The season runs once through ``bamboe simulate`` to capture each report's figures (the
``ReportData`` handed to ``render``); then each report's chart and PDF are rendered again and
again, timed with ``time.process_time`` (this thread's and process's CPU), after one warm-up
render (imports and caches excluded: what the second report in a process pays). The chart's
figure includes encoding the PNG; the PDF's is ``render_pdf`` given what the chart made.

``--seasons N`` instead runs the season N times in this process and prints, per season, the CPU of
its ``render`` calls (chart, page and PDF; the CPU of the worker thread that runs each) and of the
whole season: the first season pays the imports and first-use costs, as a fresh ``bamboe
simulate`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bot.features.report.render as rendering  # noqa: E402
from adapters.console import simulate  # noqa: E402
from bot.features.report import chart  # noqa: E402
from bot.features.report.document import build  # noqa: E402
from bot.features.report.pdf import render_pdf  # noqa: E402

SEASON = Path(__file__).resolve().parent / "season.yaml"


def capture(scenario: Path) -> list:
    """The figures of every report the scenario renders."""
    captured = []
    real = rendering.render

    def keep(data):  # noqa: ANN001, ANN202
        captured.append(data)
        return real(data)

    rendering.render = keep
    try:
        text = scenario.read_text(encoding="utf-8")
        asyncio.run(simulate.run(simulate.load(text), database_url=None, out=io.StringIO()))
    finally:
        rendering.render = real
    return captured


def files(data) -> tuple[float, float, int, int]:  # noqa: ANN001
    """CPU seconds of the chart and of the PDF, and their sizes."""
    started = time.process_time()
    if hasattr(chart, "draw"):  # the chart as an image, encoded; the PDF embeds the image
        image = chart.draw(chart.spec(data))
        png = chart.encode(image)
    else:  # before the Pillow chart: PNG bytes only
        png = image = chart.render_png(chart.spec(data))
    drawn = time.process_time()
    doc = build(data)
    built = time.process_time()
    pdf = render_pdf(doc, image, data.made_at)
    return drawn - started, time.process_time() - built, len(png), len(pdf)


def seasons(scenario: Path, count: int) -> None:
    """Render CPU per season, ``count`` seasons in this process (the first one with the imports)."""
    real, spent = rendering.render, []

    def timed(data):  # noqa: ANN001, ANN202
        started = time.thread_time()
        try:
            return real(data)
        finally:
            spent.append(time.thread_time() - started)

    rendering.render = timed
    try:
        text = scenario.read_text(encoding="utf-8")
        for i in range(count):
            spent.clear()
            started = time.process_time()
            asyncio.run(simulate.run(simulate.load(text), database_url=None, out=io.StringIO()))
            total = time.process_time() - started
            print(f"season {i + 1}: render {sum(spent):.2f} s CPU in {len(spent)} reports, season {total:.2f} s CPU")
    finally:
        rendering.render = real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", nargs="?", default=str(SEASON))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile of one round")
    parser.add_argument("--seasons", type=int, default=0, help="time render() inside N seasons instead")
    args = parser.parse_args()
    if args.seasons:
        seasons(Path(args.scenario), args.seasons)
        return
    reports = capture(Path(args.scenario))
    if not reports:
        raise SystemExit(f"{args.scenario} renders no report")
    files(reports[0])  # warm-up: imports, fonts, caches
    charts, pdfs, sizes = [], [], (0, 0)
    for _ in range(args.runs):
        for data in reports:
            c, p, png, pdf = files(data)
            charts.append(c)
            pdfs.append(p)
            sizes = (png, pdf)
    med = statistics.median
    print(f"{args.scenario}: {len(reports)} reports x {args.runs} runs")
    print(f"  chart (PNG): CPU median {med(charts) * 1000:.0f} ms (min {min(charts) * 1000:.0f}), {sizes[0]:,} bytes")
    print(f"  PDF:         CPU median {med(pdfs) * 1000:.0f} ms (min {min(pdfs) * 1000:.0f}), {sizes[1]:,} bytes")
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for data in reports:
            files(data)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
