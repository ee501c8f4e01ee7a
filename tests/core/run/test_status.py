"""`clinpred status`: units done / running / failed / pending, the current step, the ETA, liveness."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clirun import clinpred
from clinpred.core.atomic import write_json
from clinpred.core.run.status_view import process_alive, read_run_status


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_run(run: Path, *, pid: int, updated: float) -> None:
    start = updated - 1000
    units = {
        "lasso/r0f0": {"state": "done", "started": start, "finished": start + 10, "resumed": False},
        "llm/r0f0": {"state": "done", "started": start + 10, "finished": start + 110, "resumed": False},
        "llm/r0f1": {"state": "done", "started": start + 110, "finished": start + 210, "resumed": False},
        "llm/r0f2": {"state": "running", "started": updated - 30},
        "llm/r0f3": {"state": "pending"},
        "other/r0f0": {"state": "failed", "reason": "model 'x' not found; check the id"},
        "third/r0f0": {"state": "pending"},
    }
    current = {"unit": "llm/r0f2", "step": 40, "total": 100, "loss": 0.4321, "lr": 1e-5, "tokens_per_second": 250.0,
               "peak_memory_gb": 1.5, "eta_seconds": 50.0, "epoch": 0.5, "val_auroc": 0.61}
    write_json(run / "status.json", {"state": "running", "started": start, "units": units, "current": current,
                                     "updated": updated, "pid": pid})
    write_json(run / "run.json", {"status": "running", "baselines": ["lasso"], "splits": {}, "models": []})


def test_running_run_with_eta(tmp_path: Path) -> None:
    now = 2_000_000.0
    _write_run(tmp_path, pid=os.getpid(), updated=now - 10)
    s = read_run_status(tmp_path, now=now)
    assert s["state"] == "running" and s["process_alive"] is True
    assert s["counts"] == {"done": 3, "running": 1, "failed": 1, "pending": 2, "interrupted": 0}
    assert s["failed"] == {"other/r0f0": "model 'x' not found; check the id"}
    assert s["eta"]["current_unit_seconds"] == pytest.approx(40.0)  # 50 s as recorded 10 s ago
    # pending llm/r0f3 takes the mean of llm's finished units (100 s); third/r0f0 has no estimate
    assert s["eta"]["run_seconds"] == pytest.approx(140.0)
    assert s["eta"]["units_without_estimate"] == 1
    assert s["current"]["step"] == 40


def test_cli_shows_current_step_and_reasons(tmp_path: Path) -> None:
    _write_run(tmp_path, pid=os.getpid(), updated=time.time())
    result = clinpred("status", str(tmp_path))
    assert result.code == 0, result.err
    assert f"running (pid {os.getpid()} alive)" in result.out
    assert "units: 3 done, 1 running, 1 failed, 2 pending (of 7)" in result.out
    assert "llm/r0f2  step 40/100  loss 0.4321  val AUROC 0.610" in result.out
    assert "ETA: current unit's training" in result.out and "+1 unit(s) with no estimate yet" in result.out
    assert "model 'x' not found" in result.out
    data = json.loads(clinpred("status", str(tmp_path), "--json").out)
    assert data["state"] == "running"


def test_dead_process_means_interrupted_and_saved_units_count(tmp_path: Path) -> None:
    _write_run(tmp_path, pid=_dead_pid(), updated=time.time() - 5)
    write_json(tmp_path / "units" / "llm" / "r0f3.json",  # saved after status.json
               {"status": "done", "seconds": 99.0, "val": {}, "test": {}})
    s = read_run_status(tmp_path)
    assert s["process_alive"] is False and s["state"] == "interrupted"
    assert s["units"]["llm/r0f2"]["state"] == "interrupted"
    assert s["units"]["llm/r0f3"]["state"] == "done"
    assert s["current"] is None and s["eta"]["current_unit_seconds"] is None
    result = clinpred("status", str(tmp_path))
    assert "interrupted" in result.out and "--resume" in result.out


def test_process_alive() -> None:
    assert process_alive(os.getpid()) is True
    assert process_alive(_dead_pid()) is False
    assert process_alive(None) is None


def test_not_a_run_directory(tmp_path: Path) -> None:
    result = clinpred("status", str(tmp_path))
    assert result.code == 2 and "not a run directory" in result.err


def test_completed_baseline_run(tmp_path: Path) -> None:
    from llm_run import make_baseline_run, synth_csv

    run = make_baseline_run(tmp_path / "run", synth_csv(tmp_path / "c.csv", n=160))
    s = read_run_status(run)
    assert s["state"] == "complete"
    assert s["counts"]["done"] == 4 and s["total_units"] == 4
    assert "complete in" in clinpred("status", str(run)).out


def test_a_complete_run_with_failed_models_says_how_many(tmp_path: Path) -> None:
    """Issue 17, item 10: 'complete' alone hid that every LLM failed."""
    write_json(tmp_path / "run.json", {"status": "complete", "baselines": ["lasso", "majority"], "seconds": 3,
                                       "splits": {"holdout": {}}, "failed": {"llm-a": "x", "llm-b": "y"},
                                       "models": [{"name": "llm-a"}, {"name": "llm-b"}]})
    s = read_run_status(tmp_path)
    assert s["state"] == "complete" and s["summary"] == "complete, 2 of 4 models failed"
    assert s["failed_models"] == ["llm-a", "llm-b"]
    result = clinpred("status", str(tmp_path))
    assert result.code == 0 and ": complete, 2 of 4 models failed in 3 s" in result.out


def test_status_shows_the_frozen_trunk_cache_phase(tmp_path: Path) -> None:
    write_json(tmp_path / "run.json", {"status": "running", "baselines": [], "splits": {"holdout": {}},
                                       "models": [{"name": "m"}]})
    write_json(tmp_path / "status.json", {"state": "running", "pid": os.getpid(), "updated": time.time(),
                                          "started": time.time() - 30,
                                          "units": {"m/holdout": {"state": "running", "started": time.time() - 20}},
                                          "current": {"unit": "m/holdout", "phase": "frozen-trunk cache", "done": 40,
                                                      "total": 100, "eta_seconds": 30.0}})
    result = clinpred("status", str(tmp_path))
    assert result.code == 0, result.err
    assert "current: m/holdout  building the frozen-trunk cache: 40/100 examples" in result.out
    assert "ETA: the frozen-trunk cache 30 s" in result.out or "ETA: the frozen-trunk cache 29 s" in result.out
