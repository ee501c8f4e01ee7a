"""The LLM arms as model adapters: probe, zero-shot, few-shot and LoRA of one tiny model in one
comparison (``clinpred run --method ...``), each row recorded with its method, each applied by
``clinpred predict``; the probe checked against scikit-learn, the few-shot draw against its rules."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from clirun import clinpred
from llm_run import synth_csv

METHODS = ("probe", "zero-shot", "few-shot", "lora")


@pytest.fixture(scope="module")
def arms_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    from tiny_models import tiny_model_dir

    root = tmp_path_factory.mktemp("arms")
    data = synth_csv(root / "cohort.csv", n=120)
    model = tiny_model_dir("qwen2")
    args = ["run", "--model", str(model), "--family", "qwen", "--iters", "2", "--baseline", "majority",
            "--no-generate", "--data", str(data), "--out", str(root / "run")]
    for method in METHODS:
        args += ["--method", method]
    result = clinpred(*args)
    assert result.code == 0, result.err
    return root / "run", data, Path(str(model).rstrip("/")).name


def _name(base: str, method: str) -> str:
    return base if method == "lora" else f"{base}-{method}"


def test_one_row_per_method_with_finite_aurocs_and_its_method(arms_run) -> None:
    run, _, base = arms_run
    models = json.loads((run / "metrics.json").read_text())["models"]
    assert set(models) == {"majority", *(_name(base, m) for m in METHODS)}
    for method in METHODS:
        entry = models[_name(base, method)]
        assert entry["status"] == "done" and entry["method"] == method
        auroc = entry["metrics"]["auroc"]
        assert math.isfinite(auroc["value"] if isinstance(auroc, dict) else auroc)
    assert "method" not in models["majority"]
    adapters = json.loads((run / "run.json").read_text())["adapters"]
    assert {adapters[_name(base, m)]["adapter"] for m in METHODS} == set(METHODS)


def _read(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {row["patient_id"]: row for row in csv.DictReader(f)}


@pytest.mark.parametrize("method", METHODS)
def test_predict_reproduces_each_arms_test_predictions(arms_run, method, tmp_path: Path) -> None:
    run, data, base = arms_run
    name = _name(base, method)
    out = tmp_path / "p.csv"
    result = clinpred("predict", str(run), "--model", name, "--data", str(data), "-o", str(out))
    assert result.code == 0, result.err
    predicted = _read(out)
    stored = [json.loads(line) for line in (run / "predictions" / f"{name}.jsonl").read_text().splitlines()]
    assert stored and len(predicted) == 120
    for row in stored:
        assert float(predicted[row["id"]]["p_yes"]) == pytest.approx(row["p_yes"], abs=1e-5)
        assert int(predicted[row["id"]]["predicted"]) == row["predicted"]


def test_saved_files_are_what_each_arm_needs(arms_run) -> None:
    run, _, base = arms_run
    assert sorted(p.name for p in (run / "adapters" / _name(base, "probe")).iterdir()) == ["model.skops"]
    assert not (run / "adapters" / _name(base, "zero-shot")).exists() or \
        not any((run / "adapters" / _name(base, "zero-shot")).iterdir())
    shots = json.loads((run / "adapters" / _name(base, "few-shot") / "shots.json").read_text())
    assert set(shots) == {"shots"} and all(set(s) == {"id", "label"} for s in shots["shots"])


def test_few_shot_examples_are_balanced_seeded_and_from_the_training_part(arms_run) -> None:
    run, data, base = arms_run
    shots = json.loads((run / "adapters" / _name(base, "few-shot") / "shots.json").read_text())["shots"]
    split = json.loads((run / "splits.json").read_text())["splits"][0]
    assert len(shots) == 8 and sum(s["label"] for s in shots) == 4  # the default k = 8, half of each outcome
    assert {s["id"] for s in shots} <= set(split["train"])
    with data.open(newline="") as f:
        truth = {row["patient_id"]: row["manual_removal"] for row in csv.DictReader(f)}
    assert all((truth[s["id"]].lower() in ("1", "yes", "true")) == bool(s["label"]) for s in shots)
    from clinpred.core.bounds import unit_seed
    from clinpred.core.data.dataset import load_dataset
    from clinpred.core.data.schema import default_schema
    from clinpred.core.llm.few_shot import draw_shots

    dataset = load_dataset(data, default_schema())  # the same seed draws the same examples
    position = {str(i): k for k, i in enumerate(dataset.ids)}
    rows = draw_shots(dataset.labels, [position[i] for i in split["train"]], 8, seed=unit_seed(42, 0))
    assert [dataset.ids[r] for r in rows] == [s["id"] for s in shots]


def test_the_probe_is_scikit_learns_logistic_regression_on_the_frozen_states(arms_run) -> None:
    """Independent reference: sklearn's LogisticRegression with the C the unit chose, fitted on the
    standardised training states, gives the run's test P(yes)."""
    from sklearn.linear_model import LogisticRegression

    from clinpred.core.data.dataset import load_dataset
    from clinpred.core.data.schema import default_schema
    from clinpred.core.llm.features import last_token_features
    from clinpred.core.llm.llm_unit import PromptBook
    from clinpred.registry.registry import load_registry
    from tiny_models import load_tiny

    run, data, base = arms_run
    name = _name(base, "probe")
    unit = json.loads((run / "units" / name / "holdout.json").read_text())
    c = unit["probe"]["C"]
    dataset = load_dataset(data, default_schema())
    registry = load_registry()
    model, tok = load_tiny("qwen2")
    book = PromptBook(registry, registry.family("qwen"), tok, dataset.schema.task, dataset.records())
    split = json.loads((run / "splits.json").read_text())["splits"][0]
    position = {str(i): k for k, i in enumerate(dataset.ids)}
    train = [position[i] for i in split["train"]]
    stored = [json.loads(line) for line in (run / "predictions" / f"{name}.jsonl").read_text().splitlines()]
    test = [position[r["id"]] for r in stored]
    states = last_token_features(model, tok, [book.scoring_prompt(i) for i in train + test]).states.astype(float)
    x_train, x_test = states[:len(train)], states[len(train):]
    mean, scale = x_train.mean(axis=0), x_train.std(axis=0)
    scale[scale == 0] = 1.0
    reference = LogisticRegression(C=c, max_iter=10000).fit((x_train - mean) / scale, dataset.labels[train])
    expected = reference.predict_proba((x_test - mean) / scale)[:, 1]
    np.testing.assert_allclose([r["p_yes"] for r in stored], expected, atol=1e-4)


