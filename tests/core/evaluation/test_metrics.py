"""Metrics, bootstrap intervals, calibration and threshold choice (clinpred.core.evaluation.metrics)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinpred.core.evaluation.calibration import calibration_intercept, calibration_slope, logit_clipped
from clinpred.core.errors import ConfigError, DataError
from clinpred.core.evaluation.metrics import (
    COUNT_METRICS,
    INTERVAL_METRICS,
    binary_metrics,
    bootstrap_ci,
    bootstrap_weights,
    choose_threshold,
    confusion_metrics,
    select_threshold,
    summarize,
)


def _simulated(n: int, seed: int, *, shift: float = 1.0, decimals: int | None = 2):
    """Labels and probabilities of a moderately good model (rounded scores give ties)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.6).astype(int)
    x = rng.normal(size=n) + shift * y
    p = 1.0 / (1.0 + np.exp(-(x - 0.3)))
    if decimals is not None:
        p = np.round(p, decimals)
    return y, p


def _labels_probs_from_matrix(tp: int, fp: int, tn: int, fn: int):
    """Patients realising a confusion matrix at threshold 0.5."""
    y = np.array([1] * tp + [0] * fp + [0] * tn + [1] * fn)
    p = np.array([0.9] * tp + [0.8] * fp + [0.2] * tn + [0.1] * fn)
    return y, p


# --- the original study's numbers (REFERENCES.md section 1) -------------------------------


def test_original_study_confusion_matrix():
    m = confusion_metrics(tp=30, fp=19, tn=4, fn=6)
    assert round(m["accuracy"], 3) == 0.576
    assert round(m["f1"], 3) == 0.706
    assert round(m["recall"], 3) == 0.833
    assert round(m["specificity"], 3) == 0.174
    assert round(m["balanced_accuracy"], 3) == 0.504
    assert m["mcc"] == pytest.approx(6 / math.sqrt(49 * 36 * 23 * 10))  # 0.00942
    assert round(m["mcc"], 3) == 0.009
    assert m["precision"] == pytest.approx(30 / 49)
    assert m["balance_gap"] == pytest.approx(30 / 36 - 4 / 23)
    assert m["predicted_positive_rate"] == pytest.approx(49 / 59)


def test_always_yes_on_the_original_test_set():
    m = confusion_metrics(tp=36, fp=23, tn=0, fn=0)
    assert round(m["accuracy"], 3) == 0.610
    assert round(m["f1"], 3) == 0.758
    assert (m["recall"], m["specificity"], m["balance_gap"], m["mcc"]) == (1.0, 0.0, 1.0, 0.0)
    # the same classifier as probabilities: one ROC point, no discrimination
    y = np.array([1] * 36 + [0] * 23)
    full = binary_metrics(y, np.full(59, 0.9), threshold=0.5)
    assert round(full["accuracy"], 3) == 0.610 and round(full["f1"], 3) == 0.758
    assert full["auroc"] == 0.5
    assert math.isnan(full["calibration_slope"])  # constant predictions: slope not identifiable
    assert full["calibration_intercept"] == pytest.approx(math.log(36 / 23) - math.log(9.0))


def test_binary_metrics_realises_the_study_matrix():
    y, p = _labels_probs_from_matrix(30, 19, 4, 6)
    m = binary_metrics(y, p, 0.5)
    assert (m["tp"], m["fp"], m["tn"], m["fn"], m["n"], m["events"]) == (30, 19, 4, 6, 59, 36)
    for name, value in confusion_metrics(30, 19, 4, 6).items():
        assert m[name] == pytest.approx(value)
    assert m["brier"] == pytest.approx((30 * 0.01 + 19 * 0.64 + 4 * 0.04 + 6 * 0.81) / 59)


def test_zero_division_is_zero():
    m = confusion_metrics(tp=0, fp=0, tn=5, fn=3)  # never predicts positive
    assert (m["precision"], m["recall"], m["f1"], m["mcc"]) == (0.0, 0.0, 0.0, 0.0)
    assert m["specificity"] == 1.0
    empty = confusion_metrics(0, 0, 0, 0)
    assert all(v == 0.0 for v in empty.values())
    with pytest.raises(DataError):
        confusion_metrics(-1, 0, 0, 0)


