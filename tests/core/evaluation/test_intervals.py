"""Intervals at the edges: infinite resamples in the tail, exact intervals at a boundary."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clinpred.core.evaluation.intervals import (
    auroc_boundary_interval,
    clopper_pearson,
    format_interval,
    interval_entry,
    percentile_interval,
    wilson_interval,
)
from clinpred.core.evaluation.metrics import summarize


def test_percentile_interval_equals_numpy_type7_on_finite_values():
    v = np.random.default_rng(0).normal(size=999)
    lo, hi, undefined = percentile_interval(v)
    assert (lo, hi) == pytest.approx(tuple(np.quantile(v, [0.025, 0.975], method="linear")), abs=1e-15)
    assert undefined == 0


def test_infinite_resamples_are_the_tail_not_missing():
    rng = np.random.default_rng(1)
    finite = rng.normal(1.0, 0.3, 970)
    v = np.r_[finite, np.full(30, np.inf)]  # 3% separated resamples at +inf
    lo, hi, undefined = percentile_interval(v)
    assert hi == math.inf and undefined == 0
    # the lower end is the 2.5% quantile of all 1000 values, the infinite ones included
    assert lo == pytest.approx(np.quantile(np.r_[finite, np.full(30, 1e300)], 0.025), abs=1e-12)
    v = np.r_[finite[:980], np.full(20, np.inf)]  # 2%: the 97.5% quantile is still finite
    lo, hi, _ = percentile_interval(v)
    assert math.isfinite(hi) and hi == pytest.approx(np.quantile(np.r_[finite[:980], np.full(20, 1e300)], 0.975))
    v = np.r_[np.full(40, -np.inf), finite[:960]]
    assert percentile_interval(v)[0] == -math.inf


def test_nan_is_undefined_and_counted():
    v = np.r_[np.linspace(0, 1, 960), np.full(40, np.nan), np.full(10, np.inf)]
    lo, hi, undefined = percentile_interval(v)
    assert undefined == 40 and math.isfinite(lo)


@pytest.mark.parametrize("x, n", [(0, 12), (12, 12), (3, 20), (57, 57)])
def test_clopper_pearson_equals_scipy(x, n):
    from scipy.stats import binomtest

    ref = binomtest(x, n).proportion_ci(confidence_level=0.95, method="exact")
    assert clopper_pearson(x, n) == pytest.approx((ref.low, ref.high), abs=1e-10)


@pytest.mark.parametrize("x, n", [(0, 20), (19, 20), (520, 562), (600, 600)])
def test_wilson_equals_statsmodels(x, n):
    from statsmodels.stats.proportion import proportion_confint

    assert wilson_interval(x, n) == pytest.approx(proportion_confint(x, n, method="wilson"), abs=1e-10)


def test_auroc_boundary_bound_is_valid_by_simulation():
    """Where the true AUROC lies below the bound, an observed AUROC of 1 (which puts the bound
    above the truth) must happen in at most 2.5% of samples (binormal scores, 8 + 8 patients)."""
    from scipy.stats import norm

    k = 8
    lo, hi = auroc_boundary_interval(1.0, k)
    assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / k))
    truth = lo - 0.005
    shift = math.sqrt(2.0) * norm.ppf(truth)  # AUROC of N(shift, 1) vs N(0, 1)
    rng = np.random.default_rng(3)
    pos = rng.normal(shift, 1.0, (200_000, k))
    neg = rng.normal(0.0, 1.0, (200_000, k))
    separated = pos.min(axis=1) > neg.max(axis=1)
    assert separated.mean() <= 0.025
    assert auroc_boundary_interval(0.0, k) == pytest.approx((0.0, 1.0 - lo))


def test_holdout_boundary_estimates_do_not_claim_certainty():
    # a perfectly separating model on 57 patients (21 events), threshold 0.5
    from scipy.stats import binomtest

    y = np.r_[np.ones(21), np.zeros(36)]
    p = np.r_[np.linspace(0.6, 0.99, 21), np.linspace(0.01, 0.45, 36)]
    s = summarize(y, p, 0.5, n_resamples=300, seed=0)
    spec = s["specificity"]
    assert spec["value"] == 1.0 and spec["ci"][1] == 1.0
    assert spec["ci"][0] == pytest.approx(binomtest(36, 36).proportion_ci(method="exact").low, abs=1e-10)
    assert "Clopper-Pearson" in spec["ci_method"]
    auc = s["auroc"]
    assert auc["value"] == 1.0 and auc["ci"] == [pytest.approx(0.025 ** (1 / 21)), 1.0]
    assert "21 disjoint positive-negative pairs" in auc["ci_method"]
    # statistics that are no proportion and sit at the boundary get no interval
    assert s["f1"]["value"] == 1.0 and s["f1"]["ci"] == [None, None] and "not estimable" in s["f1"]["ci_method"]
    # the slope is infinite (separation): no number, said so
    slope = s["calibration_slope"]
    assert slope["value"] is None and slope["value_infinite"] == "+inf" and slope["separated_resamples"] == 300
    assert format_interval(slope) == "inf" and slope["ci"] == [None, None] and "separate" in slope["ci_method"]
    # and what is not at a boundary keeps its percentile interval
    assert s["brier"]["ci_method"].startswith("patient bootstrap")


def test_open_ended_interval_entries_and_text():
    e = interval_entry(2.31, 0.643, math.inf, "m", 0)
    assert e["ci"] == [0.643, None] and e["ci_unbounded"] == "upper" and "value_infinite" not in e
    assert format_interval(e, 2) == "2.31 [0.64, inf)"
    e = interval_entry(math.inf, 1.2, math.inf, "m", 3)
    assert e["value"] is None and e["value_infinite"] == "+inf" and format_interval(e, 2) == "inf [1.20, inf)"
    assert format_interval(interval_entry(-1.0, -math.inf, math.inf, "m", 0), 1) == "-1.0 (-inf, inf)"
    assert format_interval(interval_entry(0.7, 0.6, 0.8, "m", 0)) == "0.700 [0.600, 0.800]"
    assert format_interval(interval_entry(0.7, math.nan, math.nan, "m", 90)) == "0.700"
    assert format_interval(interval_entry(math.nan, math.nan, math.nan, "m", 0)) == "-"
    assert format_interval({"value": math.nan, "ci": None}) == "-" and format_interval(None) == "-"
    assert format_interval({"value": 0.0, "ci": [0.0, 0.1]}, 1) == "0.0 [0.0, 0.1]"
