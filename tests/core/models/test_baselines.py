"""Classical baselines (clinpred.core.evaluation.baselines)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clinpred.core.evaluation.baselines import BASELINES, build_pipeline, fit_predict_baseline
from clinpred.core.errors import ConfigError, DataError

CATEGORICAL = ["country", "arm"]
SMART = [b for b in BASELINES if b != "majority"]


def _cohort(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """An easy problem: the outcome depends strongly on age, haemoglobin and country."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "age": rng.normal(30, 6, n),
            "hb": rng.normal(11, 1.5, n),
            "country": rng.choice(["UK", "Uganda", "Pakistan"], n, p=[0.6, 0.33, 0.07]),
            "arm": rng.choice(["oxytocin", "placebo"], n),
            "noise": rng.normal(size=n),
        }
    )
    country = df["country"].map({"UK": 1.5, "Uganda": -1.0, "Pakistan": 0.0})
    lp = 0.25 * (df["age"] - 30) - 0.8 * (df["hb"] - 11) + country
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int).to_numpy()
    # missing values in a numeric and a categorical column
    df.loc[rng.random(n) < 0.1, "hb"] = np.nan
    df.loc[rng.random(n) < 0.05, "country"] = None
    return df, y


@pytest.fixture(scope="module")
def data():
    df, y = _cohort(500, 0)
    return df.iloc[:350].reset_index(drop=True), y[:350], df.iloc[350:].reset_index(drop=True), y[350:]


@pytest.mark.parametrize("name", SMART)
def test_each_baseline_discriminates_an_easy_problem(name, data):
    from sklearn.metrics import roc_auc_score

    X_tr, y_tr, X_te, y_te = data
    (p,) = fit_predict_baseline(name, X_tr, y_tr, [X_te], categorical=CATEGORICAL, seed=0)
    assert p.shape == (len(X_te),) and p.dtype == float
    assert np.all((p >= 0) & (p <= 1))
    assert roc_auc_score(y_te, p) > 0.75


def test_majority_gives_the_training_prevalence(data):
    X_tr, y_tr, X_te, _ = data
    p_val, p_te = fit_predict_baseline("majority", X_tr, y_tr, [X_te.iloc[:10], X_te], categorical=CATEGORICAL, seed=0)
    assert np.allclose(p_te, y_tr.mean()) and np.allclose(p_val, y_tr.mean())
    # class weights do not change the majority model
    (p_bal,) = fit_predict_baseline(
        "majority", X_tr, y_tr, [X_te], categorical=CATEGORICAL, seed=0, class_weight="balanced"
    )
    assert np.allclose(p_bal, y_tr.mean())


@pytest.mark.parametrize("name", BASELINES)
def test_same_seed_same_probabilities(name, data):
    X_tr, y_tr, X_te, _ = data
    a = fit_predict_baseline(name, X_tr, y_tr, [X_te], categorical=CATEGORICAL, seed=3)
    b = fit_predict_baseline(name, X_tr, y_tr, [X_te], categorical=CATEGORICAL, seed=3)
    assert np.array_equal(a[0], b[0])


def test_a_different_seed_changes_the_random_forest(data):
    X_tr, y_tr, X_te, _ = data
    a = fit_predict_baseline("random_forest", X_tr, y_tr, [X_te], categorical=CATEGORICAL, seed=3)
    b = fit_predict_baseline("random_forest", X_tr, y_tr, [X_te], categorical=CATEGORICAL, seed=4)
    assert not np.array_equal(a[0], b[0])


@pytest.mark.parametrize("name", ["lasso", "gradient_boosting"])
def test_eval_frames_do_not_influence_the_fit(name, data):
    """Nothing is fitted on evaluation rows: a frame's probabilities do not depend on which other
    frames are evaluated, nor on their row order (and no evaluation label is ever passed)."""
    X_tr, y_tr, X_te, _ = data
    (alone,) = fit_predict_baseline(name, X_tr, y_tr, [X_te], categorical=CATEGORICAL, seed=1)
    strange = X_te.copy()
    strange["age"] = 1000.0  # an absurd second frame would move any statistic fitted on it
    with_other = fit_predict_baseline(name, X_tr, y_tr, [strange, X_te], categorical=CATEGORICAL, seed=1)
    assert np.array_equal(with_other[1], alone)
    perm = np.random.default_rng(0).permutation(len(X_te))
    (shuffled,) = fit_predict_baseline(
        name, X_tr, y_tr, [X_te.iloc[perm].reset_index(drop=True)], categorical=CATEGORICAL, seed=1
    )
    assert np.allclose(shuffled, alone[perm], atol=1e-12)


