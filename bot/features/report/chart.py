"""The report's chart (PNG): participation per week, and which aspects of the framework and
stages of Kolb's learning cycle the reflections covered.

matplotlib is imported here, on first use, with the Agg canvas only (no pyplot, no display, no
global figure registry). Colours are the Okabe-Ito palette, safe for colour-blind readers, with
hatching as a second cue so the chart also reads in black and white; every bar carries its
number, and the same figures are in the document's tables (the chart is never the only carrier).
The output is deterministic for a given input: fixed size and resolution, DejaVu Sans (shipped
with matplotlib), no software version or date in the PNG metadata.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

from bot.features.report.data import ReportData
from bot.features.report.document import category, day, period_text, text
from bot.features.rhythm import shorten

#: Okabe & Ito (2008): distinguishable with every common form of colour-blindness
BLUE, ORANGE, GREEN, VERMILLION, BLACK, GREY = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#000000", "#595959"
WIDTH, HEIGHT, DPI = 10.0, 10.0, 100
#: up to this many weeks every bar carries its number (longer periods: the table has them)
LABELLED_WEEKS = 26
#: a longer network name is cut (with …) so the chart's title fits its width
TITLE_LENGTH = 70
#: matplotlib's settings are process-wide; one chart at a time keeps them to ourselves
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ChartSpec:
    """Everything the chart shows, already in the network's language."""

    title: str
    subtitle: str
    week_labels: tuple[str, ...]
    questions: tuple[int, ...]
    answers: tuple[int, ...]
    answered: tuple[int, ...]
    members: tuple[int, ...]
    categories: tuple[str, ...]
    families: tuple[str, ...]
    category_answers: tuple[int, ...]
    category_questions: tuple[int, ...]
    labels: dict[str, str]


def spec(data: ReportData) -> ChartSpec:
    """The chart's content for ``data``."""
    lang = data.language
    months = [day(lang, w.monday).rsplit(" ", 1)[0] for w in data.weeks]  # "5 jan"
    keys = (
        "participation_title",
        "answers",
        "answered",
        "members",
        "week_axis",
        "count_axis",
        "coverage_title",
        "aspects",
        "kolb",
        "answers_axis",
        "not_asked",
        "no_question",
        "empty",
    )
    return ChartSpec(
        title=shorten(text(lang, "chart.title", network=data.network), TITLE_LENGTH),
        subtitle=period_text(data),
        week_labels=tuple(months),
        questions=tuple(w.questions for w in data.weeks),
        answers=tuple(w.answers for w in data.weeks),
        answered=tuple(w.answered for w in data.weeks),
        members=tuple(w.members for w in data.weeks),
        categories=tuple(category(lang, c.key) for c in data.coverage),
        families=tuple(c.family for c in data.coverage),
        category_answers=tuple(c.answers for c in data.coverage),
        category_questions=tuple(c.questions for c in data.coverage),
        labels={k: text(lang, f"chart.{k}") for k in keys},
    )


def render_png(chart: ChartSpec) -> bytes:
    """The chart as PNG bytes (CPU-bound: call it in a worker thread from async code)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    style = {
        "font.family": "DejaVu Sans",
        "font.size": 11,
        "axes.titlesize": 13,
        "axes.titleweight": "bold",
        "axes.titlelocation": "left",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "hatch.linewidth": 0.8,
        "svg.hashsalt": "bamboe",
        "path.simplify": True,
    }
    with _LOCK, matplotlib.rc_context(style):
        fig = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        fig.suptitle(
            f"{chart.title}\n{chart.subtitle}", fontsize=15, fontweight="bold", x=0.01, horizontalalignment="left"
        )
        top, bottom = fig.subplots(2, 1, height_ratios=[1, 1.15])
        lab = chart.labels

        # participation per week: answers, members who answered, members in the network
        n = len(chart.week_labels)
        x = list(range(n))
        width = 0.38
        bars_a = top.bar([i - width / 2 for i in x], chart.answers, width, color=BLUE, label=lab["answers"])
        bars_m = top.bar(
            [i + width / 2 for i in x],
            chart.answered,
            width,
            color=ORANGE,
            hatch="//",
            edgecolor=BLACK,
            linewidth=0.6,
            label=lab["answered"],
        )
        top.plot(
            x,
            chart.members,
            color=BLACK,
            linestyle="--",
            marker="o" if n <= LABELLED_WEEKS else "",
            markersize=4,
            linewidth=1.2,
            drawstyle="default",
            label=lab["members"],
        )
        small = 9 if n <= 16 else 7
        for bars, values in ((bars_a, chart.answers), (bars_m, chart.answered)) if n <= LABELLED_WEEKS else ():
            top.bar_label(
                bars,
                [str(v) if q else "" for v, q in zip(values, chart.questions, strict=True)],
                fontsize=small,
                padding=1,
            )
        for i, q in enumerate(chart.questions):  # a week without a question is not a week nobody answered
            if not q and n <= LABELLED_WEEKS and any(chart.questions):
                top.text(
                    i,
                    0.05,
                    lab["no_question"],
                    rotation=90,
                    fontsize=small,
                    color=GREY,
                    horizontalalignment="center",
                    verticalalignment="bottom",
                )
        step = max(1, -(-n // 14))  # at most 14 week labels, so they stay readable
        top.set_xticks(x[::step], chart.week_labels[::step])
        top.set_xlim(-0.6, n - 0.4)
        top.set_ylim(0, max([*chart.answers, *chart.members, 1]) * 1.25)
        top.yaxis.set_major_locator(MaxNLocator(integer=True))
        top.set_xlabel(lab["week_axis"])
        top.set_ylabel(lab["count_axis"])
        top.set_title(lab["participation_title"])
        if any(chart.questions):
            top.legend(loc="upper left", ncols=3, frameon=False, fontsize=10)
        else:
            top.text(
                0.5,
                0.5,
                lab["empty"],
                transform=top.transAxes,
                fontsize=12,
                color=GREY,
                horizontalalignment="center",
                verticalalignment="center",
            )
        top.grid(axis="y", color="#dddddd", linewidth=0.6)
        top.set_axisbelow(True)

        # coverage: answers per aspect of the framework and per stage of Kolb's cycle
        y = list(range(len(chart.categories)))[::-1]
        colours = [GREEN if f == "aspect" else VERMILLION for f in chart.families]
        hatches = ["" if f == "aspect" else "\\\\" for f in chart.families]
        bars_c = bottom.barh(
            y, chart.category_answers, color=colours, hatch=hatches, edgecolor=BLACK, linewidth=0.6, height=0.65
        )
        labels = [
            str(a) if q else f"{a}  ({lab['not_asked']})"
            for a, q in zip(chart.category_answers, chart.category_questions, strict=True)
        ]
        bottom.bar_label(bars_c, labels, fontsize=10, padding=3, color=BLACK)
        bottom.set_yticks(y, chart.categories)
        bottom.set_xlim(0, max([*chart.category_answers, 1]) * 1.35)
        bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
        bottom.set_xlabel(lab["answers_axis"])
        bottom.set_title(lab["coverage_title"])
        bottom.legend(
            handles=[
                Patch(facecolor=GREEN, edgecolor=BLACK, label=lab["aspects"]),
                Patch(facecolor=VERMILLION, edgecolor=BLACK, hatch="\\\\", label=lab["kolb"]),
            ],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.13),
            ncols=2,
            frameon=False,
            fontsize=10,
        )
        bottom.grid(axis="x", color="#dddddd", linewidth=0.6)
        bottom.set_axisbelow(True)

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
        return buf.getvalue()
