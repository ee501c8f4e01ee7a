"""Logistic recalibration: calibration intercept and slope (Cox 1958; Van Calster et al. 2016).

With ``lp = logit(p)`` (``p`` clipped to ``[1e-6, 1 - 1e-6]``):

- **slope**: the coefficient ``b`` of the unpenalised logistic regression ``y ~ a + b * lp``
  (1 for a well-calibrated model, < 1 when predictions are too extreme / overconfident);
- **intercept** (calibration-in-the-large): ``a`` in ``y ~ a + offset(lp)``, i.e. the slope fixed at
  1 (0 when the mean prediction matches the event rate, > 0 when risks are underestimated).

Both are fitted by Newton-Raphson, batched over rows of case weights (bootstrap resamples). A
fit that does not exist is NaN: one class present, constant predictions (the slope is not
identifiable, e.g. the majority-class model; its intercept still is), or a fit that does not
converge in ``max_iter`` steps, or logit(p) separating the classes (complete or quasi-complete
separation: the slope's estimate is infinite).
"""

from __future__ import annotations

import numpy as np

CLIP = 1e-6


def _expit(x: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(x)


def logit_clipped(p: np.ndarray) -> np.ndarray:
    """logit(p) with p clipped to [1e-6, 1 - 1e-6]."""
    q = np.clip(np.asarray(p, dtype=float), CLIP, 1.0 - CLIP)
    return np.log(q) - np.log1p(-q)


def _both_classes(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (w @ y > 0) & (w @ (1.0 - y) > 0)


def calibration_intercept(
    y: np.ndarray, p: np.ndarray, w: np.ndarray, *, max_iter: int = 100, tol: float = 1e-10
) -> np.ndarray:
    """Calibration-in-the-large ``a`` of ``y ~ a + offset(logit p)`` per row of ``w`` (shape (B,))."""
    y = np.asarray(y, dtype=float)
    lp = logit_clipped(p)
    a = np.zeros(w.shape[0])
    converged = np.zeros(w.shape[0], dtype=bool)
    for _ in range(max_iter):
        mu = _expit(a[:, None] + lp[None, :])
        grad = np.einsum("bi,bi->b", w, y[None, :] - mu)
        hess = np.einsum("bi,bi->b", w, mu * (1.0 - mu))
        step = np.zeros_like(a)
        np.divide(grad, hess, out=step, where=hess > 0)
        step = np.clip(step, -10.0, 10.0)
        a = a + np.where(converged, 0.0, step)
        converged |= np.abs(step) < tol
        if converged.all():
            break
    ok = converged & _both_classes(y, w) & np.isfinite(a)
    return np.where(ok, a, np.nan)


def calibration_slope(
    y: np.ndarray, p: np.ndarray, w: np.ndarray, *, max_iter: int = 100, tol: float = 1e-10
) -> np.ndarray:
    """Slope ``b`` of the logistic regression ``y ~ a + b * logit(p)`` per row of ``w`` (shape (B,))."""
    y = np.asarray(y, dtype=float)
    lp = logit_clipped(p)
    b_rows = w.shape[0]
    a = np.zeros(b_rows)
    b = np.ones(b_rows)
    converged = np.zeros(b_rows, dtype=bool)
    # the slope is identifiable only if lp varies within the resample
    total = w.sum(axis=1)
    mean_lp = np.divide(w @ lp, total, out=np.zeros(b_rows), where=total > 0)
    spread = np.einsum("bi,bi->b", w, (lp[None, :] - mean_lp[:, None]) ** 2)
    identifiable = spread > 1e-12 * np.maximum(total, 1.0)
    for _ in range(max_iter):
        mu = _expit(a[:, None] + b[:, None] * lp[None, :])
        r = w * (y[None, :] - mu)
        v = w * mu * (1.0 - mu)
        g0, g1 = r.sum(axis=1), r @ lp
        h00, h01, h11 = v.sum(axis=1), v @ lp, v @ (lp * lp)
        det = h00 * h11 - h01 * h01
        good = det > 1e-300
        safe = np.where(good, det, 1.0)
        da = np.where(good, (h11 * g0 - h01 * g1) / safe, 0.0)
        db = np.where(good, (h00 * g1 - h01 * g0) / safe, 0.0)
        size = np.maximum(np.abs(da), np.abs(db))
        scale = np.where(size > 10.0, 10.0 / np.maximum(size, 1e-300), 1.0)  # damp wild steps
        frozen = converged | ~good
        a = a + np.where(frozen, 0.0, scale * da)
        b = b + np.where(frozen, 0.0, scale * db)
        converged |= good & (size < tol)
        if (converged | ~good).all():
            break
    ok = converged & identifiable & ~_separated(y, lp, w) & np.isfinite(b)
    return np.where(ok, b, np.nan)


def _separated(y: np.ndarray, lp: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Rows where logit(p) separates the classes (completely or quasi-completely), or one class
    is absent: the slope's maximum-likelihood estimate is then infinite or undefined."""
    present = w > 0
    pos = present & (y[None, :] == 1)
    neg = present & (y[None, :] == 0)
    lp_row = np.broadcast_to(lp, w.shape)
    min_pos = np.where(pos, lp_row, np.inf).min(axis=1)
    max_pos = np.where(pos, lp_row, -np.inf).max(axis=1)
    min_neg = np.where(neg, lp_row, np.inf).min(axis=1)
    max_neg = np.where(neg, lp_row, -np.inf).max(axis=1)
    return (max_neg <= min_pos) | (max_pos <= min_neg)
