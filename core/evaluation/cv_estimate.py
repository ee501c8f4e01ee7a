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
above on each resample (percentile interval). With patients as the clusters, the
class-conditional statistics (AUROC, sensitivity, specificity, balanced accuracy, balance gap)
are resampled stratified by outcome and all the others (calibration, Brier, AUPRC, accuracy,
PPV, F1, MCC) without stratification, so the event rate varies between resamples as it does
between samples (:mod:`clinpred.core.evaluation.resampling`); groups are resampled unstratified.
At a boundary (a proportion at 0 or 1, an AUROC of 1) the interval is the exact one of
:mod:`clinpred.core.evaluation.intervals`. For AUROC there is also the **influence-curve interval** of LeDell et al.: per fold,
``IC_i = (F0(s_i) - AUC_f) / pi1`` for a positive and ``(1 - F1(s_i) - AUC_f) / pi0`` for a
negative (``F0``, ``F1``: share of the fold's negatives below / positives above the score, ties
counting one half; ``pi1``, ``pi0``: class shares of the whole data), ``var = mean_f mean_i
IC_i^2 / n`` (ICs summed within a group before squaring, as ``ci.pooled.cvAUC``), with one
small-sample correction: within a fold, the squared ICs of each class are scaled by
``m_f / (m_f - 1)`` (``m_f``: the fold's patients of that class; groups: ``G_f / (G_f - 1)``), so a
fold's variance is DeLong's with the unbiased (n - 1) variance of the placements instead of the
first-order one, which folds of 60 patients (~20 events) underestimate by about 4%. Over repeats
the standard errors are averaged, which can only overstate the standard error of the averaged
estimate (the SD of a mean is at most the mean of the SDs), so the interval never undercovers
because of the repeats.

Both the bootstrap and the influence curve hold the fitted fold models fixed, and so miss the
dependence between folds that refitting creates: each fold's model was trained on the other folds'
test patients (Bates, Hastie & Tibshirani, JASA 2023: the naive CV standard error is too small).
Measured by ``benchmarks/bench_coverage.py``, they cover 0.93-0.94 where LASSO is refitted per fold
and 0.95 where the fitting does not vary. The fold-to-fold standard error (the SD of a repeat's
fold AUCs / sqrt(K), ESL 7.10; averaged over repeats) sees the model-to-model variation but has
only K - 1 degrees of freedom. The cluster-bootstrap interval of the AUROC is therefore widened
about the estimate to the **larger** of the two standard errors where its own spread is smaller.
Measured (README, "Do the intervals reach 95%?"): 0.937 where LASSO is refitted (0.931 before),
0.962 where the fitting does not vary. Two variances that refit were measured on the same cohorts
and not adopted (``benchmarks/bench_refit_variance.py``): nested CV on the run's own splits is too
noisy with a run's few repetitions, and the grouped jackknife of the whole cross-validation
overstates the variance about 1.8-fold. Reaching 95% for refitted models needs an estimator of the
refitting covariance that is accurate with a run's own fits.

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
from clinpred.core.evaluation.intervals import boundary_interval, interval_entry, percentile_interval
from clinpred.core.evaluation.metrics import COUNT_METRICS, INTERVAL_METRICS, MARGINAL_METRICS, _all_metrics, proportion_counts
from clinpred.core.evaluation.resampling import CLASS_CONDITIONAL, cluster_weights  # noqa: F401  (re-exported)

#: ``ci_method`` of the cross-validation intervals: the estimator, per-metric methods
_AUROC_WIDENED = ("; the AUROC's widened about the estimate to the larger of the influence-curve and fold-to-fold "
                  "standard errors where its spread is smaller")
CV_CI_METHOD = ("patient-level cluster bootstrap (percentile), statistic per repeat then averaged: stratified by "
                "outcome for AUROC, sensitivity, specificity, balanced accuracy and balance gap, unstratified for "
                "the others" + _AUROC_WIDENED)
CV_GROUP_CI_METHOD = "group-level cluster bootstrap (percentile), statistic per repeat then averaged" + _AUROC_WIDENED
CV_STRATIFIED_METHOD = ("patient-level cluster bootstrap stratified by outcome (percentile), statistic per repeat "
                        "then averaged")
CV_PATIENT_METHOD = "patient-level cluster bootstrap, unstratified (percentile), statistic per repeat then averaged"
IC_CI_METHOD = ("influence curve of the cross-validated AUC (LeDell et al. 2015), each class's variance per fold "
                "with the n/(n - 1) small-sample factor, SE averaged over repeats")
#: added to the AUROC's ``ci_method`` when the bootstrap interval was widened to the IC's standard error
WIDENED_NOTE = ("; widened about the estimate to the larger of the influence-curve and the fold-to-fold standard "
                "errors")
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


def _repeat_statistics(y: np.ndarray, folds: list[Fold], w: np.ndarray, threshold: float | None,
                       names: tuple[str, ...] = INTERVAL_METRICS) -> dict[str, np.ndarray]:
    """The metrics ``names`` of one repeat for each row of the patient weights ``w`` (B, n_patients)."""
    idx = np.concatenate([f.index for f in folds])
    p = np.concatenate([f.p for f in folds])
    thr = np.concatenate([np.broadcast_to(f.threshold if threshold is None else threshold, f.p.shape) for f in folds])
    pooled_names = tuple(n for n in names if n not in FOLD_METRICS)
    out = _all_metrics(y[idx], p, p >= thr, w[:, idx], pooled_names)
    for name, kernel in (("auroc", weighted_auroc), ("auprc", weighted_average_precision)):
        if name in names:
            out[name] = np.mean([kernel(y[f.index], f.p, w[:, f.index]) for f in folds], axis=0)
    if "calibration_slope" in names and all(f.constant for f in folds):  # no ranking within any fold
        out["calibration_slope"] = np.full(w.shape[0], np.nan)
    return out


def _statistics(y: np.ndarray, repeats: dict[int, list[Fold]], w: np.ndarray, threshold: float | None,
                names: tuple[str, ...] = INTERVAL_METRICS) -> dict[str, np.ndarray]:
    per = [_repeat_statistics(y, folds, w, threshold, names) for folds in repeats.values()]
    return {name: np.mean([r[name] for r in per], axis=0) for name in names}


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


def _group_proportions(y: np.ndarray, repeats: dict[int, list[Fold]], clusters: np.ndarray,
                       threshold: float | None) -> dict[str, tuple[int, int]]:
    """``(x, n)`` of each proportion metric counted in groups (first repeat): ``n`` the groups among
    the metric's denominator patients, ``x`` those whose patients are all successes. Used at a
    boundary only, where every patient of the denominator is a success (or none is)."""
    folds = next(iter(repeats.values()))
    idx = np.concatenate([f.index for f in folds])
    p = np.concatenate([f.p for f in folds])
    thr = np.concatenate([np.broadcast_to(f.threshold if threshold is None else threshold, f.p.shape) for f in folds])
    label, pred, group = y[idx] == 1, p >= thr, clusters[idx]

    def count(denominator: np.ndarray, success: np.ndarray) -> tuple[int, int]:
        groups = np.unique(group[denominator])
        failed = np.unique(group[denominator & ~success])
        return int(groups.size - failed.size), int(groups.size)

    everyone = np.ones(idx.size, dtype=bool)
    return {"accuracy": count(everyone, label == pred), "precision": count(pred, label),
            "recall": count(label, pred), "specificity": count(~label, ~pred),
            "predicted_positive_rate": count(everyone, pred)}


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


def _small_sample_factor(y: np.ndarray) -> np.ndarray:
    """Per patient: ``m / (m - 1)`` for the fold's ``m`` patients of its class (1 for a class of one)."""
    m = np.array([float((y == 0).sum()), float((y == 1).sum())])
    factor = np.divide(m, m - 1.0, out=np.ones(2), where=m > 1)
    return factor[y.astype(int)]


def larger_se(*ses: float) -> float:
    """The largest finite standard error (NaN when none is finite)."""
    finite = [s for s in ses if math.isfinite(s)]
    return max(finite) if finite else math.nan


def widen_to(values: np.ndarray, value: float, lo: float, hi: float, se: float) -> tuple[float, float, bool]:
    """``(lo, hi, widened)``: the percentile interval scaled about ``value`` so that the spread of the
    resamples (their SD) is at least ``se``; unchanged where it already is, or without finite ends."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2 or not all(math.isfinite(x) for x in (value, lo, hi, se)):
        return lo, hi, False
    sd = float(np.std(v, ddof=1))
    if sd <= 0.0 or se <= sd:
        return lo, hi, False
    c = se / sd
    return value - c * (value - lo), value + c * (hi - value), True


def fold_to_fold_se(per_repeat: Sequence[Sequence[float]]) -> float:
    """The standard error of a fold mean from the spread of its folds: ``SD_f(x) / sqrt(K)`` per
    repeat (``K`` >= 2 finite values), averaged over the repeats; NaN when no repeat has two folds."""
    ses = []
    for values in per_repeat:
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        if v.size >= 2:
            ses.append(float(np.std(v, ddof=1)) / math.sqrt(v.size))
    return float(np.mean(ses)) if ses else math.nan


def influence_curve_ci(labels: np.ndarray, folds: Sequence[Fold], clusters: np.ndarray | None = None,
                       alpha: float = 0.05) -> dict[str, float]:
    """The cvAUC influence-curve interval: ``{"value", "se", "lo", "hi", "fold_se"}`` (truncated to
    [0, 1]); ``fold_se`` is :func:`fold_to_fold_se` of the fold AUCs."""
    from scipy.stats import norm

    y = np.asarray(labels, dtype=int)
    pi1 = float(y.mean())
    pi0 = 1.0 - pi1
    values, ses, fold_aucs = [], [], []
    for rep_folds in _by_repeat(folds).values():
        aucs, sq = [], []
        n_units = 0
        for f in rep_folds:
            yf = y[f.index]
            auc, ic = fold_influence(yf, f.p, pi1, pi0)
            aucs.append(auc)
            if clusters is None:
                sq.append(np.mean(_small_sample_factor(yf) * ic**2))
            else:
                cl = np.asarray(clusters)[f.index]
                codes, inv = np.unique(cl, return_inverse=True)
                taubar = f.index.size / codes.size
                g = codes.size
                sq.append(np.mean((np.bincount(inv, weights=ic) / taubar) ** 2) * (g / (g - 1) if g > 1 else 1.0))
        n_units = np.unique(np.concatenate([f.index for f in rep_folds])).size if clusters is None else \
            np.unique(np.asarray(clusters)[np.concatenate([f.index for f in rep_folds])]).size
        values.append(float(np.mean(aucs)))
        ses.append(math.sqrt(float(np.mean(sq)) / n_units))
        fold_aucs.append(aucs)
    value, se = float(np.mean(values)), float(np.mean(ses))
    z = float(norm.ppf(1.0 - alpha / 2.0))
    fold_se = fold_to_fold_se(fold_aucs)
    if not (math.isfinite(value) and math.isfinite(se)):
        return {"value": math.nan, "se": math.nan, "lo": math.nan, "hi": math.nan, "fold_se": fold_se}
    return {"value": value, "se": se, "lo": max(0.0, value - z * se), "hi": min(1.0, value + z * se),
            "fold_se": fold_se}


def bootstrap_statistics(y: np.ndarray, repeats: dict[int, list[Fold]], clusters: np.ndarray | None, *,
                         n_resamples: int, seed: int, threshold: float | None = None) -> dict[str, np.ndarray]:
    """Every metric of :data:`INTERVAL_METRICS` on each cluster-bootstrap resample ``(B,)``:
    with patients as clusters, :data:`CLASS_CONDITIONAL` metrics stratified by outcome and the
    others unstratified; with ``clusters``, whole groups for all."""
    designs = ((INTERVAL_METRICS, False),) if clusters is not None else (
        (CLASS_CONDITIONAL, True), (MARGINAL_METRICS, False))
    rows = sum(f.index.size for rep in repeats.values() for f in rep)
    chunk = max(1, _CHUNK_CELLS // max(rows, 1))
    out: dict[str, np.ndarray] = {}
    for names, stratified in designs:
        w = cluster_weights(y, clusters, n_resamples, seed, stratified=stratified)
        parts = [_statistics(y, repeats, w[i : i + chunk], threshold, names) for i in range(0, n_resamples, chunk)]
        out.update({name: np.concatenate([part[name] for part in parts]) for name in names})
    return out


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
    boot = bootstrap_statistics(y, repeats, clusters, n_resamples=n_resamples, seed=seed, threshold=threshold)
    counts = _counts(y, repeats, threshold)
    props = proportion_counts(counts["tp"], counts["fp"], counts["tn"], counts["fn"]) if clusters is None else \
        _group_proportions(y, repeats, np.asarray(clusters), threshold)
    pairs = None if clusters is not None else min(
        sum(min(int(y[f.index].sum()), int(f.index.size - y[f.index].sum())) for f in rep) for rep in repeats.values())
    out: dict[str, Any] = {}
    for name in INTERVAL_METRICS:
        value = float(point[name][0])
        lo, hi, undefined = percentile_interval(boot[name], alpha)
        method = CV_GROUP_CI_METHOD if clusters is not None else (
            CV_STRATIFIED_METHOD if name in CLASS_CONDITIONAL else CV_PATIENT_METHOD)
        edge = boundary_interval(name, value, lo, hi, proportion=props.get(name), auroc_pairs=pairs or None,
                                 alpha=alpha)
        if edge is not None:
            lo, hi, method = edge
        out[name] = interval_entry(value, lo, hi, method, undefined)
    out["calibration_slope"]["separated_resamples"] = int(np.isinf(boot["calibration_slope"]).sum())
    ic = influence_curve_ci(y.astype(int), folds, clusters, alpha)
    auroc = out["auroc"]
    if auroc["value"] is not None and None not in auroc["ci"] and "bootstrap" in auroc["ci_method"]:
        lo, hi, widened = widen_to(boot["auroc"], auroc["value"], *auroc["ci"], larger_se(ic["se"], ic["fold_se"]))
        if widened:
            auroc["ci"] = [max(0.0, lo), min(1.0, hi)]
            auroc["ci_method"] += WIDENED_NOTE
    out["auroc"]["ci_influence_curve"] = [_json(ic["lo"]), _json(ic["hi"])]
    out["auroc"]["se_influence_curve"] = _json(ic["se"])
    out["auroc"]["se_fold_to_fold"] = _json(ic["fold_se"])
    out["auroc"]["ci_influence_curve_method"] = IC_CI_METHOD
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
