"""The permutation-importance figure: AUROC drop with its 95% CI per feature, one colour per model
(PNG bytes; matplotlib inside)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from clinpred.core.report.plot_base import _figure, _png


def importance_png(by_model: Mapping[str, Mapping[str, dict[str, Any]]], features: Sequence[str],
                   names: Mapping[str, str], colors: Mapping[str, str]) -> bytes:
    """Horizontal bars: for each of ``features`` (strongest first, top to bottom), one bar per model
    (``by_model[model][feature]`` = ``{"auroc_drop", "ci"}``) with its CI as a whisker."""
    models = list(by_model)
    height = 1.3 + len(features) * (0.16 * max(len(models), 1) + 0.2)
    fig = _figure(7.6, min(max(height, 2.6), 11.0))
    ax = fig.add_subplot(1, 1, 1)
    step = 0.8 / max(len(models), 1)
    for k, model in enumerate(models):
        y = np.arange(len(features)) + k * step - 0.4 + step / 2
        entries = [by_model[model].get(f) for f in features]
        drop = np.array([e["auroc_drop"] if e else np.nan for e in entries], dtype=float)
        lo = np.array([(e.get("ci") or [None])[0] if e else None for e in entries], dtype=float)
        hi = np.array([(e.get("ci") or [None, None])[1] if e else None for e in entries], dtype=float)
        ax.barh(y, drop, height=step * 0.9, color=colors.get(model, "#1f77b4"), label=model, alpha=0.85)
        ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(drop) & (hi - lo > 1e-12)  # no whisker of nothing
        if ok.any():
            ax.errorbar(drop[ok], y[ok], xerr=[drop[ok] - lo[ok], hi[ok] - drop[ok]], fmt="none",
                        ecolor="#333333", elinewidth=0.8, capsize=2)
    ax.axvline(0, color="#555555", lw=0.8)
    ax.set_yticks(np.arange(len(features)), [names.get(f, f) for f in features], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("drop in validation AUROC when the feature is permuted")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("What each model relied on (permutation importance)", fontsize=10)
    return _png(fig)
