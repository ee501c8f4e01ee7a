"""DeLong's paired AUROC test (clinpred.core.evaluation.delong)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinpred.core.evaluation.delong import delong_covariance, delong_test, midranks, placements
from clinpred.core.errors import DataError

# Published example: the aSAH data set of R's pROC package (Turck et al., Intensive Care Med
# 2010;36:107-115): 113 patients after aneurysmal subarachnoid haemorrhage, outcome "Poor" = 1
# (41 patients). s100b and ndka are biomarkers, wfns a 5-level ordinal score (many ties).
ASAH_Y = [
    0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0,
    0, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0,
    0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0,
    0,
]  # fmt: skip
ASAH_S100B = [
    0.13, 0.14, 0.1, 0.04, 0.13, 0.1, 0.47, 0.16, 0.18, 0.1, 0.12, 0.1, 0.44, 0.71,
    0.04, 0.08, 0.49, 0.04, 0.07, 0.33, 0.09, 0.09, 0.07, 0.11, 0.07, 0.17, 0.07, 0.11,
    0.13, 0.19, 0.05, 0.16, 0.41, 0.14, 0.34, 0.35, 0.48, 0.09, 0.96, 0.25, 0.5, 0.46,
    0.16, 0.07, 0.43, 0.45, 0.11, 0.08, 0.09, 0.86, 0.52, 0.08, 0.06, 0.13, 2.07, 0.1,
    0.14, 0.15, 0.07, 0.06, 0.77, 0.05, 0.09, 0.3, 0.03, 0.09, 0.04, 0.23, 0.7, 0.09,
    0.27, 0.71, 0.08, 0.26, 0.08, 0.16, 0.09, 0.13, 0.1, 0.08, 0.11, 0.33, 0.11, 0.28,
    0.07, 0.1, 0.32, 0.22, 0.07, 0.05, 0.24, 0.38, 0.1, 0.15, 0.08, 0.14, 0.1, 0.07,
    0.04, 0.19, 0.56, 0.14, 0.58, 0.32, 0.82, 0.74, 0.15, 0.47, 0.17, 0.44, 0.15, 0.5,
    0.48,
]  # fmt: skip
ASAH_WFNS = [
    1, 1, 1, 1, 3, 2, 5, 4, 1, 2, 5, 2, 5, 5, 1, 2, 5, 2, 2, 5, 2, 1, 1, 1, 1, 2, 1, 2,
    1, 1, 3, 4, 2, 1, 4, 5, 4, 1, 4, 2, 5, 5, 1, 1, 2, 4, 1, 1, 2, 5, 5, 2, 1, 2, 5, 1,
    2, 2, 2, 1, 5, 1, 1, 2, 5, 2, 1, 4, 5, 2, 4, 4, 1, 4, 1, 2, 1, 4, 2, 1, 2, 3, 2, 4,
    2, 1, 4, 5, 1, 1, 5, 4, 2, 2, 1, 1, 1, 3, 1, 2, 5, 2, 2, 5, 5, 5, 2, 4, 4, 5, 1, 1,
    1,
]  # fmt: skip
ASAH_NDKA = [
    3.01, 8.54, 8.09, 10.42, 17.4, 12.75, 6.0, 13.2, 15.54, 6.01, 15.96, 17.86, 5.18,
    8.9, 13.41, 20.75, 11.6, 16.11, 32.37, 54.82, 32.41, 49.94, 40.34, 9.47, 6.29,
    12.53, 6.54, 6.3, 80.3, 12.8, 9.8, 9.81, 9.85, 18.21, 5.03, 14.04, 21.93, 8.02,
    7.42, 8.38, 6.59, 9.63, 13.12, 7.96, 14.34, 41.43, 7.63, 7.06, 12.59, 13.56, 3.87,
    9.44, 7.66, 12.98, 419.19, 27.19, 22.27, 9.95, 21.22, 11.73, 10.4, 58.83, 6.39,
    11.09, 12.22, 13.67, 17.21, 22.63, 12.9, 9.7, 21.57, 8.23, 72.57, 15.54, 10.51,
    10.6, 14.57, 5.19, 9.63, 4.61, 21.48, 17.3, 12.71, 9.44, 11.07, 19.46, 10.83, 5.37,
    11.97, 7.75, 9.83, 10.55, 28.49, 8.53, 12.57, 12.9, 46.83, 11.68, 12.67, 9.01, 9.57,
    34.06, 11.72, 14.26, 47.61, 11.67, 24.58, 10.33, 13.87, 15.89, 22.43, 6.79, 13.45,
]  # fmt: skip


def _asah():
    y = np.array(ASAH_Y)
    return y, np.array(ASAH_S100B), np.array(ASAH_WFNS, dtype=float), np.array(ASAH_NDKA)


def test_asah_aucs_and_placements_match_proc():
    """AUCs (``theta``) and placements as in pROC's tests/testthat/helper-deLongPlacementsCpp-expected.R."""
    y, s100b, wfns, ndka = _asah()
    assert (y.size, int(y.sum())) == (113, 41)
    aucs, v10, v01 = placements(y, np.vstack((s100b, wfns, ndka)))
    np.testing.assert_allclose(aucs, [0.731368563685637, 0.823678861788618, 0.611957994579946], atol=1e-14)
    np.testing.assert_allclose(
        v10[0, :5], [0.5625, 0.4375, 0.715277777777778, 0.541666666666667, 0.902777777777778], atol=1e-14
    )
    np.testing.assert_allclose(
        v01[0, :5], [0.707317073170732, 0.670731707317073, 0.804878048780488, 0.975609756097561, 0.341463414634146],
        atol=1e-14,
    )
    np.testing.assert_allclose(v10[1, :3], [0.8125, 0.652777777777778, 0.888888888888889], atol=1e-14)
    np.testing.assert_allclose(v01[1, :5], [0.975609756097561] * 4 + [0.219512195121951], atol=1e-14)
    np.testing.assert_allclose(v10[2, :3], [0.805555555555556, 0.625, 0.680555555555556], atol=1e-14)


