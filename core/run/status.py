"""``status.json``: what a run is doing, for ``clinpred status`` in another process.

Updated atomically on every unit change and at most once a second during training.
``running`` holds every unit in progress (several with a parallel executor) with its node and
latest progress: its training step (with the epochs covered) or its phase (building the
frozen-trunk cache, scoring, generation: done, total, ETA); ``current`` is the one that reported last (kept for older readers).
A search trial (``model/split/trial-NNN``) is running work of its unit: the unit shows as
running with ``trials_done``, the trial itself in ``running``.
"""

from __future__ import annotations

import time
from typing import Any

from clinpred.core.events import Event, EventSink
from clinpred.core.run.rundir import RunDirectory

_THROTTLE_SECONDS = 1.0
#: a running unit's fields from its training steps, and from a phase (trunk cache, scoring, generation)
TRAINING_KEYS = ("step", "loss", "lr", "tokens_per_second", "peak_memory_gb", "epoch", "epochs", "val_loss",
                 "val_auroc", "is_best")
PHASE_KEYS = ("phase", "label", "what", "done")


class StatusRecorder:
    """Passes events on to ``sink`` and keeps ``status.json`` up to date."""

    def __init__(self, rundir: RunDirectory, sink: EventSink) -> None:
        self.rundir = rundir
        self.sink = sink
        self.units: dict[str, dict[str, Any]] = {}
        self.splits: list[str] = []
        self.current: dict[str, Any] | None = None
        self.running: dict[str, dict[str, Any]] = {}
        self._last_write = 0.0
        self._started = time.time()

    def start(self, models: list[str], splits: list[str]) -> None:
        self.splits = splits
        self.units = {f"{m}/{s}": {"state": "pending"} for m in models for s in splits}
        self._write(force=True, state="running")

    def finish(self) -> None:
        self.current = None
        self.running = {}
        self._write(force=True, state="complete")

    def emit(self, event: Event) -> None:
        self.sink(event)
        unit = self.units.get(event.unit)
        node = event.data.get("node")
        parent = self.units.get(event.unit.rsplit("/trial-", 1)[0]) if "/trial-" in event.unit else None
        if parent is not None and event.kind in ("unit-start", "trial-done"):  # a trial of parent's search
            if event.kind == "unit-start":
                parent["state"] = "running"
                parent.setdefault("started", time.time())
                self.running[event.unit] = {"unit": event.unit, **({"node": node} if node else {})}
                self.current = dict(self.running[event.unit])
            else:
                parent["trials_done"] = parent.get("trials_done", 0) + 1
                self._stopped(event.unit)
        elif event.kind == "unit-start" and unit is not None:
            unit.update(state="running", started=time.time())
            if node:
                unit["node"] = node
            self.running[event.unit] = {"unit": event.unit, **({"node": node} if node else {})}
            self.current = dict(self.running[event.unit])
        elif event.kind in ("unit-done", "unit-skip") and unit is not None:
            unit.update(state="done", finished=time.time(), resumed=event.kind == "unit-skip")
            if node:
                unit["node"] = node
            if "started" not in unit and isinstance(event.data.get("started"), (int, float)):
                unit["started"] = event.data["started"]  # its start event came after its result
            self._stopped(event.unit)
        elif event.kind == "unit-failed":
            for key, value in self.units.items():
                if key == event.unit or (event.unit.endswith("/*") and key.startswith(event.unit[:-1])):
                    value.update(state="failed", reason=event.message)
            self._stopped(event.unit)
        elif event.kind in ("train-progress", "phase-progress"):
            entry = self.running.setdefault(event.unit, {"unit": event.unit})
            # a unit is in one phase at a time: the trunk cache, training steps, scoring, generation
            for key in PHASE_KEYS if event.kind == "train-progress" else TRAINING_KEYS:
                entry.pop(key, None)
            entry.update(event.data)
            self.current = dict(entry)
            self._write(force=event.kind == "phase-progress" and event.data.get("done") in (0, event.data.get("total")))
            return
        else:
            return
        self._write(force=True)

    def _stopped(self, unit: str) -> None:
        self.running.pop(unit, None)
        if self.current is not None and self.current.get("unit") == unit:
            self.current = next(iter(self.running.values()), None)

    def _write(self, *, force: bool = False, state: str = "running") -> None:
        now = time.time()
        if not force and now - self._last_write < _THROTTLE_SECONDS:
            return
        self._last_write = now
        self.rundir.write_status({"state": state, "started": self._started, "units": self.units,
                                  "current": self.current, "running": self.running})
