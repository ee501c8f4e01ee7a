"""Confidence intervals from bootstrap resamples, and what they do at the edges.

- :func:`percentile_interval`: the percentile interval of the resample values (R's type-7
  quantile), where NaN marks a resample on which the statistic is undefined (one class, constant
  scores) and ``+inf`` / ``-inf`` a resample where it is infinite (a separated calibration slope):
  those are the tail of the distribution, not missing, so an interval may be open-ended
  (printed ``[0.64, inf)``). No interval when more than 5% of the resamples are undefined.
- Boundary estimates, where every resample equals the estimate and a percentile interval would
  read as certainty ("specificity 1.000 [1.000, 1.000]"): a proportion at 0 or 1 gets the
  Clopper-Pearson (exact binomial) interval; an AUROC of 1 (or 0) the exact lower (upper) bound
  from ``k`` disjoint positive-negative pairs, all ordered correctly (:func:`auroc_boundary_interval`);
  any other statistic there gets no interval ("not estimable"), and neither does one that is
  infinite in nearly every resample (a calibration slope where the scores separate the classes).
- :func:`wilson_interval`: Wilson's score interval of a proportion (the coverage benchmark).
- :func:`interval_entry`: the ``metrics.json`` block of one statistic.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: share of undefined bootstrap resamples above which no CI is reported
MAX_UNDEFINED = 0.05
#: statistics that are proportions ``x / n`` of patients: Clopper-Pearson at 0 or 1
PROPORTIONS = ("accuracy", "precision", "recall", "specificity", "predicted_positive_rate")
#: other statistics and the values at which every resample equals the estimate
BOUNDARIES = {"auroc": (0.0, 1.0), "auprc": (1.0,), "balanced_accuracy": (0.0, 1.0), "f1": (0.0, 1.0),
              "mcc": (-1.0, 1.0)}
CLOPPER_PEARSON = "Clopper-Pearson exact binomial interval (the estimate is at the boundary, {x}/{n})"
AUROC_EXACT = ("exact bound at AUROC {value:g}: all of {k} disjoint positive-negative pairs ordered "
               "{how} (Clopper-Pearson on the pairs; conservative)")
NOT_ESTIMABLE = "not estimable: the estimate is at the boundary and every resample equals it"
ALL_INFINITE = ("not estimable: the statistic is infinite in more than 97.5% of the resamples (the scores separate "
                "the classes)")


def quantile7(sorted_values: np.ndarray, q: float) -> float:
    """R's default (type 7, numpy's ``linear``) quantile of sorted values that may hold ``+-inf``:
    interpolating towards an infinite neighbour gives that infinity."""
    n = sorted_values.size
    h = (n - 1) * q
    j = int(math.floor(h))
    g = h - j
    lo = float(sorted_values[j])
    if g == 0.0 or j + 1 >= n:
        return lo
    hi = float(sorted_values[j + 1])
    if math.isinf(lo) or math.isinf(hi):
        return hi if math.isinf(hi) else lo
    return lo + g * (hi - lo)


def percentile_interval(values: np.ndarray, alpha: float = 0.05,
                        max_undefined: float = MAX_UNDEFINED) -> tuple[float, float, int]:
    """``(lo, hi, undefined)``: the type-7 percentile interval of the resample values and the
    number of resamples where the statistic was undefined (NaN). Infinite values count as values
    (an end may be ``+-inf``: an open-ended interval). No interval (NaN, NaN) when more than
    ``max_undefined`` of the resamples are undefined: the defined ones are then a biased subset."""
    v = np.asarray(values, dtype=float)
    defined = ~np.isnan(v)
    undefined = int(v.size - defined.sum())
    if defined.sum() == 0 or undefined > max_undefined * v.size:
        return math.nan, math.nan, undefined
    s = np.sort(v[defined])
    return quantile7(s, alpha / 2.0), quantile7(s, 1.0 - alpha / 2.0), undefined


def clopper_pearson(x: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact binomial interval of ``x`` successes in ``n`` trials (beta quantiles)."""
    from scipy.stats import beta

    lo = 0.0 if x <= 0 else float(beta.ppf(alpha / 2.0, x, n - x + 1))
    hi = 1.0 if x >= n else float(beta.ppf(1.0 - alpha / 2.0, x + 1, n - x))
    return lo, hi


