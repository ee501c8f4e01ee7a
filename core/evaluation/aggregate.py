"""From unit results to ``metrics.json`` and ``predictions/NAME.jsonl``.

Hold-out: the test part's metrics with stratified-bootstrap intervals, and DeLong's test
against the reference baseline on the same patients. Cross-validation: the estimators of
:mod:`clinpred.core.evaluation.cv_estimate` (per fold / per repeat, averaged over repeats;
cluster-bootstrap and influence-curve intervals) and the per-fold DeLong of
:mod:`clinpred.core.evaluation.cv_compare`. Each patient is classified with the threshold
chosen on the validation part of its own split. The reference of the comparisons is fixed
before the test parts are looked at: a named baseline, or the baseline with the best
validation AUROC.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping

import numpy as np
from attrs import define

from clinpred.core.evaluation.cv_compare import cv_delong
from clinpred.core.evaluation.cv_estimate import CV_CI_METHOD, CV_GROUP_CI_METHOD, Fold, cv_summarize, per_repeat
from clinpred.core.evaluation.delong import delong_test
from clinpred.core.evaluation.metric_kernels import weighted_auroc
from clinpred.core.evaluation.metrics import HOLDOUT_CI_METHOD, binary_metrics, summarize

from clinpred.core.evaluation.settings import BEST_ON_VALIDATION
from clinpred.core.evaluation.outcome import UnitOutcome, pooled_test

#: bootstrap resamples of the smooth calibration curve (one spline fit each)
SMOOTH_RESAMPLES = 200
#: fewest events (of the rarer class) for a smooth calibration curve and its E-statistics
#: (Austin & Steyerberg 2019 simulate >= 100; below ~50 the spline's band covers the square)
MIN_SMOOTH_EVENTS = 50

Outcomes = Mapping[str, UnitOutcome]  # split name -> the model's outcome on it, in split order


@define(frozen=True)
class ModelRow:
    """What aggregation needs to know about a model besides its outcomes: its table label, its
    family (LLM arms), and whether it may be chosen as the ``best-on-validation`` reference (a
    baseline that is not trivial, as its adapter declares)."""

    kind: str
    family: str | None = None
    reference_candidate: bool = False


def pooled(dataset: Any, units: Outcomes) -> dict[str, np.ndarray | list[Any]]:
    """Concatenate the test parts of the completed units of one model, in split order."""
    splits, index, p, threshold = pooled_test(units)
    return {"split": splits, "index": index, "p": p, "threshold": threshold,
            "label": dataset.labels[index].astype(int)}


def prediction_rows(dataset: Any, units: Outcomes, store_prompts: bool) -> list[dict[str, Any]]:
    """One row per evaluated patient: id, fold, label, p_yes, predicted (+ LLM outputs)."""
    rows = []
    for split_name, unit in units.items():
        test = unit.test
        for k, i in enumerate(test.index):
            p = float(test.p[k])
            row: dict[str, Any] = {
                "id": dataset.ids[int(i)],
                "fold": split_name,
                "label": int(dataset.labels[int(i)]),
                "p_yes": p,
                "predicted": int(p >= unit.threshold),
            }
            if test.has_answers:
                row["raw_output"] = test.raw_output[k] if store_prompts else None
                row["parsed"] = None if test.parsed[k] is None else int(test.parsed[k])
                row["parse_status"] = test.parse_status[k]
            if store_prompts and test.prompt is not None:
                row["prompt"] = test.prompt[k]
            rows.append(row)
    return rows


def _parse_summary(units: Outcomes) -> dict[str, Any] | None:
    statuses: list[str] = []
    agree = total = 0
    for unit in units.values():
        test = unit.test
        if not test.has_answers:
            return None
        statuses += test.parse_status
        for k, parsed in enumerate(test.parsed):
            if parsed is not None:
                total += 1
                agree += int(int(parsed) == int(test.p[k] >= unit.threshold))
    counts = Counter(statuses)
    return {
        "status_counts": dict(sorted(counts.items())),
        "failures": sum(v for k, v in counts.items() if k != "ok"),
        "agreement_with_probability_label": agree / total if total else None,
    }


def folds_of(units: Outcomes, repeats: dict[str, int]) -> list[Fold]:
    """The test parts of a cross-validated model as :class:`Fold` values (``repeats``: split -> repeat)."""
    return [Fold(repeats[name], unit.test.index, unit.test.p, unit.threshold) for name, unit in units.items()]


def model_metrics(dataset: Any, units: Outcomes, *, n_resamples: int, seed: int,
                  repeats: dict[str, int] | None = None, clusters: Any = None) -> dict[str, Any]:
    """The metrics block of one model plus per-split point estimates.

    ``repeats`` (split name -> repeat number) marks a cross-validated model: its metrics are the
    repeated-CV estimators (each patient counted once per repeat), ``n`` counts patients, and
    ``per_repeat`` gives each repeat's estimates. ``clusters`` (one code per dataset row, e.g. a
    group column) makes the CV bootstrap resample whole groups.
    """
    thresholds = {name: unit.threshold for name, unit in units.items()}
    per_split = {}
    for name, unit in units.items():
        per_split[name] = binary_metrics(dataset.labels[unit.test.index], unit.test.p, unit.threshold)
    if repeats is None:
        pool = pooled(dataset, units)
        y, p, thr = pool["label"], pool["p"], pool["threshold"]
        n, events = int(y.size), int(y.sum())
        block = summarize(y, p, thr, n_resamples=n_resamples, seed=seed)
        at_half = summarize(y, p, 0.5, n_resamples=n_resamples, seed=seed)
        estimator = {"point": "metrics of the test part", "ci": HOLDOUT_CI_METHOD}
    else:
        folds = folds_of(units, repeats)
        labels = dataset.labels.astype(int)
        block = cv_summarize(labels, folds, clusters=clusters, n_resamples=n_resamples, seed=seed)
        at_half = cv_summarize(labels, folds, clusters=clusters, n_resamples=n_resamples, seed=seed, threshold=0.5)
        n, events = block["n"], block["events"]
        estimator = {"point": "AUROC and AUPRC: mean of the fold values; other metrics: the repeat's out-of-fold "
                              "predictions; both averaged over repeats",
                     "ci": CV_CI_METHOD if clusters is None else CV_GROUP_CI_METHOD,
                     "auroc_ci_influence_curve": block["auroc"]["ci_influence_curve_method"]}
    out: dict[str, Any] = {
        "n": n,
        "events": events,
        "metrics": block,
        "metrics_at_0.5": at_half,
        "estimator": estimator,
        "threshold": float(np.mean(list(thresholds.values()))),
        "thresholds": thresholds,
        "threshold_notes": sorted({u.threshold_reason for u in units.values() if u.threshold_reason}),
        "per_split": per_split,
    }
    out["smooth_calibration"] = _smooth(dataset, units, repeats is not None, clusters, seed)
    columns = tuple(getattr(dataset.schema, "subgroups", ()) or ())
    if columns:
        from clinpred.core.evaluation.subgroups import subgroup_metrics

        out["subgroups"] = subgroup_metrics(dataset, units, columns, repeats, n_resamples=n_resamples, seed=seed)
    if repeats is not None and set(repeats) == set(units) and all(name.startswith("site-") for name in units):
        out["per_site"] = site_spread(per_split)
    if repeats is not None:
        out["rows"] = int(sum(u.test.index.size for u in units.values()))
        out["per_repeat"] = per_repeat(dataset.labels.astype(int), folds_of(units, repeats))
    parse = _parse_summary(units)
    if parse is not None:
        out["parse"] = parse
    from clinpred.core.evaluation.relied_on import relied_on

    out.update(relied_on(units, repeats))
    return out


def _smooth(dataset: Any, units: Outcomes, cv: bool, clusters: Any, seed: int,
            n_resamples: int = SMOOTH_RESAMPLES) -> dict[str, Any] | None:
    """The smooth calibration curve and ICI/E50/E90/Emax of the test predictions (all repeats'
    rows for CV, resampled by patient or group so the band is not too narrow)."""
    from clinpred.core.evaluation.calibration_curve import smooth_calibration
    from clinpred.core.evaluation.cv_estimate import cluster_weights

    pool = pooled(dataset, units)
    labels = dataset.labels.astype(int)
    if pool["p"].size == 0 or np.ptp(pool["p"]) == 0:
        return None  # constant scores (the majority model): no curve to smooth
    # events of the rarer class among the patients (CV: each patient once, whatever the repeats)
    y = labels[np.unique(pool["index"])] if cv else pool["label"]
    fewest = int(min(y.sum(), y.size - y.sum()))
    if fewest < MIN_SMOOTH_EVENTS:
        return {"withheld": f"{fewest} patients of the rarer outcome class (< {MIN_SMOOTH_EVENTS}): a smooth "
                            "calibration curve and its E-statistics would be noise", "events": fewest,
                "min_events": MIN_SMOOTH_EVENTS}
    if cv:
        w = cluster_weights(labels, clusters, n_resamples, seed)[:, pool["index"]]
    else:  # unstratified: calibration depends on the event rate
        from clinpred.core.evaluation.resampling import patient_weights

        w = patient_weights(pool["label"].size, n_resamples, seed)
    weights = np.vstack([np.ones(pool["label"].size), w])
    return smooth_calibration(pool["label"], pool["p"], weights)


def site_spread(per_split: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Internal-external validation: each site's AUROC and calibration intercept, and their spread
    (the heterogeneity that transportability is about)."""
    def finite(values: list[Any]) -> list[float]:
        return [float(v) for v in values if v is not None and np.isfinite(v)]

    sites = {name[len("site-"):]: {k: per_split[name].get(k) for k in ("n", "events", "auroc", "calibration_intercept",
                                                                        "calibration_slope")}
             for name in per_split}
    out: dict[str, Any] = {"sites": sites}
    for key in ("auroc", "calibration_intercept"):
        v = finite([s[key] for s in sites.values()])
        out[f"{key}_spread"] = {"min": min(v), "max": max(v), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else None} if v else None
    return out


