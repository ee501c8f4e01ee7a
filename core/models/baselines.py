"""The built-in classical baselines, each a small :class:`~clinpred.core.models.tabular.TabularModel`
(registered by the built-in plugin ``clinpred.plugins.baselines``).

============== ==========================================================================
majority       ``DummyClassifier("prior")``: P(yes) = the training prevalence, for everyone;
               trained on the data as it is (no balancing, no class weights)
logistic       the clinician's logistic regression: unpenalised maximum likelihood (lbfgs);
               when the training data are separated, a negligible L2 penalty (C = 1e4 on
               standardised features) keeps the estimate finite, and the unit says so
lasso          L1 logistic regression, C chosen among 20 values (1e-3 .. 1e3) by seeded
               stratified inner CV (up to 5 folds) maximising AUROC, along glmnet's path with
               liblinear (:mod:`clinpred.core.models.lasso_path`); with ``balance =
               "oversample"`` the minority class is duplicated inside each inner training fold only
random_forest  300 trees, ``min_samples_leaf=3``, ``n_jobs=1`` (reproducible), seeded
gradient_boosting  ``HistGradientBoostingClassifier``: learning rate 0.05, 200 iterations,
               8 leaves, ``min_samples_leaf=10``, no early stopping, seeded
============== ==========================================================================

The same ``seed`` gives the same probabilities. scikit-learn is imported inside the methods.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from attrs import define

from clinpred.core.bounds import Bound
from clinpred.core.models.tabular import FitInfo, TabularModel
from clinpred.core.models.work import TrainingPart, UnitWork
from clinpred.core.params import param

#: baselines' fingerprint revision (2: LASSO oversamples inside its inner CV folds)
REVISION = 2


class Majority(TabularModel):
    name, description = "majority", "always the training prevalence: the model every other must beat"
    informative = False  # never the best-on-validation reference
    default_baseline = True
    revision = REVISION

    def training_rows(self, work: UnitWork) -> TrainingPart:
        # "always the most common class" is defined on the data as it is
        return TrainingPart(np.asarray(work.split.train, dtype=int))

    def estimator(self, params: Any, fit: FitInfo) -> Any:
        from sklearn.dummy import DummyClassifier

        return DummyClassifier(strategy="prior")


@define(frozen=True)
class LogisticParams:
    separation_c: float = param(1e4, kind=float, bound=Bound(0, low_open=True),
                                help="inverse L2 penalty used only when the training data are separated")


class Logistic(TabularModel):
    name = "logistic"
    description = "unpenalised logistic regression (a negligible L2 penalty only when the data separate)"
    params = LogisticParams
    scale_numeric = True
    trusted_modules = ("sklearn.", "numpy.", "clinpred.core.models.separation.")

    def fitted_details(self, pipe: Any) -> dict[str, Any]:
        return {"penalty": pipe.named_steps["model"].penalty_}

    def estimator(self, params: LogisticParams, fit: FitInfo) -> Any:
        from clinpred.core.models.separation import SeparationSafeLogistic

        return SeparationSafeLogistic(separation_c=params.separation_c, class_weight=fit.class_weight)


@define(frozen=True)
class LassoParams:
    n_penalties: int = param(20, kind=int, bound=Bound(2, 1000), help="values of C tried, log-spaced over 1e-3 .. 1e3")
    inner_folds: int = param(5, kind=int, bound=Bound(2, 20), help="inner CV folds choosing C (fewer when a class is small)")


class Lasso(TabularModel):
    name = "lasso"
    description = "L1 logistic regression, penalty chosen by inner CV on the training part"
    params = LassoParams
    scale_numeric = True
    min_per_class = 2  # its inner cross-validation
    default_baseline = True
    default_reference = True
    #: the path estimator; runs saved before it hold the inner-oversampling class (still loadable)
    trusted_modules = ("sklearn.", "numpy.", "clinpred.core.models.lasso_path.",
                       "clinpred.core.models.inner_resampling.")
    revision = 3  # 3: the glmnet-style path (liblinear) replaced saga

    def training_rows(self, work: UnitWork) -> TrainingPart:
        if work.settings.balance == "oversample":  # oversampled inside its inner CV folds instead
            return TrainingPart(np.asarray(work.split.train, dtype=int))
        return work.training_part()

    def fitted_details(self, pipe: Any) -> dict[str, Any]:
        model = pipe.named_steps["model"]
        C = float(np.asarray(getattr(model, "C_", np.nan)).reshape(-1)[0])
        return {"penalty": f"L1, C = {C:.4g} (inverse penalty on standardised predictors, chosen by inner CV "
                           "maximising AUROC)", "C": C}

    def estimator(self, params: LassoParams, fit: FitInfo) -> Any:
        from clinpred.core.models.lasso_path import LassoPathCV

        return LassoPathCV(Cs=tuple(np.logspace(-3, 3, params.n_penalties)), seed=fit.seed,
                           n_splits=min(params.inner_folds, fit.n_pos, fit.n_neg),
                           oversample=fit.balance == "oversample", class_weight=fit.class_weight)


@define(frozen=True)
class ForestParams:
    n_estimators: int = param(300, kind=int, bound=Bound(1, 100_000), help="trees")
    min_samples_leaf: int = param(3, kind=int, bound=Bound(1, 100_000), help="fewest patients in a leaf")


class RandomForest(TabularModel):
    name, description = "random_forest", "random forest (300 trees, leaves of >= 3 patients)"
    params = ForestParams
    default_baseline = True
    revision = REVISION

    def estimator(self, params: ForestParams, fit: FitInfo) -> Any:
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=params.n_estimators, min_samples_leaf=params.min_samples_leaf,
                                      max_features="sqrt", class_weight=fit.class_weight, n_jobs=1,
                                      random_state=fit.seed)


@define(frozen=True)
class BoostingParams:
    learning_rate: float = param(0.05, kind=float, bound=Bound(0, 1, low_open=True), help="shrinkage")
    max_iter: int = param(200, kind=int, bound=Bound(1, 100_000), help="boosting iterations (no early stopping)")
    max_leaf_nodes: int = param(8, kind=int, bound=Bound(2, 100_000), help="leaves per tree")
    min_samples_leaf: int = param(10, kind=int, bound=Bound(1, 100_000), help="fewest patients in a leaf")


class GradientBoosting(TabularModel):
    name, description = "gradient_boosting", "histogram gradient boosting (scikit-learn)"
    params = BoostingParams
    default_baseline = True
    revision = REVISION

    def estimator(self, params: BoostingParams, fit: FitInfo) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(learning_rate=params.learning_rate, max_iter=params.max_iter,
                                              max_leaf_nodes=params.max_leaf_nodes,
                                              min_samples_leaf=params.min_samples_leaf, early_stopping=False,
                                              class_weight=fit.class_weight, random_state=fit.seed)


#: the built-in baselines, in the order a run shows them
BASELINES = (Majority(), Logistic(), Lasso(), RandomForest(), GradientBoosting())

__all__ = ["BASELINES", "GradientBoosting", "Lasso", "Logistic", "Majority", "RandomForest"]
