"""Vectorised metric kernels over a batch of case weights.

Every kernel takes the labels ``y`` (0/1, shape ``(n,)``), the scores ``p`` (shape ``(n,)``) and a
weight matrix ``w`` of shape ``(B, n)``: row ``b`` gives how often each patient counts in
resample ``b`` (a bootstrap resample is a vector of multiplicities). The point estimate is the
single row ``w = ones((1, n))``. Using the same kernels for the point estimate and for the
bootstrap keeps the two consistent; the point estimates are tested against scikit-learn.

Zero-division convention (the same as scikit-learn's ``zero_division=0``): a rate whose
denominator is zero is 0.0, e.g. precision with no predicted positive, recall with no positive,
specificity with no negative, F1 with no positive and no predicted positive, MCC when any
margin of the confusion matrix is empty. Quantities that are undefined rather than zero
(AUROC with one class present, average precision with no positive) are NaN.
"""

from __future__ import annotations

import numpy as np

from clinpred.core.errors import DataError

#: the threshold-dependent rates computed from a confusion matrix, in output order
CONFUSION_RATES = (
    "accuracy",
    "precision",
    "recall",
    "specificity",
    "f1",
    "balance_gap",
    "balanced_accuracy",
    "mcc",
    "predicted_positive_rate",
)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise, 0.0 where den == 0 (scikit-learn's zero_division=0)."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den != 0)
    return out


def confusion_rates(tp, fp, tn, fn) -> dict[str, np.ndarray]:
    """The rates of :data:`CONFUSION_RATES` from (arrays of) confusion-matrix cells.

    Cells may be fractional (weighted counts). Returns float arrays of the broadcast shape.
    """
    tp, fp, tn, fn = (np.asarray(x, dtype=float) for x in (tp, fp, tn, fn))
    n = tp + fp + tn + fn
    recall = _ratio(tp, tp + fn)
    specificity = _ratio(tn, tn + fp)
    margins = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    mcc = _ratio(tp * tn - fp * fn, np.sqrt(margins))
    return {
        "accuracy": _ratio(tp + tn, n),
        "precision": _ratio(tp, tp + fp),
        "recall": recall,
        "specificity": specificity,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "balance_gap": np.abs(recall - specificity),
        "balanced_accuracy": (recall + specificity) / 2,
        "mcc": mcc,
        "predicted_positive_rate": _ratio(tp + fp, n),
    }


def weighted_confusion(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """(tp, fp, tn, fn), each of shape ``(B,)``, from 0/1 labels and 0/1 predictions."""
    y = y.astype(bool)
    pred = pred.astype(bool)
    tp = w @ (y & pred).astype(float)
    fp = w @ (~y & pred).astype(float)
    tn = w @ (~y & ~pred).astype(float)
    fn = w @ (y & ~pred).astype(float)
    return tp, fp, tn, fn


def weighted_brier(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Brier score (mean squared error of the probability) per row of ``w``."""
    total = w.sum(axis=1)
    return _ratio(w @ (p - y) ** 2, total)


def _tie_groups(sorted_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) position of each run of equal values in a sorted array."""
    n = sorted_scores.size
    change = np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [n]))
    return starts, ends


def weighted_auroc(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Area under the ROC curve per row of ``w`` (Mann-Whitney form, ties count one half).

    One sort of ``p`` serves all rows: for each positive, the weight of the negatives scored
    strictly lower plus half the weight of the negatives tied with it. O(B * n) after the sort.
    NaN for a row whose positive or negative weight is zero.
    """
    order = np.argsort(p, kind="mergesort")
    ys = y[order].astype(bool)
    ws = w[:, order]
    starts, ends = _tie_groups(p[order])
    neg_w = np.where(ys, 0.0, ws)
    cum = np.concatenate((np.zeros((ws.shape[0], 1)), np.cumsum(neg_w, axis=1)), axis=1)
    below = cum[:, starts]  # negative weight strictly below each tie group
    tied = cum[:, ends] - below  # negative weight inside each tie group
    group = np.repeat(np.arange(starts.size), ends - starts)  # tie group of each sorted position
    pos_idx = np.flatnonzero(ys)
    credit = below[:, group[pos_idx]] + 0.5 * tied[:, group[pos_idx]]
    num = np.einsum("bi,bi->b", ws[:, pos_idx], credit)
    pos_total = ws[:, pos_idx].sum(axis=1)
    neg_total = cum[:, -1]
    den = pos_total * neg_total
    out = np.full(ws.shape[0], np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def weighted_average_precision(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Average precision (scikit-learn's definition: sum of (R_k - R_k-1) * P_k over the
    distinct score thresholds, descending) per row of ``w``. NaN when a row has no positive."""
    order = np.argsort(-p, kind="mergesort")
    ys = y[order].astype(float)
    ws = w[:, order]
    _, ends = _tie_groups(-p[order])
    tp = np.cumsum(ws * ys, axis=1)[:, ends - 1]
    fp = np.cumsum(ws * (1.0 - ys), axis=1)[:, ends - 1]
    pos_total = tp[:, -1]
    precision = _ratio(tp, tp + fp)
    d_tp = np.diff(np.concatenate((np.zeros((tp.shape[0], 1)), tp), axis=1), axis=1)
    num = np.einsum("bk,bk->b", d_tp, precision)
    out = np.full(ws.shape[0], np.nan)
    np.divide(num, pos_total, out=out, where=pos_total > 0)
    return out


def check_inputs(
    labels, p, *, allow_empty: bool = False, probabilities: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert labels (0/1 or bool) and probabilities (finite, in [0, 1]; any
    finite score if ``probabilities`` is false).

    Returns ``(y, p)`` as float arrays of equal length. Raises :class:`DataError` otherwise.
    """
    y = np.asarray(labels)
    q = np.asarray(p, dtype=float)
    if y.ndim != 1 or q.ndim != 1 or y.shape != q.shape:
        raise DataError(
            f"labels and probabilities must be 1-D and of equal length (got shapes {y.shape} "
            f"and {q.shape})"
        )
    if y.size == 0 and not allow_empty:
        raise DataError("no patients to evaluate: labels and probabilities are empty")
    if y.dtype == bool:
        y = y.astype(float)
    else:
        try:
            y = y.astype(float)
        except (TypeError, ValueError):
            raise DataError("labels must be 0/1 or booleans") from None
        if not np.isin(y, (0.0, 1.0)).all():
            raise DataError("labels must be 0/1 or booleans (found other values)")
    if not np.isfinite(q).all():
        raise DataError("scores must be finite (found NaN or infinity)")
    if probabilities and ((q < 0).any() or (q > 1).any()):
        raise DataError("probabilities must be within [0, 1]")
    return y, q
