"""Readers of a run that has not finished say so (issue 17, item 10: diagnose printed an empty
table and exited 0), and the live display shows the frozen-trunk cache build as a phase."""

from __future__ import annotations

import os
import time
from pathlib import Path

from clirun import clinpred
from clinpred.core.atomic import write_json


def _unfinished(run: Path, pid: int) -> None:
    write_json(run / "run.json", {"status": "running", "baselines": ["lasso"], "splits": {"holdout": {}},
                                  "models": [{"name": "m"}]})
    write_json(run / "status.json", {"state": "running", "pid": pid, "updated": time.time(), "started": time.time(),
                                     "units": {"lasso/holdout": {"state": "done"}, "m/holdout": {"state": "running"}},
                                     "current": None})


def test_diagnose_on_a_run_in_progress_says_so(tmp_path: Path) -> None:
    _unfinished(tmp_path, os.getpid())
    result = clinpred("diagnose", str(tmp_path))
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert "the run is still in progress (1 of 2 units done)" in result.err
    assert f"clinpred status {tmp_path}" in result.err


def test_diagnose_on_an_interrupted_run_says_how_to_continue(tmp_path: Path) -> None:
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _unfinished(tmp_path, gone.pid)
    result = clinpred("diagnose", str(tmp_path))
    assert result.code == 2 and "the run did not finish" in result.err and "--resume" in result.err


def test_the_live_display_shows_the_cache_phase_then_training() -> None:
    from clinpred.cli.progress import RunConsole
    from clinpred.core.events import Event

    console = RunConsole(0)
    console(Event("phase-progress", "m/holdout", data={"phase": "frozen-trunk cache", "done": 3, "total": 12}))
    assert console._kinds["m/holdout"] == "frozen-trunk cache"
    assert console._progress.tasks[0].completed == 3 and console._progress.tasks[0].total == 12
    console(Event("train-progress", "m/holdout", data={"step": 1, "total": 5, "loss": 0.7}))
    assert console._kinds["m/holdout"] == "training" and [t.total for t in console._progress.tasks] == [5]
    console.close()
    assert console._progress is None
