"""Table 1 of the cohort (by outcome and by part of the split) and the missing data per feature.

TRIPOD+AI items 14b/20a: describe the participants, overall and by outcome, and for each
predictor how many values are missing and how missingness was handled. Numeric features:
mean (SD) and median [IQR]; categorical and binary features: n per level, the levels in the
schema's order (its ``value_labels``, then the natural order: numbers by value, text
alphabetically). Each feature carries the schema's display name, unit, decimals and value labels,
so a report can print it as a paper would. Only aggregates, never a patient row.

Small cells (:func:`suppress_small_cells`, ``min_cell``: the schema's, default 5): levels of fewer
than ``min_cell`` patients in the whole cohort are merged into one "other levels" level, a count
of 1 .. ``min_cell`` - 1 (:func:`cell_count`) is suppressed (None, with ``suppressed`` listing the
level), and within a partition of the cohort a cell hidden in one column is hidden in all.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from clinpred.core.data.schema import FeatureSpec, _norm

_MAX_LEVELS = 12
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def cell_count(count: int, min_cell: int = 0) -> int | None:
    """``count``, or None when it is a small cell (1 .. ``min_cell`` - 1 patients) to suppress."""
    return None if 0 < count < min_cell else int(count)


def level_order(spec: FeatureSpec, values: Sequence[str]) -> list[str]:
    """The levels present in ``values`` in the schema's order: the ``value_labels`` keys as written
    (matched by value, so "1.0" is the key "1"), then the rest in natural order (numbers by value,
    then text alphabetically, case-insensitive)."""
    present = list(dict.fromkeys(str(v) for v in values))
    by_key = {_norm(v): v for v in present}
    ordered = [by_key.pop(_norm(k)) for k in spec.value_labels if _norm(k) in by_key]
    rest = list(by_key.values())
    numbers = sorted((v for v in rest if _NUMBER.match(v.strip())), key=lambda v: float(v))
    texts = sorted((v for v in rest if not _NUMBER.match(v.strip())), key=lambda v: (v.lower(), v))
    return ordered + numbers + texts


def level_label(spec: FeatureSpec, value: str) -> str:
    """The schema's value label of ``value`` (matched by value), else the value itself."""
    key = _norm(value)
    return next((label for raw, label in spec.value_labels.items() if _norm(raw) == key), value)


#: the default of a schema's ``min_cell``
MIN_CELL = 5
#: column groups that partition the cohort: one small cell of a group could be recovered from the
#: others and the total, so a cell suppressed in one column of a group is suppressed in all of them
_PARTITIONS = (("events", "non-events"), ("train", "val", "test"))


def other_level(min_cell: int) -> str:
    """The name of the level that merges the levels of fewer than ``min_cell`` patients."""
    return f"other levels (each < {min_cell} patients)"


def _describe(values: Any, spec: FeatureSpec, levels: Sequence[str], min_cell: int = 0) -> dict[str, Any]:
    present = values.dropna()
    out: dict[str, Any] = {"n": int(values.size), "missing": cell_count(int(values.size - present.size), min_cell)}
    if spec.kind == "numeric":
        x = present.astype(float).to_numpy()
        if x.size:
            q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
            out.update(mean=float(x.mean()), sd=float(x.std(ddof=1)) if x.size > 1 else None,
                       median=float(med), q1=float(q1), q3=float(q3))
        return out
    counts = present.astype(str).value_counts()
    out["levels"] = {level: cell_count(int(counts.get(level, 0)), min_cell) for level in levels}
    other = int(counts.sum() - sum(int(counts.get(level, 0)) for level in levels))
    if other:
        out["other_levels"] = cell_count(other, min_cell)
    suppressed = [level for level, c in out["levels"].items() if c is None]
    if suppressed or out["missing"] is None:
        out["suppressed"] = suppressed + (["missing"] if out["missing"] is None else [])
    return out


def _shown_levels(spec: FeatureSpec, column: Any) -> list[str]:
    """Up to ``_MAX_LEVELS`` levels (the most frequent), in the schema's order."""
    counts = column.dropna().astype(str).value_counts()
    keep = set(counts.index[:_MAX_LEVELS]) if counts.size > _MAX_LEVELS else set(counts.index)
    return [level for level in level_order(spec, list(counts.index)) if level in keep]


