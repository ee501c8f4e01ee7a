"""Repeated-CV estimators against brute-force references and known truths."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import norm

from clinpred.core.evaluation.cv_compare import cv_delong
from clinpred.core.evaluation.cv_estimate import Fold, cv_summarize, influence_curve_ci


def _cohort(n: int = 200, seed: int = 0, repeats: int = 2, k: int = 5):
    from sklearn.model_selection import RepeatedStratifiedKFold

    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(1.2 * x - 0.4)))).astype(int)
    splitter = RepeatedStratifiedKFold(n_splits=k, n_repeats=repeats, random_state=seed)
    tests = [(number // k, test) for number, (_, test) in enumerate(splitter.split(x, y))]
    return x, y, tests


def _brute_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    return float(np.mean([(a > b) + 0.5 * (a == b) for a, b in itertools.product(pos, neg)]))


def test_influence_curve_ci_equals_hand_computation():
    # cvAUC's ci.cvAUC written out with loops: IC of a positive = (share of the fold's negatives
    # scored lower - fold AUC) / P(Y=1); of a negative = (share of positives scored higher - AUC) / P(Y=0)
    x, y, tests = _cohort(n=60, repeats=1)
    scores = np.round(x, 1)  # ties on purpose
    folds = [Fold(r, t, scores[t], 0.5) for r, t in tests]
    pi1 = y.mean()
    aucs, sq = [], []
    for _, t in tests:
        yt, st = y[t], scores[t]
        pos, neg = st[yt == 1], st[yt == 0]
        auc = _brute_auc(pos, neg)
        aucs.append(auc)
        ic = [((np.mean([(s > b) + 0.5 * (s == b) for b in neg]) - auc) / pi1) if lab == 1
              else ((np.mean([(a > s) + 0.5 * (a == s) for a in pos]) - auc) / (1 - pi1))
              for s, lab in zip(st, yt)]
        # the small-sample factor: each class's squared ICs times m / (m - 1) for its m patients in the fold
        factor = [pos.size / (pos.size - 1) if lab == 1 else neg.size / (neg.size - 1) for lab in yt]
        sq.append(np.mean(np.multiply(factor, np.square(ic))))
    se = math.sqrt(np.mean(sq) / y.size)
    res = influence_curve_ci(y, folds)
    assert res["value"] == pytest.approx(np.mean(aucs), abs=1e-12)
    assert res["se"] == pytest.approx(se, abs=1e-12)
    assert res["lo"] == pytest.approx(np.mean(aucs) - norm.ppf(0.975) * se, abs=1e-12)


def test_influence_curve_variance_is_delong_per_fold_with_unbiased_placement_variances():
    """With each fold holding the data's class shares, the IC variance of a repeat is
    sum_f (s10^2 / m_f + s01^2 / n_f) / K^2, the placements' variances with ddof = 1 (DeLong 1988)."""
    rng = np.random.default_rng(4)
    y = np.r_[np.ones(40), np.zeros(60)].astype(int)
    scores = np.round(rng.normal(size=100) + 0.8 * y, 1)
    tests = [np.r_[np.arange(k * 8, k * 8 + 8), 40 + np.arange(k * 12, k * 12 + 12)] for k in range(5)]
    folds = [Fold(0, t, scores[t], 0.5) for t in tests]
    var = 0.0
    for t in tests:
        pos, neg = scores[t][y[t] == 1], scores[t][y[t] == 0]
        v10 = [np.mean([(a > b) + 0.5 * (a == b) for b in neg]) for a in pos]
        v01 = [np.mean([(a > b) + 0.5 * (a == b) for a in pos]) for b in neg]
        var += np.var(v10, ddof=1) / pos.size + np.var(v01, ddof=1) / neg.size
    assert influence_curve_ci(y, folds)["se"] == pytest.approx(math.sqrt(var) / 5, rel=1e-12)


