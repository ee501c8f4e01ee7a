"""Which bootstrap each statistic gets: stratified for the class-conditional ones, plain for those
that depend on the event rate, checked against a plain bootstrap written here and the GLM."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import expit

from clinpred.core.evaluation.calibration import logit_clipped
from clinpred.core.evaluation.cv_estimate import Fold, cv_summarize
from clinpred.core.evaluation.metrics import summarize
from clinpred.core.evaluation.resampling import cluster_weights, patient_weights, stratified_weights

sm = pytest.importorskip("statsmodels.api")


def _cohort(n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (rng.random(n) < expit(-0.8 + x)).astype(float)
    p = expit(-0.2 + 0.9 * x)  # miscalibrated: risks too high
    return y, p


def _intercept(y: np.ndarray, p: np.ndarray) -> float:
    lp = logit_clipped(p)
    return brentq(lambda a: np.sum(y - expit(a + lp)), -30, 30, xtol=1e-12)


def _plain_bootstrap_sd(y: np.ndarray, p: np.ndarray, statistic, resamples: int = 1000, seed: int = 99) -> float:
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        idx = rng.integers(0, y.size, y.size)
        values.append(statistic(y[idx], p[idx]))
    return float(np.std(values, ddof=1))


def test_designs_and_seeds():
    y = (np.random.default_rng(0).random(120) < 0.3).astype(int)
    strat = stratified_weights(y, 200, 7)
    assert (strat[:, y == 1].sum(axis=1) == y.sum()).all()
    plain = patient_weights(y.size, 200, 7)
    assert (plain.sum(axis=1) == y.size).all()
    events = plain[:, y == 1].sum(axis=1)
    assert events.std() > 2  # the event count varies, as between samples (binomial SD ~ 5)
    assert np.array_equal(plain, patient_weights(y.size, 200, 7)) and not np.array_equal(plain, patient_weights(120, 200, 8))
    assert np.array_equal(cluster_weights(y, None, 200, 7), plain)
    assert np.array_equal(cluster_weights(y, None, 200, 7, stratified=True), strat)


def test_holdout_intercept_and_brier_intervals_match_a_plain_bootstrap_and_the_glm():
    y, p = _cohort(500, 3)
    s = summarize(y, p, 0.5, n_resamples=2000, seed=4)
    width = (s["calibration_intercept"]["ci"][1] - s["calibration_intercept"]["ci"][0]) / 3.92
    glm = sm.GLM(y, np.ones((500, 1)), family=sm.families.Binomial(), offset=logit_clipped(p)).fit()
    assert width == pytest.approx(float(glm.bse[0]), rel=0.15)
    assert width == pytest.approx(_plain_bootstrap_sd(y, p, _intercept), rel=0.15)
    brier = (s["brier"]["ci"][1] - s["brier"]["ci"][0]) / 3.92
    assert brier == pytest.approx(_plain_bootstrap_sd(y, p, lambda a, b: np.mean((b - a) ** 2)), rel=0.15)
    assert "unstratified" in s["calibration_intercept"]["ci_method"] and s["auroc"]["ci_method"] == "stratified bootstrap (percentile)"


def test_a_constant_prediction_gets_an_intercept_interval_of_the_right_width():
    # the majority model: the old stratified bootstrap gave "0.00 [0.00, 0.00]"
    y, _ = _cohort(500, 5)
    p = np.full(500, 0.3)
    s = summarize(y, p, 0.5, n_resamples=2000, seed=1)
    lo, hi = s["calibration_intercept"]["ci"]
    glm = sm.GLM(y, np.ones((500, 1)), family=sm.families.Binomial(), offset=logit_clipped(p)).fit()
    assert lo < s["calibration_intercept"]["value"] < hi
    assert (hi - lo) / 3.92 == pytest.approx(float(glm.bse[0]), rel=0.15)


def test_cv_intercept_interval_matches_the_glm_standard_error():
    # one repeat: the statistic is the intercept of the out-of-fold predictions, whose GLM SE is the reference
    y, p = _cohort(500, 8)
    folds = [Fold(0, np.arange(k, 500, 5), p[k::5], 0.5) for k in range(5)]
    s = cv_summarize(y, folds, n_resamples=2000, seed=2)
    lo, hi = s["calibration_intercept"]["ci"]
    glm = sm.GLM(y, np.ones((500, 1)), family=sm.families.Binomial(), offset=logit_clipped(p)).fit()
    assert (hi - lo) / 3.92 == pytest.approx(float(glm.bse[0]), rel=0.15)
    assert s["calibration_intercept"]["value"] == pytest.approx(float(glm.params[0]), abs=1e-6)
    assert "unstratified" in s["calibration_intercept"]["ci_method"]


def test_separated_resamples_make_the_slope_interval_open_ended():
    """A small hold-out where some plain resamples are separated (counted by brute force here):
    they are the upper tail, so the interval's upper end is infinite."""
    n = 24  # like the infert hold-out: 8 events, three negatives scored among the positives
    y = np.r_[np.ones(8), np.zeros(16)]
    lp = np.r_[np.linspace(0.5, 3.0, 8), np.linspace(-3.0, -0.2, 13), [0.7, 1.3, 2.1]]
    p = expit(lp)
    s = summarize(y, p, 0.5, n_resamples=1000, seed=3)
    w = patient_weights(n, 1000, 3)
    separated = 0
    for row in w:
        pos, neg = lp[(row > 0) & (y == 1)], lp[(row > 0) & (y == 0)]
        separated += bool(pos.size and neg.size and (neg.max() <= pos.min()))
    slope = s["calibration_slope"]
    assert slope["separated_resamples"] == separated > 25  # more than 2.5%: the upper end is infinite
    assert slope["ci"][1] is None and slope["ci_unbounded"] == "upper" and slope["ci"][0] is not None
    assert np.isfinite(slope["value"])
