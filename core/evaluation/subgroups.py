"""Performance by subgroup (TRIPOD+AI item 23a, health inequalities): AUROC and
calibration-in-the-large with 95% CIs for each level of each schema ``subgroups`` column.

Within a level, each repeat's test predictions (each patient once; one repeat for a hold-out)
give the AUROC and the calibration intercept, averaged over repeats; the CIs come from a
bootstrap of the level's patients carrying all their rows: stratified by outcome for the AUROC,
unstratified for the calibration intercept (which depends on the event rate). Unlike the
overall AUROC, folds are pooled within a repeat here (a level holds too few patients per fold).
Levels with fewer than 5 patients of either class get no estimate. Small cells (the schema's
``min_cell``, default 5): levels of fewer patients are merged into one "other levels" level (or,
still too few, suppressed), and a level's count of events is not shown when it or the non-events
count is below ``min_cell``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from clinpred.core.evaluation.calibration import calibration_intercept
from clinpred.core.evaluation.metric_kernels import weighted_auroc
from clinpred.core.evaluation.intervals import percentile_interval
from clinpred.core.evaluation.resampling import patient_weights, stratified_weights

MIN_PER_CLASS = 5


def _json(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def level_metrics(labels: np.ndarray, rows: list[tuple[np.ndarray, np.ndarray]], members: np.ndarray,
                  n_resamples: int, seed: int) -> dict[str, Any]:
    """``rows``: per repeat ``(patient index, p)`` of all test rows; ``members``: the level's patients."""
    y = labels.astype(float)
    sub_y = y[members]
    events = int(sub_y.sum())
    out: dict[str, Any] = {"n": int(members.size), "events": events}
    if min(events, members.size - events) < MIN_PER_CLASS:
        out["note"] = f"fewer than {MIN_PER_CLASS} patients of a class: no estimate"
        return out
    pos = {int(i): k for k, i in enumerate(members)}
    ones = np.ones((1, members.size))
    w_auc = np.vstack([ones, stratified_weights(sub_y, n_resamples, seed)])
    w_citl = np.vstack([ones, patient_weights(members.size, n_resamples, seed)])
    auc, citl = np.zeros(w_auc.shape[0]), np.zeros(w_citl.shape[0])
    for idx, p in rows:
        keep = np.isin(idx, members)
        local = np.array([pos[int(i)] for i in idx[keep]], dtype=int)
        auc += weighted_auroc(y[idx[keep]], p[keep], w_auc[:, local])
        citl += calibration_intercept(y[idx[keep]], p[keep], w_citl[:, local])
    auc /= len(rows)
    citl /= len(rows)
    for name, v in (("auroc", auc), ("calibration_intercept", citl)):
        lo, hi, undefined = percentile_interval(v[1:])
        out[name] = {"value": _json(v[0]), "ci": [_json(lo), _json(hi)], "undefined_resamples": undefined}
    return out


def subgroup_metrics(dataset: Any, units: Mapping[str, Any], columns: tuple[str, ...], repeats: dict[str, int] | None,
                     *, n_resamples: int, seed: int) -> dict[str, Any]:
    """``{column: {"levels": {level: {...}}, "auroc_spread": max - min}}`` for one model."""
    by_repeat: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    for name, unit in units.items():
        r = 0 if repeats is None else repeats[name]
        by_repeat.setdefault(r, []).append((unit.test.index, unit.test.p))
    rows = [(np.concatenate([i for i, _ in parts]), np.concatenate([p for _, p in parts])) for parts in by_repeat.values()]
    tested = np.unique(np.concatenate([i for i, _ in rows]))
    min_cell = int(getattr(getattr(dataset, "schema", None), "min_cell", MIN_PER_CLASS))
    out: dict[str, Any] = {}
    for column in columns:
        values = dataset.frame[column].astype(object).where(dataset.frame[column].notna(), "missing").astype(str).to_numpy()
        groups = {level: tested[values[tested] == level] for level in sorted(set(values[tested]))}
        small = [level for level, members in groups.items() if members.size < min_cell]
        if small:  # levels of few patients are merged into one (small-cell rule)
            merged = np.sort(np.concatenate([groups.pop(level) for level in small]))
            groups[f"other levels (each < {min_cell} patients)"] = merged
        levels = {}
        for level, members in groups.items():
            if members.size < min_cell:  # even merged, too few to show
                levels[level] = {"n": None, "events": None,
                                 "note": f"fewer than {min_cell} patients: suppressed (small-cell rule)"}
                continue
            levels[level] = entry = level_metrics(dataset.labels, rows, members, n_resamples, seed)
            if min(entry["events"], entry["n"] - entry["events"]) < min_cell:
                entry["events"] = None  # with n, a count of few events (or non-events) would identify outcomes
        aucs = [v["auroc"]["value"] for v in levels.values() if (v.get("auroc") or {}).get("value") is not None]
        out[column] = {"levels": levels, "auroc_spread": (max(aucs) - min(aucs)) if len(aucs) > 1 else None,
                       "min_cell": min_cell}
    return out
