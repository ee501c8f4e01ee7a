"""The report's figures as PNG bytes (matplotlib, Agg canvas; no pyplot state, no display).

Each function takes plain data (one :class:`Curve` per model) and returns the PNG file's bytes.
matplotlib is imported inside the functions.
"""

from __future__ import annotations

import io
import math
from typing import Any, Sequence

import numpy as np
from attrs import define, field

from clinpred.core.evaluation import curves

_DPI = 100
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")


@define
class Curve:
    """One model's pooled test predictions and the numbers shown with them."""

    name: str
    labels: np.ndarray = field(converter=lambda v: np.asarray(v, dtype=float))
    p: np.ndarray = field(converter=lambda v: np.asarray(v, dtype=float))
    auroc: float | None = None
    slope: float | None = None
    intercept: float | None = None
    counts: tuple[int, int, int, int] | None = None  # tp, fp, tn, fn at the chosen threshold
    threshold: float | None = None
    folds: np.ndarray | None = None  # the split of each prediction (several: ROC averaged over them)

    @property
    def several_folds(self) -> bool:
        return self.folds is not None and len(set(self.folds.tolist())) > 1


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def _num(x: float | None, fmt: str = ".2f") -> str:
    return "n/a" if x is None or not math.isfinite(x) else format(x, fmt)


def _color(k: int) -> str:
    return _COLORS[k % len(_COLORS)]


def roc_png(models: Sequence[Curve]) -> bytes:
    """ROC curves of all models on one plot, AUROC in the legend. A model evaluated on several
    splits (cross-validation, sites) gets the vertical average of its splits' curves, whose area
    is the fold-mean AUROC of the legend; a hold-out model the curve of its test predictions."""
    fig = _figure(6.4, 5.6)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="#999999", linestyle=":", linewidth=1, label="chance")
    for k, m in enumerate(models):
        if m.labels.size == 0 or m.labels.min() == m.labels.max():
            continue
        try:
            fpr, tpr = curves.fold_mean_roc(m.labels, m.p, m.folds) if m.several_folds else curves.roc_points(m.labels, m.p)
        except ValueError:  # no split holds both classes
            continue
        ax.plot(fpr, tpr, color=_color(k), linewidth=1.8, label=f"{m.name} (AUROC {_num(m.auroc, '.3f')})")
    ax.set_xlabel("1 - specificity (false-positive rate)")
    ax.set_ylabel("sensitivity (true-positive rate)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    several = any(m.several_folds for m in models)
    ax.set_title("ROC curves (mean over the splits' curves)" if several else "ROC curves (test predictions)")
    return _png(fig)


def calibration_png(models: Sequence[Curve], n_bins: int = 10) -> bytes:
    """Reliability diagrams (quantile bins; marker area ~ patients), one panel per model."""
    n = max(len(models), 1)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = _figure(4.2 * cols, 4.0 * rows)
    for k, m in enumerate(models):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.plot([0, 1], [0, 1], color="#999999", linestyle=":", linewidth=1)
        bins = curves.reliability_bins(m.labels, m.p, n_bins) if m.labels.size else []
        if bins:
            pred, obs, size = (np.asarray(v, dtype=float) for v in zip(*bins))
            ax.plot(pred, obs, color=_color(k), linewidth=1.2)
            ax.scatter(pred, obs, s=12 + 120 * size / size.max(), color=_color(k), alpha=0.8, zorder=3)
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(-0.03, 1.03)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
        ax.set_title(f"{m.name}\nslope {_num(m.slope)}, intercept {_num(m.intercept)}", fontsize=9)
        ax.set_xlabel("predicted P(yes)", fontsize=8)
        ax.set_ylabel("observed event rate", fontsize=8)
        ax.tick_params(labelsize=7)
    return _png(fig)


def decision_curve_png(models: Sequence[Curve], max_threshold: float = 0.9) -> bytes:
    """Net benefit against the threshold probability, with treat-all and treat-none."""
    t = np.round(np.arange(0.01, max_threshold + 1e-9, 0.01), 2)
    fig = _figure(7.0, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    reference = next((m for m in models if m.labels.size), None)
    lows = [0.0]
    if reference is not None:
        everyone = curves.treat_all(reference.labels, t)
        ax.plot(t, everyone, color="#444444", linestyle="--", linewidth=1.2, label="treat all")
        top = float(reference.labels.mean())
    else:
        top = 1.0
    ax.axhline(0.0, color="#000000", linewidth=1.0, label="treat none")
    for k, m in enumerate(models):
        if m.labels.size == 0:
            continue
        nb = curves.net_benefit(m.labels, m.p, t)
        lows.append(float(nb.min()))
        ax.plot(t, nb, color=_color(k), linewidth=1.6, label=m.name)
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
        thr = "" if m.threshold is None else f" (t = {m.threshold:.3f})"
        ax.set_title(f"{m.name}{thr}", fontsize=9)
    return _png(fig)


def training_png(histories: Sequence[tuple[str, Sequence[float], Sequence[dict[str, Any]]]]) -> bytes:
    """Training loss per step (and validation loss where evaluated), one line per LLM unit."""
    fig = _figure(7.0, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    for k, (name, losses, evaluations) in enumerate(histories):
        ax.plot(np.arange(1, len(losses) + 1), losses, color=_color(k), linewidth=1.0, label=f"{name} train")
        points = [(e["step"], e["val_loss"]) for e in evaluations if e.get("val_loss") is not None]
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, color=_color(k), marker="o", linestyle="--", linewidth=1.0, label=f"{name} val")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (answer tokens)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("LLM fine-tuning")
    return _png(fig)
