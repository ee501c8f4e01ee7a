"""Smooth (flexible) calibration curve and the ICI, E50, E90 and Emax of Austin & Steyerberg.

The observed risk at each predicted risk is estimated by a logistic regression of the outcome
on a restricted cubic spline of ``logit(p)`` (Harrell, Regression Modeling Strategies, 2015,
sec. 2.4.5: 4 knots at the 5th, 35th, 65th and 95th percentiles; linear beyond the outer
knots; fewer knots when the scores take few values, see :func:`knots_for`), the spline alternative to loess that Austin & Steyerberg (Stat Med 2019;38:4051-4065)
and Van Calster et al. (J Clin Epidemiol 2016) describe and R's ``pmcalibration`` implements.
With ``q_i`` the smoothed observed risk of patient ``i``: ICI = mean |q_i - p_i|, E50 = median,
E90 = 90th percentile (both R's default type-7 quantile, as ``quantile()`` in Austin &
Steyerberg's code), Emax = max. A bootstrap (case weights: patients, or whole patients and
groups for repeated CV; never stratified, since calibration depends on the event rate) gives
percentile CIs and a pointwise 95% band for the curve.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from clinpred.core.evaluation.calibration import logit_clipped

KNOT_QUANTILES = (0.05, 0.35, 0.65, 0.95)
FALLBACK_KNOT_QUANTILES = (0.10, 0.50, 0.90)
GRID = 50
METHOD = ("logistic regression on a restricted cubic spline of logit(p), 4 knots "
          "(Austin & Steyerberg 2019); E50 and E90 are type-7 quantiles (R's default); percentile CIs and band "
          "from an unstratified patient (or group) bootstrap")


def rcs_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Harrell's restricted cubic spline basis ``[x, s_1, ..., s_{k-2}]`` (scaled by the knot span)."""
    k = knots.size
    t_k, t_k1 = knots[-1], knots[-2]
    scale = (knots[-1] - knots[0]) ** 2
    cols = [x]
    for j in range(k - 2):
        t_j = knots[j]
        s = (np.maximum(x - t_j, 0) ** 3
             - np.maximum(x - t_k1, 0) ** 3 * (t_k - t_j) / (t_k - t_k1)
             + np.maximum(x - t_k, 0) ** 3 * (t_k1 - t_j) / (t_k - t_k1))
        cols.append(s / scale)
    return np.column_stack(cols)


def knots_for(lp: np.ndarray) -> np.ndarray | None:
    """The 4 knots; where ``logit(p)`` has too few distinct values for them, 3 knots at the 10th,
    50th and 90th percentiles (Harrell's choice for 3), else the two extremes (no spline term: a
    logistic recalibration line, which reproduces the event rate of each of two score values);
    None when ``logit(p)`` is constant."""
    for quantiles in (KNOT_QUANTILES, FALLBACK_KNOT_QUANTILES):
        knots = np.unique(np.quantile(lp, quantiles))
        if knots.size == len(quantiles):
            return knots
    knots = np.unique([lp.min(), lp.max()])
    return knots if knots.size == 2 else None


def fit_logistic(X: np.ndarray, y: np.ndarray, w: np.ndarray, max_iter: int = 100) -> np.ndarray | None:
    """Weighted logistic regression ``y ~ 1 + X`` by Newton with step halving; None if it fails."""
    from scipy.special import expit

    A = np.column_stack([np.ones(y.size), X])
    ybar = np.clip(np.sum(w * y) / np.sum(w), 1e-6, 1 - 1e-6)
    beta = np.zeros(A.shape[1])
    beta[0] = math.log(ybar / (1 - ybar))

    def loglik(b: np.ndarray) -> float:
        eta = A @ b
        return float(np.sum(w * (y * eta - np.logaddexp(0.0, eta))))

    ll = loglik(beta)
    for _ in range(max_iter):
        mu = expit(A @ beta)
        grad = A.T @ (w * (y - mu))
        hess = (A * (w * mu * (1 - mu))[:, None]).T @ A
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return None
        t = 1.0
        for _h in range(40):
            new = loglik(beta + t * step)
            if new >= ll - 1e-12 * abs(ll):
                break
            t /= 2
        beta = beta + t * step
        done = np.max(np.abs(t * step)) < 1e-10 or abs(new - ll) <= 1e-14 * abs(ll)
        ll = new
        if done:
            return beta if np.isfinite(beta).all() else None
    return None


