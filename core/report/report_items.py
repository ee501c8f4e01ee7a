"""The reporting items of TRIPOD+AI (BMJ 2024) and TRIPOD-LLM (Nat Med 2025) that a run records.

From ``run.json``, ``metrics.json``, the unit files and the stored predictions: data source and
hash, outcome and events per part, the evaluation protocol and seeds, how thresholds were
chosen, model ids and versions, hyperparameters, inference settings, an example prompt per LLM,
software versions and compute time.
"""

from __future__ import annotations

import json
from typing import Any

from clinpred.core.report.report_stats import balance_text, comparison_text, interval_text
from clinpred.core.report.report_render import Block, Code, Heading, Paragraph, Table


def _fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = float(seconds)
    if s >= 3600:
        return f"{s / 3600:.2f} h"
    if s >= 60:
        return f"{s / 60:.1f} min"
    return f"{s:.1f} s"


def protocol_text(ev: dict[str, Any]) -> str:
    if ev.get("protocol") == "internal-external":
        return ("internal-external cross-validation: each site is the test part once, the model trained on the "
                f"other sites ({ev.get('val_fraction', 0):.1%} of them held out for validation)")
    if ev.get("protocol") == "cv":
        reps = ev.get("cv_repeats", 1)
        return (f"stratified {ev.get('cv_folds')}-fold cross-validation x {reps} repeat(s); within each training "
                f"part, {ev.get('val_fraction', 0):.1%} held out for validation (threshold choice, early stopping)")
    return "stratified hold-out split 80/10/10 (train / validation / test)"


def threshold_text(ev: dict[str, Any]) -> str:
    method = ev.get("threshold", "?")
    if method == "fixed":
        return f"fixed at {ev.get('fixed_threshold')} (no data used)"
    what = {"youden": "maximising Youden's J (sensitivity + specificity - 1)", "f1": "maximising F1"}.get(method, method)
    return f"chosen on the validation part of each split by {what}; never on test data"


