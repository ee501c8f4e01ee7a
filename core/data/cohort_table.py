"""Table 1 of the cohort (by outcome and by part of the split) and the missing data per feature.

TRIPOD+AI items 14b/20a: describe the participants, overall and by outcome, and for each
predictor how many values are missing and how missingness was handled. Numeric features:
mean (SD) and median [IQR]; categorical and binary features: n (%) per level. Only aggregates,
never a patient row, and no cell of fewer than ``min_cell`` patients (the schema's, default 5):
such levels are merged, such counts suppressed.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


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
        out["levels"] = {str(k): int(v) for k, v in counts.items()}
    return out


def table_one(dataset: Any, splits: Sequence[Any] = ()) -> dict[str, Any]:
    """``{"columns": [...], "rows": {feature: {column: summary}}}``: columns ``all``, ``events``,
    ``non-events`` and, for a single (hold-out) split, ``train``, ``val``, ``test``. Cells of fewer
    than the schema's ``min_cell`` patients are suppressed or merged (:func:`suppress_small_cells`)."""
    y = np.asarray(dataset.labels).astype(bool)
    groups: dict[str, np.ndarray] = {"all": np.arange(y.size), "events": np.flatnonzero(y),
                                     "non-events": np.flatnonzero(~y)}
    if len(splits) == 1:
        for part, idx in splits[0].parts().items():
            groups[part] = np.asarray(idx, dtype=int)
    min_cell = int(getattr(dataset.schema, "min_cell", MIN_CELL))
    rows = {}
    for spec in dataset.schema.features:
        column = dataset.frame[spec.name]
        # every level counted, the same in every column (levels of few patients are merged, not cut)
        rows[spec.name] = suppress_small_cells(
            {"kind": spec.kind, **{g: _describe(column.iloc[idx], spec.kind) for g, idx in groups.items()}},
            min_cell)
    sizes = {g: {"n": int(idx.size), "events": int(y[idx].sum())} for g, idx in groups.items()}
    return {"columns": list(groups), "sizes": sizes, "rows": rows, "min_cell": min_cell}


#: the default of a schema's ``min_cell``
MIN_CELL = 5
#: column groups that partition the cohort: one small cell of a group could be recovered from the
#: others and the total, so a level suppressed in one column of a group is suppressed in all of them
_PARTITIONS = (("events", "non-events"), ("train", "val", "test"))


def other_level(min_cell: int) -> str:
    """The name of the level that merges the levels of fewer than ``min_cell`` patients."""
    return f"other levels (each < {min_cell} patients)"


def suppress_small_cells(row: dict[str, Any], min_cell: int) -> dict[str, Any]:
    """Table 1's small-cell rule for one feature (in place; returned). Categorical and binary: levels
    with fewer than ``min_cell`` patients in the whole cohort are merged into one "other levels" level;
    a count from 1 to ``min_cell - 1`` is shown as None (suppressed), and in each partition of the
    cohort (events / non-events; train / val / test) a level suppressed in one column is suppressed
    in all. Numeric: a column with fewer than ``min_cell`` values shows no summary (a mean of one
    patient is that patient's value)."""
    columns = [c for c in row if c != "kind"]
    if min_cell <= 1:
        return row
    if row["kind"] == "numeric":
        for c in columns:
            present = row[c]["n"] - row[c]["missing"]
            if 0 < present < min_cell:
                for key in ("mean", "sd", "median", "q1", "q3"):
                    row[c].pop(key, None)
                row[c]["suppressed"] = True
        return row
    small = {lv for lv, n in (row["all"].get("levels") or {}).items() if n < min_cell}
    other = other_level(min_cell)
    for c in columns:
        levels = row[c].get("levels") or {}
        merged = sum(n for lv, n in levels.items() if lv in small)
        kept = {lv: n for lv, n in levels.items() if lv not in small}
        if merged or (small and c == "all"):
            kept[other] = merged
        row[c]["levels"] = kept
    hidden: dict[str, set[str]] = {c: {lv for lv, n in row[c]["levels"].items() if 0 < n < min_cell} for c in columns}
    for group in _PARTITIONS:
        present = [c for c in group if c in columns]
        for level in set().union(*(hidden[c] for c in present)) if present else ():
            for c in present:
                hidden[c].add(level)
    for c in columns:
        for level in hidden[c]:
            if level in row[c]["levels"]:
                row[c]["levels"][level] = None
        if hidden[c]:
            row[c]["suppressed"] = sorted(hidden[c])
    return row


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
