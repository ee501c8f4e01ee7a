"""Evaluation metrics of a binary risk model, with stratified bootstrap confidence intervals.

Public API (the runner uses these names):

- :func:`confusion_metrics` — rates from a confusion matrix;
- :func:`binary_metrics` — every metric of one model at one threshold (point estimates);
- :func:`bootstrap_ci` — stratified percentile bootstrap intervals of those metrics;
- :func:`summarize` — the ``metrics.json`` block of one model (value + CI per metric, counts);
- :func:`choose_threshold` / :func:`select_threshold` (from :mod:`clinpred.core.evaluation.thresholds`);
- :func:`delong_test` (from :mod:`clinpred.core.evaluation.delong`).

Conventions: a patient is predicted positive when ``p >= threshold``. ``threshold`` may be one
number or one value per patient (pooling cross-validation folds that each chose their own
threshold on their own validation data). Rates whose denominator is zero are 0.0 (scikit-learn's
``zero_division=0``): precision with no predicted positive, recall with no positive,
specificity with no negative, F1 with neither, MCC with an empty margin. Quantities that are
undefined are NaN, serialised as JSON ``null`` by :func:`summarize`: AUROC with one class,
average precision with no positive, calibration intercept/slope with one class, and the
calibration slope of constant predictions (the majority-class model).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from clinpred.core.evaluation.calibration import calibration_intercept, calibration_slope
from clinpred.core.evaluation.delong import DeLongResult, delong_test  # noqa: F401  (re-exported)
from clinpred.core.errors import DataError
from clinpred.core.evaluation.metric_kernels import (
    CONFUSION_RATES,
    check_inputs,
    confusion_rates,
    weighted_auroc,
    weighted_average_precision,
    weighted_brier,
    weighted_confusion,
)
from clinpred.core.evaluation.thresholds import (  # noqa: F401  (re-exported)
    THRESHOLD_METHODS,
    ThresholdChoice,
    choose_threshold,
    select_threshold,
)

#: metrics reported with a value and a bootstrap CI, in report order
INTERVAL_METRICS = (
    "auroc",
    "auprc",
    "brier",
    "scaled_brier",
    "calibration_intercept",
    "calibration_slope",
) + CONFUSION_RATES
#: resamples x patients evaluated at once by :func:`bootstrap_ci`
_CHUNK_CELLS = 2_000_000
#: share of undefined bootstrap resamples above which no CI is reported
MAX_UNDEFINED = 0.05
#: ``ci_method`` of the hold-out intervals
HOLDOUT_CI_METHOD = "stratified bootstrap (percentile)"
#: plain counts reported without a CI
COUNT_METRICS = ("n", "events", "tp", "fp", "tn", "fn")


def confusion_metrics(tp: int, fp: int, tn: int, fn: int) -> dict[str, float]:
    """Rates of a confusion matrix: accuracy, precision, recall, specificity, f1, balance_gap
    (|recall - specificity|), balanced_accuracy, mcc, predicted_positive_rate (floats; 0.0 on
    zero division, see the module docstring)."""
    if min(tp, fp, tn, fn) < 0:
        raise DataError(f"confusion-matrix cells must be >= 0 (got tp={tp} fp={fp} tn={tn} fn={fn})")
    rates = confusion_rates(tp, fp, tn, fn)
    return {name: float(rates[name]) for name in CONFUSION_RATES}


def _predictions(p: np.ndarray, threshold) -> np.ndarray:
    t = np.asarray(threshold, dtype=float)
    if t.ndim not in (0, 1) or (t.ndim == 1 and t.shape != p.shape):
        raise DataError(
            f"threshold must be one number or one per patient (got shape {t.shape} for {p.size} patients)"
        )
    if not np.isfinite(t).all():
        raise DataError("threshold must be finite")
    return p >= t


def _all_metrics(y: np.ndarray, p: np.ndarray, pred: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of :data:`INTERVAL_METRICS` for each row of the weight matrix ``w``."""
    out = confusion_rates(*weighted_confusion(y, pred, w))
    out["auroc"] = weighted_auroc(y, p, w)
    out["auprc"] = weighted_average_precision(y, p, w)
    out["brier"] = weighted_brier(y, p, w)
    out["scaled_brier"] = scaled_brier(out["brier"], y, w)
    out["calibration_intercept"] = calibration_intercept(y, p, w)
    out["calibration_slope"] = calibration_slope(y, p, w)
    return out


