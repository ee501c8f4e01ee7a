"""Click option types from the core's shared numeric bounds (``clinpred.core.bounds``), so an
option and the config key it overrides refuse the same values with the same words."""

from __future__ import annotations

from typing import Any

import click

from clinpred.core.bounds import Bound


def _end(value: float | None) -> int | None:
    return None if value is None else int(value)


class BoundedInt(click.IntRange):
    """An integer within a :class:`Bound`; out of range is a usage error (exit 2) naming the bound.

    An :class:`click.IntRange` for click's help, which then shows the bounds (``[2<=x<=100]``)."""

    name = "integer"

    def __init__(self, bound: Bound) -> None:
        super().__init__(min=_end(bound.low), max=_end(bound.high), min_open=bound.low_open, max_open=bound.high_open)
        self.bound = bound

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = int(str(value).strip(), 10)
            except ValueError:
                self.fail(f"{value!r} is not a whole number", param, ctx)
        if not self.bound(number):
            self.fail(f"{number} is out of range; it must be {self.bound.meaning}", param, ctx)
        return number

    def __repr__(self) -> str:
        return f"BoundedInt({self.bound.meaning})"
