"""The report as one self-contained HTML page: inline CSS, the chart embedded as a data URI with
alternative text, every text escaped, readable on a phone and printable on A4.
"""

from __future__ import annotations

import base64
from html import escape

from bot.features.report.document import Bullets, Document, Figure, Heading, Para, Table

CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f6f4; color: #1a1a1a;
  font: 17px/1.55 "Segoe UI", Roboto, "Helvetica Neue", Arial, "DejaVu Sans", sans-serif; }
main { max-width: 52rem; margin: 0 auto; padding: 2rem 1.5rem 3rem; background: #fff; }
header { border-bottom: 4px solid #009E73; margin-bottom: 1.5rem; padding-bottom: .75rem; }
h1 { font-size: 1.9rem; line-height: 1.2; margin: .2rem 0 .4rem; }
.kicker { text-transform: uppercase; letter-spacing: .08em; font-size: .8rem; color: #006b4f; margin: 0; }
.subtitle { margin: 0; color: #404040; }
h2 { font-size: 1.35rem; margin: 2.2rem 0 .6rem; padding-top: .4rem; border-top: 1px solid #d9d9d9; }
h3 { font-size: 1.1rem; margin: 1.4rem 0 .4rem; }
p { margin: .5rem 0; }
p.lead { font-size: 1.1rem; }
p.note { color: #404040; font-size: .92rem; }
blockquote { margin: .6rem 0; padding: .4rem .9rem; border-left: 4px solid #E69F00; background: #fff8e8;
  font-style: italic; }
ul { padding-left: 1.3rem; }
li { margin: .2rem 0; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0 1rem; font-size: .95rem; }
th, td { border-bottom: 1px solid #d9d9d9; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #eef4f1; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1rem 0; }
figure img { width: 100%; height: auto; border: 1px solid #d9d9d9; }
figcaption { font-size: .92rem; color: #404040; margin-top: .3rem; }
footer { margin-top: 2.5rem; padding-top: .8rem; border-top: 1px solid #d9d9d9; font-size: .88rem; color: #404040; }
@media print {
  @page { size: A4; margin: 16mm 15mm; }
  body { background: #fff; font-size: 11pt; }
  main { max-width: none; padding: 0; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  table, figure, blockquote, tr { break-inside: avoid; page-break-inside: avoid; }
  figure img { border: 0; }
}
"""


def render_html(doc: Document, png: bytes) -> str:
    """The whole page (UTF-8 text)."""
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{escape(doc.language)}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="Bamboe">',
        f"<title>{escape(doc.title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        "<header>",
        '<p class="kicker">Bamboe</p>',
        f"<h1>{escape(doc.title)}</h1>",
        f'<p class="subtitle">{escape(doc.subtitle)}</p>',
        "</header>",
    ]
    image = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    for block in doc.blocks:
        parts.append(_block(block, image))
    parts += [f"<footer><p>{escape(doc.footer)}</p></footer>", "</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


def _block(block: object, image: str) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{escape(block.text)}</h{block.level}>"
    if isinstance(block, Para):
        if block.style == "quote":
            return f"<blockquote><p>{escape(block.text)}</p></blockquote>"
        cls = f' class="{block.style}"' if block.style else ""
        return f"<p{cls}>{escape(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Table):
        numeric = block.numeric or (False,) * len(block.headers)

        def cell(tag: str, value: str, i: int) -> str:
            cls = ' class="num"' if numeric[i] else ""
            scope = ' scope="col"' if tag == "th" else ""
            return f"<{tag}{cls}{scope}>{escape(value)}</{tag}>"

        head = "<tr>" + "".join(cell("th", h, i) for i, h in enumerate(block.headers)) + "</tr>"
        body = "".join("<tr>" + "".join(cell("td", v, i) for i, v in enumerate(row)) + "</tr>" for row in block.rows)
        return f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"
    if isinstance(block, Figure):
        return (
            f'<figure><img src="{image}" alt="{escape(block.alt, quote=True)}">'
            f"<figcaption>{escape(block.caption)}</figcaption></figure>"
        )
    raise TypeError(f"unknown block {type(block).__name__}")