def test_cv_delong_equals_brute_force_delong_per_fold():
    x, y, tests = _cohort(n=80, repeats=2)
    rng = np.random.default_rng(5)
    a_scores, b_scores = x + rng.normal(0, 0.5, x.size), x + rng.normal(0, 1.5, x.size)
    fa = [Fold(r, t, a_scores[t], 0.5) for r, t in tests]
    fb = [Fold(r, t, b_scores[t], 0.5) for r, t in tests]

    def fold_delong(t):  # DeLong 1988 structural components by double loops
        yt = y[t]
        comps = []
        for s in (a_scores[t], b_scores[t]):
            pos, neg = s[yt == 1], s[yt == 0]
            v10 = np.array([np.mean([(p > q) + 0.5 * (p == q) for q in neg]) for p in pos])
            v01 = np.array([np.mean([(p > q) + 0.5 * (p == q) for p in pos]) for q in neg])
            comps.append((v10, v01))
        (a10, a01), (b10, b01) = comps
        var = (np.var(a10 - b10, ddof=1) / a10.size) + (np.var(a01 - b01, ddof=1) / a01.size)
        return a10.mean() - b10.mean(), var

    per_repeat = {}
    for r, t in tests:
        per_repeat.setdefault(r, []).append(fold_delong(t))
    diffs = [np.mean([d for d, _ in cells]) for cells in per_repeat.values()]
    ses = [math.sqrt(sum(v for _, v in cells)) / len(cells) for cells in per_repeat.values()]
    res = cv_delong(y, fa, fb, n_resamples=200, seed=0)
    assert res["auroc_difference"] == pytest.approx(np.mean(diffs), abs=1e-12)
    assert res["se"] == pytest.approx(np.mean(ses), abs=1e-12)
    assert res["p_value"] == pytest.approx(2 * norm.sf(abs(np.mean(diffs) / np.mean(ses))), rel=1e-9)
    assert res["ci"][0] < res["auroc_difference"] < res["ci"][1]


def test_majority_baseline_is_exactly_half_with_no_slope_in_cv():
    _, y, tests = _cohort(n=150, repeats=2)
    # a constant per fold, different between folds (the training prevalence of each fold)
    folds = [Fold(r, t, np.full(t.size, 0.3 + 0.01 * k), 0.5) for k, (r, t) in enumerate(tests)]
    s = cv_summarize(y, folds, n_resamples=200, seed=0)
    assert s["auroc"]["value"] == 0.5 and s["auroc"]["ci"] == [0.5, 0.5]
    assert s["calibration_slope"]["value"] is None and s["calibration_slope"]["ci"] == [None, None]
    assert s["calibration_slope"]["undefined_resamples"] == 200
    assert s["calibration_intercept"]["value"] is not None


def test_repeating_the_same_folds_does_not_narrow_the_intervals():
    # pooling R copies of the same predictions shrank the CI by sqrt(R); the honest one cannot
    x, y, tests = _cohort(n=150, repeats=1)
    once = [Fold(0, t, 1 / (1 + np.exp(-x[t])), 0.5) for _, t in tests]
    twice = once + [Fold(1, f.index, f.p, f.threshold) for f in once]
    a = cv_summarize(y, once, n_resamples=300, seed=3)
    b = cv_summarize(y, twice, n_resamples=300, seed=3)
    for name in ("auroc", "brier", "calibration_slope", "recall"):
        assert b[name]["value"] == pytest.approx(a[name]["value"], abs=1e-12)
        assert b[name]["ci"] == pytest.approx(a[name]["ci"], abs=1e-12)
    assert b["auroc"]["ci_influence_curve"] == pytest.approx(a["auroc"]["ci_influence_curve"], abs=1e-12)
    assert b["n"] == a["n"] == y.size


def test_cv_metrics_are_means_of_per_repeat_values():
    from clinpred.core.evaluation.metrics import binary_metrics

    x, y, tests = _cohort(n=120, repeats=2)
    p = 1 / (1 + np.exp(-x))
    folds = [Fold(r, t, p[t], 0.4) for r, t in tests]
    s = cv_summarize(y, folds, n_resamples=200, seed=0)
    fold_auc = {r: [] for r in (0, 1)}
    brier = {r: [] for r in (0, 1)}
    for r, t in tests:
        fold_auc[r].append(binary_metrics(y[t], p[t], 0.4)["auroc"])
    for r in (0, 1):
        idx = np.concatenate([t for rr, t in tests if rr == r])
        brier[r] = binary_metrics(y[idx], p[idx], 0.4)["brier"]
    assert s["auroc"]["value"] == pytest.approx(np.mean([np.mean(v) for v in fold_auc.values()]), abs=1e-12)
    assert s["brier"]["value"] == pytest.approx(np.mean(list(brier.values())), abs=1e-12)


