"""The calibration figure: per model, the binned and the smooth calibration curves of the same
pooled test predictions on one panel, and the distribution of the predicted risks under it.

Binned: observed event rate against mean predicted risk in quantile bins (marker area ~ patients).
Smooth: the spline curve and its 95% bootstrap band of ``metrics.json`` ``smooth_calibration``,
computed from the same predictions; withheld (with the reason on the panel) when there are too
few events. Below: a histogram of predicted risks, events above the axis and non-events below it,
so a reader sees where the patients are (quantile bins hide it: most may sit near 0 or 1).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from clinpred.core.evaluation import curves
from clinpred.core.report.plot_base import Curve, _figure, _num, _png

_HIST_BINS = 40


def _binned(ax: Any, m: Curve, n_bins: int) -> None:
    bins = curves.reliability_bins(m.labels, m.p, n_bins) if m.labels.size else []
    if bins:
        pred, obs, size = (np.asarray(v, dtype=float) for v in zip(*bins))
        ax.scatter(pred, obs, s=14 + 110 * size / size.max(), facecolors="white", edgecolors=m.color,
                   linewidths=1.4, zorder=5, label=f"binned ({len(bins)} quantile bins)")


def _smooth(ax: Any, m: Curve) -> str | None:
    """Draw the smooth curve and band; the reason when it is withheld (None when drawn or absent)."""
    sc = m.smooth or {}
    if sc.get("withheld"):
        return f"smooth curve withheld:\n{sc['events']} events of the rarer class\n(fewer than {sc['min_events']})"
    curve = sc.get("curve")
    if not curve:
        return None
    p, obs = curve["p"], curve["observed"]
    band = [(x, lo, hi) for x, lo, hi in zip(p, curve.get("lo") or [], curve.get("hi") or [])
            if lo is not None and hi is not None]
    if band:
        xs, los, his = zip(*band)
        ax.fill_between(xs, los, his, color=m.color, alpha=0.15, lw=0, zorder=2)
    ax.plot(p, obs, color=m.color, lw=1.8, zorder=4, label="smooth (spline, 95% band)")
    return None


def _histogram(ax: Any, m: Curve) -> None:
    edges = np.linspace(0, 1, _HIST_BINS + 1)
    events = np.histogram(m.p[m.labels == 1], bins=edges)[0]
    others = np.histogram(m.p[m.labels == 0], bins=edges)[0]
    width = edges[1] - edges[0]
    ax.bar(edges[:-1], events, width=width, align="edge", color=m.color, alpha=0.85, lw=0, label="events")
    ax.bar(edges[:-1], -others, width=width, align="edge", color="#9a9a9a", alpha=0.85, lw=0, label="non-events")
    ax.axhline(0, color="#555555", lw=0.6)
    top = max(int(events.max(initial=0)), int(others.max(initial=0)), 1)
    ax.set_ylim(-top * 1.15, top * 1.15)
    ax.set_yticks([-top, 0, top], [str(top), "0", str(top)], fontsize=6)
    ax.text(0.5, 0.97, "events", transform=ax.transAxes, fontsize=6, ha="center", va="top", color=m.color)
    ax.text(0.5, 0.03, "non-events", transform=ax.transAxes, fontsize=6, ha="center", va="bottom", color="#6b6b6b")
    ax.set_xlim(-0.03, 1.03)
    ax.tick_params(labelsize=7)
    ax.set_xlabel("predicted P(yes)", fontsize=8)
    ax.set_ylabel("count", fontsize=7)  # patients (x repeats under repeated CV)


def calibration_panels(models: Sequence[Curve], n_bins: int = 10) -> bytes:
    """One panel per model: binned + smooth calibration, and the predicted-risk histogram below."""
    n = max(len(models), 1)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = _figure(4.3 * cols, 5.6 * rows)
    grid = fig.add_gridspec(rows, cols, hspace=0.32, wspace=0.28)
    for k, m in enumerate(models):
        r, c = divmod(k, cols)
        cell = grid[r, c].subgridspec(2, 1, height_ratios=[4, 1.2], hspace=0.06)
        ax = fig.add_subplot(cell[0])
        hist = fig.add_subplot(cell[1], sharex=ax)
        ax.plot([0, 1], [0, 1], color="#999999", linestyle=":", linewidth=1, zorder=1)
        withheld = _smooth(ax, m)
        _binned(ax, m, n_bins)
        if withheld:
            ax.text(0.97, 0.03, withheld, transform=ax.transAxes, fontsize=7, ha="right", va="bottom", color="#5a6270")
        elif m.smooth and m.smooth.get("curve"):
            ax.legend(loc="lower right", fontsize=7)
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
        ax.set_title(f"{m.name}\nslope {_num(m.slope)}, intercept {_num(m.intercept)}", fontsize=9, color=m.color)
        ax.set_ylabel("observed event rate", fontsize=8)
        ax.tick_params(labelsize=7, labelbottom=False)
        _histogram(hist, m)
    fig.subplots_adjust(left=0.07, right=0.98, top=1 - 0.55 / (5.6 * rows), bottom=0.45 / (5.6 * rows))
    return _png(fig, tight=False)


__all__ = ["calibration_panels"]
