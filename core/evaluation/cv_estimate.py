"""Repeated cross-validation estimates with intervals that respect who the patients are.

With ``--cv K --repeats R`` each patient is in the test part once per repeat, so pooling all
test predictions counts every patient R times (intervals about sqrt(R) too narrow), and pooling
across folds mixes K different fitted models (a constant per fold gets AUROC != 0.5). Here:

- **ranking metrics** (AUROC, average precision) are computed per fold and averaged over the
  folds of a repeat: the cross-validated AUC of LeDell, Petersen & van der Laan (Electron J Stat
  2015;9:1583-1607), the estimand of R's ``cvAUC``;
- **calibration, Brier and threshold metrics** are computed on the repeat's out-of-fold
  predictions (each patient once, each classified at its own fold's threshold);
- both are then averaged over the repeats.

Intervals come from a **cluster bootstrap**: patients (or, with a ``group_column``, groups) are
resampled and carry all their rows in every repeat; the statistic is recomputed exactly as
above on each resample (percentile interval; stratified by outcome when the clusters are
patients). For AUROC there is also the **influence-curve interval** of LeDell et al.: per fold,
``IC_i = (F0(s_i) - AUC_f) / pi1`` for a positive and ``(1 - F1(s_i) - AUC_f) / pi0`` for a
negative (``F0``, ``F1``: share of the fold's negatives below / positives above the score, ties
counting one half; ``pi1``, ``pi0``: class shares of the whole data), ``var = mean_f mean_i
IC_i^2 / n`` (ICs summed within a group before squaring, as ``ci.pooled.cvAUC``). Over repeats
the standard errors are averaged, which can only overstate the standard error of the averaged
estimate (the SD of a mean is at most the mean of the SDs), so the interval never undercovers
because of the repeats.

A model whose scores are constant within every fold (the majority baseline) has AUROC exactly
0.5 and no calibration slope.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from attrs import define, field

from clinpred.core.errors import DataError
from clinpred.core.evaluation.metric_kernels import weighted_auroc, weighted_average_precision, weighted_confusion
from clinpred.core.evaluation.metrics import (
    COUNT_METRICS,
    INTERVAL_METRICS,
    _all_metrics,
    bootstrap_weights,
    percentile_interval,
)

#: ``ci_method`` of the cross-validation intervals
CV_CI_METHOD = "patient-level cluster bootstrap (percentile), statistic per repeat then averaged"
CV_GROUP_CI_METHOD = "group-level cluster bootstrap (percentile), statistic per repeat then averaged"
IC_CI_METHOD = "influence curve of the cross-validated AUC (LeDell et al. 2015), SE averaged over repeats"
#: metrics computed per fold and averaged over folds
FOLD_METRICS = ("auroc", "auprc")
_CHUNK_CELLS = 2_000_000


def _array(value: Any) -> np.ndarray:
    return np.asarray(value)


@define(frozen=True, eq=False)
class Fold:
    """The test part of one split: patient rows, scores, threshold(s), and its repeat."""

    repeat: int
    index: np.ndarray = field(converter=lambda v: np.asarray(v, dtype=int))
    p: np.ndarray = field(converter=lambda v: np.asarray(v, dtype=float))
    threshold: np.ndarray = field(converter=lambda v: np.asarray(v, dtype=float))

    def __attrs_post_init__(self) -> None:
        if self.index.shape != self.p.shape or self.threshold.ndim not in (0, 1):
            raise DataError(f"fold of repeat {self.repeat}: {self.index.size} patients but {self.p.size} scores")

    @property
    def constant(self) -> bool:
        return bool(self.p.size == 0 or np.ptp(self.p) == 0.0)


def _by_repeat(folds: Sequence[Fold]) -> dict[int, list[Fold]]:
    out: dict[int, list[Fold]] = {}
    for f in folds:
        out.setdefault(f.repeat, []).append(f)
    return dict(sorted(out.items()))


def _repeat_statistics(y: np.ndarray, folds: list[Fold], w: np.ndarray, threshold: float | None) -> dict[str, np.ndarray]:
    """Every metric of one repeat for each row of the patient weights ``w`` (B, n_patients)."""
    idx = np.concatenate([f.index for f in folds])
    p = np.concatenate([f.p for f in folds])
    thr = np.concatenate([np.broadcast_to(f.threshold if threshold is None else threshold, f.p.shape) for f in folds])
    out = _all_metrics(y[idx], p, p >= thr, w[:, idx])
    for name, kernel in (("auroc", weighted_auroc), ("auprc", weighted_average_precision)):
        out[name] = np.mean([kernel(y[f.index], f.p, w[:, f.index]) for f in folds], axis=0)
    if all(f.constant for f in folds):  # no ranking within any fold: the slope does not exist
        out["calibration_slope"] = np.full(w.shape[0], np.nan)
    return out


def _statistics(y: np.ndarray, repeats: dict[int, list[Fold]], w: np.ndarray, threshold: float | None) -> dict[str, np.ndarray]:
    per = [_repeat_statistics(y, folds, w, threshold) for folds in repeats.values()]
    return {name: np.mean([r[name] for r in per], axis=0) for name in INTERVAL_METRICS}


def cluster_weights(labels: np.ndarray, clusters: np.ndarray | None, n_resamples: int, seed: int) -> np.ndarray:
    """Patient multiplicities ``(B, n)`` of a cluster bootstrap: patients stratified by outcome
    (``clusters`` None; the same draws as the hold-out bootstrap), else whole clusters drawn
    with replacement, each patient counting as often as its cluster was drawn."""
    if clusters is None:
        return bootstrap_weights(labels, n_resamples, seed)
    codes, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(codes.size, np.full(codes.size, 1.0 / codes.size), size=n_resamples)
    return draws[:, inverse].astype(float)


def _json(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _counts(y: np.ndarray, repeats: dict[int, list[Fold]], threshold: float | None) -> dict[str, int]:
    cells = []
    for folds in repeats.values():
        idx = np.concatenate([f.index for f in folds])
        p = np.concatenate([f.p for f in folds])
        thr = np.concatenate([np.broadcast_to(f.threshold if threshold is None else threshold, f.p.shape) for f in folds])
        cells.append([float(c[0]) for c in weighted_confusion(y[idx], p >= thr, np.ones((1, idx.size)))])
    tp, fp, tn, fn = (int(round(v)) for v in np.mean(cells, axis=0))
    patients = np.unique(np.concatenate([f.index for f in next(iter(repeats.values()))]))
    return {"n": int(patients.size), "events": int(y[patients].sum()), "tp": tp, "fp": fp, "tn": tn, "fn": fn}


def fold_influence(y: np.ndarray, p: np.ndarray, pi1: float, pi0: float) -> tuple[float, np.ndarray]:
    """``(AUC, IC)`` of one fold: its AUROC and the influence-curve value of each patient."""
    pos, neg = y == 1, y == 0
    if not pos.any() or not neg.any():
        return math.nan, np.full(y.size, np.nan)
    sp, sn = p[pos], p[neg]
    below = (np.searchsorted(np.sort(sn), p, side="left") + np.searchsorted(np.sort(sn), p, side="right")) / 2.0
    above = sp.size - (np.searchsorted(np.sort(sp), p, side="left") + np.searchsorted(np.sort(sp), p, side="right")) / 2.0
    auc = float(below[pos].mean() / sn.size)
    ic = np.where(pos, (below / sn.size - auc) / pi1, (above / sp.size - auc) / pi0)
    return auc, ic


def influence_curve_ci(labels: np.ndarray, folds: Sequence[Fold], clusters: np.ndarray | None = None,
                       alpha: float = 0.05) -> dict[str, float]:
    """The cvAUC influence-curve interval: ``{"value", "se", "lo", "hi"}`` (truncated to [0, 1])."""
    from scipy.stats import norm

    y = np.asarray(labels, dtype=int)
    pi1 = float(y.mean())
    pi0 = 1.0 - pi1
    values, ses = [], []
    for rep_folds in _by_repeat(folds).values():
        aucs, sq = [], []
        n_units = 0
        for f in rep_folds:
            auc, ic = fold_influence(y[f.index], f.p, pi1, pi0)
            aucs.append(auc)
            if clusters is None:
                sq.append(np.mean(ic**2))
            else:
                cl = np.asarray(clusters)[f.index]
                codes, inv = np.unique(cl, return_inverse=True)
                taubar = f.index.size / codes.size
                sq.append(np.mean((np.bincount(inv, weights=ic) / taubar) ** 2))
        n_units = np.unique(np.concatenate([f.index for f in rep_folds])).size if clusters is None else \
            np.unique(np.asarray(clusters)[np.concatenate([f.index for f in rep_folds])]).size
        values.append(float(np.mean(aucs)))
        ses.append(math.sqrt(float(np.mean(sq)) / n_units))
    value, se = float(np.mean(values)), float(np.mean(ses))
    z = float(norm.ppf(1.0 - alpha / 2.0))
    if not (math.isfinite(value) and math.isfinite(se)):
        return {"value": math.nan, "se": math.nan, "lo": math.nan, "hi": math.nan}
    return {"value": value, "se": se, "lo": max(0.0, value - z * se), "hi": min(1.0, value + z * se)}


def cv_summarize(labels, folds: Sequence[Fold], *, clusters: np.ndarray | None = None, n_resamples: int = 1000,
                 seed: int = 0, alpha: float = 0.05, threshold: float | None = None) -> dict[str, Any]:
    """The ``metrics`` block of a cross-validated model (same shape as the hold-out's).

    ``threshold`` None classifies each fold at its own threshold; a number (0.5) at that one.
    ``clusters`` (one code per patient row of ``labels``) makes the bootstrap resample groups.
    """
    y = np.asarray(labels, dtype=float)
    repeats = _by_repeat(folds)
    if not repeats:
        raise DataError("no cross-validation fold to evaluate")
    point = _statistics(y, repeats, np.ones((1, y.size)), threshold)
    w_all = cluster_weights(y, clusters, n_resamples, seed)
    rows = sum(f.index.size for f in folds)
    chunk = max(1, _CHUNK_CELLS // max(rows, 1))
    parts = [_statistics(y, repeats, w_all[i : i + chunk], threshold) for i in range(0, n_resamples, chunk)]
    method = CV_CI_METHOD if clusters is None else CV_GROUP_CI_METHOD
    out: dict[str, Any] = {}
    for name in INTERVAL_METRICS:
        lo, hi, undefined = percentile_interval(np.concatenate([part[name] for part in parts]), alpha)
        out[name] = {"value": _json(float(point[name][0])), "ci": [_json(lo), _json(hi)],
                     "ci_method": method, "undefined_resamples": undefined}
    ic = influence_curve_ci(y.astype(int), folds, clusters, alpha)
    out["auroc"]["ci_influence_curve"] = [_json(ic["lo"]), _json(ic["hi"])]
    out["auroc"]["se_influence_curve"] = _json(ic["se"])
    out["auroc"]["ci_influence_curve_method"] = IC_CI_METHOD
    counts = _counts(y, repeats, threshold)
    for name in COUNT_METRICS:
        out[name] = counts[name]
    return out


def per_repeat(labels, folds: Sequence[Fold]) -> dict[str, dict[str, float | None]]:
    """Point estimates of each repeat (``"r0"``, ``"r1"``, ...): the spread over repeats."""
    y = np.asarray(labels, dtype=float)
    out = {}
    for r, rep_folds in _by_repeat(folds).items():
        stats = _repeat_statistics(y, rep_folds, np.ones((1, y.size)), None)
        out[f"r{r}"] = {name: _json(float(stats[name][0])) for name in INTERVAL_METRICS}
    return out
