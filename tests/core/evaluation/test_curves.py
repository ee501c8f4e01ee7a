"""The ROC curve drawn next to a fold-mean AUROC is the folds' vertical average, whose area is it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from clinpred.core.evaluation.curves import fold_mean_roc, roc_points


def test_area_under_the_fold_mean_roc_is_the_mean_of_the_fold_aurocs():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.35).astype(int)
    folds = np.repeat([f"r0f{k}" for k in range(5)], 60)
    # each fold's model shifts and scales its scores differently: pooling them would change the ranking
    p = 1.0 / (1.0 + np.exp(-(y + rng.normal(size=300)) * np.repeat([0.3, 1.0, 2.0, 0.5, 4.0], 60)
                            - np.repeat([-2.0, 0.0, 1.0, 2.0, -1.0], 60)))
    p = np.round(p, 2)  # ties too
    fpr, tpr = fold_mean_roc(y, p, folds)
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    fold_mean = np.mean([roc_auc_score(y[folds == f], p[folds == f]) for f in np.unique(folds)])
    assert area == pytest.approx(fold_mean, abs=2e-3)
    pooled = roc_auc_score(y, p)
    assert abs(pooled - fold_mean) > 0.02  # the pooled curve has another area
    assert fpr[0] == 0 and tpr[-1] == 1 and np.all(np.diff(tpr) >= -1e-12)


def test_one_fold_is_its_own_roc_curve():
    y = np.array([0, 1, 0, 1, 1, 0])
    p = np.array([0.1, 0.9, 0.4, 0.35, 0.8, 0.2])
    fpr, tpr = fold_mean_roc(y, p, ["a"] * 6)
    f, t = roc_points(y, p)
    assert np.interp(0.5, f, t) == pytest.approx(np.interp(0.5, fpr, tpr))
    with pytest.raises(ValueError):
        fold_mean_roc([1, 1], [0.2, 0.3], ["a", "a"])
