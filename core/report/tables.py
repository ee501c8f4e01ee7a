"""Typed result tables and their text formats: ``table`` (rich, in the CLI), ``csv``, ``json``, ``markdown``.

A :class:`DataTable` keeps numbers as numbers: an ``estimate`` cell is ``{"value": x, "ci": [lo, hi]}``
(the form of metrics.json, with its ``ci_unbounded`` / ``value_infinite`` when an end or the estimate
is infinite: displayed ``[0.64, inf)``, exported as null). CSV gives every estimate three columns (``auroc``, ``auroc_ci_low``,
``auroc_ci_high``) and JSON keeps the objects, so exports carry every digit; the display formats
(table, markdown) show ``0.712 [0.650, 0.770]`` and may split a wide table into parts.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Callable

from attrs import define, field, validators

FORMATS = ("table", "csv", "json", "markdown")
KINDS = ("text", "int", "number", "signed", "p", "estimate")


@define(frozen=True)
class Column:
    """One column: its machine ``key`` (CSV/JSON), its ``header`` (display) and how cells print."""

    key: str
    header: str
    kind: str = field(default="text", validator=validators.in_(KINDS))
    digits: int = 3
    show: Callable[[dict[str, Any]], str] | None = field(default=None, eq=False)  # display text from the row
    display: bool = True  # shown in table/markdown (else CSV/JSON only)


@define(frozen=True)
class DataTable:
    """Rows of typed cells. ``parts`` split the display into tables of (title, column keys), each led by
    the ``keys`` columns; ``notes`` are sentences printed under the table (JSON: ``notes``)."""

    title: str
    columns: tuple[Column, ...] = field(converter=tuple)
    rows: tuple[dict[str, Any], ...] = field(converter=tuple)
    keys: tuple[str, ...] = field(default=("model",), converter=tuple)
    parts: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), converter=tuple)
    notes: tuple[str, ...] = field(default=(), converter=tuple)

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def fixed(x: Any, digits: int = 3, *, sign: bool = False, empty: str = "-") -> str:
    """``x`` with ``digits`` decimals, never in scientific notation and never "-0.00" (a value that
    rounds to zero prints as zero, unsigned even with ``sign``); ``empty`` for None or NaN."""
    if not _finite(x):
        return empty
    text = f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"
    return text.lstrip("+-") if float(text) == 0 else text


def p_value_text(p: Any) -> str:
    """A p-value as a paper prints it: "< 0.001" below 0.001, else three decimals ("-" if unknown)."""
    if not _finite(p):
        return "-"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def cell_text(column: Column, row: dict[str, Any]) -> str:
    """The display text of one cell ('-' when empty)."""
    if column.show is not None:
        return column.show(row)
    value = row.get(column.key)
    d = column.digits
    if column.kind == "estimate":
        from clinpred.core.evaluation.intervals import format_interval

        return format_interval(value, d)  # '0.712 [0.650, 0.770]', '2.31 [0.64, inf)', 'inf', '-'
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if column.kind == "number":
        return fixed(value, d)
    if column.kind == "signed":
        return fixed(value, d, sign=True)
    if column.kind == "p":
        return p_value_text(value)
    return str(value)


def display_parts(table: DataTable) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows of text) per display part."""
    shown = [c for c in table.columns if c.display]
    if table.parts:
        parts = [(title, [c for c in shown if c.key in table.keys or c.key in keys]) for title, keys in table.parts]
    else:
        parts = [(table.title, shown)]
    return [(title, [c.header for c in cols], [[cell_text(c, row) for c in cols] for row in table.rows])
            for title, cols in parts]


def _plain(value: Any) -> Any:
    """A JSON/CSV-safe scalar (NaN and infinities: None)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def flat_row(table: DataTable, row: dict[str, Any]) -> dict[str, Any]:
    """One row with every estimate as value, ci_low, ci_high (the CSV columns)."""
    out: dict[str, Any] = {}
    for c in table.columns:
        value = row.get(c.key)
        if c.kind == "estimate":
            value = value or {}
            lo, hi = (list(value.get("ci") or []) + [None, None])[:2]
            out.update({c.key: value.get("value"), f"{c.key}_ci_low": lo, f"{c.key}_ci_high": hi})
        else:
            out[c.key] = value
    return {k: _plain(v) for k, v in out.items()}


def to_csv(table: DataTable) -> str:
    buffer = io.StringIO()
    rows = [flat_row(table, r) for r in table.rows]
    header = list(flat_row(table, {}).keys())
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()


def to_json(table: DataTable) -> str:
    rows = [{c.key: _plain(r.get(c.key)) for c in table.columns} for r in table.rows]
    return json.dumps({"title": table.title, "columns": [c.key for c in table.columns], "rows": rows,
                       "notes": list(table.notes)}, indent=2, allow_nan=False) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(table: DataTable) -> str:
    out: list[str] = []
    for title, headers, rows in display_parts(table):
        out += [f"### {title}", "", "| " + " | ".join(_md_cell(h) for h in headers) + " |",
                "| " + " | ".join("---" for _ in headers) + " |"]
        out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
        out.append("")
    out += [f"{note}\n" for note in table.notes]
    return "\n".join(out).rstrip("\n") + "\n"


def render(table: DataTable, fmt: str) -> str:
    """The table as text in ``fmt`` (csv, json or markdown; ``table`` is drawn by the CLI)."""
    writers = {"csv": to_csv, "json": to_json, "markdown": to_markdown}
    if fmt not in writers:
        raise ValueError(f"format {fmt!r} is drawn by the CLI or unknown; text formats: {', '.join(writers)}")
    return writers[fmt](table)
