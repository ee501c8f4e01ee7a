"""Progress events the engine emits; the CLI shows them, ``status.json`` records them."""

from __future__ import annotations

import time
from typing import Any, Callable

from attrs import define, field


@define(frozen=True)
class Event:
    """Something that happened in a run.

    kinds: ``run-start``, ``unit-start``, ``unit-skip`` (resumed), ``unit-done``, ``unit-failed``,
    ``model-load``, ``train-progress`` (step, total, loss, ..., epoch, epochs: the epochs the whole
    training covers), ``phase-progress`` (a phase of a unit other than its training steps: building
    the frozen-trunk cache, scoring, generation; phase, label, what, done, total, eta_seconds),
    ``message``, ``warning`` (shown unless -q), ``run-done``.
    """

    kind: str
    unit: str = ""  # "model/split"
    message: str = ""
    data: dict[str, Any] = field(factory=dict)


EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """An event sink that drops everything."""


#: the phases an LLM unit reports (phase name -> what the display says it does, and what it counts)
PHASES = {
    "frozen-trunk cache": ("building the frozen-trunk cache", "examples"),
    "scoring": ("scoring P(yes)", "patients"),
    "generation": ("generating answers", "patients"),
    "probe head": ("the frozen model's states for the LP-FT head", "patients"),
}


def phase_progress(emit: EventSink, unit: str, phase: str, *, offset: int = 0,
                   total: int | None = None) -> Callable[[int, int], None]:
    """A ``(done, total)`` callback that emits ``phase-progress`` events with an ETA from the rate so far.

    ``offset`` and ``total`` make one phase of several calls (scoring the validation part, then the
    test part: the second callback counts from the first part's size toward both parts' total).
    """
    started = time.perf_counter()
    label, what = PHASES.get(phase, (phase, "items"))

    def report(done: int, of: int) -> None:
        elapsed = time.perf_counter() - started
        whole = of + offset if total is None else total
        eta = elapsed / done * (whole - offset - done) if done > 0 else None  # at this call's rate
        emit(Event("phase-progress", unit, data={"phase": phase, "label": label, "what": what,
                                                 "done": done + offset, "total": whole, "eta_seconds": eta}))

    return report
