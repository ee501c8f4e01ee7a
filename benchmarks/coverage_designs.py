"""The simulated designs of ``bench_coverage.py``: cohorts, fitted models and their true performance.

Each design draws cohorts from a known risk model, fits its two models on every training part of
a repeated stratified K-fold split, and knows what every fitted model really achieves: its
population AUROC, calibration-in-the-large, calibration slope and Brier score, computed on a
fixed sample of 100,000 patients of the same population with their true risks (so no outcome
noise enters the truth). numpy, scipy and scikit-learn only.

- ``one-feature``: ``x ~ N(0, 1)``, ``P(y) = expit(-0.7 + x)`` (about 35% events). Model ``a`` is a
  logistic regression on ``x``, models ``b`` and ``c`` on ``x + e1`` and ``x + e2`` (independent
  ``e ~ N(0, 1)``). A one-feature fit with a positive slope ranks patients as its feature does,
  so model a's AUROC is AUC(x) and b - c's difference is exactly 0 whatever the fit: test-sample
  variance only, no model-fitting variance in the AUROCs (the calibration of the fits varies).
- ``lasso``: ten correlated features (AR(1) correlation 0.3), six with effects
  ``(0.8, -0.6, 0.5, 0.4, -0.3, 0.2)``, intercept -0.75 (about 35% events, Bayes AUROC about 0.75);
  model ``a`` is an L1 logistic regression (liblinear) whose C, among 10 values from 0.01 to 100,
  is chosen by a seeded inner 5-fold CV maximising AUROC (like clinpred's lasso baseline), model ``b`` an unpenalised logistic regression on the
  first three features. Every fold's fit differs, so the truth differs per cohort: model-fitting
  variance is part of what the intervals face.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

POPULATION = 100_000
Model = Callable[[np.ndarray], np.ndarray]  # features -> predicted risk


def expit(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)  # clinpred's clip, so the truth and the estimate see the same scale
    return np.log(q) - np.log1p(-q)


def fit_logistic(X: np.ndarray, y: np.ndarray, iters: int = 50) -> np.ndarray:
    """Coefficients ``[intercept, slopes...]`` of an unpenalised logistic regression (Newton)."""
    A = np.column_stack([np.ones(len(y)), X])
    beta = np.zeros(A.shape[1])
    for _ in range(iters):
        p = expit(A @ beta)
        step = np.linalg.solve((A * (p * (1 - p))[:, None]).T @ A, A.T @ (y - p))
        beta = beta + step
        if np.abs(step).max() < 1e-10:
            break
    return beta


# --- the population truth of a fitted model (true risks, no outcome noise) ------------------------


def auroc_population(risk: np.ndarray, score: np.ndarray) -> float:
    """AUROC of ``score`` where patient ``i`` is a positive with probability ``risk[i]``:
    sum over pairs of risk_i (1 - risk_j) [s_i > s_j] (+ half for ties) over sum risk x sum (1 - risk)."""
    order = np.argsort(score, kind="mergesort")
    s, r = score[order], risk[order]
    neg = 1.0 - r
    _, start, counts = np.unique(s, return_index=True, return_counts=True)
    below = np.concatenate(([0.0], np.cumsum(neg)))[start]  # negative weight strictly below each value
    tied = np.add.reduceat(neg, start)
    pos = np.add.reduceat(r, start)
    return float(np.sum(pos * (below + 0.5 * tied)) / (r.sum() * neg.sum()))


def intercept_population(risk: np.ndarray, p: np.ndarray) -> float:
    """Calibration-in-the-large: the root ``a`` of sum(risk - expit(a + logit p)) = 0."""
    from scipy.optimize import brentq

    lp = logit(p)
    return float(brentq(lambda a: np.sum(risk - expit(a + lp)), -40.0, 40.0, xtol=1e-12))


def slope_population(risk: np.ndarray, p: np.ndarray) -> float:
    """The slope of the logistic regression of the true risk on logit p (fractional response)."""
    return float(fit_logistic(logit(p)[:, None], risk)[1])


def brier_population(risk: np.ndarray, p: np.ndarray) -> float:
    """E (p - y)^2 = E[(p - risk)^2 + risk (1 - risk)]."""
    return float(np.mean((p - risk) ** 2 + risk * (1 - risk)))


def truths(risk: np.ndarray, X: np.ndarray, models: list[list[Model]]) -> dict[str, float]:
    """The population values of what the CV estimators estimate, for models ``[repeat][fold]``:
    AUROC = mean over the folds of each fold model's AUROC; calibration and Brier = those of the
    repeat's fold models stacked (each fold's model applied to the population), averaged over repeats."""
    auc, citl, slope, brier = [], [], [], []
    for folds in models:
        preds = [m(X) for m in folds]
        auc.append(np.mean([auroc_population(risk, p) for p in preds]))
        stacked_risk, stacked = np.tile(risk, len(preds)), np.concatenate(preds)
        citl.append(intercept_population(stacked_risk, stacked))
        slope.append(slope_population(stacked_risk, stacked))
        brier.append(brier_population(stacked_risk, stacked))
    return {"auroc": float(np.mean(auc)), "calibration_intercept": float(np.mean(citl)),
            "calibration_slope": float(np.mean(slope)), "brier": float(np.mean(brier))}


# --- designs -----------------------------------------------------------------------------------------


class OneFeature:
    name = "one-feature"
    A, B = -0.7, 1.0

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, risk, y)``: columns x, x + e1, x + e2."""
        x = rng.normal(size=n)
        X = np.column_stack([x, x + rng.normal(size=n), x + rng.normal(size=n)])
        risk = expit(self.A + self.B * x)
        return X, risk, (rng.random(n) < risk).astype(int)

    def fit(self, X: np.ndarray, y: np.ndarray, seed: int) -> dict[str, Model]:
        out = {}
        for name, col in (("a", 0), ("b", 1), ("c", 2)):
            beta = fit_logistic(X[:, [col]], y)
            out[name] = lambda Z, beta=beta, col=col: expit(beta[0] + beta[1] * Z[:, col])
        return out

    comparison = ("b", "c")

    def true_auc_a(self) -> float:
        """AUC(x) by numerical integration over the population (the exact truth of model a)."""
        from scipy.stats import norm

        x = np.linspace(-9, 9, 6001)
        dx = x[1] - x[0]
        risk = expit(self.A + self.B * x)
        f1, f0 = norm.pdf(x) * risk, norm.pdf(x) * (1 - risk)
        f1, f0 = f1 / (f1.sum() * dx), f0 / (f0.sum() * dx)
        cdf0 = np.cumsum(f0) * dx
        return float(np.sum(f1 * (cdf0 - 0.5 * f0 * dx)) * dx)


