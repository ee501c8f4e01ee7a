"""The report's figures as PNG bytes (matplotlib, Agg canvas; no pyplot state, no display).

Each function takes plain data (one :class:`Curve` per model) and returns the PNG file's bytes.
A model keeps one colour in every figure of a report and in every run (:func:`model_colors`: by
its name, not by its rank). A model whose predicted risk is the same for everyone (the majority
model) is drawn dashed on top, so it is not hidden under "treat all" / "treat none".
matplotlib is imported inside the functions.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from clinpred.core.evaluation import curves
from clinpred.core.report.plot_base import PALETTE, ROC_INSET_AUROC, Curve, _figure, _num, _png, model_colors
from clinpred.core.report.tables import fixed

__all__ = ["PALETTE", "ROC_INSET_AUROC", "Curve", "calibration_png", "confusion_png", "decision_curve_png",
           "model_colors", "roc_png", "training_png"]

def _style(m: Curve) -> dict[str, Any]:
    """Line style of a model: dashed, thick and on top for a constant-risk model."""
    if m.constant:
        return {"color": m.color, "linewidth": 2.4, "linestyle": (0, (5, 3)), "zorder": 6}
    return {"color": m.color, "linewidth": 1.7, "zorder": 4}


def roc_png(models: Sequence[Curve]) -> bytes:
    """ROC curves of all models on one plot, AUROC in the legend; a zoomed inset of the top-left
    corner when any AUROC is above ``ROC_INSET_AUROC`` (there the curves are indistinguishable). A
    model evaluated on several splits (cross-validation, sites) gets the vertical average of its
    splits' curves, whose area is the fold-mean AUROC of the legend; a hold-out model the curve of
    its test predictions."""
    fig = _figure(6.4, 5.6)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="#999999", linestyle=":", linewidth=1, label="chance")
    drawn = []
    for m in models:
        if m.labels.size == 0 or m.labels.min() == m.labels.max():
            continue
        try:
            fpr, tpr = curves.fold_mean_roc(m.labels, m.p, m.folds) if m.several_folds else curves.roc_points(m.labels, m.p)
        except ValueError:  # no split holds both classes
            continue
        ax.plot(fpr, tpr, label=f"{m.name} (AUROC {_num(m.auroc, 3)})", **_style(m))
        drawn.append((m, fpr, tpr))
    ax.set_xlabel("1 - specificity (false-positive rate)")
    ax.set_ylabel("sensitivity (true-positive rate)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    several = any(m.several_folds for m in models)
    ax.set_title("ROC curves (mean over the splits' curves)" if several else "ROC curves (test predictions)")
    if any(m.auroc is not None and m.auroc > ROC_INSET_AUROC for m, _, _ in drawn):
        inset = ax.inset_axes([0.36, 0.36, 0.42, 0.42])
        for m, fpr, tpr in drawn:
            inset.plot(fpr, tpr, **_style(m))
        inset.set_xlim(0, 0.2)
        inset.set_ylim(0.8, 1.005)
        inset.grid(alpha=0.3)
        inset.tick_params(labelsize=7)
        inset.set_title("zoom: false-positive rate 0-0.2", fontsize=7)
        ax.indicate_inset_zoom(inset, edgecolor="#777777")
    return _png(fig)


def decision_curve_png(models: Sequence[Curve], max_threshold: float = 0.9) -> bytes:
    """Net benefit against the threshold probability, with treat-all and treat-none. A constant-risk
    model (the majority model) equals "treat all" below its risk and "treat none" above: it is
    drawn dashed on top of them and its legend entry says so."""
    t = np.round(np.arange(0.01, max_threshold + 1e-9, 0.01), 2)
    fig = _figure(7.0, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    reference = next((m for m in models if m.labels.size), None)
    lows = [0.0]
    if reference is not None:
        everyone = curves.treat_all(reference.labels, t)
        ax.plot(t, everyone, color="#444444", linestyle="-", linewidth=1.0, label="treat all", zorder=2)
        top = float(reference.labels.mean())
    else:
        top = 1.0
    ax.axhline(0.0, color="#000000", linewidth=1.0, label="treat none", zorder=2)
    for m in models:
        if m.labels.size == 0:
            continue
        nb = curves.net_benefit(m.labels, m.p, t)
        lows.append(float(nb.min()))
        label = (f"{m.name} (constant risk {fixed(float(m.p[0]), 2)}: = treat all below it, treat none above)"
                 if m.constant else m.name)
        ax.plot(t, nb, label=label, marker="o" if m.constant else None, markevery=6, markersize=4, **_style(m))
    ax.set_ylim(max(min(lows), -0.1) - 0.01, max(top, 0.05) * 1.1)
    ax.set_xlim(0, max_threshold)
    ax.set_xlabel("threshold probability")
    ax.set_ylabel("net benefit")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title("Decision curves (pooled test predictions)")
    return _png(fig)


def confusion_png(models: Sequence[Curve]) -> bytes:
    """2 x 2 confusion matrices at each model's chosen threshold(s)."""
    shown = [m for m in models if m.counts is not None]
    n = max(len(shown), 1)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig = _figure(3.2 * cols, 3.1 * rows)
    for k, m in enumerate(shown):
        tp, fp, tn, fn = m.counts  # type: ignore[misc]
        grid = np.array([[tn, fp], [fn, tp]], dtype=float)
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(grid, cmap="Blues", vmin=0, vmax=max(grid.max(), 1))
        for (i, j), value in np.ndenumerate(grid):
            ax.text(j, i, f"{int(value)}", ha="center", va="center", fontsize=12,
                    color="white" if value > grid.max() / 2 else "black")
        ax.set_xticks([0, 1], ["pred. no", "pred. yes"], fontsize=8)
        ax.set_yticks([0, 1], ["true no", "true yes"], fontsize=8)
        if m.threshold is None:
            thr = ""
        elif m.thresholds > 1:
            thr = f"\n(each split's own threshold; mean {fixed(m.threshold, 3)})"
        else:
            thr = f" (t = {fixed(m.threshold, 3)})"
        ax.set_title(f"{m.name}{thr}", fontsize=9, color=m.color)
    return _png(fig)


def training_png(histories: Sequence[tuple[str, Sequence[float], Sequence[dict[str, Any]]]],
                 colors: dict[str, str] | None = None) -> bytes:
    """Training loss per step (and validation loss where evaluated), one line per LLM unit
    (``name/split``; ``colors`` by model name)."""
    fig = _figure(7.0, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    for k, (name, losses, evaluations) in enumerate(histories):
        color = (colors or {}).get(name.split("/")[0], PALETTE[k % len(PALETTE)])
        ax.plot(np.arange(1, len(losses) + 1), losses, color=color, linewidth=1.0, alpha=0.8, label=f"{name} train")
        points = [(e["step"], e["val_loss"]) for e in evaluations if e.get("val_loss") is not None]
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, color=color, marker="o", linestyle="--", linewidth=1.0, label=f"{name} val")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (answer tokens)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("LLM fine-tuning")
    return _png(fig)


def calibration_png(models: Sequence[Curve], n_bins: int = 10) -> bytes:
    """Calibration of each model (see :mod:`clinpred.core.report.plots_calibration`)."""
    from clinpred.core.report.plots_calibration import calibration_panels

    return calibration_panels(models, n_bins)