def weighted_quantile7(values: np.ndarray, counts: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """R's default (type 7) quantiles of ``values`` each repeated ``counts`` times (bootstrap
    multiplicities): the quantiles of the expanded sample, without expanding it."""
    order = np.argsort(values, kind="mergesort")
    v, c = values[order], counts[order]
    ends = np.cumsum(c)  # expanded positions 0 .. ends[k] - 1 hold v[k]
    total = float(ends[-1])
    out = []
    for q in qs:
        h = (total - 1.0) * q
        j = int(np.floor(h))
        g = h - j
        lo = float(v[np.searchsorted(ends, j, side="right")])
        hi = float(v[np.searchsorted(ends, min(j + 1, total - 1), side="right")])
        out.append(lo + g * (hi - lo))
    return out


def _one(y: np.ndarray, p: np.ndarray, lp: np.ndarray, w: np.ndarray, knots: np.ndarray,
         grid_lp: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(stats [ici, e50, e90, emax], observed risk on the grid) for case weights ``w``."""
    from scipy.special import expit

    keep = w > 0
    if np.sum(w * y) == 0 or np.sum(w * (1 - y)) == 0:
        return None
    beta = fit_logistic(rcs_basis(lp[keep], knots), y[keep], w[keep])
    if beta is None:
        return None
    q = expit(np.column_stack([np.ones(keep.sum()), rcs_basis(lp[keep], knots)]) @ beta)
    err = np.abs(q - p[keep])
    ww = w[keep]
    e50, e90 = weighted_quantile7(err, ww, (0.5, 0.9))
    stats = np.array([float(np.sum(ww * err) / ww.sum()), e50, e90, float(err.max())])
    curve = expit(np.column_stack([np.ones(grid_lp.size), rcs_basis(grid_lp, knots)]) @ beta)
    return stats, curve


def smooth_calibration(labels, p, weights: np.ndarray, *, alpha: float = 0.05) -> dict[str, Any] | None:
    """``{"method", "ici", "e50", "e90", "emax", "curve"}`` (each number ``{"value", "ci",
    "undefined_resamples"}``; the curve ``{"p", "observed", "lo", "hi"}`` on a grid between the
    1st and 99th percentiles of ``p``). ``weights`` is ``(1 + B, n)``: row 0 the point estimate's
    case weights, rows 1.. the bootstrap resamples. None when ``p`` is (nearly) constant."""
    from clinpred.core.evaluation.intervals import percentile_interval

    y = np.asarray(labels, dtype=float)
    p = np.asarray(p, dtype=float)
    lp = logit_clipped(p)
    knots = knots_for(lp)
    if knots is None:
        return None
    grid_p = np.linspace(*np.quantile(p, [0.01, 0.99]), GRID)
    grid_lp = logit_clipped(grid_p)
    point = _one(y, p, lp, weights[0], knots, grid_lp)
    if point is None:
        return None
    boots = [_one(y, p, lp, w, knots, grid_lp) for w in weights[1:]]
    stats = np.array([b[0] if b is not None else np.full(4, np.nan) for b in boots]).reshape(len(boots), 4)
    curves = np.array([b[1] for b in boots if b is not None])
    out: dict[str, Any] = {"method": METHOD}
    for k, name in enumerate(("ici", "e50", "e90", "emax")):
        lo, hi, undefined = percentile_interval(stats[:, k], alpha) if len(boots) else (math.nan, math.nan, 0)
        out[name] = {"value": float(point[0][k]), "ci": [None if math.isnan(lo) else lo, None if math.isnan(hi) else hi],
                     "undefined_resamples": undefined}
    band = np.quantile(curves, [alpha / 2, 1 - alpha / 2], axis=0) if curves.size else np.full((2, GRID), np.nan)
    out["curve"] = {"p": grid_p.round(6).tolist(), "observed": point[1].round(6).tolist(),
                    "lo": [None if not np.isfinite(v) else round(float(v), 6) for v in band[0]],
                    "hi": [None if not np.isfinite(v) else round(float(v), 6) for v in band[1]]}
    return out