# --- agreement with scikit-learn ----------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_point_estimates_match_sklearn(seed):
    from sklearn import metrics as skm

    y, p = _simulated(400, seed)
    t = 0.55
    m = binary_metrics(y, p, t)
    pred = (p >= t).astype(int)
    assert m["auroc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert m["auprc"] == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p), abs=1e-12)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert m["specificity"] == pytest.approx(skm.recall_score(y, pred, pos_label=0))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))


def test_per_patient_thresholds_pool_folds():
    y, p = _simulated(200, 3)
    t = np.where(np.arange(200) < 100, 0.4, 0.7)
    pooled = binary_metrics(y, p, t)
    a = binary_metrics(y[:100], p[:100], 0.4)
    b = binary_metrics(y[100:], p[100:], 0.7)
    for cell in ("tp", "fp", "tn", "fn"):
        assert pooled[cell] == a[cell] + b[cell]
    with pytest.raises(DataError, match="threshold"):
        binary_metrics(y, p, t[:10])


def test_one_class_gives_undefined_auroc_as_null():
    y = np.ones(20, dtype=int)
    p = np.linspace(0.1, 0.9, 20)
    m = binary_metrics(y, p, 0.5)
    assert math.isnan(m["auroc"]) and math.isnan(m["calibration_slope"])
    assert m["specificity"] == 0.0  # no negative: zero division -> 0.0
    s = summarize(y, p, 0.5, n_resamples=50, seed=0)
    assert s["auroc"]["value"] is None and s["auroc"]["ci"] == [None, None]
    assert s["auroc"]["undefined_resamples"] == 50
    json.dumps(s, allow_nan=False)


@pytest.mark.parametrize(
    "labels, probs, match",
    [
        ([0, 1, 2], [0.1, 0.2, 0.3], "0/1"),
        ([0, 1], [0.1, 1.2], r"\[0, 1\]"),
        ([0, 1], [0.1, float("nan")], "finite"),
        ([0, 1, 1], [0.1, 0.2], "equal length"),
        ([], [], "no patients"),
    ],
)
def test_bad_inputs_raise_data_error(labels, probs, match):
    with pytest.raises(DataError, match=match):
        binary_metrics(labels, probs, 0.5)


# --- bootstrap ----------------------------------------------------------------------------


def test_bootstrap_is_stratified_and_seeded():
    y, _ = _simulated(120, 4)
    w = bootstrap_weights(y, 200, seed=7)
    assert w.shape == (200, 120)
    assert (w[:, y == 1].sum(axis=1) == y.sum()).all()
    assert (w[:, y == 0].sum(axis=1) == (1 - y).sum()).all()
    assert np.array_equal(w, bootstrap_weights(y, 200, seed=7))
    assert not np.array_equal(w, bootstrap_weights(y, 200, seed=8))


def test_bootstrap_ci_deterministic_and_contains_point_estimate():
    y, p = _simulated(577, 5)
    point = binary_metrics(y, p, 0.5)
    a = bootstrap_ci(y, p, 0.5, n_resamples=1000, seed=11)
    assert a == bootstrap_ci(y, p, 0.5, n_resamples=1000, seed=11)
    assert a != bootstrap_ci(y, p, 0.5, n_resamples=1000, seed=12)
    assert set(a) == set(INTERVAL_METRICS)
    for name, (lo, hi) in a.items():
        assert lo <= point[name] <= hi, name
        assert lo < hi, name
    # a 95% AUROC interval on 577 patients is a few hundredths wide, not degenerate
    assert 0.03 < a["auroc"][1] - a["auroc"][0] < 0.15
    narrow = bootstrap_ci(y, p, 0.5, n_resamples=1000, seed=11, alpha=0.5)
    assert narrow["auroc"][1] - narrow["auroc"][0] < a["auroc"][1] - a["auroc"][0]


def test_vectorised_bootstrap_equals_metrics_of_each_resample():
    """Each weight row gives the same numbers as the metrics of the explicitly resampled data."""
    from sklearn import metrics as skm

    from clinpred.core.evaluation.metrics import _all_metrics

    y, p = _simulated(150, 6)
    w = bootstrap_weights(y, 5, seed=3)
    pred = p >= 0.5
    batch = _all_metrics(y.astype(float), p, pred, w)
    for b in range(5):
        idx = np.repeat(np.arange(y.size), w[b].astype(int))
        single = binary_metrics(y[idx], p[idx], 0.5)
        for name in INTERVAL_METRICS:
            assert batch[name][b] == pytest.approx(single[name], rel=1e-9, abs=1e-12), name
        assert batch["auroc"][b] == pytest.approx(skm.roc_auc_score(y[idx], p[idx]), abs=1e-12)
        assert batch["auprc"][b] == pytest.approx(skm.average_precision_score(y[idx], p[idx]), abs=1e-12)


def test_chunked_bootstrap_equals_one_batch(monkeypatch):
    import clinpred.core.evaluation.metrics as metrics

    y, p = _simulated(200, 10)
    whole = bootstrap_ci(y, p, 0.5, n_resamples=300, seed=2)
    monkeypatch.setattr(metrics, "_CHUNK_CELLS", 7 * 200)  # 7 resamples per chunk, ragged tail
    chunked = bootstrap_ci(y, p, 0.5, n_resamples=300, seed=2)
    for name in INTERVAL_METRICS:  # equal up to BLAS rounding of differently shaped products
        assert chunked[name] == pytest.approx(whole[name], rel=1e-12, abs=1e-15), name


def test_bootstrap_rejects_bad_settings():
    y, p = _simulated(50, 0)
    with pytest.raises(DataError):
        bootstrap_ci(y, p, 0.5, n_resamples=0)
    with pytest.raises(DataError):
        bootstrap_ci(y, p, 0.5, alpha=1.5)


# --- summarize: the metrics.json block ----------------------------------------------------


def test_summarize_shape_is_the_run_directory_contract():
    y, p = _simulated(300, 8)
    s = summarize(y, p, 0.5, n_resamples=200, seed=1)
    text = json.dumps(s, allow_nan=False)
    assert json.loads(text) == s
    for name in INTERVAL_METRICS:
        assert {"value", "ci", "ci_method", "undefined_resamples"} <= set(s[name]) and len(s[name]["ci"]) == 2
        assert set(s[name]) <= {"value", "ci", "ci_method", "undefined_resamples", "ci_unbounded", "value_infinite",
                                "separated_resamples"}
    assert isinstance(s["calibration_slope"]["separated_resamples"], int)
    for name in COUNT_METRICS:
        assert isinstance(s[name], int)
    assert s["n"] == 300 and s["tp"] + s["fn"] == s["events"]
    assert s["auroc"]["ci"][0] <= s["auroc"]["value"] <= s["auroc"]["ci"][1]
    # metrics at 0.5 vs at another threshold: threshold-free metrics and their CIs agree
    other = summarize(y, p, 0.3, n_resamples=200, seed=1)
    assert other["auroc"] == s["auroc"] and other["brier"] == s["brier"]
    assert other["recall"]["value"] >= s["recall"]["value"]


def test_majority_model_summary_has_null_slope():
    y = np.array([1] * 36 + [0] * 23)
    s = summarize(y, np.full(59, 36 / 59), 0.5, n_resamples=100, seed=0)
    assert s["auroc"]["value"] == 0.5
    assert s["calibration_slope"]["value"] is None and s["calibration_slope"]["ci"] == [None, None]
    assert s["calibration_slope"]["undefined_resamples"] == 100
    assert s["calibration_intercept"]["value"] == pytest.approx(0.0, abs=1e-9)


# --- calibration --------------------------------------------------------------------------


def _calibrated(n: int, seed: int):
    rng = np.random.default_rng(seed)
    lp = rng.normal(0.2, 1.2, n)
    p = 1.0 / (1.0 + np.exp(-lp))
    y = (rng.random(n) < p).astype(float)
    return y, lp, p


def test_well_calibrated_predictions_have_slope_one_intercept_zero():
    y, _, p = _calibrated(40_000, 1)
    m = binary_metrics(y, p, 0.5)
    assert m["calibration_slope"] == pytest.approx(1.0, abs=0.05)
    assert m["calibration_intercept"] == pytest.approx(0.0, abs=0.05)


def test_overconfident_predictions_have_slope_below_one():
    y, lp, _ = _calibrated(40_000, 2)
    over = 1.0 / (1.0 + np.exp(-2.0 * lp))  # too extreme
    under = 1.0 / (1.0 + np.exp(-0.5 * lp))  # too timid
    assert binary_metrics(y, over, 0.5)["calibration_slope"] == pytest.approx(0.5, abs=0.05)
    assert binary_metrics(y, under, 0.5)["calibration_slope"] == pytest.approx(2.0, abs=0.1)
    low = 1.0 / (1.0 + np.exp(-(lp - 1.0)))  # risks underestimated by one logit
    assert binary_metrics(y, low, 0.5)["calibration_intercept"] == pytest.approx(1.0, abs=0.05)


def test_calibration_matches_independent_fits():
    from scipy.optimize import brentq
    from scipy.special import expit
    from sklearn.linear_model import LogisticRegression

    y, p = _simulated(500, 9, decimals=None)
    p = np.clip(p * 0.8 + 0.05, 0, 1)
    w = np.ones((1, y.size))
    lp = logit_clipped(p)
    lr = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(lp[:, None], y)
    assert calibration_slope(y, p, w)[0] == pytest.approx(lr.coef_[0, 0], rel=1e-6)
    root = brentq(lambda a: np.sum(y - expit(a + lp)), -10, 10, xtol=1e-14)
    assert calibration_intercept(y, p, w)[0] == pytest.approx(root, abs=1e-9)


def test_calibration_undefined_cases_are_nan():
    y = np.array([0, 0, 0, 1, 1, 1], dtype=float)
    separated = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    w = np.ones((1, 6))
    assert calibration_slope(y, separated, w)[0] == math.inf  # complete separation: infinite, not undefined
    assert math.isnan(calibration_slope(y, np.full(6, 0.4), w)[0])  # constant
    assert math.isnan(calibration_intercept(np.ones(6), separated, w)[0])  # one class
    assert logit_clipped(np.array([0.0, 1.0])) == pytest.approx([-13.8155, 13.8155], abs=1e-4)


# --- thresholds ---------------------------------------------------------------------------


def test_youden_and_f1_on_a_hand_example():
    y = [0, 0, 1, 1]
    p = [0.1, 0.4, 0.35, 0.8]
    # cuts p >= 0.8 and p >= 0.35 both reach J = 0.5; their midpoint thresholds are 0.6 and
    # 0.225: the tie goes to the one closer to 0.5
    choice = select_threshold(y, p, "youden")
    assert choice.value == pytest.approx(0.6) and choice.criterion == pytest.approx(0.5)
    assert choice.reason == ""
    # F1: p >= 0.35 gives 0.8, the best
    assert choose_threshold(y, p, "f1") == pytest.approx(0.225)
    assert choose_threshold(y, p, "fixed", fixed=0.3) == 0.3


def test_degenerate_validation_falls_back_with_a_reason():
    choice = select_threshold([1, 1, 1], [0.2, 0.5, 0.9], "youden", fallback=0.61)
    assert choice.value == 0.61 and "3 positive and 0 negative" in choice.reason
    assert choose_threshold([], [], "f1") == 0.5


def test_threshold_method_errors():
    with pytest.raises(ConfigError, match="youden"):
        choose_threshold([0, 1], [0.2, 0.8], "accuracy")
    with pytest.raises(ConfigError):
        choose_threshold([0, 1], [0.2, 0.8], "fixed", fixed=1.5)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 20).map(lambda k: k / 20)),
        min_size=2,
        max_size=40,
    )
)
def test_youden_choice_is_optimal_on_the_validation_data_only(rows):
    y = np.array([r[0] for r in rows])
    p = np.array([r[1] for r in rows])
    y_copy, p_copy = y.copy(), p.copy()
    t = choose_threshold(y, p, "youden")
    assert np.array_equal(y, y_copy) and np.array_equal(p, p_copy)  # inputs untouched
    assert 0.0 <= t <= 1.0
    if y.min() == y.max():
        assert t == 0.5
        return

    def youden(cut: float) -> float:
        pred = p >= cut
        return pred[y == 1].mean() + (~pred[y == 0]).mean() - 1.0

    best = max(youden(c) for c in np.unique(p))
    assert youden(t) == pytest.approx(best, abs=1e-12)
    # permuting the validation rows changes nothing
    perm = np.random.default_rng(0).permutation(y.size)
    assert choose_threshold(y[perm], p[perm], "youden") == t


