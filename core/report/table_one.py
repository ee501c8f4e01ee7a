"""The report's cohort section: Table 1 as a paper prints it, the missing data, the sample size.

Table 1 (``metrics.json["cohort"]["table1"]``) uses the schema: display names with units, value
labels, levels in the schema's order, numbers with the schema's decimals (never scientific
notation), and a "missing" row under each feature with missing values, so each feature's rows add
up to its column's patients. Counts suppressed as small cells (``min_cell``) print as "< k".
"""

from __future__ import annotations

from typing import Any

from clinpred.core.report.report_render import Block, Heading, Paragraph, Table
from clinpred.core.report.tables import fixed

INDENT = "\u2003"  # an em space: level rows under their feature


def _label(row: dict[str, Any], name: str) -> str:
    display = row.get("display") or name
    return f"{display} ({row['unit']})" if row.get("unit") else display


def count_text(count: int | None, n: int, min_cell: int) -> str:
    """``count (pct%)`` of ``n`` patients; a suppressed small cell prints as ``< min_cell``."""
    if count is None:
        return f"< {min_cell}"
    return f"{count} ({fixed(100.0 * count / n, 1)}%)" if n else "-"


def _numeric_rows(name: str, row: dict[str, Any], cols: list[str]) -> list[list[str]]:
    d = row.get("decimals")
    d = 1 if d is None else int(d)

    def mean_sd(s: dict[str, Any]) -> str:
        if s.get("mean") is None:
            return "-"
        return fixed(s["mean"], d) + (f" ({fixed(s['sd'], d)})" if s.get("sd") is not None else "")

    def median_iqr(s: dict[str, Any]) -> str:
        return "-" if s.get("median") is None else f"{fixed(s['median'], d)} [{fixed(s['q1'], d)}, {fixed(s['q3'], d)}]"

    return [[f"{_label(row, name)}, mean (SD)", *(mean_sd(row[c]) for c in cols)],
            [f"{INDENT}median [IQR]", *(median_iqr(row[c]) for c in cols)]]


def _level_rows(row: dict[str, Any], cols: list[str], min_cell: int) -> list[list[str]]:
    labels = row.get("level_labels") or {level: level for level in (row[cols[0]].get("levels") or {})}
    out = [[f"{INDENT}{label}", *(count_text((row[c].get("levels") or {}).get(level, 0), row[c]["n"], min_cell)
                                  for c in cols)] for level, label in labels.items()]
    if any(row[c].get("other_levels") for c in cols):
        out.append([f"{INDENT}other levels", *(count_text(row[c].get("other_levels") or 0, row[c]["n"], min_cell)
                                               for c in cols)])
    return out


def table_one_rows(t1: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The header and rows of Table 1."""
    cols = list(t1["columns"])
    sizes = t1.get("sizes") or {}
    min_cell = int(t1.get("min_cell") or 0)
    header = ["", *(f"{c} (n={sizes.get(c, {}).get('n', '?')})" for c in cols)]
    rows: list[list[str]] = []
    for name, row in t1["rows"].items():
        if row["kind"] == "numeric":
            rows += _numeric_rows(name, row, cols)
        else:
            rows.append([f"{_label(row, name)}, n (%)", *([""] * len(cols))])
            rows += _level_rows(row, cols, min_cell)
        if any(row[c].get("missing") != 0 for c in cols):
            rows.append([f"{INDENT}missing, n (%)", *(count_text(row[c].get("missing"), row[c]["n"], min_cell)
                                                      for c in cols)])
    return header, rows


def missing_blocks(missing: list[dict[str, Any]], pattern: dict[str, Any] | None = None) -> list[Block]:
    """Only the features with missing values (one line says the others are complete), and whether
    the pattern of missing values alone predicts the outcome."""
    some = [m for m in missing if m["missing"]]
    blocks: list[Block] = [Heading("Missing data", 3)]
    if not some:
        return blocks + [Paragraph(f"No missing values in any of the {len(missing)} features.")]
    blocks.append(Table(["feature", "missing", "baselines", "LLM prompt"],
                        [[m.get("display") or m["feature"], f"{m['missing']} ({fixed(100 * m['fraction'], 1)}%)",
                          m["baselines"], m["llm_prompt"]] for m in some]))
    rest = len(missing) - len(some)
    if rest:
        blocks.append(Paragraph(f"The other {rest} feature{'s have' if rest > 1 else ' has'} no missing values.",
                                note=True))
    if pattern:
        verdict = ("predicts the outcome: see the warning" if pattern["auroc"] >= pattern["warn_at"] else
                   f"does not predict the outcome (a warning is given from {pattern['warn_at']:.2f})")
        blocks.append(Paragraph(f"Which values are missing {verdict}: AUROC {fixed(pattern['auroc'], 3)} of the "
                                f"missingness pattern alone ({pattern['method']}).", note=True))
    return blocks


def sample_size_blocks(ss: dict[str, Any]) -> list[Block]:
    n1, n2, n3 = ss["criteria"]
    verdict = "meets" if ss.get("adequate") else "does not meet"
    return [Heading("Sample size", 3), Paragraph(
        f"For {ss['parameters']} candidate predictor parameters and an outcome proportion of {ss['prevalence']:.3f}, "
        f"the criteria of Riley et al. (BMJ 2020;368:m441) need n >= {n1} (expected shrinkage >= 0.9), "
        f">= {n2} (optimism in Nagelkerke R-squared <= 0.05) and >= {n3} (overall risk within 0.05): at least "
        f"{ss['minimum_n']} patients ({ss['minimum_events']} events, {ss['events_per_parameter']:.1f} per parameter), "
        f"with an anticipated Cox-Snell R-squared of {ss['r2_cs']:.3f} ({ss['r2_cs_source']}; set it with "
        f"[evaluation] anticipated_r2). The smallest training part has {ss['smallest_training_n']} patients of a "
        f"cohort of {ss['cohort_n']}, so it {verdict} them.")]


def cohort_blocks(metrics: dict[str, Any]) -> list[Block]:
    """Table 1 (by outcome and by part), missing data per feature, the Riley sample-size statement."""
    cohort = metrics.get("cohort") or {}
    blocks: list[Block] = []
    t1 = cohort.get("table1")
    if t1:
        header, rows = table_one_rows(t1)
        by_part = " and by part of the split (train / validation / test)" if "test" in t1["columns"] else ""
        blocks += [Heading("Table 1: the cohort", 3), Table(header, rows, caption=(
            f"By outcome{by_part}. Numbers with the schema's decimals; percentages of the column's patients, so "
            "a feature's levels and its missing row add up to 100%." + (
                f" Levels of fewer than {t1['min_cell']} patients are merged into one level, counts below "
                f"{t1['min_cell']} shown as < {t1['min_cell']}, and a count hidden in one column of a partition is "
                f"hidden in its other columns (small-cell rule, [dataset] min_cell = {t1['min_cell']})."
                if (t1.get("min_cell") or 0) > 1 else "")))]
    if cohort.get("missing_data"):
        blocks += missing_blocks(cohort["missing_data"], cohort.get("missingness_pattern"))
    if cohort.get("sample_size"):
        blocks += sample_size_blocks(cohort["sample_size"])
    return blocks


__all__ = ["cohort_blocks", "count_text", "table_one_rows"]
