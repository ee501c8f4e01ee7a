"""LASSO (L1 logistic regression) with its penalty chosen by inner cross-validation along a path,
as glmnet's ``cv.glmnet`` does it, with scikit-learn's liblinear solver.

For each inner fold the penalties are fitted from the strongest (smallest ``C``) to the weakest;
the fold's validation AUROC is recorded at each. The path of a fold stops where glmnet stops it
(``glmnet.control``: the fit explains more than ``devmax`` = 99.9% of the null deviance, or the
explained fraction grew by less than ``fdev`` = 1e-5 of itself, after at least five penalties): a
weaker penalty cannot change such a fit, only push its coefficients toward infinity on
(near-)separable data, where every solver needs thousands of iterations. The remaining penalties of
that fold take the last fitted value (cv.glmnet pads an early-stopped fold the same way). ``C`` is
the first penalty with the best mean AUROC (the strongest of tied ones); the final model is refitted
on the whole training part at that ``C``.

liblinear's L1 solver (newGLMNET, coordinate descent) converges where saga, the solver used before,
stopped on its step-size rule with coefficients far from the optimum; liblinear penalises the
intercept, so the intercept column is scaled by ``INTERCEPT_SCALING`` (its penalty becomes 1/100 of a
coefficient's; a larger scale slows liblinear fourfold) and the final model's intercept is then
refitted without any penalty for its coefficients (a one-dimensional Newton solve), so its mean
predicted risk on the training data equals the observed rate, as an unpenalised intercept's does. With ``oversample`` the minority class is
duplicated inside each inner training fold only (the inner validation fold keeps the original
patients) and in the refit (see :mod:`clinpred.core.models.inner_resampling`).

This module imports scikit-learn at import time: import it inside functions only.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

#: liblinear's constant column: the intercept's L1 penalty is 1/INTERCEPT_SCALING of a coefficient's
INTERCEPT_SCALING = 100.0
#: glmnet's path stopping rules (glmnet.control: devmax, fdev) and its shortest path (mnlam)
DEVMAX = 0.999
FDEV = 1e-5
MIN_PATH = 5


def deviance_ratio(y: np.ndarray, margin: np.ndarray, weights: np.ndarray) -> float:
    """The fraction of the null deviance explained by the linear predictor ``margin`` (log-odds;
    glmnet's ``dev.ratio``), with observation ``weights``."""
    # -log P(observed class) = log(1 + exp(-margin)) for y = 1, log(1 + exp(margin)) for y = 0
    dev = 2 * np.sum(weights * np.logaddexp(0.0, np.where(y == 1, -margin, margin)))
    prevalence = np.sum(weights * y) / np.sum(weights)
    if not 0 < prevalence < 1:
        return 0.0
    null = -2 * np.sum(weights * (y * np.log(prevalence) + (1 - y) * np.log1p(-prevalence)))
    return float(1 - dev / null)


def unpenalised_intercept(offset: np.ndarray, y: np.ndarray, weights: np.ndarray, start: float = 0.0) -> float:
    """The maximum-likelihood intercept of a logistic model with the fixed linear part ``offset``
    (Newton's method on the intercept's score equation: weighted mean risk = weighted event rate)."""
    b = start
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(offset + b)))
        gradient = np.sum(weights * (y - p))
        curvature = np.sum(weights * p * (1 - p))
        if curvature <= 0:
            break
        step = gradient / curvature
        b += float(np.clip(step, -5.0, 5.0))
        if abs(step) < 1e-10:
            break
    return b


