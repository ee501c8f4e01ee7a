"""The logistic recalibration fit against statsmodels' GLM (an independent implementation)."""

from __future__ import annotations

import numpy as np
import pytest

from clinpred.core.evaluation.calibration import calibration_intercept, calibration_slope, logit_clipped

sm = pytest.importorskip("statsmodels.api")


def _glm_slope(y: np.ndarray, p: np.ndarray, freq: np.ndarray | None = None) -> float:
    x = sm.add_constant(logit_clipped(p))
    fit = sm.GLM(y, x, family=sm.families.Binomial(), freq_weights=freq).fit(tol=1e-12, maxiter=200)
    return float(fit.params[1])


@pytest.mark.parametrize("true_slope", [0.04, 0.1, 0.16, 0.5, 1.0, 2.5])
def test_slope_equals_statsmodels_for_badly_calibrated_models(true_slope):
    # models far too extreme (true slope 0.04-0.16): the old start at b = 1 never converged here
    rng = np.random.default_rng(int(true_slope * 100))
    lp = rng.normal(0.0, 4.0, 300)
    y = (rng.random(300) < 1.0 / (1.0 + np.exp(-(true_slope * lp - 1.0)))).astype(float)
    p = 1.0 / (1.0 + np.exp(-lp))
    ours = calibration_slope(y, p, np.ones((1, 300)))[0]
    assert np.isfinite(ours)
    assert ours == pytest.approx(_glm_slope(y, p), abs=1e-6)


def test_batched_bootstrap_rows_equal_statsmodels_with_frequency_weights():
    rng = np.random.default_rng(7)
    lp = rng.normal(0.0, 3.0, 120)
    y = (rng.random(120) < 1.0 / (1.0 + np.exp(-0.1 * lp))).astype(float)
    p = 1.0 / (1.0 + np.exp(-lp))
    w = rng.multinomial(120, np.full(120, 1 / 120), size=25).astype(float)
    ours = calibration_slope(y, p, w)
    for row, value in zip(w, ours):
        keep = row > 0
        assert value == pytest.approx(_glm_slope(y[keep], p[keep], row[keep]), abs=1e-6)


def test_intercept_equals_statsmodels_offset_model():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, 200)
    y = (rng.random(200) < np.clip(p - 0.2, 0.01, 1)).astype(float)
    fit = sm.GLM(y, np.ones((200, 1)), family=sm.families.Binomial(), offset=logit_clipped(p)).fit(tol=1e-12)
    assert calibration_intercept(y, p, np.ones((1, 200)))[0] == pytest.approx(float(fit.params[0]), abs=1e-6)


def test_slope_is_nan_only_where_it_does_not_exist_and_infinite_under_separation():
    y = np.array([0, 0, 1, 1, 0, 1], dtype=float)
    w = np.ones((1, 6))
    assert np.isnan(calibration_slope(y, np.full(6, 0.3), w)[0])  # constant scores: not identifiable
    assert calibration_slope(y, np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7]), w)[0] == np.inf  # separation
    assert calibration_slope(y, np.array([0.1, 0.2, 0.8, 0.9, 0.7, 0.7]), w)[0] == np.inf  # quasi-complete
    assert calibration_slope(y, np.array([0.9, 0.8, 0.2, 0.1, 0.7, 0.3]), w)[0] == -np.inf  # reversed
    assert np.isnan(calibration_slope(np.ones(6), np.array([0.1, 0.6, 0.8, 0.4, 0.3, 0.7]), w)[0])  # one class
    assert np.isfinite(calibration_slope(y, np.array([0.1, 0.6, 0.8, 0.4, 0.3, 0.7]), w)[0])


def test_a_separated_fit_diverges_in_statsmodels_too():
    # the reference agrees that the MLE is not finite: its slope grows without bound
    y = np.array([0, 0, 1, 1, 0, 1], dtype=float)
    p = np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slopes = [abs(_glm_slope_iters(y, p, k)) for k in (5, 25)]
    assert slopes[1] > 2 * slopes[0] > 0


def _glm_slope_iters(y: np.ndarray, p: np.ndarray, iters: int) -> float:
    x = sm.add_constant(logit_clipped(p))
    fit = sm.GLM(y, x, family=sm.families.Binomial()).fit(maxiter=iters, tol=0)
    return float(fit.params[1])


def _glm_intercept(y: np.ndarray, p: np.ndarray, freq: np.ndarray | None = None) -> float:
    fit = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Binomial(), offset=logit_clipped(p),
                 freq_weights=freq).fit(tol=1e-13, maxiter=500)
    return float(fit.params[0])


def _issue_cases() -> dict[str, np.ndarray]:
    """The cases where the old intercept fit returned null (200 patients, 30% events): a collapsed
    or shifted model, true intercepts from 2.1 to -5.5, and a huge shift."""
    rng = np.random.default_rng(24)
    return {"constant 0.05": np.full(200, 0.05), "constant 0.9": np.full(200, 0.9), "constant 0.99": np.full(200, 0.99),
            "label-independent 0.9-0.99": rng.uniform(0.9, 0.99, 200),
            "shifted by -12 on the logit scale": 1.0 / (1.0 + np.exp(-(rng.normal(0.0, 1.0, 200) + 12.0))),
            "shifted by +11": 1.0 / (1.0 + np.exp(-(rng.normal(0.0, 1.0, 200) - 11.0)))}


@pytest.mark.parametrize("case", list(_issue_cases()))
def test_intercept_equals_statsmodels_far_from_zero(case):
    y = np.zeros(200)
    y[np.random.default_rng(1).choice(200, 60, replace=False)] = 1.0
    p = _issue_cases()[case]
    ours = calibration_intercept(y, p, np.ones((1, 200)))[0]
    assert np.isfinite(ours)
    assert ours == pytest.approx(_glm_intercept(y, p), abs=1e-6)


def test_intercept_of_bootstrap_rows_equals_statsmodels_with_frequency_weights():
    rng = np.random.default_rng(5)
    y = (rng.random(150) < 0.3).astype(float)
    p = rng.uniform(0.9, 0.99, 150)  # a collapsed "Yes" model: intercepts near -3.9
    w = rng.multinomial(150, np.full(150, 1 / 150), size=20).astype(float)
    ours = calibration_intercept(y, p, w)
    for row, value in zip(w, ours):
        keep = row > 0
        assert value == pytest.approx(_glm_intercept(y[keep], p[keep], row[keep]), abs=1e-6)


def test_intercept_is_nan_only_with_one_class():
    p = np.linspace(0.1, 0.9, 6)
    w = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1], [1, 0, 0, 0, 0, 1]], dtype=float)
    y = np.array([0, 0, 0, 1, 1, 1], dtype=float)
    out = calibration_intercept(y, p, w)
    assert np.isnan(out[0]) and np.isnan(out[1]) and np.isfinite(out[2])
