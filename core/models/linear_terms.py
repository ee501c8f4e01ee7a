"""The coefficients of a fitted linear tabular model as odds ratios a clinician can read.

A :class:`~clinpred.core.models.tabular.TabularModel` pipeline standardises numeric columns for
penalised linear models, so a coefficient ``b`` is per standard deviation of the (imputed)
training column: odds ratio per SD ``exp(b)``, per unit of the feature ``exp(b / SD)``. A
categorical feature is one-hot encoded with every level, so only differences between its levels
are identified: each level's odds ratio is against the reference level (the first in the schema's
order), ``exp(b_level - b_reference)``. A missingness indicator's odds ratio compares a missing
with a recorded value. Nothing here refits anything: it reads the fitted pipeline.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np


def _exp(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return math.exp(x) if x < 700 else None  # beyond float range: not a number JSON can hold


def _coefficients(model: Any) -> tuple[np.ndarray, float] | None:
    fitted = getattr(model, "model_", model)  # wrappers keep the fitted LogisticRegression in model_
    coef = getattr(fitted, "coef_", None)
    if coef is None:
        return None
    return np.asarray(coef, dtype=float).reshape(-1), float(np.asarray(getattr(fitted, "intercept_", [0.0])).reshape(-1)[0])


def linear_terms(pipe: Any, schema_features: Sequence[Any] = ()) -> dict[str, Any] | None:
    """``{"intercept", "terms": [{"term", "feature", "level", "reference", "coefficient", "sd",
    "log_odds_ratio_per_unit", "odds_ratio_per_sd", "odds_ratio_per_unit"}]}`` of a fitted pipeline
    whose model has ``coef_`` (else None); ``coefficient`` is the log odds ratio per SD (numeric) or
    against the reference (a level, a missing value); an odds ratio beyond float range is None (its
    log is kept). ``schema_features`` (FeatureSpecs) give the levels' order and labels."""
    from clinpred.core.data.cohort_table import level_label, level_order

    found = _coefficients(pipe.named_steps["model"])
    if found is None:
        return None
    coef, intercept = found
    specs = {getattr(f, "name", None): f for f in schema_features}
    prep = pipe.named_steps["prepare"]
    terms: list[dict[str, Any]] = []
    at = 0
    for name, transformer, columns in prep.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        if name == "numeric":
            scaler = transformer.named_steps.get("scale")
            kept = _kept(transformer.named_steps["impute"], columns)
            for k, column in enumerate(kept):
                b = float(coef[at + k])
                sd = float(scaler.scale_[k]) if scaler is not None else None
                per_unit = b / sd if sd else (b if scaler is None else None)
                terms.append({"term": column, "feature": column, "level": None, "reference": None, "coefficient": b,
                              "sd": sd, "log_odds_ratio_per_unit": per_unit,
                              "odds_ratio_per_sd": _exp(b) if scaler is not None else None,
                              "odds_ratio_per_unit": _exp(per_unit)})
            at += len(kept)
        elif name == "categorical":
            onehot = transformer.named_steps["onehot"]
            kept = _kept(transformer.named_steps["impute"], columns)
            for k, column in enumerate(kept):
                levels = [str(v) for v in onehot.categories_[k]]
                b = {level: float(coef[at + j]) for j, level in enumerate(levels)}
                at += len(levels)
                spec = specs.get(column)
                ordered = level_order(spec, levels) if spec is not None else sorted(levels)
                label = (lambda v, s=spec: level_label(s, v) if s is not None else v)
                ref = ordered[0]
                for level in ordered[1:]:
                    diff = b[level] - b[ref]
                    terms.append({"term": f"{column}: {label(level)} vs {label(ref)}", "feature": column,
                                  "level": level, "reference": ref, "coefficient": diff, "sd": None,
                                  "log_odds_ratio_per_unit": diff, "odds_ratio_per_sd": None,
                                  "odds_ratio_per_unit": _exp(diff)})
        elif name == "missing":
            flagged = [columns[i] for i in transformer.features_]
            for k, column in enumerate(flagged):
                b = float(coef[at + k])
                terms.append({"term": f"{column} missing", "feature": column, "level": "missing",
                              "reference": "recorded", "coefficient": b, "sd": None, "log_odds_ratio_per_unit": b,
                              "odds_ratio_per_sd": None, "odds_ratio_per_unit": _exp(b)})
            at += len(flagged)
    if at != coef.size:  # a pipeline of another shape: say nothing rather than something wrong
        return None
    return {"intercept": intercept, "terms": terms}


def _kept(imputer: Any, columns: Sequence[str]) -> list[str]:
    """The columns an imputer kept (it drops columns with no observed value in training)."""
    stats = getattr(imputer, "statistics_", None)
    if stats is None:
        return list(columns)
    keep = getattr(imputer, "keep_empty_features", False)
    out = []
    for column, value in zip(columns, stats):
        empty = value is None or (isinstance(value, float) and math.isnan(value))
        if keep or not empty:
            out.append(column)
    return out


__all__ = ["linear_terms"]