def auroc(y: np.ndarray, score: np.ndarray) -> float:
    """AUROC by the Mann-Whitney statistic (ties count one half), without scikit-learn's checks."""
    from scipy.stats import rankdata

    ranks = rankdata(score)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class LassoPathCV(ClassifierMixin, BaseEstimator):
    """L1 logistic regression; ``C`` among ``Cs`` by stratified inner CV (AUROC) along glmnet's path
    (see the module docstring); ``oversample`` duplicates the minority class inside each inner
    training fold and in the refit; ``class_weight`` as scikit-learn's."""

    def __init__(self, Cs: Sequence[float] = tuple(np.logspace(-3, 3, 20)), n_splits: int = 5, seed: int = 0,
                 oversample: bool = False, class_weight: Any = None, tol: float = 1e-4, max_iter: int = 1000) -> None:
        self.Cs = Cs
        self.n_splits = n_splits
        self.seed = seed
        self.oversample = oversample
        self.class_weight = class_weight
        self.tol = tol
        self.max_iter = max_iter

    def _model(self, C: float) -> Any:
        from sklearn.linear_model import LogisticRegression

        from clinpred.core.models.inner_resampling import _penalty_kwargs

        kwargs = _penalty_kwargs()
        kwargs = {"penalty": "l1"} if kwargs else {"l1_ratio": 1.0}  # scikit-learn < 1.8 spells L1 "penalty"
        return LogisticRegression(C=C, solver="liblinear", intercept_scaling=INTERCEPT_SCALING, tol=self.tol,
                                  max_iter=self.max_iter, class_weight=self.class_weight, random_state=self.seed,
                                  **kwargs)

    def _weights(self, y: np.ndarray) -> np.ndarray:
        if self.class_weight != "balanced":
            return np.ones(y.size)
        counts = np.bincount(y, minlength=2)
        return y.size / (2.0 * counts[y])

    def path_scores(self, X: np.ndarray, y: np.ndarray, train: np.ndarray, val: np.ndarray) -> tuple[np.ndarray, int]:
        """Validation AUROC at every ``C`` of one inner fold, and how many ``C`` were fitted."""
        scores = np.zeros(len(self.Cs))
        weights = self._weights(y[train])
        previous = None
        fitted = 0
        for c, C in enumerate(self.Cs):
            model = self._model(C).fit(X[train], y[train])
            coef, intercept = model.coef_.ravel(), float(model.intercept_[0])
            scores[c] = auroc(y[val], X[val] @ coef + intercept)
            fitted = c + 1
            if not np.any(coef):
                continue  # the intercept alone: glmnet's path has not started
            ratio = deviance_ratio(y[train], X[train] @ coef + intercept, weights)
            if fitted >= MIN_PATH and (ratio > DEVMAX or (previous is not None and ratio - previous < FDEV * ratio)):
                scores[c + 1:] = scores[c]
                break
            previous = ratio
        return scores, fitted

    def fit(self, X: Any, y: Any) -> "LassoPathCV":
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.model_selection import StratifiedKFold

        from clinpred.core.models.inner_resampling import oversample_rows

        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=int)
        rng = np.random.default_rng(self.seed)
        scores = np.zeros((len(self.Cs), self.n_splits))
        fitted = []
        inner = StratifiedKFold(n_splits=self.n_splits, shuffle=True, random_state=self.seed)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            for f, (train, val) in enumerate(inner.split(X, y)):
                rows = oversample_rows(y, train, rng) if self.oversample else train
                scores[:, f], n = self.path_scores(X, y, rows, val)
                fitted.append(n)
            self.scores_ = scores
            self.path_lengths_ = fitted
            self.C_ = float(self.Cs[int(np.argmax(scores.mean(axis=1)))])  # first best: the strongest penalty
            rows = oversample_rows(y, np.arange(y.size), rng) if self.oversample else np.arange(y.size)
            self.model_ = self._model(self.C_).fit(X[rows], y[rows])
            self.model_.intercept_ = np.array([unpenalised_intercept(X[rows] @ self.model_.coef_.ravel(), y[rows],
                                                                     self._weights(y[rows]),
                                                                     float(self.model_.intercept_[0]))])
        self.classes_ = self.model_.classes_
        self.coef_ = self.model_.coef_
        self.intercept_ = self.model_.intercept_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.model_.predict_proba(np.asarray(X, dtype=float))

    def predict(self, X: Any) -> np.ndarray:
        return self.model_.predict(np.asarray(X, dtype=float))


__all__ = ["DEVMAX", "FDEV", "INTERCEPT_SCALING", "LassoPathCV", "auroc", "deviance_ratio", "unpenalised_intercept"]
