"""Report blocks on how the statistics were made: warnings, estimators, the comparison reference.

The texts follow ``metrics.json`` (each model's ``estimator``, ``delong_vs_best_baseline.method``
and ``reference_rule``, the run's ``warnings``) so the report says what the run actually did.
"""

from __future__ import annotations

from typing import Any

from clinpred.core.report.report_render import Block, Heading, Paragraph, Table

#: van den Goorbergh et al., JAMIA 2022;29:1525-1534
IMBALANCE_NOTE = ("oversampling and class weights shift the predicted risks upwards, so calibration "
                  "intercepts of models trained this way are strongly negative; imbalance correction harms "
                  "calibration and rarely improves AUROC (van den Goorbergh et al., JAMIA 2022)")


def _first_done(metrics: dict[str, Any]) -> dict[str, Any]:
    return next((m for m in (metrics.get("models") or {}).values() if m.get("status") == "done"), {})


def interval_text(metrics: dict[str, Any], ev: dict[str, Any]) -> str:
    """The "Confidence intervals" reporting item."""
    est = _first_done(metrics).get("estimator") or {}
    resamples = ev.get("bootstrap", "?")
    if not est or est.get("point") == "metrics of the test part":
        return (f"stratified percentile bootstrap, {resamples} resamples of the test predictions (threshold held "
                "fixed); no CI where more than 5% of the resamples are undefined")
    return (f"{est.get('point')}; CIs: {est.get('ci')}, {resamples} resamples; AUROC also: "
            f"{est.get('auroc_ci_influence_curve')}; no CI where more than 5% of the resamples are undefined")


def comparison_text(metrics: dict[str, Any]) -> str:
    """The "Model comparison" reporting item."""
    ref = metrics.get("best_baseline")
    d = next((m.get("delong_vs_best_baseline") for m in (metrics.get("models") or {}).values()
              if m.get("delong_vs_best_baseline")), None) or {}
    if not ref:
        return "none (no reference baseline completed)"
    method = d.get("method", "DeLong's test for paired AUROCs, same patients")
    rule = d.get("reference_rule", f"reference {ref!r}")
    return f"{method}, against {ref} ({rule}; chosen before the test data were seen)"


def balance_text(ev: dict[str, Any]) -> str:
    balance = str(ev.get("balance", "-"))
    return balance if balance in ("none", "-") else f"{balance}: {IMBALANCE_NOTE}"


def warning_blocks(metrics: dict[str, Any]) -> list[Block]:
    """The run's statistical warnings (``metrics.json["warnings"]``), or nothing."""
    warnings = metrics.get("warnings") or []
    if not warnings:
        return []
    return [Heading("Warnings"),
            Table(["check", "about", "what to do"], [[w.get("code", "-"), w.get("subject", "-"), w.get("message", "")]
                                                      for w in warnings]),
            Paragraph("Each warning is a reason to doubt or qualify the results above.", note=True)]
