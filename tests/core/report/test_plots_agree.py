"""Figures that agree: one colour per model name (stable across figures and runs), the majority
model visible in decision curves, the risk distribution and both calibration curves on one panel,
a ROC inset for AUROC > 0.95, smooth curves withheld with too few events; and number formats."""

from __future__ import annotations

import io

import numpy as np
import pytest

from clinpred.core.report import plots
from clinpred.core.report.model_table import threshold_caption, threshold_cell
from clinpred.core.report.tables import fixed, p_value_text


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB"), dtype=int)


def _count(rgb: np.ndarray, color: str, tol: int = 30) -> int:
    want = np.array([int(color[k:k + 2], 16) for k in (1, 3, 5)])
    return int((np.abs(rgb - want).sum(axis=2) < tol).sum())


def test_colours_follow_names_not_order_or_rank():
    names = ["majority", "lasso", "random_forest", "gradient_boosting", "smollm2-135m-instruct"]
    first = plots.model_colors(names)
    assert first == plots.model_colors(list(reversed(names)))  # another order (e.g. AUROC ranking)
    assert len(set(first.values())) == len(names)  # distinct within a report
    assert all(c in plots.PALETTE for c in first.values())
    many = [f"m{k}" for k in range(len(plots.PALETTE))]
    assert len(set(plots.model_colors(many).values())) == len(plots.PALETTE)


def _curve(name, y, p, color, **kw):
    return plots.Curve(name, y, p, color=color, **kw)


def test_majority_is_drawn_over_treat_all_and_none():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.4).astype(float)
    colors = plots.model_colors(["majority", "lasso"])
    good = _curve("lasso", y, np.clip(0.4 + 0.3 * (y - 0.4) + rng.normal(0, 0.15, 300), 0.01, 0.99), colors["lasso"])
    flat = _curve("majority", y, np.full(300, 0.4), colors["majority"])
    assert flat.constant and not good.constant
    rgb = _pixels(plots.decision_curve_png([good, flat]))
    assert _count(rgb, colors["majority"]) > 300  # visible, though it lies on treat-all and treat-none


def test_calibration_panel_shows_risks_and_both_curves():
    rng = np.random.default_rng(1)
    p = rng.beta(0.4, 0.4, 400)  # most patients near 0 or 1
    y = (rng.random(400) < p).astype(float)
    grid = np.linspace(0.05, 0.95, 50)
    smooth = {"curve": {"p": grid.tolist(), "observed": grid.tolist(), "lo": (grid - 0.05).tolist(),
                        "hi": (grid + 0.05).tolist()}}
    color = "#2ca02c"
    with_smooth = _pixels(plots.calibration_png([_curve("m", y, p, color, smooth=smooth)]))
    withheld = _pixels(plots.calibration_png([_curve("m", y, p, color, smooth={
        "withheld": "too few", "events": 12, "min_events": 50})]))
    # the risk histogram (events in the model's colour) is drawn in both; the smooth line only in one
    assert _count(withheld, color) > 200
    assert _count(with_smooth, color) > _count(withheld, color) + 150


def test_roc_inset_only_when_auroc_above_095():
    rng = np.random.default_rng(2)
    y = np.repeat([0.0, 1.0], 100)
    sharp = _curve("a", y, np.clip(y * 0.9 + rng.normal(0, 0.1, 200), 0, 1), "#1f77b4", auroc=0.99)
    weak = _curve("a", y, np.clip(y * 0.1 + rng.normal(0, 0.3, 200), 0, 1), "#1f77b4", auroc=0.6)
    # the inset's frame is drawn in its zoom indicator's grey
    assert _count(_pixels(plots.roc_png([sharp])), "#777777", 10) > _count(_pixels(plots.roc_png([weak])), "#777777", 10)


def test_numbers_never_print_negative_zero_or_p_zero():
    assert fixed(-0.0004, 3) == "0.000" and fixed(-0.004, 2) == "0.00" and fixed(-0.006, 2) == "-0.01"
    assert fixed(-0.0001, 3, sign=True) == "0.000" and fixed(0.012, 3, sign=True) == "+0.012"
    assert fixed(2056.3, 1) == "2056.3" and fixed(None) == "-"
    assert p_value_text(0.0) == "< 0.001" and p_value_text(0.0004) == "< 0.001" and p_value_text(0.0123) == "0.012"


def test_thresholds_of_several_splits_say_mean_and_range():
    assert threshold_cell({"threshold": 0.4, "thresholds": [0.4]}) == "0.400"
    assert threshold_cell({"threshold": 0.45, "thresholds": [0.4, 0.5]}) == "mean 0.450 (0.400-0.500, 2 splits)"
    one = threshold_caption({"models": {"m": {"thresholds": {"holdout": 0.4}}}})
    cv = threshold_caption({"models": {"m": {"thresholds": {"r0f0": 0.4, "r0f1": 0.5}}}})
    assert "mean" not in one and "split" not in one and "Balance gap = |sensitivity - specificity|" in one
    assert "their own split" in cv and "mean and range" in cv


@pytest.mark.parametrize("events, withheld", [(20, True), (80, False)])
def test_smooth_calibration_withheld_below_50_events(events, withheld):
    from clinpred.core.evaluation.aggregate import MIN_SMOOTH_EVENTS, _smooth
    from outcomes import outcome

    n = 400
    rng = np.random.default_rng(3)
    labels = np.zeros(n, dtype=int)
    labels[:events] = 1
    ds = type("D", (), {"labels": labels})()
    units = {"holdout": outcome(list(range(n)), rng.random(n))}
    out = _smooth(ds, units, False, None, 0, n_resamples=20)
    assert ("withheld" in out) is withheld
    if withheld:
        assert out["events"] == events and out["min_events"] == MIN_SMOOTH_EVENTS == 50
