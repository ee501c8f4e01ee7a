"""The smooth calibration curves with their bootstrap bands (PNG bytes; matplotlib inside)."""

from __future__ import annotations

from typing import Any

from clinpred.core.report.plots import _color, _figure, _png


def smooth_calibration_png(curves: dict[str, dict[str, Any]]) -> bytes:
    """One line per model (``metrics.json`` ``smooth_calibration.curve``) with its 95% band."""
    fig = _figure(5.5, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], ":", color="grey", lw=1)
    for k, (name, curve) in enumerate(curves.items()):
        p, obs = curve["p"], curve["observed"]
        ax.plot(p, obs, color=_color(k), lw=1.6, label=name)
        band = [(x, lo, hi) for x, lo, hi in zip(p, curve.get("lo") or [], curve.get("hi") or [])
                if lo is not None and hi is not None]
        if band:
            xs, los, his = zip(*band)
            ax.fill_between(xs, los, his, color=_color(k), alpha=0.15, lw=0)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted P(yes)")
    ax.set_ylabel("observed risk (spline-smoothed)")
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)
