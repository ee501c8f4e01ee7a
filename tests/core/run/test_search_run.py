"""`clinpred run --search` with a tiny random-weight model: trials are units of the run (every
split's search advances on the executor, the driver saves each trial), the same metrics from
the in-process path, `process` and a resume; `parallel_trials` batches."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from clirun import clinpred

pytest.importorskip("optuna")

CONFIG = """
[evaluation]
bootstrap = 200
generate = false
[search]
n_trials = 3
pruner = "none"
{extra}
learning_rate = {{ low = 1e-4, high = 1e-2 }}
lora_rank = [2, 4]
[[models]]
name = "tiny"
family = "qwen"
model_id = "{path}"
lora_layers = 2
num_iters = 4
eval_every = 2
"""
GRID = ("--no-baselines", "--model", "tiny", "--search", "--cv", "2")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tiny_models import tiny_model_dir

    root = tmp_path_factory.mktemp("searchrun")
    data = root / "cohort.csv"
    assert clinpred("data", "synth", "--n", "90", "--seed", "5", "-o", str(data)).code == 0
    out = {"data": data, "root": root}
    for name, extra in (("serial", ""), ("batched", "parallel_trials = 2")):
        config = root / f"{name}.toml"
        config.write_text(CONFIG.format(path=tiny_model_dir("qwen2"), extra=extra))
        out[name] = config
    return out


def _run(setup: dict[str, Path], out: Path, config: str = "serial", *extra: str) -> Path:
    result = clinpred("run", "--config", str(setup[config]), "--data", str(setup["data"]), "--out", str(out),
                      *GRID, *extra)
    assert result.code == 0, result.err
    return out


@pytest.fixture(scope="module")
def local(setup: dict[str, Path]) -> Path:
    return _run(setup, setup["root"] / "local")


def test_each_splits_search_is_saved_by_the_driver_and_chooses_its_best_trial(local: Path) -> None:
    metrics = json.loads((local / "metrics.json").read_text())["models"]["tiny"]
    assert metrics["status"] == "done" and sorted(metrics["search"]) == ["r0f0", "r0f1"]
    for split in ("r0f0", "r0f1"):
        files = sorted((local / "search" / "tiny" / split).glob("trial-*.json"))
        assert [f.name for f in files] == ["trial-000.json", "trial-001.json", "trial-002.json"]
        unit = json.loads((local / "units" / "tiny" / f"{split}.json").read_text())
        trials = [json.loads(f.read_text()) for f in files]
        assert [t["number"] for t in unit["search"]["trials"]] == [0, 1, 2]
        assert [t["params"] for t in unit["search"]["trials"]] == [t["params"] for t in trials]
        best = max((t for t in trials if t["value"] is not None), key=lambda t: (t["value"], -t["number"]))
        assert unit["search"]["chosen"] == best["params"] == metrics["search"][split]["chosen"]
    status = json.loads((local / "status.json").read_text())
    assert status["state"] == "complete" and status["units"]["tiny/r0f0"]["trials_done"] == 3


def test_the_runner_gives_the_trials_of_an_in_process_search(setup: dict[str, Path], local: Path) -> None:
    """The trials the runner sent out as units equal :func:`run_search` run directly (one
    process, trial after trial) on the same training part, seed and hyperparameters."""
    from clinpred.core.bounds import unit_seed
    from clinpred.core.data.dataset import load_dataset
    from clinpred.core.data.schema import default_schema
    from clinpred.core.llm import search as search_mod
    from clinpred.core.llm.llm_unit import PromptBook
    from clinpred.core.weights.loading import load_model
    from clinpred.core.run.config import load_config
    from clinpred.registry.registry import load_registry
    from tiny_models import tiny_model_dir

    dataset = load_dataset(setup["data"], default_schema())
    position = {str(i): k for k, i in enumerate(dataset.ids)}
    split = next(s for s in json.loads((local / "splits.json").read_text())["splits"] if s["name"] == "r0f1")
    run = json.loads((local / "run.json").read_text())
    hyper = next(m["hyperparameters"] for m in run["models"] if m["name"] == "tiny")
    registry, task = load_registry(), dataset.schema.task
    direct = search_mod.run_search(
        cfg=load_config(setup["serial"]).search.for_model("tiny"), load=lambda: load_model(tiny_model_dir("qwen2")),
        book=lambda tok: PromptBook(registry, registry.family("qwen"), tok, task, dataset.records()),
        labels=dataset.labels, train_part=np.array(sorted(position[i] for i in split["train"])),
        balance="none", hyper=hyper, seed=unit_seed(42, 1), search_dir=setup["root"] / "direct",
        positive=task.positive, negative=task.negative, emit=lambda e: None, unit="tiny/r0f1")
    unit = json.loads((local / "units" / "tiny" / "r0f1.json").read_text())
    assert [(t["params"], t["value"]) for t in direct["trials"]] == [
        (t["params"], t["value"]) for t in unit["search"]["trials"]]
    assert direct["chosen"] == unit["search"]["chosen"]


def test_process_executor_runs_the_trials_and_writes_identical_metrics(setup: dict[str, Path], local: Path,
                                                                        tmp_path: Path) -> None:
    out = _run(setup, tmp_path / "proc", "serial", "--executor", "process", "--jobs", "2")
    assert (out / "metrics.json").read_bytes() == (local / "metrics.json").read_bytes()
    for path in sorted((local / "search").rglob("trial-*.json")):
        assert json.loads((out / path.relative_to(local)).read_text())["params"] == json.loads(path.read_text())["params"]
    status = json.loads((out / "status.json").read_text())
    assert all(":" in status["units"][u]["node"] for u in ("tiny/r0f0", "tiny/r0f1"))


def test_resume_reruns_only_the_missing_trial_and_gives_the_same_metrics(setup: dict[str, Path], local: Path,
                                                                         tmp_path: Path) -> None:
    out = tmp_path / "half"
    shutil.copytree(local, out)
    (out / "metrics.json").unlink()
    (out / "units" / "tiny" / "r0f1.json").unlink()
    (out / "search" / "tiny" / "r0f1" / "trial-002.json").unlink()  # the run died during this trial
    result = clinpred("-v", "run", "--config", str(setup["serial"]), "--data", str(setup["data"]), "--out", str(out),
                      *GRID, "--resume")
    assert result.code == 0, result.err
    assert result.err.count("already done") == 3  # r0f0's unit, r0f1's trials 0 and 1
    assert "tiny/r0f1/trial-002" in result.err and "tiny/r0f1/trial-001" not in result.err
    assert (out / "metrics.json").read_bytes() == (local / "metrics.json").read_bytes()


def test_parallel_trials_asks_a_batch_at_once_the_same_on_every_executor(setup: dict[str, Path],
                                                                         tmp_path: Path) -> None:
    serial = _run(setup, tmp_path / "b-local", "batched")
    pooled = _run(setup, tmp_path / "b-proc", "batched", "--executor", "process", "--jobs", "2")
    assert (serial / "metrics.json").read_bytes() == (pooled / "metrics.json").read_bytes()
    run = json.loads((serial / "run.json").read_text())
    assert next(m for m in run["models"] if m["name"] == "tiny")["search"]["parallel_trials"] == 2
    trials = json.loads((serial / "units" / "tiny" / "r0f0.json").read_text())["search"]["trials"]
    assert len(trials) == 3 and all(t["state"] == "complete" for t in trials)
