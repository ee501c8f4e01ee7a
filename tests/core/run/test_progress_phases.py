"""Progress that tells the truth (issue 27): the epochs a fine-tune covers next to its steps, a
warning under one epoch, and scoring and generation as phases with counts and an ETA in the live
display, in status.json and in `clinpred status`."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytest

from clirun import clinpred
from clinpred.core.atomic import write_json
from clinpred.core.events import Event, phase_progress


def test_one_phase_over_two_calls_counts_to_the_whole_total() -> None:
    events: list[Event] = []
    first = phase_progress(events.append, "m/holdout", "scoring", total=10)
    first(0, 4)
    first(4, 4)
    second = phase_progress(events.append, "m/holdout", "scoring", offset=4, total=10)
    second(3, 6)
    second(6, 6)
    assert [(e.data["done"], e.data["total"]) for e in events] == [(0, 10), (4, 10), (7, 10), (10, 10)]
    assert events[0].data["eta_seconds"] is None and events[-1].data["eta_seconds"] == 0
    assert {e.data["label"] for e in events} == {"scoring P(yes)"} and {e.data["what"] for e in events} == {"patients"}


@pytest.mark.parametrize("n, batch, accum, iters, expected", [
    (462, 4, 1, 40, 40 / 116),   # the example: --iters 40 is 0.34 of an epoch
    (462, 4, 1, 116, 1.0),
    (100, 8, 2, 10, 10 * 2 / 13),
])
def test_covered_epochs(n: int, batch: int, accum: int, iters: int, expected: float) -> None:
    from clinpred.core.llm.llm_unit import covered_epochs
    from clinpred.core.llm.training_config import TrainConfig

    cfg = TrainConfig(iters=iters, batch_size=batch, grad_accum=accum)
    assert covered_epochs(cfg, n) == pytest.approx(expected)
    assert covered_epochs(TrainConfig(epochs=1.0, batch_size=batch, grad_accum=accum), n) >= 1.0


def test_a_fine_tune_under_one_epoch_is_warned_once_per_model_and_in_metrics() -> None:
    from clinpred.core.llm.llm_unit import announce_epochs
    from clinpred.core.llm.training_config import TrainConfig

    events: list[Event] = []
    announce_epochs(TrainConfig(iters=40, batch_size=4), 462, events.append, "m/r0f0")
    warning = next(e for e in events if e.kind == "warning")
    assert "40 steps of 4 examples cover 0.34 of an epoch of the 462 training examples" in warning.message
    assert "one epoch is 116 steps: --iters 116" in warning.message and warning.data["code"] == "under-one-epoch"
    events.clear()
    announce_epochs(TrainConfig(epochs=1.0, batch_size=4), 462, events.append, "m/r0f0")
    assert [e.kind for e in events] == ["message"]

    from clinpred.cli.progress import RunConsole

    console = RunConsole(0)
    printed: list[str] = []
    console.console.print = lambda text, **kw: printed.append(text)  # type: ignore[method-assign]
    for unit in ("m/r0f0", "m/r0f1", "other/r0f0"):
        console(Event("warning", unit, f"{unit}: under one epoch", data={"code": "under-one-epoch"}))
    console(Event("warning", "", "a dataset warning"))
    assert [p.split(": ", 1)[1] for p in printed] == ["m/r0f0: under one epoch", "other/r0f0: under one epoch",
                                                      "a dataset warning"]


def test_the_recorder_keeps_one_phase_per_unit(tmp_path: Path) -> None:
    from clinpred.core.run.rundir import RunDirectory
    from clinpred.core.run.status import StatusRecorder

    rundir = RunDirectory(tmp_path)
    rundir.create(resume=False)
    recorder = StatusRecorder(rundir, lambda e: None)
    recorder.start(["m"], ["holdout"])
    recorder.emit(Event("unit-start", "m/holdout"))
    recorder.emit(Event("train-progress", "m/holdout", data={"step": 40, "total": 40, "loss": 0.5, "epoch": 0.34,
                                                            "epochs": 0.34, "eta_seconds": 0.0}))
    recorder.emit(Event("phase-progress", "m/holdout", data={"phase": "scoring", "label": "scoring P(yes)",
                                                            "what": "patients", "done": 0, "total": 115,
                                                            "eta_seconds": None}))
    running = json.loads(rundir.status_json.read_text())["running"]["m/holdout"]
    assert running["phase"] == "scoring" and running["total"] == 115 and "step" not in running and "loss" not in running
    recorder.emit(Event("train-progress", "m/holdout", data={"step": 1, "total": 5, "loss": 0.7}))
    assert "phase" not in recorder.running["m/holdout"] and recorder.running["m/holdout"]["total"] == 5


def _status_with(run: Path, current: dict) -> None:
    write_json(run / "run.json", {"status": "running", "baselines": [], "splits": {"holdout": {}},
                                  "models": [{"name": "m"}]})
    write_json(run / "status.json", {"state": "running", "pid": os.getpid(), "updated": time.time(),
                                     "started": time.time() - 60,
                                     "units": {"m/holdout": {"state": "running", "started": time.time() - 50}},
                                     "current": current})


def test_status_shows_scoring_with_counts_and_eta(tmp_path: Path) -> None:
    _status_with(tmp_path, {"unit": "m/holdout", "phase": "scoring", "label": "scoring P(yes)", "what": "patients",
                            "done": 30, "total": 115, "eta_seconds": 120.0})
    result = clinpred("status", str(tmp_path))
    assert result.code == 0, result.err
    assert "current: m/holdout  scoring P(yes): 30/115 patients" in result.out
    assert "ETA: the scoring 2m 00s" in result.out or "ETA: the scoring 1m 59s" in result.out
    assert "step" not in result.out


def test_status_shows_the_epochs_next_to_the_steps(tmp_path: Path) -> None:
    _status_with(tmp_path, {"unit": "m/holdout", "step": 20, "total": 40, "loss": 0.5, "epoch": 0.1724,
                            "epochs": 0.3448, "eta_seconds": 50.0})
    result = clinpred("status", str(tmp_path))
    assert "m/holdout  step 20/40 (epoch 0.17 of 0.34)  loss 0.5000" in result.out


def test_a_run_reports_its_scoring_and_generation_phases(tmp_path: Path) -> None:
    """A real unit on a tiny model: every patient scored and every test patient generated, counted
    to the end, and the epochs its training covered in the events, the unit file and metrics.json."""
    from tiny_models import tiny_model_dir

    from clinpred.core.run.assemble import RunChoices, build_request
    from clinpred.core.run.runner import Runner
    from clinpred.registry.registry import load_registry

    data = tmp_path / "cohort.csv"
    assert clinpred("data", "synth", "--n", "100", "--seed", "5", "-o", str(data)).code == 0
    config = tmp_path / "config.toml"
    config.write_text(f'[run]\nbaselines = []\n[evaluation]\nbootstrap = 200\nmax_new_tokens = 3\nbalance = "none"\n'
                      f'[[models]]\nname = "tiny"\nfamily = "qwen"\nmodel_id = "{tiny_model_dir("qwen2")}"\n'
                      f'lora_layers = 2\nbatch_size = 4\n')
    registry = load_registry()
    request = build_request(RunChoices(config=config, data=data, out=tmp_path / "run", iters=3, models=("tiny",)), registry)
    events: list[Event] = []
    summary = Runner(request, registry, events.append).run()
    assert not summary.failed, summary.failed
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    sizes = run["splits"]["holdout"]
    phases = {p: [e.data for e in events if e.kind == "phase-progress" and e.data["phase"] == p]
              for p in ("scoring", "generation")}
    assert phases["scoring"][0]["done"] == 0 and phases["scoring"][-1]["done"] == sizes["val"]["n"] + sizes["test"]["n"]
    assert all(d["total"] == sizes["val"]["n"] + sizes["test"]["n"] for d in phases["scoring"])
    assert [d["done"] for d in phases["scoring"]] == sorted(d["done"] for d in phases["scoring"])
    assert phases["generation"][-1]["done"] == phases["generation"][-1]["total"] == sizes["test"]["n"]
    epochs = 3 / math.ceil(sizes["train"]["n"] / 4)  # 3 steps of one batch of 4
    train = [e.data for e in events if e.kind == "train-progress"]
    assert train[-1]["epochs"] == pytest.approx(epochs) and train[-1]["epoch"] == pytest.approx(epochs)
    assert any(e.kind == "warning" and e.data.get("code") == "under-one-epoch" for e in events)
    from clinpred.core.run.rundir import RunDirectory

    unit = RunDirectory(tmp_path / "run").read_unit("tiny", "holdout")
    assert unit["training"]["epochs"] == pytest.approx(epochs, abs=1e-4)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "under-one-epoch" in {w["code"] for w in metrics["warnings"]}
