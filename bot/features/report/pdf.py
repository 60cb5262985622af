"""The report as a PDF (A4) with fpdf2, in DejaVu Sans (the font files in ``fonts/``, embedded as
subsets so every Dutch and English character prints). fpdf2 is imported on first use.

The PDF carries the report's title, language and the time it was made (not the time it was
rendered), so the same report gives the same bytes.

Cost: reading a DejaVu font was most of a PDF's time (fpdf2 reads the whole file it is given per
document, 30-60 ms a style, and subsets it again when writing), so fpdf2 gets a prepared copy of
each file with only its Latin, Greek and Cyrillic glyphs, made once and kept in a cache directory
(:func:`font_file`; the PDF is byte for byte the same as with the whole file); a document loads
only the styles it uses (the italic one only for a quote), each restricted (``unicode_range``) to
the characters the document contains; paragraphs
are broken into lines here and written with ``cell()`` (see ``paragraph``), and so are tables whose
cells all fit on one line (:func:`simple_table`, the look of ``FPDF.table``); and the chart comes as
the image :mod:`~bot.features.report.chart` drew, not as PNG bytes to decode. Only fpdf2's public
API is used.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import logging
import os
import shutil
import tempfile
import threading
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from bot.features.report.document import Bullets, Document, Figure, Heading, Para, Table

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fpdf import FPDF
    from PIL.Image import Image

log = logging.getLogger(__name__)

FONT = "DejaVu"
MARGIN = 15
GREEN = (0, 158, 115)
ORANGE = (230, 159, 0)
GREY = (64, 64, 64)
LIGHT = (238, 244, 241)
#: the chart's width and height on the page (mm)
FIGURE = 165


@cache
def font_dir() -> Path:
    """Where the DejaVu Sans 2.35 files are: ``fonts/`` beside this module (regular, bold and
    oblique, with their licence, ``LICENSE_DEJAVU``; the files matplotlib ships, kept here because
    depending on matplotlib for them installed it and NumPy, which fpdf2 imports when present)."""
    return Path(__file__).resolve().parent / "fonts"


@cache
def _glyphs() -> frozenset[int]:
    """The characters DejaVu Sans can draw."""
    from fontTools.ttLib import TTFont

    with TTFont(font_dir() / "DejaVuSans.ttf", lazy=True) as font:
        return frozenset(font.getBestCmap())


#: the characters of the prepared fonts (:func:`font_file`): Latin with its diacritics (also as
#: combining marks), Greek, Cyrillic, punctuation, currency signs and a few common symbols (№ ™ ←↑→↓
#: − ≤ ≥ ★ ♥ ✓ ✔). Not DejaVu's other scripts, symbols, dingbats and shapes, nor Vietnamese: each
#: glyph makes every document's fonts slower to read (a document with one gets the whole files).
PREPARED = (
    (0x20, 0x7E),
    (0xA0, 0x24F),
    (0x2B0, 0x36F),
    (0x370, 0x3FF),
    (0x400, 0x4FF),
    (0x2000, 0x206F),
    (0x20A0, 0x20CF),
    (0x2116, 0x2116),
    (0x2122, 0x2122),
    (0x2190, 0x2193),
    (0x2212, 0x2212),
    (0x2264, 0x2265),
    (0x2605, 0x2605),
    (0x2665, 0x2665),
    (0x2713, 0x2714),
)
#: the tables fpdf2 leaves out of an embedded font anyway (and ``kern``, which fontTools leaves out
#: when the font has ``GPOS``), so a prepared font gives the same embedded subset as the whole file
UNUSED_TABLES = ("FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "kern")
#: changes when the way a prepared font is made changes (part of its file name)
PREPARED_VERSION = "1"


def prepared_range() -> frozenset[int]:
    """The characters :data:`PREPARED` lists."""
    return _prepared()


@cache
def _prepared() -> frozenset[int]:
    return frozenset(code for start, end in PREPARED for code in range(start, end + 1))


_lock = threading.Lock()
#: font file name → its prepared copy (or None: it could not be made, use the whole file)
_ready: dict[str, Path | None] = {}


def cache_dir() -> Path:
    """Where prepared fonts are kept between processes: ``$XDG_CACHE_HOME/bamboe/fonts`` (or
    ``~/.cache/bamboe/fonts``), else (not writable) a temporary directory of this process."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "bamboe" / "fonts"
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    return _private_dir()


