"""The splits of a run's evaluation protocol: the same for every model of the run."""

from __future__ import annotations

from typing import Any

import numpy as np

from clinpred.core.errors import ConfigError
from clinpred.core.evaluation.settings import EvaluationConfig


def make_splits(labels: np.ndarray, ev: EvaluationConfig, groups: Any = None, sites: Any = None) -> list[Any]:
    """The splits of the evaluation protocol (identical for every model); by whole groups when
    the schema has a ``group_column``; one per site for ``internal-external``."""
    from clinpred.core.data.splits import cv_splits, holdout_split

    if ev.protocol == "internal-external":
        from clinpred.core.data.group_splits import leave_one_site_out

        if sites is None:
            raise ConfigError('protocol = "internal-external" needs [dataset] site_column = "COLUMN" (a feature '
                              "naming each patient's site, e.g. hospital or country)")
        return leave_one_site_out(labels, sites, seed=ev.seed, val_fraction=ev.val_fraction)

    if groups is not None:
        from clinpred.core.data.group_splits import grouped_cv_splits, grouped_holdout_split

        if ev.protocol == "holdout":
            return [grouped_holdout_split(labels, groups, seed=ev.seed)]
        return grouped_cv_splits(labels, groups, k=ev.cv_folds, repeats=ev.cv_repeats, seed=ev.seed,
                                 val_fraction=ev.val_fraction)

    if ev.protocol == "holdout":
        return [holdout_split(labels, seed=ev.seed)]
    return cv_splits(labels, k=ev.cv_folds, repeats=ev.cv_repeats, seed=ev.seed, val_fraction=ev.val_fraction)