def validation_auroc(dataset: Any, units: Outcomes) -> float:
    """Mean over splits of the AUROC on each split's validation part (NaN if undefined)."""
    values = []
    for unit in units.values():
        idx, p = unit.val.index, unit.val.p
        if not idx.size:
            return float("nan")
        values.append(float(weighted_auroc(dataset.labels[idx].astype(float), p, np.ones((1, idx.size)))[0]))
    return float(np.mean(values)) if values else float("nan")


def choose_reference(dataset: Any, results: Mapping[str, Outcomes], rows: Mapping[str, ModelRow],
                     metrics: dict[str, dict[str, Any]], rule: str) -> tuple[str | None, str]:
    """``(name, why)`` of the comparison reference; never looks at a test part.

    ``rule`` is a baseline's name (default: LASSO's) or ``best-on-validation``: the reference
    candidate (a non-trivial baseline, see :class:`ModelRow`) with the highest mean validation AUROC.
    """
    done = [name for name in rows if name in results and "metrics" in metrics.get(name, {})]
    if rule != BEST_ON_VALIDATION:
        if rule in done:
            return rule, f"configured reference {rule!r}"
        return None, f"reference baseline {rule!r} did not run or failed; no paired comparison"
    candidates = [(validation_auroc(dataset, results[n]), n) for n in done if rows[n].reference_candidate]
    candidates = [(v, n) for v, n in candidates if np.isfinite(v)]
    if not candidates:
        return None, "no baseline with a validation AUROC; no paired comparison"
    value, name = max(candidates)
    return name, f"best validation AUROC ({value:.3f})"


