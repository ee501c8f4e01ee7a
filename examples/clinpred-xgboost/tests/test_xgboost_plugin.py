"""The XGBoost model plugin: discovered through its entry point, a row of the comparison, applied by predict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import clinpred_xgboost


def clinpred(*args: str) -> tuple[int, str, str]:
    """``clinpred ARGS`` in-process, through the console-script entry point."""
    import click

    from clinpred.cli.main import main

    command = click.Command("clinpred", callback=lambda: main(list(args)))
    result = CliRunner().invoke(command, [], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cohort") / "cohort.csv"
    assert clinpred("data", "synth", "--n", "240", "--seed", "11", "-o", str(path))[0] == 0
    return path


def test_discovered_through_its_entry_point():
    from clinpred.registry.registry import load_registry

    registry = load_registry()
    info = next(i for i in registry.plugins() if i.name == "xgboost")
    assert (info.source, info.status, info.models) == ("entrypoint", "loaded", ["xgboost"])
    assert registry.model_plugin("xgboost") == "xgboost"
    assert registry.model_adapter("xgboost").kind == "baseline"


def test_a_comparison_with_xgboost_in_table_metrics_report_and_predict(tmp_path: Path, cohort: Path):
    config = tmp_path / "c.toml"
    config.write_text('[run]\nbaselines = ["majority", "logistic", "lasso", "xgboost"]\n'
                      "[baselines.xgboost]\nn_estimators = 60\n[evaluation]\nbootstrap = 200\n")
    out = tmp_path / "run"
    code, stdout, stderr = clinpred("run", "--baselines-only", "--config", str(config), "--data", str(cohort),
                                    "--out", str(out))
    assert code == 0, stderr
    assert "xgboost" in stdout and "logistic" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["models"]) == ["majority", "logistic", "lasso", "xgboost"]
    auroc = metrics["models"]["xgboost"]["metrics"]["auroc"]["value"]
    assert 0.5 < auroc <= 1.0 and metrics["models"]["xgboost"]["delong_vs_best_baseline"]["baseline"] == "lasso"
    assert clinpred("report", str(out), "--no-html")[0] == 0
    assert "xgboost" in (out / "report.md").read_text()
    for model in ("lasso", "xgboost"):
        pred = tmp_path / f"{model}.csv"
        code, _, stderr = clinpred("predict", str(out), "--model", model, "--data", str(cohort), "-o", str(pred),
                                   "--config", str(config))
        assert code == 0, stderr
        by_id = {line.split(",")[0]: float(line.split(",")[1]) for line in pred.read_text().splitlines()[1:]}
        rows = [json.loads(x) for x in (out / "predictions" / f"{model}.jsonl").read_text().splitlines()]
        assert max(abs(by_id[r["id"]] - r["p_yes"]) for r in rows) < 1e-12  # the run's own test probabilities


def test_hyperparameters_are_declared_once_and_checked(tmp_path: Path, cohort: Path):
    config = tmp_path / "c.toml"
    config.write_text('[run]\nbaselines = ["xgboost"]\n[baselines.xgboost]\nmax_depth = 0\n')
    code, _, stderr = clinpred("run", "--baselines-only", "--config", str(config), "--data", str(cohort),
                               "--out", str(tmp_path / "run"))
    assert code == 2 and "max_depth = 0 is impossible; it must be between 1 and 32" in stderr
    code, stdout, _ = clinpred("models", "adapters", "xgboost", "--json")
    described = json.loads(stdout)[0]
    assert described["name"] == "xgboost" and {"n_estimators", "max_depth"} <= {h["name"] for h in described["hyperparameters"]}


def test_same_seed_same_probabilities_and_class_weights_shift_the_risks():
    import pandas as pd

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "c": rng.choice(["x", "y"], 300)})
    y = (rng.random(300) < 1 / (1 + np.exp(-2 * X["a"] + 1))).astype(int)
    model = clinpred_xgboost.XGBoost()
    first = model.fit_predict(X[:200], y[:200], [X[200:]], ["c"], seed=3)[0]
    again = model.fit_predict(X[:200], y[:200], [X[200:]], ["c"], seed=3)[0]
    weighted = model.fit_predict(X[:200], y[:200], [X[200:]], ["c"], seed=3, class_weight="balanced")[0]
    assert np.array_equal(first, again)
    assert weighted.mean() > first.mean()  # the rarer positive class weighs more
