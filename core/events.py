"""Progress events the engine emits; the CLI shows them, ``status.json`` records them."""

from __future__ import annotations

from typing import Any, Callable

from attrs import define, field


@define(frozen=True)
class Event:
    """Something that happened in a run.

    kinds: ``run-start``, ``unit-start``, ``unit-skip`` (resumed), ``unit-done``, ``unit-failed``,
    ``model-load``, ``train-progress``, ``score-progress``, ``message``, ``warning`` (shown unless -q),
    ``run-done``.
    """

    kind: str
    unit: str = ""  # "model/split"
    message: str = ""
    data: dict[str, Any] = field(factory=dict)


EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """An event sink that drops everything."""
