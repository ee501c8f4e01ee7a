"""``report.md`` and a self-contained ``report.html`` for a run directory.

Contents: the comparison table with bootstrap CIs and DeLong p-values; ROC curves; calibration
(binned reliability with the calibration slope and intercept); decision curves; confusion
matrices at the chosen thresholds; LLM training curves; per-model output diagnostics (from
:mod:`clinpred.core.report.diagnose`); and the TRIPOD+AI / TRIPOD-LLM reporting items
(:mod:`clinpred.core.report.report_items`). Figures come from :mod:`clinpred.core.report.plots`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from attrs import define, field

from clinpred.core.atomic import write_bytes, write_text
from clinpred.core.errors import DataError
from clinpred.core.report.outputs_io import ModelOutputs, read_run_outputs
from clinpred.core.report.report_relied_on import relied_on_blocks
from clinpred.core.report.table_one import cohort_blocks
from clinpred.core.run.rundir import existing_run_dir, read_metrics, read_run_info
from clinpred.core.report.report_stats import (
    site_blocks,
    smooth_calibration_blocks,
    subgroup_blocks,
    warning_blocks,
)
from clinpred.core.report.report_items import protocol_text, reporting_items, threshold_text
from clinpred.core.report.report_search import search_blocks
from clinpred.core.report.model_table import caption, model_table, ordered_models, threshold_caption
from clinpred.core.report.tables import display_parts, fixed
from clinpred.core.evaluation.aggregate import MIN_SMOOTH_EVENTS
from clinpred.core.report.report_render import Block, Figure, Heading, Paragraph, Table, to_html, to_markdown

FIGURE_DIR = "report_files"


@define
class ReportFiles:
    markdown: Path
    html: Path | None
    figures: list[Path] = field(factory=list)


def comparison_tables(metrics: dict[str, Any]) -> list[Block]:
    """Discrimination / calibration, and classification at the chosen threshold (with CIs): the two
    display parts of :func:`model_table`, the same numbers ``clinpred report --format`` prints."""
    parts = display_parts(model_table(metrics))
    captions = (caption(metrics), threshold_caption(metrics))
    blocks: list[Block] = [Heading("Model comparison"),
                           *(Table(headers, rows, caption=text) for (_, headers, rows), text in zip(parts, captions))]
    failed = [[n, m.get("kind", "-"), m.get("error", "")] for n, m in ordered_models(metrics) if m.get("status") != "done"]
    if failed:
        blocks.append(Table(["model", "kind", "error"], failed, caption="Models that did not complete."))
    ceiling = metrics.get("bayes_optimal_auroc")
    if ceiling is not None:
        blocks.append(Paragraph(f"Bayes-optimal AUROC of this (synthetic) cohort: {ceiling:.3f}. "
                                "No model can beat it on average.", note=True))
    return blocks


def _curves(metrics: dict[str, Any], outputs: dict[str, ModelOutputs]) -> list[Any]:
    from clinpred.core.report.plots import Curve, model_colors

    colors = model_colors(list(metrics.get("models") or {}))
    out = []
    for name, m in ordered_models(metrics):
        model = outputs.get(name)
        if m.get("status") != "done" or model is None:
            continue
        folds = model.folds or [None] * model.n
        rows = [(y, p, f) for y, p, f in zip(model.labels, model.p_yes, folds) if y is not None and p is not None]
        if not rows:
            continue
        k = m["metrics"]
        labels, p, fold = zip(*rows)
        counts = tuple(int(k[c]) for c in ("tp", "fp", "tn", "fn")) if all(c in k for c in ("tp", "fp", "tn", "fn")) else None
        out.append(Curve(name, labels, p, auroc=(k.get("auroc") or {}).get("value"),
                         slope=(k.get("calibration_slope") or {}).get("value"),
                         intercept=(k.get("calibration_intercept") or {}).get("value"),
                         counts=counts, threshold=m.get("threshold"), color=colors[name],
                         smooth=m.get("smooth_calibration"), thresholds=len(m.get("thresholds") or {}) or 1,
                         folds=None if model.folds is None else np.asarray(fold, dtype=object)))
    return out


def _roc_caption(metrics: dict[str, Any]) -> str:
    if metrics.get("protocol", "holdout") == "holdout":
        return "ROC curves of the test predictions."
    return ("ROC curves: for each model the vertical average of its splits' curves (mean sensitivity at each "
            "false-positive rate; Fawcett 2006), whose area is the fold-mean AUROC shown in the legend and the table. "
            "A curve of the pooled predictions would mix differently fitted models and have another area.")


def figure_blocks(metrics: dict[str, Any], outputs: dict[str, ModelOutputs],
                  units: dict[str, dict[str, Any]]) -> list[Block]:
    from clinpred.core.report import plots

    curves = _curves(metrics, outputs)
    if not curves:
        return [Paragraph("No completed model with predictions: no figures.")]
    roc_note = (" Inset: the top-left corner enlarged (an AUROC above 0.95 leaves the curves on the edge)."
                if any(c.auroc is not None and c.auroc > plots.ROC_INSET_AUROC for c in curves) else "")
    blocks: list[Block] = [
        Heading("Discrimination"),
        Figure("roc", plots.roc_png(curves), _roc_caption(metrics) + roc_note),
        Heading("Calibration"),
        Figure("calibration", plots.calibration_png(curves),
               "Each panel: one model's pooled test predictions. Circles: observed event rate against mean predicted "
               "P(yes) in quantile bins (area ~ patients); line and band: the smooth calibration curve of the same "
               "predictions (logistic regression on a restricted cubic spline of logit P(yes), 4 knots; 95% bootstrap "
               f"band), withheld below {MIN_SMOOTH_EVENTS} events of the rarer class; dotted: perfect calibration. "
               "Below: the predicted risks (pooled over repeats under repeated CV), events above the axis and "
               "non-events below. Slope < 1: predictions too extreme; intercept > 0: risks underestimated."),
        Heading("Clinical usefulness"),
        Figure("decision_curve", plots.decision_curve_png(curves),
               "Decision curves: net benefit of treating patients whose predicted risk is above the threshold "
               "probability, against treating everybody or nobody. A model that gives everyone the same risk (the "
               "majority model) is dashed: it equals treat-all below its risk and treat-none above."),
        Heading("Confusion matrices"),
        Figure("confusion", plots.confusion_png(curves),
               "Pooled test patients, each classified at the threshold chosen on the validation part of their own split."),
    ]
    histories = [(f"{name}/{split}", u.detail("training").get("train_losses") or [],
                  u.detail("training").get("evaluations") or [])
                 for name, per in units.items() for split, u in per.items()
                 if u is not None and u.detail("training").get("train_losses")]
    if histories:
        colors = plots.model_colors(list(metrics.get("models") or {}))
        blocks += [Heading("Fine-tuning"), Figure("training", plots.training_png(histories, colors),
                                                   "Training loss per step; validation loss where evaluated.")]
    return blocks


def diagnostics_blocks(diagnosis: dict[str, Any], *, examples_shown: bool = True) -> list[Block]:
    """Per-model output diagnostics: predicted-positive rates, score spread, parse statuses, examples
    (raw outputs, unless ``examples_shown`` is False)."""
    pct = lambda x: "-" if x is None else f"{x:.0%}"  # noqa: E731
    rows, parse_rows, examples, text_rows = [], [], [], []
    for name, d in diagnosis["models"].items():
        prob, spread = d.get("predicted_from_probability"), d.get("p_yes")
        rows.append([name, pct(d.get("prevalence")), pct(prob and prob["positive_rate"]),
                     "-" if not spread else f"{spread['iqr']:.3f}", "-" if not spread else f"{spread['std']:.3f}",
                     "; ".join(d["flags"]) or "none"])
        parse = d.get("parse")
        if parse:
            counts = ", ".join(f"{s} {c}" for s, c in parse["counts"].items() if c)
            think = parse.get("think_tags")
            parse_rows.append([name, d.get("family") or "-", counts, pct(think and think["rate"]),
                               pct((d.get("predicted_from_text") or {}).get("positive_rate")),
                               pct((d.get("agreement") or {}).get("rate"))])
            for status, texts in parse["examples"].items() if examples_shown else ():
                examples += [[name, status, f'"{t}"'] for t in texts]
        for source, m in (d.get("metrics") or {}).items():
            if m and parse:
                text_rows.append([name, "P(yes) ≥ threshold" if source == "probability" else "parsed text",
                                  f"{m['n']} ({pct(m['coverage'])})", *(fixed(m[k], 3) for k in
                                  ("accuracy", "recall", "specificity", "f1", "balanced_accuracy", "mcc"))])
    blocks: list[Block] = [
        Heading("Output diagnostics"),
        Table(["model", "prevalence", "predicted positive", "P(yes) IQR", "P(yes) SD", "flags"], rows,
              caption="A model that predicts one class for >= 95% of patients, or whose P(yes) barely varies, is flagged."),
    ]
    if parse_rows:
        blocks += [
            Heading("Generated answers: raw vs post-processed (LLMs)", 3),
            Table(["model", "family", "parse statuses", "think tags", "text says yes", "agrees with P(yes) label"], parse_rows),
            Table(["model", "labels from", "n (coverage)", "accuracy", "recall", "specificity", "F1",
                   "balanced accuracy", "MCC"], text_rows,
                  caption="Labels from probabilities vs from parsed text; unparsed outputs have no text label."),
        ]
        if examples:
            blocks.append(Table(["model", "status", "raw output (truncated)"], examples,
                                caption="Examples of each failure kind (raw model outputs)."))
    return blocks


def _units(run_dir: Path, run_info: dict[str, Any], metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every model's completed unit outcomes by split (None for a split it did not complete)."""
    from clinpred.core.evaluation.outcome import UnitOutcome
    from clinpred.core.run.rundir import RunDirectory

    rd = RunDirectory(run_dir)
    splits = list((run_info.get("splits") or {}).keys())

    def outcome(name: str, split: str) -> Any:
        saved = rd.read_unit(name, split)
        if not saved or saved.get("status") != "done":
            return None
        return UnitOutcome.from_json(saved, where=str(rd.unit_file(name, split)))
    return {name: {s: outcome(name, s) for s in splits} for name in metrics.get("models", {})}