CONFIG = """
[run]
models = ["m", "m-probe", "m-fs"]
[[models]]
name = "m"
model_id = "org/m"
family = "qwen"
objective = "label"
[[models]]
name = "m-probe"
model_id = "org/m"
family = "qwen"
method = "probe"
[[models]]
name = "m-fs"
model_id = "org/m"
family = "qwen"
method = "few-shot"
shots = {shots}
"""


def _plans(tmp_path: Path, shots: int = 16, **choices):
    from clinpred.core.run.config import load_config
    from clinpred.core.run.plan import select_models
    from clinpred.registry.registry import load_registry

    path = tmp_path / "c.toml"
    path.write_text(CONFIG.format(shots=shots))
    registry = load_registry()
    return select_models(load_config(path, models=registry), registry, **choices)


def test_one_model_id_in_several_entries_each_with_its_method_and_keys(tmp_path: Path) -> None:
    plans = {p.name: p for p in _plans(tmp_path)}
    assert {n: p.adapter for n, p in plans.items()} == {"m": "lora", "m-probe": "probe", "m-fs": "few-shot"}
    assert plans["m"].params.objective == "label" and plans["m-fs"].params.shots == 16
    assert plans["m-probe"].params.layer is None and plans["m-probe"].params.inner_folds == 5
    assert "lora_rank" not in plans["m-probe"].hyperparameters  # the family's LoRA defaults are LoRA's


@pytest.mark.parametrize("shots", [0, 65])
def test_shots_out_of_bounds_is_one_line(tmp_path: Path, shots: int) -> None:
    from clinpred.core.errors import ConfigError

    with pytest.raises(ConfigError, match=f"shots = {shots} is impossible; it must be between 1 and 64"):
        _plans(tmp_path, shots)


