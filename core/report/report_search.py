"""The report's hyperparameter-search section: per model and outer split, every trial (values,
outcome, inner-validation objective), the chosen values, and the trials' validation curves."""

from __future__ import annotations

import math
from typing import Any, Sequence

from clinpred.core.report.report_render import Block, Figure, Heading, Paragraph, Table


def _value(v: Any) -> str:
    if isinstance(v, float):
        return "-" if not math.isfinite(v) else f"{v:.3g}"
    return "-" if v is None else str(v)


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {_value(v)}" for k, v in params.items())


def searched_units(units: dict[str, dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(model, split, search record) of every unit (outcome) that ran a search."""
    return [(name, split, u.detail("search")) for name, per in units.items() for split, u in per.items()
            if u is not None and u.detail("search")]


def curves_png(searches: Sequence[tuple[str, dict[str, Any]]]) -> bytes:
    """One panel per (model, split): the inner-validation objective of each trial against the step."""
    from clinpred.core.report.plot_base import PALETTE, _figure, _png

    n = len(searches)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = _figure(4.2 * cols, 3.2 * rows)
    for k, (title, search) in enumerate(searches):
        ax = fig.add_subplot(rows, cols, k + 1)
        objective = search.get("objective", "val_auroc")
        for t in search.get("trials", []):
            points = [(e["step"], e.get(objective)) for e in t.get("evaluations") or [] if e.get(objective) is not None]
            if not points:
                continue
            steps, values = zip(*points)
            chosen = t["number"] == search.get("best_trial")
            ax.plot(steps, values, color=PALETTE[t["number"] % len(PALETTE)], marker="o", markersize=3,
                    linewidth=2.2 if chosen else 1.0, linestyle="-" if t["state"] == "complete" else ":",
                    label=f"trial {t['number']}{' (chosen)' if chosen else ''}{' pruned' if t['state'] == 'pruned' else ''}")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel(f"inner {objective.replace('_', ' ')}", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    return _png(fig)


def search_blocks(units: dict[str, dict[str, dict[str, Any]]]) -> list[Block]:
    """The section, or nothing when no unit searched."""
    found = searched_units(units)
    if not found:
        return []
    chosen_rows, trial_rows = [], []
    for name, split, s in found:
        inner = s.get("inner") or {}
        states = [t["state"] for t in s.get("trials", [])]
        chosen_rows.append([name, split, _params(s["chosen"]), str(s.get("best_trial")), _value(s.get("best_value")),
                            f"{len(states)} ({states.count('pruned')} pruned, {states.count('failed')} failed)",
                            f"{inner.get('train', '?')} / {inner.get('val', '?')}"])
        for t in s.get("trials", []):
            trial_rows.append([name, split, str(t["number"]), _params(t["params"]), t["state"], _value(t.get("value")),
                               _value(t.get("best_step")), _value(t.get("seconds"))])
    first = found[0][2]
    return [
        Heading("Hyperparameter search"),
        Paragraph(f"Nested search per outer split ({first.get('sampler')} sampler, objective {first.get('objective')}, "
                  f"pruner {first.get('pruner')}): trials train on the split's training part minus a stratified inner "
                  "validation part and are judged on that part only; the outer validation part (threshold) and the "
                  "test part never inform a choice. Each trial keeps its best checkpoint by validation and may stop "
                  "early; the chosen values then train the unit on the whole training part."),
        Table(["model", "split", "chosen", "best trial", "best inner value", "trials", "inner train / val"], chosen_rows),
        Table(["model", "split", "trial", "values", "state", "inner value", "best step", "seconds"], trial_rows,
              caption="Every trial of every search; pruned trials were stopped by the pruner on their validation curve."),
        Figure("search_curves", curves_png([(f"{n}/{sp}", s) for n, sp, s in found]),
               "Validation curves of the trials (inner validation part); the chosen trial is drawn thick."),
    ]