def test_missing_values_are_imputed_from_training_data(data):
    X_tr, y_tr, X_te, _ = data
    row = X_te.iloc[[0]].copy()
    missing = row.copy()
    missing["hb"] = np.nan
    imputed = row.copy()
    imputed["hb"] = X_tr["hb"].median()
    p_missing, p_imputed = fit_predict_baseline("lasso", X_tr, y_tr, [missing, imputed], categorical=CATEGORICAL, seed=0)
    assert p_missing[0] == pytest.approx(p_imputed[0], abs=1e-12)


@pytest.mark.parametrize("name", BASELINES)
def test_unseen_categories_and_missing_values_in_eval(name, data):
    X_tr, y_tr, X_te, _ = data
    odd = X_te.iloc[:4].copy()
    odd["country"] = ["Kenya", None, "UK", np.nan]  # unseen, missing, known, missing
    odd.loc[odd.index[:2], ["age", "hb", "noise"]] = np.nan
    (p,) = fit_predict_baseline(name, X_tr, y_tr, [odd], categorical=CATEGORICAL, seed=0, class_weight="balanced")
    assert p.shape == (4,) and np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))


def test_numeric_coded_categories_and_extra_columns(data):
    X_tr, y_tr, X_te, _ = data
    coded = X_tr.assign(arm=X_tr["arm"].map({"oxytocin": 1, "placebo": 2}))
    te = X_te.assign(arm=X_te["arm"].map({"oxytocin": "1", "placebo": "2"}), extra="ignored")
    (p,) = fit_predict_baseline("lasso", coded, y_tr, [te], categorical=CATEGORICAL, seed=0)
    (ref,) = fit_predict_baseline(
        "lasso", coded, y_tr, [te.assign(arm=te["arm"].astype(int))], categorical=CATEGORICAL, seed=0
    )
    assert np.allclose(p, ref)  # 1 and "1" are the same category


def test_errors_name_the_problem(data):
    X_tr, y_tr, X_te, _ = data
    with pytest.raises(ConfigError, match="unknown baseline"):
        fit_predict_baseline("svm", X_tr, y_tr, [X_te], categorical=CATEGORICAL, seed=0)
    with pytest.raises(DataError, match="both classes"):
        fit_predict_baseline("lasso", X_tr, np.zeros(len(X_tr), dtype=int), [X_te], categorical=CATEGORICAL, seed=0)
    with pytest.raises(DataError, match="'hb'"):
        fit_predict_baseline("lasso", X_tr, y_tr, [X_te.drop(columns="hb")], categorical=CATEGORICAL, seed=0)
    with pytest.raises(DataError, match="'country'"):
        fit_predict_baseline("lasso", X_tr, y_tr, [X_te], categorical=["arm"], seed=0)
    with pytest.raises(DataError, match="not among the features"):
        fit_predict_baseline("lasso", X_tr, y_tr, [X_te], categorical=["parity"], seed=0)
    with pytest.raises(DataError, match="0/1"):
        fit_predict_baseline("lasso", X_tr, y_tr + 1, [X_te], categorical=CATEGORICAL, seed=0)


def test_lasso_is_l1_with_cross_validated_c(data):
    X_tr, y_tr, _, _ = data
    pipe = build_pipeline("lasso", list(X_tr.columns), CATEGORICAL, seed=0)
    model = pipe.named_steps["model"]
    assert model.scoring == "roc_auc" and model.cv.random_state == 0 and model.cv.shuffle
    assert getattr(model, "penalty", None) == "l1" or tuple(model.l1_ratios) == (1.0,)
    assert "scale" in pipe.named_steps["prepare"].transformers[0][1].named_steps
