"""Readers of a run directory whose run has not finished: say so, and what is there already."""

from __future__ import annotations

from pathlib import Path

from clinpred.core.errors import DataError


def refuse_unfinished(run_dir: Path, what: str) -> None:
    """Raise one :class:`DataError` line when ``run_dir`` has no ``metrics.json`` yet (the run is
    in progress or was interrupted): its state, the units done so far, and what to do."""
    if (run_dir / "metrics.json").is_file() or not (run_dir / "run.json").is_file():
        return
    from clinpred.core.run.status_view import read_run_status

    status = read_run_status(run_dir)
    counts = status["counts"]
    done = f"{counts['done']} of {status['total_units']} units done"
    if counts["failed"]:
        done += f", {counts['failed']} failed"
    if status["state"] == "running":
        state, action = "is still in progress", f"follow it with `clinpred status {run_dir}` and run this again when it finishes"
    else:
        state, action = "did not finish", f"continue it with `clinpred run ... --out {run_dir} --resume`"
    raise DataError(f"{run_dir}: the run {state} ({done}); predictions are written when it finishes, "
                    f"so there is nothing to {what} yet: {action}")
