"""The clinician's logistic regression: unpenalised, unless the training data are separated.

Maximum likelihood has no finite solution when a combination of predictors separates the outcome
(completely or quasi-completely); the fit then walks the coefficients towards infinity and the
predicted risks to exactly 0 or 1. :class:`SeparationSafeLogistic` fits the unpenalised model,
and when it did not converge or fitted risks numerically 0 or 1 (R's glm warns on the same sign)
refits with a negligible L2 penalty (``C = separation_c`` on standardised predictors), recording
``penalty_`` ("none" or "l2, C=...: the training data are separated") so the run can say which.

This module imports scikit-learn at import time: import it inside functions only.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

#: fitted risks this close to 0 or 1 mean (quasi-)separation
EDGE = 1e-10


def _unpenalised() -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    if inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated":
        return {"C": np.inf}  # scikit-learn >= 1.8
    return {"penalty": None}


class SeparationSafeLogistic(ClassifierMixin, BaseEstimator):
    """Logistic regression by maximum likelihood (lbfgs), with a negligible L2 penalty only when
    the training data are separated (see the module docstring)."""

    def __init__(self, separation_c: float = 1e4, class_weight: Any = None, max_iter: int = 10_000,
                 tol: float = 1e-10) -> None:
        self.separation_c = separation_c
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.tol = tol  # lbfgs' default (1e-4) stops ~1e-3 short of the maximum likelihood

    def fit(self, X: Any, y: Any) -> "SeparationSafeLogistic":
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=int)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model = LogisticRegression(solver="lbfgs", max_iter=self.max_iter, tol=self.tol,
                                       class_weight=self.class_weight, **_unpenalised()).fit(X, y)
        stalled = any(issubclass(w.category, ConvergenceWarning) for w in caught)
        p = model.predict_proba(X)[:, 1]
        if stalled or np.any((p < EDGE) | (p > 1 - EDGE)):
            model = LogisticRegression(solver="lbfgs", C=self.separation_c, max_iter=self.max_iter, tol=self.tol,
                                       class_weight=self.class_weight).fit(X, y)
            self.penalty_ = f"l2, C={self.separation_c:g}: the training data are separated"
        else:
            self.penalty_ = "none"
        self.model_ = model
        self.classes_ = model.classes_
        self.coef_, self.intercept_ = model.coef_, model.intercept_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.model_.predict_proba(np.asarray(X, dtype=float))

    def predict(self, X: Any) -> np.ndarray:
        return self.model_.predict(np.asarray(X, dtype=float))
