"""Report blocks on how the statistics were made: warnings, estimators, the comparison reference.

The texts follow ``metrics.json`` (each model's ``estimator``, ``delong_vs_best_baseline.method``
and ``reference_rule``, the run's ``warnings``) so the report says what the run actually did.
"""

from __future__ import annotations

from typing import Any

from clinpred.core.report.report_render import Block, Figure, Heading, Paragraph, Table

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
    """ICI / E50 / E90 / Emax and scaled Brier per model, and the smooth calibration curves."""
    done = [(n, m) for n, m in (metrics.get("models") or {}).items() if m.get("status") == "done"]
    rows, curves = [], {}
    for name, m in done:
        sc = m.get("smooth_calibration") or {}
        k = m.get("metrics") or {}
        rows.append([name, _ci3(k.get("scaled_brier")), *(_ci3(sc.get(x)) for x in ("ici", "e50", "e90", "emax"))])
        if sc.get("curve"):
            curves[name] = sc["curve"]
    if not rows:
        return []
    blocks: list[Block] = [
        Heading("Smooth calibration (TRIPOD+AI)", 3),
        Table(["model", "scaled Brier", "ICI", "E50", "E90", "Emax"], rows,
              caption="Absolute differences between predicted and spline-smoothed observed risk (Austin & Steyerberg, "
                      "Stat Med 2019): ICI their mean, E50 median, E90 90th percentile (type-7 quantiles, R's "
                      "default), Emax maximum; scaled Brier "
                      "= 1 - Brier / Brier of predicting the event rate. 95% bootstrap CIs; n/a: no smooth fit exists "
                      "(scores that do not vary, as the majority baseline's, or that separate the classes)."),
    ]
    if curves:
        from clinpred.core.report.plots_calibration import smooth_calibration_png

        blocks.append(Figure("smooth_calibration", smooth_calibration_png(curves),
                             "Observed risk (logistic regression on a restricted cubic spline of logit P(yes), 4 knots) "
                             "against predicted P(yes), with 95% bootstrap bands; dotted: perfect calibration."))
    return blocks


def _cell(summary: dict[str, Any], kind: str, level: str | None, min_cell: int = 5) -> str:
    n = summary.get("n") or 0
    if level is not None:
        count = (summary.get("levels") or {}).get(level, 0)
        if count is None:  # suppressed: fewer than min_cell patients
            return f"< {min_cell}"
        return f"{count} ({count / n:.0%})" if n else "-"
    if summary.get("mean") is None:
        return "-"
    sd = summary.get("sd")
    return (f"{summary['mean']:.3g} ({sd:.3g})" if sd is not None else f"{summary['mean']:.3g}") + \
        f"; {summary['median']:.3g} [{summary['q1']:.3g}, {summary['q3']:.3g}]"


def cohort_blocks(metrics: dict[str, Any]) -> list[Block]:
    """Table 1 (by outcome and by part), missing data per feature, the Riley sample-size statement."""
    cohort = metrics.get("cohort") or {}
    t1 = cohort.get("table1")
    blocks: list[Block] = []
    if t1:
        cols = t1["columns"]
        sizes = t1.get("sizes") or {}
        header = ["feature", *(f"{c} (n={sizes.get(c, {}).get('n', '?')})" for c in cols)]
        rows = []
        min_cell = t1.get("min_cell")
        for name, row in t1["rows"].items():
            kind = row["kind"]
            if kind == "numeric":
                rows.append([f"{name}, mean (SD); median [IQR]", *(_cell(row[c], kind, None) for c in cols)])
            else:
                for level in (row["all"].get("levels") or {}):
                    rows.append([f"{name} = {level}, n (%)", *(_cell(row[c], kind, level, min_cell or 5) for c in cols)])
        caption = "By outcome and, for a hold-out, by part."
        if min_cell and min_cell > 1:
            caption += (f" Levels of fewer than {min_cell} patients are merged and counts below {min_cell} shown as "
                        f"< {min_cell} (small-cell rule, [dataset] min_cell = {min_cell}).")
        blocks += [Heading("Table 1: the cohort", 3), Table(header, rows, caption=caption)]
    missing = cohort.get("missing_data")
    if missing:
        blocks += [Heading("Missing data", 3),
                   Table(["feature", "missing", "baselines", "LLM prompt"],
                         [[m["feature"], f"{m['missing']} ({m['fraction']:.1%})", m["baselines"], m["llm_prompt"]]
                          for m in missing])]
    ss = cohort.get("sample_size")
    if ss:
        n1, n2, n3 = ss["criteria"]
        verdict = ("meets" if ss.get("adequate") else "does not meet")
        blocks += [Heading("Sample size", 3), Paragraph(
            f"For {ss['parameters']} candidate predictor parameters and an outcome proportion of {ss['prevalence']:.3f}, "
            f"the criteria of Riley et al. (BMJ 2020;368:m441) need n >= {n1} (expected shrinkage >= 0.9), "
            f">= {n2} (optimism in Nagelkerke R-squared <= 0.05) and >= {n3} (overall risk within 0.05): at least "
            f"{ss['minimum_n']} patients ({ss['minimum_events']} events, {ss['events_per_parameter']:.1f} per parameter), "
            f"with an anticipated Cox-Snell R-squared of {ss['r2_cs']:.3f} ({ss['r2_cs_source']}). The smallest "
            f"training part has {ss['smallest_training_n']} patients of a cohort of {ss['cohort_n']}, so it {verdict} them.")]
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
    return "n/a" if x is None else f"{x:.3f}"