def build_report(run_dir: str | Path, *, parse: Any = None, shareable: bool = False) -> tuple[str, list[Block]]:
    """The report's title and blocks. ``parse(family, text, task)`` is the registry's parser
    (for think-tag counts in the diagnostics); stored parse statuses are used as they are.
    ``shareable`` leaves out what holds a patient's record or a model's raw output about one (the
    example prompts and raw-output examples): the copy given to a tracker."""
    from clinpred.core.report.diagnose import diagnose

    run_dir = existing_run_dir(run_dir, "give the --out directory of a `clinpred run`")
    metrics = read_metrics(run_dir)
    run_info = read_run_info(run_dir) or {}
    if metrics is None:
        raise DataError(f"{run_dir}: no metrics.json (the run has not finished); finish it with "
                        "`clinpred run ... --resume`, or see `clinpred status`")
    source = read_run_outputs(run_dir)
    outputs = {m.name: m for m in source.models}
    units = _units(run_dir, run_info, metrics)
    data = run_info.get("dataset") or {}
    ev = run_info.get("evaluation") or {}
    title = f"clinpred report: {data.get('task', {}).get('question', run_dir.name)}"
    summary = (f"{data.get('n', '?')} patients, {data.get('events', '?')} events; {protocol_text(ev)}; seed "
               f"{run_info.get('seed', '?')}; threshold {threshold_text(ev)}. Run directory: {run_dir}. "
               f"Status: {run_info.get('status', '?')}.")
    prompts = {} if shareable else {m.name: next((p for p in m.prompts if p), "") for m in source.models if m.prompts}
    blocks: list[Block] = [Paragraph(summary), *comparison_tables(metrics), *warning_blocks(metrics), *figure_blocks(metrics, outputs, units),
                           *smooth_calibration_blocks(metrics), *relied_on_blocks(metrics, run_info),
                           *subgroup_blocks(metrics), *site_blocks(metrics),
                           *cohort_blocks(metrics), *search_blocks(units),
                           *diagnostics_blocks(diagnose(source, parse=parse), examples_shown=not shareable),
                           *reporting_items(run_info, metrics, units, {k: v for k, v in prompts.items() if v},
                                            shareable=shareable)]
    return title, blocks


