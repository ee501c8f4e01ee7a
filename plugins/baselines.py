"""The classical baselines as a built-in model plugin: majority class, logistic regression, LASSO,
random forest and gradient boosting (see :mod:`clinpred.core.models.baselines`).

They register through the same hook as a third-party model package (``examples/clinpred-xgboost``)
and can be disabled like any plugin (``CLINPRED_DISABLE_PLUGINS=baselines``).
"""

from __future__ import annotations

from clinpred.api import GradientBoosting, Lasso, Logistic, Majority, RandomForest, hookimpl


@hookimpl
def clinpred_register_models(register):
    for adapter in (Majority(), Logistic(), Lasso(), RandomForest(), GradientBoosting()):
        register(adapter)