class Lasso:
    name = "lasso"
    BETA = np.array([0.8, -0.6, 0.5, 0.4, -0.3, 0.2, 0.0, 0.0, 0.0, 0.0])
    INTERCEPT = -0.75

    def __init__(self) -> None:
        k = self.BETA.size
        self.chol = np.linalg.cholesky(0.3 ** np.abs(np.subtract.outer(np.arange(k), np.arange(k))))

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X = rng.normal(size=(n, self.BETA.size)) @ self.chol.T
        risk = expit(self.INTERCEPT + X @ self.BETA)
        return X, risk, (rng.random(n) < risk).astype(int)

    CS = np.logspace(-2, 2, 10)

    def fit(self, X: np.ndarray, y: np.ndarray, seed: int) -> dict[str, Model]:
        """L1 logistic regression with C chosen by a seeded stratified inner 5-fold CV maximising
        AUROC (the loop written out: scikit-learn's scorer machinery cost 25 ms a call), and the
        unpenalised logistic regression on the first three features."""
        from sklearn.model_selection import StratifiedKFold

        score = np.zeros(self.CS.size)
        for train, val in StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y):
            for j, C in enumerate(self.CS):
                score[j] += _auc(y[val], X[val] @ _l1_logistic(X[train], y[train], C).coef_[0])
        lasso = _l1_logistic(X, y, float(self.CS[int(np.argmax(score))]))
        small = fit_logistic(X[:, :3], y)
        return {"a": lambda Z: lasso.predict_proba(Z)[:, 1],
                "b": lambda Z, beta=small: expit(beta[0] + Z[:, :3] @ beta[1:])}

    comparison = ("a", "b")


def _l1_logistic(X: np.ndarray, y: np.ndarray, C: float) -> Any:
    import inspect

    from sklearn.linear_model import LogisticRegression

    l1 = {"l1_ratio": 1.0} if inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated" \
        else {"penalty": "l1"}  # scikit-learn >= 1.8 spells L1 as l1_ratio = 1
    # seeded: liblinear's coordinate descent visits the features in a random order
    return LogisticRegression(C=C, solver="liblinear", random_state=0, **l1).fit(X, y)


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from scipy.stats import rankdata

    r = rankdata(s)
    n1 = int(y.sum())
    n0 = y.size - n1
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


DESIGNS: dict[str, Any] = {"one-feature": OneFeature, "lasso": Lasso}
