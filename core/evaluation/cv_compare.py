"""Paired AUROC comparisons of two cross-validated models on the same splits.

The cross-validated AUC of a repeat is the mean of its K fold AUCs, and the folds hold disjoint
patients, so DeLong's test is applied **per fold** (DeLong, DeLong & Clarke-Pearson 1988) and
combined within a repeat as ``diff_r = mean_f diff_f``, ``var_r = sum_f var_f / K^2``. Over the
repeats, which reuse the same patients, the differences are averaged and so are the standard
errors (an upper bound of the standard error of the average: never too small, unlike pooling
the repeats as if they held different patients). A cluster-bootstrap interval of the same
difference is reported alongside, widened about the difference to the larger of the DeLong and
the fold-to-fold standard errors (SD of a repeat's fold differences / sqrt(K)) where its spread is
smaller: DeLong and the bootstrap hold the fitted fold models fixed and miss the dependence that
refitting creates between folds (see :mod:`clinpred.core.evaluation.cv_estimate`). The p-value is
DeLong's.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from clinpred.core.errors import DataError
from clinpred.core.evaluation.cv_estimate import Fold, fold_to_fold_se, larger_se, widen_to
from clinpred.core.evaluation.delong import delong_test
from clinpred.core.evaluation.metric_kernels import weighted_auroc
from clinpred.core.evaluation.intervals import percentile_interval
from clinpred.core.evaluation.resampling import cluster_weights

CV_DELONG_METHOD = "DeLong per fold, combined over folds, SE averaged over repeats"
CV_DIFF_CI_METHOD = "cluster bootstrap of the difference (percentile; patients stratified by outcome, or whole groups)"
WIDENED_DIFF_NOTE = "; widened about the estimate to the larger of the DeLong and the fold-to-fold standard errors"


def _paired(folds_a: Sequence[Fold], folds_b: Sequence[Fold]) -> list[tuple[Fold, Fold]]:
    if len(folds_a) != len(folds_b):
        raise DataError(f"paired comparison needs the same splits ({len(folds_a)} vs {len(folds_b)} folds)")
    pairs = []
    for a, b in zip(folds_a, folds_b):
        if a.repeat != b.repeat or not np.array_equal(a.index, b.index):
            raise DataError("paired comparison needs the same patients in the same folds")
        pairs.append((a, b))
    return pairs


def cv_delong(labels, folds_a: Sequence[Fold], folds_b: Sequence[Fold], *, clusters: np.ndarray | None = None,
              n_resamples: int = 1000, seed: int = 0, alpha: float = 0.05) -> dict[str, Any]:
    """``{"auroc_difference", "se", "z", "p_value", "ci", "ci_method", "method", "undefined_resamples"}``
    for AUROC(a) - AUROC(b), both cross-validated (mean of fold AUCs, averaged over repeats)."""
    y = np.asarray(labels, dtype=int)
    pairs = _paired(folds_a, folds_b)
    by_repeat: dict[int, list[tuple[float, float]]] = {}
    for a, b in pairs:
        res = delong_test(y[a.index], a.p, b.p)
        by_repeat.setdefault(a.repeat, []).append((res.diff, res.se ** 2))
    diffs, ses = [], []
    for cells in by_repeat.values():
        d = np.array(cells)
        diffs.append(float(d[:, 0].mean()))
        ses.append(math.sqrt(float(d[:, 1].sum())) / len(cells))
    diff, se = float(np.mean(diffs)), float(np.mean(ses))
    if not math.isfinite(diff):
        z = p_value = math.nan
    elif se <= 1e-15:
        z, se = (0.0 if abs(diff) <= 1e-15 else math.copysign(math.inf, diff)), 0.0
        p_value = math.erfc(abs(z) / math.sqrt(2.0))
    else:
        z = diff / se
        p_value = math.erfc(abs(z) / math.sqrt(2.0))
    w = cluster_weights(y, clusters, n_resamples, seed, stratified=True)  # a difference of AUROCs: class-conditional
    boot = np.zeros(n_resamples)
    rep_pairs: dict[int, list[tuple[Fold, Fold]]] = {}
    for a, b in pairs:
        rep_pairs.setdefault(a.repeat, []).append((a, b))
    for cells in rep_pairs.values():
        per_fold = [weighted_auroc(y[a.index], a.p, w[:, a.index]) - weighted_auroc(y[b.index], b.p, w[:, b.index])
                    for a, b in cells]
        boot += np.mean(per_fold, axis=0)
    boot /= len(rep_pairs)
    lo, hi, undefined = percentile_interval(boot, alpha)
    fold_se = fold_to_fold_se([[d for d, _ in cells] for cells in by_repeat.values()])
    lo, hi, widened = widen_to(boot, diff, lo, hi, larger_se(se, fold_se))
    return {"auroc_difference": diff, "se": se, "se_fold_to_fold": fold_se if math.isfinite(fold_se) else None, "z": z,
            "p_value": p_value, "method": CV_DELONG_METHOD,
            "ci": [None if math.isnan(lo) else max(-1.0, lo), None if math.isnan(hi) else min(1.0, hi)],
            "ci_method": CV_DIFF_CI_METHOD + (WIDENED_DIFF_NOTE if widened else ""), "undefined_resamples": undefined}