def scaled_brier(brier: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``1 - Brier / (ybar * (1 - ybar))``: the Brier score relative to predicting the event rate
    for everyone (Steyerberg et al., Epidemiology 2010); NaN with one class."""
    total = w.sum(axis=1)
    prev = np.divide(w @ y, total, out=np.full(w.shape[0], np.nan), where=total > 0)
    ref = prev * (1.0 - prev)
    out = np.full(w.shape[0], np.nan)
    np.divide(brier, ref, out=out, where=ref > 0)
    return 1.0 - out


def binary_metrics(labels, p, threshold) -> dict[str, float]:
    """Point estimates of one model on one set of patients.

    Returns floats for every name of :data:`INTERVAL_METRICS` (NaN when undefined) and ints for
    :data:`COUNT_METRICS` (``n`` patients, ``events`` = positives, ``tp``, ``fp``, ``tn``, ``fn``).
    """
    y, q = check_inputs(labels, p)
    pred = _predictions(q, threshold)
    w = np.ones((1, y.size))
    values = {name: float(v[0]) for name, v in _all_metrics(y, q, pred, w).items()}
    tp, fp, tn, fn = (int(round(float(c[0]))) for c in weighted_confusion(y, pred, w))
    counts = {"n": int(y.size), "events": int(y.sum()), "tp": tp, "fp": fp, "tn": tn, "fn": fn}
    return {**{k: values[k] for k in INTERVAL_METRICS}, **counts}


def bootstrap_weights(labels, n_resamples: int, seed: int) -> np.ndarray:
    """Multiplicities ``(n_resamples, n)`` of a stratified bootstrap: each resample draws, with
    replacement, as many positives from the positives and negatives from the negatives as the
    data hold (a seeded ``numpy.random.Generator``; the same seed gives the same resamples)."""
    y = np.asarray(labels).astype(bool)
    rng = np.random.default_rng(seed)
    w = np.zeros((n_resamples, y.size))
    for mask in (y, ~y):  # positives first, then negatives: part of the seed contract
        idx = np.flatnonzero(mask)
        if idx.size:
            w[:, idx] = rng.multinomial(idx.size, np.full(idx.size, 1.0 / idx.size), size=n_resamples)
    return w


def bootstrap_ci(
    labels, p, threshold, n_resamples: int = 1000, seed: int = 0, alpha: float = 0.05
) -> dict[str, tuple[float, float]]:
    """Percentile ``1 - alpha`` intervals ``{metric: (lo, hi)}`` for :data:`INTERVAL_METRICS`.

    Stratified bootstrap (see :func:`bootstrap_weights`) with the threshold held fixed. All
    resamples are evaluated at once (weights matrix; AUROC by one sort and cumulative sums;
    calibration by batched Newton). Resamples where a metric is undefined (NaN) are left out of
    its interval; ``(nan, nan)`` when more than 5% of them are (:func:`percentile_interval`).
    """
    if n_resamples < 1:
        raise DataError(f"n_resamples must be >= 1 (got {n_resamples})")
    if not 0.0 < alpha < 1.0:
        raise DataError(f"alpha must be in (0, 1) (got {alpha})")
    stats = bootstrap_statistics(labels, p, threshold, n_resamples=n_resamples, seed=seed)
    return {name: percentile_interval(stats[name], alpha)[:2] for name in INTERVAL_METRICS}


def bootstrap_statistics(labels, p, threshold, *, n_resamples: int, seed: int) -> dict[str, np.ndarray]:
    """Every metric of :data:`INTERVAL_METRICS` on each stratified bootstrap resample ``(B,)``
    (NaN where a metric is undefined on a resample)."""
    y, q = check_inputs(labels, p)
    pred = _predictions(q, threshold)
    w = bootstrap_weights(y, n_resamples, seed)
    chunk = max(1, _CHUNK_CELLS // max(y.size, 1))  # bounds the memory of the batched kernels
    parts = [_all_metrics(y, q, pred, w[i : i + chunk]) for i in range(0, n_resamples, chunk)]
    return {name: np.concatenate([part[name] for part in parts]) for name in INTERVAL_METRICS}


def percentile_interval(values: np.ndarray, alpha: float = 0.05,
                        max_undefined: float = MAX_UNDEFINED) -> tuple[float, float, int]:
    """``(lo, hi, undefined)``: the percentile interval of the defined resample values and the
    number of resamples where the statistic was undefined (NaN). No interval (NaN, NaN) when more
    than ``max_undefined`` of the resamples are undefined: the defined ones are then a biased
    subset (e.g. a slope CI resting on 13 of 1000 resamples)."""
    v = np.asarray(values, dtype=float)
    finite = np.isfinite(v)
    undefined = int(v.size - finite.sum())
    if finite.sum() == 0 or undefined > max_undefined * v.size:
        return math.nan, math.nan, undefined
    lo, hi = np.quantile(v[finite], [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi), undefined


def _json_number(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def summarize(
    labels, p, threshold, *, n_resamples: int = 1000, seed: int = 0, alpha: float = 0.05
) -> dict[str, Any]:
    """The ``metrics`` block of ``metrics.json`` for one model.

    Shape: ``{"auroc": {"value": x, "ci": [lo, hi], "ci_method": ..., "undefined_resamples": k},
    "accuracy": {...}, ...}`` for every name of
    :data:`INTERVAL_METRICS`, plus ``"n", "events", "tp", "fp", "tn", "fn"`` as plain ints.
    NaN becomes ``None`` (JSON null). For the metrics at 0.5, call again with ``threshold=0.5``
    (same seed, hence the same resamples).
    """
    point = binary_metrics(labels, p, threshold)
    stats = bootstrap_statistics(labels, p, threshold, n_resamples=n_resamples, seed=seed)
    out: dict[str, Any] = {}
    for name in INTERVAL_METRICS:
        lo, hi, undefined = percentile_interval(stats[name], alpha)
        out[name] = {"value": _json_number(point[name]), "ci": [_json_number(lo), _json_number(hi)],
                     "ci_method": HOLDOUT_CI_METHOD, "undefined_resamples": undefined}
    for name in COUNT_METRICS:
        out[name] = point[name]
    return out
