"""A realistic synthetic retained-placenta cohort (REFERENCES.md §2; the real data is confidential).

The cohort mimics the WHO "Release" trial: 577 women with a placenta retained for more than 30
minutes in the UK, Uganda and Pakistan, randomised 1:1 to umbilical-vein oxytocin or placebo (no
treatment effect). The outcome, manual removal of the placenta, depends mostly on the country
and weakly on the other features, so the best achievable AUROC is about 0.60-0.72.

The generator knows every patient's true probability. ``generate_cohort`` returns
``P(outcome | the values written in the CSV)``: features are rounded before the outcome is
drawn, and for a missing value the probability is averaged over that feature's distribution.
So :func:`bayes_auroc` of these probabilities is the ceiling no model can beat on the file.

Two designs share the covariates and the CSV columns and differ in how the outcome depends on
them (:data:`DESIGNS`): ``release`` (the default, above) and ``numeric``, whose signal lies mostly in
the continuous features (blood loss, time since delivery, hemoglobin, gestational age, age, birth
weight, pulse, systolic pressure; country adds little), with a Bayes AUROC of about 0.80, so a model
that does not read the numbers cannot come close to the ceiling.

Everything comes from one ``numpy.random.Generator`` tree seeded by ``seed``; the CSV text uses
fixed formats, so the same seed gives a byte-identical file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
from attrs import define, field

if TYPE_CHECKING:
    import pandas as pd

ID_COLUMN = "patient_id"
TARGET_COLUMN = "manual_removal"
COUNTRIES = ("UK", "Uganda", "Pakistan")
COUNTRY_MIX = (0.626, 0.329, 0.045)
#: Manual-removal rates by country in the Release trial (250/361, 90/190, 16/26).
COUNTRY_RATES = (0.69, 0.47, 0.62)

#: column -> (decimals, missing fraction). Decimals fix both the rounding and the CSV format.
COLUMNS: dict[str, tuple[int, float]] = {
    "age": (0, 0.0),
    "hemoglobin": (1, 0.06),
    "gestational_age": (0, 0.0),
    "birth_weight": (2, 0.02),
    "blood_loss": (0, 0.04),
    "minutes_since_delivery": (0, 0.0),
    "systolic_bp": (0, 0.03),
    "pulse": (0, 0.03),
}

#: Log-odds effects per unit, centred at the population value (weak, plausible directions).
EFFECTS: dict[str, tuple[float, float]] = {
    "age": (0.025, 28.4),
    "hemoglobin": (-0.06, 11.6),
    "gestational_age": (-0.10, 39.0),
    "birth_weight": (-0.25, 3.3),
    "blood_loss": (0.0008, 550.0),
    "minutes_since_delivery": (0.012, 48.0),
    "systolic_bp": (0.0, 118.0),
    "pulse": (0.012, 86.0),
}

#: Per-country intercepts, calibrated by :func:`calibrate_intercepts` so that the mean true
#: probability within each country equals ``COUNTRY_RATES``.
INTERCEPTS = (0.7941, -0.1001, 0.5377)

#: The ``numeric`` design's log-odds effects per unit (about 0.3-0.65 per standard deviation each).
NUMERIC_EFFECTS: dict[str, tuple[float, float]] = {
    "age": (0.085, 28.4),
    "hemoglobin": (-0.48, 11.6),
    "gestational_age": (-0.36, 39.0),
    "birth_weight": (-1.0, 3.3),
    "blood_loss": (0.0014, 550.0),
    "minutes_since_delivery": (0.072, 48.0),
    "systolic_bp": (-0.025, 118.0),
    "pulse": (0.042, 86.0),
}
#: Per-country outcome rates of the ``numeric`` design (country is a weak predictor there).
NUMERIC_RATES = (0.64, 0.58, 0.62)
NUMERIC_INTERCEPTS = (0.7726, 0.3896, 0.6195)


@define(frozen=True)
class Design:
    """How the outcome depends on the covariates: per-unit log-odds ``effects`` (column ->
    (beta, centre)) and per-country ``intercepts`` calibrated to the country ``rates``."""

    name: str
    effects: Mapping[str, tuple[float, float]] = field(hash=False)
    intercepts: tuple[float, float, float]
    rates: tuple[float, float, float]
    description: str = ""


DESIGNS: dict[str, Design] = {
    "release": Design("release", EFFECTS, INTERCEPTS, COUNTRY_RATES,
                      "like the Release trial: most of the signal in the country, Bayes AUROC about 0.67"),
    "numeric": Design("numeric", NUMERIC_EFFECTS, NUMERIC_INTERCEPTS, NUMERIC_RATES,
                      "the signal in the continuous features, Bayes AUROC about 0.80"),
}
DEFAULT_DESIGN = "release"


def design(name: str) -> Design:
    """The design called ``name``; ValueError naming the choices otherwise."""
    if name not in DESIGNS:
        raise ValueError(f"unknown synthetic design {name!r}; choose one of {', '.join(DESIGNS)}")
    return DESIGNS[name]


def _truncated(draw: Callable[[int], np.ndarray], lo: float, hi: float, n: int) -> np.ndarray:
    """``n`` draws of ``draw`` restricted to ``lo <= x <= hi`` (rejection sampling)."""
    out = draw(n)
    bad = (out < lo) | (out > hi)
    while bad.any():
        out[bad] = draw(int(bad.sum()))
        bad = (out < lo) | (out > hi)
    return out


def _normal(rng: np.random.Generator, mean: np.ndarray | float, sd: np.ndarray | float, lo: float, hi: float, n: int) -> np.ndarray:
    """Normal draws (per-patient mean/sd allowed) truncated to [lo, hi]."""
    mean = np.broadcast_to(np.asarray(mean, dtype=float), (n,)).copy()
    sd = np.broadcast_to(np.asarray(sd, dtype=float), (n,)).copy()
    out = rng.normal(mean, sd)
    bad = (out < lo) | (out > hi)
    while bad.any():
        out[bad] = rng.normal(mean[bad], sd[bad])
        bad = (out < lo) | (out > hi)
    return out


# Blood loss: log-normal with mean 550 mL and SD 460 mL.
_BL_SIGMA = float(np.sqrt(np.log1p((460.0 / 550.0) ** 2)))
_BL_MU = float(np.log(550.0) - _BL_SIGMA**2 / 2)


def _covariates(rng: np.random.Generator, country: np.ndarray) -> dict[str, np.ndarray]:
    """Draw every numeric feature for patients of the given countries (codes 0, 1, 2), rounded."""
    n = len(country)
    uk = country == 0
    raw = {
        # 14-48 years; 24.45 before truncation gives a mean of 25 after it
        "age": _normal(rng, np.where(uk, 30.0, 24.45), np.where(uk, 5.5, 6.0), 14, 48, n),
        "hemoglobin": _normal(rng, np.where(uk, 12.0, 11.0), np.where(uk, 1.2, 1.5), 6.0, 16.5, n),
        "gestational_age": _normal(rng, 39.2, 1.6, 34.0, 42.9, n),
        "birth_weight": _normal(rng, 3.3, 0.5, 1.6, 5.2, n),
        "blood_loss": _truncated(lambda k: rng.lognormal(_BL_MU, _BL_SIGMA, k), 50.0, 5000.0, n),
        "minutes_since_delivery": _normal(rng, 48.0, 8.0, 30.0, 120.0, n),
        "systolic_bp": _normal(rng, 118.0, 11.0, 100.5, 180.0, n),
        "pulse": _normal(rng, 86.0, 11.0, 50.0, 109.4, n),
    }
    raw["gestational_age"] = np.floor(raw["gestational_age"])  # completed weeks
    raw["blood_loss"] = np.round(raw["blood_loss"], -1)  # recorded to the nearest 10 mL
    return {name: np.round(values, COLUMNS[name][0]) for name, values in raw.items()}


def _logit(country: np.ndarray, cov: dict[str, np.ndarray], intercepts: tuple[float, ...],
           effects: Mapping[str, tuple[float, float]] = EFFECTS) -> np.ndarray:
    eta = np.asarray(intercepts, dtype=float)[country]
    for name, (beta, centre) in effects.items():
        eta = eta + beta * (cov[name] - centre)
    return eta


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def calibrate_intercepts(n_per_country: int = 200_000, seed: int = 12345, *,
                         design_name: str = DEFAULT_DESIGN) -> tuple[float, ...]:
    """Intercepts that make each country's mean true probability equal the design's rate (for
    ``release``, the Release trial's)."""
    chosen = design(design_name)
    rng = np.random.default_rng(seed)
    out = []
    for code, rate in enumerate(chosen.rates):
        country = np.full(n_per_country, code)
        cov = _covariates(rng, country)
        base = _logit(country, cov, (0.0, 0.0, 0.0), chosen.effects)
        lo, hi = -5.0, 5.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if _sigmoid(base + mid).mean() < rate:
                lo = mid
            else:
                hi = mid
        out.append(round((lo + hi) / 2, 4))
    return tuple(out)


def _country_counts(n: int) -> np.ndarray:
    """Patients per country: ``n * COUNTRY_MIX`` rounded by largest remainder (577 -> 361/190/26)."""
    quota = n * np.asarray(COUNTRY_MIX)
    counts = np.floor(quota).astype(int)
    for i in np.argsort(-(quota - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return counts


def generate_cohort(n: int = 577, seed: int = 42, *, truth_draws: int = 256,
                    design_name: str = DEFAULT_DESIGN) -> tuple["pd.DataFrame", np.ndarray]:
    """A synthetic cohort of ``n`` patients and each one's true probability of manual removal.

    Columns: patient_id, country, treatment (1 = oxytocin, 0 = placebo), the numeric features
    of ``COLUMNS`` (NaN where missing) and manual_removal (0/1). The probabilities are
    ``P(manual_removal = 1 | the row as written)``, averaging over missing values with
    ``truth_draws`` Monte-Carlo draws. ``design_name`` chooses the outcome model (:data:`DESIGNS`);
    the covariates of a seed are the same in every design.
    """
    import pandas as pd

    if n < 1:
        raise ValueError("generate_cohort: n must be at least 1")
    chosen = design(design_name)
    s_country, s_treat, s_cov, s_miss, s_out, s_truth = np.random.SeedSequence(seed).spawn(6)
    country = np.random.default_rng(s_country).permutation(np.repeat(np.arange(3), _country_counts(n)))
    treatment = np.random.default_rng(s_treat).permutation(np.arange(n) % 2)  # exact 1:1
    cov = _covariates(np.random.default_rng(s_cov), country)
    p_full = _sigmoid(_logit(country, cov, chosen.intercepts, chosen.effects))
    outcome = (np.random.default_rng(s_out).random(n) < p_full).astype(int)

    rng_miss = np.random.default_rng(s_miss)
    missing = {name: rng_miss.random(n) < frac for name, (_, frac) in COLUMNS.items()}
    truth = p_full.copy()
    incomplete = np.flatnonzero(np.any([m for m in missing.values()], axis=0))
    if len(incomplete):
        truth[incomplete] = _observed_probability(
            np.random.default_rng(s_truth), country, cov, missing, incomplete, truth_draws, chosen
        )

    frame: dict[str, Any] = {
        ID_COLUMN: [f"P{i + 1:05d}" for i in range(n)],
        "country": [COUNTRIES[c] for c in country],
        "treatment": treatment,
    }
    for name in COLUMNS:
        frame[name] = np.where(missing[name], np.nan, cov[name])
    frame[TARGET_COLUMN] = outcome
    return pd.DataFrame(frame), truth


def _observed_probability(
    rng: np.random.Generator,
    country: np.ndarray,
    cov: dict[str, np.ndarray],
    missing: dict[str, np.ndarray],
    rows: np.ndarray,
    draws: int,
    chosen: Design = DESIGNS[DEFAULT_DESIGN],
) -> np.ndarray:
    """E[p | observed values] for ``rows``: missing features re-drawn from their distribution."""
    rep_country = np.repeat(country[rows], draws)
    fresh = _covariates(rng, rep_country)
    mixed = {}
    for name in COLUMNS:
        observed = np.repeat(cov[name][rows], draws)
        is_missing = np.repeat(missing[name][rows], draws)
        mixed[name] = np.where(is_missing, fresh[name], observed)
    p = _sigmoid(_logit(rep_country, mixed, chosen.intercepts, chosen.effects))
    return p.reshape(len(rows), draws).mean(axis=1)


def cohort_csv(frame: "pd.DataFrame") -> bytes:
    """The cohort as CSV bytes with fixed number formats (same frame -> same bytes)."""
    columns = list(frame.columns)
    lines = [",".join(columns)]
    formats: dict[str, Callable[[Any], str]] = {}
    for name in columns:
        if name in COLUMNS:
            decimals = COLUMNS[name][0]
            formats[name] = lambda v, d=decimals: "" if v != v else f"{v:.{d}f}"
        else:
            formats[name] = str
    values = [frame[name].tolist() for name in columns]
    for row in zip(*values):
        lines.append(",".join(formats[name](v) for name, v in zip(columns, row)))
    return ("\n".join(lines) + "\n").encode("utf-8")


def truth_csv(ids: list[str], probability: np.ndarray) -> bytes:
    """``patient_id,true_probability`` lines (6 decimals)."""
    lines = [f"{ID_COLUMN},true_probability"]
    lines += [f"{i},{p:.6f}" for i, p in zip(ids, probability)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def bayes_auroc(labels: np.ndarray, p: np.ndarray) -> float:
    """AUROC of the true probabilities (Mann-Whitney, ties counted half): the Bayes-optimal AUROC."""
    labels = np.asarray(labels).astype(int)
    p = np.asarray(p, dtype=float)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("bayes_auroc: both classes must be present")
    _, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    ranks = (upper - (counts - 1) / 2.0)[inverse]  # average rank of each tie group (1-based)
    return float((ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
