"""The cohort items of ``metrics.json["cohort"]``: Table 1, missing data, the sample-size statement."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from clinpred.core.data.cohort_table import missing_data, table_one
from clinpred.core.evaluation.cautions import candidate_parameters
from clinpred.core.evaluation.sample_size import riley_sample_size


def sample_size_statement(dataset: Any, splits: Sequence[Any]) -> dict[str, Any]:
    """Riley et al. 2020 minimum n for this many candidate parameters and this outcome rate,
    against the cohort and its smallest training part."""
    y = np.asarray(dataset.labels)
    params = candidate_parameters(dataset)
    res = riley_sample_size(params, float(y.mean()))
    smallest = min((len(s.train) for s in splits), default=int(y.size))
    res.update(cohort_n=int(y.size), cohort_events=int(y.sum()), smallest_training_n=int(smallest),
               adequate=bool(smallest >= res["minimum_n"]))
    return res


def cohort_items(dataset: Any, splits: Sequence[Any]) -> dict[str, Any]:
    return {"table1": table_one(dataset, splits), "missing_data": missing_data(dataset),
            "sample_size": sample_size_statement(dataset, splits)}
