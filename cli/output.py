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
