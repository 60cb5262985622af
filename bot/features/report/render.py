"""Render a report's three files: the chart (PNG), the page (HTML) and the PDF."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.events import Attachment
from bot.features.report.chart import draw, encode, spec
from bot.features.report.data import ReportData
from bot.features.report.document import Document, build, text
from bot.features.report.page import render_html
from bot.features.report.pdf import render_pdf


@dataclass(frozen=True)
class Rendered:
    """A report's document model and its files' contents."""

    document: Document
    png: bytes
    html: str
    pdf: bytes


def render(data: ReportData) -> Rendered:
    """Build and render the report (CPU-bound, about a fifth of a second: run it in a worker thread)."""
    doc = build(data)
    image = draw(spec(data))
    png = encode(image)
    return Rendered(doc, png, render_html(doc, png), render_pdf(doc, image, data.made_at))


def slug(value: str, limit: int = 40) -> str:
    """``"Lerend netwerk Armoede Venlo"`` → ``"lerend-netwerk-armoede-venlo"`` (for file names)."""
    ascii_ = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")[:limit].strip("-") or "netwerk"


def attachments(data: ReportData, rendered: Rendered) -> tuple[Attachment, Attachment, Attachment]:
    """The files to send: chart, page and PDF, named after the network and the period."""
    p = data.period
    base = f"{text(data.language, 'file')}-{slug(data.network)}-{p.start:%Y-%m-%d}-{p.end:%Y-%m-%d}"
    return (
        Attachment(f"{base}.png", "image/png", rendered.png),
        Attachment(f"{base}.html", "text/html", rendered.html.encode("utf-8")),
        Attachment(f"{base}.pdf", "application/pdf", rendered.pdf),
    )
