"""The Python API: clinpred.run / load_run (same engine as the CLI) and clinpred.sklearn.LLMClassifier."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import clinpred
from tiny_models import tiny_model_dir

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    block = re.search(r"<!-- notebook-example -->\n```python\n(.*?)```", text, re.S)
    assert block, "README.md has no notebook example after <!-- notebook-example -->"
    return block.group(1)


def test_the_readme_notebook_example_runs(tmp_path, monkeypatch, capsys):
    """The README's example as written, with a tiny random-weight model in place of MODEL."""
    code = readme_example()
    assert 'MODEL = "smollm2-135m-instruct"' in code
    code = code.replace('MODEL = "smollm2-135m-instruct"', f'MODEL = {str(tiny_model_dir("qwen2"))!r}')
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md notebook example", "exec"), namespace)  # noqa: S102 - our own README
    table = namespace["results"].table()
    assert list(table.index) == sorted(table.index, key=lambda m: -table.loc[m, "auroc"])
    assert set(table.index) == {"majority", "logistic", "lasso"} and table.loc["majority", "auroc"] == 0.5
    assert (tmp_path / "runs" / "notebook" / "metrics.json").is_file()
    scores = namespace["cross_val_score"].__name__ and capsys.readouterr().out
    assert "auroc" in scores and re.search(r"\[\s*[0-9.]+\s+[0-9.]+\s+[0-9.]+\s*\]", scores)


def test_run_matches_the_cli_byte_for_byte(tmp_path, monkeypatch):
    from clirun import clinpred as cli

    data = tmp_path / "cohort.csv"
    assert cli("data", "synth", "--n", "200", "--seed", "3", "-o", str(data)).code == 0
    api = clinpred.run(baselines_only=True, data=data, cv=3, seed=5, out=tmp_path / "api", progress=False)
    assert cli("run", "--baselines-only", "--data", str(data), "--cv", "3", "--seed", "5",
               "--out", str(tmp_path / "cli")).code == 0
    assert (tmp_path / "api" / "metrics.json").read_bytes() == (tmp_path / "cli" / "metrics.json").read_bytes()
    assert api.metrics == json.loads((tmp_path / "cli" / "metrics.json").read_text())
    loaded = clinpred.load_run(tmp_path / "cli")
    assert loaded.table().equals(api.table())
    assert loaded.predictions("lasso").shape[0] == 200
    report = loaded.report(html=False)
    assert report.name == "report.md" and "lasso" in report.read_text()


def test_api_errors_are_the_cli_errors(tmp_path):
    from clinpred.core.errors import ConfigError, DataError, UserError

    with pytest.raises(ConfigError, match=r"clinpred.run\(\): cv = 1 is impossible; it must be between 2 and 100"):
        clinpred.run(baselines_only=True, cv=1)
    with pytest.raises(UserError, match="--baselines-only and --no-baselines exclude each other"):
        clinpred.run(baselines_only=True, no_baselines=True)
    with pytest.raises(DataError, match="no such run directory"):
        clinpred.load_run(tmp_path / "nope")


# -- the scikit-learn estimator on a tiny model --------------------------------------------------

@pytest.fixture(scope="module")
def cohort():
    frame = clinpred.synthetic_cohort(n=90, seed=4)
    return frame.drop(columns=["patient_id", "manual_removal"]), frame["manual_removal"].to_numpy()


def _clf(**kwargs):
    from clinpred.sklearn import LLMClassifier

    settings = dict(question="Will this patient need manual removal of the placenta?", num_iters=3,
                    batch_size=4, validation_fraction=0, lora_layers=2, lora_rank=4, learning_rate=0.05)
    return LLMClassifier(str(tiny_model_dir("qwen2")), **{**settings, **kwargs})


def test_hyperparameters_live_in_init_so_clone_and_set_params_work():
    from sklearn.base import clone

    clf = _clf(num_iters=7)
    params = clf.get_params()
    assert params["num_iters"] == 7 and params["lora_rank"] == 4 and params["epochs"] is None
    twin = clone(clf)
    assert twin.get_params() == params and twin is not clf
    assert clf.set_params(learning_rate=1e-3).learning_rate == 1e-3
    with pytest.raises(TypeError, match=r"unexpected keyword 'num_iter' \(did you mean 'num_iters'\?\)"):
        _clf(num_iter=3)


def test_fit_predict_proba_and_string_classes(cohort):
    X, y = cohort
    words = np.where(y == 1, "removal", "none")
    clf = _clf().fit(X, words)
    assert list(clf.classes_) == ["none", "removal"] and list(clf.feature_names_in_) == list(X.columns)
    proba = clf.predict_proba(X.iloc[:10])
    assert proba.shape == (10, 2) and np.allclose(proba.sum(axis=1), 1.0) and np.all((proba > 0) & (proba < 1))
    assert set(clf.predict(X.iloc[:10])) <= {"none", "removal"}
    assert np.allclose(clf.decision_function(X.iloc[:10]), np.log(proba[:, 1] / proba[:, 0]))
    # the same rows in another column order give the same probabilities
    assert np.allclose(clf.predict_proba(X.iloc[:10][list(X.columns)[::-1]]), proba)
    with pytest.raises(ValueError, match="lacks the column"):
        clf.predict_proba(X.drop(columns=["country"]))
    with pytest.raises(ValueError, match="two classes"):
        _clf().fit(X, np.zeros(len(X)))


def test_cross_val_score_and_permutation_importance(cohort):
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import cross_val_score

    X, y = cohort
    scores = cross_val_score(_clf(), X, y, cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    fitted = _clf().fit(X, y)
    result = permutation_importance(fitted, X.iloc[:40], y[:40], scoring="roc_auc", n_repeats=2, random_state=0)
    assert result.importances_mean.shape == (X.shape[1],) and np.all(np.isfinite(result.importances_mean))
