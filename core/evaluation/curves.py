"""Curves for the report: ROC points, binned reliability, net benefit (decision curves).

Pure numpy; a patient is predicted positive when ``p >= threshold`` (as everywhere in clinpred).
"""

from __future__ import annotations

import numpy as np

from clinpred.core.evaluation.metric_kernels import check_inputs


def roc_points(labels, p) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rates, true-positive rates) of every cut, from (0, 0) to (1, 1).

    Tied scores make one step (a diagonal segment), as in scikit-learn's ``roc_curve``.
    Requires both classes.
    """
    y, q = check_inputs(labels, p)
    n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC needs both classes")
    order = np.argsort(-q, kind="mergesort")
    qs, ys = q[order], y[order]
    ends = np.concatenate((np.flatnonzero(qs[1:] != qs[:-1]), [qs.size - 1]))
    tp = np.cumsum(ys)[ends]
    fp = (ends + 1) - tp
    return np.concatenate(([0.0], fp / n_neg)), np.concatenate(([0.0], tp / n_pos))


def fold_mean_roc(labels, p, folds, grid: int = 1001) -> tuple[np.ndarray, np.ndarray]:
    """The vertical average of the folds' ROC curves (Fawcett, Pattern Recogn Lett 2006): the mean
    true-positive rate of the folds at each of ``grid`` false-positive rates from 0 to 1.

    Its area is the mean of the fold AUROCs (the cross-validated AUROC) up to the grid's
    resolution, so it is the curve that goes with a fold-mean AUROC; a ROC curve of the pooled
    predictions of several fitted models is not. Folds with one class are left out; each fold's
    curve is linear along ties and takes its highest true-positive rate at a vertical step.
    """
    y, q = check_inputs(labels, p)
    keys = np.asarray(folds, dtype=object)
    fpr_grid = np.linspace(0.0, 1.0, grid)
    tprs = []
    for key in dict.fromkeys(keys.tolist()):
        mask = keys == key
        if y[mask].min() == y[mask].max():
            continue
        fpr, tpr = roc_points(y[mask], q[mask])
        # np.interp takes the last of repeated x values: the top of a vertical step
        tprs.append(np.interp(fpr_grid, fpr, tpr))
    if not tprs:
        raise ValueError("ROC needs both classes in at least one fold")
    return fpr_grid, np.mean(tprs, axis=0)


def reliability_bins(labels, p, n_bins: int = 10) -> list[tuple[float, float, int]]:
    """(mean predicted, observed event rate, patients) per bin of equal size (quantile bins).

    Patients with equal predictions stay in one bin, so there may be fewer than ``n_bins``.
    """
    y, q = check_inputs(labels, p)
    if y.size == 0:
        return []
    order = np.argsort(q, kind="mergesort")
    qs, ys = q[order], y[order]
    cuts = np.unique(np.quantile(qs, np.linspace(0, 1, n_bins + 1)[1:-1]))
    which = np.searchsorted(cuts, qs, side="right")
    out = []
    for b in np.unique(which):
        mask = which == b
        out.append((float(qs[mask].mean()), float(ys[mask].mean()), int(mask.sum())))
    return out


def net_benefit(labels, p, thresholds) -> np.ndarray:
    """Net benefit ``TP/n - FP/n * t / (1 - t)`` of treating patients with ``p >= t``, per ``t``
    (Vickers & Elkin 2006). ``thresholds`` must lie in [0, 1)."""
    y, q = check_inputs(labels, p)
    t = np.asarray(thresholds, dtype=float)
    if np.any((t < 0) | (t >= 1)):
        raise ValueError("decision-curve thresholds must lie in [0, 1)")
    pred = q[None, :] >= t[:, None]
    n = max(y.size, 1)
    tp = (pred & (y[None, :] == 1)).sum(axis=1)
    fp = (pred & (y[None, :] == 0)).sum(axis=1)
    return tp / n - fp / n * t / (1.0 - t)


def treat_all(labels, thresholds) -> np.ndarray:
    """Net benefit of treating everybody: ``prevalence - (1 - prevalence) * t / (1 - t)``."""
    y = np.asarray(labels, dtype=float)
    prev = float(y.mean()) if y.size else 0.0
    t = np.asarray(thresholds, dtype=float)
    return prev - (1.0 - prev) * t / (1.0 - t)
