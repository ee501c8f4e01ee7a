"""Model plugins: every model of a comparison is a registered model adapter (clinpred_register_models)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clirun import clinpred

KNN_PLUGIN = '''
from attrs import define
from clinpred.api import Bound, TabularModel, hookimpl, param


@define(frozen=True)
class KnnParams:
    n_neighbors: int = param(15, kind=int, bound=Bound(1, 1000), help="neighbours that vote")


class Knn(TabularModel):
    name, description = "knn", "k nearest neighbours"
    params = KnnParams
    scale_numeric = True

    def estimator(self, params, fit):
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(n_neighbors=params.n_neighbors)


@hookimpl
def clinpred_register_models(register):
    register(Knn())
'''


def _plugin(tmp_path: Path, text: str, name: str = "knn_plugin") -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cohort") / "cohort.csv"
    assert clinpred("data", "synth", "--n", "160", "--seed", "4", "-o", str(path)).code == 0
    return path


def test_a_local_model_plugin_is_a_row_of_the_comparison_and_can_be_applied(tmp_path, cohort):
    plugin = _plugin(tmp_path, KNN_PLUGIN)
    config = tmp_path / "c.toml"
    config.write_text('[run]\nbaselines = ["majority", "knn"]\n[baselines.knn]\nn_neighbors = 7\n'
                      '[evaluation]\nbootstrap = 200\nreference = "knn"\n')
    out = tmp_path / "run"
    result = clinpred("--plugin", str(plugin), "run", "--baselines-only", "--config", str(config),
                      "--data", str(cohort), "--out", str(out))
    assert result.code == 0, result.err
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["models"]) == ["majority", "knn"] and metrics["reference"] == "knn"
    assert metrics["models"]["knn"]["kind"] == "baseline"
    run = json.loads((out / "run.json").read_text())
    assert run["adapters"]["knn"] == {"adapter": "knn", "kind": "baseline", "hyperparameters": {"n_neighbors": 7}}
    unit = json.loads((out / "units" / "knn" / "holdout.json").read_text())
    assert set(unit["fitted"]["files"]) == {"model.skops"} and (out / "adapters" / "knn" / "model.skops").is_file()
    pred = tmp_path / "pred.csv"
    applied = clinpred("--plugin", str(plugin), "predict", str(out), "--model", "knn", "--data", str(cohort),
                       "-o", str(pred), "--config", str(config))
    assert applied.code == 0, applied.err
    rows = pred.read_text().splitlines()
    assert len(rows) == 161 and rows[0].startswith("patient_id,p_yes,predicted")
    # its test-part probabilities are the run's own
    from clinpred.core.data.dataset import load_dataset
    from clinpred.core.data.schema import default_schema

    ids = load_dataset(cohort, default_schema()).ids
    by_id = {r.split(",")[0]: float(r.split(",")[1]) for r in rows[1:]}
    run_rows = [json.loads(x) for x in (out / "predictions" / "knn.jsonl").read_text().splitlines()]
    assert all(abs(by_id[r["id"]] - r["p_yes"]) < 1e-12 for r in run_rows) and set(by_id) == set(ids)


def test_a_changed_saved_model_is_refused_before_loading(tmp_path, cohort):
    out = tmp_path / "run"
    assert clinpred("run", "--baselines-only", "--data", str(cohort), "--out", str(out)).code == 0
    saved = out / "adapters" / "lasso" / "model.skops"
    saved.write_bytes(saved.read_bytes()[:-10] + b"0123456789")
    result = clinpred("predict", str(out), "--model", "lasso", "--data", str(cohort), "-o", str(tmp_path / "p.csv"))
    assert result.code == 2 and "sha256 differs" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("body, error", [
    ("register(object())", "register() takes a ModelAdapter instance, got object"),
    ("from clinpred.api import Majority\n    register(Majority())", "model 'majority' is already registered by plugin 'baselines'"),
    ("from clinpred.api import ModelAdapter\n    class M(ModelAdapter):\n        name = 'm'\n    register(M())",
     "does not implement run_unit"),
    ("from clinpred.api import ModelAdapter\n    class M(ModelAdapter):\n        name = 'Bad Name'\n"
     "        def run_unit(self, work):\n            pass\n    register(M())", "must be lowercase letters"),
])
def test_a_broken_model_plugin_fails_alone_naming_itself(tmp_path, body, error):
    from clinpred.registry.registry import load_registry

    text = f"from clinpred.api import hookimpl\n\n\n@hookimpl\ndef clinpred_register_models(register):\n    {body}\n"
    registry = load_registry([str(_plugin(tmp_path, text, "broken"))])
    info = next(i for i in registry.plugins() if i.name == "broken")
    assert info.status == "failed" and error in info.error
    assert [a.name for a in registry.model_adapters()][:2] == ["majority", "logistic"]  # the others still load


def test_unknown_baselines_and_keys_are_one_line_with_a_suggestion(tmp_path, cohort):
    config = tmp_path / "c.toml"
    config.write_text('[run]\nbaselines = ["lasso", "random_forrest"]\n')
    result = clinpred("run", "--baselines-only", "--config", str(config), "--data", str(cohort), "--out", str(tmp_path / "r"))
    assert result.code == 2 and "unknown baseline 'random_forrest' (did you mean 'random_forest'?)" in result.err
    config.write_text('[baselines.random_forest]\nn_estimator = 10\n')
    result = clinpred("run", "--baselines-only", "--config", str(config), "--data", str(cohort), "--out", str(tmp_path / "r"))
    assert result.code == 2 and "unknown key 'n_estimator' (did you mean 'n_estimators'?)" in result.err
    assert "[baselines.random_forest]" in result.err
    result = clinpred("run", "--baseline", "xgbost", "--data", str(cohort), "--out", str(tmp_path / "r"))
    assert result.code == 2 and "unknown model 'xgbost'" in result.err
    assert not (tmp_path / "r").exists()


def test_a_disabled_baselines_plugin_is_named_when_its_baselines_are_asked_for(tmp_path, cohort):
    result = clinpred("run", "--baselines-only", "--data", str(cohort), "--out", str(tmp_path / "r"),
                      env={"CLINPRED_DISABLE_PLUGINS": "baselines"})
    assert result.code == 2 and "unknown baseline 'majority'" in result.err
    assert "plugins that did not load: baselines (disabled by CLINPRED_DISABLE_PLUGINS)" in result.err