@cache
def _private_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="bamboe-fonts-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:20]


def _make(source: Path) -> bytes:
    """``source`` cut down to the glyphs of :data:`PREPARED`.

    Every other character that maps to one of those glyphs stays in the character map, glyph
    names stay, and the tables fpdf2 drops are dropped first, so fpdf2's subset of the prepared
    file is byte for byte the subset it makes of the whole file; the bounding box in the header
    stays the whole font's (fpdf2 copies it into the PDF's font descriptor)."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    with TTFont(source, recalcTimestamp=False, recalcBBoxes=False, lazy=True) as font:
        for tag in UNUSED_TABLES:
            if tag in font:
                del font[tag]
        cmap = font.getBestCmap()
        keep = {cmap[code] for code in prepared_range() if code in cmap} | set(font.getGlyphOrder()[:4])
        subsetter = subset.Subsetter(subset.Options(notdef_outline=True, recommended_glyphs=True, glyph_names=True))
        subsetter.populate(unicodes=sorted(code for code, glyph in cmap.items() if glyph in keep))
        subsetter.subset(font)
        out = io.BytesIO()
        font.save(out)
        return out.getvalue()


def _prepare(source: Path) -> Path:
    """The prepared copy of ``source``: found in the cache directory (named after ``source``'s
    contents, the fontTools version and :data:`PREPARED`, and after its own contents, which are
    checked), else made and written there (atomically: several processes may share the directory)."""
    from fontTools import version

    key = hashlib.sha256(f"{PREPARED_VERSION} {version} {PREPARED}\n".encode())
    key.update(source.read_bytes())
    prefix = f"{source.stem}-{key.hexdigest()[:20]}-"
    data = None
    for directory in dict.fromkeys((cache_dir(), _private_dir())):
        for found in sorted(directory.glob(f"{prefix}*.ttf")):
            if found.name == f"{prefix}{_digest(found.read_bytes())}.ttf":
                return found
        if data is None:
            data = _make(source)
        target = directory / f"{prefix}{_digest(data)}.ttf"
        temporary = None
        try:
            with tempfile.NamedTemporaryFile(dir=directory, prefix=".", suffix=".ttf", delete=False) as f:
                temporary = f.name
                f.write(data)
            os.replace(temporary, target)
        except OSError:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
            continue
        return target
    raise OSError("nowhere to keep a prepared font")


def prepared(name: str) -> Path | None:
    """The prepared copy (:func:`_prepare`) of the font file ``name``, or None when it cannot be
    had; looked for (or made) once per process."""
    with _lock:
        if name not in _ready:
            try:
                _ready[name] = _prepare(font_dir() / name)
            except Exception:  # the whole file does the same, only slower
                log.warning("could not prepare the report font %s", name, exc_info=True)
                _ready[name] = None
        return _ready[name]


def font_file(name: str, used: Sequence[int]) -> Path:
    """The file to give fpdf2 for the font ``name`` when a document uses the characters ``used``:
    its prepared copy (:func:`prepared`) if it has them all, else the whole file.

    fpdf2 reads the whole file it is given (``glyf``, ``hmtx``, ``post``: about 40 ms for DejaVu
    Sans) and subsets it again when writing the PDF; a copy with 2,000 instead of 6,000 glyphs
    makes both cheaper and, as :func:`_make` ensures, gives the same PDF."""
    if prepared_range().issuperset(used):
        path = prepared(name)
        if path is not None:
            return path
    return font_dir() / name


def printable(value: str) -> str:
    """``value`` without characters the font lacks (emoji): fpdf2 would log a warning naming them."""
    glyphs = _glyphs()
    return "".join(ch for ch in value if ord(ch) in glyphs or ch in "\n\t")


def texts(doc: Document) -> list[str]:
    """Every text ``doc`` puts on a page."""
    out = [doc.title, doc.subtitle, doc.footer]
    for block in doc.blocks:
        if isinstance(block, Heading | Para):
            out.append(block.text)
        elif isinstance(block, Bullets):
            out.extend(block.items)
        elif isinstance(block, Table):
            out.extend(block.headers)
            out.extend(value for row in block.rows for value in row)
        elif isinstance(block, Figure):
            out.append(block.caption)
    return out


#: besides the document's own texts: the header's and page footer's characters, and ASCII
FIXED = "BAMBOE • · /0123456789" + "".join(map(chr, range(0x20, 0x7F)))


#: a table's cell padding and line height (mm)
PADDING, LINE = 1.2, 4.8


def wrap(pdf: FPDF, value: str, room: float) -> list[str] | None:
    """``value`` broken into lines no wider than ``room`` (mm, in the current font) where fpdf2's
    ``multi_cell`` breaks them: at spaces, a text's width being the sum of its characters' widths.
    None when a word is wider than ``room`` or the text has a line break (``multi_cell`` then)."""
    words = value.rstrip(" ").split(" ")
    widths = [pdf.get_string_width(word) for word in words]
    if "\n" in value or max(widths, default=0) > room:
        return None
    space = pdf.get_string_width(" ")
    lines: list[str] = []
    line, used = [words[0]], widths[0]
    for word, width in zip(words[1:], widths[1:], strict=True):
        if used + space + width > room + 1e-6:
            lines.append(" ".join(line).rstrip(" "))
            line, used = [word], width
        else:
            line.append(word)
            used += space + width
    lines.append(" ".join(line))
    return lines


def simple_table(pdf: FPDF, block: Table, numeric: Sequence[bool]) -> bool:
    """``block`` drawn as ``FPDF.table`` (with the settings in :func:`render_pdf`) would draw it:
    the same rows, fill, lines, page breaks and repeated headings; a cell's text broken into lines
    where fpdf2 breaks it (:func:`wrap`), the row as high as its tallest cell, the others centred
    in it. One ``cell()`` per line instead of fpdf2's two ``multi_cell()`` layouts per cell. False
    (and nothing drawn) when a cell that needs several lines has a word wider than its column, a
    line break, or spaces at either end or two in a row."""
    rows = (block.headers, *block.rows)
    widths = block.widths or (1,) * len(block.headers)
    if any(len(row) != len(widths) for row in rows) or len(numeric) != len(widths):
        return False
    columns = [w / sum(widths) * pdf.epw for w in widths]
    cells: list[list[list[str]]] = []
    for i, row in enumerate(rows):
        pdf.set_font(FONT, "B" if i == 0 else "", 9)
        broken = []
        for value, w in zip(row, columns, strict=True):
            text = printable(value)
            if pdf.get_string_width(text) <= w - 2 * PADDING:
                lines: list[str] | None = [text]
            elif text.strip(" ") != text or "  " in text:  # where fpdf2 keeps such spaces: its own way
                lines = None
            else:
                lines = wrap(pdf, text, w - 2 * PADDING)
            if lines is None:
                pdf.set_font(FONT, "", 9)
                return False
            broken.append(lines)
        cells.append(broken)
    pdf.set_font(FONT, "", 9)
    heights = [max(len(lines) for lines in row) * LINE + 2 * PADDING for row in cells]

    def draw(i: int) -> None:
        y, x, height = pdf.get_y(), pdf.l_margin, heights[i]
        pdf.set_font(FONT, "B" if i == 0 else "", 9)
        for lines, w, right in zip(cells[i], columns, numeric, strict=True):
            if i == 0:
                with pdf.local_context(fill_color=LIGHT):
                    pdf.rect(x, y, w, height, style="F")
            if i > 0:
                pdf.line(x, y, x + w, y)
            if i < len(rows) - 1:
                pdf.line(x, y + height, x + w, y + height)
            top = y + (height - len(lines) * LINE - 2 * PADDING) / 2 + PADDING
            for k, line in enumerate(lines):
                pdf.set_xy(x + PADDING - pdf.c_margin, top + k * LINE)
                pdf.cell(w - 2 * PADDING + 2 * pdf.c_margin, LINE, line, align="R" if right else "L")
            x += w
        pdf.set_xy(pdf.l_margin, y + height)

    if len(rows) > 1 and pdf.will_page_break(heights[0] + heights[1]):  # headings never alone at a page's foot
        pdf.add_page()
    for i in range(len(rows)):
        if pdf.will_page_break(heights[i]):
            pdf.add_page()
            if i > 0:
                draw(0)
        draw(i)
    pdf.set_font(FONT, "", 9)
    return True


def render_pdf(doc: Document, chart: bytes | Image, made_at: datetime) -> bytes:
    """The whole report as PDF bytes (CPU-bound: call it in a worker thread from async code).
    ``chart``: the chart as PNG bytes, or as the image :func:`bot.features.report.chart.draw` made."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    class ReportPDF(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font(FONT, size=8)
            self.set_text_color(*GREY)
            self.cell(0, 5, printable(f"{doc.title} · {self.page_no()}/{{nb}}"), align="R")

    pdf = ReportPDF(format="A4", unit="mm")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, margin=18)
    used = sorted({ord(ch) for value in (*texts(doc), FIXED) for ch in printable(value)})
    styles = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
    if any(isinstance(block, Para) and block.style == "quote" for block in doc.blocks):
        styles["I"] = "DejaVuSans-Oblique.ttf"
    for style, name in styles.items():
        pdf.add_font(FONT, style, str(font_file(name, used)), unicode_range=used)
    pdf.set_title(printable(doc.title))
    pdf.set_subject(printable(doc.subtitle))
    pdf.set_author("Bamboe")
    pdf.set_creator("Bamboe")
    pdf.set_lang(doc.language)
    pdf.set_creation_date(made_at)
    pdf.add_page()
    width = pdf.epw

    def paragraph(w: float, h: float, value: str) -> None:
        """``multi_cell(w, h, value)``, left-aligned, then on at the left margin. The lines are
        broken here, at spaces, where fpdf2 would break them (a text's width is the sum of its
        characters' widths), and each goes out with ``cell()``: fpdf2's line breaker measures a
        line again for every character, most of a report's cost. A word wider than a line, or a
        line break in the text, is left to ``multi_cell()``."""
        x = pdf.get_x()
        lines = wrap(pdf, value, (w or pdf.w - pdf.r_margin - x) - 2 * pdf.c_margin)
        if lines is None:
            pdf.multi_cell(w, h, value, new_x="LMARGIN", new_y="NEXT", align="L")
            return
        for line in lines[:-1]:
            pdf.cell(w, h, line, new_x="LMARGIN", new_y="NEXT", align="L")
            pdf.set_x(x)
        pdf.cell(w, h, lines[-1], new_x="LMARGIN", new_y="NEXT", align="L")

    pdf.set_font(FONT, "B", 9)
    pdf.set_text_color(*GREEN)
    pdf.cell(0, 5, "BAMBOE", new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(FONT, "B", 19)
    paragraph(0, 8.5, printable(doc.title))
    pdf.set_font(FONT, "", 10.5)
    pdf.set_text_color(*GREY)
    paragraph(0, 5.5, printable(doc.subtitle))
    pdf.set_text_color(0, 0, 0)
    pdf.set_draw_color(*GREEN)
    pdf.set_line_width(1.0)
    pdf.line(MARGIN, pdf.get_y() + 2, MARGIN + width, pdf.get_y() + 2)
    pdf.set_line_width(0.2)
    pdf.ln(6)

    side = min(width, FIGURE)
    blocks = doc.blocks
    for i, block in enumerate(blocks):
        if isinstance(block, Heading):
            size = 14 if block.level == 2 else 11.5
            after = blocks[i + 1] if i + 1 < len(blocks) else None
            room = side + 25 if isinstance(after, Figure) else 40  # a heading stays with what follows
            if pdf.get_y() + room > pdf.page_break_trigger:
                pdf.add_page()
            pdf.ln(4 if block.level == 2 else 2)
            pdf.set_font(FONT, "B", size)
            paragraph(0, size * 0.5, printable(block.text))
            pdf.ln(1)
        elif isinstance(block, Para):
            if block.style == "quote":  # kept on one page, with a bar beside it
                pdf.set_font(FONT, "I", 10.5)
                quote = printable(block.text)
                quote_lines = pdf.multi_cell(width - 4, 5.5, quote, dry_run=True, output="LINES")
                if pdf.get_y() + 5.5 * len(quote_lines) > pdf.page_break_trigger:
                    pdf.add_page()
                top = pdf.get_y()
                pdf.set_x(MARGIN + 4)
                pdf.multi_cell(width - 4, 5.5, quote, new_x="LMARGIN", new_y="NEXT", align="L")
                pdf.set_draw_color(*ORANGE)
                pdf.set_line_width(1.0)
                pdf.line(MARGIN + 1, top + 0.5, MARGIN + 1, pdf.get_y() - 0.5)
                pdf.set_line_width(0.2)
                pdf.set_draw_color(0, 0, 0)
                pdf.ln(1.5)
            else:
                note = block.style == "note"
                pdf.set_font(FONT, "", 9 if note else (11.5 if block.style == "lead" else 10.5))
                pdf.set_text_color(*(GREY if note else (0, 0, 0)))
                paragraph(0, 4.6 if note else 5.5, printable(block.text))
                pdf.set_text_color(0, 0, 0)
                pdf.ln(1.5)
        elif isinstance(block, Bullets):
            pdf.set_font(FONT, "", 10.5)
            for item in block.items:
                pdf.set_x(MARGIN + 2)
                pdf.cell(4, 5.5, "•")
                paragraph(width - 6, 5.5, printable(item))
            pdf.ln(1.5)
        elif isinstance(block, Table):
            pdf.set_font(FONT, "", 9)
            pdf.set_draw_color(200, 200, 200)
            numeric = block.numeric or (False,) * len(block.headers)
            if simple_table(pdf, block, numeric):
                pdf.ln(2)
                continue
            align = tuple("RIGHT" if n else "LEFT" for n in numeric)
            with pdf.table(
                col_widths=block.widths or None,
                text_align=align,
                line_height=LINE,
                padding=PADDING,
                headings_style=FontFace(emphasis="BOLD", fill_color=LIGHT),
                borders_layout="HORIZONTAL_LINES",
                repeat_headings=1,
            ) as table:
                for row in (block.headers, *block.rows):
                    cells = table.row()
                    for value in row:
                        cells.cell(printable(value))
            pdf.ln(2)
        elif isinstance(block, Figure):
            if pdf.get_y() + side > pdf.page_break_trigger:
                pdf.add_page()
            image = io.BytesIO(chart) if isinstance(chart, bytes) else chart
            pdf.image(image, x=MARGIN + (width - side) / 2, w=side, h=side, alt_text=printable(block.alt))
            pdf.set_font(FONT, "", 9)
            pdf.set_text_color(*GREY)
            paragraph(0, 4.6, printable(block.caption))
            pdf.set_text_color(0, 0, 0)
            pdf.ln(2)
    pdf.ln(4)
    pdf.set_font(FONT, "", 8.5)
    pdf.set_text_color(*GREY)
    paragraph(0, 4.4, printable(doc.footer))
    return bytes(pdf.output())
