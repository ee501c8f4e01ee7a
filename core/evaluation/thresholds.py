"""Choosing the decision threshold on validation data (never on the test part).

A patient is predicted positive when ``p >= threshold`` (everywhere in clinpred).

Candidates: for every distinct validation score ``s_k`` (the cut "positive iff p >= s_k"), the
threshold reported is the midpoint between ``s_k`` and the next lower distinct validation score
(0 below the lowest). It classifies the validation data exactly as ``s_k`` does but does not sit
on a validation patient's score. The cut "everything negative" is not a candidate.

Criteria: ``youden`` maximises sensitivity + specificity - 1; ``f1`` maximises F1; ``fixed``
returns the given value and looks at no data.

Ties. As a function of the threshold ``t``, the criterion is a step function; its maximum (within
1e-12) is attained on one or more intervals of ``t`` — plateaus: adjacent cuts that tie form one
plateau, from the next lower validation score (0 below the lowest) up to the highest cut's score.
The threshold is the **midpoint of the plateau**; when separate plateaus tie, the one whose
midpoint is closest to the validation prevalence (then the lower one). So a small validation
part whose criterion ties across a wide range of scores gets a threshold in the middle of that
range, not at one arbitrary end of it.

Degenerate validation data (empty, or one class only) cannot rank thresholds: the choice falls
back to ``fallback`` (0.5 by default; the runner may pass the training prevalence) and the
returned :class:`ThresholdChoice` says why.
"""

from __future__ import annotations

import numpy as np
from attrs import define, field, validators

from clinpred.core.errors import ConfigError
from clinpred.core.evaluation.metric_kernels import check_inputs

THRESHOLD_METHODS = ("youden", "f1", "fixed")


def _unit(instance, attribute, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
        raise ConfigError(f"{attribute.name} must be a probability in [0, 1], got {value!r}")


@define(frozen=True)
class ThresholdChoice:
    """A chosen decision threshold and how it was chosen.

    ``method`` is the requested method; ``reason`` is empty when the method ran as requested,
    otherwise it explains the fallback (e.g. one class in the validation data).
    """

    value: float = field(converter=float, validator=_unit)
    method: str = field(validator=validators.in_(THRESHOLD_METHODS))
    reason: str = ""
    criterion: float | None = None  # the maximised Youden J or F1 on the validation data


def select_threshold(
    labels_val, p_val, method: str = "youden", fixed: float = 0.5, *, fallback: float = 0.5
) -> ThresholdChoice:
    """Choose a threshold from validation labels and probabilities; see the module docstring."""
    if method not in THRESHOLD_METHODS:
        raise ConfigError(
            f"unknown threshold method {method!r}: use one of {', '.join(THRESHOLD_METHODS)}"
        )
    if method == "fixed":
        return ThresholdChoice(fixed, method)
    y, p = check_inputs(labels_val, p_val, allow_empty=True)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        reason = (
            f"validation data has {n_pos} positive and {n_neg} negative patients: "
            f"threshold falls back to {fallback:g}"
        )
        return ThresholdChoice(fallback, method, reason)

    order = np.argsort(-p, kind="mergesort")
    ps, ys = p[order], y[order]
    ends = np.concatenate((np.flatnonzero(ps[1:] != ps[:-1]), [ps.size - 1]))
    tp = np.cumsum(ys)[ends].astype(float)  # positives with p >= s_k
    fp = (ends + 1) - tp
    s = ps[ends]  # distinct scores, descending
    if method == "youden":
        crit = tp / n_pos + (n_neg - fp) / n_neg - 1.0
    else:
        crit = 2.0 * tp / (2.0 * tp + fp + (n_pos - tp))
    best = crit.max()
    value = plateau_midpoint(s, crit >= best - 1e-12, n_pos / (n_pos + n_neg))
    return ThresholdChoice(value, method, "", float(best))


def plateau_midpoint(scores: np.ndarray, best: np.ndarray, prevalence: float) -> float:
    """The threshold at the midpoint of the plateau of maximal cuts (see the module docstring).

    ``scores``: the distinct validation scores, descending (cut ``k``: positive iff ``p >= scores[k]``);
    ``best``: which cuts attain the maximum. A run of adjacent maximal cuts ``i..j`` classifies
    alike every threshold in ``(scores[j + 1], scores[i]]`` (``scores[j + 1]`` = 0 after the last).
    """
    lower = np.concatenate((scores[1:], [0.0]))
    idx = np.flatnonzero(best)
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    mids = [(float(scores[run[0]]) + float(lower[run[-1]])) / 2.0 for run in runs]
    return min(mids, key=lambda m: (abs(m - prevalence), m))


def choose_threshold(
    labels_val, p_val, method: str = "youden", fixed: float = 0.5, *, fallback: float = 0.5
) -> float:
    """The threshold of :func:`select_threshold` as a plain float (use that for the reason)."""
    return select_threshold(labels_val, p_val, method, fixed, fallback=fallback).value
