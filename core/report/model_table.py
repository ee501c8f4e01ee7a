"""The report's comparison of the models of one run (from metrics.json) as a :class:`DataTable`:
discrimination and calibration, then classification at the threshold chosen on validation data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clinpred.core.report.tables import Column, DataTable, fixed, p_value_text

#: the definition of the balance gap, wherever it is shown
BALANCE_GAP = "Balance gap = |sensitivity - specificity| (0: both classes recognised equally well)"

CLASSIFICATION = (("accuracy", "accuracy"), ("recall", "sensitivity (recall)"), ("specificity", "specificity"),
                  ("precision", "precision"), ("f1", "F1"), ("balanced_accuracy", "balanced accuracy"),
                  ("mcc", "MCC"))


def ordered_models(metrics: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The models of metrics.json, completed ones first, best AUROC first."""
    def key(item: tuple[str, dict[str, Any]]) -> tuple[int, float]:
        value = ((item[1].get("metrics") or {}).get("auroc") or {}).get("value")
        return (0 if item[1].get("status") == "done" else 1, -(value if value is not None else -1.0))

    return sorted((metrics.get("models") or {}).items(), key=key)


#: the keys of a metrics.json estimate that a table cell keeps (an open-ended interval, an infinite estimate)
ESTIMATE_KEYS = ("value", "ci", "ci_unbounded", "value_infinite")


def _estimate(m: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = (m.get("metrics") or {}).get(key)
    return {k: value[k] for k in ESTIMATE_KEYS if k in value} if isinstance(value, dict) else None


#: how the intervals were made, shared by every protocol's caption
_CI_NOTE = ("stratified by outcome for AUROC, sensitivity and specificity, unstratified for calibration, Brier and "
            "the other metrics that depend on the event rate; exact intervals at 0 or 1; '[a, inf)': resamples "
            "where the calibration slope is infinite (separation) count in the tail")


def caption(metrics: dict[str, Any]) -> str:
    protocol = metrics.get("protocol", "holdout")
    if protocol == "holdout":
        return f"Test predictions; 95% percentile bootstrap CIs ({_CI_NOTE}); best AUROC first."
    if protocol == "internal-external":
        return ("Internal-external validation: each site predicted by a model trained on the other sites; AUROC and "
                "AUPRC are the mean of the site values, the other metrics come from all sites' predictions. 95% CIs "
                f"from a patient-level cluster bootstrap ({_CI_NOTE}): they reflect the sampling of patients within "
                "these sites only, not the spread between sites (see the table by site), so they do not describe "
                "performance at a new site; best AUROC first.")
    return ("Repeated cross-validation: each patient counted once per repeat, estimates averaged over repeats; "
            f"95% CIs from a patient-level cluster bootstrap ({_CI_NOTE}); best AUROC first.")


def _difference(row: dict[str, Any]) -> str:
    if row.get("is_reference"):
        return "reference"
    d, p = row.get("auroc_difference"), row.get("delong_p")
    if d is None:
        return "-"
    return f"{fixed(d, 3, sign=True)} (p {p_value_text(p)})"


def threshold_cell(row: dict[str, Any]) -> str:
    """One split: its threshold. Several: each split used its own, so the cell says "mean" and the range."""
    values = [v for v in row.get("thresholds") or [] if isinstance(v, (int, float))]
    if len(values) <= 1:
        return fixed(row.get("threshold"), 3)
    return f"mean {fixed(sum(values) / len(values), 3)} ({fixed(min(values), 3)}-{fixed(max(values), 3)}, {len(values)} splits)"


def threshold_caption(metrics: dict[str, Any]) -> str:
    """The caption of the classification table: how the threshold was chosen and used, and the balance gap."""
    splits = max((len(m.get("thresholds") or {}) for m in (metrics.get("models") or {}).values()), default=1)
    where = ("chosen on the validation part of its split; each patient is classified at the threshold of "
             "their own split (the mean and range over the splits are shown)") if splits > 1 else \
        "chosen on the validation part"
    return f"At the threshold {where}. {BALANCE_GAP}."


def model_table(metrics: dict[str, Any]) -> DataTable:
    """Every completed model of one run, one row each (metrics.json's values and CIs)."""
    best = metrics.get("best_baseline")
    rows = []
    for name, m in ordered_models(metrics):
        if m.get("status") != "done":
            continue
        d = m.get("delong_vs_best_baseline") or {}
        row: dict[str, Any] = {"model": name, "kind": m.get("kind"), "n": m.get("n"), "events": m.get("events"),
                               "auroc_difference": d.get("auroc_difference"), "delong_p": d.get("p_value"),
                               "is_reference": name == best, "threshold": m.get("threshold"),
                               "thresholds": list((m.get("thresholds") or {}).values()),
                               "balance_gap": ((m.get("metrics") or {}).get("balance_gap") or {}).get("value")}
        for key in ("auroc", "auprc", "brier", "calibration_slope", "calibration_intercept",
                    *(k for k, _ in CLASSIFICATION)):
            row[key] = _estimate(m, key)
        rows.append(row)
    columns = [
        Column("model", "model"), Column("kind", "kind"), Column("n", "n", "int"), Column("events", "events", "int"),
        Column("auroc", "AUROC [95% CI]", "estimate"), Column("auprc", "AUPRC", "estimate"),
        Column("brier", "Brier", "estimate"), Column("calibration_slope", "calibration slope", "estimate", 2),
        Column("calibration_intercept", "calibration intercept", "estimate", 2),
        Column("auroc_difference", f"ΔAUROC vs {best or 'best baseline'} (DeLong p)", "signed", show=_difference),
        Column("delong_p", "DeLong p", "p", display=False), Column("is_reference", "reference", display=False),
        Column("threshold", "threshold", "number", show=threshold_cell),
        *(Column(key, header, "estimate") for key, header in CLASSIFICATION),
        Column("balance_gap", "balance gap", "number"),
    ]
    first = ("kind", "n", "events", "auroc", "auprc", "brier", "calibration_slope", "calibration_intercept",
             "auroc_difference")
    second = ("threshold", *(k for k, _ in CLASSIFICATION), "balance_gap")
    return DataTable(
        title="Model comparison", columns=columns, rows=rows, keys=("model",),
        parts=(("Model comparison", first), ("At the threshold chosen on validation data", second)),
        notes=(caption(metrics), threshold_caption(metrics)),
    )


def run_model_table(run_dir: str | Path) -> DataTable:
    """:func:`model_table` of a finished run directory (its metrics.json)."""
    from clinpred.core.errors import DataError
    from clinpred.core.report.unfinished import refuse_unfinished
    from clinpred.core.run.rundir import read_metrics

    run_dir = Path(run_dir)
    refuse_unfinished(run_dir, "tabulate")
    metrics = read_metrics(run_dir)
    if metrics is None:
        raise DataError(f"{run_dir}: no metrics.json (not a finished run); give RUN_DIR of `clinpred run`")
    return model_table(metrics)
