"""The report's "What each model relied on" section.

From each model's ``importance`` (permutation importance on the validation parts, the same for
every model: :mod:`clinpred.core.evaluation.importance`) and, for linear models, ``coefficients``
(odds ratios per SD and per unit) with the ``penalty`` chosen: a line per model with the features
it relied on most, the features side by side for the reference and the LLM arms (then the other
models), a figure of the same numbers, and a table of odds ratios per linear model.
"""

from __future__ import annotations

import math
from typing import Any

from clinpred.core.report.report_render import Block, Figure, Heading, Paragraph, Table
from clinpred.core.report.tables import fixed

#: features shown side by side (the strongest over all models)
TOP_FEATURES = 10


def _drop(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "-"
    lo, hi = (entry.get("ci") or [None, None])[:2]
    ci = f" [{fixed(lo, 3)}, {fixed(hi, 3)}]" if lo is not None and hi is not None else ""
    return fixed(entry["auroc_drop"], 3) + ci


def _rows(metrics: dict[str, Any]) -> dict[str, Any]:
    return ((metrics.get("cohort") or {}).get("table1") or {}).get("rows") or {}


def _displays(metrics: dict[str, Any]) -> dict[str, str]:
    return {name: row.get("display") or name for name, row in _rows(metrics).items()}


def _columns(metrics: dict[str, Any], llms: list[str]) -> list[str]:
    """The reference first, then the LLM arms, then the other models with an importance."""
    have = [n for n, m in (metrics.get("models") or {}).items() if m.get("status") == "done" and m.get("importance")
            and any(abs(e["auroc_drop"]) > 1e-12 for e in m["importance"])]  # not a model that ranks nobody
    ref = metrics.get("best_baseline")
    first = [n for n in [ref, *llms] if n in have]
    return list(dict.fromkeys(first + have))


def _top_line(importance: list[dict[str, Any]], names: dict[str, str], k: int = 3) -> str:
    useful = [e for e in importance if e["auroc_drop"] > 0][:k]
    if not useful:
        return "no feature: permuting any one leaves its validation AUROC unchanged"
    return "; ".join(f"{names.get(e['feature'], e['feature'])} {_drop(e)}" for e in useful)


def odds_ratio_text(log_or: float | None) -> str:
    """An odds ratio from its log: 3 significant digits, "> 1000" / "< 0.001" beyond (a separated or
    barely penalised fit), never scientific notation."""
    if log_or is None or not math.isfinite(log_or):
        return "-"
    if log_or > math.log(1000):
        return "> 1000"
    if log_or < math.log(0.001):
        return "< 0.001"
    x = math.exp(log_or)
    return fixed(x, 0 if x >= 100 else 1 if x >= 10 else 2 if x >= 0.1 else 3)


def _penalty_text(penalty: dict[str, Any] | None) -> str:
    if not penalty:
        return ""
    per = list(penalty.get("per_split", {}).values())
    c = penalty.get("C")
    if c and len(per) > 1:
        return (f"L1 penalty chosen by inner CV in each of {len(per)} splits: C median {c['median']:.4g} "
                f"(range {c['min']:.4g}-{c['max']:.4g}; inverse penalty on standardised predictors)")
    return per[0] if per else ""


def shown_levels(metrics: dict[str, Any]) -> dict[str, set[str]]:
    """Per categorical feature, the levels Table 1 shows (levels of fewer than ``min_cell`` patients
    are merged there, so their names and odds ratios are not shown elsewhere either)."""
    rows = ((metrics.get("cohort") or {}).get("table1") or {}).get("rows") or {}
    return {f: set(r.get("level_labels") or {}) for f, r in rows.items() if r.get("kind") != "numeric"}


def coefficient_blocks(name: str, m: dict[str, Any], names: dict[str, str], units: dict[str, str],
                       shown: dict[str, set[str]] | None = None) -> list[Block]:
    coefficients = m.get("coefficients") or {}
    if not coefficients:
        return []
    rows = []
    small = 0
    for term, c in coefficients.items():
        levels = shown.get(c["feature"]) if shown else None
        if levels is not None and c.get("level") not in (None, "missing") and not {
                c["level"], c.get("reference")} <= levels:
            small += 1  # a level of fewer than min_cell patients (small-cell rule)
            continue
        display = names.get(c["feature"], c["feature"])
        if c.get("level") is not None:
            label = term.replace(c["feature"], display, 1)
        else:
            label = f"{display} ({units[c['feature']]})" if units.get(c["feature"]) else display
        selected = f"{c['selected_splits']} of {c['splits']}"
        span = c.get("log_odds_ratio_per_unit_range")
        span_text = ""
        if span:
            lo, hi = (odds_ratio_text(v) for v in span)
            span_text = f" ({lo} to {hi})"
        rows.append([label, odds_ratio_text(c.get("log_odds_ratio_per_sd")),
                     odds_ratio_text(c.get("log_odds_ratio_per_unit")) + span_text, selected])
    penalty = _penalty_text(m.get("penalty"))
    return [Heading(f"{name}: odds ratios", 4), Table(
        ["term", "OR per SD", "OR per unit (range over splits)", "selected in splits"], rows,
        caption=("Odds ratio per standard deviation of the training column (numeric features) and per unit of the "
                 "feature (its schema unit; for a level: against the reference level; for 'missing': a missing "
                 "against a recorded value). Over several splits: the odds ratio of the mean coefficient. "
                 "A term with OR exactly 1 was not selected." + (f" Penalty: {penalty}." if penalty else "") + (
                     f" {small} term(s) of levels with fewer patients than the small-cell rule allows are not shown."
                     if small else "")))]


def relied_on_blocks(metrics: dict[str, Any], run_info: dict[str, Any]) -> list[Block]:
    """The section's blocks (nothing when no model recorded what it relied on)."""
    from clinpred.core.report.plot_base import model_colors

    models = {n: m for n, m in (metrics.get("models") or {}).items() if m.get("status") == "done"}
    if not any(m.get("importance") or m.get("importance_note") or m.get("coefficients") for m in models.values()):
        return []
    names = _displays(metrics)
    llms = [e["name"] for e in run_info.get("models") or [] if e.get("name") in models]
    method = next((m["importance_method"] for m in models.values() if m.get("importance_method")), None)
    blocks: list[Block] = [Heading("What each model relied on")]
    if method:
        blocks.append(Paragraph(
            f"Permutation importance: the {method['what']}, {method['repeats']} permutation(s) per feature and split, "
            "for every model alike (an LLM's prompts are rendered again from the permuted records, so each patient's "
            f"prompt shows another patient's value). 95% CI: {method['ci']}. Validation parts are small: read the "
            "ranking, not the decimals; a drop near 0 means the model did not need that feature (or had another "
            "feature carrying the same information)."))
    rows = [[n, _top_line(m["importance"], names) if m.get("importance") else m.get("importance_note", "-")]
            for n, m in models.items()]
    blocks.append(Table(["model", "relied on most (AUROC drop [95% CI])"], rows))
    columns = _columns(metrics, llms)
    if columns:
        by_model = {n: {e["feature"]: e for e in models[n]["importance"]} for n in columns}
        strongest = sorted({f for n in columns for f in by_model[n]},
                           key=lambda f: -max(by_model[n].get(f, {"auroc_drop": 0})["auroc_drop"] for n in columns))
        top = strongest[:TOP_FEATURES]
        ref = metrics.get("best_baseline")
        header = ["feature", *(f"{n} (reference)" if n == ref else n for n in columns)]
        table_rows = [[names.get(f, f), *(_drop(by_model[n].get(f)) for n in columns)] for f in top]
        blocks.append(Table(header, table_rows, caption=(
            f"AUROC drop [95% CI] of the {len(top)} strongest features, side by side: the reference, the LLM arms, "
            "then the other models (a model whose AUROC no permutation changes, such as the majority model, is left "
            "out).")))
        from clinpred.core.report.plots_importance import importance_png

        colors = model_colors(list(metrics.get("models") or {}))
        blocks.append(Figure("importance", importance_png({n: by_model[n] for n in columns}, top, names, colors),
                             "Permutation importance (AUROC drop, 95% CI) of the strongest features, one colour per model."))
    units = {n: row.get("unit") or "" for n, row in _rows(metrics).items()}
    for name, m in models.items():
        blocks += coefficient_blocks(name, m, names, units, shown_levels(metrics))
    return blocks


__all__ = ["relied_on_blocks"]
