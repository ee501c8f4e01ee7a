"""Table 1 of the cohort (by outcome and by part of the split) and the missing data per feature.

TRIPOD+AI items 14b/20a: describe the participants, overall and by outcome, and for each
predictor how many values are missing and how missingness was handled. Numeric features:
mean (SD) and median [IQR]; categorical and binary features: n (%) per level. Only aggregates,
never a patient row.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

_MAX_LEVELS = 12


def _describe(values: Any, kind: str) -> dict[str, Any]:
    present = values.dropna()
    out: dict[str, Any] = {"n": int(values.size), "missing": int(values.size - present.size)}
    if kind == "numeric":
        x = present.astype(float).to_numpy()
        if x.size:
            q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
            out.update(mean=float(x.mean()), sd=float(x.std(ddof=1)) if x.size > 1 else None,
                       median=float(med), q1=float(q1), q3=float(q3))
    else:
        counts = present.astype(str).value_counts()
        out["levels"] = {str(k): int(v) for k, v in counts.head(_MAX_LEVELS).items()}
        if counts.size > _MAX_LEVELS:
            out["other_levels"] = int(counts.iloc[_MAX_LEVELS:].sum())
    return out


def table_one(dataset: Any, splits: Sequence[Any] = ()) -> dict[str, Any]:
    """``{"columns": [...], "rows": {feature: {column: summary}}}``: columns ``all``, ``events``,
    ``non-events`` and, for a single (hold-out) split, ``train``, ``val``, ``test``."""
    y = np.asarray(dataset.labels).astype(bool)
    groups: dict[str, np.ndarray] = {"all": np.arange(y.size), "events": np.flatnonzero(y),
                                     "non-events": np.flatnonzero(~y)}
    if len(splits) == 1:
        for part, idx in splits[0].parts().items():
            groups[part] = np.asarray(idx, dtype=int)
    rows = {}
    for spec in dataset.schema.features:
        column = dataset.frame[spec.name]
        rows[spec.name] = {"kind": spec.kind, **{g: _describe(column.iloc[idx], spec.kind) for g, idx in groups.items()}}
    sizes = {g: {"n": int(idx.size), "events": int(y[idx].sum())} for g, idx in groups.items()}
    return {"columns": list(groups), "sizes": sizes, "rows": rows}


def missing_data(dataset: Any) -> list[dict[str, Any]]:
    """Per feature: missing count and share, and how the baselines and the prompts handle it."""
    task = dataset.schema.task
    policy = getattr(getattr(task, "missing", None), "value", str(getattr(task, "missing", "")))
    prompt = ("left out of the prompt" if str(policy).lower() == "omit"
              else f"written as {getattr(task, 'missing_text', 'missing')!r} in the prompt")
    out = []
    n = len(dataset.labels)
    for spec in dataset.schema.features:
        missing = int(dataset.frame[spec.name].isna().sum())
        baseline = "median imputation (training part)" if spec.kind == "numeric" else "most frequent level (training part)"
        out.append({"feature": spec.name, "missing": missing, "fraction": missing / n if n else 0.0,
                    "baselines": baseline, "llm_prompt": prompt})
    return out
