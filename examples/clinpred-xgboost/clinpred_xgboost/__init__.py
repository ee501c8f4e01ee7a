"""XGBoost as a clinpred model plugin: ``[run] baselines = [..., "xgboost"]``.

A :class:`~clinpred.api.TabularModel` gets the same treatment as every classical model of a
comparison: the training part balanced as the run asks, missing values imputed from the training
part, categorical columns one-hot encoded, the threshold chosen on the validation part, the fitted
pipeline saved with skops (so ``clinpred predict RUN_DIR --model xgboost`` applies it) and the
same statistics. The plugin only says which classifier, with which hyperparameters.
"""

from __future__ import annotations

from attrs import define

from clinpred.api import Bound, FitInfo, TabularModel, hookimpl, param


@define(frozen=True)
class XGBoostParams:
    """``[baselines.xgboost]`` keys (defaults: shallow trees and shrinkage for a few hundred patients)."""

    n_estimators: int = param(300, kind=int, bound=Bound(1, 100_000), help="boosting rounds")
    max_depth: int = param(3, kind=int, bound=Bound(1, 32), help="depth of each tree")
    learning_rate: float = param(0.05, kind=float, bound=Bound(0, 1, low_open=True), help="shrinkage (eta)")
    subsample: float = param(0.8, kind=float, bound=Bound(0, 1, low_open=True), help="rows sampled per tree")
    colsample_bytree: float = param(0.8, kind=float, bound=Bound(0, 1, low_open=True), help="columns sampled per tree")
    min_child_weight: float = param(1.0, kind=float, bound=Bound(0), help="least hessian weight in a leaf")
    reg_lambda: float = param(1.0, kind=float, bound=Bound(0), help="L2 penalty on leaf weights")


class XGBoost(TabularModel):
    name = "xgboost"
    description = "XGBoost gradient-boosted trees (hist, single-threaded, seeded)"
    params = XGBoostParams
    trusted_modules = ("sklearn.", "numpy.", "xgboost.")

    def estimator(self, params: XGBoostParams, fit: FitInfo):
        from xgboost import XGBClassifier

        # class weights ("balance = class-weight") become XGBoost's weight of the positive class
        scale = fit.n_neg / fit.n_pos if fit.class_weight == "balanced" else 1.0
        return XGBClassifier(n_estimators=params.n_estimators, max_depth=params.max_depth,
                             learning_rate=params.learning_rate, subsample=params.subsample,
                             colsample_bytree=params.colsample_bytree, min_child_weight=params.min_child_weight,
                             reg_lambda=params.reg_lambda, scale_pos_weight=scale, tree_method="hist",
                             n_jobs=1, random_state=fit.seed, eval_metric="logloss")


@hookimpl
def clinpred_register_models(register):
    register(XGBoost())