def write_report(run_dir: str | Path, *, html: bool = True, parse: Any = None) -> ReportFiles:
    """Write ``report.md`` (+ ``report_files/*.png``) and, with ``html``, ``report.html`` (atomic writes),
    holding the run directory's writer lock; a failed write (a full disk) leaves no new, empty
    ``report_files/`` behind."""
    from clinpred.core.run.lock import RunLock
    from clinpred.core.report.report_cleanup import new_folder_removed_on_failure

    run_dir = Path(run_dir)
    title, blocks = build_report(run_dir, parse=parse)
    with RunLock(run_dir, "clinpred report"), new_folder_removed_on_failure(run_dir / FIGURE_DIR):
        return _write_files(run_dir, title, blocks, html)


def write_shareable_report(run_dir: str | Path, folder: str | Path, *, parse: Any = None) -> list[Path]:
    """A copy of the report without example prompts or raw outputs (no patient record), written to
    ``folder`` (not the run directory): what a tracker may log. Returns the files written."""
    title, blocks = build_report(run_dir, parse=parse, shareable=True)
    files = _write_files(Path(folder), title, blocks, html=True)
    return [files.markdown, *([files.html] if files.html else []), *files.figures]


def shareable_report_writer(parse: Any = None) -> Any:
    """A ``(run_dir, folder) -> files`` function writing :func:`write_shareable_report`: what a run's
    tracker logs as its report (the runner takes it as an argument: run does not import report)."""
    def write(run_dir: str | Path, folder: str | Path) -> list[Path]:
        return write_shareable_report(run_dir, folder, parse=parse)

    return write


def _write_files(run_dir: Path, title: str, blocks: list[Block], html: bool) -> ReportFiles:
    figures = []
    for block in blocks:
        if isinstance(block, Figure):
            path = run_dir / FIGURE_DIR / f"{block.name}.png"
            write_bytes(path, block.png)
            figures.append(path)
    md = run_dir / "report.md"
    write_text(md, to_markdown(blocks, title, FIGURE_DIR))
    page = None
    if html:
        page = run_dir / "report.html"
        write_text(page, to_html(blocks, title))
    return ReportFiles(md, page, figures)