def _model_rows(run_info: dict[str, Any], units: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    for m in run_info.get("models", []):
        first = next(iter(units.get(m["name"], {}).values()), None)
        loaded = first.detail("model") if first is not None else {}
        rows.append([m["name"], m.get("family") or "-", m.get("model_id") or "-", m.get("catalog") or "-",
                     loaded.get("source", "-"), loaded.get("precision", "-"),
                     json.dumps(m.get("hyperparameters") or {}, sort_keys=True),
                     m.get("unavailable") or ""])
    return rows


def _compute_rows(metrics: dict[str, Any], units: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    for name, per_split in units.items():
        done = [u for u in per_split.values() if u is not None]
        if not done:
            continue
        seconds = sum(u.seconds for u in done)
        training = [u.detail("training") for u in done if u.detail("training")]
        train_s = sum(float(t.get("seconds") or 0.0) for t in training)
        tokens = sum(int(t.get("trained_tokens") or 0) for t in training)
        steps = sum(int(t.get("steps_done") or 0) for t in training)
        kind = (metrics.get("models", {}).get(name) or {}).get("kind", "-")
        rows.append([name, kind, str(len(done)), _fmt_seconds(seconds),
                     _fmt_seconds(train_s) if training else "-", str(steps) if training else "-",
                     f"{tokens:,}" if training else "-"])
    return rows


def _threshold_rows(metrics: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, m in metrics.get("models", {}).items():
        if m.get("status") != "done":
            continue
        per = m.get("thresholds") or {}
        values = ", ".join(f"{s}: {t:.3f}" for s, t in per.items())
        rows.append([name, values or f"{m.get('threshold', 0):.3f}", "; ".join(m.get("threshold_notes") or [])])
    return rows


def example_prompts(prompts: dict[str, str]) -> list[Block]:
    blocks: list[Block] = []
    for name, text in prompts.items():
        blocks.append(Code(text, caption=f"{name}: the exact scoring prompt of the first test patient "
                                         "(chat template applied; the answer is scored right after it)"))
    return blocks


def reporting_items(run_info: dict[str, Any], metrics: dict[str, Any],
                    units: dict[str, dict[str, dict[str, Any]]], prompts: dict[str, str],
                    shareable: bool = False) -> list[Block]:
    """The blocks of the report's "Reporting items" section (``shareable``: no example prompt)."""
    ev = run_info.get("evaluation") or {}
    data = run_info.get("dataset") or {}
    task = data.get("task") or {}
    n, events = data.get("n"), data.get("events")
    prevalence = f" ({events / n:.1%})" if n and events is not None else ""
    llms = run_info.get("models") or []
    items = [
        ["Data source", str(data.get("source", "-"))],
        ["Data SHA-256", str(data.get("sha256", "-"))],
        ["Patients / events", f"{n} / {events}{prevalence}"],
        ["Outcome (question)", f"{task.get('question', '-')} (positive answer {task.get('positive', '?')!r}, "
                               f"negative {task.get('negative', '?')!r})"],
        ["Predictors", ", ".join(data.get("features") or []) or "-"],
        ["Evaluation protocol", protocol_text(ev)],
        ["Class balance in training", balance_text(ev)],
        ["Seed", str(run_info.get("seed", ev.get("seed", "-")))],
        ["Threshold choice", threshold_text(ev)],
        ["Confidence intervals", interval_text(metrics, ev)],
        ["Model comparison", comparison_text(metrics)],
        ["Baselines", ", ".join(run_info.get("baselines") or []) or "-"],
    ]
    if llms:
        items += [
            ["LLM probability", f"P(yes) = probability mass of the answer's first tokens {task.get('positive', '?')!r} vs "
                                f"{task.get('negative', '?')!r} (case and leading-space variants) at the answer position"],
            ["LLM text generation", (f"greedy decoding, at most {ev.get('max_new_tokens')} new tokens, stopped at the "
                                     "family's end-of-turn markers; parsed by the family plugin"
                                     if ev.get("generate") else "off (labels from P(yes) only)")],
            ["Prompts and raw outputs stored", "yes" if ev.get("store_prompts") else "no"],
        ]
    items += [
        ["Run command", " ".join(run_info.get("command") or []) or "-"],
        ["Configuration", str(run_info.get("config", "-"))],
        ["Started", str(run_info.get("started", "-"))],
        ["Total compute time", _fmt_seconds(run_info.get("seconds"))],
        ["Machine", str((run_info.get("machine") or {}).get("platform", "-"))],
    ]
    blocks: list[Block] = [
        Heading("Reporting items (TRIPOD+AI / TRIPOD-LLM)"),
        Table(["item", "value"], items),
        Heading("Events per part", 3),
        Table(["split", "train n / events", "validation n / events", "test n / events"],
              [[s, *(f"{p.get(part, {}).get('n', '-')} / {p.get(part, {}).get('events', '-')}" for part in ("train", "val", "test"))]
               for s, p in (run_info.get("splits") or {}).items()]),
        Heading("Decision thresholds", 3),
        Table(["model", "threshold per split", "notes"], _threshold_rows(metrics)),
    ]
    if llms:
        blocks += [Heading("Language models", 3),
                   Table(["name", "family", "model id", "catalog", "loaded from", "precision", "hyperparameters", "unavailable"],
                         _model_rows(run_info, units))]
    blocks += [Heading("Compute", 3),
               Table(["model", "kind", "units", "wall time", "training time", "training steps", "trained tokens"],
                     _compute_rows(metrics, units))]
    if shareable and llms:
        blocks.append(Paragraph("Example prompts and raw outputs are left out of this copy of the report (it was "
                                "written to be shared: no patient record); see report.md in the run directory.",
                                note=True))
    elif prompts:
        blocks += [Heading("Example prompts", 3),
                   Paragraph("A prompt holds one test patient's record: share this report only where the data may go.",
                             note=True),
                   *example_prompts(prompts)]
    elif llms:
        blocks.append(Paragraph("Prompts were not stored in this run (store_prompts = false).", note=True))
    versions = run_info.get("versions") or {}
    blocks += [Heading("Software versions", 3),
               Table(["package", "version"], [[k, str(v) if v else "not installed"] for k, v in versions.items()])]
    return blocks
