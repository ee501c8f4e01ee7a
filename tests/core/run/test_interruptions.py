"""Interruptions and reproducibility: kill -9 mid-training then --resume gives the same metrics
as an uninterrupted run; the same seed gives identical LLM metrics; failed writes keep results."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from clirun import clinpred, spawn

CONFIG = """
[run]
baselines = ["majority", "lasso"]
[evaluation]
bootstrap = 200
max_new_tokens = 3
[[models]]
name = "tiny"
family = "qwen"
model_id = "{path}"
lora_layers = 2
lora_rank = 4
learning_rate = 1e-3
num_iters = {iters}
eval_every = 1000
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from tiny_models import tiny_model_dir

    root = tmp_path_factory.mktemp("interrupt")
    data = root / "cohort.csv"
    assert clinpred("data", "synth", "--n", "100", "--seed", "5", "-o", str(data)).code == 0
    config = root / "configs.toml"
    config.write_text(CONFIG.format(path=tiny_model_dir("qwen2"), iters=240))
    return data, config


def _args(setup: tuple[Path, Path], out: Path) -> list[str]:
    data, config = setup
    return ["run", "--config", str(config), "--data", str(data), "--model", "tiny", "--out", str(out)]


def _metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def test_kill_9_mid_training_then_resume_matches_an_uninterrupted_run(setup, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    assert clinpred(*_args(setup, reference)).code == 0

    out = tmp_path / "killed"
    proc = spawn(_args(setup, out),
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = out / "adapters" / "tiny" / "checkpoint"
    deadline = time.time() + 300
    killed_at = None
    while time.time() < deadline and proc.poll() is None:
        try:
            status = json.loads((out / "status.json").read_text())
        except (OSError, ValueError):
            status = {}
        step = (status.get("current") or {}).get("step") or 0
        if checkpoint.exists() and 40 <= step < 200:
            proc.send_signal(signal.SIGKILL)
            killed_at = step
            break
        time.sleep(0.05)
    proc.wait()
    assert killed_at is not None, "the run finished before it could be killed mid-training"
    assert not (out / "metrics.json").exists()
    status = clinpred("status", str(out))
    assert status.code == 0 and "interrupted" in status.out.lower()

    resumed = clinpred(*_args(setup, out), "--resume")
    assert resumed.code == 0, resumed.err
    assert "already done (resumed)" in resumed.err  # the baselines were not redone
    assert _metrics(out) == _metrics(reference)
    ref_rows = (reference / "predictions" / "tiny.jsonl").read_text()
    assert (out / "predictions" / "tiny.jsonl").read_text() == ref_rows


def test_same_seed_gives_identical_llm_metrics(setup, tmp_path: Path) -> None:
    data, config = setup
    short = tmp_path / "short.toml"
    short.write_text(config.read_text().replace("num_iters = 240", "num_iters = 12"))
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert clinpred("run", "--config", str(short), "--data", str(data), "--model", "tiny", "--out", str(out)).code == 0
        runs.append(_metrics(out))
    assert runs[0] == runs[1]
    assert runs[0]["models"]["tiny"]["status"] == "done"


def test_a_failed_write_is_one_error_and_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clinpred.core import atomic
    from clinpred.core.errors import RunError

    target = tmp_path / "metrics.json"
    atomic.write_json(target, {"kept": True})

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", disk_full)
    with pytest.raises(RunError, match="No space left on device; earlier results are kept"):
        atomic.write_json(target, {"kept": False})
    assert json.loads(target.read_text()) == {"kept": True}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary file left behind


def test_an_unwritable_run_directory_is_one_line(setup, tmp_path: Path) -> None:
    data, _ = setup
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = clinpred("run", "--baselines-only", "--data", str(data), "--out", str(blocker / "run"))
    assert result.code == 2  # an --out that cannot be created is bad input (issue 17, item 9)
    assert result.err.count("\n") == 1 and "cannot create run directory" in result.err


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(setup, tmp_path: Path) -> None:
    out = tmp_path / "interrupted"
    proc = spawn(_args(setup, out),
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        try:
            step = (json.loads((out / "status.json").read_text()).get("current") or {}).get("step") or 0
        except (OSError, ValueError):
            step = 0
        if step >= 5:
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.05)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "Interrupted. Completed units are saved" in err and "--resume" in err
    assert (out / "units" / "lasso" / "holdout.json").is_file()  # the baselines it finished are kept
    resumed = clinpred(*_args(setup, out), "--resume")
    assert resumed.code == 0, resumed.err


def _running_llm(out: Path) -> dict:
    """The tiny model's entry in status.json's ``running`` (empty until it trains)."""
    try:
        status = json.loads((out / "status.json").read_text())
    except (OSError, ValueError):
        return {}
    return (status.get("running") or {}).get("tiny/holdout") or {}


def test_a_pool_worker_killed_mid_training_is_retried_from_its_checkpoint(setup, tmp_path: Path) -> None:
    """--executor process: kill -9 the worker process training the LLM; the unit is submitted
    again to a fresh pool, continues from its checkpoint, and the metrics are unchanged."""
    reference = tmp_path / "reference"
    assert clinpred(*_args(setup, reference)).code == 0

    out = tmp_path / "pool"
    proc = spawn([*_args(setup, out),
                 "--executor", "process", "--jobs", "1"],
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoint = out / "adapters" / "tiny" / "checkpoint"
    deadline, killed = time.time() + 300, None
    while time.time() < deadline and proc.poll() is None:
        entry = _running_llm(out)
        if checkpoint.exists() and 40 <= (entry.get("step") or 0) < 200 and ":" in entry.get("node", ""):
            killed = int(entry["node"].rsplit(":", 1)[1])  # node = host:pid of the pool worker
            os.kill(killed, signal.SIGKILL)
            break
        time.sleep(0.05)
    _, err = proc.communicate(timeout=300)
    assert killed is not None, "the unit finished before its worker could be killed"
    assert proc.returncode == 0, err
    assert "its worker died; retry 1 of 3" in err, err
    assert _metrics(out)["models"]["tiny"] == _metrics(reference)["models"]["tiny"]
    unit = json.loads((out / "units" / "tiny" / "holdout.json").read_text())
    assert unit["training"]["resumed_from"] >= 40  # it continued, it did not start over


def test_ctrl_c_with_a_process_pool_stops_its_workers_at_once(setup, tmp_path: Path) -> None:
    out = tmp_path / "pool-interrupted"
    proc = spawn([*_args(setup, out),
                 "--executor", "process", "--jobs", "1"],
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, worker = time.time() + 300, None
    while time.time() < deadline and proc.poll() is None:
        entry = _running_llm(out)
        if (entry.get("step") or 0) >= 5 and ":" in entry.get("node", ""):
            worker = int(entry["node"].rsplit(":", 1)[1])
            proc.send_signal(signal.SIGINT)  # the driver only, as `kill -INT`; a terminal's Ctrl-C reaches all
            break
        time.sleep(0.05)
    _, err = proc.communicate(timeout=120)
    assert worker is not None, "the LLM unit never started training"
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Interrupted. Completed units are saved" in err
    with pytest.raises(ProcessLookupError):  # the worker is gone, it did not train on to the end
        os.kill(worker, 0)
    assert json.loads((out / "units" / "lasso" / "holdout.json").read_text())["status"] == "done"
    resumed = clinpred(*_args(setup, out), "--resume", "--executor", "process", "--jobs", "1")
    assert resumed.code == 0, resumed.err