def test_asah_variance_and_roc_test_match_published_output():
    """var(roc(outcome, s100b)) = 0.002668682 (pROC; Stata's roctab gives SE 0.05165929) and
    pROC's documented roc.test(s100b, wfns): DeLong Z = -2.209, p = 0.02718."""
    y, s100b, wfns, _ = _asah()
    _, cov = delong_covariance(y, np.vstack((s100b, wfns)))
    assert cov[0, 0] == pytest.approx(0.002668682, abs=5e-10)
    assert math.sqrt(cov[0, 0]) == pytest.approx(0.05165929, abs=5e-9)
    res = delong_test(y, s100b, wfns)
    assert res.auc_a == pytest.approx(0.7313686, abs=1e-7)
    assert res.auc_b == pytest.approx(0.8236789, abs=1e-7)
    assert round(res.z, 3) == -2.209
    assert round(res.p_value, 5) == 0.02718
    assert res.diff == pytest.approx(res.auc_a - res.auc_b)
    assert res.z == pytest.approx(res.diff / res.se)


def _brute_force(y: np.ndarray, scores: np.ndarray):
    """O(m n) structural components straight from the definition (DeLong et al. 1988)."""
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    psi = (pos[:, :, None] > neg[:, None, :]) + 0.5 * (pos[:, :, None] == neg[:, None, :])
    v10 = psi.mean(axis=2)
    v01 = psi.mean(axis=1)
    aucs = psi.mean(axis=(1, 2))
    cov = np.atleast_2d(np.cov(v10)) / v10.shape[1] + np.atleast_2d(np.cov(v01)) / v01.shape[1]
    return aucs, v10, v01, cov


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fast_delong_equals_brute_force_and_sklearn(seed):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    n = 90 + 10 * seed
    y = (rng.random(n) < 0.4).astype(int)
    a = np.round(rng.normal(size=n) + y, 1)  # rounding makes ties
    b = np.round(0.5 * a + rng.normal(size=n), 1)
    c = rng.integers(0, 3, n).astype(float)  # heavy ties
    scores = np.vstack((a, b, c))
    aucs, v10, v01 = placements(y, scores)
    ref_aucs, ref_v10, ref_v01, ref_cov = _brute_force(y, scores)
    np.testing.assert_allclose(aucs, ref_aucs, atol=1e-12)
    np.testing.assert_allclose(v10, ref_v10, atol=1e-12)
    np.testing.assert_allclose(v01, ref_v01, atol=1e-12)
    _, cov = delong_covariance(y, scores)
    np.testing.assert_allclose(cov, ref_cov, rtol=1e-10, atol=1e-15)
    for k in range(3):
        assert aucs[k] == pytest.approx(roc_auc_score(y, scores[k]), abs=1e-12)


def test_identical_scores_give_zero_difference_and_p_one():
    y, s100b, _, _ = _asah()
    res = delong_test(y, s100b, s100b.copy())
    assert (res.diff, res.se, res.z, res.p_value) == (0.0, 0.0, 0.0, 1.0)
    auc_a, auc_b, diff, se, z, p = res  # a plain 6-tuple too
    assert auc_a == auc_b


def test_swapping_models_flips_the_sign_only():
    y, s100b, _, ndka = _asah()
    ab, ba = delong_test(y, s100b, ndka), delong_test(y, ndka, s100b)
    assert ab.diff == pytest.approx(-ba.diff) and ab.z == pytest.approx(-ba.z)
    assert ab.se == pytest.approx(ba.se) and ab.p_value == pytest.approx(ba.p_value)


def test_monotone_transform_changes_nothing():
    y, s100b, wfns, _ = _asah()
    probs = 1.0 / (1.0 + np.exp(-np.log(s100b)))  # probabilities in (0, 1), same order
    assert delong_test(y, probs, wfns) == pytest.approx(delong_test(y, s100b, wfns))


def test_one_class_gives_nan_and_bad_shapes_raise():
    res = delong_test([1, 1, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])
    assert all(math.isnan(v) for v in res)
    with pytest.raises(DataError):
        delong_test([0, 1, 1], [0.1, 0.2], [0.3, 0.2, 0.1])
    with pytest.raises(DataError, match="both classes"):
        placements(np.array([1, 1]), np.array([0.2, 0.3]))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=1, max_size=30))
def test_midranks_equal_average_ranks(values):
    from scipy.stats import rankdata

    x = np.array(values, dtype=float)
    np.testing.assert_allclose(midranks(x), rankdata(x, method="average"))
