"""Report blocks on how the statistics were made: warnings, estimators, the comparison reference.

The texts follow ``metrics.json`` (each model's ``estimator``, ``delong_vs_best_baseline.method``
and ``reference_rule``, the run's ``warnings``) so the report says what the run actually did.
"""

from __future__ import annotations

from typing import Any

from clinpred.core.report.report_render import Block, Heading, Paragraph, Table
from clinpred.core.report.tables import fixed

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
        return (f"{est.get('ci') or 'percentile bootstrap'}, {resamples} resamples of the test predictions (threshold "
                "held fixed); Clopper-Pearson intervals for proportions at 0 or 1 and an exact bound for an AUROC of "
                "1; no CI where more than 5% of the resamples are undefined (one class, constant scores); resamples "
                "with an infinite calibration slope (separation) count in the tail")
    return (f"{est.get('point')}; CIs: {est.get('ci')}, {resamples} resamples; AUROC also: "
            f"{est.get('auroc_ci_influence_curve')}; exact intervals at 0 or 1; no CI where more than 5% of the "
            "resamples are undefined; resamples with an infinite calibration slope count in the tail")


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


def _ci3(entry: dict[str, Any] | None) -> str:
    from clinpred.core.evaluation.intervals import format_interval

    text = format_interval(entry, 3)
    return "n/a" if text == "-" else text


def smooth_calibration_blocks(metrics: dict[str, Any]) -> list[Block]:
    """ICI / E50 / E90 / Emax and scaled Brier per model (the curves are in the calibration figure);
    withheld, with the reason, below the number of events a smooth curve needs."""
    done = [(n, m) for n, m in (metrics.get("models") or {}).items() if m.get("status") == "done"]
    rows, withheld = [], []
    for name, m in done:
        sc = m.get("smooth_calibration") or {}
        k = m.get("metrics") or {}
        if sc.get("withheld"):
            withheld.append((sc["withheld"], name))
            rows.append([name, _ci3(k.get("scaled_brier")), *(["withheld"] * 4)])
            continue
        rows.append([name, _ci3(k.get("scaled_brier")), *(_ci3(sc.get(x)) for x in ("ici", "e50", "e90", "emax"))])
    if not rows:
        return []
    blocks: list[Block] = [
        Heading("Smooth calibration (TRIPOD+AI)", 3),
        Table(["model", "scaled Brier", "ICI", "E50", "E90", "Emax"], rows,
              caption="Absolute differences between predicted and spline-smoothed observed risk (Austin & Steyerberg, "
                      "Stat Med 2019): ICI their mean, E50 median, E90 90th percentile (type-7 quantiles, R's "
                      "default), Emax maximum; scaled Brier = 1 - Brier / Brier of predicting the event rate. 95% "
                      "bootstrap CIs; n/a: no smooth fit exists (scores that do not vary, as the majority baseline's, "
                      "or that separate the classes). The curves are drawn in the calibration figure."),
    ]
    for reason in dict.fromkeys(r for r, _ in withheld):
        names = ", ".join(n for r, n in withheld if r == reason)
        blocks.append(Paragraph(f"Smooth curve and E-statistics withheld for {names}: {reason}.", note=True))
    return blocks


def subgroup_blocks(metrics: dict[str, Any]) -> list[Block]:
    """AUROC and calibration-in-the-large by level of each schema ``subgroups`` column."""
    rows = []
    for name, m in (metrics.get("models") or {}).items():
        for column, entry in (m.get("subgroups") or {}).items():
            for level, v in entry["levels"].items():
                n, events = ("suppressed" if v.get(k) is None else str(v[k]) for k in ("n", "events"))
                rows.append([name, f"{column} = {level}", n, events,
                             _ci3(v.get("auroc")), _ci3(v.get("calibration_intercept")), v.get("note", "")])
            spread = entry.get("auroc_spread")
            rows.append([name, f"{column}: AUROC spread (max - min)", "", "", "-" if spread is None else f"{spread:.3f}", "", ""])
    if not rows:
        return []
    return [Heading("Performance by subgroup (TRIPOD+AI)", 3),
            Table(["model", "subgroup", "n", "events", "AUROC [95% CI]", "calibration intercept [95% CI]", "note"], rows,
                  caption="Each repeat's test predictions within the subgroup, averaged over repeats; bootstrap of the "
                          "subgroup's patients.")]


def site_blocks(metrics: dict[str, Any]) -> list[Block]:
    """Internal-external validation: each site's AUROC and calibration, and their spread."""
    rows = []
    for name, m in (metrics.get("models") or {}).items():
        per_site = m.get("per_site")
        if not per_site:
            continue
        for site, v in per_site["sites"].items():
            rows.append([name, site, str(v.get("n")), str(v.get("events")), _num3(v.get("auroc")),
                         _num3(v.get("calibration_intercept")), _num3(v.get("calibration_slope"))])
        spread = per_site.get("auroc_spread") or {}
        if spread:
            sd = spread.get("sd")
            rows.append([name, "AUROC spread", "", "", f"{spread['min']:.3f} to {spread['max']:.3f}"
                         + (f" (SD {sd:.3f})" if sd is not None else ""), "", ""])
    if not rows:
        return []
    return [Heading("Internal-external validation: by site", 3),
            Table(["model", "test site", "n", "events", "AUROC", "calibration intercept", "calibration slope"], rows,
                  caption="Each site predicted by a model trained on the other sites; the spread shows transportability.")]


def _num3(x: float | None) -> str:
    return fixed(x, 3, empty="n/a")
