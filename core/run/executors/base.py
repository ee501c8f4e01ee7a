"""What every executor does, and the driver loop the parallel ones share.

An executor takes the units still to do from a :class:`~clinpred.core.run.work_queue.UnitQueue`
(``take(n)``: up to ``n`` units that can start now, in plan order; a search's next trials appear
once its earlier ones are delivered) and calls ``deliver(spec, result)`` for each one in the
driver's thread (the driver alone writes the run directory, and updates the queue). Results may
come in any order: the runner aggregates in plan order, so metrics never depend on timing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Protocol

from attrs import evolve

from clinpred.core.events import Event, EventSink
from clinpred.core.run.units import UnitResult, UnitSpec

Deliver = Callable[[UnitSpec, UnitResult], None]

#: seconds between two train-progress events a worker forwards to the driver (the last step always goes)
PROGRESS_EVERY = 0.5

_LIVE_KINDS = ("unit-start", "train-progress", "phase-progress", "model-load", "score-progress")


class Executor(Protocol):
    name: str

    def run(self, work: Any, *, dataset: Any, run_dir: Path, deliver: Deliver, emit: EventSink) -> None: ...


class ThrottledEmit:
    """A worker's event sink: forwards every event but at most one train-progress (or
    phase-progress, e.g. the trunk-cache build) per :data:`PROGRESS_EVERY` seconds and unit (plus
    each unit's last step), tagged with the node."""

    def __init__(self, send: Callable[[Event], None], node: str) -> None:
        self.send, self.node = send, node
        self._last: dict[str, float] = {}

    def __call__(self, event: Event) -> None:
        if event.kind in ("train-progress", "phase-progress"):
            now = time.monotonic()
            done = event.data.get("step", event.data.get("done"))
            last_step = done is not None and done == event.data.get("total")
            if not last_step and now - self._last.get(event.unit, 0.0) < PROGRESS_EVERY:
                return
            self._last[event.unit] = now
            event = Event(event.kind, event.unit, event.message, {**event.data, "node": self.node})
        self.send(event)


class WindowedDriver:
    """The driver loop of a parallel executor: keep at most ``window`` units in flight,
    submitted in plan order; forward worker events; deliver results as they finish.

    Subclasses implement ``submit(spec) -> handle``, ``wait(handles, timeout) -> [(handle,
    UnitResult | None)]`` (finished ones; None: the worker died under the unit), ``events() ->
    [Event]`` and ``cancel(handle)``. A unit whose worker died is submitted again, continuing
    its training checkpoint, up to ``driver_retries`` times (Ray retries its tasks itself: 0).
    """

    poll_seconds = 0.2
    driver_retries = 0

    def drive(self, work: Any, window: int, deliver: Deliver, emit: EventSink) -> None:
        flight: dict[Any, UnitSpec] = {}
        delivered: set[str] = set()
        lost: dict[str, int] = {}

        def forward() -> None:  # a late start/progress event of a finished unit would mark it running again
            for event in self.events():
                if not (event.unit in delivered and event.kind in _LIVE_KINDS):
                    emit(event)
        while True:
            if len(flight) < window:
                for spec in work.take(window - len(flight)):
                    flight[self.submit(spec)] = spec
            if not flight:
                break  # nothing running and nothing ready: the work is done
            finished = self.wait(list(flight), self.poll_seconds)
            forward()  # a unit's own events come before its result
            for handle, result in finished:
                spec = flight.pop(handle)
                if result is None:  # its worker died
                    lost[spec.unit] = lost.get(spec.unit, 0) + 1
                    if lost[spec.unit] <= self.driver_retries:
                        emit(Event("warning", spec.unit, f"{spec.unit}: its worker died; retry "
                                                         f"{lost[spec.unit]} of {self.driver_retries}"))
                        # a model that checkpoints continues from there (a trial starts over)
                        retry = evolve(spec, resume=True) if spec.trial is None else spec
                        flight[self.submit(retry)] = retry
                        continue
                    result = UnitResult(spec.unit, spec.fingerprint, error=(
                        f"the worker running this unit died {lost[spec.unit]} time(s); "
                        "see the system log (out of memory?) or lower --jobs"))
                delivered.add(spec.unit)
                deliver(spec, result)
                if not result.ok and result.fatal:  # the model's other splits would fail the same way
                    for other, waiting in list(flight.items()):
                        if waiting.name == spec.name and self.cancel(other):
                            flight.pop(other)
        forward()

    # -- to implement ------------------------------------------------------------------------
    def submit(self, spec: UnitSpec) -> Any:
        raise NotImplementedError

    def wait(self, handles: list[Any], timeout: float) -> list[tuple[Any, UnitResult | None]]:
        raise NotImplementedError

    def events(self) -> list[Event]:
        raise NotImplementedError

    def cancel(self, handle: Any) -> bool:
        raise NotImplementedError
