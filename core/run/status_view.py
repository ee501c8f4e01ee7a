"""Reading the state of a run (running or interrupted) from its directory, for ``clinpred status``.

Only reads: ``status.json`` (written by :class:`~clinpred.core.run.status.StatusRecorder`), ``units/``
(completed units, which survive any interruption) and ``run.json``. Whether the writing process
is still alive is checked from the recorded pid.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from clinpred.core.errors import CorruptRunFileError, DataError
from clinpred.core.run.rundir import existing_run_dir, read_json_file, read_run_info, read_status

UNIT_STATES = ("done", "running", "failed", "pending")


def process_alive(pid: Any) -> bool | None:
    """True if a process with ``pid`` exists (and, where /proc shows it, runs Python or clinpred)."""
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        text = cmdline.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").lower()
    except OSError:
        return True
    return not text or "python" in text or "clinpred" in text  # a reused pid runs something else


def _units_on_disk(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Completed units saved under ``units/MODEL/SPLIT.json`` (keys are the file-safe names); a
    corrupt one is ``{"status": "corrupt"}`` (``--resume`` recomputes it)."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted((run_dir / "units").glob("*/*.json")):
        try:
            unit = read_json_file(path) or {}
        except CorruptRunFileError:
            unit = {"status": "corrupt"}
        if unit.get("status") == "done" and not all(isinstance(unit.get(p), dict) for p in ("val", "test")):
            unit = {"status": "corrupt"}  # JSON, but not a completed unit
        out[f"{path.parent.name}/{path.stem}"] = unit
    return out


def _planned_units(run_info: dict[str, Any]) -> list[str]:
    names = [*run_info.get("baselines", []), *(m.get("name") for m in run_info.get("models", []))]
    return [f"{n}/{s}" for n in names if n for s in (run_info.get("splits") or {})]


def _duration(unit: dict[str, Any]) -> float | None:
    start, end = unit.get("started"), unit.get("finished")
    if unit.get("resumed") or not isinstance(start, (int, float)) or not isinstance(end, (int, float)):
        return None
    return max(0.0, end - start)


def _eta(units: dict[str, dict[str, Any]], current: dict[str, Any] | None, now: float, updated: float | None,
         live: bool) -> tuple[float | None, float | None, int]:
    """(remaining seconds of the current unit's training, of the run, pending units with no estimate)."""
    by_model: dict[str, list[float]] = {}
    for key, unit in units.items():
        seconds = _duration(unit)
        if unit.get("state") == "done" and seconds is not None:
            by_model.setdefault(key.rsplit("/", 1)[0], []).append(seconds)
    current_left = None
    current_total = None
    if current and live and isinstance(current.get("eta_seconds"), (int, float)):
        age = now - updated if updated else 0.0
        current_left = max(0.0, float(current["eta_seconds"]) - max(0.0, age))
        started = (units.get(current.get("unit", "")) or {}).get("started")
        if isinstance(started, (int, float)):
            current_total = (now - started) + current_left
    total = current_left or 0.0
    unknown = 0
    current_model = (current or {}).get("unit", "").rsplit("/", 1)[0]
    for key, unit in units.items():
        if unit.get("state") != "pending":
            continue
        model = key.rsplit("/", 1)[0]
        if by_model.get(model):
            total += sum(by_model[model]) / len(by_model[model])
        elif model == current_model and current_total is not None:
            total += current_total
        else:
            unknown += 1
    has_any = current_left is not None or any(u.get("state") == "pending" for u in units.values())
    return current_left, (total if has_any else None), unknown


def _running(recorded: Any, now: float, updated: Any) -> dict[str, dict[str, Any]]:
    """Every unit in progress (parallel executors run several) with its node, last training
    progress and the seconds of training it has left (``eta_left_seconds``)."""
    if not isinstance(recorded, dict):
        return {}
    age = max(0.0, now - updated) if isinstance(updated, (int, float)) else 0.0
    out = {}
    for unit, entry in recorded.items():
        if not isinstance(entry, dict):
            continue
        eta = entry.get("eta_seconds")
        out[unit] = {**entry, "eta_left_seconds": max(0.0, float(eta) - age) if isinstance(eta, (int, float)) else None}
    return out


def read_run_status(run_dir: str | Path, *, now: float | None = None) -> dict[str, Any]:
    """The state of the run in ``run_dir`` (see :data:`UNIT_STATES`), JSON-safe.

    ``state`` is ``running`` (the writer is alive), ``interrupted`` (recorded as running but the
    process is gone), ``complete``, or ``unknown`` (no status recorded).
    """
    run_dir = existing_run_dir(run_dir, "give RUN_DIR of `clinpred run`")
    now = time.time() if now is None else now
    status = read_status(run_dir) or {}
    run_info = read_run_info(run_dir) or {}
    if not status and not run_info:
        raise DataError(f"{run_dir}: not a run directory (no status.json or run.json); give RUN_DIR of `clinpred run`")
    units: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (status.get("units") or {}).items()}
    for key in _planned_units(run_info):
        units.setdefault(key, {"state": "pending"})
    from clinpred.core.run.rundir import safe

    by_safe = {f"{safe(k.rsplit('/', 1)[0])}/{safe(k.rsplit('/', 1)[1])}": k for k in units}
    for key, saved in _units_on_disk(run_dir).items():
        if saved.get("status") == "corrupt":
            entry = units.setdefault(by_safe.get(key, key), {"state": "pending"})
            entry.update(state="pending", note="corrupt unit file: --resume recomputes it")
            continue
        if saved.get("status") != "done":
            continue
        name = by_safe.get(key, key)
        unit = units.setdefault(name, {"state": "pending"})
        if unit.get("state") != "done":
            unit["state"] = "done"
            unit.setdefault("seconds", saved.get("seconds"))

    pid = status.get("pid")
    alive = process_alive(pid) if status else None
    recorded = status.get("state") or run_info.get("status")
    if recorded == "complete":
        state = "complete"
    elif recorded == "running":
        state = "running" if alive else ("interrupted" if alive is False or not status else "unknown")
    else:
        state = "unknown"
    live = state == "running"
    current = status.get("current") if live or state == "unknown" else None
    if not live:  # a unit that was running when the process died is not running any more
        for unit in units.values():
            if unit.get("state") == "running":
                unit["state"] = "interrupted"
    updated = status.get("updated")
    current_left, run_left, unknown = _eta(units, current, now, updated, live)
    running = _running(status.get("running"), now, updated) if live or state == "unknown" else {}
    if run_left is not None and len(running) > 1 and current_left is not None:  # units run side by side
        run_left = max(r.get("eta_left_seconds") or 0.0 for r in running.values()) + \
            (run_left - current_left) / len(running)
    counts = {s: sum(1 for u in units.values() if u.get("state") == s) for s in (*UNIT_STATES, "interrupted")}
    started = status.get("started")
    models = [n for n in (*run_info.get("baselines", []), *(m.get("name") for m in run_info.get("models", []))) if n]
    failed_models = sorted(set(run_info.get("failed") or {})
                           | {k.rsplit("/", 1)[0] for k, u in units.items() if u.get("state") == "failed"})
    summary = state
    if failed_models and state == "complete":  # "complete" alone hid that every LLM failed
        every = set(models) | {k.rsplit("/", 1)[0] for k in units} | set(failed_models)
        summary += f", {len(failed_models)} of {len(every)} models failed"
    return {
        "run_dir": str(run_dir),
        "state": state,
        "summary": summary,  # e.g. "complete, 2 of 6 models failed"
        "failed_models": failed_models,
        "recorded_state": recorded,
        "pid": pid,
        "process_alive": alive,
        "started": started,
        "elapsed_seconds": (now - started) if isinstance(started, (int, float)) and live else None,
        "updated": updated,
        "seconds_since_update": (now - updated) if isinstance(updated, (int, float)) else None,
        "units": units,
        "counts": counts,
        "total_units": len(units),
        "failed": {k: u.get("reason", "") for k, u in units.items() if u.get("state") == "failed"},
        "current": current,
        "running": running,
        "eta": {"current_unit_seconds": current_left, "run_seconds": run_left, "units_without_estimate": unknown},
        "seconds": run_info.get("seconds"),
    }
