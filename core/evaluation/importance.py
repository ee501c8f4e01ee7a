"""What a model relied on: permutation importance, the same way for every model.

One mechanism for every model of a comparison — a baseline, a plugin model, an LLM arm: the
feature's values are permuted across the patients of a split's validation part (for an LLM, the
prompts are rendered again from the permuted records, so each patient's prompt shows another
patient's value) and the model's P(yes) is asked again through ``predict(frame)``. The importance
of a feature is the drop in validation AUROC, averaged over ``repeats`` permutations (Breiman
2001; Fisher, Rudin & Dominici, JMLR 2019). Its 95% CI is a stratified percentile bootstrap of the
validation patients, with the same resamples for the intact and the permuted predictions (paired).

Cost: ``repeats`` x features permuted copies of the validation part, asked of ``predict`` stacked
in as few calls as possible (for an LLM: as many prompts to score as ``repeats`` x features scoring
passes of the validation part). Validation parts are small, so the CIs are wide: read the ranking, not the decimals.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from clinpred.core.evaluation.metric_kernels import weighted_auroc
from clinpred.core.evaluation.metrics import bootstrap_weights

#: bootstrap resamples of each importance CI (paired: the same resamples for every feature)
IMPORTANCE_RESAMPLES = 500

Predict = Callable[[Any], np.ndarray]  # a frame of feature columns -> P(yes) per row
#: rows asked of ``predict`` at once (the permuted copies of the validation part are stacked)
MAX_ROWS_PER_CALL = 50_000


def permutation_importance(predict: Predict, frame: Any, labels: Any, p_ref: Any, *, features: Sequence[str],
                           repeats: int, seed: int, n_resamples: int = IMPORTANCE_RESAMPLES) -> dict[str, Any]:
    """AUROC drop per feature when its values are permuted across the rows of ``frame``.

    ``predict(frame)`` returns P(yes) of every row of a frame with ``frame``'s columns; ``p_ref`` is
    P(yes) of the intact ``frame`` (the model's validation predictions). Returns ``{"auroc", "n",
    "events", "repeats", "features": [{"feature", "auroc_drop", "ci", "se", "per_repeat"}]}``, or
    ``{"skipped": reason}`` when the part has one class only or ``repeats`` is 0.
    """
    y = np.asarray(labels, dtype=float).reshape(-1)
    p_ref = np.asarray(p_ref, dtype=float).reshape(-1)
    if repeats < 1:
        return {"skipped": "permutation importance is off (importance_repeats = 0)"}
    if y.size < 2 or y.min() == y.max():
        return {"skipped": "the validation part holds one class only: AUROC is undefined"}
    if p_ref.shape != y.shape or len(frame) != y.size:
        raise ValueError(f"{len(frame)} rows, {y.size} labels and {p_ref.size} reference predictions")
    weights = np.vstack([np.ones(y.size), bootstrap_weights(y, n_resamples, seed)])
    base = weighted_auroc(y, p_ref, weights)
    import pandas as pd

    frames = []
    for k, feature in enumerate(features):
        rng = np.random.default_rng([seed, k])  # a feature's permutations do not depend on the others
        values = frame[feature].to_numpy()
        for _ in range(repeats):
            permuted = frame.copy()
            permuted[feature] = values[rng.permutation(y.size)]
            frames.append(permuted)
    p_all = _predict_all(predict, frames, pd)  # one call for every permutation (per-call costs dominate)
    out = []
    for k, feature in enumerate(features):
        aucs = [weighted_auroc(y, p_all[(k * repeats + r) * y.size:(k * repeats + r + 1) * y.size], weights)
                for r in range(repeats)]
        drop = base - np.mean(aucs, axis=0)
        boots = drop[1:][np.isfinite(drop[1:])]
        lo, hi = (np.percentile(boots, [2.5, 97.5]) if boots.size else (np.nan, np.nan))
        out.append({"feature": feature, "auroc_drop": float(drop[0]), "ci": [float(lo), float(hi)],
                    "se": float(boots.std(ddof=1)) if boots.size > 1 else None,
                    "per_repeat": [float(base[0] - a[0]) for a in aucs]})
    return {"auroc": float(base[0]), "n": int(y.size), "events": int(y.sum()), "repeats": int(repeats),
            "resamples": int(n_resamples), "features": out}


def _predict_all(predict: Predict, frames: list[Any], pd: Any) -> np.ndarray:
    """P(yes) of all ``frames`` stacked, asked in chunks of at most ``MAX_ROWS_PER_CALL`` rows."""
    n = len(frames[0]) if frames else 0
    per_call = max(1, MAX_ROWS_PER_CALL // max(n, 1))
    parts = []
    for start in range(0, len(frames), per_call):
        chunk = pd.concat(frames[start:start + per_call], ignore_index=True)
        p = np.asarray(predict(chunk), dtype=float).reshape(-1)
        if p.size != len(chunk):
            raise ValueError(f"predict returned {p.size} probabilities for {len(chunk)} rows")
        parts.append(p)
    return np.concatenate(parts) if parts else np.zeros(0)


def summarize_importance(per_split: Sequence[dict[str, Any]],
                         repeat_of: Sequence[int] | None = None) -> list[dict[str, Any]] | None:
    """The importance of a model over its splits, strongest first: ``[{"feature", "auroc_drop",
    "ci", "splits"}]``.

    One split: its drop and bootstrap CI. Several (cross-validation): the mean drop; its standard
    error combines the folds of a repeat as independent (``sqrt(sum se^2) / K``) and is averaged over
    repeats (never shrunk by them: the repeats reuse the same patients); CI = mean +- 1.96 SE.
    ``repeat_of`` gives each split's repeat (None: all in one repeat).
    """
    done = [(k, s) for k, s in enumerate(per_split) if s and "features" in s]
    if not done:
        return None
    repeats = list(repeat_of) if repeat_of is not None else [0] * len(per_split)
    names = list(dict.fromkeys(f["feature"] for _, s in done for f in s["features"]))
    out = []
    for name in names:
        rows = [(repeats[k], next(f for f in s["features"] if f["feature"] == name)) for k, s in done
                if any(f["feature"] == name for f in s["features"])]
        if len(rows) == 1:
            entry = {"auroc_drop": rows[0][1]["auroc_drop"], "ci": list(rows[0][1]["ci"])}
        else:
            drops = np.array([f["auroc_drop"] for _, f in rows])
            by_repeat: dict[int, list[float]] = {}
            for r, f in rows:
                by_repeat.setdefault(r, []).append(f["se"] if f.get("se") is not None else np.nan)
            se = float(np.mean([np.sqrt(np.sum(np.square(v))) / len(v) for v in by_repeat.values()]))
            mean = float(drops.mean())
            ci = [mean - 1.96 * se, mean + 1.96 * se] if np.isfinite(se) else [None, None]
            entry = {"auroc_drop": mean, "ci": ci}
        entry["ci"] = [None if v is None or not np.isfinite(v) else float(v) for v in entry["ci"]]
        out.append({"feature": name, **entry, "splits": len(rows)})
    out.sort(key=lambda e: (-e["auroc_drop"], e["feature"]))
    return out


__all__ = ["IMPORTANCE_RESAMPLES", "permutation_importance", "summarize_importance"]
