"""The cohort items of ``metrics.json["cohort"]``: Table 1, missing data, the sample-size statement."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from clinpred.core.data.cohort_table import missing_data, table_one
from clinpred.core.evaluation.cautions import MISSINGNESS_AUROC, candidate_parameters, missingness_auroc
from clinpred.core.evaluation.sample_size import riley_sample_size


def sample_size_statement(dataset: Any, splits: Sequence[Any], anticipated_r2: float | None = None) -> dict[str, Any]:
    """Riley et al. 2020 minimum n for this many candidate parameters and this outcome rate
    (``anticipated_r2``: the Cox-Snell R-squared expected, e.g. from an earlier model; None: the
    conservative default), against the cohort and its smallest training part."""
    y = np.asarray(dataset.labels)
    params = candidate_parameters(dataset)
    res = riley_sample_size(params, float(y.mean()), anticipated_r2)
    smallest = min((len(s.train) for s in splits), default=int(y.size))
    res.update(cohort_n=int(y.size), cohort_events=int(y.sum()), smallest_training_n=int(smallest),
               adequate=bool(smallest >= res["minimum_n"]))
    return res


def cohort_items(dataset: Any, splits: Sequence[Any], settings: Any = None, *, min_cell: int | None = None) -> dict[str, Any]:
    """Table 1, the missing data and the sample-size statement (``settings``: the run's
    :class:`~clinpred.core.evaluation.settings.EvaluationConfig`, for ``missing_indicators`` and
    ``anticipated_r2``)."""
    out = {"table1": table_one(dataset, splits, min_cell=min_cell),
           "missing_data": missing_data(dataset, indicators=bool(getattr(settings, "missing_indicators", False))),
           "sample_size": sample_size_statement(dataset, splits, getattr(settings, "anticipated_r2", None))}
    if splits:  # does the pattern of missing values alone predict the outcome? (the warning's number)
        train = np.asarray(splits[0].train, dtype=int)
        auc, columns = missingness_auroc(dataset.frame.iloc[train], dataset.labels[train])
        if auc is not None:
            out["missingness_pattern"] = {"auroc": auc, "columns": columns, "warn_at": MISSINGNESS_AUROC,
                                          "method": "cross-validated logistic regression on the 0/1 missingness "
                                                    "columns, training part of the first split"}
    return out
