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


def test_slope_is_nan_only_where_it_does_not_exist():
    y = np.array([0, 0, 1, 1, 0, 1], dtype=float)
    w = np.ones((1, 6))
    assert np.isnan(calibration_slope(y, np.full(6, 0.3), w)[0])  # constant scores
    assert np.isnan(calibration_slope(y, np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7]), w)[0])  # separation
    assert np.isfinite(calibration_slope(y, np.array([0.1, 0.6, 0.8, 0.4, 0.3, 0.7]), w)[0])
