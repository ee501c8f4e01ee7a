"""LASSO along glmnet's path (core/models/lasso_path.py), against independent references:
statsmodels' L1 logistic fit and GLM, scikit-learn's AUROC and its saga LogisticRegressionCV."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from clinpred.core.models.lasso_path import LassoPathCV, auroc, deviance_ratio, unpenalised_intercept


def _problem(n: int = 300, seed: int = 0, shift: float = -0.7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    lp = 0.8 * X[:, 0] - 0.5 * X[:, 1] + 0.2 * X[:, 2] + shift
    return X, (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)


def test_the_fit_at_one_penalty_is_statsmodels_l1_logistic_regression():
    """sklearn's C is statsmodels' alpha = 1 / C on every coefficient, none on the intercept."""
    import statsmodels.api as sm

    X, y = _problem()
    for C in (0.02, 0.05, 0.5):
        est = LassoPathCV(Cs=(C,), n_splits=3, tol=1e-10, max_iter=100_000).fit(X, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = sm.Logit(y, sm.add_constant(X)).fit_regularized(
                method="l1", alpha=np.r_[0.0, np.full(5, 1 / C)], disp=0, acc=1e-12, maxiter=10_000).params
        assert est.intercept_[0] == pytest.approx(ref[0], abs=2e-3)
        assert est.coef_.ravel() == pytest.approx(ref[1:], abs=2e-3)
        assert np.array_equal(est.coef_.ravel() == 0, np.abs(ref[1:]) < 1e-6)  # the same variables selected


def test_unpenalised_intercept_is_the_glm_intercept_with_an_offset():
    import statsmodels.api as sm

    X, y = _problem(seed=1)
    offset = X @ np.array([0.5, -0.2, 0.0, 0.1, 0.0])
    weights = np.where(y == 1, 2.0, 0.5)
    glm = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Binomial(), offset=offset, freq_weights=weights).fit()
    assert unpenalised_intercept(offset, y, weights, start=3.0) == pytest.approx(glm.params[0], abs=1e-8)


def test_deviance_ratio_and_auroc_match_statsmodels_and_sklearn():
    import statsmodels.api as sm
    from sklearn.metrics import roc_auc_score

    X, y = _problem(seed=2)
    glm = sm.GLM(y, sm.add_constant(X[:, :2]), family=sm.families.Binomial()).fit()
    margin = sm.add_constant(X[:, :2]) @ glm.params
    assert deviance_ratio(y, margin, np.ones(y.size)) == pytest.approx(1 - glm.deviance / glm.null_deviance, abs=1e-10)
    score = np.round(X[:, 0], 1)  # ties count one half
    assert auroc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)


def test_the_chosen_penalty_and_its_auroc_agree_with_sagas_logistic_regression_cv():
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    X, y = _problem(n=400, seed=3)
    Cs = np.logspace(-3, 3, 20)
    ours = LassoPathCV(Cs=tuple(Cs), n_splits=5, seed=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        saga = LogisticRegressionCV(Cs=Cs, cv=StratifiedKFold(5, shuffle=True, random_state=0), scoring="roc_auc",
                                    solver="saga", l1_ratios=(1.0,), max_iter=5000, tol=1e-6, random_state=0,
                                    use_legacy_attributes=False).fit(X, y)
    reference = saga.scores_.mean(axis=0).ravel() if saga.scores_.ndim == 2 else np.mean(saga.scores_, axis=0).ravel()
    fitted = min(ours.path_lengths_)
    assert ours.scores_.mean(axis=1)[:fitted] == pytest.approx(reference[:fitted], abs=2e-3)
    assert ours.C_ == pytest.approx(float(np.ravel(saga.C_)[0]))


def test_the_path_stops_where_glmnet_stops_on_separable_data():
    """Separated classes: the fit explains > 99.9% of the deviance long before C = 1000, and the
    fold's remaining penalties take its last AUROC instead of thousands of solver iterations."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    X[:, 0] += np.where(y == 1, 1.0, -1.0)  # a margin between the classes
    est = LassoPathCV(n_splits=4, seed=0).fit(X, y)
    assert max(est.path_lengths_) < len(est.Cs)
    for f, n in enumerate(est.path_lengths_):
        assert np.all(est.scores_[n:, f] == est.scores_[n - 1, f])
    assert auroc(y, est.predict_proba(X)[:, 1]) > 0.99


def test_inner_validation_folds_hold_no_copy_of_a_training_patient(monkeypatch):
    from clinpred.core.models import inner_resampling

    X, y = _problem(n=120, seed=5, shift=-1.5)
    seen = []
    original = inner_resampling.oversample_rows

    def spy(labels, rows, generator):
        out = original(labels, rows, generator)
        seen.append((set(rows.tolist()), out))
        return out

    monkeypatch.setattr(inner_resampling, "oversample_rows", spy)
    est = LassoPathCV(Cs=(0.01, 1.0), n_splits=3, seed=0, oversample=True).fit(X, y)
    assert len(seen) == 4
    for rows, out in seen[:-1]:
        assert set(out.tolist()) == rows and len(rows) < 120  # copies of inner-training patients only
        assert np.bincount(y[out]).tolist()[0] == np.bincount(y[out]).tolist()[1]
    assert set(seen[-1][1].tolist()) == set(range(120))  # the refit oversamples the whole training part
    assert est.C_ in (0.01, 1.0)


def test_the_refit_intercept_reproduces_the_training_event_rate():
    X, y = _problem(seed=6)
    for class_weight, rate in ((None, y.mean()), ("balanced", 0.5)):
        est = LassoPathCV(Cs=(0.01, 0.1), n_splits=3, class_weight=class_weight).fit(X, y)
        p = est.predict_proba(X)[:, 1]
        weights = np.ones(y.size) if class_weight is None else y.size / (2.0 * np.bincount(y)[y])
        assert np.sum(weights * p) / np.sum(weights) == pytest.approx(rate, abs=1e-8)