def wilson_interval(x: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson's score interval of the proportion ``x / n``."""
    from scipy.stats import norm

    if n <= 0:
        return math.nan, math.nan
    z = float(norm.ppf(1.0 - alpha / 2.0))
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def auroc_boundary_interval(value: float, pairs: int, alpha: float = 0.05) -> tuple[float, float]:
    """An exact interval for an AUROC estimated as 1 (or 0).

    Pair ``k`` positives with ``k`` distinct negatives: the ``k`` pairs are independent and each is
    ordered correctly with probability AUROC (ties aside), so "all ``k`` ordered correctly" has
    probability ``AUROC ** k``, and an observed AUROC of 1 implies it. The set of AUROCs with
    ``AUROC ** k >= alpha / 2`` is a valid (conservative) ``1 - alpha`` interval:
    ``[(alpha / 2) ** (1 / k), 1]``; mirrored for an AUROC of 0.
    """
    bound = (alpha / 2.0) ** (1.0 / pairs)
    return (bound, 1.0) if value >= 1.0 else (0.0, 1.0 - bound)


def boundary_interval(name: str, value: float, lo: float, hi: float, *, proportion: tuple[int, int] | None = None,
                      auroc_pairs: int | None = None, alpha: float = 0.05) -> tuple[float, float, str] | None:
    """``(lo, hi, method)`` replacing a percentile interval that claims certainty at a boundary,
    or None when the percentile interval stands. ``proportion``: ``(x, n)`` of a proportion
    statistic; ``auroc_pairs``: the number of disjoint positive-negative pairs (None: unknown)."""
    if math.isinf(lo) and lo == hi:  # (nearly) every resample separated: no finite end at all
        return math.nan, math.nan, ALL_INFINITE
    if not math.isfinite(value):
        return None
    if name in PROPORTIONS:
        if value not in (0.0, 1.0) or proportion is None or proportion[1] <= 0:
            return None
        x, n = proportion
        cp_lo, cp_hi = clopper_pearson(x, n, alpha)
        return cp_lo, cp_hi, CLOPPER_PEARSON.format(x=x, n=n)
    if value not in BOUNDARIES.get(name, ()) or not (lo == hi == value):
        return None
    if name == "auroc" and auroc_pairs:
        a_lo, a_hi = auroc_boundary_interval(value, auroc_pairs, alpha)
        how = "correctly" if value >= 1.0 else "the wrong way"
        return a_lo, a_hi, AUROC_EXACT.format(value=value, k=auroc_pairs, how=how)
    return math.nan, math.nan, NOT_ESTIMABLE


def _number(x: Any) -> float | None:
    ok = isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    return float(x) if ok else None


def _infinity(x: Any) -> str | None:
    if not isinstance(x, (int, float)) or isinstance(x, bool) or not math.isinf(x):
        return None
    return "+inf" if x > 0 else "-inf"


def interval_entry(value: float, lo: float, hi: float, method: str, undefined: int) -> dict[str, Any]:
    """``{"value", "ci", "ci_method", "undefined_resamples"}`` with JSON numbers (NaN and
    infinities become null), plus ``"ci_unbounded": "lower" | "upper" | "both"`` when an end of
    the interval is infinite and ``"value_infinite": "+inf" | "-inf"`` when the estimate is."""
    out: dict[str, Any] = {"value": _number(value), "ci": [_number(lo), _number(hi)], "ci_method": method,
                           "undefined_resamples": int(undefined)}
    ends = [side for side, x in (("lower", lo), ("upper", hi)) if x is not None and math.isinf(x)]
    if ends:
        out["ci_unbounded"] = "both" if len(ends) == 2 else ends[0]
    if _infinity(value):
        out["value_infinite"] = _infinity(value)
    return out


def _fixed(x: float, digits: int) -> str:
    """``x`` with ``digits`` decimals, never ``-0.000``."""
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def format_interval(entry: dict[str, Any] | None, digits: int = 3) -> str:
    """``'0.712 [0.650, 0.770]'``, ``'2.31 [0.64, inf)'``, ``'inf [1.20, inf)'``, the value alone
    when there is no interval, or ``'-'`` when the statistic is undefined."""
    if not entry:
        return "-"
    value = entry.get("value")
    infinite = entry.get("value_infinite") or _infinity(value)
    if not infinite and _number(value) is None:
        return "-"
    text = ("inf" if infinite == "+inf" else "-inf") if infinite else _fixed(value, digits)
    lo, hi = (list(entry.get("ci") or []) + [None, None])[:2]
    open_end = entry.get("ci_unbounded")
    lo_open = open_end in ("lower", "both") or _infinity(lo) == "-inf"
    hi_open = open_end in ("upper", "both") or _infinity(hi) == "+inf"
    left = "(-inf" if lo_open else (None if _number(lo) is None else f"[{_fixed(lo, digits)}")
    right = "inf)" if hi_open else (None if _number(hi) is None else f"{_fixed(hi, digits)}]")
    if left is None or right is None:
        return text
    return f"{text} {left}, {right}"