def test_method_rows_and_a_name_clash(tmp_path: Path) -> None:
    from clinpred.core.errors import ConfigError

    plans = _plans(tmp_path, models=["m"], methods=["lora", "probe", "zero-shot"])
    assert [(p.name, p.adapter) for p in plans] == [("m", "lora"), ("m-probe", "probe"), ("m-zero-shot", "zero-shot")]
    assert plans[1].hyperparameters == {} and plans[0].params.objective == "label"
    with pytest.raises(ConfigError, match="model 'm-probe' is selected twice"):
        _plans(tmp_path, models=["m", "m-probe"], methods=["lora", "probe"])


def test_an_unknown_method_on_the_command_line_is_exit_2(tmp_path: Path) -> None:
    result = clinpred("run", "--method", "few-shots", "--no-baselines", "--out", str(tmp_path / "r"))
    assert result.code == 2 and "few-shots" in result.err and len(result.err.strip().splitlines()) == 1


def test_a_few_shot_prompt_past_the_context_fails_its_row_in_one_line(arms_run, tmp_path: Path) -> None:
    from tiny_models import tiny_model_dir

    _, data, _ = arms_run
    config = tmp_path / "c.toml"
    config.write_text(f'[run]\nmodels = ["q"]\n[[models]]\nname = "q"\nmodel_id = "{tiny_model_dir("qwen2")}"\n'
                      'family = "qwen"\nmethod = "few-shot"\nshots = 40\n')
    result = clinpred("run", "--config", str(config), "--no-baselines", "--data", str(data), "--out", str(tmp_path / "r"))
    assert result.code == 1
    error = json.loads((tmp_path / "r" / "metrics.json").read_text())["models"]["q"]["error"]
    assert "but the model reads at most 2048" in error and "use at most" in error and "\n" not in error


def test_the_search_can_tune_the_training_objective() -> None:
    """In a search table a list ``objective`` is the training objective searched, a string the search's own."""
    from clinpred.core.errors import ConfigError
    from clinpred.core.run.search_config import parse_search

    settings = parse_search({"search": {"objective": "val_loss"},
                             "models": [{"name": "m", "search": {"objective": ["answer-token", "label"]}}]}, "c")
    model, default = settings.for_model("m"), settings.default
    assert model.objective == "val_loss" and [(p.name, p.choices) for p in model.params] == \
        [("objective", ("answer-token", "label"))]
    assert default.objective == "val_loss" and {p.name for p in default.params} == {"learning_rate", "lora_rank"}
    top = parse_search({"search": {"objective": ["label"], "lora_rank": [4, 8]}}, "c").default
    assert top.objective == "val_auroc" and {p.name for p in top.params} == {"objective", "lora_rank"}
    with pytest.raises(ConfigError, match="objective = 'answer' is impossible; it must be one of answer-token, label"):
        parse_search({"search": {"objective": ["answer", "label"]}}, "c")
    with pytest.raises(ConfigError, match="objective = 'auc' is unknown"):
        parse_search({"search": {"objective": "auc"}}, "c")


def test_the_process_executor_gives_the_same_rows(arms_run, tmp_path: Path) -> None:
    """The arms run in pool processes as in the driver: the same predictions, byte for byte."""
    from tiny_models import tiny_model_dir

    run, data, base = arms_run
    args = ["run", "--model", str(tiny_model_dir("qwen2")), "--family", "qwen", "--baseline", "majority",
            "--no-generate", "--data", str(data), "--out", str(tmp_path / "pool"), "--executor", "process",
            "--jobs", "2", "--method", "probe", "--method", "zero-shot", "--method", "few-shot"]
    result = clinpred(*args)
    assert result.code == 0, result.err
    for method in ("probe", "zero-shot", "few-shot"):
        name = f"{_name(base, method)}.jsonl"
        assert (tmp_path / "pool" / "predictions" / name).read_bytes() == (run / "predictions" / name).read_bytes()