def test_no_ci_when_more_than_five_percent_of_resamples_are_undefined():
    from clinpred.core.evaluation.metrics import percentile_interval

    values = np.r_[np.linspace(0.0, 1.0, 940), np.full(60, np.nan)]  # 6% undefined
    lo, hi, undefined = percentile_interval(values)
    assert math.isnan(lo) and math.isnan(hi) and undefined == 60
    lo, hi, undefined = percentile_interval(values[:-9])  # 51 of 991: 5.1% -> still none
    assert math.isnan(lo) and undefined == 51
    lo, hi, undefined = percentile_interval(values[:-20])  # 40 of 980: 4.1% -> an interval
    assert undefined == 40 and lo == pytest.approx(np.quantile(values[:940], 0.025))


def test_scaled_brier_is_one_minus_brier_over_the_prevalence_model():
    y = np.array([1, 0, 0, 1, 0, 0, 0, 1])
    p = np.array([0.8, 0.1, 0.3, 0.6, 0.2, 0.4, 0.1, 0.5])
    brier = np.mean((p - y) ** 2)
    assert binary_metrics(y, p, 0.5)["scaled_brier"] == pytest.approx(1 - brier / (3 / 8 * 5 / 8), abs=1e-12)
    assert binary_metrics(y, np.full(8, 3 / 8), 0.5)["scaled_brier"] == pytest.approx(0.0, abs=1e-12)


