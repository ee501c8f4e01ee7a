"""``status.json``: what a run is doing, for ``clinpred status`` in another process.

Updated atomically on every unit change and at most once a second during training.
"""

from __future__ import annotations

import time
from typing import Any

from clinpred.core.events import Event, EventSink
from clinpred.core.run.rundir import RunDirectory

_THROTTLE_SECONDS = 1.0


class StatusRecorder:
    """Passes events on to ``sink`` and keeps ``status.json`` up to date."""

    def __init__(self, rundir: RunDirectory, sink: EventSink) -> None:
        self.rundir = rundir
        self.sink = sink
        self.units: dict[str, dict[str, Any]] = {}
        self.splits: list[str] = []
        self.current: dict[str, Any] | None = None
        self._last_write = 0.0
        self._started = time.time()

    def start(self, models: list[str], splits: list[str]) -> None:
        self.splits = splits
        self.units = {f"{m}/{s}": {"state": "pending"} for m in models for s in splits}
        self._write(force=True, state="running")

    def finish(self) -> None:
        self.current = None
        self._write(force=True, state="complete")

    def emit(self, event: Event) -> None:
        self.sink(event)
        unit = self.units.get(event.unit)
        if event.kind == "unit-start" and unit is not None:
            unit.update(state="running", started=time.time())
            self.current = {"unit": event.unit}
        elif event.kind in ("unit-done", "unit-skip") and unit is not None:
            unit.update(state="done", finished=time.time(), resumed=event.kind == "unit-skip")
            self.current = None
        elif event.kind == "unit-failed":
            for key, value in self.units.items():
                if key == event.unit or (event.unit.endswith("/*") and key.startswith(event.unit[:-1])):
                    value.update(state="failed", reason=event.message)
            self.current = None
        elif event.kind in ("train-progress", "phase-progress"):
            self.current = {"unit": event.unit, **event.data}
            self._write(force=event.kind == "phase-progress" and event.data.get("done") in (0, event.data.get("total")))
            return
        else:
            return
        self._write(force=True)

    def _write(self, *, force: bool = False, state: str = "running") -> None:
        now = time.time()
        if not force and now - self._last_write < _THROTTLE_SECONDS:
            return
        self._last_write = now
        self.rundir.write_status({"state": state, "started": self._started, "units": self.units,
                                  "current": self.current})
