"""Logistic recalibration: calibration intercept and slope (Cox 1958; Van Calster et al. 2016).

With ``lp = logit(p)`` (``p`` clipped to ``[1e-6, 1 - 1e-6]``):

- **slope**: the coefficient ``b`` of the unpenalised logistic regression ``y ~ a + b * lp``
  (1 for a well-calibrated model, < 1 when predictions are too extreme / overconfident);
- **intercept** (calibration-in-the-large): ``a`` in ``y ~ a + offset(lp)``, i.e. the slope fixed at
  1 (0 when the mean prediction matches the event rate, > 0 when risks are underestimated).

Both are fitted by Newton-Raphson, batched over rows of case weights (bootstrap resamples): the
intercept by bracketed (safeguarded) Newton steps on its monotone score equation, the slope from
the null model with step halving. What they return where no finite estimate exists:

- one class present: both NaN (undefined);
- constant predictions: the intercept is ``logit(ybar) - lp`` (closed form); the slope NaN (not
  identifiable, e.g. the majority-class model);
- logit(p) separating the classes (complete or quasi-complete separation): the slope's maximum
  likelihood estimate is infinite, returned as ``+inf`` (positives above) or ``-inf`` (below),
  never NaN: a separated bootstrap resample belongs to the tail of the slope's distribution;
- a slope fit that does not converge in ``max_iter`` steps: NaN.
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
    y: np.ndarray, p: np.ndarray, w: np.ndarray, *, max_iter: int = 200, tol: float = 1e-12
) -> np.ndarray:
    """Calibration-in-the-large ``a`` of ``y ~ a + offset(logit p)`` per row of ``w`` (shape (B,)).

    The score equation ``sum_i w_i (y_i - expit(a + lp_i)) = 0`` is strictly decreasing in ``a``
    and, with both classes present, has its root in the bracket
    ``[logit(ybar) - max lp, logit(ybar) - min lp]`` (``ybar``: the weighted event rate, ``lp``
    over the patients of the row). Newton steps start at ``logit(ybar) - mean(lp)`` and are
    safeguarded by that bracket (a step leaving it is replaced by bisection), so the fit converges
    for any input with both classes, however far the intercept is from 0; with constant ``lp`` the
    bracket is the closed form ``logit(ybar) - lp``. Equal to statsmodels' GLM with an offset to
    1e-6 (tested). NaN only when one class is absent from the row.
    """
    y = np.asarray(y, dtype=float)
    lp = logit_clipped(p)
    rows = w.shape[0]
    total = w.sum(axis=1)
    events = w @ y
    ok = _both_classes(y, w)
    ybar = np.clip(np.divide(events, total, out=np.full(rows, 0.5), where=total > 0), 1e-12, 1.0 - 1e-12)
    base = np.log(ybar) - np.log1p(-ybar)
    present = w > 0
    lp_row = np.broadcast_to(lp, w.shape)
    lo = base - np.where(present, lp_row, -np.inf).max(axis=1)
    hi = base - np.where(present, lp_row, np.inf).min(axis=1)
    lo, hi = np.where(ok, lo, 0.0), np.where(ok, hi, 0.0)
    mean_lp = np.divide(w @ lp, total, out=np.zeros(rows), where=total > 0)
    a = np.clip(base - mean_lp, lo, hi)
    done = ~ok | (hi - lo <= tol)
    for _ in range(max_iter):
        if done.all():
            break
        mu = _expit(a[:, None] + lp[None, :])
        grad = events - np.einsum("bi,bi->b", w, mu)
        hess = np.einsum("bi,bi->b", w, mu * (1.0 - mu))
        # the root lies above a where the score is positive, below where it is negative
        lo = np.where(grad > 0, a, lo)
        hi = np.where(grad < 0, a, hi)
        newton = a + np.divide(grad, hess, out=np.full(rows, np.inf), where=hess > 0)
        inside = (newton > lo) & (newton < hi)
        new = np.where(inside, newton, (lo + hi) / 2.0)
        step = np.abs(new - a)
        a = np.where(done, a, new)
        done |= (step < tol * np.maximum(1.0, np.abs(a))) | (grad == 0) | (hi - lo <= tol * np.maximum(1.0, np.abs(a)))
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
    (tested). ``+inf`` / ``-inf`` under separation, NaN where the slope does not exist (see the
    module docstring).
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
    above, below = _separated(y, lp, w)
    ok = converged & identifiable & ~above & ~below & np.isfinite(b)
    out = np.where(ok, b, np.nan)
    out = np.where(identifiable & above & ~below, np.inf, out)
    return np.where(identifiable & below & ~above, -np.inf, out)


def _separated(y: np.ndarray, lp: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(above, below)`` per row: logit(p) of every positive at or above (``above``) or at or below
    (``below``) that of every negative, i.e. complete or quasi-complete separation, where the slope's
    maximum-likelihood estimate is ``+inf`` / ``-inf``. Both hold when ``lp`` is constant in the row."""
    present = w > 0
    pos = present & (y[None, :] == 1)
    neg = present & (y[None, :] == 0)
    lp_row = np.broadcast_to(lp, w.shape)
    min_pos = np.where(pos, lp_row, np.inf).min(axis=1)
    max_pos = np.where(pos, lp_row, -np.inf).max(axis=1)
    min_neg = np.where(neg, lp_row, np.inf).min(axis=1)
    max_neg = np.where(neg, lp_row, -np.inf).max(axis=1)
    both = pos.any(axis=1) & neg.any(axis=1)
    return both & (max_neg <= min_pos), both & (max_pos <= min_neg)
