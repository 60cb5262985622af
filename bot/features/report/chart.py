"""The report's chart (PNG): participation per week, and which aspects of the framework and
stages of Kolb's learning cycle the reflections covered.

Drawn with Pillow (imported on first use): a fixed 1000 × 1000 canvas, laid out from the measured
widths of its texts, so a long network name or category still fits (a title wraps onto a second
line, a category name too, and what still does not fit is cut with …). Colours are the
Okabe-Ito palette, safe for colour-blind readers, with hatching as a second cue so the chart also
reads in black and white; every bar carries its number, and the same figures are in the
document's tables (the chart is never the only carrier). Fonts: DejaVu Sans, the files
kept with the package (:func:`bot.features.report.pdf.font_dir`).

The output is deterministic for a given input: fixed size, Pillow's own text layout (not
libraqm's, which a machine may or may not have), no metadata in the PNG (no software version,
no date).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from bot.features.report.data import ReportData
from bot.features.report.document import category, day, period_text, text
from bot.features.report.pdf import font_dir, printable
from bot.features.rhythm import shorten
from bot.png import png

if TYPE_CHECKING:
    from PIL.Image import Image
    from PIL.ImageDraw import ImageDraw
    from PIL.ImageFont import FreeTypeFont

#: Okabe & Ito (2008): distinguishable with every common form of colour-blindness
BLUE, ORANGE, GREEN, VERMILLION, BLACK, GREY = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#000000", "#595959"
GRID = "#dddddd"
#: the canvas (pixels); sizes below are in points at 100 pixels per inch, as a printed chart
WIDTH = HEIGHT = 1000
PX = 100 / 72
#: up to this many weeks every bar carries its number (longer periods: the table has them)
LABELLED_WEEKS = 26
#: at most this many week labels under the bars, so they stay readable
WEEK_TICKS = 14
#: a longer network name is cut (with …); the title wraps onto two lines before that
TITLE_LENGTH = 70
#: the PNG's zlib level: 1 is about twice as fast as the default 6 for a few kB more
COMPRESS_LEVEL = 1
#: the smooth layer is laid over the chart in bands of this many rows (:meth:`_Chart.smooth`)
INK_BAND = 20
#: Pillow's font objects are shared between report threads: one chart at a time
_LOCK = threading.Lock()

#: the width of a category's bar, and of each of a week's two bars, in units of their slot
WEEK_BAR, CATEGORY_BAR = 0.38, 0.65
#: hatch lines: one every this many pixels across (matplotlib's "//" at 100 dpi), in black
HATCH_STEP = 100 / 6


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


#: the chart's own texts (``report.chart.*`` in prompts/)
LABELS = (
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


def labels(lang: str) -> dict[str, str]:
    """The chart's texts in ``lang``."""
    return {k: text(lang, f"chart.{k}") for k in LABELS}


def spec(data: ReportData) -> ChartSpec:
    """The chart's content for ``data``."""
    lang = data.language
    months = [day(lang, w.monday).rsplit(" ", 1)[0] for w in data.weeks]  # "5 jan"
    return ChartSpec(
        title=shorten(printable(text(lang, "chart.title", network=data.network)), TITLE_LENGTH),  # no emoji
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
        labels=labels(lang),
    )


def render_png(chart: ChartSpec) -> bytes:
    """The chart as PNG bytes (CPU-bound: call it in a worker thread from async code)."""
    return encode(draw(chart))


def encode(image: Image) -> bytes:
    """``image`` (RGB) as PNG, without metadata, rows unfiltered (:func:`bot.png.png`)."""
    if image.mode != "RGB":
        raise ValueError(f"a chart is RGB, not {image.mode}")
    return png(*image.size, image.tobytes(), 3, COMPRESS_LEVEL)


def draw(chart: ChartSpec) -> Image:
    """The chart as an RGB image (:func:`render_png` encodes it; the PDF embeds it as it is)."""
    with _LOCK:
        return _Chart(chart).image


# ---------------------------------------------------------------------------- drawing
@cache
def _font(size_pt: float, bold: bool = False) -> FreeTypeFont:
    from PIL import ImageFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(font_dir() / name), size_pt * PX, layout_engine=ImageFont.Layout.BASIC)


def _height(font: FreeTypeFont) -> int:
    ascent, descent = font.getmetrics()
    return ascent + descent


def _fit(font: FreeTypeFont, value: str, width: float) -> str:
    """``value``, cut with … so it is at most ``width`` pixels wide."""
    if font.getlength(value) <= width:
        return value
    while value and font.getlength(value + "…") > width:
        value = value[:-1]
    return value.rstrip() + "…"