def _brute_force_plateau_threshold(y: np.ndarray, p: np.ndarray, criterion: str) -> float:
    """The midpoint of the maximal plateau of the criterion as a function of t, found on a fine grid
    of thresholds (ties between separate plateaus: the midpoint closest to the prevalence)."""
    grid = np.unique(np.r_[np.linspace(1e-9, 1.0, 20001), p, np.nextafter(p, 2.0)])
    grid = grid[(grid > 0) & (grid <= p.max())]
    pred = p[None, :] >= grid[:, None]
    tp = (pred & (y == 1)).sum(axis=1)
    fp = (pred & (y == 0)).sum(axis=1)
    n_pos, n_neg = (y == 1).sum(), (y == 0).sum()
    if criterion == "youden":
        crit = tp / n_pos - fp / n_neg
    else:
        crit = 2 * tp / (2 * tp + fp + (n_pos - tp))
    best = crit >= crit.max() - 1e-12
    # runs of consecutive grid points at the maximum; a run spans (previous point, last point]
    edges = np.flatnonzero(np.diff(np.r_[0, best.astype(int), 0]))
    mids = []
    for start, stop in zip(edges[::2], edges[1::2]):
        lower = grid[start - 1] if start > 0 else 0.0
        mids.append((lower + grid[stop - 1]) / 2.0)
    prevalence = n_pos / y.size
    return min(mids, key=lambda m: (abs(m - prevalence), m))


def test_youden_plateau_of_adjacent_ties_gives_its_midpoint():
    # cuts p >= 0.9 and p >= 0.7 (a tied positive and negative) both give J = 1/3: one plateau from 0.4
    # (the next lower score) to 0.9, midpoint 0.65 (the old rule took the cut midpoint closest to 0.5: 0.55)
    y = np.array([1, 1, 0, 0, 0, 1])
    p = np.array([0.9, 0.7, 0.7, 0.4, 0.2, 0.1])
    choice = select_threshold(y, p, "youden")
    assert choice.value == pytest.approx(0.65) and choice.criterion == pytest.approx(1 / 3)
    assert choice.value == pytest.approx(_brute_force_plateau_threshold(y, p, "youden"), abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(1, 20).map(lambda k: k / 20)), min_size=2, max_size=30),
       st.sampled_from(["youden", "f1"]))
def test_threshold_ties_are_broken_at_the_plateau_midpoint(rows, criterion):
    y = np.array([r[0] for r in rows])
    p = np.array([r[1] for r in rows])
    if y.min() == y.max():
        return
    t = choose_threshold(y, p, criterion)
    assert t == pytest.approx(_brute_force_plateau_threshold(y, p, criterion), abs=1e-4)
