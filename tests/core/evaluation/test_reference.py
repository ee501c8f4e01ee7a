"""The comparison reference is chosen without looking at a test part."""

from types import SimpleNamespace

import numpy as np

from outcomes import outcome

from clinpred.core.evaluation.aggregate import ModelRow, choose_reference


def _unit(y, val_p, test_p):
    n = len(y) // 2
    return outcome(np.arange(n, 2 * n), test_p, val_index=np.arange(n), val_p=val_p)


def test_best_on_validation_ignores_the_test_part():
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    ds = SimpleNamespace(labels=y)
    good_val_bad_test = _unit(y, np.array([0.1, 0.9, 0.2, 0.8]), np.array([0.9, 0.1, 0.8, 0.2]))
    bad_val_good_test = _unit(y, np.array([0.9, 0.1, 0.8, 0.2]), np.array([0.1, 0.9, 0.2, 0.8]))
    results = {"lasso": {"holdout": good_val_bad_test}, "random_forest": {"holdout": bad_val_good_test},
               "majority": {"holdout": _unit(y, np.full(4, 0.5), np.full(4, 0.5))}}
    kinds = {name: ModelRow("baseline", reference_candidate=name != "majority") for name in results}
    metrics = {name: {"metrics": {}} for name in results}
    name, why = choose_reference(ds, results, kinds, metrics, "best-on-validation")
    assert name == "lasso" and "best validation AUROC (1.000)" in why
    assert choose_reference(ds, results, kinds, metrics, "random_forest")[0] == "random_forest"
    assert choose_reference(ds, results, kinds, metrics, "gradient_boosting")[0] is None
