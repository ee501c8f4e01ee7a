"""What every figure of the report shares: the per-model :class:`Curve`, the model colours (by
name, the same in every figure and every run), and the matplotlib canvas (Agg; no pyplot state).
matplotlib is imported inside the functions."""

from __future__ import annotations

import hashlib
import io
from typing import Any, Sequence

import numpy as np
from attrs import define, field

from clinpred.core.report.tables import fixed

_DPI = 100
#: the model colours (no grey: grey and black are the reference lines)
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#393b79", "#e7ba52", "#637939")
#: draw a zoomed inset of the ROC plot's top-left corner when a model's AUROC is above this
ROC_INSET_AUROC = 0.95


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
    color: str = PALETTE[0]
    smooth: dict[str, Any] | None = None  # metrics.json smooth_calibration (curve, or "withheld")
    thresholds: int = 1  # splits, each with its own threshold
    folds: np.ndarray | None = None  # the split of each prediction (several: ROC averaged over them)

    @property
    def several_folds(self) -> bool:
        """Predictions of several splits (the ROC curve is then their vertical average)."""
        return self.folds is not None and len(set(self.folds.tolist())) > 1

    @property
    def constant(self) -> bool:
        """The same predicted risk for everybody (no ranking: the majority model)."""
        return self.p.size > 0 and float(np.ptp(self.p)) == 0.0


def model_colors(names: Sequence[str]) -> dict[str, str]:
    """One colour per model name: the palette slot its name hashes to, the next free slot when an
    alphabetically earlier name of the same report took it. The same names get the same colours in
    every figure and every run; no rank or order of the models enters."""
    taken: dict[int, str] = {}
    out: dict[str, str] = {}
    for name in sorted(set(names)):
        slot = int(hashlib.sha256(f"clinpred:{name}".encode()).hexdigest(), 16) % len(PALETTE)
        for step in range(len(PALETTE)):
            if (slot + step) % len(PALETTE) not in taken:
                slot = (slot + step) % len(PALETTE)
                break
        taken.setdefault(slot, name)
        out[name] = PALETTE[slot]
    return out


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any, tight: bool = True) -> bytes:
    buf = io.BytesIO()
    if tight:
        fig.tight_layout()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def _num(x: float | None, digits: int = 2) -> str:
    return fixed(x, digits, empty="n/a")
