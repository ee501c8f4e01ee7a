"""Printing helpers: JSON to stdout, tables through rich (imported lazily)."""

from __future__ import annotations

import json
from typing import Any, Sequence

import click


def echo_json(data: Any) -> None:
    """Pretty, stable JSON on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A rich table on stdout (plain text when not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    import sys

    # Not a terminal (a pipe, a log file, CI): use a wide page rather than wrapping every cell.
    Console(soft_wrap=False, width=None if sys.stdout.isatty() else 200).print(table)


#: the --format choices of commands that print a result table
TABLE_FORMATS = ("table", "csv", "json", "markdown")


def format_option(help_text: str = "How to print the table on stdout: table (aligned text), csv (every "
                  "estimate as value, ci_low, ci_high), json or markdown.") -> Any:
    """The shared ``--format table|csv|json|markdown`` option."""
    return click.option("--format", "fmt", type=click.Choice(TABLE_FORMATS), default="table", show_default=True,
                        help=help_text)


def echo_table(table: Any, fmt: str) -> None:
    """A :class:`clinpred.core.report.tables.DataTable` on stdout in ``fmt``. Its notes follow the table
    (table, markdown), are in the JSON (``notes``), or go to stderr (csv, so that stdout is one CSV table)."""
    from clinpred.core.report.tables import display_parts, render

    if fmt != "table":
        click.echo(render(table, fmt), nl=False)
        if fmt == "csv":
            for note in table.notes:
                click.echo(note, err=True)
        return
    for title, headers, rows in display_parts(table):
        print_table(title, headers, rows)
    for note in table.notes:
        click.echo(note)
