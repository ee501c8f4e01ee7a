"""Units as values and the executors: spec/result round trips, `process` == `local` byte for
byte, resume across executors, the [execution] table, parallel status."""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from clirun import clinpred
from clinpred.core.errors import ConfigError
from clinpred.core.events import Event
from clinpred.core.run.config import EvaluationConfig, load_config
from clinpred.core.run.execution_config import ExecutionSettings, parse_execution
from clinpred.core.run.executors.base import ThrottledEmit
from clinpred.core.run.units import UnitResult, UnitSpec, WorkerRef, normalized

GRID = ("--baselines-only", "--cv", "3", "--repeats", "2")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("exec") / "cohort.csv"
    assert clinpred("data", "synth", "--n", "200", "--seed", "5", "-o", str(path)).code == 0
    return path


@pytest.fixture(scope="module")
def local_run(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local") / "run"
    result = clinpred("run", *GRID, "--data", str(cohort), "--out", str(out))
    assert result.code == 0, result.err
    return out


def _splits(n: int = 60):
    from clinpred.core.run.runner import make_splits

    labels = np.array([0, 1] * (n // 2))
    return make_splits(labels, EvaluationConfig(protocol="cv", cv_folds=3, cv_repeats=1))


def _plan():
    from clinpred.core.run.plan import select_models
    from clinpred.registry.registry import load_registry

    return select_models(load_config(), load_registry())[0]


def _baseline_plan(name: str = "lasso"):
    from clinpred.core.run.plan import baseline_plans
    from clinpred.registry.registry import load_registry

    registry = load_registry()
    return baseline_plans(load_config(models=registry), registry, [name])[0]


def test_a_unit_spec_survives_pickling_whole() -> None:
    split = _splits()[1]
    ev = EvaluationConfig(protocol="cv", cv_folds=3)
    spec = UnitSpec(_plan(), split, 1, 43, "abc123", ev, adapter_split=split.name, resume=True)
    back = pickle.loads(pickle.dumps(spec))
    assert back.unit == spec.unit == f"smollm2-135m-instruct/{split.name}"
    assert back.plan == spec.plan and back.evaluation == ev and back.fingerprint == "abc123"
    for part in ("train", "val", "test"):
        assert np.array_equal(getattr(back.split, part), getattr(split, part))
    base = UnitSpec(_baseline_plan(), split, 0, 42, "k", ev)
    assert pickle.loads(pickle.dumps(base)).plan.adapter == "lasso"


def test_a_unit_result_round_trips_and_its_outcome_reads_back_like_a_unit_file() -> None:
    from outcomes import outcome

    payload = normalized({"status": "done", "threshold": np.float64(0.25), "val": {"index": np.arange(3),
                          "p": np.array([0.1, 0.2, 1 / 3])}})
    assert payload == json.loads(json.dumps(payload))
    assert payload["val"]["p"][2] == 1 / 3  # floats keep every bit
    unit = outcome([3, 4], [0.5, 1 / 3], val_index=[0, 1, 2], val_p=[0.1, 0.2, 1 / 3], threshold=0.25)
    result = UnitResult("lasso/r0f0", "k", outcome=unit, saved_files={"model.skops": b"\x00\x01"}, node="host/abc")
    back = pickle.loads(pickle.dumps(result))
    assert back.ok and back.outcome.to_json() == unit.to_json() and back.saved_files == result.saved_files
    assert back.outcome.test.p[1] == 1 / 3
    assert not UnitResult("x/y", "k", error="boom").ok


def test_bad_unit_specs_are_refused() -> None:
    split, ev = _splits()[0], EvaluationConfig()
    with pytest.raises(ValueError):
        UnitSpec(_baseline_plan(), split, -1, 0, "k", ev)
    with pytest.raises(ValueError):
        UnitSpec(_baseline_plan(), split, 0, 0, "", ev)


def test_a_failing_unit_comes_back_as_a_failed_result_not_an_exception(cohort: Path) -> None:
    from clinpred.core.data.dataset import load_dataset
    from clinpred.core.data.schema import default_schema
    from clinpred.core.run.unit_work import WorkContext, execute_unit
    from clinpred.registry.registry import load_registry

    dataset = load_dataset(cohort, default_schema())
    split = _splits()[0]
    bad = UnitSpec(_baseline_plan(), split.__class__(split.name, 0, 0, [10_000], split.val, split.test), 0, 1, "k",
                   EvaluationConfig())
    events: list[Event] = []
    result = execute_unit(bad, WorkContext(dataset, load_registry(), node="here"), events.append)
    assert not result.ok and result.error and not result.fatal
    assert events[0].kind == "unit-start" and events[0].data["node"] == "here"


def test_failures_are_classified_by_class_not_by_name(cohort: Path) -> None:
    """A subclass of a fatal error is fatal too (the old check compared class names)."""
    from clinpred.core.data.dataset import load_dataset
    from clinpred.core.data.schema import default_schema
    from clinpred.core.errors import RenderError
    from clinpred.core.run.unit_work import WorkContext, execute_unit
    from clinpred.registry.registry import load_registry

    class Broken(RenderError):
        pass

    registry = load_registry()
    adapter = registry.model_adapter("lasso")

    def explode(work):
        raise Broken("the template drops the answer")

    dataset = load_dataset(cohort, default_schema())
    spec = UnitSpec(_baseline_plan(), _splits()[0], 0, 1, "k", EvaluationConfig())
    original, adapter.run_unit = adapter.run_unit, explode
    try:
        result = execute_unit(spec, WorkContext(dataset, registry, node="here"), lambda e: None)
    finally:
        adapter.run_unit = original
    assert result.fatal and "drops the answer" in result.error


def test_the_worker_ref_rebuilds_the_registry_with_the_drivers_plugin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINPRED_DISABLE_PLUGINS", "qwen")
    ref = WorkerRef.capture("clinpred.registry.registry:load_registry")
    monkeypatch.delenv("CLINPRED_DISABLE_PLUGINS")
    ref = pickle.loads(pickle.dumps(ref))
    registry = ref.build()
    assert os.environ["CLINPRED_DISABLE_PLUGINS"] == "qwen"
    assert "qwen" not in [f.name for f in registry.families()] and registry.model_adapter("lasso").name == "lasso"


def test_process_executor_writes_byte_identical_metrics_and_predictions(cohort: Path, local_run: Path,
                                                                        tmp_path: Path) -> None:
    out = tmp_path / "proc"
    result = clinpred("run", *GRID, "--data", str(cohort), "--out", str(out), "--executor", "process", "--jobs", "2")
    assert result.code == 0, result.err
    assert (out / "metrics.json").read_bytes() == (local_run / "metrics.json").read_bytes()
    for path in sorted((local_run / "predictions").iterdir()):
        assert (out / "predictions" / path.name).read_bytes() == path.read_bytes(), path.name
    units = sorted(p.relative_to(local_run) for p in (local_run / "units").rglob("*.json"))
    assert units == sorted(p.relative_to(out) for p in (out / "units").rglob("*.json")) and len(units) == 24
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "complete" and all(":" in u["node"] for u in status["units"].values())


def test_resume_with_another_executor_continues_from_the_completed_units(cohort: Path, local_run: Path,
                                                                         tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "half"
    shutil.copytree(local_run, out)
    (out / "metrics.json").unlink()
    for path in sorted((out / "units").rglob("r1*.json")):  # the second repeat never finished
        path.unlink()
    result = clinpred("run", *GRID, "--data", str(cohort), "--out", str(out), "--resume", "--executor", "process")
    assert result.code == 0, result.err
    assert result.err.count("already done (resumed)") == 12
    assert (out / "metrics.json").read_bytes() == (local_run / "metrics.json").read_bytes()


def test_the_execution_table_is_validated_and_overridden_by_the_options() -> None:
    s = parse_execution({"executor": "ray", "llm_gpus": 1, "memory_gb": 8, "resources": {"mac": 1},
                         "max_retries": 2, "max_concurrent": 4}, overrides={"address": "auto"})
    assert s == ExecutionSettings("ray", None, "auto", 1.0, 1.0, 1.0, 8.0, {"mac": 1.0}, 2, 4)
    assert parse_execution({"executor": "ray"}, overrides={"executor": "process", "jobs": 3}).jobs == 3
    assert parse_execution({"jobs": 4}).executor == "local"  # kept for another executor's runs
    for table, overrides, message in [
        ({"executer": "ray"}, {}, "unknown key 'executer' \\(did you mean 'executor'\\?\\)"),
        ({"executor": "slurm"}, {}, "executor = 'slurm' is unknown"),
        ({"max_retries": -1}, {}, "max_retries = -1 is impossible"),
        ({"jobs": 0}, {"executor": "process"}, "jobs = 0 is impossible"),
        ({"resources": {"gpu_a100": "one"}}, {}, "gpu_a100 must be int or float"),
        ({}, {"jobs": 2}, "--jobs needs a parallel executor"),
        ({"executor": "process"}, {"address": "auto"}, "--address only applies to the ray executor"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_execution(table, overrides=overrides)


def test_execution_errors_are_one_line_and_exit_2_before_anything_is_written(cohort: Path, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[execution]\nexecutor = "proces"\n')
    out = tmp_path / "never"
    result = clinpred("run", "--baselines-only", "--config", str(config), "--data", str(cohort), "--out", str(out))
    assert result.code == 2 and "executor = 'proces' is unknown" in result.err and "Traceback" not in result.err
    result = clinpred("run", "--baselines-only", "--data", str(cohort), "--out", str(out), "--jobs", "2")
    assert result.code == 2 and "--executor process" in result.err
    assert not out.exists()


def test_ray_executor_without_ray_names_the_extra(cohort: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    result = clinpred("run", "--baselines-only", "--data", str(cohort), "--out", str(tmp_path / "r"), "--executor", "ray")
    assert result.code == 2, result.err
    assert result.err.strip().splitlines() == [
        "Error: --executor ray needs Ray, which is not installed; install it with pip install 'clinpred[ray]'"]
    assert not (tmp_path / "r").exists()


def test_workers_send_progress_at_most_twice_a_second_but_always_the_last_step() -> None:
    sent: list[Event] = []
    emit = ThrottledEmit(sent.append, "node-a")
    emit(Event("unit-start", "m/s"))
    for step in range(1, 101):
        emit(Event("train-progress", "m/s", data={"step": step, "total": 100, "loss": 1.0 / step}))
    steps = [e.data["step"] for e in sent if e.kind == "train-progress"]
    assert steps[0] == 1 and steps[-1] == 100 and len(steps) < 10
    assert all(e.data["node"] == "node-a" for e in sent if e.kind == "train-progress")


def test_status_shows_every_running_unit_with_its_node(tmp_path: Path) -> None:
    from clinpred.core.run.rundir import RunDirectory
    from clinpred.core.run.status import StatusRecorder
    from clinpred.core.run.status_view import read_run_status

    run = tmp_path / "run"
    run.mkdir()
    recorder = StatusRecorder(RunDirectory(run), lambda e: None)
    recorder.start(["a", "b"], ["r0f0", "r0f1"])
    recorder.emit(Event("unit-start", "a/r0f0", data={"node": "h1/aaaa"}))
    recorder.emit(Event("unit-start", "b/r0f0", data={"node": "h2/bbbb"}))
    recorder._last_write = 0.0
    recorder.emit(Event("train-progress", "b/r0f0", data={"step": 3, "total": 10, "loss": 0.5, "eta_seconds": 70.0,
                                                         "node": "h2/bbbb"}))
    recorder.emit(Event("unit-done", "a/r0f0", data={"seconds": 1.0}))
    status = read_run_status(run)
    assert status["state"] == "running"
    assert set(status["running"]) == {"b/r0f0"} and status["running"]["b/r0f0"]["node"] == "h2/bbbb"
    assert status["units"]["a/r0f0"]["node"] == "h1/aaaa" and status["units"]["a/r0f0"]["state"] == "done"
    recorder.emit(Event("unit-start", "a/r0f1", data={"node": "h1/aaaa"}))
    result = clinpred("status", str(run))
    assert result.code == 0, result.err
    lines = [line for line in result.out.splitlines() if line.strip().startswith("running:")]
    assert len(lines) == 2
    assert any("b/r0f0" in l and "step 3/10" in l and "on h2/bbbb" in l and "ETA" in l for l in lines)
    assert any("a/r0f1" in l and "on h1/aaaa" in l for l in lines)


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


def test_an_unreachable_ray_address_is_one_line_at_once_and_writes_nothing(cohort: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    port = _closed_port()
    out = tmp_path / "never"
    result = clinpred("run", "--baselines-only", "--data", str(cohort), "--out", str(out), "--executor", "ray",
                      "--address", f"127.0.0.1:{port}")
    assert result.code == 1 and not out.exists()
    assert result.err.strip().splitlines() == [
        f"Error: cannot reach the Ray cluster at '127.0.0.1:{port}' (connection refused); start its head node "
        f"(`ray start --head --port={port}`) or check --address and the firewall"]
    doctor = clinpred("doctor", "--address", f"127.0.0.1:{port}")
    assert doctor.code == 1 and "cannot reach the Ray cluster" in doctor.err and "Traceback" not in doctor.err
    bad = clinpred("run", "--baselines-only", "--data", str(cohort), "--out", str(out), "--executor", "ray",
                   "--address", "headnode")
    assert bad.code == 2 and "is not auto, HOST:PORT or ray://HOST:PORT" in bad.err and not out.exists()
