"""DeLong's test for two correlated (paired) AUROCs, fast midrank version.

DeLong, DeLong & Clarke-Pearson, Biometrics 1988;44:837-845: the AUROC is a two-sample
U-statistic; its variance comes from the structural components (placements)

- ``V10[i]`` = share of negatives scored below positive ``i`` (ties count one half),
- ``V01[j]`` = share of positives scored above negative ``j`` (ties count one half),

with ``cov(AUC) = S10 / m + S01 / n`` (``S10``, ``S01``: sample covariance matrices of the
placements across models, ``m`` positives, ``n`` negatives). Sun & Xu, IEEE Signal Processing
Letters 2014;21:1389-1393 compute the placements from midranks in O(N log N):
``V10 = (Tz[i] - Tx[i]) / n`` and ``V01 = 1 - (Tz[m + j] - Ty[j]) / m``, where ``Tx``, ``Ty``,
``Tz`` are the midranks within the positives, within the negatives and overall.
The placements equal those of R's pROC (``direction = "<"``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from clinpred.core.errors import DataError
from clinpred.core.evaluation.metric_kernels import check_inputs


class DeLongResult(NamedTuple):
    """Paired comparison of AUROC a against AUROC b (a 6-tuple; also readable by name).

    ``diff = auc_a - auc_b``; ``se`` its standard error; ``z = diff / se``; ``p_value`` two-sided.
    ``se == 0`` (e.g. identical scores): ``z = 0, p = 1`` when ``diff == 0``, else
    ``z = +-inf, p = 0``. Labels with one class only: every field NaN.
    """

    auc_a: float
    auc_b: float
    diff: float
    se: float
    z: float
    p_value: float


def midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` with ties given the mean of their ranks (Sun & Xu, Algorithm 1)."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    change = np.flatnonzero(xs[1:] != xs[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [xs.size]))
    mid = (starts + ends + 1) / 2.0  # mean of the 1-based ranks starts+1 .. ends
    out = np.empty(xs.size)
    out[order] = np.repeat(mid, ends - starts)
    return out


def placements(labels, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUROCs and DeLong structural components of several score vectors on the same patients.

    ``scores`` has shape ``(k, N)`` (or ``(N,)`` for one model). Returns ``(aucs, v10, v01)``
    with shapes ``(k,)``, ``(k, m)`` and ``(k, n)``: positives and negatives in data order.
    Requires both classes.
    """
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    y = np.asarray(labels).astype(bool)
    if scores.shape[1] != y.size:
        raise DataError(f"scores have {scores.shape[1]} patients, labels {y.size}")
    m, n = int(y.sum()), int((~y).sum())
    if m == 0 or n == 0:
        raise DataError(f"DeLong needs both classes (got {m} positive, {n} negative patients)")
    pos, neg = scores[:, y], scores[:, ~y]
    k = scores.shape[0]
    tx = np.vstack([midranks(pos[r]) for r in range(k)])
    ty = np.vstack([midranks(neg[r]) for r in range(k)])
    tz = np.vstack([midranks(np.concatenate((pos[r], neg[r]))) for r in range(k)])
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return aucs, v10, v01


def delong_covariance(labels, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(aucs, cov)``: AUROCs ``(k,)`` and their DeLong covariance matrix ``(k, k)``."""
    aucs, v10, v01 = placements(labels, scores)
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10, ddof=1)) if m > 1 else np.zeros((aucs.size, aucs.size))
    s01 = np.atleast_2d(np.cov(v01, ddof=1)) if n > 1 else np.zeros((aucs.size, aucs.size))
    return aucs, s10 / m + s01 / n


def delong_test(labels, p_a, p_b) -> DeLongResult:
    """Paired DeLong test of AUROC(p_a) = AUROC(p_b) on the same patients.

    ``p_a``, ``p_b``: probabilities or any finite scores (higher = more likely positive).
    Returns a :class:`DeLongResult` ``(auc_a, auc_b, diff, se, z, p_value)``, two-sided.
    """
    y, a = check_inputs(labels, p_a, probabilities=False)
    _, b = check_inputs(labels, p_b, probabilities=False)
    if y.sum() == 0 or y.sum() == y.size:
        nan = float("nan")
        return DeLongResult(nan, nan, nan, nan, nan, nan)
    aucs, cov = delong_covariance(y, np.vstack((a, b)))
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    se = math.sqrt(max(var, 0.0))
    if se <= 1e-15:
        z = 0.0 if abs(diff) <= 1e-15 else math.copysign(math.inf, diff)
        se = 0.0
    else:
        z = diff / se
    p_value = math.erfc(abs(z) / math.sqrt(2.0))
    return DeLongResult(float(aucs[0]), float(aucs[1]), diff, se, z, p_value)
