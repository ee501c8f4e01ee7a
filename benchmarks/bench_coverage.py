"""Coverage of clinpred's repeated-CV confidence intervals on simulated cohorts with known truth.

    python benchmarks/bench_coverage.py [--cohorts 200] [--n 300] [--folds 5] [--repeats 2]

Each cohort: ``x ~ N(0, 1)``, ``y ~ Bernoulli(expit(-0.7 + x))`` (about 35% events), two more
patient features ``x + e1`` and ``x + e2`` with independent ``e ~ N(0, 1)``. The models are
logistic regressions on one feature, fitted by numpy Newton steps on each training fold; a
one-feature fit with a positive slope ranks patients exactly as its feature does, so the true
AUROC of every fitted model is known exactly (numerical integration over the population):
``AUC(x)`` for model A, ``AUC(x + e)`` for models B and C, which are equally good, so the true
B - C difference is 0. Coverage is the share of cohorts whose 95% interval contains the truth:

- ``auroc-cluster-bootstrap`` / ``auroc-influence-curve``: :func:`cv_summarize` (the repeated-CV
  estimators of ``metrics.json``);
- ``auroc-pooled-bootstrap``: the old estimator (all repeats pooled, stratified bootstrap of the
  pooled rows), for comparison;
- ``delong-difference-ci`` / ``delong-type1-error``: :func:`cv_delong` of B vs C (the share of
  p-values below 0.05 should be at most about 0.05);
- ``calibration-slope`` / ``calibration-intercept``: truth 1 and 0 for the true model (the fitted
  one is very slightly overfitted, so these are approximate).

Prints a JSON list of ``{"name", "ratio", "goal", "details"}`` like every benchmark (``ratio`` is
the coverage). numpy, scipy and scikit-learn's fold splitter only: no model download.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

A, B = -0.7, 1.0  # the true risk model: expit(A + B * x)


def _expit(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def true_auc(noise_sd: float) -> float:
    """AUROC of the score ``x + noise_sd * e`` in the population, by numerical integration."""
    from scipy.stats import norm

    x = np.linspace(-9, 9, 6001)
    dx = x[1] - x[0]
    risk = _expit(A + B * x)
    f1 = norm.pdf(x) * risk
    f0 = norm.pdf(x) * (1 - risk)
    f1, f0 = f1 / (f1.sum() * dx), f0 / (f0.sum() * dx)
    if noise_sd == 0:
        cdf0 = np.cumsum(f0) * dx
        return float(np.sum(f1 * (cdf0 - 0.5 * f0 * dx)) * dx)
    # score s = x + noise: its class densities are the convolutions with N(0, noise_sd)
    s = np.linspace(-12, 12, 4001)
    ds = s[1] - s[0]
    kern = norm.pdf((s[:, None] - x[None, :]) / noise_sd) / noise_sd
    g1, g0 = kern @ f1 * dx, kern @ f0 * dx
    cdf0 = np.cumsum(g0) * ds
    return float(np.sum(g1 * (cdf0 - 0.5 * g0 * ds)) * ds)


def fit_logistic(x: np.ndarray, y: np.ndarray, iters: int = 25) -> tuple[float, float]:
    """Intercept and slope of an unpenalised logistic regression on one feature (Newton)."""
    a, b = 0.0, 0.0
    for _ in range(iters):
        p = _expit(a + b * x)
        w = p * (1 - p)
        g = np.array([np.sum(y - p), np.sum((y - p) * x)])
        h = np.array([[w.sum(), (w * x).sum()], [(w * x).sum(), (w * x * x).sum()]])
        step = np.linalg.solve(h, g)
        a, b = a + step[0], b + step[1]
        if np.abs(step).max() < 1e-10:
            break
    return a, b


def one_cohort(rng: np.random.Generator, n: int, folds: int, repeats: int, resamples: int, seed: int):
    from sklearn.model_selection import RepeatedStratifiedKFold

    from clinpred.core.evaluation.cv_compare import cv_delong
    from clinpred.core.evaluation.cv_estimate import Fold, cv_summarize
    from clinpred.core.evaluation.metrics import summarize

    x = rng.normal(size=n)
    y = (rng.random(n) < _expit(A + B * x)).astype(int)
    features = {"A": x, "B": x + rng.normal(size=n), "C": x + rng.normal(size=n)}
    out: dict[str, list] = {k: [] for k in features}
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    for number, (train, test) in enumerate(splitter.split(x, y)):
        for name, f in features.items():
            a, b = fit_logistic(f[train], y[train])
            out[name].append(Fold(number // folds, test, _expit(a + b * f[test]), 0.5))
    res = cv_summarize(y, out["A"], n_resamples=resamples, seed=seed)
    idx = np.concatenate([fo.index for fo in out["A"]])
    pooled = summarize(y[idx], np.concatenate([fo.p for fo in out["A"]]), 0.5, n_resamples=resamples, seed=seed)
    cmp = cv_delong(y, out["B"], out["C"], n_resamples=resamples, seed=seed)
    return res, pooled, cmp


def _covers(ci, truth: float) -> bool:
    return ci[0] is not None and ci[1] is not None and ci[0] <= truth <= ci[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohorts", type=int, default=200)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    truth_a, truth_b = true_auc(0.0), true_auc(1.0)
    rng = np.random.default_rng(args.seed)
    hits = {k: 0 for k in ("boot", "ic", "pooled", "diff", "reject", "slope", "intercept")}
    widths = {"boot": [], "ic": [], "pooled": []}
    start = time.perf_counter()
    for c in range(args.cohorts):
        res, pooled, cmp = one_cohort(rng, args.n, args.folds, args.repeats, args.resamples, args.seed + c)
        hits["boot"] += _covers(res["auroc"]["ci"], truth_a)
        hits["ic"] += _covers(res["auroc"]["ci_influence_curve"], truth_a)
        hits["pooled"] += _covers(pooled["auroc"]["ci"], truth_a)
        hits["diff"] += _covers(cmp["ci"], 0.0)
        hits["reject"] += cmp["p_value"] < 0.05
        hits["slope"] += _covers(res["calibration_slope"]["ci"], 1.0)
        hits["intercept"] += _covers(res["calibration_intercept"]["ci"], 0.0)
        widths["boot"].append(res["auroc"]["ci"][1] - res["auroc"]["ci"][0])
        widths["ic"].append(res["auroc"]["ci_influence_curve"][1] - res["auroc"]["ci_influence_curve"][0])
        widths["pooled"].append(pooled["auroc"]["ci"][1] - pooled["auroc"]["ci"][0])
    seconds = time.perf_counter() - start
    k = args.cohorts
    mc = 1.96 * math.sqrt(0.95 * 0.05 / k)  # Monte Carlo half-width of a true 95% coverage
    common = {"cohorts": k, "n": args.n, "folds": args.folds, "repeats": args.repeats,
              "resamples": args.resamples, "true_auroc": round(truth_a, 4), "seconds": round(seconds, 1),
              "monte_carlo_band": [round(0.95 - mc, 3), round(0.95 + mc, 3)]}

    def row(name: str, key: str, goal: str, **extra) -> dict:
        return {"name": f"coverage-{name}", "ratio": hits[key] / k, "goal": goal, "details": {**common, **extra}}

    rows = [
        row("auroc-cluster-bootstrap", "boot", "about 0.95", mean_width=round(float(np.mean(widths["boot"])), 4)),
        row("auroc-influence-curve", "ic", "about 0.95", mean_width=round(float(np.mean(widths["ic"])), 4)),
        row("auroc-pooled-bootstrap", "pooled", "the old estimator (too narrow)",
            mean_width=round(float(np.mean(widths["pooled"])), 4)),
        row("delong-difference-ci", "diff", "about 0.95", true_difference=0.0, true_auroc_b_c=round(truth_b, 4)),
        row("delong-type1-error", "reject", "at most about 0.05"),
        row("calibration-slope", "slope", "about 0.95 (truth 1: the true model)"),
        row("calibration-intercept", "intercept", "about 0.95 (truth 0: the true model)"),
    ]
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
