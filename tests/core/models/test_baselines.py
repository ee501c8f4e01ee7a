"""The built-in classical baselines (clinpred.core.models.baselines), as model adapters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clinpred.core.errors import DataError, UnknownModelError
from clinpred.core.models.baselines import BASELINES as ADAPTERS

CATEGORICAL = ["country", "arm"]
BY_NAME = {a.name: a for a in ADAPTERS}
BASELINES = list(BY_NAME)
SMART = [a.name for a in ADAPTERS if a.informative]


def fit_predict_baseline(name, X_train, y_train, X_eval, *, categorical, seed, class_weight=None):
    """P(yes) of each eval frame from baseline ``name`` fitted on the training frame."""
    from clinpred.registry.registry import load_registry

    adapter = load_registry().model_adapter(name)
    return adapter.fit_predict(X_train, y_train, X_eval, categorical, seed=seed, class_weight=class_weight)


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
    with pytest.raises(UnknownModelError, match="unknown model 'svm'"):
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
    pipe = BY_NAME["lasso"].fit(X_tr, y_tr, CATEGORICAL, seed=0)
    model = pipe.named_steps["model"]
    assert type(model).__name__ == "LassoPathCV" and model.seed == 0 and len(model.Cs) == 20
    assert model.C_ in model.Cs and model.scores_.shape == (20, 5)
    inner = model.model_
    assert inner.solver == "liblinear" and (getattr(inner, "penalty", None) == "l1" or inner.l1_ratio == 1.0)
    assert "scale" in pipe.named_steps["prepare"].transformers[0][1].named_steps


def test_logistic_is_the_unpenalised_maximum_likelihood_fit(data):
    """Against statsmodels' GLM (an independent fit): the same probabilities on new patients."""
    import statsmodels.api as sm

    X_tr, y_tr, X_te, _ = data
    numeric = ["age", "hb", "noise"]
    X, Xt = X_tr[numeric].fillna(X_tr[numeric].median()), X_te[numeric].fillna(X_tr[numeric].median())
    pipe = BY_NAME["logistic"].fit(X, y_tr, [], seed=0)
    assert pipe.named_steps["model"].penalty_ == "none"
    (p,) = BY_NAME["logistic"].fit_predict(X, y_tr, [Xt], [], seed=0)
    glm = sm.GLM(y_tr, sm.add_constant(X.to_numpy()), family=sm.families.Binomial()).fit()
    assert p == pytest.approx(glm.predict(sm.add_constant(Xt.to_numpy())), abs=1e-5)


def test_logistic_on_separated_data_takes_a_negligible_penalty_and_says_so():
    X = pd.DataFrame({"x": np.r_[np.linspace(-3, -0.1, 30), np.linspace(0.1, 3, 30)]})
    y = np.r_[np.zeros(30), np.ones(30)].astype(int)  # complete separation at x = 0
    pipe = BY_NAME["logistic"].fit(X, y, [], seed=0)
    assert pipe.named_steps["model"].penalty_.startswith("l2, C=10000")
    p = pipe.predict_proba(X)[:, 1]
    assert np.all(np.isfinite(p)) and np.all((p[y == 1] > 0.5)) and np.all(p[y == 0] < 0.5)


def test_a_saved_pipeline_loads_with_the_same_probabilities_and_refuses_foreign_types(data, tmp_path):
    from clinpred.core.errors import RunError
    from clinpred.core.models.tabular import load_pipeline, predict_yes, save_pipeline

    X_tr, y_tr, X_te, _ = data
    lasso = BY_NAME["lasso"]
    pipe = lasso.fit(X_tr, y_tr, CATEGORICAL, seed=0, balance="oversample")  # the inner-oversampling LASSO
    save_pipeline(pipe, tmp_path / "model.skops")
    back = load_pipeline(tmp_path / "model.skops", lasso.trusted_modules)
    assert np.array_equal(predict_yes(back, X_te, CATEGORICAL), predict_yes(pipe, X_te, CATEGORICAL))
    with pytest.raises(RunError, match="does not trust"):
        load_pipeline(tmp_path / "model.skops", ("sklearn.", "numpy."))  # its LASSO is clinpred's class
    (tmp_path / "bad.skops").write_bytes(b"not a zip file")
    with pytest.raises(RunError, match="not a readable skops file"):
        load_pipeline(tmp_path / "bad.skops", lasso.trusted_modules)
