"""Logistic recalibration: calibration intercept and slope (Cox 1958; Van Calster et al. 2016).

With ``lp = logit(p)`` (``p`` clipped to ``[1e-6, 1 - 1e-6]``):

- **slope**: the coefficient ``b`` of the unpenalised logistic regression ``y ~ a + b * lp``
  (1 for a well-calibrated model, < 1 when predictions are too extreme / overconfident);
- **intercept** (calibration-in-the-large): ``a`` in ``y ~ a + offset(lp)``, i.e. the slope fixed at
  1 (0 when the mean prediction matches the event rate, > 0 when risks are underestimated).

Both are fitted by Newton-Raphson, batched over rows of case weights (bootstrap resamples); the
slope's fit starts at the null model and halves steps that lower the likelihood. A
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


def _slope_loglik(y: np.ndarray, lp: np.ndarray, w: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Weighted Bernoulli log-likelihood of ``y ~ a + b * lp`` per row of ``w``."""
    eta = a[:, None] + b[:, None] * lp[None, :]
    return np.einsum("bi,bi->b", w, y[None, :] * eta - np.logaddexp(0.0, eta))


def calibration_slope(
    y: np.ndarray, p: np.ndarray, w: np.ndarray, *, max_iter: int = 100, tol: float = 1e-10
) -> np.ndarray:
    """Slope ``b`` of the logistic regression ``y ~ a + b * logit(p)`` per row of ``w`` (shape (B,)).

    Newton-Raphson (IRLS) batched over the rows, started at the null model (``a = logit(ybar)``,
    ``b = 0``, where the log-likelihood is concave around a well-defined point) and with step
    halving: a step that lowers the log-likelihood is halved until it does not (up to 40 times).
    This converges for the badly calibrated models (true slopes near 0) where a start at
    ``b = 1`` overshoots; the result equals statsmodels' ``GLM(y, [1, lp], Binomial())`` to 1e-6
    (tested). NaN where the slope does not exist (see the module docstring).
    """
    y = np.asarray(y, dtype=float)
    lp = logit_clipped(p)
    rows = w.shape[0]
    total = w.sum(axis=1)
    ybar = np.divide(w @ y, total, out=np.full(rows, 0.5), where=total > 0)
    ybar = np.clip(ybar, 1e-6, 1.0 - 1e-6)
    a = np.log(ybar) - np.log1p(-ybar)
    b = np.zeros(rows)
    converged = np.zeros(rows, dtype=bool)
    # the slope is identifiable only if lp varies within the resample
    mean_lp = np.divide(w @ lp, total, out=np.zeros(rows), where=total > 0)
    spread = np.einsum("bi,bi->b", w, (lp[None, :] - mean_lp[:, None]) ** 2)
    identifiable = spread > 1e-12 * np.maximum(total, 1.0)
    ll = _slope_loglik(y, lp, w, a, b)
    for _ in range(max_iter):
        mu = _expit(a[:, None] + b[:, None] * lp[None, :])
        r = w * (y[None, :] - mu)
        v = w * mu * (1.0 - mu)
        g0, g1 = r.sum(axis=1), r @ lp
        h00, h01, h11 = v.sum(axis=1), v @ lp, v @ (lp * lp)
        det = h00 * h11 - h01 * h01
        good = det > 1e-300
        safe = np.where(good, det, 1.0)
        active = ~converged & good
        da = np.where(active, (h11 * g0 - h01 * g1) / safe, 0.0)
        db = np.where(active, (h00 * g1 - h01 * g0) / safe, 0.0)
        step = np.ones(rows)
        new_ll = _slope_loglik(y, lp, w, a + da, b + db)
        for _halving in range(40):  # step halving: never accept a lower log-likelihood
            worse = active & ~(new_ll >= ll - 1e-12 * np.abs(ll))
            if not worse.any():
                break
            step = np.where(worse, step / 2.0, step)
            new_ll = np.where(worse, _slope_loglik(y, lp, w, a + step * da, b + step * db), new_ll)
        a = a + step * da
        b = b + step * db
        size = np.maximum(np.abs(step * da), np.abs(step * db))
        converged |= good & ((size < tol) | (np.abs(new_ll - ll) <= 1e-15 * np.abs(ll)) & (size < 1e-6))
        ll = np.where(active, new_ll, ll)
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