def _wrap(font: FreeTypeFont, value: str, width: float, lines: int) -> list[str]:
    """``value`` in at most ``lines`` lines of at most ``width`` pixels, broken at spaces."""
    out: list[str] = []
    words = value.split()
    while words and len(out) < lines:
        line = words.pop(0)
        while words and font.getlength(f"{line} {words[0]}") <= width:
            line = f"{line} {words.pop(0)}"
        out.append(line)
    if words:
        out[-1] = f"{out[-1]} {' '.join(words)}"
    return [_fit(font, line, width) for line in out] or [""]


def _ticks(top: float, room: float, spacing: float) -> list[int]:
    """Integer ticks from 0 up to ``top``: a 1-2-5 step, about one per ``spacing`` pixels."""
    most = max(2, int(room // spacing))
    step = 1
    for scale in (10**k for k in range(10)):
        step = next((s * scale for s in (1, 2, 5) if math.floor(top / (s * scale)) + 1 <= most), 0)
        if step:
            break
    return list(range(0, math.floor(top) + 1, step))


class _Chart:
    """One chart: the layout is measured from the texts, then drawn in one pass."""

    def __init__(self, chart: ChartSpec) -> None:
        from PIL import Image, ImageDraw

        self.c = chart
        self.lab = chart.labels
        self.image = Image.new("RGB", (WIDTH, HEIGHT), "white")
        self.draw: ImageDraw = ImageDraw.Draw(self.image)
        #: diagonal and round line work (hatches, the members line, markers) is drawn on a mask at
        #: twice the size and scaled down, so it is smooth; straight edges are drawn sharp
        self.scale = 2
        self.ink = Image.new("L", (WIDTH * self.scale, HEIGHT * self.scale), 0)
        self.ink_draw: ImageDraw = ImageDraw.Draw(self.ink)

        self.title_font, self.axes_title_font = _font(15, True), _font(13, True)
        self.tick_font = self.label_font = _font(11)
        self.legend_font = _font(10)
        self.layout()
        for i, value in enumerate(self.heading):
            self.text((10, self.heading_top + i * self.heading_line), value, self.title_font)
        self.participation()
        self.coverage()
        self.smooth()

    def smooth(self) -> None:
        """Lay the smooth layer over the chart, band by band and only where it has ink: pasting
        through the whole mask blends every pixel, though the ink covers about an eighth of them."""
        ink = self.ink.reduce(self.scale)
        for top in range(0, HEIGHT, INK_BAND):
            band = ink.crop((0, top, WIDTH, min(top + INK_BAND, HEIGHT)))
            box = band.getbbox()
            if box is not None:
                self.image.paste(BLACK, (box[0], top + box[1]), band.crop(box))

    # ------------------------------------------------------------ layout
    def layout(self) -> None:
        c = self.c
        margin = 10
        line = lambda font: round(_height(font) * 1.15)  # noqa: E731
        title = _wrap(self.title_font, c.title, WIDTH - 2 * margin, 2)
        subtitle = _wrap(self.title_font, c.subtitle, WIDTH - 2 * margin, 2)
        self.heading = [*title, *subtitle]
        self.heading_top, self.heading_line = margin - 4, line(self.title_font)
        y = self.heading_top + self.heading_line * len(self.heading) + 6

        tick, pad, label_pad = round(3.5 * PX), round(3.5 * PX), round(4 * PX)
        self.tick, self.pad = tick, pad
        axes_title = line(self.axes_title_font) + round(6 * PX)
        below_axis = tick + pad + _height(self.tick_font) + label_pad + line(self.label_font)
        legend = line(self.legend_font) + 16

        # the left edge, shared by both panels: the widest of the numbers plus the count axis's
        # label, and of the category names (wrapped onto two lines, if need be)
        n = max(1, len(c.categories))
        room = HEIGHT - margin - y - 2 * axes_title - 2 * below_axis - legend - 8
        top_h = round(room / 2.15)  # the panels 1 : 1.15, as before
        bottom_h = room - top_h
        pitch = bottom_h / n
        size = min(11.0, max(6.0, pitch / PX / 1.35))
        self.category_font = _font(size)
        widest = WIDTH * 0.34
        self.category_lines = [
            _wrap(self.category_font, name, widest, 2 if pitch > 2.4 * size * PX else 1) for name in c.categories
        ]
        names = max((self.category_font.getlength(t) for lines in self.category_lines for t in lines), default=0)
        self.count_ticks_width = max(self.tick_font.getlength(str(v)) for v in self._count_ticks(top_h))
        count_side = self.count_ticks_width + label_pad + line(self.label_font)
        self.left = margin + math.ceil(max(count_side, names)) + pad + tick
        self.right = WIDTH - margin - 10  # room for half the last number under the axis

        self.top_title_y = y
        self.top = (y + axes_title, y + axes_title + top_h)
        y = self.top[1] + below_axis + 6
        self.bottom_title_y = y
        self.bottom = (y + axes_title, y + axes_title + bottom_h)
        self.legend_y = self.bottom[1] + below_axis + 12
        self.label_pad = label_pad

    def _count_limit(self) -> float:
        c = self.c
        return max([*c.answers, *c.members, 1]) * 1.25

    def _count_ticks(self, height: float) -> list[int]:
        return _ticks(self._count_limit(), height, 42)

    # ------------------------------------------------------------ pieces
    def text(
        self, xy: tuple[float, float], value: str, font: FreeTypeFont, fill: str = BLACK, anchor: str = "la"
    ) -> None:
        self.draw.text(xy, value, fill=fill, font=font, anchor=anchor)

    def rotated(self, x: float, y: float, value: str, font: FreeTypeFont, fill: str, anchor: str) -> None:
        """Text turned a quarter to the left: ``anchor`` "mb" centres it on ``x`` with its start at
        ``y``; "cm" centres it on both."""
        from PIL import Image, ImageDraw

        w, h = math.ceil(font.getlength(value)) + 2, _height(font) + 2
        mask = Image.new("L", (w, h), 0)
        ImageDraw.Draw(mask).text((1, 1), value, fill=255, font=font, anchor="la")
        mask = mask.transpose(Image.Transpose.ROTATE_90)  # now h wide, w high
        left = round(x - h / 2)
        top = round(y - w) if anchor == "mb" else round(y - w / 2)
        self.image.paste(fill, (left, top), mask)

    def hatch(self, box: tuple[int, int, int, int], rising: bool) -> None:
        """Thin black lines across ``box`` (x0, y0, x1, y1): / if ``rising``, else \\."""
        s = self.scale
        x0, y0, x1, y1 = (v * s for v in box)
        step = HATCH_STEP * s
        # the lines x + y = k·step (rising) or x - y = k·step, anchored to the canvas so hatches
        # line up from bar to bar
        if rising:
            first, last = math.ceil((x0 + y0) / step), math.floor((x1 + y1) / step)
        else:
            first, last = math.ceil((x0 - y1) / step), math.floor((x1 - y0) / step)
        for k in range(first, last + 1):
            v = k * step
            if rising:  # y = v - x
                a, b = max(x0, v - y1), min(x1, v - y0)
                if a < b:
                    self.ink_draw.line([(a, v - a), (b, v - b)], fill=255, width=s)
            else:  # y = x - v
                a, b = max(x0, y0 + v), min(x1, y1 + v)
                if a < b:
                    self.ink_draw.line([(a, a - v), (b, b - v)], fill=255, width=s)

    def bar(self, box: tuple[float, float, float, float], colour: str, hatch: str = "", edge: bool = False) -> None:
        x0, y0, x1, y1 = (round(v) for v in box)
        if x1 <= x0 or y1 <= y0:
            return
        self.draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=colour, outline=BLACK if edge else None)
        if hatch:
            self.hatch((x0, y0, x1, y1), rising=hatch == "/")

    def dashed(self, points: Sequence[tuple[float, float]], width: float, on: float, off: float) -> None:
        """A dashed polyline on the smooth layer; the dash pattern runs on across corners."""
        s = self.scale
        phase, drawing = 0.0, True
        for (xa, ya), (xb, yb) in zip(points, points[1:], strict=False):
            length = math.hypot(xb - xa, yb - ya)
            at = 0.0
            while at < length:
                left = (on if drawing else off) - phase
                end = min(length, at + left)
                if drawing:
                    f0, f1 = at / length, end / length
                    self.ink_draw.line(
                        [
                            ((xa + (xb - xa) * f0) * s, (ya + (yb - ya) * f0) * s),
                            ((xa + (xb - xa) * f1) * s, (ya + (yb - ya) * f1) * s),
                        ],
                        fill=255,
                        width=round(width * s),
                    )
                phase += end - at
                at = end
                if phase >= (on if drawing else off) - 1e-9:
                    phase, drawing = 0.0, not drawing

    def marker(self, x: float, y: float, radius: float) -> None:
        s = self.scale
        self.ink_draw.ellipse(((x - radius) * s, (y - radius) * s, (x + radius) * s, (y + radius) * s), fill=255)

    def axes(self, left: int, right: int, top: int, bottom: int) -> None:
        """The left and bottom spines (the top and right ones are left out)."""
        self.draw.line([(left, top), (left, bottom)], fill=BLACK, width=1)
        self.draw.line([(left, bottom), (right, bottom)], fill=BLACK, width=1)

    def x_ticks(self, positions: Iterable[tuple[float, str]], bottom: int) -> None:
        for x, label in positions:
            self.draw.line([(round(x), bottom), (round(x), bottom + self.tick)], fill=BLACK, width=1)
            self.text((x, bottom + self.tick + self.pad), label, self.tick_font, anchor="ma")

    def x_label(self, value: str, bottom: int) -> None:
        y = bottom + self.tick + self.pad + _height(self.tick_font) + self.label_pad
        centre = (self.left + self.right) / 2
        self.text((centre, y), _fit(self.label_font, value, self.right - self.left), self.label_font, anchor="ma")

    def legend(self, items: Sequence[tuple[str, str]], x: float, y: float, width: float, centred: bool) -> float:
        """Legend entries (kind, label) in rows within ``width``; returns the height used.
        Kinds: "line" (the members line), "blue", "orange" (hatched /), "green", "vermillion" (hatched \\)."""
        font = self.legend_font
        em = 10 * PX
        handle, gap, spacing = 2 * em, 0.8 * em, 2 * em
        entries = [(kind, _fit(font, label, width - handle - gap)) for kind, label in items]
        widths = [handle + gap + font.getlength(label) for _, label in entries]
        rows: list[list[int]] = [[]]
        used = 0.0
        for i, w in enumerate(widths):
            if rows[-1] and used + spacing + w > width:
                rows.append([])
                used = 0.0
            used += (spacing if rows[-1] else 0) + w
            rows[-1].append(i)
        row_height = round(_height(font) * 1.25)
        for r, row in enumerate(rows):
            total = sum(widths[i] for i in row) + spacing * (len(row) - 1)
            at = x + (width - total) / 2 if centred else x
            mid = y + r * row_height + row_height / 2
            for i in row:
                kind, label = entries[i]
                self.handle(kind, at, mid, handle, 0.7 * em)
                self.text((at + handle + gap, mid), label, font, anchor="lm")
                at += widths[i] + spacing
        return row_height * len(rows)

    def handle(self, kind: str, x: float, mid: float, width: float, height: float) -> None:
        if kind == "line":
            self.dashed([(x, mid), (x + width, mid)], 1.2 * PX, 3.7 * 1.2 * PX, 1.6 * 1.2 * PX)
            self.marker(x + width / 2, mid, 2.8)
            return
        colour, hatch, edge = {
            "blue": (BLUE, "", False),
            "orange": (ORANGE, "/", True),
            "green": (GREEN, "", True),
            "vermillion": (VERMILLION, "\\", True),
        }[kind]
        self.bar((x, mid - height / 2, x + width, mid + height / 2), colour, hatch, edge)

    # ------------------------------------------------------------ the panels
    def participation(self) -> None:
        """Top: per week the answers and the members who answered (bars), and the members (line)."""
        c, lab = self.c, self.lab
        top, bottom = self.top
        left, right = self.left, self.right
        n = len(c.week_labels)
        asked = any(c.questions)
        limit = self._count_limit()
        slot = (right - left) / (max(n, 1) + 0.2)  # the weeks -0.6 .. n - 0.4
        x_of = lambda i: left + (i + 0.6) * slot  # noqa: E731
        y_of = lambda v: bottom - v * (bottom - top) / limit  # noqa: E731

        ticks = self._count_ticks(bottom - top)
        for v in ticks:  # the grid first, under the bars
            y = round(y_of(v))
            if v:
                self.draw.line([(left, y), (right, y)], fill=GRID, width=1)
        self.text((left, self.top_title_y), lab["participation_title"], self.axes_title_font)

        labelled = n <= LABELLED_WEEKS
        small = _font(9 if n <= 16 else 7)
        for i in range(n):
            centre = x_of(i)
            half = WEEK_BAR * slot
            a, m = (
                (centre - half, y_of(c.answers[i]), centre, bottom),
                (centre, y_of(c.answered[i]), centre + half, bottom),
            )
            self.bar(a, BLUE)
            self.bar(m, ORANGE, "/", edge=True)
            if labelled and c.questions[i]:
                gap = round(1 * PX)
                self.text(((a[0] + a[2]) / 2, a[1] - gap), str(c.answers[i]), small, anchor="md")
                self.text(((m[0] + m[2]) / 2, m[1] - gap), str(c.answered[i]), small, anchor="md")
            elif labelled and asked:  # a week without a question is not a week nobody answered
                self.rotated(centre, y_of(0.05), lab["no_question"], small, GREY, "mb")

        points = [(x_of(i), y_of(v)) for i, v in enumerate(c.members)]
        self.dashed(points, 1.2 * PX, 3.7 * 1.2 * PX, 1.6 * 1.2 * PX)
        if labelled:
            for x, y in points:
                self.marker(x, y, 2.8)

        self.axes(left, right, top, bottom)
        for v in ticks:
            y = round(y_of(v))
            self.draw.line([(left - self.tick, y), (left, y)], fill=BLACK, width=1)
            self.text((left - self.tick - self.pad, y), str(v), self.tick_font, anchor="rm")
        step = max(1, -(-n // WEEK_TICKS))
        self.x_ticks(((x_of(i), c.week_labels[i]) for i in range(0, n, step)), bottom)
        self.x_label(lab["week_axis"], bottom)
        label_x = left - self.tick - self.pad - self.count_ticks_width - self.label_pad - _height(self.label_font) / 2
        self.rotated(
            label_x,
            (top + bottom) / 2,
            _fit(self.label_font, lab["count_axis"], bottom - top),
            self.label_font,
            BLACK,
            "cm",
        )
        if asked:
            items = [("line", lab["members"]), ("blue", lab["answers"]), ("orange", lab["answered"])]
            self.legend(items, left + 5 * PX, top + 5 * PX, right - left - 10 * PX, centred=False)
        else:
            self.text(((left + right) / 2, (top + bottom) / 2), lab["empty"], _font(12), GREY, anchor="mm")

    def coverage(self) -> None:
        """Bottom: answers per aspect of the framework and per stage of Kolb's cycle."""
        c, lab = self.c, self.lab
        top, bottom = self.bottom
        left, right = self.left, self.right
        n = max(1, len(c.categories))
        pitch = (bottom - top) / n
        value_font = _font(10)
        labels = [
            str(a) if q else f"{a}  ({lab['not_asked']})"
            for a, q in zip(c.category_answers, c.category_questions, strict=True)
        ]
        gap = round(3 * PX)
        # the scale: 35 % room to the right of the longest bar, more if a bar's label needs it
        room = right - left
        limit = max([*c.category_answers, 1]) * 1.35
        for a, label in zip(c.category_answers, labels, strict=True):
            free = room - gap - value_font.getlength(label) - 2
            if a and free > 0:
                limit = max(limit, a * room / free)
        x_of = lambda v: left + v * room / limit  # noqa: E731

        ticks = _ticks(limit, room, 70)
        for v in ticks:
            if v:
                self.draw.line([(round(x_of(v)), top), (round(x_of(v)), bottom)], fill=GRID, width=1)
        self.text(
            (left, self.bottom_title_y),
            _fit(self.axes_title_font, lab["coverage_title"], right - left),
            self.axes_title_font,
        )

        for i, (family, a, label) in enumerate(zip(c.families, c.category_answers, labels, strict=True)):
            mid = top + (i + 0.5) * pitch
            half = CATEGORY_BAR * pitch / 2
            aspect = family == "aspect"
            self.bar(
                (left, mid - half, x_of(a), mid + half),
                GREEN if aspect else VERMILLION,
                "" if aspect else "\\",
                edge=True,
            )
            self.text((x_of(a) + gap, mid), label, value_font, anchor="lm")
            lines = self.category_lines[i]
            height = round(_height(self.category_font) * 1.05)
            for j, name in enumerate(lines):
                y = mid + (j - (len(lines) - 1) / 2) * height
                self.text((left - self.tick - self.pad, y), name, self.category_font, anchor="rm")
            self.draw.line([(left - self.tick, round(mid)), (left, round(mid))], fill=BLACK, width=1)

        self.axes(left, right, top, bottom)
        self.x_ticks(((x_of(v), str(v)) for v in ticks), bottom)
        self.x_label(lab["answers_axis"], bottom)
        self.legend(
            [("green", lab["aspects"]), ("vermillion", lab["kolb"])], left, self.legend_y, right - left, centred=True
        )
