"""Evaluation metrics of a binary risk model, with bootstrap confidence intervals.

Public API (the runner uses these names):

- :func:`confusion_metrics` — rates from a confusion matrix;
- :func:`binary_metrics` — every metric of one model at one threshold (point estimates);
- :func:`bootstrap_ci` — percentile bootstrap intervals of those metrics (stratified by outcome for
  the class-conditional ones, a plain patient bootstrap for the others: see
  :mod:`clinpred.core.evaluation.resampling`);
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
calibration slope of constant predictions (the majority-class model). A calibration slope under
separation is infinite (``value_infinite``; see :mod:`clinpred.core.evaluation.calibration`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clinpred.core.evaluation.calibration import calibration_intercept, calibration_slope
from clinpred.core.evaluation.intervals import (  # noqa: F401  (percentile_interval, MAX_UNDEFINED re-exported)
    MAX_UNDEFINED,
    boundary_interval,
    interval_entry,
    percentile_interval,
)
from clinpred.core.evaluation.resampling import CLASS_CONDITIONAL, patient_weights, stratified_weights
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
#: ``ci_method`` of the hold-out intervals: class-conditional statistics / all the others
STRATIFIED_CI_METHOD = "stratified bootstrap (percentile)"  # positives and negatives resampled separately
PATIENT_CI_METHOD = "patient bootstrap, unstratified (percentile)"
#: the hold-out estimator's description (``metrics.json`` ``estimator.ci``)
HOLDOUT_CI_METHOD = ("percentile bootstrap of the test patients: stratified by outcome for AUROC, sensitivity, "
                     "specificity, balanced accuracy and balance gap; unstratified (the event rate varies) for "
                     "the others")
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


def _all_metrics(y: np.ndarray, p: np.ndarray, pred: np.ndarray, w: np.ndarray,
                 names: tuple[str, ...] = INTERVAL_METRICS) -> dict[str, np.ndarray]:
    """The metrics ``names`` (default: all of :data:`INTERVAL_METRICS`) for each row of the weight
    matrix ``w``."""
    want = set(names)
    out = confusion_rates(*weighted_confusion(y, pred, w))
    if "auroc" in want:
        out["auroc"] = weighted_auroc(y, p, w)
    if "auprc" in want:
        out["auprc"] = weighted_average_precision(y, p, w)
    if want & {"brier", "scaled_brier"}:
        out["brier"] = weighted_brier(y, p, w)
        out["scaled_brier"] = scaled_brier(out["brier"], y, w)
    if "calibration_intercept" in want:
        out["calibration_intercept"] = calibration_intercept(y, p, w)
    if "calibration_slope" in want:
        out["calibration_slope"] = calibration_slope(y, p, w)
    return {name: out[name] for name in names}


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
    """Multiplicities ``(n_resamples, n)`` of the bootstrap stratified by outcome
    (:func:`clinpred.core.evaluation.resampling.stratified_weights`)."""
    return stratified_weights(labels, n_resamples, seed)


#: the metrics bootstrapped without stratification (they depend on the event rate)
MARGINAL_METRICS = tuple(name for name in INTERVAL_METRICS if name not in CLASS_CONDITIONAL)


def ci_method(name: str) -> str:
    """The hold-out ``ci_method`` of metric ``name``."""
    return STRATIFIED_CI_METHOD if name in CLASS_CONDITIONAL else PATIENT_CI_METHOD


def bootstrap_ci(
    labels, p, threshold, n_resamples: int = 1000, seed: int = 0, alpha: float = 0.05
) -> dict[str, tuple[float, float]]:
    """Percentile ``1 - alpha`` intervals ``{metric: (lo, hi)}`` for :data:`INTERVAL_METRICS`.

    The threshold is held fixed; the class-conditional metrics come from a bootstrap stratified by
    outcome, the others from a plain patient bootstrap (see :func:`bootstrap_statistics`).
    Resamples where a metric is undefined (NaN) are left out of its interval; ``(nan, nan)``
    when more than 5% of them are (:func:`percentile_interval`); an infinite resample value
    (a separated calibration slope) can make an end infinite.
    """
    if n_resamples < 1:
        raise DataError(f"n_resamples must be >= 1 (got {n_resamples})")
    if not 0.0 < alpha < 1.0:
        raise DataError(f"alpha must be in (0, 1) (got {alpha})")
    stats = bootstrap_statistics(labels, p, threshold, n_resamples=n_resamples, seed=seed)
    return {name: percentile_interval(stats[name], alpha)[:2] for name in INTERVAL_METRICS}


def bootstrap_statistics(labels, p, threshold, *, n_resamples: int, seed: int) -> dict[str, np.ndarray]:
    """Every metric of :data:`INTERVAL_METRICS` on each bootstrap resample ``(B,)`` (NaN where a
    metric is undefined on a resample): :data:`CLASS_CONDITIONAL` metrics on resamples stratified by
    outcome (:func:`bootstrap_weights`), the others on plain patient resamples
    (:func:`clinpred.core.evaluation.resampling.patient_weights`), both from ``seed``."""
    y, q = check_inputs(labels, p)
    pred = _predictions(q, threshold)
    chunk = max(1, _CHUNK_CELLS // max(y.size, 1))  # bounds the memory of the batched kernels
    out: dict[str, np.ndarray] = {}
    for names, w in ((CLASS_CONDITIONAL, bootstrap_weights(y, n_resamples, seed)),
                     (MARGINAL_METRICS, patient_weights(y.size, n_resamples, seed))):
        parts = [_all_metrics(y, q, pred, w[i : i + chunk], names) for i in range(0, n_resamples, chunk)]
        out.update({name: np.concatenate([part[name] for part in parts]) for name in names})
    return {name: out[name] for name in INTERVAL_METRICS}


def proportion_counts(tp: float, fp: float, tn: float, fn: float) -> dict[str, tuple[int, int]]:
    """``(x, n)`` of each proportion metric from confusion-matrix cells (rounded to whole patients)."""
    tp, fp, tn, fn = (int(round(v)) for v in (tp, fp, tn, fn))
    n = tp + fp + tn + fn
    return {"accuracy": (tp + tn, n), "precision": (tp, tp + fp), "recall": (tp, tp + fn),
            "specificity": (tn, tn + fp), "predicted_positive_rate": (tp + fp, n)}


def summarize(
    labels, p, threshold, *, n_resamples: int = 1000, seed: int = 0, alpha: float = 0.05
) -> dict[str, Any]:
    """The ``metrics`` block of ``metrics.json`` for one model.

    Shape: ``{"auroc": {"value": x, "ci": [lo, hi], "ci_method": ..., "undefined_resamples": k},
    "accuracy": {...}, ...}`` for every name of :data:`INTERVAL_METRICS` (plus ``ci_unbounded`` /
    ``value_infinite`` where an end or the estimate is infinite, and the calibration slope's
    ``separated_resamples``), plus ``"n", "events", "tp", "fp", "tn", "fn"`` as plain ints. NaN
    becomes ``None`` (JSON null). At a boundary (a proportion at 0 or 1, AUROC 1) the percentile
    interval is replaced as :func:`clinpred.core.evaluation.intervals.boundary_interval` says. For
    the metrics at 0.5, call again with ``threshold=0.5`` (same seed, hence the same resamples).
    """
    point = binary_metrics(labels, p, threshold)
    stats = bootstrap_statistics(labels, p, threshold, n_resamples=n_resamples, seed=seed)
    props = proportion_counts(point["tp"], point["fp"], point["tn"], point["fn"])
    pairs = min(point["events"], point["n"] - point["events"])
    out: dict[str, Any] = {}
    for name in INTERVAL_METRICS:
        lo, hi, undefined = percentile_interval(stats[name], alpha)
        method = ci_method(name)
        edge = boundary_interval(name, point[name], lo, hi, proportion=props.get(name), auroc_pairs=pairs or None,
                                 alpha=alpha)
        if edge is not None:
            lo, hi, method = edge
        out[name] = interval_entry(point[name], lo, hi, method, undefined)
    out["calibration_slope"]["separated_resamples"] = int(np.isinf(stats["calibration_slope"]).sum())
    for name in COUNT_METRICS:
        out[name] = point[name]
    return out
