"""LASSO tuned by an inner CV that oversamples inside each inner training fold only.

Oversampling the training part before ``LogisticRegressionCV`` puts copies of the same minority
patient in both the inner training and the inner validation folds, so the inner AUROC rewards
memorising them and the penalty is chosen too weak (one dataset: AUROC 0.651 with, 0.681
without). Here the minority class is duplicated at random inside each inner training fold, the
inner validation fold keeps the original patients, and the final model is refitted on the
oversampled whole training part with the chosen ``C`` (the pattern of imbalanced-learn's
``Pipeline`` with a sampler, written out so no dependency is added).

This module imports scikit-learn at import time: import it inside functions only.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


def oversample_rows(y: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``rows`` plus random duplicates of its minority class until both classes are equal."""
    counts = np.bincount(y[rows], minlength=2)
    if counts.min() == 0 or counts[0] == counts[1]:
        return rows
    minority = int(np.argmin(counts))
    extra = rng.choice(rows[y[rows] == minority], size=int(counts.max() - counts.min()), replace=True)
    return np.concatenate([rows, extra])


class InnerOversampledLassoCV(ClassifierMixin, BaseEstimator):
    """L1 logistic regression; ``C`` chosen among ``Cs`` by stratified inner CV (AUROC) with
    oversampling inside each inner training fold; refitted on the oversampled data."""

    def __init__(self, Cs: Sequence[float] = tuple(np.logspace(-3, 3, 20)), n_splits: int = 5, seed: int = 0,
                 max_iter: int = 5000, tol: float = 1e-4) -> None:
        self.Cs = Cs
        self.n_splits = n_splits
        self.seed = seed
        self.max_iter = max_iter
        self.tol = tol

    def _model(self, C: float, warm_start: bool = False) -> Any:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=C, l1_ratio=1.0, solver="saga", max_iter=self.max_iter, tol=self.tol,
                                  random_state=self.seed, warm_start=warm_start, **_penalty_kwargs())

    def fit(self, X: Any, y: Any) -> "InnerOversampledLassoCV":
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import StratifiedKFold

        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=int)
        rng = np.random.default_rng(self.seed)
        scores = np.zeros((len(self.Cs), self.n_splits))
        inner = StratifiedKFold(n_splits=self.n_splits, shuffle=True, random_state=self.seed)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            for f, (train, val) in enumerate(inner.split(X, y)):
                rows = oversample_rows(y, train, rng)
                model = self._model(self.Cs[0], warm_start=True)  # along the path: each fit starts at the last
                for c, C in enumerate(self.Cs):
                    model.set_params(C=C).fit(X[rows], y[rows])
                    scores[c, f] = roc_auc_score(y[val], model.predict_proba(X[val])[:, 1])
            self.scores_ = scores
            self.C_ = float(self.Cs[int(np.argmax(scores.mean(axis=1)))])  # first best: the strongest penalty
            rows = oversample_rows(y, np.arange(y.size), rng)
            self.model_ = self._model(self.C_).fit(X[rows], y[rows])
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.model_.predict_proba(np.asarray(X, dtype=float))

    def predict(self, X: Any) -> np.ndarray:
        return self.model_.predict(np.asarray(X, dtype=float))


def _penalty_kwargs() -> dict[str, Any]:
    import inspect

    from sklearn.linear_model import LogisticRegression

    params = inspect.signature(LogisticRegression).parameters
    if "penalty" in params and params["penalty"].default != "deprecated":
        return {"penalty": "elasticnet"}  # scikit-learn < 1.8: l1_ratio needs penalty = "elasticnet"
    return {}
