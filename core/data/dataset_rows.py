"""Some rows of a validated dataset as a dataset of their own, optionally with other feature values.

Permutation importance asks a fitted model for P(yes) of the validation patients with one
feature's values permuted among them: :func:`dataset_rows` gives that model a dataset like any
other (records and prompts are rendered from the new values; ids and labels stay the patients'),
so every model answers through its one ``predict_proba(dataset)``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def dataset_rows(dataset: Any, indices: Sequence[int] | np.ndarray, frame: Any = None) -> Any:
    """The rows ``indices`` of ``dataset`` (a :class:`~clinpred.core.data.dataset.Dataset`), with
    ``frame`` (the same feature columns, one row per index, in order) in place of their values."""
    from clinpred.core.data.dataset import Dataset

    idx = np.asarray(indices, dtype=int).reshape(-1)
    values = dataset.feature_frame(idx) if frame is None else frame.reset_index(drop=True)
    if len(values) != idx.size or list(values.columns) != list(dataset.frame.columns):
        raise ValueError(f"dataset_rows: {idx.size} rows of columns {list(dataset.frame.columns)} needed, "
                         f"got {len(values)} rows of {list(values.columns)}")
    groups = getattr(dataset, "groups", None)
    return Dataset(frame=values, ids=[dataset.ids[i] for i in idx], labels=np.asarray(dataset.labels)[idx],
                   schema=dataset.schema, sha256=dataset.sha256, source=dataset.source,
                   groups=None if groups is None else np.asarray(groups)[idx])


__all__ = ["dataset_rows"]
