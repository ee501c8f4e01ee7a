"""From unit results to ``metrics.json`` and ``predictions/NAME.jsonl``.

Test predictions are pooled over splits; each patient is classified with the threshold chosen
on the validation part of its own split. Confidence intervals come from a stratified bootstrap
of the pooled predictions; every model is compared with the best baseline by DeLong's test on
the same patients.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from clinpred.core.evaluation.delong import delong_test
from clinpred.core.evaluation.metrics import binary_metrics, summarize


def pooled(dataset: Any, units: dict[str, dict[str, Any]]) -> dict[str, np.ndarray | list[Any]]:
    """Concatenate the test parts of the completed units of one model, in split order."""
    rows: dict[str, list[Any]] = {k: [] for k in ("split", "index", "p", "threshold")}
    for split_name, unit in units.items():
        index = np.asarray(unit["test"]["index"], dtype=int)
        rows["split"] += [split_name] * len(index)
        rows["index"] += index.tolist()
        rows["p"] += list(unit["test"]["p"])
        rows["threshold"] += [unit["threshold"]] * len(index)
    out: dict[str, Any] = {k: np.asarray(v, dtype=float) for k, v in rows.items() if k in ("p", "threshold")}
    out["split"] = rows["split"]
    out["index"] = np.asarray(rows["index"], dtype=int)
    out["label"] = dataset.labels[out["index"]].astype(int)
    return out


def prediction_rows(dataset: Any, units: dict[str, dict[str, Any]], store_prompts: bool) -> list[dict[str, Any]]:
    """One row per evaluated patient: id, fold, label, p_yes, predicted (+ LLM outputs)."""
    rows = []
    for split_name, unit in units.items():
        test = unit["test"]
        for k, i in enumerate(test["index"]):
            p = float(test["p"][k])
            row: dict[str, Any] = {
                "id": dataset.ids[int(i)],
                "fold": split_name,
                "label": int(dataset.labels[int(i)]),
                "p_yes": p,
                "predicted": int(p >= unit["threshold"]),
            }
            if "raw_output" in test:
                row["raw_output"] = test["raw_output"][k] if store_prompts else None
                row["parsed"] = None if test["parsed"][k] is None else int(test["parsed"][k])
                row["parse_status"] = test["parse_status"][k]
            if store_prompts and "prompt" in test:
                row["prompt"] = test["prompt"][k]
            rows.append(row)
    return rows


def _parse_summary(units: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    statuses: list[str] = []
    agree = total = 0
    for unit in units.values():
        test = unit["test"]
        if "parse_status" not in test:
            return None
        statuses += test["parse_status"]
        for k, parsed in enumerate(test["parsed"]):
            if parsed is not None:
                total += 1
                agree += int(int(parsed) == int(test["p"][k] >= unit["threshold"]))
    counts = Counter(statuses)
    return {
        "status_counts": dict(sorted(counts.items())),
        "failures": sum(v for k, v in counts.items() if k != "ok"),
        "agreement_with_probability_label": agree / total if total else None,
    }


def model_metrics(dataset: Any, units: dict[str, dict[str, Any]], *, n_resamples: int, seed: int) -> dict[str, Any]:
    """The metrics block of one model (pooled over its splits) plus per-split point estimates."""
    pool = pooled(dataset, units)
    y, p, thr = pool["label"], pool["p"], pool["threshold"]
    thresholds = {name: unit["threshold"] for name, unit in units.items()}
    per_split = {}
    for name, unit in units.items():
        idx = np.asarray(unit["test"]["index"], dtype=int)
        per_split[name] = binary_metrics(dataset.labels[idx], np.asarray(unit["test"]["p"], dtype=float), unit["threshold"])
    out: dict[str, Any] = {
        "n": int(y.size),
        "events": int(y.sum()),
        "metrics": summarize(y, p, thr, n_resamples=n_resamples, seed=seed),
        "metrics_at_0.5": summarize(y, p, 0.5, n_resamples=n_resamples, seed=seed),
        "threshold": float(np.mean(list(thresholds.values()))),
        "thresholds": thresholds,
        "threshold_notes": sorted({u["threshold_reason"] for u in units.values() if u.get("threshold_reason")}),
        "per_split": per_split,
    }
    parse = _parse_summary(units)
    if parse is not None:
        out["parse"] = parse
    return out


def paired_comparisons(dataset: Any, results: dict[str, dict[str, dict[str, Any]]], kinds: dict[str, str],
                       metrics: dict[str, dict[str, Any]]) -> str | None:
    """Add ``delong_vs_best_baseline`` to each model's entry; return the best baseline's name.

    The best baseline is the non-trivial baseline with the highest pooled AUROC. Comparisons are
    paired on the same (split, patient) rows.
    """
    candidates = [
        name for name, kind in kinds.items()
        if kind == "baseline" and name != "majority" and name in metrics and "metrics" in metrics[name]
    ]
    if not candidates:
        return None

    def auroc(name: str) -> float:
        value = metrics[name]["metrics"]["auroc"]["value"]
        return -1.0 if value is None else value

    best = max(candidates, key=auroc)
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
            "n": len(common),
            "auroc_difference": res.diff,
            "se": res.se,
            "z": res.z,
            "p_value": res.p_value,
        }
    return best