def test_group_bootstrap_draws_whole_groups():
    from clinpred.core.evaluation.cv_estimate import cluster_weights

    groups = np.repeat(np.arange(10), 3)
    w = cluster_weights(np.zeros(30), groups, 50, seed=1)
    for row in w:
        assert (row.reshape(10, 3) == row.reshape(10, 3)[:, :1]).all()  # a group's rows move together
        assert row.sum() == 30


def test_bootstrap_intervals_are_widened_to_the_analytic_standard_error_never_narrowed():
    from clinpred.core.evaluation.cv_estimate import widen_to

    values = np.random.default_rng(0).normal(0.7, 0.02, 1000)
    lo, hi = np.quantile(values, [0.025, 0.975])
    new_lo, new_hi, widened = widen_to(values, 0.7, lo, hi, 0.03)
    c = 0.03 / np.std(values, ddof=1)
    assert widened and new_lo == pytest.approx(0.7 - c * (0.7 - lo)) and new_hi == pytest.approx(0.7 + c * (hi - 0.7))
    assert widen_to(values, 0.7, lo, hi, 0.01) == (lo, hi, False)


def test_cv_auroc_interval_is_widened_when_the_influence_curve_says_so(monkeypatch):
    import clinpred.core.evaluation.cv_estimate as cv

    x, y, tests = _cohort(n=150, repeats=1)
    folds = [Fold(r, t, x[t], 0.5) for r, t in tests]
    plain = cv.cv_summarize(y, folds, n_resamples=400, seed=1)["auroc"]
    real = cv.influence_curve_ci
    monkeypatch.setattr(cv, "influence_curve_ci", lambda *a, **k: {**real(*a, **k), "se": 0.2})
    wide = cv.cv_summarize(y, folds, n_resamples=400, seed=1)["auroc"]
    assert "widened" not in plain["ci_method"] and "widened" in wide["ci_method"]
    assert wide["ci"][0] < plain["ci"][0] and wide["ci"][1] > plain["ci"][1]


def _unlike_fold_models(seed: int = 3):
    """Folds whose 'models' differ a lot: the odd folds score with x, the even ones mostly with noise."""
    x, y, tests = _cohort(n=200, seed=seed, repeats=2)
    noise = np.random.default_rng(seed + 100).normal(size=x.size)
    scores = [x[t] if k % 2 else 0.1 * x[t] + noise[t] for k, (_, t) in enumerate(tests)]
    return x, y, tests, scores


def test_fold_to_fold_standard_error_equals_the_spread_of_sklearn_fold_aucs_and_widens_the_interval():
    from sklearn.metrics import roc_auc_score

    _, y, tests, scores = _unlike_fold_models()
    folds = [Fold(r, t, s, 0.5) for (r, t), s in zip(tests, scores)]
    aucs = np.array([roc_auc_score(y[t], s) for (_, t), s in zip(tests, scores)]).reshape(2, 5)
    expected = float(np.mean(aucs.std(axis=1, ddof=1) / math.sqrt(5)))
    auroc = cv_summarize(y, folds, n_resamples=400, seed=1)["auroc"]
    assert auroc["se_fold_to_fold"] == pytest.approx(expected, rel=1e-12)
    assert expected > auroc["se_influence_curve"]  # the models differ more than the test samples explain
    assert "widened" in auroc["ci_method"] and "fold-to-fold" in auroc["ci_method"]
    lo, hi = auroc["ci"]
    # the percentile interval is scaled until its resamples' SD is that SE: about a normal interval
    assert hi - lo >= 2 * norm.ppf(0.975) * expected * 0.9


def test_cv_difference_interval_is_widened_to_the_fold_to_fold_standard_error():
    from sklearn.metrics import roc_auc_score

    x, y, tests, scores = _unlike_fold_models(seed=4)
    folds_a = [Fold(r, t, s, 0.5) for (r, t), s in zip(tests, scores)]
    folds_b = [Fold(r, t, x[t], 0.5) for r, t in tests]
    diffs = np.array([roc_auc_score(y[t], s) - roc_auc_score(y[t], x[t])
                      for (_, t), s in zip(tests, scores)]).reshape(2, 5)
    expected = float(np.mean(diffs.std(axis=1, ddof=1) / math.sqrt(5)))
    res = cv_delong(y, folds_a, folds_b, n_resamples=400, seed=1)
    assert res["se_fold_to_fold"] == pytest.approx(expected, rel=1e-12)
    assert expected > res["se"] and "fold-to-fold" in res["ci_method"]
    lo, hi = res["ci"]
    assert hi - lo >= 2 * norm.ppf(0.975) * expected * 0.9
