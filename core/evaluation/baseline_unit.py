"""One (baseline, split) unit: fit a scikit-learn baseline on the training part, predict the rest."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from clinpred.core.evaluation.thresholds import select_threshold


def run_baseline_unit(name: str, dataset: Any, split: Any, train_idx: np.ndarray, *, seed: int,
                      threshold_method: str, fixed_threshold: float, class_weight: str | None,
                      inner_oversample: bool = False) -> dict[str, Any]:
    """Fit ``name`` on ``train_idx`` (already balanced), choose the threshold on the validation
    part, and return the unit result (validation and test probabilities, threshold)."""
    from clinpred.core.evaluation.baselines import fit_predict_baseline

    start = time.perf_counter()
    labels = dataset.labels
    frame = dataset.feature_frame()
    categorical = [f.name for f in dataset.schema.features if f.kind in ("categorical", "binary")]
    p_val, p_test = fit_predict_baseline(
        name,
        frame.iloc[train_idx].reset_index(drop=True),
        labels[train_idx],
        [frame.iloc[split.val].reset_index(drop=True), frame.iloc[split.test].reset_index(drop=True)],
        categorical=categorical,
        seed=seed,
        class_weight=class_weight,
        inner_oversample=inner_oversample,
    )
    choice = select_threshold(labels[split.val], p_val, threshold_method, fixed_threshold,
                              fallback=float(labels[train_idx].mean()))
    return {
        "status": "done",
        "threshold": choice.value,
        "threshold_reason": choice.reason,
        "val": {"index": split.val, "p": p_val},
        "test": {"index": split.test, "p": p_test},
        "seconds": time.perf_counter() - start,
    }
