"""What each model relied on, over its splits: ``importance`` and (linear models) ``coefficients``.

Reads what the units recorded: ``importance`` (permutation importance on each validation part,
:mod:`clinpred.core.evaluation.importance`) and, for a model whose estimator has coefficients,
``estimator.coefficients`` (odds ratios, :mod:`clinpred.core.models.linear_terms`) with the
``estimator.penalty`` it chose. Cross-validated coefficients are averaged on the log-odds scale
over the splits (the odds ratio of the mean coefficient), with how many splits selected each
term (a non-zero coefficient: LASSO drops terms) and the range over splits.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from clinpred.core.evaluation.importance import summarize_importance

#: a coefficient smaller than this (in absolute value) counts as not selected (exactly 0 in LASSO)
ZERO = 1e-12


def _mean(values: list[float | None]) -> float | None:
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def _exp(x: float | None) -> float | None:
    return math.exp(x) if x is not None and x < 700 else None  # beyond float range: the log says it


def coefficient_summary(units: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{term: {"feature", "level", "reference", "log_odds_ratio_per_sd", "log_odds_ratio_per_unit",
    "odds_ratio_per_sd", "odds_ratio_per_unit", "sd", "selected_splits", "splits",
    "log_odds_ratio_per_unit_range", "odds_ratio_per_unit_range"}}`` over the splits, in the first split's order."""
    fits = [u.detail("estimator").get("coefficients") for u in units.values()]
    fits = [f for f in fits if isinstance(f, dict) and f.get("terms") is not None]
    if not fits:
        return None
    order = list(dict.fromkeys(t["term"] for f in fits for t in f["terms"]))
    out: dict[str, Any] = {}
    for term in order:
        rows = [t for f in fits for t in f["terms"] if t["term"] == term]
        per_sd = _mean([t["coefficient"] for t in rows if t.get("sd") is not None])
        per_unit = _mean([t.get("log_odds_ratio_per_unit") for t in rows])
        logs = [float(t["log_odds_ratio_per_unit"]) for t in rows if t.get("log_odds_ratio_per_unit") is not None
                and math.isfinite(t["log_odds_ratio_per_unit"])]
        sds = [t["sd"] for t in rows if t.get("sd") is not None]
        first = rows[0]
        out[term] = {"feature": first["feature"], "level": first.get("level"), "reference": first.get("reference"),
                     "log_odds_ratio_per_sd": per_sd, "log_odds_ratio_per_unit": per_unit,
                     "odds_ratio_per_sd": _exp(per_sd), "odds_ratio_per_unit": _exp(per_unit),
                     "sd": float(np.mean(sds)) if sds else None,
                     "selected_splits": sum(abs(float(t["coefficient"])) > ZERO for t in rows), "splits": len(fits)}
        if len(rows) > 1 and logs:
            out[term]["log_odds_ratio_per_unit_range"] = [min(logs), max(logs)]
            out[term]["odds_ratio_per_unit_range"] = [_exp(min(logs)), _exp(max(logs))]
    return out


def penalty_summary(units: Mapping[str, Any]) -> dict[str, Any] | None:
    """The penalty each split's fit chose (``estimator.penalty``; ``C`` for a tuned one), or None."""
    chosen = {s: u.detail("estimator") for s, u in units.items() if u.detail("estimator").get("penalty")}
    if not chosen:
        return None
    out: dict[str, Any] = {"per_split": {s: e["penalty"] for s, e in chosen.items()}}
    cs = [float(e["C"]) for e in chosen.values() if isinstance(e.get("C"), (int, float))]
    if cs:
        out["C"] = {"median": float(np.median(cs)), "min": float(min(cs)), "max": float(max(cs))}
    return out


def relied_on(units: Mapping[str, Any], repeats: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The ``importance`` (and ``importance_note``), ``coefficients`` and ``penalty`` keys of a
    model's metrics.json entry (those it has). ``repeats``: split -> repeat (cross-validation)."""
    per_split = [u.details.get("importance") for u in units.values()]
    repeat_of = [repeats[s] for s in units] if repeats else None
    out: dict[str, Any] = {}
    summary = summarize_importance([p if isinstance(p, dict) else {} for p in per_split], repeat_of)
    if summary is not None:
        done = [p for p in per_split if isinstance(p, dict) and "features" in p]
        out["importance"] = summary
        out["importance_method"] = {
            "what": "drop in validation AUROC when the feature's values are permuted across the validation "
                    "patients (the same for every model)",
            "repeats": done[0]["repeats"], "splits": len(done),
            "ci": "stratified bootstrap of the validation patients" if len(done) == 1 else
                  "mean over splits +- 1.96 SE (SE: folds combined, averaged over repeats)"}
        # (its time stays in the unit files: metrics.json is byte-identical for the same run on any executor)
    else:
        reasons = sorted({p["skipped"] for p in per_split if isinstance(p, dict) and p.get("skipped")})
        out["importance_note"] = "; ".join(reasons) or "not measured (the model's adapter gives no fitted model)"
    coefficients = coefficient_summary(units)
    if coefficients is not None:
        out["coefficients"] = coefficients
    penalty = penalty_summary(units)
    if penalty is not None:
        out["penalty"] = penalty
    return out


__all__ = ["coefficient_summary", "penalty_summary", "relied_on"]
