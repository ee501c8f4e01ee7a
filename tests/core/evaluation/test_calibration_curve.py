"""Smooth calibration (spline) against statsmodels and against a miscalibration of known size."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from clinpred.core.evaluation.calibration import logit_clipped
from clinpred.core.evaluation.calibration_curve import fit_logistic, knots_for, rcs_basis, smooth_calibration

sm = pytest.importorskip("statsmodels.api")


def test_spline_fit_equals_statsmodels_glm():
    rng = np.random.default_rng(0)
    lp = rng.normal(0, 1.5, 800)
    y = (rng.random(800) < expit(0.3 + 0.7 * lp)).astype(float)
    X = rcs_basis(lp, knots_for(lp))
    w = rng.integers(1, 4, 800).astype(float)
    ours = fit_logistic(X, y, w)
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Binomial(), freq_weights=w).fit(tol=1e-12).params
    assert ours == pytest.approx(np.asarray(ref), abs=1e-6)


def test_ici_of_a_known_miscalibration():
    # predictions twice as extreme on the logit scale as the truth: ICI = E|expit(lp) - expit(2 lp)|
    rng = np.random.default_rng(1)
    lp = rng.normal(-0.5, 1.0, 20_000)
    y = (rng.random(lp.size) < expit(lp)).astype(float)
    p = expit(2 * lp)
    res = smooth_calibration(y, p, np.vstack([np.ones(lp.size), rng.multinomial(lp.size, np.full(lp.size, 1 / lp.size), 20)]))
    err = np.abs(expit(lp) - p)
    assert res["ici"]["value"] == pytest.approx(err.mean(), abs=0.006)
    assert res["e50"]["value"] == pytest.approx(np.median(err), abs=0.01)
    assert res["e90"]["value"] == pytest.approx(np.quantile(err, 0.9), abs=0.015)
    lo, hi = res["ici"]["ci"]
    assert lo <= res["ici"]["value"] <= hi
    curve = res["curve"]
    assert len(curve["p"]) == len(curve["observed"]) == len(curve["lo"]) == 50
    truth = expit(logit_clipped(np.asarray(curve["p"])) / 2)
    assert np.max(np.abs(np.asarray(curve["observed"]) - truth)) < 0.04


def test_well_calibrated_model_has_small_ici_and_constant_model_none():
    rng = np.random.default_rng(2)
    p = rng.uniform(0.05, 0.9, 5000)
    y = (rng.random(p.size) < p).astype(float)
    res = smooth_calibration(y, p, np.ones((1, p.size)))
    assert res["ici"]["value"] < 0.02
    assert res["ici"]["ci"] == [None, None] and res["ici"]["undefined_resamples"] == 0
    assert smooth_calibration(y, np.full(p.size, 0.3), np.ones((1, p.size))) is None


def test_e50_e90_are_type7_quantiles_of_the_errors_of_an_independent_fit():
    """R's quantile() default (type 7, numpy's "linear") of |observed - predicted| from the same
    spline fitted by statsmodels; on a small sample where type 1 and type 7 differ."""
    rng = np.random.default_rng(7)
    lp = rng.normal(-0.3, 1.2, 37)
    y = (rng.random(37) < expit(0.4 * lp)).astype(float)
    p = expit(lp)
    X = rcs_basis(logit_clipped(p), knots_for(logit_clipped(p)))
    fit = sm.GLM(y, sm.add_constant(X), family=sm.families.Binomial()).fit(tol=1e-12)
    err = np.abs(fit.predict(sm.add_constant(X)) - p)
    res = smooth_calibration(y, p, np.ones((1, 37)))
    assert res["e50"]["value"] == pytest.approx(np.quantile(err, 0.5, method="linear"), abs=1e-6)
    assert res["e90"]["value"] == pytest.approx(np.quantile(err, 0.9, method="linear"), abs=1e-6)
    assert abs(np.quantile(err, 0.9, method="inverted_cdf") - np.quantile(err, 0.9)) > 1e-4  # type 1 would differ
    assert "type-7" in res["method"]


def test_weighted_type7_quantile_equals_the_expanded_sample():
    from clinpred.core.evaluation.calibration_curve import weighted_quantile7

    rng = np.random.default_rng(8)
    for _ in range(50):
        v = rng.random(15)
        c = rng.integers(1, 4, 15).astype(float)
        expanded = np.repeat(v, c.astype(int))
        assert weighted_quantile7(v, c, (0.5, 0.9)) == pytest.approx(list(np.quantile(expanded, [0.5, 0.9])), abs=1e-12)


def test_scores_with_two_values_still_get_ici_e50_e90():
    """Two distinct scores: the recalibration line reproduces each score's event rate, so the errors
    are |event rate of the group - score| (counted here by hand)."""
    rng = np.random.default_rng(9)
    y = (rng.random(300) < 0.3).astype(float)
    p = np.where(rng.random(300) < 0.4, 0.15, 0.55)
    res = smooth_calibration(y, p, np.ones((1, 300)))
    err = np.array([abs(y[p == v].mean() - v) for v in p])
    assert res["ici"]["value"] == pytest.approx(err.mean(), abs=1e-6)
    assert res["e90"]["value"] == pytest.approx(np.quantile(err, 0.9), abs=1e-6)
    three = np.where(rng.random(300) < 0.3, 0.1, np.where(rng.random(300) < 0.5, 0.3, 0.6))
    assert smooth_calibration(y, three, np.ones((1, 300))) is not None
