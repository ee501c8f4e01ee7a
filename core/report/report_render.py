"""Rendering a report (a list of blocks) as Markdown and as one self-contained HTML page.

The HTML page has inline CSS and its figures embedded as base64 PNG: it loads nothing from
the network and can be mailed or archived as one file. The Markdown links the figures as PNG
files next to it.
"""

from __future__ import annotations

import base64
import html
from typing import Sequence, Union

from attrs import define, field


@define(frozen=True)
class Heading:
    text: str
    level: int = 2


@define(frozen=True)
class Paragraph:
    text: str
    note: bool = False  # rendered smaller / muted


@define(frozen=True)
class Table:
    columns: tuple[str, ...] = field(converter=tuple)
    rows: tuple[tuple[str, ...], ...] = field(converter=lambda rows: tuple(tuple(str(c) for c in r) for r in rows))
    caption: str = ""


@define(frozen=True)
class Figure:
    name: str  # file stem, e.g. "roc"
    png: bytes = field(repr=False)
    caption: str = ""


@define(frozen=True)
class Code:
    text: str
    caption: str = ""


Block = Union[Heading, Paragraph, Table, Figure, Code]

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1180px;
padding:24px 32px;color:#1d2330;line-height:1.45;background:#fff}
h1{font-size:26px;border-bottom:2px solid #1f77b4;padding-bottom:6px}
h2{font-size:20px;margin-top:34px;border-bottom:1px solid #d6dbe3;padding-bottom:4px}
h3{font-size:16px;margin-top:22px}
table{border-collapse:collapse;margin:10px 0 6px;font-size:13px}
th,td{border:1px solid #d6dbe3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef2f7}
tr:nth-child(even) td{background:#f8f9fb}
caption{caption-side:bottom;text-align:left;font-size:12px;color:#5a6270;padding-top:4px}
figure{margin:14px 0}
figure img{max-width:100%;border:1px solid #e3e6ea}
figcaption{font-size:12px;color:#5a6270}
pre{background:#f4f6f8;border:1px solid #e3e6ea;padding:10px;white-space:pre-wrap;font-size:12px}
.note{font-size:12px;color:#5a6270}
"""


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: Sequence[Block], title: str, figure_dir: str) -> str:
    """Markdown; figures are referenced as ``figure_dir/NAME.png``."""
    out = [f"# {title}", ""]
    for block in blocks:
        if isinstance(block, Heading):
            out += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Paragraph):
            out += [f"_{block.text}_" if block.note else block.text, ""]
        elif isinstance(block, Table):
            out.append("| " + " | ".join(_md_cell(c) for c in block.columns) + " |")
            out.append("|" + "|".join("---" for _ in block.columns) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            out += (["", f"_{block.caption}_"] if block.caption else []) + [""]
        elif isinstance(block, Figure):
            out += [f"![{block.caption or block.name}]({figure_dir}/{block.name}.png)", ""]
            if block.caption:
                out += [f"_{block.caption}_", ""]
        elif isinstance(block, Code):
            if block.caption:
                out += [block.caption, ""]
            fence = "````" if "```" in block.text else "```"
            out += [fence + "text", block.text, fence, ""]
    return "\n".join(out).rstrip() + "\n"


def to_html(blocks: Sequence[Block], title: str) -> str:
    """One self-contained HTML page (inline CSS, base64 figures, no scripts, no links out)."""
    e = html.escape
    body = [f"<h1>{e(title)}</h1>"]
    for block in blocks:
        if isinstance(block, Heading):
            level = min(max(block.level, 2), 4)
            body.append(f"<h{level}>{e(block.text)}</h{level}>")
        elif isinstance(block, Paragraph):
            body.append(f'<p class="note">{e(block.text)}</p>' if block.note else f"<p>{e(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{e(c)}</th>" for c in block.columns)
            rows = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            caption = f"<caption>{e(block.caption)}</caption>" if block.caption else ""
            body.append(f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(block, Figure):
            data = base64.b64encode(block.png).decode("ascii")
            caption = f"<figcaption>{e(block.caption)}</figcaption>" if block.caption else ""
            body.append(f'<figure><img alt="{e(block.caption or block.name)}" src="data:image/png;base64,{data}">{caption}</figure>')
        elif isinstance(block, Code):
            if block.caption:
                body.append(f'<p class="note">{e(block.caption)}</p>')
            body.append(f"<pre>{e(block.text)}</pre>")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