def paired_comparisons(dataset: Any, results: Mapping[str, Outcomes], rows: Mapping[str, ModelRow],
                       metrics: dict[str, dict[str, Any]], *, reference: str,
                       repeats: dict[str, int] | None = None, clusters: Any = None,
                       n_resamples: int = 1000, seed: int = 0) -> str | None:
    """Add ``delong_vs_best_baseline`` (the comparison with the reference baseline) to each
    model's entry; return the reference's name (None when there is none).

    The reference is chosen by :func:`choose_reference` (``reference`` rule). Hold-out: DeLong's
    test on the same patients. Cross-validation (``repeats`` given): :func:`cv_delong`.
    """
    best, why = choose_reference(dataset, results, rows, metrics, reference)
    if best is None:
        return None
    if repeats is not None:
        ref_folds = folds_of(results[best], repeats)
        for name, units in results.items():
            if name == best or "metrics" not in metrics.get(name, {}):
                continue
            res = cv_delong(dataset.labels.astype(int), folds_of(units, repeats), ref_folds, clusters=clusters,
                            n_resamples=n_resamples, seed=seed)
            metrics[name]["delong_vs_best_baseline"] = {"baseline": best, "reference_rule": why,
                                                        "n": metrics[name]["n"], **res}
        return best
    ref = pooled(dataset, results[best])
    ref_key = {(s, i): k for k, (s, i) in enumerate(zip(ref["split"], ref["index"]))}
    for name, units in results.items():
        if name == best or "metrics" not in metrics.get(name, {}):
            continue
        pool = pooled(dataset, units)
        keys = [(s, i) for s, i in zip(pool["split"], pool["index"])]
        common = [k for k, key in enumerate(keys) if key in ref_key]
        if len(common) < 2:
            continue
        ref_rows = [ref_key[keys[k]] for k in common]
        res = delong_test(pool["label"][common], pool["p"][common], ref["p"][ref_rows])
        metrics[name]["delong_vs_best_baseline"] = {
            "baseline": best,
            "reference_rule": why,
            "method": "DeLong (paired, same patients)",
            "n": len(common),
            "auroc_difference": res.diff,
            "se": res.se,
            "z": res.z,
            "p_value": res.p_value,
        }
    return best
