"""Progress events the engine emits; the CLI shows them, ``status.json`` records them."""

from __future__ import annotations

import time
from typing import Any, Callable

from attrs import define, field


@define(frozen=True)
class Event:
    """Something that happened in a run.

    kinds: ``run-start``, ``unit-start``, ``unit-skip`` (resumed), ``unit-done``, ``unit-failed``,
    ``model-load``, ``train-progress``, ``phase-progress`` (a preparation step such as building the
    frozen-trunk cache: phase, done, total, eta_seconds), ``score-progress``, ``message``, ``warning``
    (shown unless -q),
    ``run-done``.
    """

    kind: str
    unit: str = ""  # "model/split"
    message: str = ""
    data: dict[str, Any] = field(factory=dict)


EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """An event sink that drops everything."""


def phase_progress(emit: EventSink, unit: str, phase: str) -> Callable[[int, int], None]:
    """A ``(done, total)`` callback that emits ``phase-progress`` events with an ETA from the rate so far."""
    started = time.perf_counter()

    def report(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        eta = elapsed / done * (total - done) if done > 0 else None
        emit(Event("phase-progress", unit, data={"phase": phase, "done": done, "total": total,
                                                 "eta_seconds": eta}))

    return report
