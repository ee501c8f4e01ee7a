"""Riley et al. (BMJ 2020;368:m441) minimum sample size for developing a binary-outcome model.

With ``p`` candidate predictor parameters, outcome proportion ``phi`` and an anticipated Cox-Snell
R-squared ``R2``:

1. expected uniform shrinkage >= ``S`` (0.9): ``n1 = p / ((S - 1) ln(1 - R2 / S))``;
2. optimism in Nagelkerke's R-squared <= ``delta`` (0.05): with
   ``max_R2 = 1 - exp(2 (phi ln phi + (1 - phi) ln(1 - phi)))`` and
   ``S2 = R2 / (R2 + delta max_R2)``, ``n2 = p / ((S2 - 1) ln(1 - R2 / S2))``;
3. the overall risk within +-``margin`` (0.05): ``n3 = (1.96 / margin)^2 phi (1 - phi)``.

The minimum is the largest, rounded up. Without an earlier model's R-squared, Riley et al.
suggest the conservative ``R2 = 0.15 max_R2``, used here unless ``[evaluation] anticipated_r2``
gives one. The same computations as R's and
Stata's ``pmsampsize`` (type "b").
"""

from __future__ import annotations

import math
from typing import Any

from clinpred.core.errors import ConfigError


def max_r2_cs(prevalence: float) -> float:
    """The largest Cox-Snell R-squared a model of this outcome proportion can reach."""
    phi = prevalence
    return 1.0 - math.exp(2.0 * (phi * math.log(phi) + (1.0 - phi) * math.log(1.0 - phi)))


def check_anticipated_r2(r2_cs: float | None, prevalence: float, where: str = "[evaluation]") -> None:
    """One :class:`ConfigError` line when an anticipated Cox-Snell R-squared cannot be reached at
    this outcome proportion (it must lie below ``max_r2_cs(prevalence)``)."""
    if r2_cs is None or not 0.0 < prevalence < 1.0:
        return
    top = max_r2_cs(prevalence)
    if not 0.0 < r2_cs < top:
        raise ConfigError(f"{where}: anticipated_r2 = {r2_cs!r} is impossible for an outcome proportion of "
                          f"{prevalence:.3f}: a Cox-Snell R-squared must lie in (0, {top:.3f}); give the "
                          "Cox-Snell (not Nagelkerke) R-squared of an earlier model, or leave it out")


def riley_sample_size(parameters: int, prevalence: float, r2_cs: float | None = None, *, shrinkage: float = 0.9,
                      delta: float = 0.05, margin: float = 0.05) -> dict[str, Any]:
    """``{"criteria": [n1, n2, n3], "minimum_n", "minimum_events", "events_per_parameter", ...}``."""
    if parameters < 1 or not 0.0 < prevalence < 1.0:
        raise ValueError("riley_sample_size: parameters >= 1 and a prevalence in (0, 1) are needed")
    top = max_r2_cs(prevalence)
    r2 = 0.15 * top if r2_cs is None else r2_cs
    n1 = parameters / ((shrinkage - 1.0) * math.log(1.0 - r2 / shrinkage))
    s2 = r2 / (r2 + delta * top)
    n2 = parameters / ((s2 - 1.0) * math.log(1.0 - r2 / s2))
    n3 = (1.96 / margin) ** 2 * prevalence * (1.0 - prevalence)
    criteria = [math.ceil(n1), math.ceil(n2), math.ceil(n3)]
    n = max(criteria)
    return {"parameters": parameters, "prevalence": prevalence, "r2_cs": r2, "max_r2_cs": top,
            "r2_cs_source": "0.15 x max R2 (conservative default)" if r2_cs is None else "anticipated_r2 (given)",
            "criteria": criteria, "minimum_n": n, "minimum_events": math.ceil(n * prevalence),
            "events_per_parameter": n * prevalence / parameters,
            "reference": "Riley et al., BMJ 2020;368:m441 (pmsampsize, type b)"}