def table_one(dataset: Any, splits: Sequence[Any] = (), *, min_cell: int | None = None) -> dict[str, Any]:
    """``{"columns": [...], "sizes": {...}, "rows": {feature: {...}}, "min_cell": k}``: columns ``all``,
    ``events``, ``non-events`` and, for a single (hold-out) split, ``train``, ``val``, ``test``. Each row
    has the feature's ``display``, ``unit``, ``kind``, ``decimals`` and, for levels, ``level_labels`` (in
    order), then one summary per column. ``min_cell``: the small-cell limit (default: the schema's)."""
    if min_cell is None:
        min_cell = int(getattr(dataset.schema, "min_cell", MIN_CELL))
    y = np.asarray(dataset.labels).astype(bool)
    groups: dict[str, np.ndarray] = {"all": np.arange(y.size), "events": np.flatnonzero(y),
                                     "non-events": np.flatnonzero(~y)}
    if len(splits) == 1:
        for part, idx in splits[0].parts().items():
            groups[part] = np.asarray(idx, dtype=int)
    rows = {}
    for spec in dataset.schema.features:
        column = dataset.frame[spec.name]
        row: dict[str, Any] = {"display": spec.display, "unit": spec.unit, "kind": spec.kind,
                               "decimals": spec.decimals if spec.decimals is not None else written_decimals(column)
                               if spec.kind == "numeric" else None}
        levels = _shown_levels(spec, column) if spec.kind != "numeric" else []
        row.update({g: _describe(column.iloc[idx], spec, levels) for g, idx in groups.items()})
        suppress_small_cells(row, min_cell, list(groups))
        if spec.kind != "numeric":
            row["level_labels"] = {level: level_label(spec, level) for level in row["all"]["levels"]}
        rows[spec.name] = row
    sizes = {g: {"n": int(idx.size), "events": int(y[idx].sum())} for g, idx in groups.items()}
    return {"columns": list(groups), "sizes": sizes, "rows": rows, "min_cell": int(min_cell)}


def suppress_small_cells(row: dict[str, Any], min_cell: int, columns: Sequence[str] | None = None) -> dict[str, Any]:
    """Table 1's small-cell rule for one feature's raw counts (in place; returned). ``columns``: the
    row's summaries (default: every key but ``kind``). Categorical and binary: levels with fewer than
    ``min_cell`` patients in the whole cohort are merged into one "other levels" level; a count of a
    level, of the levels beyond those shown or of the missing values from 1 to ``min_cell - 1`` is
    None (suppressed), and in each partition of the cohort (events / non-events; train / val / test)
    a cell suppressed in one column is suppressed in all. Numeric: a column with fewer than
    ``min_cell`` values shows no summary (a mean of one patient is that patient's value)."""
    columns = [c for c in (columns if columns is not None else row) if c in row and c != "kind"]
    if min_cell <= 1:
        return row
    if row["kind"] != "numeric":
        small = {lv for lv, n in (row["all"].get("levels") or {}).items() if n is not None and n < min_cell}
        other = other_level(min_cell)
        for c in columns:
            levels = row[c].get("levels") or {}
            merged = sum(n for lv, n in levels.items() if lv in small)
            kept = {lv: n for lv, n in levels.items() if lv not in small}
            if small:
                kept[other] = merged
            row[c]["levels"] = kept
    else:
        for c in columns:
            present = row[c]["n"] - row[c]["missing"]
            if 0 < present < min_cell:
                for key in ("mean", "sd", "median", "q1", "q3"):
                    row[c].pop(key, None)
                row[c]["suppressed_summary"] = True

    def cells(c: str) -> dict[str, Any]:
        summary = row[c]
        out = dict(summary.get("levels") or {})
        out.update({key: summary[key] for key in ("other_levels", "missing") if key in summary})
        return out

    hidden = {c: {key for key, n in cells(c).items() if n is not None and 0 < n < min_cell} for c in columns}
    for group in _PARTITIONS:
        present = [c for c in group if c in columns]
        for key in set().union(*(hidden[c] for c in present)) if present else ():
            for c in present:
                hidden[c].add(key)
    for c in columns:
        for key in hidden[c]:
            if key in ("other_levels", "missing"):
                if key in row[c]:
                    row[c][key] = None
            elif key in (row[c].get("levels") or {}):
                row[c]["levels"][key] = None
        if hidden[c]:
            row[c]["suppressed"] = sorted(hidden[c], key=str)
    return row


def written_decimals(column: Any, cap: int = 3) -> int:
    """The most decimals the column's values need (at most ``cap``): how they were written."""
    most = 0
    for value in column.dropna().astype(float).unique()[:5000]:
        text = np.format_float_positional(float(value), trim="-")
        most = max(most, len(text.split(".", 1)[1]) if "." in text else 0)
        if most >= cap:
            return cap
    return most


def missing_data(dataset: Any, *, indicators: bool = False) -> list[dict[str, Any]]:
    """Per feature: missing count and share, and how the baselines (``indicators``: with a
    missingness indicator column) and the prompts handle it."""
    task = dataset.schema.task
    policy = getattr(getattr(task, "missing", None), "value", str(getattr(task, "missing", "")))
    prompt = ("left out of the prompt" if str(policy).lower() == "omit"
              else f"written as {getattr(task, 'missing_text', 'missing')!r} in the prompt")
    out = []
    n = len(dataset.labels)
    for spec in dataset.schema.features:
        missing = int(dataset.frame[spec.name].isna().sum())
        baseline = ("median imputation (training part)" if spec.kind == "numeric"
                    else "most frequent level (training part)")
        if indicators and missing:
            baseline += " + a missingness indicator"
        out.append({"feature": spec.name, "display": spec.display, "missing": missing,
                    "fraction": missing / n if n else 0.0, "baselines": baseline, "llm_prompt": prompt})
    return out
